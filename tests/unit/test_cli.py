import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def evokd(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "evokd", *args], cwd=cwd, capture_output=True, text=True)


def stage(verb: str, *args, cwd=ROOT):
    """A stage script as dvc.yaml runs it: `python stages/<verb>.py [k]`."""
    return subprocess.run([sys.executable, str(ROOT / "stages" / f"{verb}.py"), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_help_lists_the_tools():
    out = evokd("--help")
    assert out.returncode == 0
    for tool in ("slots", "estimate", "teacher", "export", "cache"):
        assert tool in out.stdout


def test_stage_script_start_does_not_import_torch():
    """An inactive round slot writes placeholders: its process must stay cheap (no torch)."""
    code = ("import sys; sys.path.insert(0, '.'); import stages.synthesize, stages.train, stages.label, "
            "stages.evaluate, stages.analyze; print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.strip() == "False False", out.stderr


def test_cli_start_does_not_import_torch():
    code = "import sys, evokd.cli; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False False"


def test_bad_params_give_a_message_not_a_traceback(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text().replace("shots: 1", "shots: -1"))
    out = stage("plan", cwd=tmp_path)
    assert out.returncode == 2
    assert "shots" in out.stderr and "Traceback" not in out.stderr


def test_analyze_takes_round_0_and_the_other_round_verbs_do_not(tmp_path):
    # analyze@0 (prepare's student) is a stage; synthesize@0 etc. are not.
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    analyze0 = stage("analyze", "0", cwd=tmp_path)
    assert analyze0.returncode == 2 and "data/plan/0.json: missing" in analyze0.stderr
    synth0 = stage("synthesize", "0", cwd=tmp_path)
    assert synth0.returncode == 2 and "round: 0 is below 1" in synth0.stderr


def test_a_stage_run_by_hand_says_what_is_missing(tmp_path):
    """Out of order or out of range: a named error (exit 2) that says what to run, no traceback."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "slots.yaml").write_text((ROOT / "slots.yaml").read_text())
    beyond = stage("synthesize", "99", cwd=tmp_path)
    assert beyond.returncode == 2 and "round 99 is not a round slot" in beyond.stderr and "evokd slots 99" in beyond.stderr
    (tmp_path / "data/plan").mkdir(parents=True)
    (tmp_path / "data/plan/1.json").write_text('{"round": 1, "active": true}')
    early = stage("train", "1", cwd=tmp_path)
    assert early.returncode == 2 and "Traceback" not in early.stderr, early.stderr
    assert "train@1: data/" in early.stderr and "dvc repro train@1" in early.stderr
