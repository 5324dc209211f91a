"""A stage script that finished leaves without the interpreter's teardown (`os._exit(0)` in
evokd.rounds.stage): what it printed and wrote must all be there, and a failure must keep its
exit code. Run as DVC runs them: `python stages/<verb>.py [k]`, in a project folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def stage(verb: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "stages" / f"{verb}.py"), *args], cwd=cwd,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})


def test_finished_stages_exit_0_with_their_log_line_and_files(tmp_path):
    shutil.copy2(ROOT / "slots.yaml", tmp_path / "slots.yaml")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["rounds"] = 2
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))

    plan = stage("plan", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "plan finished in" in plan.stderr  # the log line was flushed before the exit
    assert json.loads((tmp_path / "data/plan/2.json").read_text())["active"] is True
    assert json.loads((tmp_path / "data/plan/3.json").read_text())["active"] is False

    # An inactive slot: placeholders and its constant meta file, complete on disk.
    inactive = stage("synthesize", "3", cwd=tmp_path)
    assert inactive.returncode == 0, inactive.stderr
    assert "synthesize@3: inactive slot" in inactive.stderr
    assert (tmp_path / "data/rounds/3/synthesized.jsonl").read_text() == "\n"
    assert json.loads((tmp_path / "data/rounds/3/synthesize.meta.json").read_text()) == \
        {"stage": "synthesize@3", "active": False}


def test_a_failing_stage_keeps_its_exit_code(tmp_path):
    shutil.copy2(ROOT / "slots.yaml", tmp_path / "slots.yaml")
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    # Round 1 is active by params, but plan never ran: a named error, exit 2, no traceback.
    failed = stage("synthesize", "1", cwd=tmp_path)
    assert failed.returncode == 2, failed.stderr
    assert "Traceback" not in failed.stderr


def test_the_fast_exit_flushes_what_was_written_but_not_ended():
    """stdout under a pipe is block-buffered: without the flush in `_exit_done`, text written
    without a newline would be lost by `os._exit`."""
    code = ("import sys; sys.stdout.write('partial, no newline'); sys.stderr.write('err, no newline'); "
            "from evokd.rounds.stage import _exit_done; _exit_done(); print('never')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert proc.returncode == 0
    assert proc.stdout == "partial, no newline" and proc.stderr.endswith("err, no newline")
