"""The edge every entry point shares: the `evokd` command (evokd/cli.py) and the stage scripts
(stages/*.py, through evokd.rounds.stage). Logging, the offline environment, the API key (read
from the environment here and nowhere deeper), and what a named error means for the exit status
(docs/cli.md)."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from enum import IntEnum
from typing import Iterator

from evokd.errors import EvokdError


class Exit(IntEnum):
    """What the exit status of an evokd command or stage means (docs/cli.md). DVC stops `dvc repro`
    at a stage that exits non-zero and prints `exited with <code>`, so the code tells a script why."""

    OK = 0
    FAILED = 1          # an unexpected error (a bug: the traceback says where) or a failed launch
    USER_ERROR = 2      # the command line, params.yaml, a data file, a missing earlier stage, the budget
    BATCH_PENDING = 3   # teacher.mode batch: a batch was submitted or is still running; run again
    SERVICE_FAILED = 4  # the teacher endpoint or the DVC remote kept failing; run again later


def setup(verbose: bool = False) -> None:
    """Log to stderr as `evokd: ...`; models come from the installed packages or local folders,
    never from a hub."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="evokd: %(message)s", stream=sys.stderr)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def api_key(cfg) -> str | None:
    """The teacher's API key: from the environment only, never from params or files
    (AZURE_OPENAI_API_KEY with `teacher.azure`, else OPENAI_API_KEY)."""
    name = "AZURE_OPENAI_API_KEY" if cfg.teacher.azure is not None else "OPENAI_API_KEY"
    return os.environ.get(name) or None


def exit_code(exc: EvokdError) -> Exit:
    """The exit status of a named error: the first class in this list it is an instance of."""
    from evokd.errors import (BatchPending, BudgetExceeded, LaunchError, RemoteFailed, TeacherError,
                              TeacherRefused)

    for kind, code in ((BatchPending, Exit.BATCH_PENDING), (BudgetExceeded, Exit.USER_ERROR),
                       (TeacherRefused, Exit.USER_ERROR), (TeacherError, Exit.SERVICE_FAILED),
                       (RemoteFailed, Exit.SERVICE_FAILED), (LaunchError, Exit.FAILED)):
        if isinstance(exc, kind):
            return code
    return Exit.USER_ERROR  # ConfigError, DataError, PipelineError, RemoteError (no remote), ...


@contextmanager
def user_errors() -> Iterator[None]:
    """Named errors become a message without a traceback and the exit code that says what kind
    of stop it was (SystemExit); anything else keeps its traceback (exit 1)."""
    try:
        yield
    except EvokdError as exc:
        import typer

        from evokd.teachers.redact import scrub

        # A message may quote a value from params.yaml; a URL's credentials never reach the terminal.
        code = exit_code(exc)
        if code == Exit.BATCH_PENDING:  # teacher.mode: batch; not a failure, but DVC must stop here
            typer.secho(f"evokd: {scrub(str(exc))}", fg=typer.colors.YELLOW, err=True)
        else:
            typer.secho(f"error: {scrub(str(exc))}", fg=typer.colors.RED, err=True)
        raise SystemExit(int(code)) from None
