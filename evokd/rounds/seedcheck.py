"""The probe's check of the seed set (round 0): the teacher's labels of the user's seed examples
against the user's own. Disagreements are named in a warning and in data/rounds/0/seed_check.json
(the report lists them); the seed set is kept as the user gave it: the user decides who is right."""

from __future__ import annotations

from evokd.tasks import Task

# A seed row's answer fields: left out of what the teacher labels, compared with its answer.
NOT_ANSWER_FIELDS = ("label", "tags", "spans")


def _shown(task: Task, row: dict) -> str | list[dict]:
    """What a row says its answer is: the label, or the entities as [{"text", "type"}]."""
    if task.name == "ner":
        from evokd.tasks.spans import bio_to_spans

        return [{"text": s["text"], "type": s["type"]} for s in bio_to_spans(row["tokens"], row["tags"])]
    return row["label"]


def check_seed(task: Task, seed: list[dict], answers: dict[str, dict], labels: list[str]) -> dict:
    """The teacher's labels for the seed examples against the user's: {"checked", "agree",
    "disagreements": [{"id", "text", "given", "teacher"}], "unanswered": [{"id", "reason"}]}."""
    disagreements, unanswered = [], []
    for row in seed:
        bare = {key: value for key, value in row.items() if key not in NOT_ANSWER_FIELDS}
        checked = task.apply_answer(bare, answers.get(row["id"]) or {"error": "no answer"}, labels)
        if checked.fields is None:
            unanswered.append({"id": row["id"], "reason": checked.reason})
            continue
        given, theirs = _shown(task, row), _shown(task, {**bare, **checked.fields})
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
