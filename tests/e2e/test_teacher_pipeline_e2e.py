"""The real DVC pipeline with `teacher.provider: openai` against a local chat-completions server
(tests/fake_openai.py): it completes, an unchanged re-run sends zero requests, and the API key
is in no file the run writes. In batch mode, each `dvc repro` stops at the teacher stage whose
batch is pending, and re-runs nothing upstream of it (prepare's round-0 training above all)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import run
from evokd.data.textnorm import normalize
from fake_openai import fake_openai  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

KEY = "sk-planted-E2E-91c0ffee"


def test_repro_with_openai_teacher_then_rerun_sends_nothing(project, fake_openai):
    root = project(slots=2, **{"teacher.provider": "openai", "synthesize.strategy": "evokd", "teacher.model": "fake-model",
                               "teacher.base_url": fake_openai.url, "teacher.backoff_s": 0.01,
                               "synthesize.batches": 2, "label.batch_size": 4})
    env = {"OPENAI_API_KEY": KEY}
    run(["dvc", "repro"], root, env=env)
    sent = fake_openai.count()
    # probe: 2 generation + 3 labelling (6 seed + 6 fresh texts, 4 per request); analyze@0: 1
    # analysis; per round: 2 generation + 2 labelling (6 texts, 4 per request) + 1 second
    # labelling (label.relabel_fraction 0.1 of 6 -> 1 text) + 1 analysis.
    assert sent == 5 + 1 + 2 * 6
    summary = json.loads((root / "reports/diagnostics.json").read_text())
    assert summary["teacher"]["provider"] == "openai" and summary["teacher"]["requests"] == sent
    assert summary["teacher"]["cache_hits"] == 0 and summary["teacher"]["prompt_tokens"] == 100 * sent
    assert summary["samples"]["accepted"] > 0
    # The test split never reaches the teacher: no test text is in any prompt the server received.
    test_texts = [normalize(json.loads(line)["text"])
                  for line in (root / "data/prepared/test.jsonl").read_text().splitlines()]
    prompts = [f" {normalize(' '.join(m['content'] for m in r['body']['messages']))} "
               for r in fake_openai.requests]
    assert len(test_texts) == 48 and len(prompts) == sent
    assert [t for t in test_texts if any(f" {t} " in p for p in prompts)] == []
    seed_texts = [normalize(json.loads(line)["text"])
                  for line in (root / "data/prepared/seed.jsonl").read_text().splitlines()]
    assert all(any(f" {t} " in p for p in prompts) for t in seed_texts)  # the check can see texts
    assert set(summary["label_disagreement"]["per_label"]) <= set(summary["per_label_f1"])
    meta = json.loads((root / "data/rounds/1/synthesize.meta.json").read_text())
    assert meta["teacher"]["requests"] == 2 and meta["synthesized"] == 6

    again = run(["dvc", "repro"], root, env=env)
    assert "Running stage" not in again.stdout and fake_openai.count() == sent
    # A forced re-run of teacher stages reads every reply from the response cache.
    run(["dvc", "repro", "-f", "-s", "synthesize@1"], root, env=env)
    run(["dvc", "repro", "-f", "-s", "label@1"], root, env=env)
    assert fake_openai.count() == sent
    assert json.loads((root / "data/rounds/1/label.meta.json").read_text())["teacher"]["cache_hits"] == 3

    assert all(r["headers"]["authorization"] == f"Bearer {KEY}" for r in fake_openai.requests)
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert KEY not in path.read_text(errors="ignore"), path


def test_strategies_compare_as_experiments(project, fake_openai):
    """`dvc exp run -S synthesize.strategy=uncertainty` after an evokd run: the round is made
    again (the real round-0 student ranks over-generated candidates), and `dvc metrics diff`
    shows the strategy and the tokens each spent."""
    root = project(slots=1, **{"rounds": 1, "teacher.provider": "openai", "synthesize.strategy": "evokd", "teacher.model": "fake-model",
                               "teacher.base_url": fake_openai.url, "teacher.backoff_s": 0.01,
                               "synthesize.batches": 2, "label.batch_size": 4})
    env = {"OPENAI_API_KEY": KEY}
    run(["dvc", "repro"], root, env=env)
    summary = json.loads((root / "reports/diagnostics.json").read_text())
    assert summary["strategy"] == "evokd"
    t = summary["teacher"]
    assert t["tokens"] == t["prompt_tokens"] + t["completion_tokens"] > 0
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "evokd run"], root)

    before = fake_openai.count()
    run(["dvc", "exp", "run", "-S", "synthesize.strategy=uncertainty"], root, env=env)
    unguided = [r for r in fake_openai.requests[before:]
                if r["body"]["response_format"]["json_schema"]["name"] == "evokd_synthesize_random"]
    assert len(unguided) == 2  # 3 x (4 + 2) = 18 candidates over 2 conversations
    synthesized = [json.loads(line) for line in (root / "data/rounds/1/synthesized.jsonl").read_text().splitlines()]
    assert len(synthesized) == 6 and {s["kind"] for s in synthesized} == {"hard"}
    assert all(0.0 <= s["margin"] <= 1.0 for s in synthesized)
    diff = json.loads(run(["dvc", "metrics", "diff", "--all", "--json"], root).stdout)["metrics/summary.json"]
    # The headline metrics only (the strategy is a param, `dvc params diff` shows it).
    assert set(diff) == {"score", "accuracy", "rounds_run", "accepted", "tokens", "cost_usd"}
    assert json.loads((root / "reports/diagnostics.json").read_text())["strategy"] == "uncertainty"
    # The fake server bills every reply alike (100 + 50 tokens), and both runs used as many: the
    # probe's 5 (shared), the round-0 analysis, then 2 generation, 2 + 1 labelling and 1 analysis.
    assert diff["tokens"]["old"] == diff["tokens"]["new"] == 150 * 12
    assert "strategy: uncertainty" in (root / "reports/report.md").read_text()


def stages_run(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def snapshot(folder: Path) -> dict:
    """Bytes and modification times of a folder's files: a re-run stage rewrites them."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_batch_mode_rerun_waits_on_probe_not_prepare(project, fake_openai):
    """Round 0's teacher work is in stages of its own (probe, analyze@0): while probe's batch is
    pending, `dvc repro` re-runs only it, never prepare (pool embedding, round-0 training), up to
    a finished pipeline."""
    root = project(slots=1, **{"rounds": 1, "teacher.provider": "openai", "synthesize.strategy": "evokd", "teacher.model": "fake-model",
                               "teacher.base_url": fake_openai.url, "teacher.backoff_s": 0.01,
                               "teacher.mode": "batch", "synthesize.batches": 2, "label.batch_size": 4})
    env = {"OPENAI_API_KEY": KEY}
    fake_openai.batch_polls = 1  # probe's first batch: the first look-up finds it still running

    first = run(["dvc", "repro"], root, env=env, check=False)
    out = first.stdout + first.stderr
    assert first.returncode != 0 and "submitted batch batch-2" in out and "re-run `dvc repro`" in out
    assert stages_run(first.stdout)[-1] == "probe"
    assert set(stages_run(first.stdout)) == {"prepare", "plan", "probe"}
    assert fake_openai.batch_calls == ["files.create", "batches.create"]
    assert not (root / "data/rounds/0/feedback.jsonl").exists()
    status = run(["dvc", "status", "prepare", "plan"], root, env=env).stdout
    assert "up to date" in status  # prepare's outputs are recorded: nothing to redo
    round0 = {"models": snapshot(root / "models/rounds/0"), "data": snapshot(root / "data/prepared"),
              "meta": (root / "data/rounds/0/prepare.meta.json").read_bytes()}

    # Still pending: only probe runs, and stops again.
    second = run(["dvc", "repro"], root, env=env, check=False)
    assert second.returncode != 0 and "batch batch-2 is still in_progress" in second.stdout + second.stderr
    assert stages_run(second.stdout) == ["probe"]

    # Done: probe collects its texts and submits their labelling; then each later teacher stage
    # submits its own batch and stops.
    fake_openai.batch_polls = 0
    outputs = []
    for _ in range(10):
        step = run(["dvc", "repro"], root, env=env, check=False)
        outputs.append(step.stdout)
        if step.returncode == 0:
            break
        assert "exited with 3" in step.stdout + step.stderr, step.stdout + step.stderr
    assert step.returncode == 0, outputs
    # One run per later batch (probe's labels, analyze@0, synthesize@1, label@1, analyze@1), and
    # one that collects the last.
    assert len(outputs) == 6
    ran = [name for output in outputs for name in stages_run(output)]
    # probe: collects its texts and submits their labels, then collects them; analyze@0 submits,
    # then collects.
    assert ran[:3] == ["probe", "probe", "analyze@0"] and ran.count("probe") == 2
    assert ran.count("analyze@0") == 2 and "prepare" not in ran
    assert json.loads((root / "data/rounds/0/analysis.json").read_text())["round"] == 0
    assert round0 == {"models": snapshot(root / "models/rounds/0"), "data": snapshot(root / "data/prepared"),
                      "meta": (root / "data/rounds/0/prepare.meta.json").read_bytes()}
    summary = json.loads((root / "reports/diagnostics.json").read_text())
    assert len(summary["per_round"]) == 2 and summary["samples"]["accepted"] > 0
    # Round 0's replies are counted once, with round 1's: 5 + 1 + 2 + 2 + 1 + 1 (see above). The
    # probe's 2 texts replies were collected by the run that then stopped for their labels: the
    # run that finished the stage read them from the cache.
    t = summary["teacher"]
    assert (t["batch_requests"], t["cache_hits"], t["requests"]) == (10, 2, 0)
    assert "analyze" in summary["wall_s"]["per_round"]["0"]
