"""What the teacher stages before a given one used, for the budget (evokd.teachers.budget).

Summed from the meta files of the teacher stages that come earlier in the pipeline: `probe` and
`analyze@0` (round 0's; prepare calls none), rounds 1..k-1, and round k's own earlier steps.
All of them are upstream of the stage in dvc.yaml, so they are up to date whenever it runs.
"""

from __future__ import annotations

from evokd.io import read_json
from evokd.paths import Round
from evokd.teachers.base import Usage

ORDER = ("synthesize", "label", "analyze")  # teacher steps within a round, in pipeline order
ROUND0 = ("probe", "analyze")  # round 0's teacher steps (prepare calls none)


def _add(total: Usage, k: int, verb: str) -> None:
    path = Round(k).meta(verb)
    if path.exists():
        total.add(read_json(path).get("teacher", {}))


def steps(k: int) -> tuple[str, ...]:
    """The teacher steps of round k, in pipeline order."""
    return ROUND0 if k == 0 else ORDER


def spent_before(k: int, verb: str) -> Usage:
    """Teacher usage of every stage upstream of `verb@k` (none for `probe`, the first)."""
    if verb not in steps(k):
        raise ValueError(f"{verb}@{k} is not a teacher stage")
    total = Usage()
    for j in range(k):
        for step in steps(j):
            _add(total, j, step)
    for step in steps(k)[: steps(k).index(verb)]:
        _add(total, k, step)
    return total


def round_teacher(cfg, k: int, verb: str, api_key: str | None):
    """The teacher for stage `verb@k`, its budget charged with what the earlier teacher stages
    spent (`spent_before`). The teacher stages' runner calls this."""
    from evokd.teachers import make_teacher

    return make_teacher(cfg, api_key=api_key, spent=spent_before(k, verb))

