"""A reply cut at max_tokens (finish_reason "length") keeps what was complete
(evokd.teachers.salvage): the whole items written before the cut are used, a cut item is never
opened up (an NER answer with half its entities would be a wrong label), and what the reply
never reached is counted as truncated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from evokd.config import parse_config
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.openai import OpenAITeacher
from evokd.teachers.parse import ParseFailure
from evokd.teachers.salvage import salvage_truncated

ROOT = Path(__file__).resolve().parents[3]
LABELS = ["DESC", "HUM", "LOC", "NUM"]


@pytest.mark.parametrize("cut, expected", [
    ('{"labels": [{"id": 1, "label": "HUM"}, {"id": 2, "label": "LO', {"labels": [{"id": 1, "label": "HUM"}]}),
    ('{"labels": [{"id": 1, "label": "HUM"}, {"id": 2, "label": "LOC"', {"labels": [{"id": 1, "label": "HUM"}]}),
    ('{"labels": [{"id": 1, "label": "HUM"}, ', {"labels": [{"id": 1, "label": "HUM"}]}),
    ('```json\n{"hard": ["a b", "c \\" d ]"], "easy": ["x", "y', {"hard": ["a b", 'c " d ]'], "easy": ["x"]}),
    ('{"hard": ["a"], "eas', {"hard": ["a"]}),
    ('{"summary": "It confuses', {}),
    ('{"summary": "It confuses HUM.", "weak_labels": ["HUM", "LO', {"summary": "It confuses HUM.", "weak_labels": ["HUM"]}),
    ('Here: [x] {"texts": ["q1", "q2"', {"texts": ["q1", "q2"]}),
    ('[1, 2, 3', [1, 2]),  # 3 could have been 34
    # an NER answer is a whole item: its entity list is never cut open
    ('{"labels": [{"id": 1, "entities": [{"text": "Bonn", "type": "LOC"}, {"text": "Pe',
     {"labels": []}),
])
def test_salvage_keeps_complete_items(cut, expected):
    assert salvage_truncated(cut) == expected


@pytest.mark.parametrize("text", ['{"hard": ["a"]}', "no json at all", "", None, '{"a": [1}'])
def test_nothing_open_or_not_json_is_a_failure(text):
    assert isinstance(salvage_truncated(text), ParseFailure)


# -- property: any cut of a well-formed reply gives exactly the items complete before it -------
texts = st.text(alphabet=st.sampled_from(list('ab "\\{}[],:é\u4e2d\n')), max_size=12)
entity = st.fixed_dictionaries({"text": texts, "type": st.sampled_from(["LOC", "PER"])})
items = st.one_of(texts, st.fixed_dictionaries({"id": st.integers(0, 99), "label": texts}),
                  st.fixed_dictionaries({"id": st.integers(0, 99), "entities": st.lists(entity, max_size=3)}))


def _build(groups: list[tuple[str, list]], ascii_only: bool, sep: str) -> tuple[str, list[dict]]:
    """A reply {"<key>": [items], ...} written by hand, and per list the offsets where it opens,
    where each item ends and where it closes."""
    text, marks = "{", []
    for g, (key, values) in enumerate(groups):
        text += (", " if g else "") + json.dumps(key) + ":" + sep + "["
        mark = {"key": key, "open": len(text), "ends": []}
        for i, value in enumerate(values):
            text += ("," + sep if i else "") + json.dumps(value, ensure_ascii=ascii_only)
            mark["ends"].append(len(text))
        text += "]"
        mark["close"] = len(text)
        marks.append(mark)
    return text + "}", marks


@settings(max_examples=300, deadline=None, derandomize=True)
@given(groups=st.lists(st.tuples(st.sampled_from(["hard", "easy", "labels"]), st.lists(items, max_size=5)),
                       min_size=1, max_size=2, unique_by=lambda g: g[0]),
       ascii_only=st.booleans(), sep=st.sampled_from(["", " ", "\n  "]), where=st.floats(0, 1))
def test_any_cut_keeps_exactly_the_complete_items(groups, ascii_only, sep, where):
    text, marks = _build(groups, ascii_only, sep)
    cut = 1 + int(where * (len(text) - 2))  # at least the opening brace, never the whole reply
    expected = {}
    for (key, values), mark in zip(groups, marks):
        if cut < mark["open"]:
            break
        expected[key] = values if cut >= mark["close"] else values[: sum(e <= cut for e in mark["ends"])]
    assert salvage_truncated(text[:cut]) == expected


# -- the teacher uses the salvaged items and counts the rest ----------------------------------
def make_teacher(tmp_path: Path) -> OpenAITeacher:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["teacher"].update({"provider": "openai", "model": "fake-model", "base_url": "http://127.0.0.1:9/v1",
                              "cache_dir": str(tmp_path / "cache"), "prompts": str(ROOT / "prompts/default")})
    params["synthesize"].update({"strategy": "evokd", "batches": 1, "n_hard": 3, "n_easy": 2})
    params["label"].update({"batch_size": 4})
    return OpenAITeacher(parse_config(params), api_key=None, client=object())


def answering(teacher: OpenAITeacher, content: str, finish_reason: str = "length") -> None:
    teacher.dispatcher.run = lambda requests: [
        {"content": content, "finish_reason": finish_reason, "usage": None} for _ in requests]


def test_cut_label_reply_keeps_its_complete_answers(tmp_path):
    teacher = make_teacher(tmp_path)
    answering(teacher, '{"labels": [{"id": 1, "label": "HUM"}, {"id": 2, "label": "LOC"}, {"id": 3, "lab')
    samples = [{"id": f"s{i}", "text": f"Question {i} ?"} for i in range(4)]
    answers = teacher.label(samples, LABELS)
    assert answers["s0"] == {"label": "HUM"} and answers["s1"] == {"label": "LOC"}
    cut = {"error": "the reply was cut at teacher.max_tokens before this text's answer"}
    assert answers["s2"] == answers["s3"] == cut
    assert teacher.rejected == {"label:truncated": 2}
    assert teacher.usage.truncated_replies == 1 and teacher.usage.bad_replies == 0


def test_uncut_reply_missing_answers_are_not_called_truncated(tmp_path):
    teacher = make_teacher(tmp_path)
    answering(teacher, '{"labels": [{"id": 1, "label": "HUM"}]}', finish_reason="stop")
    answers = teacher.label([{"id": "a", "text": "Who ?"}, {"id": "b", "text": "Where ?"}], LABELS)
    # Not cut, yet an answer is missing: the ids do not match the request, so the whole reply is
    # rejected (issue 16), never read as truncated.
    assert "missing_id" in answers["a"]["error"] and "missing_id" in answers["b"]["error"]
    assert teacher.rejected == {"label:missing_id": 1} and teacher.usage.truncated_replies == 0


def request() -> SynthesisRequest:
    return SynthesisRequest(round=1, labels=LABELS, analysis={"summary": "x", "weak_labels": []},
                            feedback=[], known=[], n_hard=3, n_easy=2)


def test_cut_generation_reply_keeps_its_complete_texts(tmp_path):
    teacher = make_teacher(tmp_path)
    answering(teacher, '{"hard": ["Who built the dam ?", "Where is Bonn ?", "How far is the '
                       'Moon ?"], "easy": ["What is a cat ?", "When did')
    out = teacher.synthesize(request())
    assert [(s["kind"], s["text"]) for s in out] == [
        ("hard", "Who built the dam ?"), ("hard", "Where is Bonn ?"), ("hard", "How far is the Moon ?"),
        ("easy", "What is a cat ?")]
    assert teacher.rejected == {"synthesize:truncated": 1} and teacher.usage.truncated_replies == 1


def test_cut_analysis_keeps_a_complete_summary_only(tmp_path):
    teacher = make_teacher(tmp_path)
    answering(teacher, '{"summary": "It confuses HUM with LOC.", "weak_labels": ["HUM", "LO')
    assert teacher.analyze(1, [], LABELS) == {"summary": "It confuses HUM with LOC.", "weak_labels": ["HUM"]}
    teacher = make_teacher(tmp_path)
    answering(teacher, '{"summary": "It confuses HUM w')
    assert teacher.analyze(1, [], LABELS)["error"] == "unreadable analysis (truncated)"
    assert teacher.rejected == {"analyze:truncated": 1}
