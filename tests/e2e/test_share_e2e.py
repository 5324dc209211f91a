"""Sharing a real run with a team (slow): Alice runs the pipeline (openai teacher against a local
chat-completions server), pushes git, DVC data, run-cache and teacher cache; Bob clones and pulls
through a directory remote, Carol through a real S3-compatible server (moto). Their `dvc repro`
is up to date and sends no teacher request; Bob's experiment with a changed label param takes
every teacher reply from the shared cache and travels back to Alice with `dvc exp push/pull`.
The round cards, the export and its cards are checked on Alice's run."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import make_project, run
from fake_openai import FakeOpenAI
from moto_s3 import s3_server  # noqa: F401 (fixture)
from evokd.cards.card import read_card

pytestmark = pytest.mark.slow

ENV = {"OPENAI_API_KEY": "sk-test-share"}


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@dataclass
class Team:
    base: Path
    alice: Path
    origin: Path
    server: FakeOpenAI
    sent: int
    head: str


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """Alice's run, pushed to a bare git origin and a directory DVC remote."""
    base = tmp_path_factory.mktemp("team")
    with FakeOpenAI() as server:
        alice = make_project(base / "alice", slots=2, **{
            "teacher.provider": "openai", "synthesize.strategy": "evokd", "teacher.model": "fake-model", "teacher.base_url": server.url,
            "teacher.backoff_s": 0.01, "synthesize.batches": 2, "label.batch_size": 4})
        head = run(["git", "rev-parse", "HEAD"], alice).stdout.strip()
        run(["dvc", "repro"], alice, env=ENV)
        sent = server.count()
        assert sent > 0
        origin = base / "origin.git"
        run(["git", "init", "-q", "--bare", str(origin)], base)
        # The commands of docs/sharing.md: a remote, commit, push git, data + run-cache, teacher cache.
        run(["dvc", "remote", "add", "-d", "storage", str(base / "dvc-storage")], alice)
        run(["git", "add", "-A"], alice)
        run(["git", "commit", "-qm", "run"], alice)
        run(["git", "remote", "add", "origin", str(origin)], alice)
        run(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], alice)
        run(["git", "--git-dir", str(origin), "symbolic-ref", "HEAD", "refs/heads/main"], base)
        run(["dvc", "push", "--run-cache"], alice)
        run(["evokd", "cache", "push"], alice)
        yield Team(base, alice, origin, server, sent, head)


def test_round_cards_describe_the_data_and_it_loads_with_datasets(team):
    from datasets import load_dataset

    alice = team.alice
    # The templates the teacher reads: strategy evokd's generation template, not the unguided one
    # nor the one that asks for labels too.
    prompts = sorted(p for p in (alice / "prompts/default/classification").glob("*.md")
                     if p.name not in ("synthesize_random.md", "synthesize_labelled.md"))
    for k in (1, 2):
        folder = alice / "data/rounds" / str(k)
        facts = read_card(folder / "README.md")["evokd"]
        labelled, rejected = rows(folder / "labelled.jsonl"), rows(folder / "rejected.jsonl")
        assert facts["round"] == k and facts["task"] == "classification"
        assert facts["labels"] == json.loads((alice / "data/prepared/labels.json").read_text())["labels"]
        assert facts["teacher"] == {"provider": "openai", "model": "fake-model"}
        assert facts["prompt_sha256"] == {f"prompts/default/classification/{p.name}":
                                          hashlib.sha256(p.read_bytes()).hexdigest() for p in prompts}
        assert facts["counts"]["accepted"] == len(labelled) > 0
        assert facts["counts"]["rejected"] == dict(Counter(r["reason"] for r in rejected))
        assert facts["counts"]["train_set"] == len(rows(folder / "train_set.jsonl"))
        metas = [json.loads((folder / f"{v}.meta.json").read_text())["teacher"] for v in ("synthesize", "label")]
        assert facts["usage"]["total"]["prompt_tokens"] == sum(m["prompt_tokens"] for m in metas) > 0
        assert facts["usage"]["total"]["completion_tokens"] == sum(m["completion_tokens"] for m in metas) > 0
        assert facts["params"]["synthesize"]["batches"] == 2 and facts["params"]["label"]["batch_size"] == 4
        assert facts["git"]["commit"] == team.head
        ds = load_dataset("json", data_files=str(folder / "labelled.jsonl"), split="train")
        assert ds.num_rows == len(labelled) and set(ds["label"]) <= set(facts["labels"])


def test_export_loads_with_transformers_pipeline_and_has_cards(team):
    from datasets import load_dataset
    from transformers import pipeline

    alice, out = team.alice, team.base / "export"
    run(["evokd", "export", str(out)], alice)
    labels = json.loads((alice / "data/prepared/labels.json").read_text())["labels"]
    clf = pipeline("text-classification", model=str(out), device=-1)
    assert clf("Who wrote Hamlet ?")[0]["label"] in labels

    card = read_card(out / "README.md")
    facts = card["evokd"]
    assert card["pipeline_tag"] == "text-classification" and card["library_name"] == "transformers"
    assert facts["backbone"] == "sentence-transformers/all-MiniLM-L6-v2"
    scores = [json.loads((alice / f"metrics/rounds/{k}.json").read_text()) for k in (0, 1, 2)]
    assert [s["macro_f1"] for s in facts["per_round"]] == [s["macro_f1"] for s in scores]
    summary = json.loads((alice / "metrics/summary.json").read_text())
    assert facts["metric"] == "macro_f1" and facts["test_score"] == summary["score"]
    train_set = rows(alice / "data/rounds/2/train_set.jsonl")
    assert facts["training_data"]["total"] == len(train_set)
    assert facts["training_data"]["per_round"][0] == len(rows(alice / "data/prepared/seed.jsonl"))
    text = (out / "README.md").read_text()
    assert "## Intended use" in text and "## Limits" in text and "## Scores" in text

    merged = load_dataset("json", data_files=str(out / "dataset/train.jsonl"), split="train")
    assert merged.num_rows == len(train_set) and sorted(set(merged["round"])) == [0, 1, 2]
    assert sorted(merged["id"]) == sorted(r["id"] for r in train_set)
    data_card = read_card(out / "dataset/README.md")["evokd"]
    assert data_card["training_data"]["total"] == len(train_set) and set(data_card["rounds"]) == {1, 2}

    again = run(["evokd", "export", str(out)], alice, check=False)
    assert again.returncode == 2 and "--force" in again.stderr


def test_directory_remote_clone_pull_repro_up_to_date_and_experiments_travel(team):
    bob = team.base / "bob"
    run(["git", "clone", "-q", str(team.origin), str(bob)], team.base)
    run(["git", "config", "user.name", "bob"], bob)
    run(["git", "config", "user.email", "bob@localhost"], bob)
    run(["dvc", "pull"], bob)
    assert (bob / "models/rounds/2/model.safetensors").exists()
    assert (bob / "data/rounds/2/README.md").read_text() == (team.alice / "data/rounds/2/README.md").read_text()
    repro = run(["dvc", "repro"], bob, env=ENV)
    assert stages_run(repro.stdout) == set() and team.server.count() == team.sent
    assert "up to date" in run(["dvc", "status"], bob).stdout

    # A late label param: only the label stages (and the report) re-run, every teacher reply
    # from the shared cache.
    pulled = run(["evokd", "cache", "pull"], bob)
    assert f"{team.sent} teacher response(s) downloaded" in pulled.stdout
    exp = run(["dvc", "exp", "run", "-n", "strict-labels", "-S", "label.max_reject_rate=0.9"], bob, env=ENV)
    assert stages_run(exp.stdout) == {"label@1", "label@2", "report"}
    assert team.server.count() == team.sent
    label_meta = json.loads((bob / "data/rounds/1/label.meta.json").read_text())["teacher"]
    assert label_meta["requests"] == 0 and label_meta["cache_hits"] > 0

    run(["dvc", "exp", "push", "origin", "strict-labels"], bob)
    run(["dvc", "exp", "pull", "origin", "strict-labels"], team.alice)
    shown = json.loads(run(["dvc", "exp", "show", "--json"], team.alice).stdout)
    names = {r.get("name") for base in shown for exp in (base.get("experiments") or [])
             for r in exp.get("revs", [])}
    assert "strict-labels" in names, shown


def test_s3_remote_push_clone_pull_repro_up_to_date(team, s3_server, monkeypatch):
    env = {**ENV, **s3_server.env}
    alice, bucket = team.alice, s3_server.bucket()
    run(["dvc", "remote", "add", "s3", f"s3://{bucket}/evokd"], alice)
    run(["dvc", "remote", "modify", "s3", "endpointurl", s3_server.url], alice)
    run(["git", "commit", "-qm", "S3 remote", ".dvc/config"], alice)
    run(["git", "push", "-q", "origin", "HEAD:refs/heads/main"], alice)
    run(["dvc", "push", "-r", "s3", "--run-cache"], alice, env=env)
    run(["evokd", "cache", "push", "-r", "s3"], alice, env=env)
    stored = s3_server.sizes(bucket)
    assert sum(1 for key in stored if "/runs/" in key) > 0  # the run-cache travelled
    assert sum(1 for key in stored if "/teacher-cache/" in key) == team.sent

    carol = team.base / "carol"
    run(["git", "clone", "-q", str(team.origin), str(carol)], team.base)
    run(["dvc", "pull", "-r", "s3"], carol, env=env)
    assert (carol / "models/rounds/2/model.safetensors").exists()
    repro = run(["dvc", "repro"], carol, env=env)
    assert stages_run(repro.stdout) == set() and team.server.count() == team.sent
    run(["evokd", "cache", "pull", "-r", "s3"], carol, env=env)
    assert len(list((carol / ".evokd/cache").glob("*/*.json"))) == team.sent
