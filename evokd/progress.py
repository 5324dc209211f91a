"""Progress displays where people wait: teacher requests, scoring the test split, the pool
embeddings, and `evokd cache push` / `pull`.

`dvc repro` runs each stage with DVC's own stdout and stderr, so what a stage prints lands in
the user's terminal, or in a log file when the output is redirected (CI, `dvc repro > log`,
`dvc exp run --queue`). The display adapts to where stderr goes:

- a terminal: a tqdm bar that is cleared when the wait is over (`leave=False`), so the log keeps
  only each stage's one-line summary; log lines printed meanwhile go above the bar;
- anything else: a bar's carriage returns would pile up in the file, so the same tqdm prints a
  plain line (`evokd: teacher requests: 12/40 [00:31<01:12, ...]`) at most every LOG_EVERY_S
  seconds, and nothing at all for a wait shorter than that.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager, nullcontext
from typing import IO, Iterator

from tqdm import tqdm

# Seconds between plain progress lines in a log (and the wait before the first one): a
# 10-minute stage adds about 20 lines, a 20-second one none.
LOG_EVERY_S = 30.0
_LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


class _Lines:
    """A file for tqdm that writes each status tqdm draws as one plain line (tqdm draws
    `\\r<status><padding>`; a log cannot rewrite a line). A status with the same count as the
    line before (tqdm redraws the last one when it closes) is left out."""

    def __init__(self, stream: IO[str]):
        self.stream, self.last = stream, ""

    def write(self, text: str) -> None:
        line = text.replace("\r", "").strip()
        count = line.split(" [", 1)[0]  # "<desc>: <n>/<total>"
        if line and count != self.last:
            self.stream.write(f"evokd: {line}\n")
            self.last = count

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or minimal stream
        return False


@contextmanager
def progress(total: int, desc: str, unit: str, initial: int = 0,
             stream: IO[str] | None = None) -> Iterator[tqdm]:
    """A tqdm for `total` items (`initial` of them already done, e.g. read from the cache),
    drawn on `stream` (default: stderr at the time of the call) as the module docstring says."""
    stream = stream if stream is not None else sys.stderr
    if _is_terminal(stream):
        from tqdm.contrib.logging import logging_redirect_tqdm

        # Log lines (a retry, a warning) are printed above the bar instead of through it.
        redirect = logging_redirect_tqdm(loggers=[logging.root]) if stream is sys.stderr else nullcontext()
        with redirect, tqdm(total=total, initial=initial, desc=desc, unit=unit, file=stream,
                            leave=False, dynamic_ncols=True) as bar:
            yield bar
    else:
        with tqdm(total=total, initial=initial, desc=desc, unit=unit, file=_Lines(stream),
                  leave=True, mininterval=LOG_EVERY_S, delay=LOG_EVERY_S,
                  bar_format=_LINE_FORMAT) as bar:
            yield bar


def fsspec_callback(bar: tqdm):
    """An fsspec callback that moves `bar` as files are transferred (DVC's remote filesystems
    take one in `put` and `get`)."""
    from fsspec.callbacks import Callback

    class _Moves(Callback):
        def call(self, *args, **kwargs) -> None:
            if self.value > bar.n:
                bar.update(self.value - bar.n)

    return _Moves()
