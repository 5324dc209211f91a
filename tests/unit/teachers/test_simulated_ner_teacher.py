"""The simulated NER teacher on a tiny pool: retrieval by weak types and near wrong sentences,
gold tags (with type noise), and an analysis that speaks of entity types."""

from collections import Counter

import numpy as np
import pytest

from evokd.config import parse_config
from evokd.io import write_jsonl
from evokd.paths import Prepared
from evokd.student.saved import SavedStudent
from evokd.tasks.spans import bio_to_spans
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.simulated_ner import SimulatedNerTeacher

TYPES = ["LOC", "ORG", "PER"]
POOL = [
    ("Ann met Bob", ["B-PER", "O", "B-PER"]),
    ("Cy visited Rome", ["B-PER", "O", "B-LOC"]),
    ("Acme bought Zeta Corp", ["B-ORG", "O", "B-ORG", "I-ORG"]),
    ("Oslo is cold", ["B-LOC", "O", "O"]),
    ("Paris and Lyon", ["B-LOC", "O", "B-LOC"]),
    ("Nothing happened today", ["O", "O", "O"]),
    ("Beta Inc hired Dee", ["B-ORG", "I-ORG", "O", "B-PER"]),
    ("rain in Bergen", ["O", "O", "B-LOC"]),
]


def make_teacher(tmp_path, **teacher):
    rows = [{"id": f"train-{i:06d}", "tokens": t.split(), "tags": tags, "text": t} for i, (t, tags) in enumerate(POOL)]
    prepared = Prepared(tmp_path / "prepared")
    prepared.root.mkdir()
    write_jsonl(prepared.train, rows)
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(len(rows), 8)).astype(np.float32)
    emb[4] = emb[3] + 0.01  # "Paris and Lyon" sits next to "Oslo is cold"
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    np.save(prepared.train_embeddings, emb)
    cfg = parse_config({"task": "ner", "seed": 3, "dataset": {"train": "a.conll", "test": "b.conll"},
                        "teacher": {"provider": "simulated", **teacher},
                        "synthesize": {"strategy": "evokd-uncertainty", "n_hard": 2, "n_easy": 1, "candidates": 5}})
    return SimulatedNerTeacher(cfg, prepared), rows


# The settings the previous student is run with (the tests stand in for the student itself).
STUDENT_CFG = parse_config({"task": "ner", "dataset": {"train": "a.conll", "test": "b.conll"}})


def request(rows, feedback, analysis, known=()):
    return SynthesisRequest(round=1, labels=TYPES, analysis=analysis, feedback=feedback,
                            known=list(known), n_hard=2, n_easy=1, student=SavedStudent(STUDENT_CFG, "student"))


def test_label_returns_gold_tags_and_unknown_texts_fail(tmp_path):
    teacher, rows = make_teacher(tmp_path)
    answers = teacher.label([{"id": "r1-a", "source_id": rows[2]["id"]}, {"id": "r1-b", "source_id": "nope"}], TYPES)
    assert answers["r1-a"] == {"tags": rows[2]["tags"]}
    assert answers["r1-b"] == {"error": "unknown_text"}


def test_label_noise_changes_entity_types_but_keeps_boundaries(tmp_path):
    teacher, rows = make_teacher(tmp_path, label_noise=1.0)
    answers = teacher.label([{"id": f"r1-{i}", "source_id": r["id"]} for i, r in enumerate(rows)], TYPES)
    for i, r in enumerate(rows):
        gold = bio_to_spans(r["tokens"], r["tags"])
        noisy = bio_to_spans(r["tokens"], answers[f"r1-{i}"]["tags"])
        assert [(s["token_start"], s["token_end"]) for s in noisy] == [(s["token_start"], s["token_end"]) for s in gold]
        assert all(a["type"] != b["type"] for a, b in zip(gold, noisy))


def test_candidates_come_near_wrong_sentences_and_from_weak_types(tmp_path):
    teacher, rows = make_teacher(tmp_path)
    pool, emb, index = teacher._load_pool()
    wrong = [{**rows[3], "source_id": rows[3]["id"], "predicted": ["O"] * 3, "correct": False}]
    known = [{**rows[3], "source_id": rows[3]["id"]}]
    req = request(rows, wrong, {"weak_labels": ["ORG"]}, known)
    available = teacher._available(req)
    assert index[rows[3]["id"]] not in available  # already in the training set
    import random
    picked = teacher._candidates(req, available, index, emb, random.Random(0))
    assert picked[0] == 4  # nearest to the wrong "Oslo is cold"
    assert len(picked) == 5 and len(set(picked)) == 5
    # Over many draws, the weak type ORG is drawn more than its share of the pool.
    org = Counter()
    for s in range(200):
        for i in teacher._candidates(req, available, index, emb, random.Random(s))[1:3]:
            org["ORG" in {t[2:] for t in pool[i]["tags"]}] += 1
    assert org[True] / sum(org.values()) > 2 / 7


def test_synthesize_picks_sentences_the_student_gets_wrong_as_hard(tmp_path, monkeypatch):
    teacher, rows = make_teacher(tmp_path)
    names = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]

    def fake_student(model_dir, sentences, **kw):
        # A student that tags everything O, confidently: right only on entity-free sentences.
        out = []
        for words in sentences:
            p = np.full((len(words), len(names)), 0.01, dtype=np.float32)
            p[:, 0] = 0.94
            out.append(p)
        return names, out

    monkeypatch.setattr("evokd.student.tagger.predict_word_proba", fake_student)
    samples = teacher.synthesize(request(rows, [], {"weak_labels": []}))
    kinds = Counter(s["kind"] for s in samples)
    assert kinds == {"hard": 2, "easy": 1}
    by_id = {r["id"]: r for r in rows}
    for s in samples:
        assert s["tokens"] == by_id[s["source_id"]]["tokens"]
        has_entities = any(t != "O" for t in by_id[s["source_id"]]["tags"])
        assert has_entities == (s["kind"] == "hard")


def test_analysis_names_missed_confused_and_over_predicted_types_with_examples(tmp_path):
    teacher, rows = make_teacher(tmp_path)
    fb = [
        {**rows[0], "predicted": ["B-PER", "O", "O"], "correct": False},                   # PER missed
        {**rows[2], "predicted": ["B-LOC", "O", "B-ORG", "I-ORG"], "correct": False},       # ORG as LOC
        {**rows[5], "predicted": ["B-LOC", "O", "O"], "correct": False},                    # LOC over-predicted
        {**rows[3], "predicted": ["B-LOC", "O", "O"], "correct": True},
    ]
    a = teacher.analyze(1, fb, TYPES)
    assert a["errors_per_label"]["PER"]["missed"] == 1 and a["errors_per_label"]["PER"]["total"] == 2
    assert a["errors_per_label"]["ORG"]["confused"] == 1
    assert a["errors_per_label"]["LOC"]["over_predicted"] == 1
    assert a["confusions"] == [{"gold": "ORG", "predicted": "LOC", "count": 1}]
    # Weak: error rate (errors / gold entities of the type) at least the batch's overall rate
    # (3 errors / 5 entities): LOC (1 over-prediction, 1 entity) but not PER or ORG (1 of 2).
    assert a["weak_labels"] == ["LOC"]
    assert a["examples"]["ORG"] == ["Acme bought Zeta Corp"]
    assert "ORG read as LOC" in a["summary"] and "missed" in a["summary"]


def test_a_second_labelling_draw_is_independent_but_reproducible(tmp_path):
    teacher, rows = make_teacher(tmp_path, label_noise=0.5)
    samples = [{"id": f"r1-{i}", "source_id": r["id"]} for i, r in enumerate(rows)] * 1
    first = teacher.label(samples, TYPES)
    assert teacher.label(samples, TYPES) == first
    second = teacher.label(samples, TYPES, draw=1)
    assert second == teacher.label(samples, TYPES, draw=1) and second != first


@pytest.mark.parametrize("share", [0.0, 0.4, 1.0])
def test_candidate_budget_holds_for_any_guided_share_even_with_many_mistakes(tmp_path, share):
    """Near-mistake rows come one per mistake at least; with more mistakes than the budget they
    must not overshoot `guided_share` (a negative random draw crashed here)."""
    import random

    teacher, rows = make_teacher(tmp_path)
    syn = teacher.cfg.synthesize.model_copy(update={"candidates": 4, "guided_share": share})
    teacher.cfg = teacher.cfg.model_copy(update={"synthesize": syn})
    wrong = [{**r, "source_id": r["id"], "predicted": ["O"] * len(r["tokens"]), "correct": False} for r in rows]
    req = request(rows, wrong, {"weak_labels": ["ORG"]})
    _, emb, index = teacher._load_pool()
    picked = teacher._candidates(req, teacher._available(req), index, emb, random.Random(0))
    assert len(picked) == len(set(picked)) == 4


def test_simulated_ner_second_draw_is_independent(tmp_path):
    noisy, rows = make_teacher(tmp_path, label_noise=0.5)
    samples = [{"id": f"r1-{i}-{j}", "source_id": r["id"]} for j in range(10) for i, r in enumerate(rows)]
    first, second = noisy.label(samples, ["LOC", "ORG", "PER"]), noisy.label(samples, ["LOC", "ORG", "PER"], draw=1)
    assert first == noisy.label(samples, ["LOC", "ORG", "PER"])
    differ = sum(first[s["id"]] != second[s["id"]] for s in samples)
    assert 10 <= differ <= 70, differ  # 80 sentences, 60 with entities, noise 0.5 per entity
    clean = SimulatedNerTeacher(noisy.cfg.model_copy(update={"teacher": noisy.cfg.teacher.model_copy(
        update={"label_noise": 0.0})}), noisy.prepared)
    assert clean.label(samples, ["LOC", "ORG", "PER"]) == clean.label(samples, ["LOC", "ORG", "PER"], draw=1)
