"""Teachers: who writes, labels and analyses samples. All calls go through `Teacher`."""

from __future__ import annotations

from typing import Optional

from evokd.config import Config
from evokd.teachers.base import Teacher, Usage


def make_teacher(cfg: Config, api_key: Optional[str] = None, spent: Optional[Usage] = None) -> Teacher:
    """The teacher named by `teacher.provider`. `api_key` comes from the CLI (the environment);
    `spent` is what earlier stages of this pipeline used, for the budget."""
    if cfg.teacher.provider == "simulated":
        if cfg.task == "ner":
            from evokd.teachers.simulated_ner import SimulatedNerTeacher

            return SimulatedNerTeacher(cfg)
        from evokd.teachers.simulated import SimulatedTeacher

        return SimulatedTeacher(cfg)
    if cfg.teacher.provider == "openai":
        from evokd.teachers.openai import OpenAITeacher

        return OpenAITeacher(cfg, api_key=api_key, spent=spent)
    raise NotImplementedError(cfg.teacher.provider)  # config validation lists the providers
