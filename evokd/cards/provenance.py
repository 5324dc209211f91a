"""Facts a card records about where data came from: the git revision, the prompt files' hashes,
and the params that shaped a round's data.

The params are those of the stages that produce the data (synthesize and label) and what they
read through `data/prepared` (dataset, shots); the label stage depends on all of them (directly
or through synthesize's outputs), so a card is never staler than the data beside it. Operational
teacher settings (concurrency, timeouts, retries, budget, base_url) are left out: they change how
replies are fetched, not what they say.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from evokd.config import Config
from evokd.strategies import get_strategy

# Teacher keys that determine what the teacher says (the response cache's key has the same idea).
TEACHER_KEYS = ("provider", "model", "cache_namespace", "label_noise", "prompts", "temperature",
                "label_temperature", "max_tokens", "json_schema")


def git_revision(cwd: str | Path = ".") -> dict:
    """{"commit", "dirty"} of the repository at `cwd`; commit None outside git. `dirty` is whether
    tracked files differ from the commit (a `dvc exp run -S` workspace usually does)."""
    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", "--no-optional-locks", *args], cwd=cwd, capture_output=True,
                                  text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prompt_hashes(cfg: Config) -> dict[str, str]:
    """sha256 of each prompt template the teacher reads (of the generation templates, the one
    `synthesize.strategy` reads, none under eda; the label template unless the labels come with
    the texts (evokd-gen-labels, eda) and no second labelling is asked for), by path; empty for the simulated
    teacher (it reads no prompt) and for templates that do not exist."""
    if cfg.teacher.provider == "simulated":
        return {}
    from evokd.teachers.prompts import template_path

    strategy = get_strategy(cfg.synthesize.strategy)
    kinds = ["analyze"] + ([strategy.template] if strategy.template else [])  # eda: no generation prompt
    if not strategy.labels_with_generation or cfg.label.relabel_fraction > 0:
        kinds.append("label")
    out = {}
    for kind in kinds:
        path = template_path(cfg.teacher.prompts, cfg.task, kind)
        if path.exists():
            out[path.as_posix()] = sha256_file(path)
    return out


def shaping_params(cfg: Config) -> dict:
    """The params that shaped one round's synthesized and labelled data."""
    teacher = cfg.teacher.model_dump()
    return {
        "task": cfg.task,
        "dataset": cfg.dataset.model_dump(exclude_none=True),
        "shots": cfg.shots,
        "seed": cfg.seed,
        "teacher": {k: teacher[k] for k in TEACHER_KEYS if k in teacher},
        "synthesize": cfg.synthesize.model_dump(),
        "label": cfg.label.model_dump(),
    }
