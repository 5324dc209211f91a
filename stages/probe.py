"""probe (round 0): the teacher's first work, between prepare (which calls no teacher) and
analyze@0.

1. The teacher writes `probe.n_texts` fresh texts for the task, as the feedback-free strategies
   write them (LLM: the `synthesize_random` prompt, task context and seed examples; simulated: a
   random pool draw).
2. One label call labels those texts and, beside them, the seed examples.
3. The probe texts are checked as a round's samples are (evokd.rounds.checks.validate: label in
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
from collections import Counter

from evokd.config import Config
from evokd.data.ids import assign_ids
from evokd.data.textnorm import LeakIndex
from evokd.io import read_json, read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds.checks import validate
from evokd.rounds.seedcheck import check_seed, warnings
from evokd.rounds.stage import round_stage
from evokd.student import predict_rows
from evokd.tasks import get_task
from evokd.teachers.base import SynthesisRequest, Teacher

log = logging.getLogger(__name__)


def probe(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
    """Round 0's probe (`k` is always 0: the round stages' signature)."""
    r0 = Round(k)
    task = get_task(cfg.task)
    labels = read_json(prepared.labels)["labels"]
    seed = read_jsonl(prepared.seed)
    request = SynthesisRequest(round=0, labels=labels, analysis={}, feedback=[], known=seed,
                               n_hard=0, n_easy=cfg.probe.n_texts, seed=seed)
    texts = assign_ids(0, teacher.probe(request, cfg.probe.n_texts))
    seed_samples = [task.without_answer(row) for row in seed]
    answers = teacher.label(seed_samples + texts, labels)

    check = check_seed(task, seed, answers, labels)
    check["warnings"] = warnings(check)  # the report lists them
    for line in check["warnings"]:
        log.warning("WARNING: %s", line)
    write_json(r0.seed_check, check)

    leak_index = LeakIndex(read_jsonl(prepared.test), threshold=cfg.label.leak_overlap)
    accepted, rejected = validate(cfg, texts, answers, labels, seed, leak_index, task)
    reasons = dict(Counter(row["reason"] for row in rejected))
    feedback = task.feedback(accepted, predict_rows(task, cfg, r0.model, accepted)) if accepted else []
    write_jsonl(r0.probe, accepted + rejected)
    write_jsonl(r0.feedback, feedback)
    wrong = sum(not r["correct"] for r in feedback)
    if not feedback:
        log.warning("WARNING: probe: none of the %d fresh texts could be used (%s); analyze@0 has "
                    "nothing to read, and round 1 is unguided", len(texts), reasons)
    return {"probe_texts": len(texts), "accepted": len(accepted), "rejected": reasons,
            "student_wrong": wrong, "seed_checked": check["checked"],
            "seed_disagreements": len(check["disagreements"])}


if __name__ == "__main__":
    round_stage("probe", probe, teacher=True, k=0)
