"""train (round k, step 3): continue round k-1's student on the new batch plus a review sample of
earlier data (replay keeps it from forgetting what it learnt before)."""

from __future__ import annotations

from evokd.config import Config
from evokd.data.sampling import draw_review
from evokd.io import atomic_copytree, read_json, read_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds.stage import round_stage
from evokd.student import train_student
from evokd.tasks import get_task


def train(cfg: Config, k: int, prepared: Prepared = Prepared()) -> dict:
    rnd = Round(k)
    labels = read_json(prepared.labels)["labels"]
    new = read_jsonl(rnd.labelled)
    if not new:
        # Nothing accepted this round: the student stays as it was.
        atomic_copytree(rnd.previous.model, rnd.model)
        return {"examples": 0, "new": 0, "review": 0, "note": "no accepted samples; student unchanged"}
    review = draw_review(read_jsonl(rnd.previous.train_set), int(round(cfg.train.review_ratio * len(new))),
                         seed=cfg.seed * 1000 + k, new=new if cfg.train.review_balance else None)
    log = train_student(get_task(cfg.task), str(rnd.previous.model), new + review, labels, cfg.train,
                        rnd.model, seed=cfg.seed * 1000 + k, epochs=cfg.train.epochs, desc=f"train@{k}")
    return {**log, "new": len(new), "review": len(review)}


if __name__ == "__main__":
    round_stage("train", train)
