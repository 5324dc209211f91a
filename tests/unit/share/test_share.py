"""Sharing without the pipeline: round dataset cards (and that the data loads with `datasets`),
prompt hashes, and the teacher response cache pushed and pulled through a directory remote and
a real S3-compatible server (moto), ending in zero requests for a teammate."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, dvc_repo, fill, run
from fake_openai import fake_openai  # noqa: F401 (fixture)
from moto_s3 import s3_server  # noqa: F401 (fixture)
from evokd.cards.card import read_card
from evokd.cards.provenance import prompt_hashes
from evokd.config import parse_config
from evokd.io import write_json, write_jsonl
from evokd.paths import Prepared, Round
from stages import label as label_step
from evokd.share import remote_cache
from evokd.teachers.base import SynthesisRequest, Teacher
from evokd.teachers.cache import ResponseCache, request_key


def make_cfg(**teacher):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["teacher"].update(teacher)
    params["synthesize"].update({"strategy": "evokd"})  # the guided path these tests exercise
    return parse_config(params)


class ScriptedTeacher(Teacher):
    """Labels from a dict; reports some token use, as an LLM would."""

    def __init__(self, answers: dict):
        super().__init__()
        self.answers = answers

    def synthesize(self, request):  # pragma: no cover - not used
        raise AssertionError

    def label(self, samples, labels, draw=0):
        if draw:  # the second labelling (label.relabel_fraction): free, and agrees
            return {s["id"]: self.answers[s["id"]] for s in samples}
        self.usage.calls += 1
        self.usage.requests += 1
        self.usage.prompt_tokens += 120
        self.usage.completion_tokens += 30
        self.usage.cost_usd += 0.002
        return {s["id"]: self.answers[s["id"]] for s in samples}

    def analyze(self, round, feedback, labels):  # pragma: no cover - not used
        raise AssertionError

    def probe(self, request, n):  # pragma: no cover - not used
        raise AssertionError


def test_label_writes_a_round_card_and_the_data_loads_with_datasets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(["git", "init", "-q"], tmp_path)
    run(["git", "commit", "-q", "--allow-empty", "-m", "start"], tmp_path)
    head = run(["git", "rev-parse", "HEAD"], tmp_path).stdout.strip()
    cfg = make_cfg()
    prepared = Prepared()
    write_json(prepared.labels, {"labels": ["HUM", "LOC"]})
    write_jsonl(prepared.test, [{"id": "t1", "text": "Where is the Louvre museum located ?", "label": "LOC"}])
    write_jsonl(Round(0).train_set, [{"id": "s1", "text": "Who painted the Mona Lisa ?", "label": "HUM"}])
    texts = ["Who founded the city of Rome ?", "Where is Mount Kenya ?", "Who painted the Mona Lisa ?",
             "Where is the Louvre museum located ?", "Who is it ?", "Hi"]
    write_jsonl(Round(1).synthesized, [{"id": f"r1-{i}", "text": t, "kind": "hard" if i % 2 else "easy",
                                        "source_id": f"x{i}"} for i, t in enumerate(texts)])
    write_json(Round(1).meta("synthesize"), {"teacher": {"requests": 2, "prompt_tokens": 1000,
                                                         "completion_tokens": 400, "cost_usd": 0.01}})
    answers = {"r1-0": {"label": "HUM"}, "r1-1": {"label": "LOC"}, "r1-2": {"label": "HUM"},
               "r1-3": {"label": "LOC"}, "r1-4": {"label": "ORG"}, "r1-5": {"label": "HUM"}}
    result = label_step.label(cfg, 1, ScriptedTeacher(answers))
    assert result["accepted"] == 2

    card = read_card(Round(1).card)
    facts = card["evokd"]
    assert facts["round"] == 1 and facts["task"] == "classification" and facts["labels"] == ["HUM", "LOC"]
    assert facts["teacher"] == {"provider": "simulated", "model": None}
    assert facts["prompt_sha256"] == {}  # the simulated teacher reads no prompt
    assert facts["counts"]["synthesized"] == 6 and facts["counts"]["accepted"] == 2
    assert facts["counts"]["rejected"] == {"bad_label": 1, "duplicate": 1, "leak": 1, "too_short": 1}
    assert facts["counts"]["accepted_per_label"] == {"HUM": 1, "LOC": 1}
    assert facts["counts"]["train_set"] == 3
    assert facts["usage"]["total"]["prompt_tokens"] == 1120
    assert facts["usage"]["total"]["completion_tokens"] == 430
    assert facts["usage"]["total"]["cost_usd"] == pytest.approx(0.012)
    assert facts["usage"]["label"]["requests"] == 1 and facts["usage"]["synthesize"]["requests"] == 2
    assert facts["params"]["synthesize"]["n_hard"] == cfg.synthesize.n_hard
    assert facts["params"]["label"]["leak_overlap"] == cfg.label.leak_overlap
    assert facts["params"]["teacher"]["provider"] == "simulated" and "max_concurrency" not in facts["params"]["teacher"]
    assert facts["git"] == {"commit": head, "dirty": False}
    body = Round(1).card.read_text()
    assert "accepted 2, rejected 4" in body and "bad_label 1" in body

    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(Round(1).labelled), split="train")
    assert ds.num_rows == 2 and set(ds["label"]) == {"HUM", "LOC"} and "text" in ds.column_names
    # The card's `configs` block lets `datasets` load the folder itself (labelled.jsonl only).
    folder = load_dataset(str(Round(1).data), split="train")
    assert folder.num_rows == 2


def test_prompt_hashes_name_each_template_of_the_openai_teacher():
    prompts = ROOT / "prompts" / "default"
    cfg = make_cfg(provider="openai", model="m", prompts=str(prompts))
    hashes = prompt_hashes(cfg)
    assert set(hashes) == {(prompts / "classification" / f"{k}.md").as_posix() for k in ("analyze", "synthesize", "label")}
    for path, digest in hashes.items():
        assert digest == hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert prompt_hashes(make_cfg()) == {}


def test_directory_remote_push_pull_is_a_union_and_skips_damaged_entries(tmp_path, monkeypatch):
    remote_dir = tmp_path / "remote"
    a = dvc_repo(tmp_path / "a", str(remote_dir))
    b = dvc_repo(tmp_path / "b", str(remote_dir))
    cache_a, cache_b = ResponseCache(a / ".evokd/cache"), ResponseCache(b / ".evokd/cache")
    keys_a, keys_b = fill(cache_a, 5, "alice"), fill(cache_b, 3, "bob")
    damaged = "ab" + "0" * 62
    cache_a.path(damaged).parent.mkdir(parents=True, exist_ok=True)
    cache_a.path(damaged).write_text("{half a rep")

    ra = remote_cache.open_remote(repo_root=a)
    pushed = remote_cache.push(cache_a, ra)
    assert (pushed.transferred, pushed.damaged, pushed.remote_before) == (5, 1, 0)
    assert ra.keys() == keys_a
    assert remote_cache.push(cache_a, ra).transferred == 0  # nothing new
    rb = remote_cache.open_remote("team", repo_root=b)
    assert remote_cache.push(cache_b, rb).transferred == 3
    pulled = remote_cache.pull(cache_b, rb)
    assert pulled.transferred == 5 and remote_cache.local_keys(cache_b) == keys_a | keys_b
    assert all(cache_b.get(k) == cache_a.get(k) for k in keys_a)
    # A damaged remote entry is never installed.
    bad = "cd" + "1" * 62
    (remote_dir / "evokd/teacher-cache/cd").mkdir(parents=True)
    (remote_dir / f"evokd/teacher-cache/cd/{bad}.json").write_text(json.dumps({"key": "other", "response": {}}))
    result = remote_cache.pull(cache_a, ra)
    assert result.transferred == 3 and result.damaged == 1 and cache_a.get(bad) is None
    # `dvc gc --cloud` removes unused DVC objects only, never the shared replies.
    run(["dvc", "gc", "--workspace", "--cloud", "--force"], a)
    assert ra.keys() == keys_a | keys_b | {bad}


def test_no_remote_is_an_actionable_error(tmp_path):
    from evokd.errors import RemoteError

    root = tmp_path / "r"
    root.mkdir()
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    with pytest.raises(RemoteError, match="dvc remote add -d"):
        remote_cache.open_remote(repo_root=root)


def test_s3_remote_carries_answered_calls_so_a_teammate_sends_none(s3_server, fake_openai, tmp_path, monkeypatch):
    """Alice's teacher answers go through a real S3-compatible server; Bob pulls them and his
    identical stage sends zero requests."""
    from evokd.teachers.openai import OpenAITeacher

    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    url = f"s3://{s3_server.bucket()}/evokd"
    a = dvc_repo(tmp_path / "alice", url, ("endpointurl", s3_server.url))
    b = dvc_repo(tmp_path / "bob", url, ("endpointurl", s3_server.url))

    def teacher(home: Path) -> OpenAITeacher:
        return OpenAITeacher(make_cfg(provider="openai", model="fake-model", base_url=fake_openai.url,
                                      cache_dir=str(home / ".evokd/cache"),
                                      prompts=str(ROOT / "prompts/default")), api_key=None)

    request = SynthesisRequest(round=1, labels=["HUM", "LOC"], analysis={"summary": "x", "weak_labels": []},
                               feedback=[], known=[], n_hard=3, n_easy=1)
    alice = teacher(a)
    made = alice.synthesize(request)
    sent = fake_openai.count()
    assert sent > 0 and alice.usage.requests == sent

    pushed = remote_cache.push(ResponseCache(a / ".evokd/cache"), remote_cache.open_remote(repo_root=a))
    assert pushed.transferred == sent
    objects = s3_server.sizes(url.split("/")[2], "evokd/evokd/teacher-cache/")
    assert len(objects) == sent and all(size > 0 for size in objects.values())

    assert remote_cache.pull(ResponseCache(b / ".evokd/cache"), remote_cache.open_remote(repo_root=b)).transferred == sent
    bob = teacher(b)
    assert bob.synthesize(request) == made
    assert fake_openai.count() == sent  # zero requests from Bob
    assert bob.usage.requests == 0 and bob.usage.cache_hits == sent
