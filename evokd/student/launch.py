"""Run the student's training under `accelerate launch` (`train.launcher: accelerate`).

The stage process (`stages/train.py`, or `stages/prepare.py` for round 0) writes what the training needs
(the head, the examples, the label set, the train config) to a temporary folder, starts
`accelerate launch --multi_gpu --num_processes N -m evokd.student.worker <spec>` and waits.
Each worker runs the very same training function as a single-process run; `accelerate` joins them
in one DDP group (NCCL on GPUs, gloo on CPUs), rank 0 saves the checkpoint and writes the log, and
the stage reads the log back. So the checkpoint and the log have one format whatever the launcher.

On a CPU-only machine `--multi_gpu` still starts N processes (over gloo); accelerate's `--cpu`
flag would silently start one.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from evokd.config import TrainConfig
from evokd.errors import LaunchError
from evokd.io import read_json, write_json, write_jsonl

log = logging.getLogger(__name__)

# Set in the workers' environment: they train in place instead of launching again.
WORKER_ENV = "EVOKD_LAUNCHED"


def should_launch(cfg: TrainConfig) -> bool:
    """True when this process must hand the training to `accelerate launch`."""
    return cfg.launcher == "accelerate" and not os.environ.get(WORKER_ENV)


def free_port() -> int:
    """A free TCP port on this machine for the DDP rendezvous (not the fixed 29500, which two
    concurrent runs, e.g. parallel `dvc exp run`s, would both claim)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_command(spec: Path, num_processes: int, precision: str, port: int) -> list[str]:
    """The `accelerate launch` command line that runs `evokd.student.worker` on `spec`."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if num_processes > 1:
        cmd.append("--multi_gpu")
    return cmd + ["--num_processes", str(num_processes), "--num_machines", "1",
                  "--mixed_precision", precision, "--dynamo_backend", "no",
                  "--main_process_port", str(port), "-m", "evokd.student.worker", str(spec)]


def launch(head: str, init_from: str, examples: list[dict], labels: list[str], cfg: TrainConfig,
           out_dir: str | Path, seed: int, epochs: int, desc: str) -> dict:
    """Train with `cfg.num_processes` workers; the training log of rank 0 (see module docstring)."""
    from evokd.student.runtime import detect_placement

    placement = detect_placement(cfg.device, cfg.precision)  # a missing GPU stops here, before any worker starts
    with tempfile.TemporaryDirectory(prefix="evokd-launch-") as tmp:
        folder = Path(tmp)
        write_jsonl(folder / "examples.jsonl", examples)
        spec = folder / "spec.json"
        write_json(spec, {"head": head, "init_from": str(init_from), "labels": labels,
                          "cfg": cfg.model_dump(), "out_dir": str(Path(out_dir).resolve()),
                          "seed": seed, "epochs": epochs, "desc": desc,
                          "examples": str(folder / "examples.jsonl"), "result": str(folder / "log.json")})
        cmd = launch_command(spec, cfg.num_processes, placement.precision, free_port())
        log.info("%s: accelerate launch with %d process(es) on %s", desc, cfg.num_processes, placement.device)
        env = {**os.environ, WORKER_ENV: "1"}
        done = subprocess.run(cmd, env=env)
        result = folder / "log.json"
        if done.returncode != 0 or not result.exists():
            raise LaunchError(
                f"{desc}: `accelerate launch` with {cfg.num_processes} processes failed (exit code "
                f"{done.returncode}); its output is above. Check train.num_processes (at most the GPUs "
                f"on a GPU machine), or set train.launcher: none to train in one process")
        return read_json(result)
