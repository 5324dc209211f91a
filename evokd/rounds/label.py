"""label: a separate teacher call labels each synthesized text, then every sample is validated.

Rejected samples are kept with their reason (never silently dropped):
`unlabelled` (the teacher gave no usable label), `bad_label` (outside the label set), `empty`,
`too_short`, `too_long`, `duplicate` (of the training set or of this batch) and `leak` (equal or
nearly equal to a test sample).
"""

from __future__ import annotations

import logging
from collections import Counter

from evokd.config import Config
from evokd.data.textnorm import LeakIndex, normalize
from evokd.io import read_json, read_jsonl, write_jsonl
from evokd.paths import Prepared, Round
from evokd.teachers.base import Teacher

log = logging.getLogger(__name__)


def validate(cfg: Config, samples: list[dict], answers: dict[str, dict], labels: list[str],
             known: list[dict], leak_index: LeakIndex) -> tuple[list[dict], list[dict]]:
    """Split labelled samples into accepted and rejected-with-reason."""
    allowed = set(labels)
    seen = {normalize(r["text"]) for r in known}
    accepted, rejected = [], []
    for sample in samples:
        answer = answers.get(sample["id"]) or {"error": "no answer"}
        text = (sample.get("text") or "").strip()
        norm = normalize(text)
        reason, detail = None, None
        if "label" not in answer:
            reason, detail = "unlabelled", answer.get("error", "no label")
        elif answer["label"] not in allowed:
            reason, detail = "bad_label", str(answer["label"])[:100]
        elif not norm:
            reason = "empty"
        elif len(text) < cfg.label.min_chars:
            reason = "too_short"
        elif len(text) > cfg.label.max_chars:
            reason = "too_long"
        elif norm in seen:
            reason = "duplicate"
        else:
            hit = leak_index.match(text)
            if hit is not None:
                reason, detail = "leak", hit
        if reason:
            rejected.append({**sample, "label": answer.get("label"), "reason": reason, "detail": detail})
        else:
            seen.add(norm)
            accepted.append({**sample, "text": text, "label": answer["label"]})
    return accepted, rejected


def run(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
    rnd = Round(k)
    labels = read_json(prepared.labels)["labels"]
    samples = read_jsonl(rnd.synthesized)
    known = read_jsonl(rnd.previous.train_set)
    answers = teacher.label(samples, labels) if samples else {}
    leak_index = LeakIndex(read_jsonl(prepared.test), threshold=cfg.label.leak_overlap)
    accepted, rejected = validate(cfg, samples, answers, labels, known, leak_index)
    write_jsonl(rnd.labelled, accepted)
    write_jsonl(rnd.rejected, rejected)
    write_jsonl(rnd.train_set, known + accepted)
    reasons = dict(Counter(r["reason"] for r in rejected))
    rate = len(rejected) / len(samples) if samples else 0.0
    warning = None
    if rate > cfg.label.max_reject_rate:
        warning = (f"round {k} rejected {rate:.0%} of its samples (label.max_reject_rate is "
                   f"{cfg.label.max_reject_rate:.0%}): {reasons}; check the teacher and its prompts")
        log.warning("WARNING: %s", warning)
    return {"accepted": len(accepted), "rejected": reasons, "reject_rate": round(rate, 4),
            "warning": warning}
