"""Tolerant reading of LLM replies and the cache key: pure functions."""

from __future__ import annotations

import pytest

from evokd.teachers.cache import request_key
from evokd.teachers.parse import ParseFailure, as_list, extract_json, item_text


@pytest.mark.parametrize("reply, expected", [
    ('{"labels": [{"id": 1, "label": "LOC"}]}', {"labels": [{"id": 1, "label": "LOC"}]}),
    ('```json\n{"hard": ["a"], "easy": []}\n```', {"hard": ["a"], "easy": []}),
    ('Sure! Here you go:\n{"hard": ["x?"], "easy": ["y?"]}\nHope that helps.', {"hard": ["x?"], "easy": ["y?"]}),
    ('{"labels": [{"id": 1, "label": "LOC",},],}', {"labels": [{"id": 1, "label": "LOC"}]}),
    ('[{"id": 2, "label": "HUM"}]', [{"id": 2, "label": "HUM"}]),
    ('{"text": "a, ] b,}", "n": [1,]}', {"text": "a, ] b,}", "n": [1]}),  # commas inside strings kept
])
def test_extract_json_recovers(reply, expected):
    assert extract_json(reply) == expected


@pytest.mark.parametrize("reply, reason", [
    ("", "empty_reply"), (None, "empty_reply"), ("I cannot help with that.", "not_json"),
    ("{not json at all", "not_json"),
])
def test_extract_json_failures_have_reasons(reply, reason):
    value = extract_json(reply)
    assert isinstance(value, ParseFailure) and value.reason == reason


def test_as_list_accepts_single_object_and_wrappers():
    assert as_list({"id": 1, "label": "LOC"}, "labels") == [{"id": 1, "label": "LOC"}]
    assert as_list({"labels": {"id": 1, "label": "LOC"}}, "labels") == [{"id": 1, "label": "LOC"}]
    assert as_list([1, 2], "labels") == [1, 2]
    assert isinstance(as_list("text", "labels"), ParseFailure)
    assert item_text({"text": "a"}) == "a" and item_text("b") == "b" and item_text(3) is None


def test_cache_key_depends_on_what_determines_the_reply_only():
    msgs = [{"role": "user", "content": "hi"}]
    base = request_key("m", msgs, {"temperature": 0.5}, "d0")
    assert base == request_key("m", [dict(m) for m in msgs], {"temperature": 0.5}, "d0")
    for other in (request_key("m2", msgs, {"temperature": 0.5}, "d0"),
                  request_key("m", [{"role": "user", "content": "hi!"}], {"temperature": 0.5}, "d0"),
                  request_key("m", msgs, {"temperature": 0.6}, "d0"),
                  request_key("m", msgs, {"temperature": 0.5}, "d1"),
                  request_key("m", msgs, {"temperature": 0.5}, "d0", namespace="vllm-a")):
        assert other != base
