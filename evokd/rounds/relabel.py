"""Second labelling: an independent re-label of a sample of a round's samples, to estimate label
noise from the teacher itself (the student comparison in evokd.rounds.noise cannot tell a wrong
label from a hard sample; a teacher that disagrees with itself can).

Which samples: `label.relabel_fraction` of each chunk, chosen by a hash of (seed, sample id) —
fixed for a round, independent of the text and of the answer. Both labellings of a chunk are
requested before either is read, so that in batch mode (`teacher.mode: batch`) both are submitted
in the same run; only the accepted ones are compared, which is a uniform sample of the accepted
items.

The re-label is the teacher's own `label` call with `draw=1` (openai: the same request template
with another draw in the cache key and another sampling seed, the texts grouped with other
batch mates: a separate paid, cached sample; simulated: an independent noise draw). Per class
(NER: per entity type of the accepted tags) it records how many compared samples got a different
answer; answers the task cannot read (`unlabelled`, `bad_label`, ...) count as `failed`, not as
disagreement.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter

from evokd.tasks import Task

# The draw index of the second labelling (the first is draw 0).
RELABEL_DRAW = 1


def pick(chunk: list[dict], fraction: float, seed: int) -> list[dict]:
    """ceil(fraction * len(chunk)) samples of `chunk` (none when fraction is 0), by hash rank."""
    if fraction <= 0 or not chunk:
        return []
    n = min(len(chunk), math.ceil(fraction * len(chunk)))

    def rank(row: dict) -> str:
        return hashlib.sha256(f"{seed}\x1frelabel\x1f{row['id']}".encode("utf-8", "surrogatepass")).hexdigest()

    chosen = {row["id"] for row in sorted(chunk, key=rank)[:n]}
    return [row for row in chunk if row["id"] in chosen]


class Agreement:
    """Counts, per label, accepted samples compared with their second labelling."""

    def __init__(self) -> None:
        self.samples, self.disagree, self.failed = Counter(), Counter(), Counter()
        self.total = self.total_disagree = self.total_failed = 0

    def add(self, task: Task, accepted: dict, answer: dict | None, labels: list[str]) -> None:
        """Compare one accepted sample with the second labelling's answer for it."""
        second = task.apply_answer(accepted, answer or {"error": "no answer"}, labels)
        classes = task.labels_of(accepted)
        if second.reason is not None:
            self.total_failed += 1
            self.failed.update(classes)
            return
        differs = task.answer_key(second.fields or {}) != task.answer_key(accepted)
        self.total += 1
        self.total_disagree += differs
        for label in classes:
            self.samples[label] += 1
            self.disagree[label] += differs

    def to_dict(self, fraction: float) -> dict:
        """The label stage's `relabel` meta, in evokd.rounds.noise's summary shape (+ failed)."""
        return {"fraction": fraction, "samples": self.total, "disagree": self.total_disagree,
                "rate": round(self.total_disagree / self.total, 4) if self.total else 0.0,
                "failed": self.total_failed,
                "per_label": {label: {"samples": self.samples[label], "disagree": self.disagree[label],
                                      "rate": round(self.disagree[label] / self.samples[label], 4)}
                              for label in sorted(self.samples)}}
