"""What the teacher stages before a given one used, for the budget (evokd.teachers.budget).

Summed from the meta files of prepare (round 0) and of the teacher stages that come earlier in
the pipeline: rounds 1..k-1, and round k's own earlier steps. All of them are upstream of the
stage in dvc.yaml, so they are up to date whenever it runs.
"""

from __future__ import annotations

from evokd.io import read_json
from evokd.paths import Round
from evokd.teachers.base import Usage

ORDER = ("synthesize", "label", "analyze")  # teacher steps within a round, in pipeline order


def _add(total: Usage, k: int, verb: str) -> None:
    path = Round(k).meta(verb)
    if path.exists():
        total.add(read_json(path).get("teacher", {}))


def spent_before(k: int, verb: str) -> Usage:
    """Teacher usage of every stage upstream of `verb@k` (`prepare` for round 0)."""
    total = Usage()
    if verb == "prepare":
        return total
    _add(total, 0, "prepare")
    for j in range(1, k):
        for step in ORDER:
            _add(total, j, step)
    for step in ORDER[: ORDER.index(verb)]:
        _add(total, k, step)
    return total
