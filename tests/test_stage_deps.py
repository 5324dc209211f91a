"""Every module a stage's code imports is one of that stage's DVC dependencies.

DVC re-runs a stage only when a listed dependency changes. A module missing from the list means an
edit there (a bug fix in evokd/io.py, say) silently leaves every output as the old code made it,
and `dvc status` says all is up to date. This test follows each stage's imports statically (at
any depth, including the imports inside functions) from the modules that run it, and checks that
dvc.yaml lists each one, as a file or through a folder above it.

evokd/cli.py is the edge, not a dependency: it parses arguments and hands over to
`evokd.rounds.stage` (so that editing help text re-runs nothing).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]

# What runs each stage, besides evokd/rounds/<stage>.py. The teacher stages also build a teacher
# (evokd.rounds.spending.round_teacher, which cli.py hands to the runner).
RUNNER = ["evokd.rounds.stage"]
TEACHER = ["evokd.rounds.spending"]
ROOTS = {
    "prepare": RUNNER,
    "probe": RUNNER + TEACHER,
    "plan": [],
    "synthesize": RUNNER + TEACHER,
    "label": RUNNER + TEACHER,
    "train": RUNNER,
    "evaluate": RUNNER,
    "analyze": RUNNER + TEACHER,
    "report": [],
}


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
            found.update(a.name for a in node.names if a.name.split(".")[0] == "evokd")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] != "evokd":
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


def stage_deps() -> dict[str, list[str]]:
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    return {name: (body.get("do", body)).get("deps", []) for name, body in stages.items()}


def covered(file: str, deps: list[str]) -> bool:
    return any(file == d or file.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", sorted(ROOTS))
def test_stage_lists_every_module_it_imports(stage):
    deps = stage_deps()[stage]
    missing = sorted(f for f in closure([f"evokd.rounds.{stage}", *ROOTS[stage]]) if not covered(f, deps))
    assert not missing, f"dvc.yaml stage {stage!r} imports these but does not depend on them: {missing}"


def test_every_stage_is_checked():
    assert set(stage_deps()) == set(ROOTS)


def test_code_deps_exist():
    for stage, deps in stage_deps().items():
        for dep in deps:
            if dep.startswith("evokd"):
                assert (ROOT / dep).exists(), f"dvc.yaml stage {stage!r} depends on missing {dep}"


def test_cli_hands_the_teacher_stages_only_what_the_roots_list():
    """cli.py is not a dependency, so it must not import stage code the roots above miss: its
    evokd imports are the stage modules, the runner, the teacher factory, config and errors
    (parsing), and the non-stage commands' modules."""
    stage_side = {"evokd.rounds.stage", "evokd.rounds.spending", "evokd.config", "evokd.errors"}
    commands = {"evokd.rounds.plan", "evokd.teachers.openai", "evokd.share.export", "evokd.share",
                "evokd.share.remote_cache", "evokd.teachers.cache", "evokd.rounds",
                "evokd",  # the package itself, for `--version`
                "evokd.estimate",  # a user tool: no stage runs it
                "evokd.teachers.redact"}  # masks URL credentials in printed errors; writes nothing
    stages = {f"evokd.rounds.{verb}" for verb in ROOTS}
    unexpected = imported(ROOT / "evokd/cli.py") - stage_side - commands - stages
    assert not unexpected, f"cli.py imports {sorted(unexpected)}: add them to the stage roots above"


def test_the_import_walk_sees_imports_inside_functions(tmp_path):
    """The walk is what makes the check worth anything: a lazy import (the project's style for
    heavy modules) must count."""
    files = closure(["evokd.rounds.train"])
    assert "evokd/student/loop.py" in files  # imported inside train_classifier, not at the top
    assert "evokd/teachers/openai.py" not in files
