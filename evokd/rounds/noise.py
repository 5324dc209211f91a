"""Label noise made visible: how often the teacher's accepted labels disagree with the student.

Round k's feedback is the *previous* student (not yet trained on them) run on round k's accepted
samples, so `correct: false` there means the teacher's label and the student disagree. On hard
samples that is the point, so the report counts only the others (easy samples, random draws):
a class where most of those disagree, over enough samples, is more likely label noise or a class
the teacher misunderstands, and the report says so. Per class for classification; per entity
type for NER (each gold entity counts once, right when the student predicted it exactly).

The same per-label shape holds the second labelling's disagreement (evokd.rounds.relabel), and
`flagged` applies the thresholds from params (`label.disagree_flag_rate`,
`label.relabel_flag_rate`, `label.flag_min_samples`).
"""

from __future__ import annotations

from collections import Counter

from evokd.tasks import Task


def disagreement(task: Task, feedback: list[dict]) -> dict:
    """{"samples", "disagree", "rate", "per_label": {label: {"samples", "disagree", "rate"}}},
    each row counted per label by `Task.verdicts`."""
    n, bad = Counter(), Counter()
    for row in feedback:
        for label, disagrees in task.verdicts(row):
            n[label] += 1
            bad[label] += disagrees
    total = len(feedback)
    wrong = sum(not r.get("correct", True) for r in feedback)
    return {"samples": total, "disagree": wrong, "rate": round(wrong / total, 4) if total else 0.0,
            "per_label": {label: {"samples": n[label], "disagree": bad[label],
                                  "rate": round(bad[label] / n[label], 4)} for label in sorted(n)}}


def merge(parts: list[dict]) -> dict:
    """Several rounds' disagreement summed into one."""
    n, bad = Counter(), Counter()
    for part in parts:
        for label, v in part["per_label"].items():
            n[label] += v["samples"]
            bad[label] += v["disagree"]
    total, wrong = sum(p["samples"] for p in parts), sum(p["disagree"] for p in parts)
    return {"samples": total, "disagree": wrong, "rate": round(wrong / total, 4) if total else 0.0,
            "per_label": {label: {"samples": n[label], "disagree": bad[label],
                                  "rate": round(bad[label] / n[label], 4)} for label in sorted(n)}}


def flagged(summary: dict, rate: float, min_samples: int) -> list[str]:
    """Labels with at least `min_samples` compared samples of which at least `rate` disagree."""
    return [label for label, v in summary["per_label"].items()
            if v["samples"] >= min_samples and v["rate"] >= rate]
