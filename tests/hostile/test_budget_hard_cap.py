"""Hostile corpus, the budget: `teacher.budget` is a hard cap on what is paid, against the four
ways it was overrun: a reservation that undercounts some scripts, usage values that make no
sense, retried timeouts, and experiments running at once (each its own process) that share a
cache folder. The last is tested with real concurrent processes against the fake server."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fake_openai import FakeOpenAI, hang, reply, status
from evokd.errors import BatchPending, BudgetExceeded, TeacherError
from evokd.teachers.budget import (LEDGER_FILE, MESSAGE_OVERHEAD_TOKENS, REQUEST_OVERHEAD_TOKENS,
                                   SharedLedger, estimate_prompt_tokens)
from evokd.teachers.dispatch import ChatRequest, _tokens
from evokd.teachers.openai import OpenAITeacher
from fake_openai import LABELS, make_cfg
from conftest import ROOT

TESTS = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "system", "content": "You label questions."},
            {"role": "user", "content": "Label: Where is the Eiffel Tower ?"}]
SAMPLING = {"temperature": 0.0, "max_tokens": 50}


def ledger_tokens(cache: Path) -> int:
    return json.loads((cache / LEDGER_FILE).read_text())["tokens"]


# -- the reservation is an upper bound for every script ---------------------------------------------
@pytest.fixture(scope="module")
def byte_bpe():
    """A real byte-level BPE (the kind OpenAI, Llama 3 and Qwen use), trained here on a mixed
    corpus so that it merges CJK and Latin bytes into multi-byte tokens."""
    from tokenizers import ByteLevelBPETokenizer

    tok = ByteLevelBPETokenizer()
    corpus = ["The quick brown fox. 你好世界，今天天气很好。こんにちは世界。안녕하세요 세계. "
              "สวัสดีชาวโลก مرحبا بالعالم नमस्ते दुनिया Привет мир 😀🎉"] * 200
    tok.train_from_iterator(corpus, vocab_size=600, min_frequency=1, show_progress=False)
    return tok


SCRIPTS = {
    "english": "Where is the Eiffel Tower and who built it in 1889 ?",
    "chinese": "埃菲尔铁塔在哪里？它是谁在一八八九年建造的？" * 20,
    "japanese": "エッフェル塔はどこにありますか？誰が建てましたか？" * 20,
    "korean": "에펠탑은 어디에 있습니까? 누가 지었습니까?" * 20,
    "thai": "หอไอเฟลอยู่ที่ไหน ใครเป็นผู้สร้าง" * 20,
    "arabic": "أين يقع برج إيفل ومن بناه؟" * 20,
    "hindi": "एफिल टॉवर कहाँ है और इसे किसने बनाया?" * 20,
    "emoji": "😀🎉🚀👩‍👩‍👧‍👦" * 50,
    "combining": "e\u0301" * 300,
}


@pytest.mark.parametrize("script", list(SCRIPTS))
def test_the_estimate_bounds_a_byte_level_bpe_for_every_script(byte_bpe, script):
    text = SCRIPTS[script]
    messages = [{"role": "user", "content": text}]
    used = len(byte_bpe.encode(text).ids)
    assert used <= len(text.encode("utf-8"))  # why bytes bound it: a token covers >= 1 byte
    assert estimate_prompt_tokens(messages) >= used + MESSAGE_OVERHEAD_TOKENS + REQUEST_OVERHEAD_TOKENS


def test_the_cjk_prompt_of_the_issue_is_no_longer_undercounted():
    """3,100 CJK characters: ~9,300 UTF-8 bytes (a prompt that used 9,300 tokens); characters/3
    reserved 1,034 and let it pass a cap of 5,000."""
    messages = [{"role": "user", "content": "问" * 3100}]
    assert len(messages[0]["content"].encode()) == 9300
    assert estimate_prompt_tokens(messages) >= 9300 > 5000


def test_the_reply_schema_is_part_of_the_reservation():
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"enum": ["A" * 1000]}}}
    assert estimate_prompt_tokens(MESSAGES, schema) - estimate_prompt_tokens(MESSAGES) >= 1000


@settings(max_examples=200, deadline=2000, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                                    HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=4))
def test_hypothesis_no_text_takes_more_tokens_than_reserved(byte_bpe, texts):
    messages = [{"role": "user", "content": t} for t in texts]
    used = sum(len(byte_bpe.encode(t).ids) for t in texts)
    assert estimate_prompt_tokens(messages) >= used + len(texts) * MESSAGE_OVERHEAD_TOKENS


# -- usage values that make no sense are charged as the reservation ---------------------------------
R_PROMPT = estimate_prompt_tokens(MESSAGES)


@pytest.mark.parametrize("usage, charged", [
    ({"prompt_tokens": 12, "completion_tokens": 7}, (12, 7)),
    ({"prompt_tokens": -5, "completion_tokens": 7}, (R_PROMPT, 7)),
    ({"prompt_tokens": 12, "completion_tokens": -1}, (12, 50)),
    ({"prompt_tokens": "12", "completion_tokens": 7}, (R_PROMPT, 7)),
    ({"prompt_tokens": 12.5, "completion_tokens": 7.0}, (R_PROMPT, 50)),
    ({"prompt_tokens": True, "completion_tokens": False}, (R_PROMPT, 50)),
    ({"prompt_tokens": None, "completion_tokens": None}, (R_PROMPT, 50)),
    ({"prompt_tokens": 10**12, "completion_tokens": 7}, (R_PROMPT, 7)),
    ({"prompt_tokens": [1], "completion_tokens": {"n": 1}}, (R_PROMPT, 50)),
    ({}, (R_PROMPT, 50)),
    (None, (R_PROMPT, 50)),
    ("free", (R_PROMPT, 50)),
])
def test_odd_usage_is_charged_as_the_reservation_never_as_zero(usage, charged):
    assert _tokens({"content": "ok", "usage": usage}, ChatRequest(MESSAGES, SAMPLING, "d"))[:2] == charged


@pytest.mark.parametrize("prompt, completion, charged", [
    (-100, -50, "reservation"), (0, 0, (0, 0)), (10**15, 5, "prompt-reservation"), (40, 2, (40, 2)),
])
def test_odd_usage_from_the_endpoint_reaches_the_ledgers_conservatively(tmp_path, prompt, completion, charged):
    with FakeOpenAI() as server:
        server.script(reply('{"summary": "s", "weak_labels": []}', prompt_tokens=prompt,
                            completion_tokens=completion))
        teacher = OpenAITeacher(make_cfg(server, tmp_path, budget={"max_tokens": 10**6}))
        request = ChatRequest(MESSAGES, SAMPLING, "odd")
        teacher.dispatcher.run([request])
    r_prompt = estimate_prompt_tokens(MESSAGES)
    expected = {"reservation": (r_prompt, 50), "prompt-reservation": (r_prompt, 5)}.get(charged, charged)
    assert (teacher.usage.prompt_tokens, teacher.usage.completion_tokens) == expected
    assert ledger_tokens(tmp_path / "cache") == sum(expected)


# -- tries that may have been billed are charged; refused ones are not -------------------------------
def test_a_timed_out_try_keeps_its_reservation(tmp_path):
    with FakeOpenAI() as server:
        server.script(hang(3), reply("ok", prompt_tokens=30, completion_tokens=4))
        teacher = OpenAITeacher(make_cfg(server, tmp_path, timeout_s=1, max_tries=2))
        request = ChatRequest(MESSAGES, SAMPLING, "slow")
        teacher.dispatcher.run([request])
        reserve = teacher.dispatcher.reservation(request)
    assert teacher.usage.requests == 2 and ledger_tokens(tmp_path / "cache") == reserve + 34


def test_a_timed_out_try_counts_against_the_cap(tmp_path):
    """Room for one try: the first times out (kept, it may have been billed), so the retry is not
    sent and the stage stops with BudgetExceeded."""
    with FakeOpenAI() as server:
        server.script(hang(3), reply("ok"))
        probe = OpenAITeacher(make_cfg(server, tmp_path / "p"))
        reserve = probe.dispatcher.reservation(ChatRequest(MESSAGES, SAMPLING, "slow"))
        teacher = OpenAITeacher(make_cfg(server, tmp_path, timeout_s=1, max_tries=3,
                                         budget={"max_tokens": reserve + reserve // 2}))
        with pytest.raises(BudgetExceeded, match="runs sharing this response cache folder have paid"):
            teacher.dispatcher.run([ChatRequest(MESSAGES, SAMPLING, "slow")])
        assert server.count() == 1
    assert ledger_tokens(tmp_path / "cache") == reserve


@pytest.mark.parametrize("code", [429, 500, 503])
def test_a_try_the_server_refused_is_refunded(tmp_path, code):
    with FakeOpenAI() as server:
        server.script(status(code), reply("ok", prompt_tokens=30, completion_tokens=4))
        teacher = OpenAITeacher(make_cfg(server, tmp_path, max_tries=2))
        teacher.dispatcher.run([ChatRequest(MESSAGES, SAMPLING, "busy")])
    assert teacher.usage.requests == 2 and ledger_tokens(tmp_path / "cache") == 34


def test_cache_hits_are_not_paid_again(tmp_path):
    with FakeOpenAI() as server:
        for _ in range(2):
            OpenAITeacher(make_cfg(server, tmp_path)).dispatcher.run([ChatRequest(MESSAGES, SAMPLING, "d")])
        assert server.count() == 1
    assert ledger_tokens(tmp_path / "cache") == 150  # the fake server's 100 + 50, once


# -- the ledger file ----------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["", "{", "[]", '{"tokens": -1, "usd": 0}', '{"tokens": "9", "usd": 0}',
                                     '{"tokens": 1}', '{"tokens": 1, "usd": NaN}', "\udcff"])
def test_a_damaged_ledger_stops_a_capped_run_by_name(tmp_path, content):
    (tmp_path / LEDGER_FILE).write_text(content, encoding="utf-8", errors="surrogateescape")
    with pytest.raises(TeacherError, match=rf"spending ledger {tmp_path / LEDGER_FILE} is .*delete it"):
        SharedLedger(tmp_path, 1000, None).reserve(10, 0.0)


def test_a_damaged_ledger_without_a_cap_is_counted_again_with_a_warning(tmp_path, caplog):
    (tmp_path / LEDGER_FILE).write_text("{", encoding="utf-8")
    ledger = SharedLedger(tmp_path, None, None)
    with caplog.at_level(logging.WARNING):
        assert ledger.reserve(10, 0.0)
    assert ledger.totals() == (10, 0.0) and "counting from zero" in caplog.text


def test_usd_cap_holds_in_the_shared_ledger(tmp_path):
    ledger = SharedLedger(tmp_path, None, 0.01)
    assert ledger.reserve(1000, 0.006) and not ledger.reserve(1000, 0.006)
    assert ledger.totals() == (1000, 0.006)


# -- experiments running at once: real processes sharing one cache folder -----------------------------
CHILD = textwrap.dedent('''
    import json, sys, time, types
    from pathlib import Path
    sys.path.insert(0, {tests!r})
    from fake_openai import make_cfg
    from evokd.errors import BudgetExceeded
    from evokd.teachers.dispatch import ChatRequest
    from evokd.teachers.openai import OpenAITeacher

    me, url, shared, cap, go = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), Path(sys.argv[5])
    cfg = make_cfg(types.SimpleNamespace(url=url), shared, max_concurrency=2, budget={{"max_tokens": cap}})
    teacher = OpenAITeacher(cfg)
    requests = [ChatRequest({messages!r}, {sampling!r}, draw=f"exp{{me}}/req{{j}}") for j in range({per})]
    (go.parent / f"ready-{{me}}").touch()
    while not go.exists():
        time.sleep(0.01)
    try:
        teacher.dispatcher.run(requests)
        out = {{"error": None}}
    except BudgetExceeded as exc:
        out = {{"error": str(exc)}}
    out["requests"] = teacher.usage.requests
    print(json.dumps(out))
''')


@pytest.mark.parametrize("processes, per, fits", [(4, 4, 3), (3, 2, 5)])
def test_concurrent_experiments_sharing_a_cache_spend_at_most_the_cap_together(tmp_path, processes, per, fits):
    """`processes` experiments at once, each with `per` requests, and a cap with room for `fits`
    tries in all (each reply costs exactly its reservation). Without a shared ledger each process
    would spend up to the cap on its own (4 x 3 = 12 tries, 4x the cap)."""
    reserve = estimate_prompt_tokens(MESSAGES) + SAMPLING["max_tokens"]
    cap = fits * reserve + reserve // 2
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(TESTS), messages=MESSAGES, sampling=SAMPLING, per=per))
    go = tmp_path / "go"
    with FakeOpenAI() as server:
        server.delay = 0.2  # replies overlap across processes
        server.responder = lambda body: reply("ok", prompt_tokens=reserve - 50, completion_tokens=50)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        children = [subprocess.Popen([sys.executable, str(script), str(i), server.url, str(tmp_path), str(cap), str(go)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                    for i in range(processes)]
        deadline = time.time() + 120  # all imported and ready, then all start at once
        while len(list(tmp_path.glob("ready-*"))) < processes and time.time() < deadline:
            time.sleep(0.05)
        go.touch()
        outs = []
        for child in children:
            stdout, stderr = child.communicate(timeout=300)
            assert child.returncode == 0, stderr[-2000:]
            outs.append(json.loads(stdout.strip().splitlines()[-1]))
        sent = server.count()
    spent = sent * reserve
    assert sent == min(fits, processes * per) and spent <= cap
    assert sum(o["requests"] for o in outs) == sent
    assert ledger_tokens(tmp_path / "cache") == spent
    # Each process alone admits what its own pipeline count allows; a try the shared ledger
    # refuses stops it with the shared message.
    admitted = min(per, cap // reserve)
    for o in outs:
        if o["requests"] < admitted:
            assert "the runs sharing this response cache folder have paid" in o["error"]
        elif per > admitted:
            assert "this pipeline has used" in o["error"]
        else:
            assert o["error"] is None
    assert sum(1 for o in outs if o["requests"] < admitted) >= (1 if processes * admitted > fits else 0)
    assert len(list((tmp_path / "cache").glob("??/*.json"))) == sent


# -- batch mode: submitted requests are paid like online tries ------------------------------------------
def test_batch_mode_reserves_at_submission_and_settles_at_collection(tmp_path):
    samples = [{"id": f"s{i}", "text": f"Where is town {i} ?"} for i in range(4)]  # 2 requests of 2
    with FakeOpenAI() as server:
        server.batch_polls = 0
        probe_cfg = make_cfg(server, tmp_path / "probe", label={"batch_size": 2}, mode="batch")
        with pytest.raises(BatchPending):
            OpenAITeacher(probe_cfg).label(samples, LABELS)
        [record] = (tmp_path / "probe/cache/batches").glob("*.record")
        first, second = json.loads(record.read_text())["reserved"].values()
        # Others already paid `before`; room is left for the first request only.
        before, cap = 10**6, 10**6 + first + second // 2
        cache = tmp_path / "cache"
        cache.mkdir()
        (cache / LEDGER_FILE).write_text(json.dumps({"tokens": before, "usd": 0.0}))
        cfg = make_cfg(server, tmp_path, label={"batch_size": 2}, mode="batch", budget={"max_tokens": 10**7})
        capped = SharedLedger(cache, cap, None)
        teacher = OpenAITeacher(cfg)
        teacher.ledger.shared = capped
        lines = len(server.batch_lines)
        with pytest.raises(BudgetExceeded, match="runs sharing this response cache folder"):
            teacher.label(samples, LABELS)
        assert ledger_tokens(cache) == before + first  # reserved at submission
        [record] = (cache / "batches").glob("*.record")
        assert len(json.loads(record.read_text())["keys"]) == 1
        again = OpenAITeacher(cfg)
        again.ledger.shared = capped
        with pytest.raises(BatchPending, match=r"submitted batch .* \(1 request\(s\)\)"):
            again.label(samples, LABELS)  # collects the first (settled: 150), submits the second
        assert len(server.batch_lines) - lines == 1
    assert ledger_tokens(cache) == before + 150 + second


def test_batch_mode_refunds_a_line_the_provider_failed(tmp_path):
    samples = [{"id": f"s{i}", "text": f"Where is town {i} ?"} for i in range(2)]
    with FakeOpenAI() as server:
        server.batch_polls, server.batch_fail = 0, {0}
        cfg = make_cfg(server, tmp_path, label={"batch_size": 2}, mode="batch")
        with pytest.raises(BatchPending):
            OpenAITeacher(cfg).label(samples, LABELS)
        assert ledger_tokens(tmp_path / "cache") > 0
        with pytest.raises(BatchPending, match="failed .* submitted again"):
            OpenAITeacher(cfg).label(samples, LABELS)  # failed line refunded, request resubmitted
        [record] = (tmp_path / "cache/batches").glob("*.record")
        [reserved] = json.loads(record.read_text())["reserved"].values()
    assert ledger_tokens(tmp_path / "cache") == reserved
