"""The seam between the teachers and the student: what a teacher may ask of the previous round's
student (`StudentProbe`) and the scores it gets back. Both sides import this module and never
each other: the synthesize stage builds the probe (evokd.student.saved.SavedStudent) and hands it
to the teacher in its request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import numpy as np


@dataclass
class LabelScores:
    """A classifier's answers on n texts: its label names, an (n, labels) probability matrix,
    and each text's margin (top-two probability gap: 0 = a toss-up, 1 = certain)."""

    names: list[str]
    probs: "np.ndarray"
    margins: "np.ndarray"


@dataclass
class WordScores:
    """A tagger's answers on n sentences: its tag names, per sentence a (words, tags)
    probability matrix, and each sentence's margin (that of its least sure word)."""

    names: list[str]
    probs: list["np.ndarray"]
    margins: "np.ndarray"


class StudentProbe(Protocol):
    """The previous round's student as a teacher may consult it: texts in, scores out. The
    model is loaded only when asked, so a strategy that never consults it costs nothing."""

    def label_scores(self, texts: list[str]) -> LabelScores:
        """Classification: per-label probabilities and margins of `texts`."""
        ...

    def word_scores(self, sentences: list[list[str]]) -> WordScores:
        """NER: per-word tag probabilities and sentence margins of `sentences` (lists of words)."""
        ...

    def least_sure(self, samples: list[dict], n: int) -> list[dict]:
        """The `n` of `samples` (dicts with a "text"; NER texts are split into words as the
        label stage splits them) with the smallest margins, each with its `margin`; a text
        repeated among them competes once."""
        ...
