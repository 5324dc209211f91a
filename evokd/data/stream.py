"""Bounded-memory helpers for large rounds: JSON Lines written row by row and renamed into place
at the end, fixed-size chunks of an iterator, and a dedup set that keeps 16-byte digests of
normalised texts instead of the texts.

A round of 100k synthetic samples then costs memory for one chunk of samples, the digests
(~100 bytes each in a Python set) and the test split's leak index, not for the whole round."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator


def chunked(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    """Lists of at most `size` consecutive rows."""
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


class SeenTexts:
    """The normalised texts seen so far, as blake2b-128 digests (a collision is ~2^-64 likely
    at a billion texts). `norm in seen`, `seen.add(norm)`."""

    def __init__(self) -> None:
        self._digests: set[bytes] = set()

    @staticmethod
    def _digest(norm: str) -> bytes:
        return hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def __contains__(self, norm: str) -> bool:
        return self._digest(norm) in self._digests

    def add(self, norm: str) -> None:
        self._digests.add(self._digest(norm))

    def __len__(self) -> int:
        return len(self._digests)


class AtomicJsonl:
    """A JSON Lines file written row by row into a temporary sibling and renamed into place when
    the `with` block ends without an exception (otherwise removed): a stage that stops halfway
    (a kill, a pending batch) leaves no partial output behind."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.count = 0

    def __enter__(self) -> "AtomicJsonl":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        return self

    def write(self, row: dict) -> None:
        self._fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        self.count += 1

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self._fh.close()
            if kind is None:
                os.replace(self._tmp, self.path)
        finally:
            Path(self._tmp).unlink(missing_ok=True)
