"""The student: a small pretrained encoder fine-tuned with transformers (torch imported lazily).

The stages reach it through the two functions below, with the task: a task declares what its
student is (`task.head`: "sequence" or "token", and `task.student_labels(labels)`: the head's
output names) and judges the student's answers (`task.score`, `task.feedback`); it never imports
student code. The student package dispatches on the head: one training factory
(`evokd.student.train.fine_tune`), one inference path (`evokd.student.predict`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evokd.config import Config, TrainConfig
    from evokd.tasks.base import Task


def train_student(task: Task, init_from: str, examples: list[dict], labels: list[str], cfg: TrainConfig,
                  out_dir: str | Path, seed: int, epochs: int, desc: str = "train") -> dict:
    """Fine-tune `task`'s student from `init_from` on `examples` (the task's samples) for the label
    set `labels`, save the checkpoint to `out_dir` and return the training log."""
    from evokd.student.train import fine_tune

    return fine_tune(task.head, init_from, examples, task.student_labels(labels), cfg, out_dir,
                     seed=seed, epochs=epochs, desc=desc)


def inference_opts(cfg: Config, **extra) -> dict:
    """The keyword arguments every prediction of the student takes from the run's settings:
    `evaluate.batch_size`, `train.max_length`, `train.threads`, `train.device` (plus `extra`,
    e.g. a progress label). One place, so evaluation, the probe teachers consult and the margin
    filter always score a checkpoint the same way."""
    return dict(batch_size=cfg.evaluate.batch_size, max_length=cfg.train.max_length,
                threads=cfg.train.threads, device=cfg.train.device, **extra)


def predict_rows(task: Task, cfg: Config, model_dir: str | Path, rows: list[dict], desc: str = "predict"):
    """The student in `model_dir` on `rows` (the task's samples): its output names and
    probabilities, (names, probs), which `task.score` and `task.feedback` read. A sequence head
    gives a (rows, names) matrix; a token head one (words, names) matrix per row."""
    opts = inference_opts(cfg, desc=desc)
    if task.head == "token":
        from evokd.student.tagger import predict_word_proba

        return predict_word_proba(model_dir, [r["tokens"] for r in rows], **opts)
    if task.head == "sequence":
        from evokd.student.predict import predict_proba

        return predict_proba(model_dir, [r["text"] for r in rows], **opts)
    raise ValueError(f"unknown student head {task.head!r} (sequence | token)")
