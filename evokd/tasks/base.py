"""The task seam: what differs between text classification and NER, behind one interface, so
that no code outside evokd.tasks branches on `cfg.task`.

A task knows the dataset formats it reads and how to load them, names its label set (classes,
or entity types), draws the seed set, says what its student is (`head`, `student_labels`;
`evokd.student` builds, trains and runs it: a task imports no student code), scores the
student's predictions, judges a feedback answer right or wrong, says which labels a row counts
for, shows a row in a prompt, gives the JSON schema of a teacher's per-text answer, and turns
that answer into sample fields (or a rejection with a reason).
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
    # The `dataset.format`s it reads, and what those files are, in words (for the config error).
    formats: tuple[str, ...]
    reads: str
    # The Hugging Face task of its model and data cards (`pipeline_tag`, `task_categories`).
    hf_task: str
    # What the label set is called: in the prompts' task context (plural), and per label in the
    # report's charts.
    label_noun: str
    label_word: str
    # A last line of the prompts' task context, where the task needs one.
    context_note: str | None = None
    # Whether each sample has exactly one label (train.review_balance evens out those).
    one_label_per_sample: bool
    # The key of a text's answer in the label call's reply and in a prompt's example lines.
    answer_field: str
    # The simulated teacher for this task, as "module:Class" (imported by evokd.teachers, so
    # that tasks import no teacher code).
    simulated_teacher: str

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

    # -- what a teacher is sent and answers ------------------------------------------------------

    @abstractmethod
    def answer_schema(self, labels: list[str]) -> dict:
        """The JSON schema of one text's answer (under `answer_field`) in the teacher's replies."""

    # The fields that hold a row's answer: left out of a seed row the teacher is asked to label (the probe).
    gold_fields: tuple[str, ...]

    def without_answer(self, row: dict) -> dict:
        """The row without its answer fields: what the teacher labels, its answer unseen."""
        return {key: value for key, value in row.items() if key not in self.gold_fields}

    @abstractmethod
    def shown_answer(self, row: dict) -> object:
        """A labelled row's answer in the shape the label call answers (`answer_field`'s value)."""

    @abstractmethod
    def student_answer(self, row: dict) -> dict:
        """What a prompt example adds for a row the student got wrong: the student's answer."""

    @abstractmethod
    def longest_wrong_answer(self, row: dict, labels: list[str]) -> object:
        """A stand-in wrong student answer for `row` as long as a prompt could show (the cost
        estimate's feedback rows)."""

    def example(self, row: dict) -> dict:
        """One example in a prompt's data block: the text, its true answer, and the student's
        answer where it was wrong (a seed example or a right answer has none)."""
        item = {"text": row["text"], self.answer_field: self.shown_answer(row)}
        if not row.get("correct", True):
            item.update(self.student_answer(row))
        return item

    # -- the labels of a row ---------------------------------------------------------------------

    @abstractmethod
    def labels_of(self, row: dict) -> set[str]:
        """The labels a sample counts for (per-label noise and relabel counts)."""

    def verdicts(self, row: dict) -> list[tuple[str, bool]]:
        """(label, disagrees) pairs of one feedback row: by default each of its labels takes the
        row's verdict."""
        return [(label, not row.get("correct", True)) for label in self.labels_of(row)]

    @abstractmethod
    def answer_key(self, fields: dict) -> object:
        """What two labellings of one sample must agree on, from its accepted fields."""

    # -- word edits (strategy eda, evokd.data.eda) -------------------------------------------------

    @abstractmethod
    def words_and_tags(self, row: dict) -> tuple[list[str], list[str]]:
        """A labelled row as words, each with a tag that moves with it: `O` for a word an edit may
        touch (NER: outside every entity), anything else for one that must stay as it is."""

    @abstractmethod
    def from_words(self, row: dict, words: list[str], tags: list[str]) -> tuple[dict, dict]:
        """A new sample made of `words` (their tags as `words_and_tags` gave them, moved along)
        from labelled row `row`: its fields ("text" first) and its answer, in the shape a label
        call answers (`apply_answer` checks it)."""

    # -- the report's confusion matrix -----------------------------------------------------------

    def confusion_cells(self, cells: list[dict]) -> tuple[list[dict], str | None]:
        """The cells the confusion chart and DVC's confusion plot show, and a note on what is
        left out (None: all of them)."""
        return cells, None

    def confusion_labels(self, labels: list[str]) -> list[str]:
        """The confusion matrix's rows and columns, from the label set."""
        return list(labels)
