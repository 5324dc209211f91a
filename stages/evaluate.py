"""evaluate (round k, step 4): score round k's student on the test split, and run round k-1's
student on the new batch: its right and wrong answers (`feedback`) are what the teacher analyses
next. The test split never reaches the teacher."""

from __future__ import annotations

from evokd.config import Config
from evokd.io import read_json, read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds.stage import round_stage
from evokd.student import predict_rows
from evokd.tasks import get_task


def evaluate(cfg: Config, k: int, prepared: Prepared = Prepared()) -> dict:
    rnd = Round(k)
    task = get_task(cfg.task)
    labels = read_json(prepared.labels)["labels"]
    test = read_jsonl(prepared.test)
    result = task.score(test, predict_rows(task, cfg, rnd.model, test, desc="score test split"), labels)
    write_json(rnd.scores, {"round": k, "active": True, **result})
    batch = read_jsonl(rnd.labelled)
    feedback = task.feedback(batch, predict_rows(task, cfg, rnd.previous.model, batch))
    write_jsonl(rnd.feedback, feedback)
    return {**{col: result[col] for col in task.columns},
            "feedback_wrong": sum(not r["correct"] for r in feedback), "feedback_total": len(feedback)}


if __name__ == "__main__":
    round_stage("evaluate", evaluate)
