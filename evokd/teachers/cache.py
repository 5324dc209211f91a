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

An entry is never trusted on its own word (anyone who can write to the folder, or to the DVC
remote `evokd cache pull` reads, could plant one): on every read, and on every pull, the request
it stores is hashed again and must give the key it is filed under, and the reply must have the
shape a client reply has (`entry_problem`). An entry that fails is a miss, with a warning naming
the file: never served, never a crash. What this proves is that an entry answers the request it
claims to; it cannot prove who wrote it (that would take a signature and a key to keep).

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


_REQUEST_FIELDS = {"model", "messages", "sampling", "draw", "namespace"}


def entry_problem(entry: object, key: str) -> str | None:
    """Why the decoded cache entry `entry` must not be served for `key`, or None if it may.

    The stored request must hash to `key` (`request_key`), and the reply must be what
    `ChatClient._reply` returns: {"content": ..., "finish_reason": str or None,
    "model": str or None, "usage": None or an object}."""
    if not isinstance(entry, dict):
        return f"not a JSON object ({type(entry).__name__})"
    if entry.get("key") != key:
        return "its key is not the name it is filed under"
    request, response = entry.get("request"), entry.get("response")
    if not isinstance(request, dict) or not {"model", "messages", "sampling", "draw"} <= request.keys() \
            or not request.keys() <= _REQUEST_FIELDS:
        return "no request record (model, messages, sampling, draw)"
    if not (isinstance(request["messages"], list) and isinstance(request["sampling"], dict)
            and all(isinstance(request[f], str) for f in ("model", "draw"))
            and isinstance(request.get("namespace") or "", str)):
        return "a request record of the wrong shape"
    try:
        again = request_key(request["model"], request["messages"], request["sampling"], request["draw"],
                            request.get("namespace"))
    except (TypeError, ValueError, RecursionError) as exc:  # not JSON-serialisable / too deep
        return f"a request that cannot be hashed ({type(exc).__name__})"
    if again != key:
        return "the request it stores does not hash to its key (altered or planted)"
    if not isinstance(response, dict):
        return "no reply object"
    if "content" not in response:
        return "a reply without content"
    # Content of any JSON type is read safely (a non-text one is rejected as `not_text`).
    for field in ("finish_reason", "model"):
        if not isinstance(response.get(field), (str, type(None))):
            return f"reply field {field!r} is not text"
    # Token counts are checked where they are charged (evokd.teachers.dispatch): a count that
    # makes no sense is charged as the request's reservation, so it cannot lower the bill.
    if not isinstance(response.get("usage"), (dict, type(None))):
        return "reply usage is not an object"
    return None


def read_entry(path: Path, key: str) -> tuple[dict | None, str | None]:
    """(the verified reply, None) of the entry file `path` filed under `key`, or (None, why not);
    (None, None) when there is no such file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"unreadable ({exc.strerror or exc})"
    try:
        entry = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError
        return None, "not JSON"
    problem = entry_problem(entry, key)
    return (None, problem) if problem else (entry["response"], None)


class ResponseCache:
    """Content-addressed replies under `root`. Entries that are missing, unreadable or fail
    verification (`entry_problem`) count as misses; the last two with a warning."""

    def __init__(self, root: str | Path):
        self.root = resolve_root(root)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The reply filed under `key`, verified; None for a miss. A damaged or foreign entry
        is a miss with a warning: the request is sent again and its reply overwrites it."""
        path = self.path(key)
        response, problem = read_entry(path, key)
        if problem:
            log.warning("teacher cache: ignoring %s: %s; the request will be sent again", path, problem)
        return response

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
