"""The LLM teacher on NER, against the local fake chat-completions server: the NER prompts and
reply schema are used, entity spans come back and become BIO tags by evokd.tasks.spans."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import yaml

from fake_openai import fake_openai, reply  # noqa: F401 (fixture)
from evokd.config import parse_config
from evokd.data.textnorm import LeakIndex
from evokd.rounds.checks import validate
from evokd.tasks import get_task
from evokd.teachers.openai import OpenAITeacher
from evokd.teachers.schemas import example_format

ROOT = Path(__file__).resolve().parents[3]
TYPES = ["LOC", "MISC", "ORG", "PER"]


def make_cfg(server, tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["task"] = "ner"
    params["dataset"] = {"train": "a.conll", "test": "b.conll"}
    params["teacher"].update({"provider": "openai", "model": "fake-model", "base_url": server.url,
                              "cache_dir": str(tmp_path / "cache"), "prompts": str(ROOT / "prompts/default"),
                              "backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 5, "max_tries": 3,
                              "max_concurrency": 1})
    params["synthesize"].update({"strategy": "evokd"})  # the guided path these tests exercise
    params["label"].update({"batch_size": 4})
    return parse_config(params)


def test_label_reply_with_spans_becomes_bio_tags_with_reasons(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path)
    samples = [{"id": "s0", "text": "Angela Merkel met Boris Johnson in Berlin.", "kind": "hard"},
               {"id": "s1", "text": "It rained all day.", "kind": "easy"},
               {"id": "s2", "text": "Apple opened a store in Paris.", "kind": "hard"},
               {"id": "s3", "text": "The Bank of England raised rates.", "kind": "hard"}]
    fake_openai.script(reply(json.dumps({"labels": [
        {"id": 1, "entities": [{"text": "Angela Merkel", "type": "PER"}, {"text": "Boris Johnson", "type": "PER"},
                               {"text": "Berlin", "type": "LOC"}]},
        {"id": 2, "entities": []},
        {"id": 3, "entities": [{"text": "Apple Inc", "type": "ORG"}]},          # not in the text
        {"id": 4, "entities": [{"text": "Bank of England", "type": "ORG"}, {"text": "England", "type": "LOC"}]},
    ]})))
    teacher = OpenAITeacher(cfg)
    answers = teacher.label(samples, TYPES)
    body = fake_openai.requests[0]["body"]
    assert body["response_format"]["json_schema"]["name"] == "evokd_label"
    entity = body["response_format"]["json_schema"]["schema"]["properties"]["labels"]["items"]["properties"]["entities"]
    assert entity["items"]["properties"]["type"]["enum"] == TYPES
    assert "named entities" in body["messages"][0]["content"]

    repairs = Counter()
    accepted, rejected = validate(cfg, samples, answers, TYPES, [], LeakIndex([]), get_task("ner"), repairs)
    by_id = {r["id"]: r for r in accepted}
    assert by_id["s0"]["tokens"] == ["Angela", "Merkel", "met", "Boris", "Johnson", "in", "Berlin", "."]
    assert by_id["s0"]["tags"] == ["B-PER", "I-PER", "O", "B-PER", "I-PER", "O", "B-LOC", "O"]
    assert by_id["s1"]["tags"] == ["O"] * 5          # [] is an answer: no entities
    assert by_id["s3"]["tags"] == ["O", "B-ORG", "I-ORG", "I-ORG", "O", "O", "O"]
    assert [(r["id"], r["reason"]) for r in rejected] == [("s2", "span_not_found")]
    assert repairs == Counter({"overlap_dropped": 1})


def test_feedback_rows_are_shown_with_their_entities():
    show = example_format("ner")
    row = {"text": "Peter flew to Paris", "tokens": ["Peter", "flew", "to", "Paris"],
           "tags": ["B-PER", "O", "O", "B-LOC"], "predicted": ["B-ORG", "O", "O", "O"], "correct": False}
    entities = [{"text": "Peter", "type": "PER"}, {"text": "Paris", "type": "LOC"}]
    assert show(row) == {"text": "Peter flew to Paris", "entities": entities,
                         "student_found": [{"text": "Peter", "type": "ORG"}]}
    assert show({**row, "correct": True}) == {"text": "Peter flew to Paris", "entities": entities}
