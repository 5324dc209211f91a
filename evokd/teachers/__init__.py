"""Teachers: who writes, labels and analyses samples. All calls go through `Teacher`."""

from __future__ import annotations

from importlib import import_module
from typing import Optional

from evokd.config import Config
from evokd.tasks import get_task
from evokd.teachers.base import Teacher, Usage


def make_teacher(cfg: Config, api_key: Optional[str] = None, spent: Optional[Usage] = None) -> Teacher:
    """The teacher named by `teacher.provider`. `api_key` comes from the CLI (the environment);
    `spent` is what earlier stages of this pipeline used, for the budget."""
    if cfg.teacher.provider == "simulated":
        # The task names its simulated teacher (tasks import no teacher code).
        module, cls = get_task(cfg.task).simulated_teacher.split(":")
        return getattr(import_module(module), cls)(cfg)
    if cfg.teacher.provider == "openai":
        from evokd.teachers.openai import OpenAITeacher

        return OpenAITeacher(cfg, api_key=api_key, spent=spent)
    raise NotImplementedError(cfg.teacher.provider)  # config validation lists the providers
