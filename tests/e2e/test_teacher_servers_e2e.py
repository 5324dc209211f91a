"""The README's LLM recipe as a new user runs it, 2 rounds of `dvc repro`, with only the `teacher`
block changed, against the scripted server standing in for an OpenAI reasoning model (o3-mini:
no max_tokens, no temperature, hidden reasoning tokens), reached at a base_url or through Azure
OpenAI (deployment URL, api-version, api-key header). See docs/teacher-servers.md."""

from __future__ import annotations

import json

import pytest

from conftest import run
from fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow

KEY = "sk-planted-REASON-5e11a"
AZURE = {"deployment": "evokd-o3", "api_version": "2024-12-01-preview", "key": KEY}


@pytest.mark.parametrize("where", ["base_url", "azure"])
def test_two_rounds_with_a_reasoning_model(project, where):
    with FakeOpenAI("reasoning", azure=AZURE if where == "azure" else None) as server:
        teacher = {"teacher.provider": "openai", "teacher.model": "o3-mini", "teacher.reasoning_effort": "low",
                   "teacher.backoff_s": 0.01}
        if where == "azure":
            teacher["teacher.azure"] = {"endpoint": server.root, "api_version": AZURE["api_version"],
                                        "deployment": AZURE["deployment"]}
            env = {"AZURE_OPENAI_API_KEY": KEY, "OPENAI_API_KEY": ""}
        else:
            teacher["teacher.base_url"] = server.url
            env = {"OPENAI_API_KEY": KEY}
        root = project(slots=2, **teacher)
        out = run(["dvc", "repro"], root, env=env)

        # probe: 4 generation conversations (6 texts) and 1 labelling request (6 seed + 6 probe
        # texts); analyze@0; then per round: 4 generation conversations, 1 labelling request
        # (6 texts), 1 second labelling, 1 analysis; none refused.
        sent = server.requests
        n = 5 + 1 + 2 * 7
        assert len(sent) == n and [r for r in sent if "refused" in r] == []
        for r in sent:
            assert r["body"]["max_completion_tokens"] == 2048 + 8192 and r["body"]["reasoning_effort"] == "low"
            assert "max_tokens" not in r["body"] and "temperature" not in r["body"]
            if where == "azure":
                assert r["path"] == "/openai/deployments/evokd-o3/chat/completions?api-version=2024-12-01-preview"
                assert r["headers"]["api-key"] == KEY
            else:
                assert r["path"] == "/v1/chat/completions" and r["headers"]["authorization"] == f"Bearer {KEY}"

        assert json.loads((root / "metrics/summary.json").read_text())["rounds_run"] == 2
        summary = json.loads((root / "reports/diagnostics.json").read_text())
        t = summary["teacher"]
        assert summary["samples"]["accepted"] > 0
        assert (t["requests"], t["reasoning_tokens"], t["completion_tokens"], t["truncated"]) == (n, 256 * n, 306 * n, 0)
        # The shipped price table has o3-mini: reasoning tokens are billed as completion.
        assert t["cost_usd"] == pytest.approx((100 * n * 1.10 + 306 * n * 4.40) / 1e6, abs=1e-6)
        meta = json.loads((root / "data/rounds/1/label.meta.json").read_text())
        assert meta["teacher_request"]["not_sent"] == {"teacher.temperature": 0.9, "teacher.label_temperature": 0.0}
        assert meta["teacher_request"]["token_param"] == "max_completion_tokens"
        # Never silent: round 1 says which temperatures it does not send.
        logs = out.stdout + out.stderr
        assert "teacher.temperature is 0.9 but is not sent" in logs
        assert "teacher.label_temperature is 0 but is not sent" in logs
        report = (root / "reports/report.md").read_text()
        assert f"({256 * n} of the completion tokens hidden reasoning)" in report
        assert "teacher.prices checked 2026-12-02" in report
        for path in root.rglob("*"):
            if path.is_file() and path.stat().st_size < 5_000_000:
                assert KEY not in path.read_text(errors="ignore"), path
