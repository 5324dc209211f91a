"""Round 0 worth analysing: the `probe` stage tests the round-0 student on fresh teacher-written
texts (not the seed set it was trained on), so analyze@0 reads real mistakes; and the teacher's
labels of the seed set are checked against the user's, every disagreement a warning, the seed
set kept as given. On a tiny real TREC subset, with the simulated and the openai teacher."""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ROOT, tiny_params, trec_subset
from fake_openai import FakeOpenAI, reply
from evokd.config import parse_config
from evokd.io import read_json, read_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds import seedcheck
from stages import analyze, prepare, probe
from evokd.tasks import get_task
from evokd.teachers.openai import OpenAITeacher
from evokd.teachers.simulated import SimulatedTeacher


@contextmanager
def inside(folder: Path):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _cfg(**overrides):
    params = tiny_params(**{"probe.n_texts": 24, **overrides})
    params["dataset"]["encoding"] = "latin-1"
    return parse_config(params)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """prepare (round-0 student on the 6-question seed set) run once on a TREC subset."""
    root = tmp_path_factory.mktemp("round0")
    trec_subset(root / "data/raw/trec")
    with inside(root):
        prepare.prepare(_cfg())
        # The seed set is no feedback (the student answers what it trained on perfectly).
        assert not Round(0).feedback.exists()
    return root


def _fresh(root: Path) -> None:
    for path in (Round(0).feedback, Round(0).probe, Round(0).seed_check, Round(0).analysis):
        (root / path).unlink(missing_ok=True)


def test_prepare_writes_no_feedback_the_probe_does_and_analyze0_names_real_confusions(project):
    with inside(project):
        _fresh(project)
        seed_before = Prepared().seed.read_bytes()
        cfg = _cfg()
        result = probe.probe(cfg, 0, SimulatedTeacher(cfg))
        feedback = read_jsonl(Round(0).feedback)
        seed_ids = {r["id"] for r in read_jsonl(Prepared().seed)}
        # Fresh texts only (pool draws, never a seed example), each answered by the round-0 student.
        assert len(feedback) == result["accepted"] == 24
        assert all(r["id"].startswith("r0-") and r["source_id"] not in seed_ids for r in feedback)
        wrong = [r for r in feedback if not r["correct"]]
        assert wrong and result["student_wrong"] == len(wrong)  # 6 examples teach it little
        # The seed set: the simulated teacher gives the gold labels, so it agrees with all of them.
        check = read_json(Round(0).seed_check)
        assert check["checked"] == len(seed_ids) == check["agree"] and check["disagreements"] == []
        assert Prepared().seed.read_bytes() == seed_before
        # analyze@0 now has mistakes to read: its summary names confusions of the probe texts.
        analyze.analyze(cfg, 0, SimulatedTeacher(cfg))
        analysis = read_json(Round(0).analysis)
        pair = next(p for p in analysis["confusions"])
        assert f"{pair['gold']} read as {pair['predicted']}" in analysis["summary"]
        assert analysis["weak_labels"] and analysis["errors_per_label"]
        assert sum(v["wrong"] for v in analysis["errors_per_label"].values()) == len(wrong)
        assert set(analysis["shown"]) & {r["id"] for r in wrong}  # the teacher is shown mistakes


def test_a_teacher_that_disagrees_with_the_seed_labels_is_warned_about_and_the_seed_is_kept(project, caplog):
    with inside(project):
        _fresh(project)
        seed_before = Prepared().seed.read_bytes()
        cfg = _cfg(**{"teacher.label_noise": 1.0})  # every teacher label is another one
        with caplog.at_level(logging.WARNING):
            result = probe.probe(cfg, 0, SimulatedTeacher(cfg))
        seed = read_jsonl(Prepared().seed)
        check = read_json(Round(0).seed_check)
        assert result["seed_disagreements"] == len(seed) == len(check["disagreements"]) == 6
        for row, found in zip(seed, check["disagreements"]):
            assert found["id"] == row["id"] and found["given"] == row["label"] and found["teacher"] != row["label"]
            assert any(row["id"] in m and "the teacher says" in m for m in caplog.messages)
        assert check["warnings"] and all("kept as given" in w for w in check["warnings"])
        assert Prepared().seed.read_bytes() == seed_before


def test_the_openai_teacher_probes_and_checks_the_seed_in_one_label_call(project, tmp_path):
    """Fresh texts from the synthesize_random prompt; one label call for them and the seed set;
    a seed label the LLM answers otherwise is a disagreement."""
    with inside(project), FakeOpenAI() as server:
        _fresh(project)
        seed = read_jsonl(Prepared().seed)
        cfg = _cfg(**{"teacher.provider": "openai", "teacher.model": "fake-model", "teacher.base_url": server.url,
                      "teacher.cache_dir": str(tmp_path / "cache"), "teacher.backoff_s": 0.01,
                      "teacher.prompts": str(ROOT / "prompts/default"),
                      "synthesize.batches": 2, "probe.n_texts": 10, "label.batch_size": 16})
        texts = [f"What is the meaning of word number {i} in the old song ?" for i in range(5)]
        label_rows = [{"id": n, "label": "LOC" if n == 1 else r["label"]} for n, r in enumerate(seed, 1)]
        label_rows += [{"id": len(seed) + n, "label": "DESC"} for n in range(1, 11)]
        server.script(reply(json.dumps({"texts": texts})),
                      reply(json.dumps({"texts": [t.replace("word", "name") for t in texts]})),
                      reply(json.dumps({"labels": label_rows})))
        result = probe.probe(cfg, 0, OpenAITeacher(cfg))
        kinds = [r["body"]["response_format"]["json_schema"]["name"] for r in server.requests]
        assert kinds == ["evokd_synthesize_random", "evokd_synthesize_random", "evokd_label"]
        label_prompt = server.requests[2]["body"]["messages"][-1]["content"]
        assert all(r["text"] in label_prompt for r in seed)
        check = read_json(Round(0).seed_check)
        assert [(d["id"], d["given"], d["teacher"]) for d in check["disagreements"]] == \
            ([(seed[0]["id"], seed[0]["label"], "LOC")] if seed[0]["label"] != "LOC" else [])
        feedback = read_jsonl(Round(0).feedback)
        assert result["accepted"] == len(feedback) == 10 and {r["label"] for r in feedback} == {"DESC"}
        assert {r["kind"] for r in feedback} == {"probe"}


def test_check_seed_compares_ner_entities():
    task = get_task("ner")
    row = {"id": "s1", "text": "Peter flew to Paris", "tokens": ["Peter", "flew", "to", "Paris"],
           "tags": ["B-PER", "O", "O", "B-LOC"]}
    answers = {"s1": {"entities": [{"text": "Peter", "type": "ORG"}, {"text": "Paris", "type": "LOC"}]}}
    check = seedcheck.check_seed(task, [row], answers, ["LOC", "MISC", "ORG", "PER"])
    assert check["disagreements"] == [{
        "id": "s1", "text": "Peter flew to Paris",
        "given": [{"text": "Peter", "type": "PER"}, {"text": "Paris", "type": "LOC"}],
        "teacher": [{"text": "Peter", "type": "ORG"}, {"text": "Paris", "type": "LOC"}]}]
    same = {"s1": {"entities": [{"text": "Peter", "type": "PER"}, {"text": "Paris", "type": "LOC"}]}}
    assert seedcheck.check_seed(task, [row], same, ["LOC", "MISC", "ORG", "PER"])["agree"] == 1
    unusable = seedcheck.check_seed(task, [row], {"s1": {"error": "no answer"}}, ["LOC", "PER"])
    assert unusable["checked"] == 0 and unusable["unanswered"] == [{"id": "s1", "reason": "unlabelled"}]
