"""prepare (round 0): load the dataset, hold the test split out, draw the k-shot seed set, embed
the pool for the simulated teacher, and train the first student on the seed set.

It calls no teacher: round 0's teacher work is in stages of its own, `probe` (fresh texts for the
first feedback, and the seed check) and `analyze@0`, so that a teacher in batch mode (which stops
a stage until its batch is done) never makes DVC redo this expensive work."""

from __future__ import annotations

import logging

from evokd.config import Config
from evokd.data.loaders import load_reports
from evokd.data.textnorm import hold_out_test_repeats
from evokd.io import save_npy, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds.stage import plain_stage
from evokd.tasks import get_task

log = logging.getLogger(__name__)


def prepare(cfg: Config, prepared: Prepared = Prepared()) -> dict:
    from evokd.student.backbone import backbone_path
    from evokd.student import predict_rows, train_student
    from evokd.student.predict import embed
    task = get_task(cfg.task)

    splits = task.load(cfg.dataset)
    labels = task.label_set(splits["train"])
    cfg.dataset.check_label_descriptions(labels)  # before any work: a typo costs nothing
    train = hold_out_test_repeats(splits["train"], splits["test"], cfg.label.leak_overlap)
    removed = len(splits["train"]) - len(train)
    if removed:
        log.info("prepare: %d train row(s) repeat a test row and are held out", removed)
    seed = [{**r, "source_id": r["id"]} for r in task.draw_seed(train, labels, cfg.shots, cfg.seed, cfg.dataset.train)]

    prepared.root.mkdir(parents=True, exist_ok=True)
    write_jsonl(prepared.train, train)
    write_jsonl(prepared.test, splits["test"])
    write_jsonl(prepared.seed, seed)
    write_json(prepared.labels, {
        "task": cfg.task, "labels": labels,
        "counts": {name: len(rows) for name, rows in splits.items()},
        "train_per_label": task.label_counts(train),
        "train_rows_held_out_as_test_leaks": removed,
    })
    # The teacher stages read the dataset block (the task context of every prompt) here, their
    # dependency, not from params.yaml (evokd.rounds.stage.dataset_as_prepared).
    write_json(prepared.dataset, cfg.dataset.model_dump(mode="json"))
    backbone = backbone_path(cfg.train.backbone)
    if cfg.teacher.provider == "simulated":
        save_npy(prepared.train_embeddings, embed(
            backbone, [r["text"] for r in train], cfg.prepare.embed_batch_size,
            cfg.prepare.embed_max_length, cfg.train.threads, desc="embed pool",
            device=cfg.train.device))

    r0 = Round(0)
    log_train = train_student(task, backbone, seed, labels, cfg.train, r0.model, seed=cfg.seed,
                              epochs=cfg.train.seed_epochs, desc="train@0")
    scores = task.score(splits["test"], predict_rows(task, cfg, r0.model, splits["test"],
                                                     desc="score test split"), labels)
    write_json(r0.scores, {"round": 0, "active": True, **scores})
    # Round 0's feedback is not the seed set (the student answers what it was trained on
    # perfectly): the `probe` stage tests it on fresh teacher-written texts.
    write_jsonl(r0.train_set, seed)
    return {"labels": len(labels), "train": len(train), "test": len(splits["test"]),
            "seed": len(seed), "held_out_leaks": removed,
            # Rows of the dataset files not used, per split, by reason (and the first line of each).
            "dataset_rows_dropped": load_reports(splits),
            **{col: scores[col] for col in task.columns}, "train_log": log_train}


if __name__ == "__main__":
    plain_stage("prepare", prepare, meta=Round(0).meta("prepare"))
