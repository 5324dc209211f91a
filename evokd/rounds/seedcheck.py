"""The probe's check of the seed set (round 0): the teacher's labels of the user's seed examples
against the user's own. Disagreements are named in a warning and in data/rounds/0/seed_check.json
(the report lists them); the seed set is kept as the user gave it: the user decides who is right."""

from __future__ import annotations

from evokd.tasks import Task

def check_seed(task: Task, seed: list[dict], answers: dict[str, dict], labels: list[str]) -> dict:
    """The teacher's labels for the seed examples against the user's: {"checked", "agree",
    "disagreements": [{"id", "text", "given", "teacher"}], "unanswered": [{"id", "reason"}]}."""
    disagreements, unanswered = [], []
    for row in seed:
        bare = task.without_answer(row)
        checked = task.apply_answer(bare, answers.get(row["id"]) or {"error": "no answer"}, labels)
        if checked.fields is None:
            unanswered.append({"id": row["id"], "reason": checked.reason})
            continue
        given, theirs = task.shown_answer(row), task.shown_answer({**bare, **checked.fields})
        if given != theirs:
            disagreements.append({"id": row["id"], "text": row["text"], "given": given, "teacher": theirs})
    checked_n = len(seed) - len(unanswered)
    return {"checked": checked_n, "agree": checked_n - len(disagreements),
            "disagreements": disagreements, "unanswered": unanswered}


def warnings(check: dict) -> list[str]:
    """One line per seed example the teacher labels otherwise (for the log and the report)."""
    return [f"seed example {d['id']} {d['text']!r} is labelled {d['given']} in the seed set; the teacher "
            f"says {d['teacher']} (the seed set is kept as given: check the example)"
            for d in check["disagreements"]]
