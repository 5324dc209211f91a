"""synthesize: the teacher reads the previous round's analysis and writes new input texts,
`n_hard` it expects the student to get wrong and `n_easy` it expects right."""

from __future__ import annotations

import hashlib

from evokd.config import Config
from evokd.io import read_json, read_jsonl, write_jsonl
from evokd.paths import Prepared, Round
from evokd.student.probe import SavedStudent
from evokd.teachers.base import SynthesisRequest, Teacher


def assign_ids(k: int, samples: list[dict]) -> list[dict]:
    """Stable ids from content: `r<k>-<sha1 of text>`, with a suffix for repeated texts."""
    seen: dict[str, int] = {}
    out = []
    for sample in samples:
        base = f"r{k}-" + hashlib.sha1(sample["text"].encode("utf-8")).hexdigest()[:12]
        seen[base] = seen.get(base, 0) + 1
        out.append({"id": base if seen[base] == 1 else f"{base}-{seen[base]}", **sample})
    return out


def run(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
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
    samples = assign_ids(k, teacher.synthesize(request))
    write_jsonl(rnd.synthesized, samples)
    kinds: dict[str, int] = {}
    for s in samples:
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
    # The label stage checks it: evokd-gen-labels rows carry answers the others do not.
    return {"synthesized": len(samples), "kinds": kinds, "strategy": cfg.synthesize.strategy}
