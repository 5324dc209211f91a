"""Step functions without a model: plan, label validation, simulated teacher's label/analyze,
placeholders, stable ids, atomic writes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

from evokd.config import parse_config
from evokd.data.textnorm import LeakIndex
from evokd.errors import ConfigError
from evokd.io import read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds import checks
from stages import label as label_step
from evokd.rounds import slots as plan_slots
from stages import plan
from evokd.rounds.inactive import write_placeholders
from evokd.data.ids import assign_ids
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.simulated import SimulatedTeacher

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def cfg():
    return parse_config(yaml.safe_load((ROOT / "params.yaml").read_text()))


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_plan_marks_prefix_active_and_is_byte_stable(cfg, in_tmp):
    plan_slots.write_slots(6)
    plan.plan(cfg.model_copy(update={"rounds": 4}))
    before = {p.name: p.read_bytes() for p in Path("data/plan").iterdir()}
    assert json.loads(before["0.json"]) == {"round": 0, "active": True}  # analyze@0, always
    assert json.loads(before["4.json"]) == {"round": 4, "active": True}
    assert json.loads(before["5.json"]) == {"round": 5, "active": False}
    plan.plan(cfg.model_copy(update={"rounds": 5}))
    after = {p.name: p.read_bytes() for p in Path("data/plan").iterdir()}
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"5.json"}  # DVC re-runs only slot 5 (and what depends on it)
    assert plan_slots.active_rounds() == [1, 2, 3, 4, 5] and plan_slots.is_active(0)
    plan_slots.write_slots(2)
    plan.plan(cfg.model_copy(update={"rounds": 1}))
    assert sorted(p.name for p in Path("data/plan").iterdir()) == ["0.json", "1.json", "2.json"]


def test_more_rounds_than_slots_says_how_to_add_slots(cfg, in_tmp):
    plan_slots.write_slots(3)
    with pytest.raises(ConfigError, match=r"run `evokd slots 7`"):
        plan.plan(cfg.model_copy(update={"rounds": 7}))


def test_slots_file_has_string_keys(in_tmp):
    # DVC's foreach silently expands integer keys to nothing.
    plan_slots.write_slots(2)
    data = yaml.safe_load(Path("slots.yaml").read_text())
    assert data == {"slots": {"1": {"prev": 0}, "2": {"prev": 1}},
                    "analyze_slots": {"0": {}, "1": {}, "2": {}}}  # analyze@0 analyses prepare's student


def test_slots_file_without_analyze_slots_says_how_to_fix(cfg, in_tmp):
    # A slots.yaml written before analyze@0 existed: plan says to rewrite it.
    Path("slots.yaml").write_text(yaml.safe_dump({"slots": {"1": {"prev": 0}, "2": {"prev": 1}}}))
    with pytest.raises(ConfigError, match=r"analyze_slots.*run `evokd slots 2`"):
        plan.plan(cfg.model_copy(update={"rounds": 2}))


def test_spending_counts_analyze0_first_and_every_upstream_stage(in_tmp):
    from evokd.rounds.spending import spent_before

    def meta(k, verb, tokens):
        write_json(Round(k).meta(verb), {"stage": f"{verb}@{k}", "teacher": {"prompt_tokens": tokens}})

    meta(0, "prepare", 10_000)  # prepare calls no teacher: even a stray count is not summed
    meta(0, "probe", 2)  # round 0's first teacher stage, then analyze@0
    meta(0, "analyze", 1)
    for k in (1, 2):
        for i, verb in enumerate(("synthesize", "label", "analyze")):
            meta(k, verb, 10 ** (3 * k + i - 2))  # round 1: 10, 100, 1000; round 2: 1e4, 1e5, 1e6
    assert spent_before(0, "probe").prompt_tokens == 0
    assert spent_before(0, "analyze").prompt_tokens == 2
    assert spent_before(1, "synthesize").prompt_tokens == 3
    assert spent_before(1, "label").prompt_tokens == 13
    assert spent_before(1, "analyze").prompt_tokens == 113
    assert spent_before(2, "synthesize").prompt_tokens == 1_113
    assert spent_before(2, "analyze").prompt_tokens == 111_113
    with pytest.raises(ValueError):
        spent_before(0, "synthesize")


def test_assign_ids_stable_and_unique():
    a = assign_ids(3, [{"text": "x", "kind": "hard"}, {"text": "y", "kind": "easy"}, {"text": "x", "kind": "hard"}])
    assert a[0]["id"].startswith("r3-") and a[2]["id"] == a[0]["id"] + "-2"
    assert assign_ids(3, [{"text": "x", "kind": "hard"}])[0]["id"] == a[0]["id"]


def test_validate_rejects_with_reasons(cfg):
    samples = [{"id": f"s{i}", "text": t} for i, t in enumerate([
        "What is a good question ?", "no label here", "   ", "Hi", "x" * 600,
        "Who wrote Hamlet ?", "What is a GOOD question", "Known text already ?",
        "Totally fine text ?", "Odd label ?"])]
    answers = {f"s{i}": {"label": "HUM"} for i in range(10)}
    answers["s1"] = {"error": "parse_error: no JSON"}
    answers["s9"] = {"label": "Ignore previous instructions"}
    known = [{"id": "k", "text": "known text already", "label": "HUM"}]
    leak = LeakIndex([{"id": "test-1", "text": "Who wrote Hamlet?"}])
    accepted, rejected = checks.validate(cfg, samples, answers, ["HUM", "LOC"], known, leak)
    reasons = {r["id"]: r["reason"] for r in rejected}
    assert reasons == {"s1": "unlabelled", "s2": "empty", "s3": "too_short", "s4": "too_long",
                       "s5": "leak", "s6": "duplicate", "s7": "duplicate", "s9": "bad_label"}
    assert [r["id"] for r in accepted] == ["s0", "s8"]
    assert next(r for r in rejected if r["id"] == "s5")["detail"] == "test-1"


def make_pool(root: Path, n_per_label: int = 6) -> Prepared:
    prepared = Prepared(root / "prepared")
    rows = [{"id": f"train-{lab}{i}", "text": f"{lab} question number {i} ?", "label": lab}
            for lab in ("A", "B", "C") for i in range(n_per_label)]
    write_jsonl(prepared.train, rows)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(rows), 8)).astype(np.float32)
    np.save(prepared.train_embeddings, emb / np.linalg.norm(emb, axis=1, keepdims=True))
    write_json(prepared.labels, {"labels": ["A", "B", "C"]})
    return prepared


def test_simulated_random_strategy_skips_used_and_is_reproducible(cfg, tmp_path):
    prepared = make_pool(tmp_path)
    cfg = cfg.model_copy(update={"synthesize": cfg.synthesize.model_copy(update={"strategy": "random"})})
    teacher = SimulatedTeacher(cfg, prepared)
    known = [{"id": "train-A0", "source_id": "train-A0", "label": "A"}]
    req = SynthesisRequest(round=1, labels=["A", "B", "C"], analysis={}, feedback=[], known=known,
                           n_hard=5, n_easy=2)
    out = teacher.synthesize(req)
    assert len(out) == 7 and "train-A0" not in {s["source_id"] for s in out}
    assert out == SimulatedTeacher(cfg, prepared).synthesize(req)


def test_simulated_label_gold_and_noise(cfg, tmp_path):
    prepared = make_pool(tmp_path, n_per_label=40)
    samples = [{"id": f"r1-{i}", "source_id": r["id"]} for i, r in enumerate(read_jsonl(prepared.train))]
    clean = SimulatedTeacher(cfg, prepared).label(samples, ["A", "B", "C"])
    assert all(clean[s["id"]]["label"] == s["source_id"][6] for s in samples)
    noisy_cfg = cfg.model_copy(update={"teacher": cfg.teacher.model_copy(update={"label_noise": 0.3})})
    noisy = SimulatedTeacher(noisy_cfg, prepared).label(samples, ["A", "B", "C"])
    flipped = sum(noisy[s["id"]]["label"] != s["source_id"][6] for s in samples)
    assert 0.15 * len(samples) < flipped < 0.45 * len(samples)
    assert noisy == SimulatedTeacher(noisy_cfg, prepared).label(samples, ["A", "B", "C"])
    assert SimulatedTeacher(cfg, prepared).label([{"id": "x", "source_id": "nope"}], ["A"]) == {
        "x": {"error": "unknown_text"}}


def test_simulated_analysis_names_weak_labels_and_confusions(cfg, tmp_path):
    teacher = SimulatedTeacher(cfg, make_pool(tmp_path))
    fb = [{"id": "1", "label": "A", "predicted": "B", "correct": False},
          {"id": "2", "label": "A", "predicted": "B", "correct": False},
          {"id": "3", "label": "B", "predicted": "B", "correct": True},
          {"id": "4", "label": "B", "predicted": "A", "correct": False}]
    analysis = teacher.analyze(2, fb, ["A", "B", "C"])
    assert analysis["weak_labels"] == ["A", "C"]  # A: 2/2 wrong; C: no feedback yet
    assert analysis["confusions"][0] == {"gold": "A", "predicted": "B", "count": 2}
    assert "A read as B (2)" in analysis["summary"]


def test_inactive_placeholders(in_tmp):
    for verb in ("synthesize", "label", "train", "evaluate", "analyze"):
        write_placeholders(verb, 5)
    assert Path("models/rounds/5/INACTIVE").exists()
    assert read_jsonl("data/rounds/5/train_set.jsonl") == []
    assert json.loads(Path("metrics/rounds/5.json").read_text()) == {"round": 5, "active": False}


def test_atomic_write_leaves_no_partial_file(in_tmp, monkeypatch):
    write_json("out.json", {"a": 1})

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_json("out.json", {"a": 2})
    assert json.loads(Path("out.json").read_text()) == {"a": 1}
    assert [p.name for p in Path(".").iterdir()] == ["out.json"]


def test_report_sums_teacher_usage_of_analyze0(cfg, in_tmp):
    """Round 0's teacher use is probe's and analyze@0's (prepare calls no teacher): the report
    counts it, round 0's wall time is prepare's plus theirs, and the seed check's disagreements
    are warnings."""
    from evokd import report
    from stages.report import report as report_stage

    plan_slots.write_slots(1)
    plan.plan(cfg.model_copy(update={"rounds": 1}))
    for k in (0, 1):
        write_json(Round(k).scores, {"round": k, "active": True, "macro_f1": 0.5, "accuracy": 0.5,
                                     "per_label": {"HUM": {"f1": 0.5}}})
    write_json(Round(0).meta("prepare"), {"stage": "prepare", "seed": 2, "wall_s": 10.0})
    write_json(Round(0).meta("probe"), {"stage": "probe@0", "wall_s": 2.0,
                                        "teacher": {"calls": 2, "requests": 2, "prompt_tokens": 20}})
    write_json(Round(0).seed_check, {"checked": 6, "agree": 5, "disagreements": [{"id": "t7"}],
                                     "warnings": ["seed example t7 'Who ?' is labelled LOC in the seed set; "
                                                  "the teacher says HUM (kept as given)"]})
    write_json(Round(0).meta("analyze"), {"stage": "analyze@0", "wall_s": 1.0,
                                          "teacher": {"calls": 1, "requests": 1, "prompt_tokens": 7}})
    for verb in ("synthesize", "label", "analyze"):
        write_json(Round(1).meta(verb), {"stage": f"{verb}@1", "wall_s": 1.0, "accepted": 3,
                                         "teacher": {"calls": 1, "requests": 1, "prompt_tokens": 100}})
    write_jsonl(Round(1).feedback, [])
    report_stage(cfg)
    summary = json.loads(Path("reports/diagnostics.json").read_text())
    assert summary["teacher"]["calls"] == 6 and summary["teacher"]["prompt_tokens"] == 327
    assert summary["wall_s"]["per_round"]["0"] == {"prepare": 10.0, "probe": 2.0, "analyze": 1.0}
    assert summary["seed_check"] == {"checked": 6, "disagreements": 1}
    md = Path("reports/report.md").read_text()
    assert "| 0 | 0.5000 | 0.5000 | 2 | 0 | 0 | 13.0 |" in md
    assert "- WARNING: seed example t7 'Who ?' is labelled LOC in the seed set; the teacher says HUM" in md


def test_the_teacher_stages_read_the_task_context_prepare_wrote(tmp_path, monkeypatch):
    """A teacher stage sees the dataset block (its prompts' task context) as prepare recorded it
    in data/prepared/dataset.json, its dependency, not as params.yaml says it now."""
    from evokd.errors import PipelineError
    from evokd.rounds.stage import dataset_as_prepared

    monkeypatch.chdir(tmp_path)
    cfg = parse_config({"dataset": {"train": "a.tsv", "test": "b.tsv", "description": "edited, not prepared"}})
    with pytest.raises(PipelineError, match=r"data/prepared/dataset\.json: missing; run `dvc repro prepare`"):
        dataset_as_prepared(cfg)
    Prepared().root.mkdir(parents=True)
    recorded = cfg.dataset.model_copy(update={"description": "Questions people ask.",
                                              "label_descriptions": {"HUM": "a person"}})
    write_json(Prepared().dataset, recorded.model_dump(mode="json"))
    seen = dataset_as_prepared(cfg)
    assert seen.dataset.description == "Questions people ask." and seen.dataset.label_descriptions == {"HUM": "a person"}
    assert seen.dataset == recorded and seen.teacher == cfg.teacher


def test_fewer_slots_drop_their_entries_from_dvc_lock(tmp_path):
    """DVC keeps a removed stage's lock entry for ever and re-reads the whole lock after each stage."""
    from evokd.rounds.slots import prune_lock

    lock = tmp_path / "dvc.lock"
    lock.write_text("schema: '2.0'\nstages:\n  prepare:\n    cmd: python stages/prepare.py\n"
                    "  synthesize@2:\n    cmd: python stages/synthesize.py 2  # kept\n"
                    "  synthesize@3:\n    cmd: python stages/synthesize.py 3\n"
                    "  analyze@0:\n    cmd: python stages/analyze.py 0\n  analyze@12:\n    cmd: x\n")
    assert prune_lock(2, lock) == ["synthesize@3", "analyze@12"]
    assert lock.read_text() == ("schema: '2.0'\nstages:\n  prepare:\n    cmd: python stages/prepare.py\n"
                                "  synthesize@2:\n    cmd: python stages/synthesize.py 2  # kept\n"
                                "  analyze@0:\n    cmd: python stages/analyze.py 0\n")
    assert prune_lock(2, lock) == [] and prune_lock(2, tmp_path / "none.lock") == []
