"""What every pipeline stage does around its step: skip an inactive round slot with placeholders,
build the teacher for the stages that call one, time the step and write its meta file.

It lives here, not in the CLI, because it shapes the stages' outputs: dvc.yaml lists this module
among each stage's code dependencies (tests/test_stage_deps.py checks that every module a stage
imports is listed), while `evokd/cli.py` only parses arguments and is not a dependency."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Callable

from evokd.config import Config, ignored_params
from evokd.io import write_json
from evokd.paths import Round

if TYPE_CHECKING:
    from evokd.teachers.base import Teacher

log = logging.getLogger("evokd")


def run_round(verb: str, k: int, cfg: Config, step: Callable,
              make_teacher: Callable[[], "Teacher"] | None = None) -> None:
    """Run `step` for round slot `k` (or write placeholders when the slot is inactive) and record
    data/rounds/<k>/<verb>.meta.json: wall time, the step's result, the teacher's usage.

    The teacher stages pass `make_teacher` (the step then gets the teacher as a third argument);
    it is a callable so that inactive slots build none, and so that the train and evaluate
    stages do not import, hence do not depend on, evokd/teachers."""
    from evokd.rounds.inactive import write_placeholders
    from evokd.rounds.plan import is_active

    name = f"{verb}@{k}"
    if not is_active(k):
        write_placeholders(verb, k)
        write_json(Round(k).meta(verb), {"stage": name, "active": False})
        log.info("%s: inactive slot (rounds=%d), placeholders written", name, cfg.rounds)
        return
    if k == 1:  # once per pipeline, not per round: a changed param re-runs round 1 too
        for line in ignored_params(cfg, verb):
            log.warning("%s: %s", name, line)
    start = time.perf_counter()
    teacher = make_teacher() if make_teacher is not None else None
    result = step(cfg, k, teacher) if teacher is not None else step(cfg, k)
    wall = round(time.perf_counter() - start, 2)
    meta = {"stage": name, "active": True, "wall_s": wall, **result}
    if teacher is not None:
        meta.update(teacher_meta(teacher))
    write_json(Round(k).meta(verb), meta)
    log.info("%s finished in %.1fs %s", name, wall, brief(result))


def run_prepare(cfg: Config, step: Callable) -> None:
    """Round 0 (no slot, no teacher): run `step` and record data/rounds/0/prepare.meta.json."""
    start = time.perf_counter()
    result = step(cfg)
    wall = round(time.perf_counter() - start, 2)
    write_json(Round(0).meta("prepare"), {"stage": "prepare", "wall_s": wall, **result})
    log.info("prepare finished in %.1fs %s", wall, brief(result))


def teacher_meta(teacher: "Teacher") -> dict:
    """The teacher's usage, and its rejections by reason when there were any."""
    meta = {"teacher": teacher.usage.to_dict()}
    shape = teacher.request_shape()
    if shape is not None:  # the LLM teacher: what it sent (docs/teacher-servers.md)
        meta["teacher_request"] = shape
    if teacher.rejected:
        meta["teacher_rejected"] = dict(sorted(teacher.rejected.items()))
    return meta


def brief(result: dict) -> str:
    """The step's scalar results on one log line (the first six)."""
    keep = {k: v for k, v in result.items() if isinstance(v, (int, float, str)) and v is not None}
    return " ".join(f"{k}={v}" for k, v in list(keep.items())[:6])
