"""Hostile corpus, the Batch API's files (`teacher.mode: batch`): a malformed line in a batch's
output file, or a damaged batch record, is never a traceback. The bad line is a counted failure
for its request, with a warning naming the batch, the file and the line; that request is asked
again on the next run, and the pipeline finishes without a file deleted by hand."""

from __future__ import annotations

import json
import logging

import pytest

from fake_openai import FakeOpenAI
from evokd.errors import BatchPending
from evokd.teachers.openai import OpenAITeacher
from fake_openai import KEY, LABELS, make_cfg

SAMPLES = [{"id": f"s{i}", "text": f"Where is the town number {i} ?"} for i in range(4)]


def teacher(server, tmp_path):
    return OpenAITeacher(make_cfg(server, tmp_path, label={"batch_size": 2}, mode="batch"), api_key=KEY)


def _replace_first_output_line(server: FakeOpenAI, make_bad) -> None:
    """Make every finished batch's output file start with a bad line (made from the good one)."""
    finish = server._finish

    def bad_finish(batch: dict) -> None:
        finish(batch)
        if server.batches_done:
            return  # only the first batch is damaged; the resubmitted one comes back whole
        server.batches_done = True
        lines = server.files[batch["output_file_id"]].decode().splitlines()
        lines[0] = make_bad(json.loads(lines[0]))
        server.files[batch["output_file_id"]] = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")

    server.batches_done = False
    server._finish = bad_finish


def dumps(obj) -> str:
    return json.dumps(obj)


BAD_LINES = {
    "cut short": (lambda good: dumps(good)[:40], "not JSON (JSONDecodeError)"),
    "a JSON list": (lambda good: dumps([good]), "not an output line object (list)"),
    "a number": (lambda good: "42", "not an output line object (int)"),
    "a string": (lambda good: dumps("hello"), "not an output line object (str)"),
    "nested 100,000 deep": (lambda good: "[" * 100_000 + "]" * 100_000, "not JSON (RecursionError)"),
    "no custom_id": (lambda good: dumps({k: v for k, v in good.items() if k != "custom_id"}), "no custom_id"),
    "custom_id a list": (lambda good: dumps({**good, "custom_id": [good["custom_id"]]}), "no custom_id"),
    "response a string": (lambda good: dumps({**good, "response": "oops"}), "its response is not an object"),
    "no body": (lambda good: dumps({**good, "response": {"status_code": 200}}), "its response has no body object"),
    "body not a completion": (lambda good: dumps({**good, "response": {"status_code": 200, "body": {"choices": "x"}}}),
                              "its body is not a chat completion"),
    "NUL bytes": (lambda good: "\x00" * 10, "not JSON (JSONDecodeError)"),
}


@pytest.mark.parametrize("name", list(BAD_LINES))
def test_a_bad_output_line_is_a_counted_failure_asked_again(tmp_path, caplog, name):
    make_bad, problem = BAD_LINES[name]
    with FakeOpenAI() as server:
        server.batch_polls = 0
        _replace_first_output_line(server, make_bad)
        with pytest.raises(BatchPending, match=r"submitted batch batch-2 \(2 request\(s\)\)"):
            teacher(server, tmp_path).label(SAMPLES, LABELS)
        with caplog.at_level(logging.WARNING, logger="evokd.teachers.batch"):
            with pytest.raises(BatchPending, match=r"1 request\(s\) of batch batch-2 failed \(first: file file-3 "
                                                   r"line 1: .*submitted batch batch-5 \(1 request\(s\)\)"):
                teacher(server, tmp_path).label(SAMPLES, LABELS)
        [warning] = [r.getMessage() for r in caplog.records]
        assert warning.startswith(f"teacher: batch batch-2 file file-3 line 1: {problem}")
        assert warning.endswith("; ignored, its request will be asked again")
        final = teacher(server, tmp_path)
        answers = final.label(SAMPLES, LABELS)
    assert len(answers) == 4 and all(a.get("label") in LABELS for a in answers.values())
    assert final.usage.batch_requests == 1 and final.usage.cache_hits == 1
    assert not list((tmp_path / "cache" / "batches").glob("*.record"))


BAD_RECORDS = {
    "not JSON": b'{"batch_id": "batch-9", ',
    "binary": b"\xff\xfe\x00\x01",
    "a JSON list": b"[]",
    "no batch_id": json.dumps({"keys": [], "requests": {}}).encode(),
    "keys not a list": json.dumps({"batch_id": "batch-9", "keys": "k", "requests": {}}).encode(),
    "no requests": json.dumps({"batch_id": "batch-9", "keys": ["k"]}).encode(),
    "submitted_at text": json.dumps({"batch_id": "batch-9", "keys": [], "requests": {},
                                     "submitted_at": "yesterday"}).encode(),
}


@pytest.mark.parametrize("name", list(BAD_RECORDS))
def test_a_damaged_batch_record_is_ignored_with_a_warning(tmp_path, caplog, name):
    folder = tmp_path / "cache" / "batches"
    folder.mkdir(parents=True)
    (folder / "batch-9.record").write_bytes(BAD_RECORDS[name])
    with FakeOpenAI() as server:
        server.batch_polls = 0
        with caplog.at_level(logging.WARNING, logger="evokd.teachers.batch"):
            with pytest.raises(BatchPending, match=r"submitted batch batch-2 \(2 request\(s\)\)"):
                teacher(server, tmp_path).label(SAMPLES, LABELS)
        answers = teacher(server, tmp_path).label(SAMPLES, LABELS)
    assert all(a.get("label") in LABELS for a in answers.values())
    assert any(f"{folder / 'batch-9.record'}" in r.getMessage() and "ignored" in r.getMessage()
               for r in caplog.records)
