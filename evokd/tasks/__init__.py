"""Task-specific formats, validation, metrics and students behind one seam (`Task`).

`get_task(cfg.task)` is the only place that looks at the task's name; the round steps call its
methods. Each task's heavy imports (torch, transformers, seqeval) happen inside its methods.
"""

from __future__ import annotations

from evokd.errors import ConfigError
from evokd.tasks.base import Answer, Task

__all__ = ["Answer", "Task", "get_task", "TASKS"]

TASKS = ("classification", "ner")


def get_task(name: str) -> Task:
    """The task named by params.yaml's `task`."""
    if name == "classification":
        from evokd.tasks.classification import ClassificationTask

        return ClassificationTask()
    if name == "ner":
        from evokd.tasks.ner_task import NerTask

        return NerTask()
    raise ConfigError(f"task: {name!r} is not one of {', '.join(TASKS)}")
