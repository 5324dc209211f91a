"""Hostile corpus, the response cache: an entry is never trusted on its own word. On every read
and on every `evokd cache pull`, the request an entry stores is hashed again and must give the key
it is filed under, and the reply must have a reply's shape; anything else is a miss with a warning
naming the file: never served, never a crash."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from fake_openai import FakeOpenAI
from evokd.share import remote_cache
from evokd.teachers.cache import ResponseCache, request_key
from evokd.teachers.openai import OpenAITeacher
from fake_openai import FEEDBACK, LABELS, make_cfg

REQUEST = {"model": "m", "messages": [{"role": "user", "content": "Label: Who wrote Hamlet ?"}],
           "sampling": {"temperature": 0.0, "max_tokens": 64}, "draw": "label"}
KEY = request_key(**REQUEST)
GOOD = {"content": '{"labels": [{"id": 1, "label": "HUM"}]}', "finish_reason": "stop", "model": "m",
        "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
FORGED = {**GOOD, "content": '{"labels": [{"id": 1, "label": "LOC"}]}'}


def entry(**change) -> dict:
    return {"format": 1, "key": KEY, "request": REQUEST, "response": GOOD, **change}


def other(field: str, value) -> dict:
    return {**REQUEST, field: value}


# (what is in the file, the reason the warning gives)
BAD_ENTRIES = {
    "empty file": (b"", "not JSON"),
    "half written": (b'{"format": 1, "key": "', "not JSON"),
    "binary": (b"\x80\x81\xfe\xff" * 10, "not UTF-8"),
    "a JSON list": (json.dumps([entry()]).encode(), "not a JSON object (list)"),
    "JSON null": (b"null", "not a JSON object (NoneType)"),
    "a number": (b"1e999", "not a JSON object (float)"),
    "nested 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    "another key": (json.dumps(entry(key="0" * 64)).encode(), "its key is not the name it is filed under"),
    "no request": (json.dumps({k: v for k, v in entry().items() if k != "request"}).encode(),
                   "no request record"),
    "request a string": (json.dumps(entry(request="x")).encode(), "no request record"),
    "request with an extra field": (json.dumps(entry(request={**REQUEST, "evil": 1})).encode(),
                                    "no request record"),
    "messages not a list": (json.dumps(entry(request=other("messages", "hi"))).encode(),
                            "a request record of the wrong shape"),
    "namespace a number": (json.dumps(entry(request=other("namespace", 7))).encode(),
                           "a request record of the wrong shape"),
    "altered prompt": (json.dumps(entry(request=other("messages", [{"role": "user", "content": "x"}]))).encode(),
                       "the request it stores does not hash to its key (altered or planted)"),
    "altered draw": (json.dumps(entry(request=other("draw", "label/draw1"))).encode(),
                     "the request it stores does not hash to its key (altered or planted)"),
    "altered sampling": (json.dumps(entry(request=other("sampling", {"temperature": 1.0}))).encode(),
                         "the request it stores does not hash to its key (altered or planted)"),
    "no response": (json.dumps({k: v for k, v in entry().items() if k != "response"}).encode(), "no reply object"),
    "response a list": (json.dumps(entry(response=[GOOD])).encode(), "no reply object"),
    "response without content": (json.dumps(entry(response={"usage": None})).encode(), "a reply without content"),
    "finish_reason a number": (json.dumps(entry(response={**GOOD, "finish_reason": 3})).encode(),
                               "reply field 'finish_reason' is not text"),
    "usage a string": (json.dumps(entry(response={**GOOD, "usage": "free"})).encode(), "reply usage is not an object"),
}


@pytest.mark.parametrize("name", list(BAD_ENTRIES))
def test_a_bad_entry_is_a_miss_with_a_warning(tmp_path, caplog, name):
    data, reason = BAD_ENTRIES[name]
    cache = ResponseCache(tmp_path)
    cache.path(KEY).parent.mkdir(parents=True)
    cache.path(KEY).write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="evokd.teachers.cache"):
        assert cache.get(KEY) is None
    [message] = [r.getMessage() for r in caplog.records]
    assert message.startswith(f"teacher cache: ignoring {cache.path(KEY)}: {reason}")
    assert message.endswith("; the request will be sent again")


def test_a_good_entry_is_served_and_a_missing_one_is_a_silent_miss(tmp_path, caplog):
    cache = ResponseCache(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert cache.get(KEY) is None
        cache.put(KEY, REQUEST, GOOD)
        assert cache.get(KEY) == GOOD
    assert caplog.records == []


def test_a_planted_answer_is_never_served_and_is_replaced_by_the_real_one(tmp_path):
    """An entry whose stored request was edited to point at another prompt's key: the teacher
    sends the real request and overwrites the entry with the real reply."""
    with FakeOpenAI() as server:
        cfg = make_cfg(server, tmp_path, max_concurrency=1)
        real = OpenAITeacher(cfg).analyze(1, FEEDBACK, LABELS)
        assert server.count() == 1
        cache = ResponseCache(tmp_path / "cache")
        [path] = list((tmp_path / "cache").glob("??/*.json"))
        planted = json.loads(path.read_text())
        planted["response"]["content"] = json.dumps({"summary": "PLANTED", "weak_labels": ["LOC"]})
        planted["request"]["messages"][-1]["content"] += " (edited)"
        path.write_text(json.dumps(planted))
        again = OpenAITeacher(cfg).analyze(1, FEEDBACK, LABELS)
        assert again == real and "PLANTED" not in again["summary"] and server.count() == 2
        assert cache.get(path.stem)["content"] != planted["response"]["content"]


# -- evokd cache pull -----------------------------------------------------------------------------
def _remote(root: Path) -> remote_cache.RemoteCache:
    from dvc_objects.fs.local import LocalFileSystem

    return remote_cache.RemoteCache("team", LocalFileSystem(), str(root))


def _plant(root: Path, key: str, data: bytes) -> None:
    path = root / key[:2] / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.mark.parametrize("name", [n for n in BAD_ENTRIES if n != "another key"] + ["forged reply under a real key"])
def test_pull_verifies_every_entry_and_installs_only_good_ones(tmp_path, caplog, name):
    remote_root, local = tmp_path / "remote", ResponseCache(tmp_path / "local")
    good = {**REQUEST, "draw": "label/ok"}
    _plant(remote_root, request_key(**good),
           json.dumps({"format": 1, "key": request_key(**good), "request": good, "response": GOOD}).encode())
    if name == "forged reply under a real key":  # someone with write access re-files a foreign entry
        foreign = {**REQUEST, "draw": "label/other"}
        data = json.dumps({"format": 1, "key": KEY, "request": foreign, "response": FORGED}).encode()
    else:
        data = BAD_ENTRIES[name][0]
    _plant(remote_root, KEY, data)
    with caplog.at_level(logging.WARNING, logger="evokd.share.remote_cache"):
        result = remote_cache.pull(local, _remote(remote_root))
    assert (result.transferred, result.damaged) == (1, 1)
    assert remote_cache.local_keys(local) == {request_key(**good)} and not local.path(KEY).exists()
    assert len(caplog.records) == 1 and f"{KEY}.json skipped" in caplog.records[0].getMessage()
    assert not list(local.root.glob(".incoming-*"))  # staging folder removed


def test_push_never_spreads_a_bad_local_entry(tmp_path):
    remote_root, local = tmp_path / "remote", ResponseCache(tmp_path / "local")
    local.put(KEY, REQUEST, GOOD)
    bad = {**REQUEST, "draw": "label/x"}
    bad_key = request_key(**bad)
    _plant(local.root, bad_key, json.dumps({"format": 1, "key": bad_key, "request": REQUEST,
                                            "response": FORGED}).encode())
    result = remote_cache.push(local, _remote(remote_root))
    assert (result.transferred, result.damaged) == (1, 1)
    assert sorted(p.stem for p in remote_root.rglob("*.json")) == [KEY]


def test_pull_replaces_a_bad_local_entry_with_the_good_remote_one(tmp_path):
    remote_root, local = tmp_path / "remote", ResponseCache(tmp_path / "local")
    _plant(remote_root, KEY, json.dumps(entry()).encode())
    _plant(local.root, KEY, json.dumps(entry(response=FORGED, request=other("draw", "x"))).encode())
    result = remote_cache.pull(local, _remote(remote_root))
    assert (result.local_before, result.transferred, result.damaged) == (1, 1, 0)
    assert local.get(KEY) == GOOD
