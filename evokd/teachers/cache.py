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
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from evokd.io import atomic_write_text

FORMAT = 1


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
        self.root = Path(root)

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
