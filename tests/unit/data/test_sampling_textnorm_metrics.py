from collections import Counter

import pytest

from evokd.data.sampling import draw_review, draw_seed_set
from evokd.data.textnorm import LeakIndex, normalize
from evokd.errors import ConfigError
from evokd.tasks.classification import confusions, metrics

ROWS = [{"id": f"r{i}", "text": f"text {i}", "label": "ab"[i % 2] if i < 10 else "c"} for i in range(12)]


def test_seed_set_k_per_label_and_reproducible():
    first = draw_seed_set(ROWS, 2, seed=1)
    assert Counter(r["label"] for r in first) == {"a": 2, "b": 2, "c": 2}
    assert first == draw_seed_set(list(reversed(ROWS)), 2, seed=1)  # order of input irrelevant


def test_seed_set_too_many_shots_names_the_label():
    with pytest.raises(ConfigError, match=r"shots: 3 .* label 'c'.* at most 2"):
        draw_seed_set(ROWS, 3, seed=0)


def test_review_is_balanced_and_bounded():
    review = draw_review(ROWS, 6, seed=0)
    assert len(review) == 6 and len({r["id"] for r in review}) == 6
    assert Counter(r["label"] for r in review) == {"a": 2, "b": 2, "c": 2}
    assert len(draw_review(ROWS, 100, seed=0)) == len(ROWS)


def test_normalize():
    assert normalize("  What's   the CAPITAL of France? ") == "what s the capital of france"


def test_leak_index_exact_near_and_clean():
    index = LeakIndex([{"id": "t1", "text": "What is the capital city of France ?"},
                       {"id": "t2", "text": "Who wrote Hamlet ?"}], threshold=0.8)
    assert index.match("what is the capital city of france") == "t1"
    # One extra word: 5 of 6 word 3-grams shared (0.83 >= 0.8), a near duplicate.
    assert index.match("What is the capital city of France today ?") == "t1"
    # Same opening, different question: 4 of 8 shared.
    assert index.match("What is the capital city of Germany and its population ?") is None
    assert index.match("How far is the Moon ?") is None
    # Sharing one 3-gram with a long text is not a leak.
    assert index.match("Who wrote it ?") is None


def test_metrics_against_hand_computed_values():
    gold = ["a", "a", "b", "b", "c"]
    pred = ["a", "b", "b", "b", "a"]
    m = metrics(gold, pred, ["a", "b", "c"])
    # a: P=1/2 R=1/2 F=0.5; b: P=2/3 R=1 F=0.8; c: P=0 R=0 F=0 -> macro 0.4333
    assert m["accuracy"] == 0.6
    assert m["per_label"]["b"]["f1"] == 0.8
    assert m["macro_f1"] == pytest.approx(0.4333, abs=1e-4)
    assert confusions(gold, pred)[0] == {"gold": "a", "predicted": "b", "count": 1}
