"""Shared fixtures: a tiny real TREC subset, and a copy of the DVC project in a temporary git
repository for end-to-end runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TREC = ROOT / "data" / "raw" / "trec"
BIN = Path(sys.executable).parent

# Files a project copy needs: the pipeline, its params and the code its stages depend on.
PROJECT_FILES = ["dvc.yaml", "params.yaml", "slots.yaml", ".dvcignore", ".gitignore"]
PROJECT_DIRS = ["evokd", "stages", "prompts"]


def trec_subset(dest: Path, per_label: int = 30, test_per_label: int = 8) -> tuple[Path, Path]:
    """Write the first lines of each coarse label of the real TREC files (latin-1 line kept)."""
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name, n in (("TREC.train", per_label), ("TREC.test", test_per_label)):
        counts: dict[bytes, int] = {}
        keep = []
        for line in (TREC / name).read_bytes().splitlines():
            label = line.split(b":", 1)[0]
            if counts.get(label, 0) < n:
                counts[label] = counts.get(label, 0) + 1
                keep.append(line)
        path = dest / name
        path.write_bytes(b"\n".join(keep) + b"\n")
        out.append(path)
    return out[0], out[1]


def tiny_params(**overrides) -> dict:
    """params.yaml shrunk for tests: short sequences, a handful of samples, two rounds."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"].update({"train": "data/raw/trec/TREC.train", "test": "data/raw/trec/TREC.test"})
    params["rounds"] = 2
    params["synthesize"].update({"n_hard": 4, "n_easy": 2, "candidates": 24})
    params["probe"].update({"n_texts": 6})
    params["train"].update({"epochs": 1, "seed_epochs": 3, "max_length": 24, "batch_size": 8})
    params["prepare"].update({"embed_max_length": 24})
    if "task" in overrides or "dataset.train" in overrides:  # another dataset: TREC's context is wrong
        params["dataset"].update({"description": None, "label_descriptions": {}})
    return set_dotted(params, overrides)


def set_dotted(params: dict, overrides: dict) -> dict:
    """`params` with each `block.key: value` of `overrides` set (a missing block is made)."""
    for dotted, value in overrides.items():
        node = params
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return params


def csv_params(**overrides) -> dict:
    """The shipped params.yaml reading train.csv / test.csv, with dotted overrides."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"] = {"train": "train.csv", "test": "test.csv"}
    return set_dotted(params, overrides)


def run(cmd: list[str], cwd: Path, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost", **(env or {})}
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def make_project(root: Path, slots: int = 3, **overrides) -> Path:
    """A fresh evokd project (git + DVC, one commit) in `root` on the tiny TREC subset.
    `overrides` are dotted params keys (`"teacher.provider": "openai"`)."""
    root.mkdir(parents=True)
    for name in PROJECT_FILES:
        shutil.copy2(ROOT / name, root / name)
    for name in PROJECT_DIRS:
        if (ROOT / name).exists():
            shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    trec_subset(root / "data" / "raw" / "trec")
    (root / "params.yaml").write_text(yaml.safe_dump(tiny_params(**overrides), sort_keys=False))
    run(["git", "init", "-q"], root)
    # DVC's experiments commit through their own git library, which reads the repo config.
    run(["git", "config", "user.name", "evokd tests"], root)
    run(["git", "config", "user.email", "tests@localhost"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.autostage", "true"], root)
    # `dvc plots` renders offline, as in the shipped project (.dvc/config, plots.html_template).
    shutil.copy2(ROOT / ".dvc" / "offline_plots.html", root / ".dvc" / "offline_plots.html")
    run(["dvc", "config", "plots.html_template", "offline_plots.html"], root)
    run(["evokd", "slots", str(slots)], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "project"], root)
    return root


@pytest.fixture
def project(tmp_path: Path):
    """A fresh evokd project (git + DVC, one commit) on the tiny TREC subset, 3 round slots."""

    def make(slots: int = 3, **overrides) -> Path:
        return make_project(tmp_path / "project", slots, **overrides)

    return make


def dvc_repo(root: Path, remote_url: str, *remote_config: tuple[str, str]) -> Path:
    """A bare git + DVC repository in `root` with the default remote `team` at `remote_url`."""
    root.mkdir(parents=True)
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "remote", "add", "-d", "team", remote_url], root)
    for key, value in remote_config:
        run(["dvc", "remote", "modify", "team", key, value], root)
    return root


def fill(cache, n: int, tag: str) -> set[str]:
    """`n` teacher replies put into the response cache `cache`; their keys."""
    from evokd.teachers.cache import request_key

    keys = set()
    for i in range(n):
        request = {"model": "m", "messages": [{"role": "user", "content": f"{tag} {i}"}],
                   "sampling": {"temperature": 0}, "draw": "0"}
        key = request_key(**request)
        cache.put(key, request, {"content": f"{tag} reply {i}"})  # entries are verified on read
        keys.add(key)
    return keys
