"""No leakage and visible label noise, at the step level (no training, no DVC): prepare holds out
train rows that repeat test rows so the seed set never overlaps the test split; `leak`
rejections, the label stage's reject-rate warning and the label/student disagreement per class
reach the report's diagnostics (reports/diagnostics.json) and the report."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from evokd.config import parse_config
from evokd.data.sampling import draw_seed_set
from evokd.data.textnorm import normalize
from evokd.io import write_json, write_jsonl
from evokd.paths import Round
from evokd import report
from stages.report import report as report_stage
from evokd.rounds import noise
from evokd.data.textnorm import hold_out_test_repeats
from evokd.tasks import get_task

ROOT = Path(__file__).resolve().parents[3]


def test_seed_set_never_overlaps_test_split_even_when_train_repeats_test():
    test = [{"id": f"test-{i}", "text": t, "label": lab} for i, (t, lab) in enumerate([
        ("Who wrote Hamlet ?", "HUM"), ("Where is the river Nile located ?", "LOC")])]
    train = [{"id": "train-1", "text": "who wrote  HAMLET?", "label": "HUM"},          # equal, normalised
             {"id": "train-2", "text": "Where is the river Nile located today ?", "label": "LOC"},  # near
             {"id": "train-3", "text": "Who painted the Mona Lisa ?", "label": "HUM"},
             {"id": "train-4", "text": "Where is Bonn ?", "label": "LOC"}]
    kept = hold_out_test_repeats(train, test, threshold=0.8)
    assert [r["id"] for r in kept] == ["train-3", "train-4"]
    # With shots=1 the only rows left per label are drawn; on the full list a leak could be drawn.
    seed = draw_seed_set(kept, 1, seed=0)
    test_norm = {normalize(r["text"]) for r in test}
    assert not {normalize(r["text"]) for r in seed} & test_norm


def _round_files(k: int, label_meta: dict, feedback: list[dict], score: float) -> None:
    write_json(Round(k).plan, {"round": k, "active": True})
    write_json(Round(k).scores, {"round": k, "active": True, "macro_f1": score, "accuracy": score,
                                 "per_label": {"HUM": {"f1": score}, "LOC": {"f1": score}}})
    write_json(Round(k).meta("label"), {"stage": f"label@{k}", "wall_s": 1.0, **label_meta})
    write_jsonl(Round(k).feedback, feedback)


def test_leaks_warning_and_disagreement_reach_summary_and_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slots.yaml").write_text(yaml.safe_dump({"slots": {"1": {"prev": 0}, "2": {"prev": 1}}}))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    cfg = parse_config(params)
    write_json(Round(0).scores, {"round": 0, "active": True, "macro_f1": 0.1, "accuracy": 0.1,
                                 "per_label": {"HUM": {"f1": 0.1}, "LOC": {"f1": 0.1}}})
    write_json(Round(0).meta("prepare"), {"stage": "prepare", "seed": 2, "wall_s": 1.0})
    warning = "round 1 rejected 75% of its samples (label.max_reject_rate is 50%): {'leak': 3}"
    # Round 1: HUM labels mostly disagree with the student; LOC ones agree.
    fb1 = [{"id": f"h{i}", "label": "HUM", "correct": i == 0} for i in range(5)] + \
          [{"id": f"l{i}", "label": "LOC", "correct": True} for i in range(3)]
    _round_files(1, {"accepted": 1, "rejected": {"leak": 3}, "reject_rate": 0.75, "warning": warning}, fb1, 0.2)
    _round_files(2, {"accepted": 8, "rejected": {"duplicate": 1}, "reject_rate": 0.11, "warning": None},
                 [{"id": "l9", "label": "LOC", "correct": False}], 0.3)

    report_stage(cfg)
    summary = json.loads((tmp_path / "reports/diagnostics.json").read_text())
    assert summary["samples"]["rejected"] == {"duplicate": 1, "leak": 3}
    assert summary["warnings"][0] == warning
    dis = summary["label_disagreement"]
    assert dis["per_label"] == {"HUM": 0.8, "LOC": 0.25} and dis["per_round"] == {"1": 0.5, "2": 1.0}
    assert dis["flagged"] == ["HUM"] and "label noise" in summary["warnings"][1]
    md = (tmp_path / "reports/report.md").read_text()
    assert f"WARNING: {warning}" in md and "HUM 80%" in md and "WARNING: label noise" in md


def test_no_warning_when_labels_mostly_agree():
    fb = [{"id": f"h{i}", "label": "HUM", "correct": i % 2 == 0} for i in range(10)]
    assert noise.flagged(noise.merge([noise.disagreement(get_task("classification"), fb)]), 0.6, 4) == []
    ner = [{"id": "s", "tags": ["B-PER", "O", "B-LOC"], "correct": False}]
    assert set(noise.disagreement(get_task("ner"), ner)["per_label"]) == {"PER", "LOC"}


def test_ner_disagreement_is_per_entity_not_per_sentence():
    # One sentence: PER found exactly, LOC missed. Only LOC disagrees.
    row = {"tokens": ["Ann", "went", "to", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"],
           "predicted": ["B-PER", "O", "O", "O"], "correct": False}
    per_label = noise.disagreement(get_task("ner"), [row])["per_label"]
    assert per_label["PER"] == {"samples": 1, "disagree": 0, "rate": 0.0}
    assert per_label["LOC"] == {"samples": 1, "disagree": 1, "rate": 1.0}
    assert noise.disagreement(get_task("ner"), [row])["disagree"] == 1  # the sentence as a whole still disagrees


def test_hard_samples_do_not_count_as_label_noise(tmp_path, monkeypatch):
    """Hard samples are chosen for the student to get wrong; a run where only they disagree is
    clean and must raise no label-noise warning (the default TREC run used to flag 5 classes)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slots.yaml").write_text(yaml.safe_dump({"slots": {"1": {"prev": 0}}}))
    cfg = parse_config(yaml.safe_load((ROOT / "params.yaml").read_text()))
    write_json(Round(0).scores, {"round": 0, "active": True, "macro_f1": 0.1, "accuracy": 0.1,
                                 "per_label": {"HUM": {"f1": 0.1}, "LOC": {"f1": 0.1}}})
    write_json(Round(0).meta("prepare"), {"stage": "prepare", "seed": 2, "wall_s": 1.0})
    fb = ([{"id": f"h{i}", "label": "HUM", "kind": "hard", "correct": False} for i in range(10)]
          + [{"id": f"e{i}", "label": "HUM", "kind": "easy", "correct": i > 0} for i in range(5)])
    _round_files(1, {"accepted": 15, "rejected": {}, "reject_rate": 0.0, "warning": None}, fb, 0.2)
    report_stage(cfg)
    summary = json.loads((tmp_path / "reports/diagnostics.json").read_text())
    assert summary["warnings"] == []
    assert summary["label_disagreement"]["per_label"] == {"HUM": 0.2}  # 1 of the 5 easy ones
