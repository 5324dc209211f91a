"""Entity-level scores checked against hand-computed fixtures, and the per-sentence error kinds."""

import pytest

from evokd.tasks.ner import entity_errors, metrics, sentence_correct

GOLD = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O", "B-MISC", "I-MISC"]]
PRED = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "B-MISC", "O"]]


def test_seqeval_scores_match_hand_computation():
    # Gold entities: PER, LOC, ORG, MISC(2 tokens). Predicted: PER, ORG (wrong type for LOC),
    # ORG, MISC (1 token: wrong boundary). Right: PER and the second ORG -> 2 of 4 either way.
    m = metrics(GOLD, PRED, ["LOC", "MISC", "ORG", "PER"])
    assert (m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5)
    assert m["per_label"]["PER"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1}
    assert m["per_label"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    # ORG: 2 predicted, 1 right; 1 gold, found.  F1 = 2 * 0.5 * 1 / 1.5
    assert m["per_label"]["ORG"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}
    assert m["per_label"]["MISC"]["f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((1 + 0 + 0.6667 + 0) / 4, abs=1e-4)
    assert m["accuracy"] == 0.75  # 6 of 8 tokens


def test_unseen_type_gets_zero_support_and_is_left_out_of_macro():
    m = metrics([["B-PER", "O"]], [["B-PER", "O"]], ["PER", "DRUG"])
    assert m["f1"] == 1.0 and m["per_label"]["DRUG"]["support"] == 0 and m["macro_f1"] == 1.0


def test_no_predictions_scores_zero_not_an_error():
    m = metrics([["B-PER", "I-PER"]], [["O", "O"]], ["PER"])
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)


def test_entity_errors_by_kind():
    tokens = "John Smith of Acme Corp visited Paris on Monday".split()
    gold = ["B-PER", "I-PER", "O", "B-ORG", "I-ORG", "O", "B-LOC", "O", "O"]
    pred = ["B-PER", "O", "O", "B-LOC", "I-LOC", "O", "O", "O", "B-MISC"]
    errors = entity_errors(tokens, gold, pred)
    assert errors["boundary"] == [{"text": "John Smith", "type": "PER"}]
    assert errors["confused"] == [{"text": "Acme Corp", "type": "ORG", "predicted": "LOC"}]
    assert errors["missed"] == [{"text": "Paris", "type": "LOC"}]
    assert errors["over_predicted"] == [{"text": "Monday", "type": "MISC"}]
    assert not sentence_correct(gold, pred) and sentence_correct(gold, list(gold))
    assert sentence_correct(["O", "O"], ["O", "O"])
