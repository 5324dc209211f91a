"""Everything that differs between tasks (classification, NER), behind one seam (`Task`).

`get_task(cfg.task)` is the only place that looks at the task's name; the rest of evokd asks
the task object (formats, label sets, seed draw, answer checks, reply schemas, prompt example
lines, the labels of a row, ...). The task modules import only light code at their top; each
task's heavy imports (torch, transformers, seqeval) happen inside its methods. Tasks import
neither student nor teacher code.

To add a task: a module here with a `Task` subclass, its class in `_CLASSES`, its name in
config.py's `task: Literal[...]`, its prompt templates under `prompts/<set>/<name>/`, and a
simulated teacher named by its `simulated_teacher`.
"""

from __future__ import annotations

from evokd.errors import ConfigError
from evokd.tasks.base import Answer, Task
from evokd.tasks.classification import ClassificationTask
from evokd.tasks.ner_task import NerTask

__all__ = ["Answer", "Task", "get_task", "format_mismatch", "TASKS"]

_CLASSES: dict[str, type[Task]] = {cls.name: cls for cls in (ClassificationTask, NerTask)}
TASKS = tuple(_CLASSES)


def get_task(name: str) -> Task:
    """The task named by params.yaml's `task`."""
    if name not in _CLASSES:
        raise ConfigError(f"task: {name!r} is not one of {', '.join(TASKS)}")
    return _CLASSES[name]()


def format_mismatch(name: str, fmt: str) -> str | None:
    """Why `dataset.format: <fmt>` does not fit task `name`, as the end of a config error; None
    when it fits. A task that reads one format says so; else the task that reads `fmt` is named."""
    task = get_task(name)
    if fmt in task.formats:
        return None
    readers = [other for other, cls in _CLASSES.items() if fmt in cls.formats]
    if len(task.formats) == 1 or not readers:
        return f"task: {name} reads {task.reads} (dataset.format: {', '.join(task.formats)})"
    return f"{fmt} is read for task: {readers[0]}"
