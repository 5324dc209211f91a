"""The openai teacher beyond one endpoint: a fleet of replicas (several `teacher.base_url`s) and
the OpenAI Batch API mode (`teacher.mode: batch`), against real local HTTP servers
(tests/fake_openai.py, which implements the files and batches endpoints the SDK uses)."""

from __future__ import annotations

import json

import pytest

from fake_openai import FakeOpenAI, status
from evokd.config import parse_config
from evokd.errors import BatchPending, ConfigError
from evokd.teachers.openai import OpenAITeacher
from fake_openai import KEY, LABELS, make_cfg

SAMPLES = [{"id": f"s{i}", "text": f"Where is the town number {i} of the old map ?"} for i in range(40)]


def chat_requests(server: FakeOpenAI) -> list[dict]:
    return [r for r in server.requests if r["path"].endswith("/chat/completions")]


# -- a fleet of replicas --------------------------------------------------------------------------
def test_fleet_spreads_requests_and_shares_the_cache(tmp_path):
    with FakeOpenAI() as a, FakeOpenAI() as b:
        cfg = make_cfg(a, tmp_path, label={"batch_size": 4}, base_url=[a.url, b.url])
        answers = OpenAITeacher(cfg, api_key=KEY).label(SAMPLES, LABELS)
        assert len(answers) == 40 and all(x.get("label") in LABELS for x in answers.values())
        # 10 requests, taken in turn: both replicas answer half.
        assert (a.count(), b.count()) == (5, 5)
        # The cache key has no URL in it: one replica alone, or the list reversed, pays nothing.
        for urls in ([b.url], [b.url, a.url]):
            again = OpenAITeacher(make_cfg(a, tmp_path, label={"batch_size": 4}, base_url=urls),
                                  api_key=KEY).label(SAMPLES, LABELS)
            assert again == answers and (a.count(), b.count()) == (5, 5)


def test_fleet_retry_moves_on_to_the_next_replica(tmp_path):
    with FakeOpenAI() as a, FakeOpenAI() as b:
        a.script(status(503))
        cfg = make_cfg(a, tmp_path, label={"batch_size": 40}, base_url=[a.url, b.url], max_concurrency=1)
        teacher = OpenAITeacher(cfg, api_key=KEY)
        answers = teacher.label(SAMPLES, LABELS)
        assert all("label" in x for x in answers.values())
        assert (a.count(), b.count()) == (1, 1) and teacher.usage.requests == 2


@pytest.mark.parametrize("base_url, mode, message", [
    ([], "online", "empty list"),
    (["http://x/v1", "http://x/v1"], "online", "same URL twice"),
    (["http://x/v1", "http://y/v1"], "batch", "single teacher.base_url"),
])
def test_fleet_config_errors(tmp_path, base_url, mode, message):
    with FakeOpenAI() as a:
        with pytest.raises(ConfigError, match=message):
            make_cfg(a, tmp_path, base_url=base_url, mode=mode)


# -- the Batch API ----------------------------------------------------------------------------------
def batch_teacher(server, tmp_path, **teacher):
    return OpenAITeacher(make_cfg(server, tmp_path, label={"batch_size": 8}, mode="batch", **teacher),
                         api_key=KEY)


def test_batch_submit_then_rerun_collects(tmp_path):
    with FakeOpenAI() as server:
        server.batch_polls = 1  # the first look-up finds it still running
        with pytest.raises(BatchPending, match=r"submitted batch batch-2 \(5 request\(s\)\).*re-run `dvc repro`"):
            batch_teacher(server, tmp_path).label(SAMPLES, LABELS)
        assert server.batch_calls == ["files.create", "batches.create"] and not chat_requests(server)
        record = json.loads((tmp_path / "cache/batches/batch-2.record").read_text())
        assert record["batch_id"] == "batch-2" and len(record["keys"]) == 5
        uploaded = [json.loads(line) for line in server.files["file-1"].decode().splitlines()]
        assert {line["custom_id"] for line in uploaded} == set(record["keys"])
        assert all(line["url"] == "/v1/chat/completions" and line["body"]["model"] == "fake-model"
                   for line in uploaded)
        assert KEY not in (tmp_path / "cache/batches/batch-2.record").read_text()

        with pytest.raises(BatchPending, match="batch batch-2 is still in_progress"):
            batch_teacher(server, tmp_path).label(SAMPLES, LABELS)
        assert server.batch_calls[2:] == ["batches.retrieve"]  # nothing submitted twice

        teacher = batch_teacher(server, tmp_path)
        answers = teacher.label(SAMPLES, LABELS)
        assert len(answers) == 40 and all(x.get("label") in LABELS for x in answers.values())
        assert server.batch_calls[3:] == ["batches.retrieve", "files.content"]
        assert not (tmp_path / "cache/batches/batch-2.record").exists()
        assert teacher.usage.calls == 5 and teacher.usage.prompt_tokens == 500
        assert (teacher.usage.batch_requests, teacher.usage.requests, teacher.usage.cache_hits) == (5, 0, 0)

        # Collected replies are ordinary cache entries: online mode and batch mode reuse them.
        calls = len(server.batch_calls)
        again = batch_teacher(server, tmp_path)
        assert again.label(SAMPLES, LABELS) == answers
        assert (again.usage.batch_requests, again.usage.cache_hits) == (0, 5)
        online = OpenAITeacher(make_cfg(server, tmp_path, label={"batch_size": 8}), api_key=KEY)
        assert online.label(SAMPLES, LABELS) == answers
        assert len(server.batch_calls) == calls and not chat_requests(server)


def test_batch_failed_lines_are_submitted_again(tmp_path):
    with FakeOpenAI() as server:
        server.batch_polls, server.batch_fail = 0, {0, 3}
        with pytest.raises(BatchPending, match="submitted batch"):
            batch_teacher(server, tmp_path).label(SAMPLES, LABELS)
        with pytest.raises(BatchPending, match=r"2 request\(s\) of batch batch-2 failed .*submitted batch "
                                                r"batch-\d+ \(2 request\(s\)\)"):
            batch_teacher(server, tmp_path).label(SAMPLES, LABELS)
        server.batch_fail = set()
        answers = batch_teacher(server, tmp_path).label(SAMPLES, LABELS)
        assert all("label" in x for x in answers.values())
        assert len(server.batch_lines) == 5 + 2


def test_expired_batch_is_submitted_again(tmp_path):
    with FakeOpenAI() as server:
        server.batch_polls, server.batch_status = 0, "expired"
        with pytest.raises(BatchPending):
            batch_teacher(server, tmp_path).label(SAMPLES, LABELS)
        with pytest.raises(BatchPending, match="batch batch-2 expired; its requests were submitted again"):
            batch_teacher(server, tmp_path).label(SAMPLES, LABELS)
        server.batch_status = None
        assert len(batch_teacher(server, tmp_path).label(SAMPLES, LABELS)) == 40
        assert list((tmp_path / "cache/batches").glob("*.record")) == []


def test_cli_stops_with_exit_code_3_and_the_message(capsys):
    from evokd.edge import Exit, user_errors

    with pytest.raises(SystemExit) as stop:
        with user_errors():
            raise BatchPending("submitted batch batch-7 (3 request(s)) to http://x/v1; re-run `dvc repro` to collect")
    assert stop.value.code == Exit.BATCH_PENDING == 3
    err = capsys.readouterr().err
    assert "submitted batch batch-7" in err and "error:" not in err


def test_label_stage_submits_every_chunk_and_writes_nothing(tmp_path, monkeypatch):
    """A round larger than one chunk: each chunk's requests go out in its own batch before the
    stage stops, and no output file appears until all replies are in."""
    from stages import label
    from evokd.paths import Prepared, Round

    monkeypatch.chdir(tmp_path)
    from evokd.rounds import checks

    monkeypatch.setattr(checks, "CHUNK", 16)
    Prepared().root.mkdir(parents=True)
    Prepared().labels.write_text(json.dumps({"labels": LABELS}))
    Prepared().test.write_text(json.dumps({"id": "t1", "text": "What is the capital of Peru ?", "label": "LOC"}) + "\n")
    for k in (0, 1):
        Round(k).data.mkdir(parents=True)
    Round(0).train_set.write_text("")
    Round(1).synthesized.write_text("".join(json.dumps(s) + "\n" for s in SAMPLES))
    with FakeOpenAI() as server:
        server.batch_polls = 0
        cfg = make_cfg(server, tmp_path, label={"batch_size": 8}, mode="batch")
        with pytest.raises(BatchPending, match=r"batch-2 .*batch-4 .*batch-6 .*re-run `dvc repro`"):
            label.label(cfg, 1, OpenAITeacher(cfg, api_key=KEY))
        # 40 samples in chunks of 16: per chunk one batch for the labelling and one for the
        # second labelling (label.relabel_fraction), all submitted in the same run.
        assert server.batch_calls.count("batches.create") == 6
        assert not Round(1).labelled.exists() and not Round(1).train_set.exists()
        assert list(Round(1).data.glob("*.tmp")) == []
        result = label.label(cfg, 1, OpenAITeacher(cfg, api_key=KEY))
        assert result["accepted"] == 40 and server.batch_calls.count("batches.create") == 6
        assert result["relabel"]["samples"] + result["relabel"]["failed"] == 5  # ceil(.1 * 16) x 2 + ceil(.1 * 8)
        assert len(Round(1).labelled.read_text().splitlines()) == 40
        assert len(Round(1).train_set.read_text().splitlines()) == 40
