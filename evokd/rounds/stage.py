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

from evokd.errors import ConfigError, PipelineError
from evokd.io import read_json, write_json
from evokd.paths import Prepared, Round

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
    0), as `dvc repro` does. The teacher stages' steps take (cfg, k, teacher), the others (cfg, k).
    It ends the process when the step is done (`_exit_done`): call it from a script's `__main__`
    only (tests and bench/quality.py call the steps themselves)."""
    from evokd import edge

    args = _args(verb, with_round=k is None, first=first)
    edge.setup(args.verbose)
    with edge.user_errors():
        from evokd.config import load_config

        cfg = load_config(args.params)
        k = args.round if k is None else k

        def make_teacher(cfg):
            from evokd.rounds.spending import round_teacher

            return round_teacher(cfg, k, verb, edge.api_key(cfg))

        run_round(verb, k, cfg, step, make_teacher if teacher else None)
    _exit_done()


def plain_stage(verb: str, step: Callable, *, meta: Path | None = None) -> None:
    """Run a stage that is not a round slot (prepare, plan, report): `step(cfg)`; its result is
    logged, and recorded with the wall time in `meta` when given (prepare's). Like `round_stage`,
    it ends the process when the step is done."""
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
    _exit_done()


def _exit_done() -> None:
    """End a stage process that finished its work: flush, then leave without the interpreter's
    teardown. Every output is closed by now (atomic writes rename closed files; no evokd code
    registers an atexit hook), so the teardown only frees memory, and after torch and
    transformers are imported that alone took 1.1 s per stage here (2 cores): 17 s of a default
    `dvc repro`, a tenth of it (BENCHMARKS.md, "Pipeline overhead"). Errors never come here:
    they leave through `edge.user_errors` (SystemExit) or keep their traceback."""
    import os
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def run_round(verb: str, k: int, cfg: "Config", step: Callable,
              make_teacher: Callable[["Config"], "Teacher"] | None = None) -> None:
    """Run `step` for round slot `k` (or write placeholders when the slot is inactive) and record
    data/rounds/<k>/<verb>.meta.json: wall time, the step's result, the teacher's usage.

    `make_teacher` is a callable so that inactive slots build none. A teacher stage sees the
    dataset block as prepare recorded it (`dataset_as_prepared`), teacher and step alike."""
    from evokd.rounds.inactive import write_placeholders
    from evokd.rounds.slots import is_active

    name = f"{verb}@{k}"
    check_slot(k)
    if not is_active(k):
        write_placeholders(verb, k)
        # Constant, as every placeholder: no timing (an inactive slot's files never change).
        write_json(Round(k).meta(verb), {"stage": name, "active": False})
        log.info("%s: inactive slot (rounds=%d), placeholders written", name, cfg.rounds)
        return
    if k == 1:  # once per pipeline, not per round: a changed param re-runs round 1 too
        from evokd.config import ignored_params

        for line in ignored_params(cfg, verb):
            log.warning("%s: %s", name, line)
    start = time.perf_counter()
    teacher = None
    if make_teacher is not None:
        cfg = dataset_as_prepared(cfg)
        teacher = make_teacher(cfg)
    try:
        result = step(cfg, k, teacher) if teacher is not None else step(cfg, k)
    except FileNotFoundError as exc:
        # An input an earlier stage writes (run by hand out of order); anything else stays a bug.
        if not str(exc.filename or "").startswith(("data/", "models/", "metrics/")):
            raise
        raise PipelineError(f"{name}: {exc.filename}: missing; run the stages before it first "
                            f"(`dvc repro {name}` does, in order)") from None
    wall = round(time.perf_counter() - start, 2)
    meta = {"stage": name, "active": True, "wall_s": wall, "process_s": _process_s(), **result}
    if teacher is not None:
        meta.update(teacher_meta(teacher))
    write_json(Round(k).meta(verb), meta)
    log.info("%s finished in %.1fs %s", name, wall, brief(result))


def check_slot(k: int) -> None:
    """Round k must be one of slots.yaml's (or 0): a clear error before any plan file is read."""
    from evokd.rounds.slots import read_slots

    if k == 0:  # round 0 (probe, analyze@0) is no slot
        return
    slots = read_slots()
    if k not in slots:
        raise ConfigError(f"round {k} is not a round slot: slots.yaml declares 1..{max(slots)}; "
                          f"run `evokd slots {k}` to declare more, then `dvc repro`")


def dataset_as_prepared(cfg: "Config", prepared: Prepared = Prepared()) -> "Config":
    """`cfg` with the dataset block prepare recorded in data/prepared/dataset.json. The teacher
    stages depend on that file, not on the `dataset` params: as params, the task context's text
    (dataset.description, label_descriptions) was recorded in dvc.lock by every teacher stage,
    3.5 KB each on TREC, and DVC re-reads and rewrites the whole lock after each stage
    (BENCHMARKS.md, "Pipeline overhead")."""
    from evokd.config import DatasetConfig

    if not prepared.dataset.exists():
        raise PipelineError(f"{prepared.dataset}: missing; run `dvc repro prepare` first")
    return cfg.model_copy(update={"dataset": DatasetConfig.model_validate(read_json(prepared.dataset))})


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
