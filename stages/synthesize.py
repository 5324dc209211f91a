"""synthesize (round k, step 1): the teacher reads round k-1's analysis of the student and writes
new input texts: `n_hard` it expects the student to get wrong, `n_easy` it expects right (easy
ones keep the student from forgetting). Which texts, and how they are ranked, is the strategy's
(synthesize.strategy). A strategy whose texts no teacher writes (`eda`: the seed set augmented by
word edits, evokd.data.eda) is run here instead, and the teacher is sent nothing."""

from __future__ import annotations

from collections import Counter

from evokd.config import Config
from evokd.data.ids import assign_ids
from evokd.io import read_json, read_jsonl, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds.stage import round_stage
from evokd.strategies import get_strategy
from evokd.student.saved import SavedStudent
from evokd.tasks import get_task
from evokd.teachers.base import SynthesisRequest, Teacher


def synthesize(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
    rnd, prev = Round(k), Round(k - 1)
    request = SynthesisRequest(
        round=k,
        labels=read_json(prepared.labels)["labels"],
        analysis=read_json(prev.analysis),
        feedback=read_jsonl(prev.feedback),
        known=read_jsonl(prev.train_set),
        n_hard=cfg.synthesize.n_hard,
        n_easy=cfg.synthesize.n_easy,
        student=SavedStudent(cfg, prev.model),  # loaded only if the strategy consults it
        seed=read_jsonl(prepared.seed),
    )
    extra = {}
    if get_strategy(cfg.synthesize.strategy).writer == "eda":
        from evokd.data.eda import augment

        written, made = augment(get_task(cfg.task), request.seed, request.known,
                                request.n_hard + request.n_easy, seed=cfg.seed, k=k)
        extra["augment"] = made
    else:
        written = teacher.synthesize(request)
    samples = assign_ids(k, written)
    write_jsonl(rnd.synthesized, samples)
    kinds = Counter(s["kind"] for s in samples)
    # The label stage checks it: evokd-gen-labels and eda rows carry answers the others do not.
    return {"synthesized": len(samples), "kinds": dict(kinds), "strategy": cfg.synthesize.strategy, **extra}


if __name__ == "__main__":
    round_stage("synthesize", synthesize, teacher=True)
