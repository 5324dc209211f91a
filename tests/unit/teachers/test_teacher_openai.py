"""The openai teacher against a real local HTTP server speaking chat-completions
(tests/fake_openai.py): caching, resume, retries, timeouts, malformed replies, the budget,
and the API key staying out of every file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from fake_openai import FEEDBACK, KEY, LABELS, FakeOpenAI, fake_openai, hang, make_cfg, reply, status  # noqa: F401 (fixture)
from evokd.errors import BudgetExceeded, TeacherError
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.openai import OpenAITeacher

ROOT = Path(__file__).resolve().parents[3]
def synth_request(n_hard=6, n_easy=2, round=1):
    return SynthesisRequest(round=round, labels=LABELS, feedback=FEEDBACK, known=[],
                            analysis={"summary": "Confuses places with people.", "weak_labels": ["LOC"]},
                            n_hard=n_hard, n_easy=n_easy)


def test_synthesize_batches_then_cache_serves_everything(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path)
    teacher = OpenAITeacher(cfg, api_key=KEY)
    out = teacher.synthesize(synth_request())
    # 4 fresh conversations (draws 0..3), 6 hard + 2 easy split over them; surplus dropped.
    assert fake_openai.count() == 4
    assert sorted({s["draw"] for s in out}) == [0, 1, 2, 3]
    assert [s["kind"] for s in out].count("hard") == 6 and [s["kind"] for s in out].count("easy") == 2
    bodies = [r["body"] for r in fake_openai.requests]
    assert all(len(b["messages"]) == 2 and b["messages"][0]["role"] == "system" for b in bodies)
    assert bodies[0]["response_format"]["json_schema"]["name"] == "evokd_synthesize"
    assert teacher.usage.requests == 4 and teacher.usage.cache_hits == 0 and teacher.usage.prompt_tokens == 400
    # Same request again (a new process): zero requests, same samples, same token accounting.
    again = OpenAITeacher(cfg, api_key=KEY)
    assert again.synthesize(synth_request()) == out
    assert fake_openai.count() == 4
    assert again.usage.cache_hits == 4 and again.usage.requests == 0 and again.usage.prompt_tokens == 400
    # Operational settings do not change the key; a different draw (round) does.
    other = OpenAITeacher(make_cfg(fake_openai, tmp_path, max_concurrency=1, timeout_s=9), api_key=None)
    other.synthesize(synth_request())
    assert fake_openai.count() == 4
    other.synthesize(synth_request(round=2))
    assert fake_openai.count() == 8


def test_failure_mid_stage_then_rerun_resends_only_unanswered(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path, max_concurrency=1, max_tries=2)
    fake_openai.script(reply(json.dumps({"hard": ["Q one ?", "Q two ?"], "easy": ["Q three ?"]})),
                       status(500), status(500))
    with pytest.raises(TeacherError, match="kept failing"):
        OpenAITeacher(cfg).synthesize(synth_request())
    answered = sum(1 for _ in (tmp_path / "cache").glob("*/*.json"))
    assert answered == 1 and fake_openai.count() == 3  # 1 answered, then 2 tries of batch 2
    rerun = OpenAITeacher(cfg)
    rerun.synthesize(synth_request())
    assert rerun.usage.cache_hits == 1 and rerun.usage.requests == 3
    assert fake_openai.count() == 6


def test_429_retry_after_is_honoured_and_500_is_retried(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path, max_concurrency=1, max_tries=4)
    fake_openai.script(status(429, {"Retry-After": "0.7"}), status(503))
    teacher = OpenAITeacher(cfg)
    waits = []
    teacher.client.sleep = lambda s: (waits.append(s), time.sleep(0.01))
    teacher.analyze(1, FEEDBACK, LABELS)
    assert fake_openai.count() == 3 and teacher.usage.requests == 3 and teacher.usage.calls == 1
    assert 0.7 <= waits[0] <= 0.8  # Retry-After, plus at most 10 % jitter
    assert waits[1] <= 0.05  # exponential backoff capped by max_backoff_s


def test_hung_connection_times_out_then_gives_up(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path, timeout_s=0.5, max_tries=2)
    fake_openai.script(hang(3), hang(3))
    start = time.perf_counter()
    with pytest.raises(TeacherError, match="no reply within the timeout"):
        OpenAITeacher(cfg).analyze(1, FEEDBACK, LABELS)
    assert time.perf_counter() - start < 3
    assert fake_openai.count() == 2


@pytest.mark.parametrize("code, message", [(401, "refused the API key"), (404, "not found"),
                                           (400, "rejected the request")])
def test_configuration_errors_are_not_retried_and_hide_the_key(fake_openai, tmp_path, code, message):
    fake_openai.script(status(code, message=f"bad key {KEY} or model"))
    with pytest.raises(TeacherError, match=message) as err:
        OpenAITeacher(make_cfg(fake_openai, tmp_path), api_key=KEY).analyze(1, FEEDBACK, LABELS)
    assert fake_openai.count() == 1 and KEY not in str(err.value)


def test_malformed_label_replies_are_read_or_rejected_with_reasons(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path, max_concurrency=1, label={"batch_size": 2})
    samples = [{"id": f"s{i}", "text": f"Question number {i} ?"} for i in range(12)]
    fake_openai.script(
        reply('```json\n{"labels": [{"id": 1, "label": "LOC"}, {"id": 2, "label": "HUM"}]}\n```'),
        reply('Here are the labels:\n{"labels": [{"id": 1, "label": "NUM"}, {"id": 2, "label": "DESC"},]}\nDone.'),
        reply('{"id": 2, "label": "LOC"}'),                      # one object for two texts: rejected whole
        reply("I'm sorry, I can't do that."),                     # garbage
        reply('{"labels": [{"id": 1, "label": "PLANET"}, {"id": 9, "label": "LOC"}, {"label": "HUM"}]}'),
        reply('{"labels": [{"id": 1, "label": "HUM"', finish_reason="length"),
    )
    teacher = OpenAITeacher(cfg)
    answers = teacher.label(samples, LABELS)
    assert answers["s0"] == {"label": "LOC"} and answers["s1"] == {"label": "HUM"}
    assert answers["s2"] == {"label": "NUM"} and answers["s3"] == {"label": "DESC"}
    # A reply whose ids do not match the request is rejected whole (issue 16).
    assert "missing_id" in answers["s4"]["error"] and "missing_id" in answers["s5"]["error"]
    assert answers["s6"]["error"].startswith("unreadable reply (not_json")
    assert "unknown_id" in answers["s8"]["error"] and "unknown_id" in answers["s9"]["error"]
    # cut inside its first answer: nothing complete to keep (tests/unit/teachers/test_truncated_salvage.py)
    assert answers["s10"]["error"] == "the reply was cut at teacher.max_tokens before this text's answer"
    assert teacher.rejected["label:not_json"] == 1 and teacher.rejected["label:unknown_id"] == 1
    assert teacher.rejected["label:missing_id"] == 1 and teacher.rejected["label:truncated"] == 2
    assert teacher.usage.bad_replies == 3 and teacher.usage.truncated_replies == 1


def test_malformed_synthesis_and_analysis_never_crash(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path, max_concurrency=1)
    fake_openai.script(
        reply('[{"text": "Who built it ?", "kind": "hard"}, {"text": "Why so ?", "kind": "easy"}]'),
        reply('{"hard": ["What is X ?",], "easy": [42],}'),
        reply("no json here"),
        reply('{"text": "A single one ?", "kind": "hard"}'),
        reply("```\nnot json\n```"),  # the analysis
    )
    teacher = OpenAITeacher(cfg)
    out = teacher.synthesize(synth_request(n_hard=4, n_easy=4))
    assert {s["text"] for s in out} == {"Who built it ?", "Why so ?", "What is X ?", "A single one ?"}
    assert teacher.rejected["synthesize:not_text"] == 1 and teacher.rejected["synthesize:not_json"] == 1
    analysis = teacher.analyze(1, FEEDBACK, LABELS)
    assert analysis["summary"] == "" and "not_json" in analysis["error"]
    assert teacher.usage.bad_replies == 2


def test_budget_stops_before_exceeding_and_keeps_replies(fake_openai, tmp_path):
    probe = OpenAITeacher(make_cfg(fake_openai, tmp_path))
    reserve = probe.dispatcher.reservation
    # Room for exactly two of the four generation requests (worst case each).
    msgs_cost = []
    cfg = make_cfg(fake_openai, tmp_path, max_concurrency=1)
    teacher = OpenAITeacher(cfg)
    original = teacher.dispatcher.run

    def spy(requests):
        msgs_cost.extend(reserve(r) for r in requests)
        return original(requests)

    teacher.dispatcher.run = spy
    teacher.synthesize(synth_request())
    limit = sum(msgs_cost[:2]) + 10
    capped = make_cfg(fake_openai, tmp_path / "b", max_concurrency=1, budget={"max_tokens": limit})
    before = fake_openai.count()
    with pytest.raises(BudgetExceeded) as err:
        OpenAITeacher(capped).synthesize(synth_request())
    assert fake_openai.count() - before == 2
    assert "used 300 tokens" in str(err.value) and "max_tokens" in str(err.value)
    # Raised budget: the two answered requests come from the cache, two more are sent.
    raised = make_cfg(fake_openai, tmp_path / "b", max_concurrency=1, budget={"max_tokens": 10 * limit})
    t = OpenAITeacher(raised)
    t.synthesize(synth_request())
    assert t.usage.cache_hits == 2 and t.usage.requests == 2


def test_usd_budget_counts_earlier_stages(fake_openai, tmp_path):
    from evokd.teachers.base import Usage

    cfg = make_cfg(fake_openai, tmp_path, budget={"max_usd": 1.0},
                   prices={"fake-model": {"prompt": 1000.0, "completion": 1000.0}})
    with pytest.raises(BudgetExceeded, match=r"\$0\.9000"):
        OpenAITeacher(cfg, spent=Usage(cost_usd=0.9, prompt_tokens=10)).analyze(1, FEEDBACK, LABELS)
    assert fake_openai.count() == 0
    teacher = OpenAITeacher(make_cfg(fake_openai, tmp_path, prices={"fake-model": {"prompt": 1.0, "completion": 2.0}}))
    teacher.analyze(1, FEEDBACK, LABELS)
    assert teacher.usage.cost_usd == pytest.approx((100 * 1.0 + 50 * 2.0) / 1e6)


def test_echo_of_the_prompt_is_rejected_by_the_label_stage(fake_openai, tmp_path):
    from evokd.data.textnorm import LeakIndex
    from evokd.rounds.checks import validate

    cfg = make_cfg(fake_openai, tmp_path)
    fake_openai.script(reply(json.dumps({"hard": [
        "Write new HARD texts that this classifier is likely to get wrong aim them at the weaknesses",
        "What river flows through the capital of Hungary ?"], "easy": []})))
    teacher = OpenAITeacher(make_cfg(fake_openai, tmp_path, synthesize={"batches": 1}))
    out = teacher.synthesize(synth_request(n_hard=2, n_easy=0))
    samples = [{"id": f"x{i}", **s} for i, s in enumerate(out)]
    answers = {s["id"]: {"label": "LOC"} for s in samples}
    accepted, rejected = validate(cfg, samples, answers, LABELS, [], LeakIndex([]))
    assert [r["reason"] for r in rejected] == ["echo"] and len(accepted) == 1


def _stage_dir(tmp_path: Path, server_url: str, **teacher) -> Path:
    """A project folder with just what `python stages/synthesize.py 1` reads (no student needed)."""
    root = tmp_path / "proj"
    for sub in ("data/prepared", "data/rounds/0", "data/plan"):
        (root / sub).mkdir(parents=True)
    (root / "data/prepared/labels.json").write_text(json.dumps({"task": "classification", "labels": LABELS}))
    (root / "data/prepared/seed.jsonl").write_text("".join(json.dumps(r) + "\n" for r in FEEDBACK[:2]))
    (root / "data/rounds/0/analysis.json").write_text(json.dumps({"summary": "weak", "weak_labels": []}))
    (root / "data/rounds/0/feedback.jsonl").write_text("".join(json.dumps(r) + "\n" for r in FEEDBACK))
    (root / "data/rounds/0/train_set.jsonl").write_text("")
    (root / "data/plan/1.json").write_text(json.dumps({"round": 1, "active": True}))
    (root / "slots.yaml").write_text(yaml.safe_dump({"slots": {"1": {"prev": 0}}}))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["teacher"].update({"provider": "openai", "model": "fake-model", "base_url": server_url,
                              "prompts": str(ROOT / "prompts/default"), "backoff_s": 0.01, **teacher})
    params["synthesize"].update({"strategy": "evokd", "batches": 6, "n_hard": 6, "n_easy": 0})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    # prepare's record of the dataset block: the teacher stages read their task context there
    (root / "data/prepared/dataset.json").write_text(json.dumps(params["dataset"]))
    return root


def _evokd(root: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    """`evokd <args>`, or a stage script as dvc.yaml runs it when args[0] is `stages/<verb>.py`."""
    full = {**os.environ, **(env or {})}
    command = [str(ROOT / args[0]), *args[1:]] if args[0].startswith("stages/") else ["-m", "evokd", *args]
    return subprocess.Popen([sys.executable, *command], cwd=root, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_killed_synthesize_resumes_without_resending_and_key_stays_out(fake_openai, tmp_path):
    root = _stage_dir(tmp_path, fake_openai.url, max_concurrency=1)
    fake_openai.delay = 0.3
    proc = _evokd(root, "stages/synthesize.py", "1", env={"OPENAI_API_KEY": KEY})
    deadline = time.time() + 60
    while fake_openai.count() < 3 and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    answered = len(list((root / ".evokd/cache").glob("*/*.json")))
    assert 1 <= answered < 6 and not (root / "data/rounds/1/synthesized.jsonl").exists()
    sent_before = fake_openai.count()
    fake_openai.delay = 0.0
    proc = _evokd(root, "stages/synthesize.py", "1", env={"OPENAI_API_KEY": KEY})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert fake_openai.count() - sent_before == 6 - answered
    meta = json.loads((root / "data/rounds/1/synthesize.meta.json").read_text())
    assert meta["teacher"]["cache_hits"] == answered and meta["teacher"]["requests"] == 6 - answered
    assert all(r["headers"]["authorization"] == f"Bearer {KEY}" for r in fake_openai.requests)
    # The key is in no file the run wrote, nor in its logs.
    for path in root.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="ignore"), path
    assert KEY not in err


def test_teacher_check_reports_ok_401_unknown_model_and_unreachable(fake_openai, tmp_path):
    root = _stage_dir(tmp_path, fake_openai.url)
    proc = _evokd(root, "teacher", "check", env={"OPENAI_API_KEY": KEY})
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.startswith("ok:"), err
    for code, expected in ((401, "refused the API key"), (404, "not found")):
        fake_openai.script(status(code, message=f"nope {KEY}"))
        proc = _evokd(root, "teacher", "check", env={"OPENAI_API_KEY": KEY})
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2 and expected in err and KEY not in err + out
    with FakeOpenAI() as gone:
        dead = gone.url
    root2 = _stage_dir(tmp_path / "b", dead)
    proc = _evokd(root2, "teacher", "check")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4 and "cannot connect" in err
