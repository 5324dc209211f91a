"""analyze (round k, step 5): the teacher reads the student's right and wrong answers on round k's
new batch (round 0: on the probe's fresh texts) and says what it gets wrong; round k+1's
generation is guided by it. It sees generated and seed data only, never the test split."""

from __future__ import annotations

from evokd.config import Config
from evokd.io import read_json, read_jsonl, write_json
from evokd.paths import Prepared, Round
from evokd.rounds.stage import round_stage
from evokd.teachers.base import Teacher, select_feedback


def analyze(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
    rnd = Round(k)
    labels = read_json(prepared.labels)["labels"]
    feedback = read_jsonl(rnd.feedback)
    analysis = teacher.analyze(k, feedback, labels)
    shown = select_feedback(cfg.analyze, feedback)
    write_json(rnd.analysis, {"round": k, **analysis, "shown": [r["id"] for r in shown]})
    return {"weak_labels": analysis.get("weak_labels", [])}


if __name__ == "__main__":
    round_stage("analyze", analyze, teacher=True, first=0)
