"""The task seam: what differs between text classification and NER, behind one interface, so
that the round steps (evokd.rounds) never branch on `cfg.task`.

A task knows how to load its dataset, name its label set (classes, or entity types), draw the
seed set, train and run the student, score it, judge a feedback answer right or wrong, and turn
a teacher's labelling answer into sample fields (or a rejection with a reason).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from evokd.config import Config, DatasetConfig, TrainConfig


@dataclass
class Answer:
    """A teacher's labelling answer, checked: the fields to add to the sample, or a rejection
    `reason` (+ `detail`); `repairs` counts fixes made on the way; `record` is what a rejected
    sample keeps of the answer."""

    fields: dict | None
    reason: str | None = None
    detail: str | None = None
    repairs: Counter = field(default_factory=Counter)
    record: dict = field(default_factory=dict)


class Task(ABC):
    """One kind of prediction problem. Subclasses are stateless."""

    name: str
    # The headline metric (in each round's scores and in metrics/summary.json as `metric`).
    metric: str
    # Score columns of metrics/scores.csv and the report table, with their display names.
    columns: dict[str, str]

    @abstractmethod
    def load(self, dataset: DatasetConfig) -> dict[str, list[dict]]:
        """All configured splits ('train', 'test', maybe 'dev'), checked against each other."""

    @abstractmethod
    def label_set(self, train: list[dict]) -> list[str]:
        """The schema the teacher labels with: classes, or entity types (sorted)."""

    @abstractmethod
    def label_counts(self, rows: list[dict]) -> dict[str, int]:
        """How often each label (class, or entity type) occurs in `rows`."""

    @abstractmethod
    def draw_seed(self, rows: list[dict], labels: list[str], shots: int, seed: int,
                  source: str) -> list[dict]:
        """The k-shot seed set: `shots` samples per label."""

    @abstractmethod
    def train(self, init_from: str, examples: list[dict], labels: list[str], cfg: TrainConfig,
              out_dir: str | Path, seed: int, epochs: int, desc: str) -> dict:
        """Fine-tune from `init_from` and save the checkpoint to `out_dir`; return the log."""

    @abstractmethod
    def score(self, cfg: Config, model_dir: str | Path, test: list[dict], labels: list[str]) -> dict:
        """Test-split metrics of one checkpoint: `self.metric`, the columns, `per_label`."""

    @abstractmethod
    def feedback(self, cfg: Config, model_dir: str | Path, rows: list[dict]) -> list[dict]:
        """Each row with the student's answer: `predicted`, `confidence`, `correct`."""

    def show_label(self, row: dict) -> str:
        """A sample's label as a person reads it in the report: the class (or, for a rejected
        sample, what the teacher answered)."""
        value = row.get("label")
        return "(none)" if value is None else str(value)

    @abstractmethod
    def apply_answer(self, sample: dict, answer: dict, labels: list[str]) -> Answer:
        """Check a teacher's labelling answer for `sample` against the schema."""
