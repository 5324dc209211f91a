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


def stage_running(script: str, *args: str) -> bool:
    """Whether a process `python <script> <args>` (a stage DVC started) is running now."""
    want = [script.encode(), *(a.encode() for a in args)]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parts = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended meanwhile
            continue
        if any(parts[i:i + len(want)] == want for i in range(len(parts))):
            return True
    return False


def kill_when(proc: subprocess.Popen, point, timeout: float = 300) -> bool:
    """SIGKILL the whole process group as soon as `point` holds (a path that exists, or a
    callable); False if the run ended first."""
    reached = point.exists if isinstance(point, Path) else point
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reached():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    raise AssertionError(f"{point} never came")


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
    # The last two wait for the stage's own process: a kill keyed to a file the previous stage
    # writes last can land while DVC rewrites dvc.lock, which DVC does in place (3.67: open "w+",
    # then dump), and a truncated lock stops the next `dvc repro` (RELIABILITY.md).
    points = [("data/prepared/seed.jsonl", root / "data/prepared/seed.jsonl"),
              ("train@1 running", lambda: stage_running("stages/train.py", "1")),
              ("evaluate@2 running", lambda: stage_running("stages/evaluate.py", "2"))]
    for name, point in points:
        # Every point must fire, each in a run that had not reached it yet: a point already
        # passed would "kill" a run before it did anything, one never reached tests nothing.
        assert not (isinstance(point, Path) and point.exists()), f"{name}: reached before the run meant to be killed there"
        proc = start_repro(root)
        assert kill_when(proc, point), f"the run finished before kill point {name}; it was not tested"
    assert (root / "data/rounds/1/label.meta.json").exists() and (root / "models/rounds/2/config.json").exists()

    run(["dvc", "repro"], root)
    assert outcome(root) == expected
    # No temporary file survives, and every JSON Lines output parses.
    leftovers = [p for p in root.rglob("*.tmp") if ".dvc" not in p.parts]
    assert leftovers == []
    for path in (root / "data").rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)
