"""probe (round 0): the teacher's first work, between prepare (which calls no teacher) and
analyze@0.

1. The teacher writes `probe.n_texts` fresh texts for the task, as the feedback-free strategies
   write them (LLM: the `synthesize_random` prompt, task context and seed examples; simulated: a
   random pool draw).
2. One label call labels those texts and, beside them, the seed examples.
3. The probe texts are checked as a round's samples are (evokd.rounds.label.validate: label in
   the set, spans found, no duplicate of the seed set, no test leak). The round-0 student answers
   the accepted ones: that is round 0's feedback (data/rounds/0/feedback.jsonl), which analyze@0
   reads and round 1's guided generation is shown. The student never trains on them: every
   strategy trains on the seed set and its own rounds' samples only.
4. Every seed example whose label the teacher disagrees with is named in a warning and in
   data/rounds/0/seed_check.json (the report lists them). The seed set is kept as the user gave
   it: the user decides who is right.

Why fresh texts and not the seed set: the round-0 student was trained on the seed set for
`train.seed_epochs` epochs and answers it perfectly, so an analysis of it names no mistakes and
round 1's guidance is empty. Why not a held-out part of the seed: with one example per label (the
default) there is nothing to hold out. See DESIGN.md, "Round 0".
"""

from __future__ import annotations

import logging

from evokd.config import Config
from evokd.data.textnorm import LeakIndex
from evokd.io import read_json, read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds.label import validate
from evokd.rounds.synthesize import assign_ids
from evokd.tasks import Task, get_task
from evokd.teachers.base import SynthesisRequest, Teacher

log = logging.getLogger(__name__)


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


def run(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
    """Round 0's probe (`k` is always 0: the stage runner's signature)."""
    r0 = Round(k)
    task = get_task(cfg.task)
    labels = read_json(prepared.labels)["labels"]
    seed = read_jsonl(prepared.seed)
    request = SynthesisRequest(round=0, labels=labels, analysis={}, feedback=[], known=seed,
                               student_dir=str(r0.model), n_hard=0, n_easy=cfg.probe.n_texts, seed=seed)
    probe = assign_ids(0, teacher.probe(request, cfg.probe.n_texts))
    seed_samples = [task.without_answer(row) for row in seed]
    answers = teacher.label(seed_samples + probe, labels)

    check = check_seed(task, seed, answers, labels)
    check["warnings"] = warnings(check)  # the report lists them
    for line in check["warnings"]:
        log.warning("WARNING: %s", line)
    write_json(r0.seed_check, check)

    leak_index = LeakIndex(read_jsonl(prepared.test), threshold=cfg.label.leak_overlap)
    accepted, rejected = validate(cfg, probe, answers, labels, seed, leak_index, task)
    reasons: dict[str, int] = {}
    for row in rejected:
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + 1
    feedback = task.feedback(cfg, r0.model, accepted) if accepted else []
    write_jsonl(r0.probe, accepted + rejected)
    write_jsonl(r0.feedback, feedback)
    wrong = sum(not r["correct"] for r in feedback)
    if not feedback:
        log.warning("WARNING: probe: none of the %d fresh texts could be used (%s); analyze@0 has "
                    "nothing to read, and round 1 is unguided", len(probe), reasons)
    return {"probe_texts": len(probe), "accepted": len(accepted), "rejected": reasons,
            "student_wrong": wrong, "seed_checked": check["checked"],
            "seed_disagreements": len(check["disagreements"])}
