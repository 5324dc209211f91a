"""The `evokd` command and the stage scripts follow the usual conventions: `--version`, help that
lists the tools, one meaning per option letter, and exit codes that tell a user error (2) from a
failure (1, 4) and from a submitted OpenAI batch (3) (docs/cli.md)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from evokd import errors
from evokd.cli import app
from evokd.edge import Exit, exit_code, user_errors
from fake_openai import fake_openai, status  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def evokd(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "evokd", *args], cwd=cwd, capture_output=True, text=True)


def test_version_prints_the_package_version():
    out = evokd("--version")
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert (out.returncode, out.stdout, out.stderr) == (0, f"evokd {version}\n", "")


def _commands(group, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for name, cmd in group.commands.items():
        out.append((prefix + name, cmd))
        if hasattr(cmd, "commands"):  # a group (typer has its own click)
            out += _commands(cmd, f"{prefix}{name} ")
    return out


def test_no_option_letter_means_two_things():
    """Across every command: a short option always stands for the same long option."""
    root = typer.main.get_command(app)
    meaning: dict[str, set[str]] = {}
    for _, cmd in [("", root)] + _commands(root):
        for param in cmd.params:
            longs = [o for o in param.opts if o.startswith("--")]
            for short in (o for o in param.opts if re.fullmatch(r"-\w", o)):
                meaning.setdefault(short, set()).update(longs)
    assert {k: v for k, v in meaning.items() if len(v) > 1} == {}
    assert meaning["-r"] == {"--remote"} and meaning["-p"] == {"--params"}


def test_help_lists_the_tools_and_no_stage_verbs():
    """A stage runs one way: dvc.yaml's `python stages/<verb>.py` (by hand: `dvc repro <stage>`)."""
    out = CliRunner().invoke(app, ["--help"], terminal_width=120)
    assert out.exit_code == 0
    text = out.output

    def where(name: str) -> int:
        found = re.search(rf"^\W*{name}\b", text, re.M)  # the command's row in its panel
        assert found, (name, text)
        return found.start()

    for tool in ["estimate", "export", "cache", "teacher", "slots"]:
        where(tool)
    for verb in ["prepare", "probe", "plan", "synthesize", "label", "train", "evaluate", "analyze", "report"]:
        assert not re.search(rf"^\W*{verb}\b", text, re.M), verb
    # Every exit code is in the help, so a user never has to look them up.
    flat = " ".join(text.split())
    for code in ("0 done;", "1 failed (", "2 user error (", "3 OpenAI batch submitted", "4 the teacher or"):
        assert code in flat


@pytest.mark.parametrize("error, code", [
    (errors.ConfigError("shots: must be at least 1"), 2),
    (errors.DataError("train.csv, line 3: no label"), 2),
    (errors.PipelineError("data/plan/1.json: missing"), 2),
    (errors.RemoteError("no DVC remote"), 2),
    (errors.BudgetExceeded("teacher.budget.max_usd reached"), 2),
    (errors.TeacherRefused("HTTP 401"), 2),
    (errors.BatchPending("submitted batch b-1"), 3),
    (errors.TeacherError("kept failing: HTTP 503, 6 tries"), 4),
    (errors.RemoteFailed("the DVC remote 'storage' failed"), 4),
    (errors.LaunchError("accelerate launch exited with 1"), 1),
])
def test_each_named_error_exits_with_its_documented_code(error, code, capsys):
    with pytest.raises(SystemExit) as stop:
        with user_errors():
            raise error
    assert stop.value.code == exit_code(error) == code
    err = capsys.readouterr().err
    assert str(error) in err and "Traceback" not in err
    assert err.startswith("evokd: " if code == Exit.BATCH_PENDING else "error: ")


def _params(tmp_path: Path, **teacher) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["teacher"].update(teacher)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_exit_codes_of_the_real_command(tmp_path, fake_openai):
    # 2: the command line is wrong (click's own usage error; argparse's for a stage script).
    assert evokd("slots", "0", cwd=tmp_path).returncode == 2
    stage = subprocess.run([sys.executable, str(ROOT / "stages/train.py"), "0"], cwd=tmp_path,
                           capture_output=True, text=True)
    assert stage.returncode == 2 and "below 1" in stage.stderr
    # 2: a stage run where there is no params.yaml: a named error, no traceback.
    missing = subprocess.run([sys.executable, str(ROOT / "stages/train.py"), "1"], cwd=tmp_path,
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "params.yaml" in missing.stderr and "Traceback" not in missing.stderr
    # 2: the endpoint refuses the key: retrying cannot help, the user must change something.
    fake_openai.script(status(401))
    refused = evokd("teacher", "check", "-p", str(_params(tmp_path, provider="openai", model="m",
                                                          base_url=fake_openai.url)))
    assert refused.returncode == 2 and "HTTP 401" in refused.stderr
    # 4: the endpoint keeps failing: nothing to change, run again when it recovers.
    fake_openai.script(status(503), status(503))
    failing = evokd("teacher", "check", "-p", str(_params(tmp_path, provider="openai", model="m",
                                                          base_url=fake_openai.url)))
    assert failing.returncode == 4 and "kept failing: HTTP 503" in failing.stderr
    # 2: no DVC project here, so no remote: the user runs it from the wrong folder.
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    no_remote = evokd("cache", "status", cwd=tmp_path)
    assert no_remote.returncode == 2 and "not a DVC project" in no_remote.stderr
