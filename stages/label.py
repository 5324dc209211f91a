"""label (round k, step 2): a separate teacher call labels each synthesized text, then every sample is validated.

With `synthesize.strategy: evokd-gen-labels` there is no label call: each text's answer is the
one the generation call wrote beside it (the synthesized row's `answer`, see
evokd.teachers.openai), validated exactly like a label call's answer; a text without one is
rejected as `unlabelled` ("no label in the generation reply"). Strategy `eda` takes the same
path: its rows carry their source's label (NER: their tags) as `answer` (evokd.data.eda). The row's `answer` field is not
written out (accepted rows carry the task's fields, rejected ones the answer's, as usual).

Rejected samples are kept with their reason (never silently dropped):
`unlabelled` (the teacher gave no usable label), `bad_label` (outside the label set), the task's
own reasons (NER: `bad_type`, `span_not_found`, ...; see evokd.tasks.spans), `empty`,
`too_short`, `too_long`, `duplicate` (of the training set or of this batch), `echo` (the text
mostly repeats the prompt that generated it: `prompt_overlap`, set by the LLM teacher, at least
`label.echo_overlap`) and `leak` (equal or nearly equal to a test sample).

Beside the data it writes the round's dataset card (README.md; see evokd.cards.dataset).

The round streams (evokd.data.stream): samples are read, labelled and checked a chunk at a time
and written row by row, and the dedup set keeps digests of normalised texts, so memory does not
grow with the round's size beyond those digests (bench/memory.py measures it). In batch mode
(`teacher.mode: batch`) every chunk's requests are submitted before the stage stops, and no
output is written until all replies are in.

A second labelling of `label.relabel_fraction` of the samples (evokd.rounds.relabel) goes out
with each chunk's first one; its disagreement with the accepted labels, per class, is recorded
in the stage's meta (`relabel`) for the report. Under evokd-gen-labels it is still the
teacher's label call (the only one the stage sends): it measures how often a separate labelling
disagrees with the generation's labels, and it costs what it costs under evokd, so two runs with
the same `relabel_fraction` differ in label tokens by exactly the first labelling.
"""

from __future__ import annotations

import logging
from collections import Counter

from evokd.cards.dataset import round_facts, write_round_card
from evokd.config import Config
from evokd.data.stream import AtomicJsonl, SeenTexts, chunked
from evokd.data.textnorm import LeakIndex, normalize
from evokd.errors import BatchPending
from evokd.io import iter_jsonl, read_json, read_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds import relabel
from evokd.rounds.checks import Tally, check, chunk_size, generation_answers, written_for_generation_labels
from evokd.rounds.stage import round_stage
from evokd.tasks import get_task
from evokd.teachers.base import Teacher

log = logging.getLogger(__name__)


def label(cfg: Config, k: int, teacher: Teacher, prepared: Prepared = Prepared()) -> dict:
    rnd = Round(k)
    labels = read_json(prepared.labels)["labels"]
    task = get_task(cfg.task)
    leak_index = LeakIndex(read_jsonl(prepared.test), threshold=cfg.label.leak_overlap)
    size = chunk_size(cfg.label.batch_size)
    repairs, reasons, kinds, per_label = Counter(), Counter(), Counter(), Counter()
    per_kind_label: dict[str, Counter] = {}  # accepted samples' labels, per kind (hard, easy, ...)
    pending: list[BatchPending] = []
    n_samples = 0
    agreement = relabel.Agreement()
    with AtomicJsonl(rnd.labelled) as labelled, AtomicJsonl(rnd.rejected) as rejected, \
            AtomicJsonl(rnd.train_set) as train_set:
        seen = SeenTexts()
        for row in iter_jsonl(rnd.previous.train_set):
            seen.add(normalize(row["text"]))
            train_set.write(row)
        known = train_set.count
        from_generation = written_for_generation_labels(cfg, rnd)
        for chunk in chunked(iter_jsonl(rnd.synthesized), size):
            n_samples += len(chunk)
            second_answers = {}
            # `answer` never travels on into labelled.jsonl or the train set
            chunk, answers = generation_answers(chunk)
            if not from_generation:
                try:
                    answers = teacher.label(chunk, labels)
                except BatchPending as exc:  # submit every chunk's batch before stopping
                    pending.append(exc)
            second = relabel.pick(chunk, cfg.label.relabel_fraction, cfg.seed)
            if second:
                try:
                    second_answers = teacher.label(second, labels, draw=relabel.RELABEL_DRAW)
                except BatchPending as exc:
                    pending.append(exc)
            if pending:
                continue
            second_ids = {row["id"] for row in second}
            accepted = []
            for row, ok in check(cfg, chunk, answers, labels, seen, leak_index, task, repairs):
                if ok:
                    labelled.write(row)
                    train_set.write(row)
                    accepted.append(row)
                    kinds[row.get("kind") or "unknown"] += 1
                    if row["id"] in second_ids:
                        agreement.add(task, row, second_answers.get(row["id"]), labels)
                else:
                    rejected.write(row)
                    reasons[row["reason"]] += 1
            per_label.update(task.label_counts(accepted))
            for kind in {row.get("kind") or "unknown" for row in accepted}:
                per_kind_label.setdefault(kind, Counter()).update(
                    task.label_counts([row for row in accepted if (row.get("kind") or "unknown") == kind]))
        if pending:
            raise BatchPending.merge(pending)
    n_rejected = sum(reasons.values())
    rate = n_rejected / n_samples if n_samples else 0.0
    warning = None
    if rate > cfg.label.max_reject_rate:
        warning = (f"round {k} rejected {rate:.0%} of its samples (label.max_reject_rate is "
                   f"{cfg.label.max_reject_rate:.0%}): {dict(reasons)}; check the teacher and its prompts")
        log.warning("WARNING: %s", warning)
    result = {"accepted": labelled.count, "rejected": dict(reasons), "reject_rate": round(rate, 4),
              "warning": warning,
              # How the accepted samples spread over the labels (NER: entities per type), in all
              # and per kind, so that a strategy's imbalance shows without a benchmark (report).
              "label_counts": {lab: per_label.get(lab, 0) for lab in labels},
              "label_counts_by_kind": {kind: {lab: c.get(lab, 0) for lab in labels}
                                       for kind, c in sorted(per_kind_label.items())}}
    synth_meta = rnd.meta("synthesize")
    facts = round_facts(cfg, k, labels, Tally(total=n_samples), Tally("kind", kinds),
                        Tally("reason", reasons), known + labelled.count,
                        dict(sorted(per_label.items())),
                        read_json(synth_meta).get("teacher", {}) if synth_meta.exists() else {},
                        teacher.usage.to_dict())
    write_round_card(rnd.card, facts)
    if repairs:
        result["repaired"] = dict(sorted(repairs.items()))
    if cfg.label.relabel_fraction > 0:
        result["relabel"] = agreement.to_dict(cfg.label.relabel_fraction)
        log.info("label@%d: second labelling of %d accepted samples disagrees on %d (%d unusable)",
                 k, agreement.total, agreement.total_disagree, agreement.total_failed)
    return result


if __name__ == "__main__":
    round_stage("label", label, teacher=True)
