"""The pieces of the prompt comparison (docs/compare-prompts.md) that need no DVC run:
scripts/exp_spread.py's mean ± spread over `dvc exp show --json`, and the prompt-sensitive test
teacher (tests/fake_openai.py, `PromptSensitive`) that the end-to-end test compares against."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fake_openai import PromptSensitive, instruction_words, trec_truth

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts/exp_spread.py"
LABELS = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def _rev(name: str, seed: int, prompts: str, score: float | None) -> dict:
    metrics = {"metrics/summary.json": {"data": {"score": score, "teacher": {"tokens": 100}}}} if score is not None \
        else {"metrics/summary.json": {"error": {"type": "FileNotFoundError", "msg": "no file"}}}
    return {"rev": f"{name}-sha", "name": name, "error": None, "experiments": None, "data": {
        "rev": f"{name}-sha", "params": {"params.yaml": {"data": {"seed": seed, "teacher": {"prompts": prompts}}}},
        "metrics": metrics}}


# The shape of `dvc exp show --json` (DVC 3): the workspace row, then each baseline commit with
# its experiments; the workspace and the baseline must not be counted.
SHOWN = [
    _rev("workspace", 3, "prompts/concise", 0.99),
    {**_rev("main", 42, "prompts/default", 0.99), "experiments": [
        {"name": n, "executor": None, "revs": [_rev(n, seed, p, score)]}
        for n, seed, p, score in [("d1", 1, "prompts/default", 0.70), ("d2", 2, "prompts/default", 0.74),
                                  ("d3", 3, "prompts/default", 0.78), ("c1", 1, "prompts/concise", 0.60),
                                  ("c2", 2, "prompts/concise", 0.64), ("c3", 3, "prompts/concise", None)]]},
]


def spread(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], input=json.dumps(SHOWN),
                          capture_output=True, text=True)


def test_exp_spread_groups_experiments_by_param():
    out = spread("--by", "teacher.prompts", "--metric", "score", "--metric", "teacher.tokens", "--json")
    assert out.returncode == 0, out.stderr
    rows = {row["group"]["teacher.prompts"]: row for row in json.loads(out.stdout)}
    default, concise = rows["prompts/default"], rows["prompts/concise"]
    assert default["runs"] == ["d1", "d2", "d3"] and default["seeds"] == [1, 2, 3]
    assert default["metrics"]["score"] == pytest.approx({"n": 3, "mean": 0.74, "sd": 0.04, "min": 0.70, "max": 0.78})
    # c3 failed (no metrics): counted as a run, not as a score
    assert concise["metrics"]["score"] == pytest.approx({"n": 2, "mean": 0.62, "sd": 0.02 * 2 ** 0.5, "min": 0.60, "max": 0.64})
    assert concise["metrics"]["teacher.tokens"]["mean"] == 100.0


def test_exp_spread_prints_mean_and_spread():
    out = spread("--by", "teacher.prompts", "--metric", "score")
    assert out.stdout.splitlines() == [
        "teacher.prompts=prompts/concise  (runs: 3; seeds: 1, 2, 3)",
        "  score: 0.6200 ± 0.0283  (n=2; min 0.6000, max 0.6400)",
        "teacher.prompts=prompts/default  (runs: 3; seeds: 1, 2, 3)",
        "  score: 0.7400 ± 0.0400  (n=3; min 0.7000, max 0.7800)"]


def test_exp_spread_refuses_what_is_not_exp_show_json():
    bad = subprocess.run([sys.executable, str(SCRIPT), "--by", "seed", "--metric", "score"],
                         input="not json", capture_output=True, text=True)
    assert bad.returncode == 2 and "dvc exp show --json" in bad.stderr
    empty = subprocess.run([sys.executable, str(SCRIPT), "--by", "seed", "--metric", "score"],
                           input="[]", capture_output=True, text=True)
    assert empty.returncode == 1 and "no finished experiments" in empty.stderr


def _label_request(system: str, texts: list[str], seed: int = 42) -> dict:
    # evokd's data fencing: one JSON object a line inside a <texts> block
    rows = "\n".join(json.dumps({"id": n, "text": t}) for n, t in enumerate(texts, 1))
    user = f"Label these texts.\n<texts>\n{rows}\n</texts>"
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}], "seed": seed,
            "response_format": {"type": "json_schema", "json_schema": {"name": "evokd_label"}}}


def test_prompt_sensitive_teacher_writes_and_labels_by_its_prompt():
    teacher = PromptSensitive(careful_words=30)
    asked = {"messages": [{"role": "system", "content": f"Labels: {', '.join(LABELS)}."},
                          {"role": "user", "content": "Write 200 new texts."}], "seed": 42,
             "response_format": {"type": "json_schema", "json_schema": {"name": "evokd_synthesize_random"}}}
    texts = json.loads(teacher(asked)["content"])["texts"]
    assert len(texts) == 200 and {trec_truth(t) for t in texts} == set(LABELS)  # every label, by wording
    careful = "You are a careful annotator. " + "Read each text and give it one label of " * 3 + ", ".join(LABELS)
    sloppy = "Label: " + ", ".join(LABELS)
    assert instruction_words([{"role": "system", "content": careful}, {"role": "user", "content": "1. x"}]) >= 30
    assert instruction_words([{"role": "system", "content": sloppy}, {"role": "user", "content": careful}]) < 30
    for system, low, high in ((careful, 0.0, 0.12), (sloppy, 0.38, 0.62)):
        answers = json.loads(teacher(_label_request(system, texts))["content"])["labels"]
        assert len(answers) == len(texts)
        wrong = sum(a["label"] != trec_truth(texts[a["id"] - 1]) for a in answers)
        assert low <= wrong / len(texts) <= high, (system, wrong)
    # another draw (sampling seed) slips on other texts
    first = json.loads(teacher(_label_request(sloppy, texts, seed=42))["content"])["labels"]
    second = json.loads(teacher(_label_request(sloppy, texts, seed=43))["content"])["labels"]
    assert first != second
