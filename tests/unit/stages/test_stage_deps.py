"""Every module a stage's code imports is one of that stage's DVC dependencies.

DVC re-runs a stage only when a listed dependency changes. A module missing from the list means an
edit there (a bug fix in evokd/io.py, say) silently leaves every output as the old code made it,
and `dvc status` says all is up to date. Each stage is its script, stages/<verb>.py, and dvc.yaml
lists the script and the whole library (`evokd`) as its code; this test follows each script's
imports statically (at any depth, including the imports inside functions, and the runner's) and
checks that dvc.yaml lists each one, as a file or through a folder above it, so that a narrower
list could never go stale unnoticed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
VERBS = ["prepare", "probe", "plan", "synthesize", "label", "train", "evaluate", "analyze", "report"]


def module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    return None


def _runtime_nodes(tree: ast.AST):
    """ast.walk, minus the bodies of `if TYPE_CHECKING:` (imports for type hints never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            todo.extend(node.orelse)
            continue
        todo.extend(ast.iter_child_nodes(node))


def imported(path: Path, top_level_only: bool = False) -> set[str]:
    """The evokd modules `path` imports anywhere in its body (or only at its top level)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    if path.name == "__init__.py":
        package = ".".join(path.relative_to(ROOT).parent.parts)
    found: set[str] = set()
    for node in (tree.body if top_level_only else _runtime_nodes(tree)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] in ("evokd", "stages"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] not in ("evokd", "stages"):
                continue
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names if module_file(f"{base}.{a.name}"))
    return found


def runs_code(path: Path) -> bool:
    """False for a package marker that holds only a docstring and constants (`__version__`)."""
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            continue
        return True
    return False


def closure(roots: list[str]) -> set[str]:
    """Files of the modules reachable from `roots`, with the packages they execute on import.

    A module imported by name may have any of its functions called, so all its imports count,
    lazy ones included. A package's __init__ that runs only because one of its submodules is
    imported contributes its top-level imports: its functions are not called that way (importing
    evokd.teachers.base runs evokd/teachers/__init__.py, but not make_teacher)."""
    seen: set[str] = set()
    parents: set[str] = set()
    todo = [(name, False) for name in roots]
    while todo:
        name, as_parent = todo.pop()
        if name in seen or (as_parent and name in parents):
            continue
        (parents if as_parent else seen).add(name)
        parts = name.split(".")
        todo.extend((".".join(parts[:i]), True) for i in range(1, len(parts)))
        if (path := module_file(name)) is not None:
            todo.extend((n, False) for n in imported(path, top_level_only=as_parent))
    files = {module_file(n) for n in seen | parents} - {None}
    return {str(f.relative_to(ROOT)) for f in files if runs_code(f)}


def _stages() -> dict[str, dict]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: body.get("do", body) for name, body in stages.items()}


def stage_deps() -> dict[str, list[str]]:
    return {name: body.get("deps", []) for name, body in _stages().items()}


def stage_cmd(stage: str) -> str:
    return _stages()[stage]["cmd"]


def covered(file: str, deps: list[str]) -> bool:
    return any(file == d or file.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", VERBS)
def test_stage_lists_its_script_and_every_module_it_imports(stage):
    deps = stage_deps()[stage]
    assert f"stages/{stage}.py" in deps
    assert f"python stages/{stage}.py" in stage_cmd(stage)
    missing = sorted(f for f in closure([f"stages.{stage}"]) if not covered(f, deps))
    assert not missing, f"dvc.yaml stage {stage!r} imports these but does not depend on them: {missing}"


def test_every_stage_is_checked():
    assert set(stage_deps()) == set(VERBS)
    assert sorted(p.stem for p in (ROOT / "stages").glob("*.py") if p.stem != "__init__") == sorted(VERBS)


def test_code_deps_exist():
    for stage, deps in stage_deps().items():
        for dep in deps:
            if dep.startswith(("evokd", "stages")):
                assert (ROOT / dep).exists(), f"dvc.yaml stage {stage!r} depends on missing {dep}"


def test_imports_run_one_way():
    """The stages use the library, never the other way; a stage never imports another stage
    (what two stages share belongs in evokd/); nothing a stage runs imports the CLI."""
    for path in (ROOT / "evokd").rglob("*.py"):
        assert not {m for m in imported(path) if m.split(".")[0] == "stages"}, path
    for verb in VERBS:
        assert not {m for m in imported(ROOT / "stages" / f"{verb}.py") if m.split(".")[0] == "stages"}, verb
        assert "evokd/cli.py" not in closure([f"stages.{verb}"]), verb


def test_the_import_walk_sees_imports_inside_functions(tmp_path):
    """The walk is what makes the check worth anything: a lazy import (the project's style for
    heavy modules) must count."""
    files = closure(["stages.train"])
    assert "evokd/student/loop.py" in files  # imported inside fine_tune, not at the top
    assert "evokd/rounds/spending.py" in files  # the runner builds a teacher inside a function


def test_only_prepare_depends_on_the_dataset_params():
    """The teacher stages get the task context from data/prepared/dataset.json: as a param, its
    text would be recorded in dvc.lock once per teacher stage (BENCHMARKS.md, "Pipeline overhead")."""
    stages = _stages()
    for name, body in stages.items():
        params = [p for p in body.get("params", []) if isinstance(p, str)]
        assert ("dataset" in params or any(p.startswith("dataset.") for p in params)) == (name == "prepare"), name
    for name in ("probe", "synthesize", "label", "analyze"):
        assert any(d in ("data/prepared", "data/prepared/dataset.json") for d in stage_deps()[name]), name
