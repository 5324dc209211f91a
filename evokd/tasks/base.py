"""The task seam: what differs between text classification and NER, behind one interface, so
that the round steps (evokd.rounds) never branch on `cfg.task`.

A task knows how to load its dataset, name its label set (classes, or entity types), draw the
seed set, say what its student is (`head`, `student_labels`; `evokd.student` builds, trains and
runs it: a task imports no student code), score the student's predictions, judge a feedback
answer right or wrong, and turn a teacher's labelling answer into sample fields (or a rejection
with a reason).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field

from evokd.config import DatasetConfig


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
    # The student's head, which `evokd.student` dispatches on: "sequence" (one label per text)
    # or "token" (one tag per word).
    head: str
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

    def student_labels(self, labels: list[str]) -> list[str]:
        """The names of the student head's outputs for the label set `labels` (the classes
        themselves; NER: their BIO tags)."""
        return labels

    @abstractmethod
    def score(self, test: list[dict], prediction: tuple, labels: list[str]) -> dict:
        """Test-split metrics of the student's `prediction` on `test` ((names, probabilities),
        `evokd.student.predict_rows`): `self.metric`, the columns, `per_label`."""

    @abstractmethod
    def feedback(self, rows: list[dict], prediction: tuple) -> list[dict]:
        """Each row with the student's answer read from `prediction` (as for `score`):
        `predicted`, `confidence`, `correct`."""

    def show_label(self, row: dict) -> str:
        """A sample's label as a person reads it in the report: the class (or, for a rejected
        sample, what the teacher answered)."""
        value = row.get("label")
        return "(none)" if value is None else str(value)

    @abstractmethod
    def apply_answer(self, sample: dict, answer: dict, labels: list[str]) -> Answer:
        """Check a teacher's labelling answer for `sample` against the schema."""
