"""Every write is atomic (RELIABILITY.md, "Crash anywhere, lose nothing"): evokd writes files only
through evokd.io's atomic writers (temporary file in the same folder, fsync, rename) or a few
listed writers that build a folder beside its destination and rename it into place. A static
audit finds every call that writes a file in evokd/ and fails on one that is not listed, and the
writers are checked to leave the old file or the whole new one when a write fails or is killed."""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evokd.io import atomic_copytree, atomic_write_text, atomic_writer

ROOT = Path(__file__).resolve().parents[2]
# Calls that create or change files, by the name called.
WRITERS = {"write_text", "write_bytes", "dump", "to_csv", "to_parquet", "save", "savez", "save_pretrained",
           "save_to_disk", "copytree", "copyfile", "copy", "copy2", "fdopen", "mkstemp", "NamedTemporaryFile"}
# (module, enclosing function) -> why that writer is atomic.
ALLOWED = {
    ("evokd/io.py", "atomic_writer"): "mkstemp + fdopen in the destination's folder, fsync, os.replace",
    ("evokd/io.py", "atomic_copytree"): "copytree into a temporary sibling, then rename",
    ("evokd/data/stream.py", "__enter__"): "AtomicJsonl: mkstemp + fdopen; __exit__ fsyncs and os.replace-s",
    ("evokd/io.py", "save_npy"): "np.save into an atomic_writer handle",
    ("evokd/rounds/slots.py", "prune_lock"): "YAML dumped into a StringIO, then atomic_write_text",
    ("evokd/student/train.py", "save_checkpoint"): "save_pretrained into <out>.tmp, then rename",
    ("evokd/share/export.py", "export"): "copytree into a mkdtemp staging folder, then rename",
}


_MODE = re.compile(r"[rwxabt+]+")


def writer_calls(root: Path = ROOT, package: str = "evokd") -> list[tuple[str, str, int, str]]:
    """(module, enclosing function, line, name) of every call that may write a file; `open` only
    with a writing mode (`open(path, "w")`, `gzip.open(path, "wt")`, `Path.open("a")`)."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        module = str(path.relative_to(root))
        tree = ast.parse(path.read_text())
        parents: dict = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                parents[child] = node
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "open":
                # The mode is the first argument of Path.open, the second of open() and gzip.open().
                modes = [a.value for a in node.args[:2] if isinstance(a, ast.Constant)
                         and isinstance(a.value, str) and _MODE.fullmatch(a.value)]
                modes += [k.value.value for k in node.keywords if k.arg == "mode" and isinstance(k.value, ast.Constant)]
                if not any(set(str(m)) & set("wax+") for m in modes):
                    continue
            elif name not in WRITERS:
                continue
            up, func = node, "<module>"
            while up in parents:
                up = parents[up]
                if isinstance(up, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    func = up.name
                    break
            found.append((module, func, node.lineno, name))
    return found


def test_every_file_writer_in_evokd_is_an_atomic_one():
    calls = writer_calls() + writer_calls(package="stages")  # the library and the stage scripts
    unlisted = [c for c in calls if (c[0], c[1]) not in ALLOWED]
    assert unlisted == [], ("writers outside evokd.io's atomic helpers (make them atomic, or list them "
                            f"in ALLOWED and RELIABILITY.md with the reason): {unlisted}")
    # The audit sees the writers it allows (so that it cannot pass by finding nothing).
    assert {(m, f) for m, f, _, _ in calls} == set(ALLOWED)


def test_the_audit_finds_open_for_writing_in_each_spelling(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text(textwrap.dedent("""
        import gzip
        from pathlib import Path
        def a(p): open(p, "w")
        def b(p): Path(p).open("a")
        def c(p): gzip.open(p, mode="wt")
        def d(p): gzip.open(p, "xb")
        def e(p): open(p), Path(p).open(), open(p, "rb"), gzip.open("w.gz")
    """))
    assert [(f, n) for _, f, _, n in writer_calls(tmp_path, "pkg")] == [
        ("a", "open"), ("b", "open"), ("c", "open"), ("d", "open")]


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    atomic_write_text(path, "old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(path, "new \ud800\n")  # fails half-way through encoding
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]
    with pytest.raises(RuntimeError):
        with atomic_writer(path, "wb") as fh:
            fh.write(b"partial")
            raise RuntimeError("stop")
    assert path.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_copytree_replaces_whole_or_not_at_all(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a").write_text("new")
    (tmp_path / "dest").mkdir()
    (tmp_path / "dest" / "old").write_text("old")
    atomic_copytree(tmp_path / "src", tmp_path / "dest")
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["a"]
    with pytest.raises(FileNotFoundError):
        atomic_copytree(tmp_path / "missing", tmp_path / "dest")
    assert (tmp_path / "dest" / "a").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest", "src"]


def test_sigkill_mid_write_leaves_the_old_or_the_whole_new_file(tmp_path):
    """A child rewrites a 16 MB file in a loop; SIGKILL lands at a different point each time."""
    path = tmp_path / "big.txt"
    atomic_write_text(path, "0" * (1 << 24))
    child = textwrap.dedent(f"""
        import sys
        from evokd.io import atomic_write_text
        print("ready", flush=True)
        i = 1
        while True:
            atomic_write_text({str(path)!r}, str(i % 10) * (1 << 24))
            i += 1
    """)
    for n in range(6):
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.04 * n)  # where the kill lands; not a timing assertion
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        data = path.read_bytes()
        assert len(data) == 1 << 24 and len(set(data)) == 1
    for leftover in tmp_path.glob(".big.txt.*.tmp"):  # a kill leaves its temporary, never the file
        leftover.unlink()


def test_atomic_writes_get_the_permissions_open_would_give(tmp_path):
    """mkstemp creates 0600 files; a report or dataset written atomically must be as readable as
    one written with open() (0644 under umask 022)."""
    import os

    from evokd.io import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777
