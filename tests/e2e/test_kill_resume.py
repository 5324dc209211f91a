"""Crash anywhere, lose nothing: `dvc repro` killed with SIGKILL at several points, then
re-run, ends with the same results as an uninterrupted run, and no half-written file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN, run

pytestmark = pytest.mark.slow


def start_repro(root: Path) -> subprocess.Popen:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    # A session of its own, so that the kill reaches dvc and the stage it is running.
    return subprocess.Popen(["dvc", "repro"], cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def kill_when(proc: subprocess.Popen, path: Path, timeout: float = 300) -> bool:
    """SIGKILL the whole process group as soon as `path` exists; False if the run ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"{path} never appeared")


def outcome(root: Path) -> dict:
    summary = json.loads((root / "reports/diagnostics.json").read_text())
    ids = {k: [json.loads(line)["id"] for line in (root / f"data/rounds/{k}/labelled.jsonl").read_text().splitlines()]
           for k in (1, 2)}
    return {"per_round": summary["per_round"], "samples": summary["samples"], "ids": ids}


def test_sigkill_at_several_points_then_repro_matches_uninterrupted(project, tmp_path):
    reference = project(slots=2)
    run(["dvc", "repro"], reference)
    expected = outcome(reference)

    root = reference.parent / "killed"
    root.mkdir()
    run(["git", "clone", "-q", str(reference), str(root)], tmp_path)

    # Kill points: inside prepare (after its seed set), inside train@1 (after label@1's outputs),
    # inside evaluate@2 (after the round-2 checkpoint), each followed by a fresh `dvc repro`.
    points = ["data/prepared/seed.jsonl", "data/rounds/1/label.meta.json", "models/rounds/2/config.json"]
    for point in points:
        # Every point must fire, each in a run that had not reached it yet: a point that already
        # exists would "kill" a run before it did anything, one never reached tests nothing.
        assert not (root / point).exists(), f"{point} exists before the run meant to be killed there"
        proc = start_repro(root)
        assert kill_when(proc, root / point), f"the run finished before kill point {point}; it was not tested"

    run(["dvc", "repro"], root)
    assert outcome(root) == expected
    # No temporary file survives, and every JSON Lines output parses.
    leftovers = [p for p in root.rglob("*.tmp") if ".dvc" not in p.parts]
    assert leftovers == []
    for path in (root / "data").rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)
