"""How a stage script runs: `stages/<verb>.py` holds the step (the paper's recipe) and hands it to
one of these at its foot. Everything around the step lives here, once: the command line
(`python stages/synthesize.py 3`), params.yaml read once into the typed config, the inactive
round slot (placeholders, no heavy import), the teacher for the stages that call one (its budget
charged with what the earlier teacher stages spent), the timing, the stage's meta file, and named
errors turned into a message and an exit code (evokd.edge)."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from evokd.io import write_json
from evokd.paths import Round

if TYPE_CHECKING:
    from evokd.config import Config
    from evokd.teachers.base import Teacher

log = logging.getLogger("evokd")


def _args(verb: str, with_round: bool, first: int = 1) -> argparse.Namespace:
    import sys

    # The script's own docstring: the paper's step, in the words the reader of the file sees.
    doc = (getattr(sys.modules.get("__main__"), "__doc__", None) or f"The {verb} stage.").strip()
    parser = argparse.ArgumentParser(
        prog=f"python stages/{verb}.py", description=doc, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"dvc.yaml runs it; by hand, `dvc repro {verb}{'@K' if with_round else ''}` checks its inputs first. "
               "Exit codes: docs/cli.md.")
    if with_round:
        parser.add_argument("round", type=int, help=f"the round slot to run ({first} = the first)")
    parser.add_argument("--params", "-p", type=Path, default=Path("params.yaml"), help="the params file")
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging")
    args = parser.parse_args()
    if with_round and args.round < first:
        parser.error(f"round: {args.round} is below {first}, the first round slot of {verb}")
    return args


def round_stage(verb: str, step: Callable, *, teacher: bool = False, k: int | None = None,
                first: int = 1) -> None:
    """Run `step` for the round slot on the command line (or for `k`: the probe is always round
    0), as `dvc repro` does. The teacher stages' steps take (cfg, k, teacher), the others (cfg, k)."""
    from evokd import edge

    args = _args(verb, with_round=k is None, first=first)
    edge.setup(args.verbose)
    with edge.user_errors():
        from evokd.config import load_config

        cfg = load_config(args.params)
        k = args.round if k is None else k

        def make_teacher():
            from evokd.rounds.spending import round_teacher

            return round_teacher(cfg, k, verb, edge.api_key(cfg))

        run_round(verb, k, cfg, step, make_teacher if teacher else None)


def plain_stage(verb: str, step: Callable, *, meta: Path | None = None) -> None:
    """Run a stage that is not a round slot (prepare, plan, report): `step(cfg)`; its result is
    logged, and recorded with the wall time in `meta` when given (prepare's)."""
    from evokd import edge

    args = _args(verb, with_round=False)
    edge.setup(args.verbose)
    with edge.user_errors():
        from evokd.config import load_config

        cfg = load_config(args.params)
        start = time.perf_counter()
        result = step(cfg)
        wall = round(time.perf_counter() - start, 2)
        if meta is not None:
            write_json(meta, {"stage": verb, "wall_s": wall, "process_s": _process_s(), **result})
        log.info("%s finished in %.1fs %s", verb, wall, brief(result))


def run_round(verb: str, k: int, cfg: "Config", step: Callable,
              make_teacher: Callable[[], "Teacher"] | None = None) -> None:
    """Run `step` for round slot `k` (or write placeholders when the slot is inactive) and record
    data/rounds/<k>/<verb>.meta.json: wall time, the step's result, the teacher's usage.

    `make_teacher` is a callable so that inactive slots build none."""
    from evokd.rounds.inactive import write_placeholders
    from evokd.rounds.slots import is_active

    name = f"{verb}@{k}"
    if not is_active(k):
        write_placeholders(verb, k)
        write_json(Round(k).meta(verb), {"stage": name, "active": False, "process_s": _process_s()})
        log.info("%s: inactive slot (rounds=%d), placeholders written", name, cfg.rounds)
        return
    if k == 1:  # once per pipeline, not per round: a changed param re-runs round 1 too
        from evokd.config import ignored_params

        for line in ignored_params(cfg, verb):
            log.warning("%s: %s", name, line)
    start = time.perf_counter()
    teacher = make_teacher() if make_teacher is not None else None
    result = step(cfg, k, teacher) if teacher is not None else step(cfg, k)
    wall = round(time.perf_counter() - start, 2)
    meta = {"stage": name, "active": True, "wall_s": wall, "process_s": _process_s(), **result}
    if teacher is not None:
        meta.update(teacher_meta(teacher))
    write_json(Round(k).meta(verb), meta)
    log.info("%s finished in %.1fs %s", name, wall, brief(result))


def _process_s() -> float:
    """Seconds since this process first imported evokd: the stage's own time, imports included."""
    from evokd import IMPORTED_AT

    return round(time.perf_counter() - IMPORTED_AT, 2)


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
