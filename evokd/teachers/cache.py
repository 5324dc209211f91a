"""The response cache: every teacher reply, stored the moment it arrives, keyed by what
determines it.

Key = sha256 of the canonical JSON of {model, messages, sampling parameters, draw, namespace}.
Operational settings (concurrency, timeouts, retries, the API key) are not in it: they change
how a reply is fetched, not what it says. `base_url` is not in it either: it says *where* the
model is reached (a port, a proxy, localhost or 127.0.0.1), and moving an endpoint must not
re-pay for answers already bought. Two endpoints that serve different weights under the same
model name are told apart with `teacher.cache_namespace`.

One file per reply (`<root>/<2 hex>/<sha256>.json`) written atomically (temp file + rename), so
concurrent processes (parallel `dvc exp run`s) share the folder safely: a reader sees a whole
file or none, and two writers of the same key write the same request's answer. The folder lives
outside DVC outputs (DVC deletes a stage's outputs before running it) and is gitignored.

A relative `teacher.cache_dir` is relative to the project root. A queued experiment
(`dvc exp run --queue`, `dvc queue start`) runs in a temporary copy of the project under
`<root>/.dvc/tmp/exps/` that DVC deletes afterwards; there the relative folder is resolved
against the real project root (`resolve_root`), so queued runs share the project's cache and keep
what they paid for, instead of each filling a throwaway cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from evokd.io import atomic_write_text

FORMAT = 1
# Where DVC runs queued and temp-dir experiments: <project root>/.dvc/tmp/exps/<...>.
_EXP_WORKSPACES = os.path.join(".dvc", "tmp", "exps")

log = logging.getLogger(__name__)


def resolve_root(cache_dir: str | Path, cwd: str | Path | None = None) -> Path:
    """The cache folder: `cache_dir` as given, except that a relative one inside a DVC
    experiment's temporary workspace is taken relative to the real project root."""
    path = Path(cache_dir)
    if path.is_absolute():
        return path
    here = os.path.abspath(cwd or os.getcwd())
    marker = os.sep + _EXP_WORKSPACES + os.sep
    if marker in here + os.sep:
        project = here[: (here + os.sep).index(marker)]
        log.info("teacher cache: queued experiment; using %s of the project %s", path, project)
        return Path(project) / path
    return path


def canonical(obj: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, unicode kept."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(model: str, messages: list[dict], sampling: dict, draw: str,
                namespace: str | None = None) -> str:
    """The cache key of one chat request (see the module docstring for what is in it)."""
    payload = {"format": FORMAT, "model": model, "messages": messages, "sampling": sampling,
               "draw": draw}
    if namespace:
        payload["namespace"] = namespace
    return hashlib.sha256(canonical(payload).encode("utf-8", "surrogatepass")).hexdigest()


class ResponseCache:
    """Content-addressed replies under `root`. Unreadable entries count as misses."""

    def __init__(self, root: str | Path):
        self.root = resolve_root(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        path = self.path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError):
            return None  # a damaged entry is re-fetched and overwritten
        if entry.get("key") != key or "response" not in entry:
            return None
        return entry["response"]

    def put(self, key: str, request: dict, response: dict) -> None:
        """Store one reply with the request that produced it (never credentials)."""
        entry = {"format": FORMAT, "key": key, "request": request, "response": response}
        text = json.dumps(entry, ensure_ascii=False, indent=1)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # a reply with a lone surrogate: keep it exact, as \\u escapes
            text = json.dumps(entry, ensure_ascii=True, indent=1)
        atomic_write_text(self.path(key), text + "\n")

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json")) if self.root.exists() else 0
