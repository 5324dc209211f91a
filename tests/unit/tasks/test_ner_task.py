"""The NER task behind the Task seam: teacher answers -> tags, seed sets, label validation, and
first-sub-word label alignment with the real MiniLM tokenizer."""

from collections import Counter

import pytest

from evokd.config import parse_config
from evokd.data.textnorm import LeakIndex
from evokd.errors import ConfigError
from evokd.rounds.checks import validate
from evokd.tasks import get_task
from evokd.tasks.ner import answer_to_tags, draw_seed_sentences, tag_names

TYPES = ["LOC", "ORG", "PER"]


def row(i, text, tags):
    tokens = text.split()
    return {"id": f"train-{i:06d}", "tokens": tokens, "tags": tags, "text": text}


def test_tag_names():
    assert tag_names(["LOC", "PER"]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_answers_tags_entities_empty_and_failures():
    sample = {"id": "r1-a", "text": "Ann lives in New York", "tokens": "Ann lives in New York".split()}
    ok = answer_to_tags(sample, {"entities": [{"text": "Ann", "type": "PER"}, {"text": "New York", "type": "LOC"}]}, TYPES)
    assert ok.fields["tags"] == ["B-PER", "O", "O", "B-LOC", "I-LOC"] and ok.reason is None
    assert ok.fields["spans"][0] == {"text": "Ann", "type": "PER"}
    none = answer_to_tags(sample, {"entities": []}, TYPES)
    assert none.fields["tags"] == ["O"] * 5 and none.reason is None
    failed = answer_to_tags(sample, {"error": "timeout"}, TYPES)
    assert failed.fields is None and failed.reason == "unlabelled"
    fixed = answer_to_tags(sample, {"tags": ["I-PER", "O", "O", "B-LOC", "I-LOC"]}, TYPES)
    assert fixed.fields["tags"][0] == "B-PER" and fixed.repairs == Counter({"orphan_i": 1})
    assert answer_to_tags(sample, {"tags": ["O"] * 4}, TYPES).reason == "bad_tags"
    assert answer_to_tags(sample, {"tags": ["B-DRUG", "O", "O", "O", "O"]}, TYPES).reason == "bad_type"


def test_teacher_written_text_is_tokenized_and_offsets_use_the_raw_text():
    sample = {"id": "r1-b", "text": "Apple sued Samsung in Seoul."}
    ans = answer_to_tags(sample, {"entities": [{"start": 0, "end": 5, "type": "ORG"},
                                               {"text": "Samsung", "type": "ORG"},
                                               {"text": "Seoul", "type": "LOC"}]}, TYPES)
    assert ans.fields["tokens"] == ["Apple", "sued", "Samsung", "in", "Seoul", "."]
    assert ans.fields["tags"] == ["B-ORG", "O", "B-ORG", "O", "B-LOC", "O"]
    assert ans.fields["text"] == "Apple sued Samsung in Seoul ."


def test_seed_covers_every_type_k_sentences_each():
    rows = [row(1, "Ann ran", ["B-PER", "O"]), row(2, "Bob ran", ["B-PER", "O"]),
            row(3, "in Rome", ["O", "B-LOC"]), row(4, "in Oslo", ["O", "B-LOC"]),
            row(5, "Acme and Ann", ["B-ORG", "O", "B-PER"]), row(6, "Acme Inc", ["B-ORG", "I-ORG"]),
            row(7, "nothing here", ["O", "O"])]
    seed = draw_seed_sentences(rows, TYPES, 2, seed=1)
    assert len(seed) == 6 and len({r["id"] for r in seed}) == 6
    for kind in TYPES:
        assert sum(any(t.endswith(kind) for t in r["tags"]) for r in seed) >= 2
    assert draw_seed_sentences(rows, TYPES, 2, seed=1) == seed
    with pytest.raises(ConfigError, match="shots: 3 is more than the 2 unused sentence"):
        draw_seed_sentences(rows, TYPES, 3, seed=1)


def test_label_validation_counts_repairs_and_keeps_rejections_with_reason():
    cfg = parse_config({"task": "ner", "dataset": {"train": "a.conll", "test": "b.conll"}})
    samples = [{"id": "r1-a", "text": "Ann met Bob", "tokens": ["Ann", "met", "Bob"], "kind": "hard"},
               {"id": "r1-b", "text": "Acme hired Cy", "tokens": ["Acme", "hired", "Cy"], "kind": "hard"},
               {"id": "r1-c", "text": "Zed saw Oslo", "tokens": ["Zed", "saw", "Oslo"], "kind": "easy"},
               {"id": "r1-d", "text": "Ann met Bob", "tokens": ["Ann", "met", "Bob"], "kind": "easy"}]
    answers = {"r1-a": {"entities": [{"text": "Ann", "type": "person"}, {"text": "Bob", "type": "PER"}]},
               "r1-b": {"entities": [{"text": "Acme Corp", "type": "ORG"}]},
               "r1-c": {"error": "no answer"},
               "r1-d": {"entities": []}}
    repairs = Counter()
    accepted, rejected = validate(cfg, samples, answers, TYPES, [], LeakIndex([]), get_task("ner"), repairs)
    assert [r["id"] for r in accepted] == ["r1-a"] and accepted[0]["tags"] == ["B-PER", "O", "B-PER"]
    assert {r["id"]: r["reason"] for r in rejected} == {
        "r1-b": "span_not_found", "r1-c": "unlabelled", "r1-d": "duplicate"}
    assert repairs == Counter({"type_alias": 1})


def test_first_subword_alignment_with_the_real_tokenizer():
    from transformers import AutoTokenizer

    from evokd.student.backbone import backbone_path
    from evokd.student.tagger import IGNORE, align_labels, encode_words

    tok = AutoTokenizer.from_pretrained(backbone_path("minilm"))
    words = [["EU", "rejects", "1996-08-22", "Blackburn"]]
    encoded, firsts = encode_words(tok, words, max_length=64)
    ids = encoded["input_ids"][0]
    labels = align_labels(firsts[0], len(ids), [1, 0, 0, 2])
    # One label per word, at its first sub-word; the rest (and [CLS]/[SEP]) ignored.
    assert [lab for lab in labels if lab != IGNORE] == [1, 0, 0, 2]
    assert labels[0] == IGNORE and labels[-1] == IGNORE
    assert labels[firsts[0][3]] == 2 and len(firsts[0]) == 4
    # Truncation: words past max_length have no position (predicted O by predict_word_proba).
    _, cut = encode_words(tok, [["word"] * 40], max_length=10)
    assert len(cut[0]) == 8
