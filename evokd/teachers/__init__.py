"""Teachers: who writes, labels and analyses samples. All calls go through `Teacher`."""

from __future__ import annotations

from evokd.config import Config
from evokd.teachers.base import Teacher


def make_teacher(cfg: Config) -> Teacher:
    """The teacher named by `teacher.provider`."""
    if cfg.teacher.provider == "simulated":
        if cfg.task == "ner":
            from evokd.teachers.simulated_ner import SimulatedNerTeacher

            return SimulatedNerTeacher(cfg)
        from evokd.teachers.simulated import SimulatedTeacher

        return SimulatedTeacher(cfg)
    raise NotImplementedError(cfg.teacher.provider)  # config validation lists the providers
