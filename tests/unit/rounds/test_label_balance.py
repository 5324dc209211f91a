"""Issue 14, keeping what the student trains on balanced: `synthesize.label_quota` spreads the
simulated teacher's hard picks over the labels, the label stage records the accepted samples per
label (and kind) in its meta, and the report shows them per round."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from evokd.config import ignored_params, parse_config
from evokd.errors import ConfigError
from evokd.io import read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from stages import label as label_step
from evokd import report
from stages.report import report as report_stage
from evokd.rounds import slots as plan_slots
from stages import plan
from evokd.strategies import get_strategy
from evokd.student.saved import SavedStudent
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.simulated import SimulatedTeacher, hard_cap, take_capped

ROOT = Path(__file__).resolve().parents[3]
LABELS = ["A", "B", "C"]


def make_cfg(**synthesize):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synthesize"].update(synthesize)
    return parse_config(params)


def make_pool(root: Path, n_per_label: int = 6) -> Prepared:
    prepared = Prepared(root / "prepared")
    rows = [{"id": f"train-{lab}{i}", "text": f"{lab} question number {i} ?", "label": lab}
            for lab in LABELS for i in range(n_per_label)]
    write_jsonl(prepared.train, rows)
    np.save(prepared.train_embeddings, np.eye(len(rows), 8, dtype=np.float32))
    write_json(prepared.labels, {"labels": LABELS})
    return prepared


def test_hard_cap_and_take_capped():
    assert hard_cap("none", 24, 6) == 10 and hard_cap("even", 24, 6) == 4 and hard_cap("even", 32, 5) == 7
    assert hard_cap("even", 2, 6) == 1  # never zero
    keys = {0: "a", 1: "a", 2: "a", 3: "b", 4: "c"}
    assert take_capped([0, 1, 2, 3, 4], keys.get, 4, 2) == [0, 1, 3, 4]
    # already taken items count against their key; ineligible ones are skipped
    assert take_capped([0, 1, 2, 3, 4], keys.get, 4, 2, taken=[1]) == [1, 0, 3, 4]
    assert take_capped([0, 1, 2, 3, 4], keys.get, 5, 5, eligible=lambda j: j != 2) == [0, 1, 3, 4]


@pytest.fixture
def scripted_student(monkeypatch):
    """The previous student as a table: every A text gets p(gold) 0.1, B 0.2 (both wrong), C
    0.6 (right), so the hardest texts are all A, then all B."""
    import evokd.student.predict as predict

    p_gold = {"A": 0.1, "B": 0.2, "C": 0.6}

    def predict_proba(student_dir, texts, **kw):
        probs = []
        for text in texts:
            gold = text[0]
            probs.append([p_gold[gold] if lab == gold else (1 - p_gold[gold]) / 2 for lab in LABELS])
        return LABELS, np.array(probs)

    monkeypatch.setattr(predict, "predict_proba", predict_proba)


@pytest.mark.parametrize("quota, candidates, want", [
    ("none", "ABC", {"A": 3, "B": 3}),            # at most 40 % of 6 from one label: A's 3, then B
    ("even", "ABC", {"A": 2, "B": 2, "C": 2}),    # 6 / 3 labels: 2 each, C's right ones too
    ("even", "AB", {"A": 4, "B": 2}),             # C has no candidate: its slots go to the hardest (A)
])
def test_label_quota_spreads_hard_picks(tmp_path, scripted_student, quota, candidates, want):
    prepared = make_pool(tmp_path)
    teacher = SimulatedTeacher(make_cfg(label_quota=quota), prepared)
    pool, _, _ = teacher._load_pool()
    cand = [i for i, row in enumerate(pool) if row["label"] in candidates]
    req = SynthesisRequest(round=1, labels=LABELS, analysis={}, feedback=[], known=[],
                           n_hard=6, n_easy=0, student=SavedStudent(teacher.cfg, "unused"))
    picked = teacher._pick_by_student(req, cand, random.Random(0), get_strategy("evokd"))
    assert all(kind == "hard" for _, kind in picked)
    assert Counter(pool[i]["label"] for i, _ in picked) == want
    # hardest first within a label (stable order: the pool's first A texts)
    assert [pool[i]["id"] for i, _ in picked if pool[i]["label"] == "A"][:2] == ["train-A0", "train-A1"]


def test_label_quota_is_validated_and_ignored_by_unguided_strategies():
    with pytest.raises(ConfigError, match="synthesize.label_quota"):
        make_cfg(label_quota="balanced")
    assert ignored_params(make_cfg(label_quota="even", strategy="evokd-uncertainty"), "synthesize") == []
    [line] = ignored_params(make_cfg(label_quota="even", strategy="random"), "synthesize")
    assert line.startswith("synthesize.label_quota is even (default none), read only by the guided strategies")


def test_label_stage_meta_counts_accepted_labels_per_kind(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepared = Prepared(tmp_path / "data/prepared")
    rows = [{"id": f"train-{lab}{i}", "text": f"{lab} question number {i} ?", "label": lab}
            for lab in ("A", "B") for i in range(4)]
    write_jsonl(prepared.train, rows)
    np.save(prepared.train_embeddings, np.eye(len(rows), 8, dtype=np.float32))
    write_json(prepared.labels, {"labels": LABELS})
    write_jsonl(prepared.test, [{"id": "test-1", "text": "Completely unrelated held out sentence", "label": "A"}])
    write_jsonl(Round(0).train_set, [])
    kinds = ["hard", "hard", "hard", "easy", "hard", "easy", "easy", "easy"]
    synthesized = [{"id": f"r1-{i}", "text": r["text"], "source_id": r["id"], "kind": kind}
                   for i, (r, kind) in enumerate(zip(rows, kinds))]
    synthesized.append({**synthesized[0], "id": "r1-dup"})  # rejected: not counted
    write_jsonl(Round(1).synthesized, synthesized)
    cfg = make_cfg()
    result = label_step.label(cfg, 1, SimulatedTeacher(cfg, prepared), prepared)
    assert result["accepted"] == 8 and result["rejected"] == {"duplicate": 1}
    assert result["label_counts"] == {"A": 4, "B": 4, "C": 0}
    assert result["label_counts_by_kind"] == {"easy": {"A": 1, "B": 3, "C": 0},
                                              "hard": {"A": 3, "B": 1, "C": 0}}
    assert len(read_jsonl(Round(1).labelled)) == 8


def test_report_shows_label_balance_per_round(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_cfg().model_copy(update={"rounds": 2})
    plan_slots.write_slots(2)
    plan.plan(cfg)
    for k in (0, 1, 2):
        write_json(Round(k).scores, {"round": k, "active": True, "macro_f1": 0.5, "accuracy": 0.5,
                                     "per_label": {"A": {"f1": 0.5}}})
        write_jsonl(Round(k).feedback, [])
    write_json(Round(0).meta("prepare"), {"stage": "prepare", "seed": 3, "wall_s": 1.0})
    write_json(Round(1).meta("label"), {"accepted": 8, "label_counts": {"A": 6, "B": 2, "C": 0},
                                        "label_counts_by_kind": {"hard": {"A": 6, "B": 0, "C": 0},
                                                                 "easy": {"A": 0, "B": 2, "C": 0}}})
    write_json(Round(2).meta("label"), {"accepted": 6, "label_counts": {"A": 3, "B": 2, "C": 1},
                                        "label_counts_by_kind": {"hard": {"A": 3, "B": 2, "C": 1}}})
    report_stage(cfg)
    md = (tmp_path / "reports/report.md").read_text()
    assert "| round | kinds | A | B | C | largest / smallest |" in md
    assert "| 1 | hard 6, easy 2 | 6 | 2 | 0 | ∞ |" in md
    assert "| 2 | hard 6 | 3 | 2 | 1 | 3.0 |" in md
    # A run whose label metas predate the counts shows no section (and does not fail).
    assert report.label_balance([0, 1], "evokd") != []
    write_json(Round(1).meta("label"), {"accepted": 8})
    write_json(Round(2).meta("label"), {"accepted": 6})
    assert report.label_balance([0, 1, 2], "evokd") == []
    assert json.loads((tmp_path / "metrics/summary.json").read_text())["rounds_run"] == 2


# -- the LLM teacher: quotas in the generation request ----------------------------------------
from fake_openai import fake_openai, openai_config  # noqa: E402,F401 (fixture)
from evokd.teachers.openai import OpenAITeacher, easy_labels, label_quotas, quota_line  # noqa: E402


def test_label_quotas_go_round_robin_over_conversations():
    labels = ["A", "B", "C", "D", "E", "F"]
    quotas = label_quotas(labels, [6, 6, 6, 6])
    assert quotas[0] == {lab: 1 for lab in labels}
    totals = Counter()
    for q in label_quotas(labels, [3, 3, 2, 2]):  # 10 over 6 labels: A-D get 2, E-F 1
        totals.update(q)
    assert totals == {"A": 2, "B": 2, "C": 2, "D": 2, "E": 1, "F": 1}
    assert label_quotas(labels, [3, 3, 2, 2])[1] == {"D": 1, "E": 1, "F": 1}
    # from another label on (the easy texts of a later round), wrapping round
    assert label_quotas(labels, [2, 2, 2, 2], start=8) == [{"C": 1, "D": 1}, {"E": 1, "F": 1},
                                                          {"A": 1, "B": 1}, {"C": 1, "D": 1}]
    assert quota_line({}) == ""
    assert quota_line({"A": 2, "B": 1}) == " Spread the hard texts over the labels exactly like this: 2 for A, 1 for B."
    assert easy_labels({"C": 1, "D": 1}) == "1 for C, 1 for D" and easy_labels({}) == "none"


@pytest.mark.parametrize("task", ["classification", "ner"])
@pytest.mark.parametrize("prompt_set", ["default", "concise"])
def test_each_conversation_names_its_own_easy_labels_and_a_round_covers_them_all(fake_openai, tmp_path,
                                                                                 task, prompt_set):
    """8 easy texts in 4 conversations of 2 cannot each be "spread over all 6 labels": each
    conversation is told its own 2, and the round's 8 cover all 6 (the next round goes on from
    where this one stopped, so the same 2 labels do not always get the extra one)."""
    import re

    labels = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"] if task == "classification" else ["LOC", "MISC", "ORG", "PER"]
    root = Path(__file__).resolve().parents[3]
    cfg = openai_config(fake_openai, tmp_path, "evokd", task=task, prompts=str(root / "prompts" / prompt_set))
    for k in (1, 2):
        req = SynthesisRequest(round=k, labels=labels, analysis={"summary": "x", "weak_labels": [labels[0]]},
                               feedback=[], known=[], n_hard=24, n_easy=8)
        OpenAITeacher(cfg).synthesize(req)
    named = [Counter({lab: int(n) for n, lab in re.findall(r"(\d+) for ([A-Z]+)", r["body"]["messages"][-1]["content"])})
             for r in fake_openai.requests]
    assert len(named) == 8 and all(sum(c.values()) == 2 for c in named)
    per_round = [sum(named[:4], Counter()), sum(named[4:], Counter())]
    assert all(set(c) == set(labels) for c in per_round)
    both = sum(per_round, Counter())
    assert max(both.values()) - min(both.values()) <= 1


@pytest.mark.parametrize("task", ["classification", "ner"])
@pytest.mark.parametrize("quota", ["none", "even"])
def test_guided_generation_asks_for_hard_texts_label_by_label(fake_openai, tmp_path, task, quota):
    labels = ["DESC", "HUM", "LOC", "NUM"] if task == "classification" else ["LOC", "MISC", "ORG", "PER"]
    cfg = openai_config(fake_openai, tmp_path, "evokd", task=task, synthesize={"label_quota": quota, "batches": 2})
    req = SynthesisRequest(round=1, labels=labels, analysis={"summary": "x", "weak_labels": [labels[2]]},
                           feedback=[], known=[], n_hard=6, n_easy=2)
    OpenAITeacher(cfg).synthesize(req)
    prompts = ["\n".join(m["content"] for m in r["body"]["messages"]) for r in fake_openai.requests]
    assert len(prompts) == 2
    if quota == "none":  # the prompt is the one it always was
        assert not any("Spread the hard" in p for p in prompts)
    else:
        a, b, c, d = labels
        assert f"exactly like this: 1 for {a}, 1 for {b}, 1 for {c}." in prompts[0]
        assert f"exactly like this: 1 for {a}, 1 for {b}, 1 for {d}." in prompts[1]


# -- balanced replay (train.review_balance) ---------------------------------------------------
def test_balanced_review_evens_out_new_plus_review():
    from evokd.data.sampling import draw_review

    previous = [{"id": f"{lab}{i}", "label": lab} for lab in "ABC" for i in range(6)]
    new = [{"id": f"n{i}", "label": "A"} for i in range(5)] + [{"id": "n5", "label": "B"}]
    review = draw_review(previous, 6, seed=1, new=new)
    # A has 5 new, B 1, C 0: the replays go to the smallest total, ties in label order:
    # C, B, C, B, C, B; a review balanced on its own would replay A twice
    assert [r["label"] for r in review] == ["C", "B", "C", "B", "C", "B"]
    assert Counter(r["label"] for r in new + review) == {"A": 5, "B": 4, "C": 3}
    assert review == draw_review(previous, 6, seed=1, new=new)  # one seed, one draw
    # without `new`, the review is balanced on its own (the old draw, unchanged)
    assert Counter(r["label"] for r in draw_review(previous, 6, seed=1)) == {"A": 2, "B": 2, "C": 2}
    # a label with nothing left to replay is skipped
    only_a = [{"id": f"A{i}", "label": "A"} for i in range(4)] + [{"id": "B0", "label": "B"}]
    assert Counter(r["label"] for r in draw_review(only_a, 3, seed=0, new=new)) == {"B": 1, "A": 2}


def test_review_balance_is_ignored_for_ner():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params.update(task="ner", dataset={"train": "a.conll", "test": "b.conll"})
    params["train"]["review_balance"] = True
    [line] = ignored_params(parse_config(params), "train")
    assert line.startswith("train.review_balance is True (default False), read only by classification")
