"""Hostile corpus, export: commands cannot destroy work. `evokd export DEST --force` replaces
only a folder that a previous export wrote (it holds MARKER); the project itself, any folder
around it, a file, a link, or a folder without the marker is refused with a message naming it,
and left exactly as it was."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evokd.errors import UserInputError
from evokd.share import export as export_mod
from evokd.share.export import MARKER, check_destination

ROOT = Path(__file__).resolve().parents[2]


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (git, DVC, params, data) as the current folder."""
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / ".dvc").mkdir()
    (root / ".dvc" / "config").write_text("[core]\n")
    (root / "data").mkdir()
    (root / "data" / "train.csv").write_text("text,label\nhi,A\n")
    (root / "dvc.yaml").write_text("stages: {}\n")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(root)
    return root


def evokd_export(project: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evokd", "export", *args], cwd=project,
                          capture_output=True, text=True, timeout=120)


# name -> (args, how to set up the destination (relative to the project), message regex)
REFUSALS = {
    "project_itself_forced": ((".", "--force"), None, r"\.: holds the current project"),
    "project_by_absolute_path_forced": (("{root}", "--force"), None, r"holds the current project"),
    "parent_of_project_forced": (("..", "--force"), None, r"\.\.: holds the current project"),
    "project_subfolder_forced": (("data", "--force"), None,
                                 r"data: exists, is not empty and is not a previous export \(no \.evokd-export\.json\)"),
    "project_subfolder_unforced": (("data",), None, r"data: exists, is not empty and is not a previous export"),
    "folder_with_a_fake_marker_forced": (("fake", "--force"), "fake_marker",
                                         r"fake: exists, is not empty and is not a previous export"),
    "folder_whose_marker_is_a_folder_forced": (("odd", "--force"), "marker_dir", r"odd: .*not a previous export"),
    "file_forced": (("data/train.csv", "--force"), None, r"data/train\.csv: is a file, not a previous export"),
    "link_to_project_forced": (("link", "--force"), "link", r"link: is a link"),
    "previous_export_unforced": (("out",), "previous", r"out: holds a previous export; pass --force"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_export_refuses_and_changes_nothing(project, name):
    args, setup, message = REFUSALS[name]
    args = [a.format(root=project) for a in args]
    if setup == "fake_marker":
        (project / "fake").mkdir()
        (project / "fake" / MARKER).write_text("not json")
        (project / "fake" / "notes.txt").write_text("mine")
    elif setup == "marker_dir":
        (project / "odd" / MARKER).mkdir(parents=True)
    elif setup == "link":
        os.symlink(project, project / "link")
    elif setup == "previous":
        (project / "out").mkdir()
        (project / "out" / MARKER).write_text(json.dumps({"written_by": "evokd export", "round": 1}))
    before = snapshot(project)
    out = evokd_export(project, *args)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr + out.stdout
    assert re.search(message, out.stderr), out.stderr
    assert snapshot(project) == before


def _fake_run(monkeypatch, project: Path) -> None:
    """What an export reads, faked: the run's facts and rows, and a round-0 student folder."""
    model = project / "models" / "rounds" / "0"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    facts = {"metric": "macro_f1", "test_score": 0.5, "round_cards": {}}
    monkeypatch.setattr(export_mod, "collect", lambda cfg: (dict(facts), [{"id": "a", "text": "t", "label": "A"}], 0))
    monkeypatch.setattr(export_mod, "write_model_card", lambda path, facts: path.write_text("card"))
    monkeypatch.setattr(export_mod, "write_merged_card", lambda path, facts, name: path.write_text("card"))


def test_export_writes_its_marker_and_force_replaces_only_that(project, monkeypatch):
    from evokd.config import load_config

    _fake_run(monkeypatch, project)
    cfg = load_config(project / "params.yaml")
    export_mod.export(cfg, "out")
    marker = json.loads((project / "out" / MARKER).read_text())
    assert marker == {"written_by": "evokd export", "round": 0}
    assert (project / "out" / "model.safetensors").read_bytes() == b"weights"
    (project / "out" / "stale.txt").write_text("from the last export")
    with pytest.raises(UserInputError, match="holds a previous export; pass --force"):
        export_mod.export(cfg, "out")
    export_mod.export(cfg, "out", force=True)
    assert not (project / "out" / "stale.txt").exists() and (project / "out" / MARKER).exists()
    # An empty folder is fine without --force; the project is untouched throughout.
    (project / "empty").mkdir()
    export_mod.export(cfg, "empty")
    assert (project / "data" / "train.csv").read_text() == "text,label\nhi,A\n"
    assert (project / ".git" / "HEAD").exists() and (project / "dvc.yaml").exists()


def test_check_destination_new_folder_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_destination(tmp_path / "new" / "deeper", force=True)
    check_destination(tmp_path / "new", force=False)


@pytest.mark.parametrize("dest,message", [(".", "holds the current project"), ("..", "holds the current project"),
                                          ("data", "is not a previous export"),
                                          ("{root}", "holds the current project")])
def test_forced_export_over_the_project_with_a_finished_run_is_refused(project, monkeypatch, dest, message):
    """With everything an export needs present (so nothing else stops it first), --force over
    the project, a folder around it or a folder of it deletes nothing."""
    from evokd.config import load_config

    _fake_run(monkeypatch, project)
    before = snapshot(project.parent)
    with pytest.raises(UserInputError, match=message):
        export_mod.export(load_config(project / "params.yaml"), dest.format(root=project), force=True)
    assert snapshot(project.parent) == before
