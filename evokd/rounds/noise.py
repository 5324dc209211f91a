"""Label noise made visible: how often the teacher's accepted labels disagree with the student.

Round k's feedback is the *previous* student (not yet trained on them) run on round k's accepted
samples, so `correct: false` there means the teacher's label and the student disagree. Some
disagreement is the point (hard samples are meant to be ones the student gets wrong); a class
where most accepted labels disagree, over enough samples, is more likely label noise or a class
the teacher misunderstands, and the report says so. Per class for classification; per entity
type for NER (a sentence counts for each type among its gold entities).
"""

from __future__ import annotations

from collections import Counter

# A label is flagged when at least this share of at least MIN_SAMPLES accepted samples disagree.
NOISY_RATE = 0.6
MIN_SAMPLES = 4


def _labels_of(row: dict) -> set[str]:
    if "label" in row:
        return {str(row["label"])}
    return {tag[2:] for tag in row.get("tags") or [] if tag.startswith("B-")}


def disagreement(feedback: list[dict]) -> dict:
    """{"samples", "disagree", "rate", "per_label": {label: {"samples", "disagree", "rate"}}}."""
    n, bad = Counter(), Counter()
    for row in feedback:
        for label in _labels_of(row):
            n[label] += 1
            bad[label] += not row.get("correct", True)
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


def flagged(summary: dict) -> list[str]:
    """Labels whose accepted samples mostly disagree with the student (see NOISY_RATE)."""
    return [label for label, v in summary["per_label"].items()
            if v["samples"] >= MIN_SAMPLES and v["rate"] >= NOISY_RATE]
