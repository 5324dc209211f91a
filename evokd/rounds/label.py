"""label: a separate teacher call labels each synthesized text, then every sample is validated.

Rejected samples are kept with their reason (never silently dropped):
`unlabelled` (the teacher gave no usable label), `bad_label` (outside the label set), the task's
own reasons (NER: `bad_type`, `span_not_found`, ...; see evokd.tasks.spans), `empty`,
`too_short`, `too_long`, `duplicate` (of the training set or of this batch), `echo` (the text
mostly repeats the prompt that generated it: `prompt_overlap`, set by the LLM teacher, at least
`label.echo_overlap`) and `leak` (equal or nearly equal to a test sample).

Beside the data it writes the round's dataset card (README.md; see evokd.cards.dataset).
"""

from __future__ import annotations

import logging
from collections import Counter

from evokd.config import Config
from evokd.data.textnorm import LeakIndex, normalize
from evokd.io import read_json, read_jsonl, write_jsonl
from evokd.paths import Prepared, Round
from evokd.cards.dataset import round_facts, write_round_card
from evokd.tasks import Task, get_task
from evokd.teachers.base import Teacher

log = logging.getLogger(__name__)


def _text_problem(cfg: Config, text: str, norm: str, seen: set[str],
                  leak_index: LeakIndex, overlap: float | None = None) -> tuple[str | None, str | None]:
    """(reason, detail) when the text itself is unusable, else (None, None)."""
    if not norm:
        return "empty", None
    if len(text) < cfg.label.min_chars:
        return "too_short", None
    if len(text) > cfg.label.max_chars:
        return "too_long", None
    if norm in seen:
        return "duplicate", None
    if overlap is not None and overlap >= cfg.label.echo_overlap:
        return "echo", f"{overlap:.0%} of its word 3-grams are in its prompt"
    hit = leak_index.match(text)
    return ("leak", hit) if hit is not None else (None, None)


def validate(cfg: Config, samples: list[dict], answers: dict[str, dict], labels: list[str],
             known: list[dict], leak_index: LeakIndex, task: Task | None = None,
             repairs: Counter | None = None) -> tuple[list[dict], list[dict]]:
    """Split labelled samples into accepted and rejected-with-reason; the task checks the
    answer itself (and counts its repairs into `repairs`), then the text is checked."""
    task = task or get_task(cfg.task)
    seen = {normalize(r["text"]) for r in known}
    accepted, rejected = [], []
    for sample in samples:
        answer = answers.get(sample["id"]) or {"error": "no answer"}
        checked = task.apply_answer(sample, answer, labels)
        text = ((checked.fields or {}).get("text") or sample.get("text") or "").strip()
        norm = normalize(text)
        reason, detail = checked.reason, checked.detail
        if reason is None:
            reason, detail = _text_problem(cfg, text, norm, seen, leak_index,
                                           sample.get("prompt_overlap"))
        if reason:
            rejected.append({**sample, **checked.record, "reason": reason, "detail": detail})
        else:
            seen.add(norm)
            if repairs is not None:
                repairs.update(checked.repairs)
            accepted.append({**sample, **checked.fields, "text": text})
    return accepted, rejected


def run(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
    rnd = Round(k)
    labels = read_json(prepared.labels)["labels"]
    samples = read_jsonl(rnd.synthesized)
    known = read_jsonl(rnd.previous.train_set)
    answers = teacher.label(samples, labels) if samples else {}
    leak_index = LeakIndex(read_jsonl(prepared.test), threshold=cfg.label.leak_overlap)
    repairs: Counter = Counter()
    accepted, rejected = validate(cfg, samples, answers, labels, known, leak_index, repairs=repairs)
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
    result = {"accepted": len(accepted), "rejected": reasons, "reject_rate": round(rate, 4),
              "warning": warning}
    synth_meta = rnd.meta("synthesize")
    facts = round_facts(cfg, k, labels, samples, accepted, rejected, len(known) + len(accepted),
                        get_task(cfg.task).label_counts(accepted),
                        read_json(synth_meta).get("teacher", {}) if synth_meta.exists() else {},
                        teacher.usage.to_dict())
    write_round_card(rnd.card, facts)
    if repairs:
        result["repaired"] = dict(sorted(repairs.items()))
    return result
