"""The teacher response cache, carried through the project's DVC remote.

The cache (`teacher.cache_dir`, see evokd.teachers.cache) is a folder of content-addressed
files, `<2 hex>/<sha256 of the request>.json`, one per reply, never rewritten with different
meaning. Sharing it is therefore a union of sets: `push` uploads the entries the remote lacks,
`pull` downloads the entries the local folder lacks, and two teammates who push at the same time
cannot conflict (at worst both upload a reply to the same request; either is a valid answer).

The entries go to `<remote>/evokd/teacher-cache/<2 hex>/<key>.json`, beside DVC's own
`files/md5/` and `runs/` folders, through the remote's own filesystem and credentials (whatever
`dvc remote add/modify` configured: a directory, S3 with `endpointurl`, ...). Three levels below
the remote root, they never look like DVC objects (DVC's legacy layout is `<2 hex>/<rest>`
directly under the root), so `dvc gc --cloud` leaves them alone.

Nothing is tracked in git: no `.dvc` file to commit and merge after each push (a `dvc add`
snapshot of the folder would make every push a commit and every concurrent push a conflict).
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from evokd.errors import RemoteError, RemoteFailed
from evokd.progress import fsspec_callback, progress
from evokd.teachers.cache import ResponseCache, read_entry

log = logging.getLogger(__name__)

REMOTE_DIR = ("evokd", "teacher-cache")
_KEY = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class SyncResult:
    """What one push or pull did: entries on each side before it, entries copied, and entries
    skipped because they could not be read (a damaged file is never spread)."""

    remote: str
    local_before: int
    remote_before: int
    transferred: int
    damaged: int

    def to_dict(self) -> dict:
        return asdict(self)


class RemoteCache:
    """The cache folder on a DVC remote: `fs` is the remote's DVC filesystem, `root` the
    folder's path on it."""

    def __init__(self, name: str, fs, root: str):
        self.name, self.fs, self.root = name, fs, root

    def path(self, key: str) -> str:
        return self.fs.join(self.root, key[:2], f"{key}.json")

    def keys(self) -> set[str]:
        try:
            paths = list(self.fs.find(self.root))
        except FileNotFoundError:
            return set()
        keys = set()
        for path in paths:
            name = posixpath.basename(path.replace("\\", "/"))
            key = name[:-5] if name.endswith(".json") else ""
            if _KEY.match(key) and posixpath.basename(posixpath.dirname(path.replace("\\", "/"))) == key[:2]:
                keys.add(key)
        return keys


def open_remote(name: str | None = None, repo_root: str | Path = ".") -> RemoteCache:
    """The cache folder on the DVC remote `name` (the default remote when None)."""
    from dvc.exceptions import DvcException, NotDvcRepoError
    from dvc.repo import Repo

    try:
        with Repo(str(repo_root)) as repo:
            remote = repo.cloud.get_remote(name, "evokd cache")
    except NotDvcRepoError:
        raise RemoteError(f"{Path(repo_root).resolve()}: not a DVC project; run evokd cache from the "
                          f"project root (where dvc.yaml is)") from None
    except DvcException as exc:
        raise RemoteError(f"DVC remote: {exc}. Add one with `dvc remote add -d storage <url>` "
                          f"(see docs/sharing.md)") from None
    return RemoteCache(remote.name, remote.fs, remote.fs.join(remote.path, *REMOTE_DIR))


def local_keys(cache: ResponseCache) -> set[str]:
    """Keys of the entries in the local cache folder (files in the cache's own layout)."""
    if not cache.root.exists():
        return set()
    return {p.stem for p in cache.root.glob("??/*.json")
            if _KEY.match(p.stem) and cache.path(p.stem) == p}


def _transfer_error(action: str, remote: RemoteCache, exc: Exception) -> RemoteFailed:
    return RemoteFailed(f"evokd cache {action}: the DVC remote {remote.name!r} failed ({exc}); "
                       f"check `dvc remote list` and that `dvc {action}` works")


def push(cache: ResponseCache, remote: RemoteCache, jobs: int = 8) -> SyncResult:
    """Upload the local entries the remote lacks."""
    mine, theirs = local_keys(cache), remote.keys()
    todo = sorted(k for k in mine - theirs if cache.get(k) is not None)
    damaged = len(mine - theirs) - len(todo)
    if todo:
        try:
            with progress(len(todo), "cache push", "reply") as bar:
                remote.fs.put([str(cache.path(k)) for k in todo], [remote.path(k) for k in todo],
                              batch_size=jobs, callback=fsspec_callback(bar))
        except Exception as exc:  # the filesystems raise their own kinds (OSError, botocore, ...)
            raise _transfer_error("push", remote, exc) from exc
    return SyncResult(remote.name, len(mine), len(theirs), len(todo), damaged)


def pull(cache: ResponseCache, remote: RemoteCache, jobs: int = 8) -> SyncResult:
    """Download the remote entries the local folder lacks. Each is downloaded to a staging
    folder, verified as the cache verifies every read (`entry_problem`: whole JSON, its stored
    request hashes to the key it is named by, a reply of the right shape), then renamed into
    place; one that fails is skipped with a warning and counted as damaged, so a reader of the
    cache never sees a partial, altered or planted entry. A local entry that fails the same check
    counts as missing: a good remote copy replaces it."""
    mine, theirs = local_keys(cache), remote.keys()
    sound = {key for key in mine & theirs if read_entry(cache.path(key), key)[1] is None}
    todo = sorted(theirs - sound)
    installed = 0
    if todo:
        cache.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=cache.root))
        try:
            staged = [staging / f"{k}.json" for k in todo]
            try:
                with progress(len(todo), "cache pull", "reply") as bar:
                    remote.fs.get([remote.path(k) for k in todo], [str(p) for p in staged],
                                  batch_size=jobs, callback=fsspec_callback(bar))
            except Exception as exc:
                raise _transfer_error("pull", remote, exc) from exc
            for key, path in zip(todo, staged):
                _, problem = read_entry(path, key)
                if problem is None and path.exists():
                    dest = cache.path(key)
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, dest)
                    installed += 1
                else:
                    log.warning("evokd cache pull: remote entry %s skipped: %s", remote.path(key),
                                problem or "missing after download")
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return SyncResult(remote.name, len(mine), len(theirs), installed, len(todo) - installed)
