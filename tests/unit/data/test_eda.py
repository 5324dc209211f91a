"""Strategy `eda` (evokd.data.eda): the seed set augmented by word edits, with no teacher. Draws
are fixed by (seed, round); every sample keeps its source's label, an NER sentence its entities
whole and its tags right; a round makes its budget of new texts; the synthesize and label stages
send the teacher nothing (the openai teacher against the fake server: zero requests)."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from fake_openai import fake_openai, openai_config  # noqa: F401 (fixture)
from evokd.config import parse_config
from evokd.data import eda
from evokd.data.textnorm import normalize
from evokd.errors import ConfigError
from evokd.io import read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.tasks import get_task
from evokd.tasks.spans import bio_to_spans
from evokd.teachers.base import Teacher
from evokd.teachers.openai import OpenAITeacher
from stages import label as label_step
from stages import synthesize as synthesize_step
from conftest import ROOT

CLS = get_task("classification")
NER = get_task("ner")
SEED = [
    {"id": "s-hum", "text": "Who was the first person to walk on the surface of the Moon ?", "label": "HUM"},
    {"id": "s-loc", "text": "Where is the longest river in the whole of South America ?", "label": "LOC"},
    {"id": "s-num", "text": "How many legs does a common garden spider have in total ?", "label": "NUM"},
    {"id": "s-num2", "text": "When did the last great ice age on Earth come to an end ?", "label": "NUM"},
]
NER_SEED = [
    {"id": "n1", "tokens": ["Angela", "Merkel", "flew", "from", "Berlin", "to", "New", "York", "on", "Monday", "."],
     "tags": ["B-PER", "I-PER", "O", "O", "B-LOC", "O", "B-LOC", "I-LOC", "O", "O", "O"]},
    {"id": "n2", "tokens": ["Shares", "of", "Deutsche", "Bank", "fell", "sharply", "in", "early", "trading", "."],
     "tags": ["O", "O", "B-ORG", "I-ORG", "O", "O", "O", "O", "O", "O"]},
]
for row in NER_SEED:
    row["text"] = " ".join(row["tokens"])


def test_draws_are_fixed_by_seed_and_round():
    a, _ = eda.augment(CLS, SEED, SEED, 24, seed=3, k=2)
    b, _ = eda.augment(CLS, list(SEED), list(SEED), 24, seed=3, k=2)
    assert a == b
    assert [r["text"] for r in eda.augment(CLS, SEED, SEED, 24, seed=3, k=3)[0]] != [r["text"] for r in a]
    assert [r["text"] for r in eda.augment(CLS, SEED, SEED, 24, seed=4, k=2)[0]] != [r["text"] for r in a]


def test_a_round_makes_its_budget_of_new_texts_spread_over_the_seed_set():
    known = list(SEED)
    for k in range(1, 9):  # 8 rounds of 32 from 4 seed texts: late rounds compose edits
        rows, made = eda.augment(CLS, SEED, known, 32, seed=0, k=k)
        assert len(rows) == 32 and made["exhausted"] == []
        norms = [normalize(r["text"]) for r in rows]
        assert len(set(norms)) == 32 and not set(norms) & {normalize(r["text"]) for r in known}
        assert sorted(Counter(r["source_id"] for r in rows).values()) == [8, 8, 8, 8]
        assert sum(made["edits"].values()) == sum(len(r["edits"]) for r in rows) and made["tries"] >= 32
        known += rows
    assert set(made["edits"]) == set(eda.OPERATIONS)


def test_every_sample_keeps_its_source_label_words_and_punctuation():
    by_id = {r["id"]: r for r in SEED}
    rows, _ = eda.augment(CLS, SEED, SEED, 40, seed=1, k=1)
    for row in rows:
        source = by_id[row["source_id"]]
        assert row["kind"] == "augmented" and row["answer"] == {"label": source["label"]}
        assert CLS.apply_answer(row, row["answer"], ["HUM", "LOC", "NUM"]).fields == {"label": source["label"]}
        # Words come from seed texts of the same label; "?" is never edited.
        vocab = {w for s in SEED if s["label"] == source["label"] for w in s["text"].split()}
        assert set(row["text"].split()) <= vocab and row["text"].count("?") == 1 and row["text"].endswith(" ?")
        assert normalize(row["text"]) != normalize(source["text"])


def test_a_source_without_new_variants_is_left_out():
    tiny = [{"id": "t", "text": "Why ?", "label": "DESC"}]  # one word: only insertions of itself
    rows, made = eda.augment(CLS, tiny, tiny, 50, seed=0, k=1)
    assert 0 < len(rows) < 50 and made["exhausted"] == ["t"] and made["edits"].keys() == {"insert"}
    assert len({normalize(r["text"]) for r in rows}) == len(rows)
    bare = [{"id": "p", "text": "... ?", "label": "DESC"}]  # no word at all: no operation applies
    assert eda.augment(CLS, bare, bare, 5, seed=0, k=1) == ([], {"tries": eda.TRIES, "edits": {}, "exhausted": ["p"]})


def test_ner_edits_only_words_outside_entities_and_keeps_the_tags_right():
    by_id = {r["id"]: r for r in NER_SEED}
    types = ["LOC", "ORG", "PER"]
    rows, made = eda.augment(NER, NER_SEED, NER_SEED, 40, seed=0, k=1)
    assert len(rows) == 40 and set(made["edits"]) == set(eda.OPERATIONS)
    for row in rows:
        source = by_id[row["source_id"]]
        tags = row["answer"]["tags"]
        assert row["text"] == " ".join(row["tokens"]) and len(tags) == len(row["tokens"])
        # Every entity whole, in order, with its type; nothing new tagged.
        spans = [(s["text"], s["type"]) for s in bio_to_spans(row["tokens"], tags)]
        assert spans == [(s["text"], s["type"]) for s in bio_to_spans(source["tokens"], source["tags"])]
        assert all(not t.startswith("I-") or tags[i - 1][2:] == t[2:] for i, t in enumerate(tags))
        checked = NER.apply_answer(row, row["answer"], types)
        assert checked.reason is None and checked.fields["tags"] == tags and not checked.repairs
        assert row["tokens"][-1] == "."  # punctuation stays, so the sentence still ends with it


def _prepared(root, seed, labels, task):
    """What synthesize@1 and label@1 read (round 0 as prepare and analyze@0 leave it)."""
    prepared = Prepared(root / "data/prepared")
    write_json(prepared.labels, {"labels": labels})
    write_jsonl(prepared.seed, seed)
    test = ({"id": "test-1", "text": "Completely unrelated held out sentence here", "label": labels[0]}
            if task == "classification" else
            {"id": "test-1", "tokens": ["Nothing", "here"], "tags": ["O", "O"], "text": "Nothing here"})
    write_jsonl(prepared.test, [test])
    write_jsonl(Round(0).train_set, seed)
    write_json(Round(0).analysis, {"summary": "x", "weak_labels": []})
    write_jsonl(Round(0).feedback, [])
    return prepared


class NoTeacher(Teacher):
    """A teacher that must not be asked to write, label, analyse or probe anything."""

    def synthesize(self, *args, **kwargs):
        raise AssertionError("the teacher was asked to synthesize")

    def label(self, *args, **kwargs):
        raise AssertionError("the teacher was asked to label")

    def analyze(self, *args, **kwargs):
        raise AssertionError("the teacher was asked to analyze")

    def probe(self, *args, **kwargs):
        raise AssertionError("the teacher was asked to probe")


@pytest.mark.parametrize("task", ["classification", "ner"])
def test_stages_send_the_openai_teacher_nothing(fake_openai, tmp_path, monkeypatch, task):
    monkeypatch.chdir(tmp_path)
    seed, labels = (SEED, ["HUM", "LOC", "NUM"]) if task == "classification" else (NER_SEED, ["LOC", "ORG", "PER"])
    prepared = _prepared(tmp_path, seed, labels, task)
    cfg = openai_config(fake_openai, tmp_path, "eda", task=task, label={"relabel_fraction": 0.0})
    teacher = OpenAITeacher(cfg)
    meta = synthesize_step.synthesize(cfg, 1, teacher, prepared)
    write_json(Round(1).meta("synthesize"), meta)
    result = label_step.label(cfg, 1, teacher, prepared)
    assert fake_openai.count() == 0 and teacher.usage.calls == 0 and teacher.usage.requests == 0
    n = cfg.synthesize.n_hard + cfg.synthesize.n_easy
    assert meta["synthesized"] == n and meta["kinds"] == {"augmented": n} and meta["augment"]["exhausted"] == []
    assert result["accepted"] == n and result["rejected"] == {}
    labelled = read_jsonl(Round(1).labelled)
    assert all("answer" not in r for r in labelled)
    if task == "classification":
        by_id = {r["id"]: r["label"] for r in seed}
        assert all(r["label"] == by_id[r["source_id"]] for r in labelled)
    else:
        assert all(len(r["tags"]) == len(r["tokens"]) for r in labelled)


def test_second_labelling_is_the_only_request(fake_openai, tmp_path, monkeypatch):
    """As under evokd-gen-labels, `label.relabel_fraction` still asks the LLM: here how often it
    disagrees with the labels EDA kept."""
    monkeypatch.chdir(tmp_path)
    prepared = _prepared(tmp_path, SEED, ["HUM", "LOC", "NUM"], "classification")
    cfg = openai_config(fake_openai, tmp_path, "eda", label={"relabel_fraction": 0.25, "batch_size": 16})
    synthesize_step.synthesize(cfg, 1, OpenAITeacher(cfg), prepared)
    assert fake_openai.count() == 0
    result = label_step.label(cfg, 1, OpenAITeacher(cfg), prepared)
    names = [r["body"]["response_format"]["json_schema"]["name"] for r in fake_openai.requests]
    assert names == ["evokd_label"] and result["relabel"]["samples"] + result["relabel"]["failed"] == 8


def test_simulated_run_asks_no_teacher(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepared = _prepared(tmp_path, SEED, ["HUM", "LOC", "NUM"], "classification")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synthesize"]["strategy"] = "eda"
    params["label"]["relabel_fraction"] = 0.0
    cfg = parse_config(params)
    synthesize_step.synthesize(cfg, 1, NoTeacher(), prepared)
    assert label_step.label(cfg, 1, NoTeacher(), prepared)["accepted"] == 32


def test_teachers_refuse_to_write_for_eda(fake_openai, tmp_path):
    from evokd.teachers.base import SynthesisRequest

    cfg = openai_config(fake_openai, tmp_path, "eda")
    request = SynthesisRequest(round=1, labels=["HUM"], analysis={}, feedback=[], known=[], n_hard=1, n_easy=0)
    with pytest.raises(ValueError, match="strategy eda: the synthesize stage writes its texts"):
        OpenAITeacher(cfg).synthesize(request)
    assert fake_openai.count() == 0


def test_config_takes_eda_with_either_teacher_and_warns_of_unread_params():
    from evokd.config import ignored_params

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synthesize"].update(strategy="eda", candidates=64)
    params["teacher"]["label_noise"] = 0.1
    cfg = parse_config(params)  # the simulated teacher: allowed (evokd-gen-labels is not)
    assert any(line.startswith("synthesize.candidates is 64") for line in ignored_params(cfg, "synthesize"))
    assert any(line.startswith("teacher.label_noise is 0.1") for line in ignored_params(cfg, "label"))
    params["teacher"].update(provider="openai", model="m")
    assert parse_config(params).synthesize.strategy == "eda"
    params["synthesize"]["strategy"] = "bogus"
    with pytest.raises(ConfigError, match="'eda'"):
        parse_config(params)


def test_estimate_and_card_count_no_generation_request(fake_openai, tmp_path):
    from evokd.cards.provenance import prompt_hashes
    from evokd.teachers.openai import stage_requests

    cfg = openai_config(fake_openai, tmp_path, "eda", label={"relabel_fraction": 0.0})
    assert [stage for stage, _ in stage_requests(cfg)] == ["analyze", "label"]
    assert sorted(p.split("/")[-1] for p in prompt_hashes(cfg)) == ["analyze.md"]


def test_model_card_says_no_teacher_wrote_the_samples():
    from evokd.cards.model import _intended_use

    text = _intended_use("text classification", "eda")
    assert "no teacher wrote or labelled them" in text and "distilled from the teacher" not in text
