"""The real DVC pipeline, end to end, on a tiny TREC configuration (real MiniLM student)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import run

pytestmark = pytest.mark.slow


def stages_run(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([^']+)'", output))


def test_repro_then_more_rounds_runs_only_the_new_ones(project):
    root = project(slots=3)

    first = run(["dvc", "repro"], root)
    ran = stages_run(first.stdout)
    assert {"prepare", "plan", "analyze@0", "report"} <= ran
    assert {f"{v}@{k}" for v in ("synthesize", "label", "train", "evaluate", "analyze") for k in (1, 2, 3)} <= ran
    # Round 3 is an inactive slot (placeholders); its JSONL outputs are not zero bytes, so DVC
    # does not bury real warnings under "'data/rounds/3/labelled.jsonl' is empty."
    assert "rounds/3/" not in "".join(re.findall(r"'([^']*)' is empty", first.stdout + first.stderr))
    assert (root / "data/rounds/3/labelled.jsonl").read_text() == "\n"

    summary = json.loads((root / "metrics/summary.json").read_text())
    assert list(summary) == ["score", "accuracy", "rounds_run", "accepted", "tokens", "cost_usd"]
    assert summary["rounds_run"] == 2 and summary["accepted"] > 0 and summary["tokens"] == 0
    diag = json.loads((root / "reports/diagnostics.json").read_text())
    assert diag["metric"] == "macro_f1"
    assert len(diag["per_round"]) == 3 and summary["score"] == diag["per_round"][-1]
    assert diag["teacher"]["provider"] == "simulated" and diag["teacher"]["requests"] == 0
    assert (root / "metrics/scores.csv").read_text().startswith(
        "round,score,macro_f1,accuracy,tokens,cost_usd,total_tokens,total_cost_usd\n")
    assert "| round | macro-F1 |" in (root / "reports/report.md").read_text()
    # The confusion plot's rows are the test split's (48 questions), the last round's answers.
    assert len(json.loads((root / "metrics/confusion.json").read_text())) == 48
    assert "data:image/svg+xml;base64," in (root / "reports/report.html").read_text()

    # Per-round data: stable unique ids, joins by id between labelled samples and feedback.
    labelled = [json.loads(x) for x in (root / "data/rounds/1/labelled.jsonl").read_text().splitlines()]
    feedback = [json.loads(x) for x in (root / "data/rounds/1/feedback.jsonl").read_text().splitlines()]
    assert labelled and len({r["id"] for r in labelled}) == len(labelled)
    assert {r["id"] for r in feedback} == {r["id"] for r in labelled}
    assert all(r["id"].startswith("r1-") for r in labelled)
    analysis = json.loads((root / "data/rounds/1/analysis.json").read_text())
    assert analysis["round"] == 1 and analysis["summary"]
    analysis0 = json.loads((root / "data/rounds/0/analysis.json").read_text())  # analyze@0's
    assert analysis0["round"] == 0 and analysis0["summary"]
    # Slot 3 is inactive: placeholders only, no checkpoint.
    assert (root / "models/rounds/3/INACTIVE").exists()
    assert json.loads((root / "metrics/rounds/3.json").read_text())["active"] is False

    # The checkpoint loads with transformers.pipeline and predicts a known label.
    from transformers import pipeline

    clf = pipeline("text-classification", model=str(root / "models/rounds/2"), device=-1)
    labels = json.loads((root / "data/prepared/labels.json").read_text())["labels"]
    assert clf("Who wrote Hamlet ?")[0]["label"] in labels

    # Outputs are DVC-tracked, not left for git to pick up.
    status = run(["git", "status", "--porcelain"], root).stdout
    assert "model.safetensors" not in status and "data/prepared" not in status

    # Up to date: nothing re-runs, also once Python has written bytecode beside the code the
    # stages depend on (it does wherever PYTHONDONTWRITEBYTECODE is unset; .dvcignore skips it).
    for folder in ("student", "teachers", "tasks", "data"):
        cache = root / "evokd" / folder / "__pycache__"
        cache.mkdir(exist_ok=True)
        (cache / "loop.cpython-311.pyc").write_bytes(b"\x00bytecode")
    again = run(["dvc", "repro"], root)
    assert stages_run(again.stdout) == set()

    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "two rounds"], root)
    more = run(["dvc", "exp", "run", "-S", "rounds=3"], root)
    ran = stages_run(more.stdout)
    assert {f"{v}@3" for v in ("synthesize", "label", "train", "evaluate", "analyze")} <= ran
    assert not any(s.endswith(("@0", "@1", "@2")) for s in ran), ran
    assert "prepare" not in ran
    summary = json.loads((root / "metrics/summary.json").read_text())
    assert summary["rounds_run"] == 3 and len(json.loads((root / "reports/diagnostics.json").read_text())["per_round"]) == 4

    # `dvc exp show` has the headline metrics only: no diagnostics to filter out.
    shown = run(["dvc", "exp", "show", "--json"], root).stdout
    assert '"accepted"' in shown and '"wall_s"' not in shown and '"label_disagreement"' not in shown

    # More rounds than slots: a clear message that says how to add slots.
    too_many = run(["dvc", "exp", "run", "-S", "rounds=5"], root, check=False)
    assert too_many.returncode != 0
    assert "evokd slots 5" in too_many.stdout + too_many.stderr
