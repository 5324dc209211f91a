"""Comparing teacher prompt sets through DVC, for real (docs/compare-prompts.md).

Two prompt sets, prompts/default and prompts/concise, go through `dvc exp run -S
teacher.prompts=...` against a server whose answers depend on the prompt it gets
(tests/fake_openai.py, `PromptSensitive`: it mislabels far more texts when its labelling prompt
spells out less). `dvc exp show`, `dvc metrics diff` and `dvc plots diff` must then show the
difference, and scripts/exp_spread.py must summarise the runs per prompt set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run
from evokd.config import parse_config
from evokd.teachers.openai import OpenAITeacher
from fake_openai import PromptSensitive, fake_openai, instruction_words  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-planted-PROMPTS-0ddba11"
LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def label_prompt_words(params: dict, prompts: Path) -> int:
    """Instruction words (its system message) of a prompt set's labelling request, rendered by
    the teacher itself."""
    params = json.loads(json.dumps(params))
    params["teacher"].update({"provider": "openai", "model": "fake-model", "prompts": str(prompts),
                              "base_url": "http://127.0.0.1:9/v1"})
    teacher = OpenAITeacher(parse_config(params), client=object())
    sent = []

    def record(requests):
        sent.extend(requests)
        return [{"content": '{"labels": []}', "finish_reason": "stop", "usage": None} for _ in requests]

    teacher.dispatcher.run = record
    teacher.label([{"id": "a", "text": "Who built the first lighthouse ?"}], LABELS)
    return instruction_words(sent[0].messages)


def exp_rows(shown: list) -> dict:
    """name -> (params.yaml data, metrics/summary.json data, commit) of `dvc exp show --json`."""
    rows = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                rows[rev["name"]] = (data["params"]["params.yaml"]["data"],
                                     data["metrics"]["metrics/summary.json"]["data"], rev["rev"])
    return rows


def diagnostics(root: Path, commit: str) -> dict:
    """An experiment's reports/diagnostics.json (not a DVC metric: committed with the experiment)."""
    return json.loads(run(["git", "show", f"{commit}:reports/diagnostics.json"], root).stdout)


def test_prompt_sets_compare_through_dvc_experiments(project, fake_openai):
    import yaml

    root = project(slots=2, **{"teacher.provider": "openai", "teacher.model": "fake-model",
                               "teacher.base_url": fake_openai.url, "teacher.backoff_s": 0.01,
                               "synthesize.batches": 2, "label.batch_size": 4,
                               "label.relabel_fraction": 1.0})
    params = yaml.safe_load((root / "params.yaml").read_text())
    words = {name: label_prompt_words(params, root / "prompts" / name) for name in ("default", "concise")}
    assert words["concise"] < words["default"], words
    # Careful with the default set's labelling prompt, sloppy with the concise one's.
    fake_openai.responder = PromptSensitive(careful_words=(words["default"] + words["concise"]) / 2)
    env = {"OPENAI_API_KEY": KEY}
    for name in ("default", "concise"):
        run(["dvc", "exp", "run", "-n", name, "-S", f"teacher.prompts=prompts/{name}"], root, env=env)
    check_comparison(root, params["seed"])


def check_comparison(root: Path, seed: int) -> None:
    """What DVC shows of the experiments `default` and `concise` in the project at `root`."""
    rows = exp_rows(json.loads(run(["dvc", "exp", "show", "--json"], root).stdout))
    assert {name: rows[name][0]["teacher"]["prompts"] for name in ("default", "concise")} == {
        "default": "prompts/default", "concise": "prompts/concise"}
    default, concise = rows["default"][1], rows["concise"][1]
    # The sloppy labeller disagrees with itself far more (independent slips in both labellings).
    second = {name: diagnostics(root, rows[name][2])["label_disagreement"]["second_labelling"]
              for name in ("default", "concise")}
    # (accepted samples only: 12 texts per run, less duplicates)
    assert second["default"]["samples"] >= 5 and second["concise"]["samples"] >= 5, second
    assert second["concise"]["rate"] >= second["default"]["rate"] + 0.25, second
    assert default["score"] != concise["score"]  # students trained on other labels

    diff = json.loads(run(["dvc", "metrics", "diff", "default", "concise", "--json"], root).stdout)
    summary = diff["metrics/summary.json"]  # headline metrics only (docs/report.md)
    assert summary["score"]["old"] == default["score"] and summary["score"]["new"] == concise["score"]
    params_diff = json.loads(run(["dvc", "params", "diff", "default", "concise", "--json"], root).stdout)
    assert params_diff["params.yaml"]["teacher.prompts"] == {"old": "prompts/default", "new": "prompts/concise"}

    plots = json.loads(run(["dvc", "plots", "diff", "default", "concise", "--json"], root).stdout)
    by_rev: dict = {}  # {"data": {plot: [{"revisions", "content": <vega-lite, its data.values>}]}}
    for plot in plots["data"].values():
        for item in plot:
            for point in item["content"]["data"]["values"]:
                if point.get("field") == "score":  # the score-per-round plot (others have no "field")
                    by_rev.setdefault(point["rev"], []).append(float(point["score"]))
    assert set(by_rev) == {"default", "concise"} and by_rev["default"] != by_rev["concise"], by_rev

    shown = run(["dvc", "exp", "show", "--json"], root).stdout
    out = subprocess.run([sys.executable, str(ROOT / "scripts/exp_spread.py"), "--by", "teacher.prompts",
                          "--metric", "score", "--json"],
                         input=shown, capture_output=True, text=True, check=True).stdout
    spread = {row["group"]["teacher.prompts"]: row for row in json.loads(out)}
    assert spread["prompts/concise"]["metrics"]["score"]["mean"] == concise["score"]
    assert spread["prompts/default"]["metrics"]["score"]["mean"] == default["score"]
    assert spread["prompts/default"]["runs"] == ["default"] and spread["prompts/default"]["seeds"] == [seed]
