"""Atomic file writes and JSON Lines helpers.

Every file a stage produces is written to a temporary file in the same folder and renamed into
place, so a process killed mid-write never leaves a half-written file for a later stage to read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator


# The process's umask, read once (setting it is the only way to read it).
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextmanager
def atomic_writer(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """A file handle on a temporary file in `path`'s folder, flushed, fsynced and renamed onto
    `path` when the block ends without an exception (otherwise removed): readers see the old
    file or the whole new one, never part of it, even if the process is killed mid-write."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; the written file gets what open() would give it (0644
        # under the usual umask 022), so teammates and web servers can read reports and data.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_writer(path) as fh:
        fh.write(text)


def atomic_copytree(src: str | Path, dest: str | Path) -> None:
    """Copy folder `src` to `dest` through a temporary sibling renamed into place: a kill
    mid-copy leaves the old `dest` or none, never a partial copy under its name."""
    src, dest = Path(src), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp"))
    try:
        shutil.copytree(src, staging / "copy")
        if dest.exists():
            shutil.rmtree(dest)
        (staging / "copy").rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def iter_jsonl(path: str | Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def read_jsonl(path: str | Path) -> list[dict]:
    return list(iter_jsonl(path))


def save_npy(path: Path, array) -> None:
    """A numpy array to `path`, atomically (np.save into an atomic_writer handle)."""
    import numpy as np

    with atomic_writer(path, "wb") as fh:
        np.save(fh, array)
