"""analyze: the teacher reads the student's right and wrong answers on the new batch and says
what it gets wrong. It sees generated and seed data only, never the test split."""

from __future__ import annotations

from evokd.config import Config
from evokd.io import read_json, read_jsonl, write_json
from evokd.paths import Prepared, Round
from evokd.teachers.base import Teacher


def select_feedback(cfg: Config, rows: list[dict]) -> list[dict]:
    """At most analyze.n_wrong wrong and analyze.n_correct right answers, in a stable order."""
    wrong = [r for r in rows if not r["correct"]]
    right = [r for r in rows if r["correct"]]
    return wrong[: cfg.analyze.n_wrong] + right[: cfg.analyze.n_correct]


def analyze(cfg: Config, teacher: Teacher, k: int, rows: list[dict], labels: list[str]) -> dict:
    analysis = teacher.analyze(k, rows, labels)
    shown = select_feedback(cfg, rows)
    return {"round": k, **analysis, "shown": [r["id"] for r in shown]}


def run(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
    rnd = Round(k)
    labels = read_json(prepared.labels)["labels"]
    analysis = analyze(cfg, teacher, k, read_jsonl(rnd.feedback), labels)
    write_json(rnd.analysis, analysis)
    return {"weak_labels": analysis.get("weak_labels", [])}
