"""The checks every labelled sample passes before a student trains on it (the label stage's, and
the probe's for round 0's fresh texts): the task checks the answer (label in the set, spans found
in the text), then the text itself is checked: `empty`, `too_short`, `too_long`, `duplicate` (of
the training set or of this batch), `echo` (the text mostly repeats the prompt that generated it:
`prompt_overlap`, set by the LLM teacher, at least `label.echo_overlap`) and `leak` (equal or
nearly equal to a test sample). A rejected sample keeps its reason; nothing is dropped silently.

With `synthesize.strategy: evokd-gen-labels` the answers come from the generation reply (the
synthesized row's `answer`), checked exactly as a label call's answer; with `eda` from the
augmentation (the source's label, NER: the edited sentence's tags), the same way."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Iterator

from evokd.config import Config
from evokd.data.textnorm import LeakIndex, normalize
from evokd.data.stream import SeenTexts
from evokd.errors import PipelineError
from evokd.io import read_json
from evokd.paths import Round
from evokd.strategies import STRATEGIES, get_strategy
from evokd.tasks import Task, get_task

log = logging.getLogger(__name__)


# Samples labelled and checked at a time (rounded up to whole labelling requests).
CHUNK = 2048


def chunk_size(batch_size: int) -> int:
    """Samples the label stage labels and checks at a time: CHUNK, rounded up to whole labelling
    requests of `batch_size` texts (the estimate counts requests the same way)."""
    return -(-CHUNK // batch_size) * batch_size


# The answer of a text whose generation reply gave it no label (evokd-gen-labels).
NO_GENERATION_LABEL = "no label in the generation reply"


def generation_answers(chunk: list[dict]) -> tuple[list[dict], dict[str, dict]]:
    """The chunk's rows without their `answer` field, and the answers by sample id: what the
    generation call wrote beside each text (strategy evokd-gen-labels), or an error where it
    wrote nothing usable, for the task to reject as unlabelled."""
    rows, answers = [], {}
    for sample in chunk:
        row = dict(sample)
        answer = row.pop("answer", None)
        answers[row["id"]] = answer if isinstance(answer, dict) and answer else {"error": NO_GENERATION_LABEL}
        rows.append(row)
    return rows, answers


def written_for_generation_labels(cfg: Config, rnd: Round) -> bool:
    """Whether this round takes its labels from the generation reply (evokd-gen-labels), after
    checking that synthesized.jsonl was written under the same choice: a file written by another
    strategy has no answers (every text would be rejected as unlabelled), or answers that a label
    call would silently ignore. `dvc repro` never mixes them; a stage run by hand could."""
    wanted = get_strategy(cfg.synthesize.strategy).labels_with_generation
    written = read_json(rnd.meta("synthesize")).get("strategy") if rnd.meta("synthesize").exists() else None
    if written is not None and (written in STRATEGIES and STRATEGIES[written].labels_with_generation) != wanted:
        raise PipelineError(f"{rnd.synthesized} was written with synthesize.strategy {written}, and this "
                            f"label stage runs with {cfg.synthesize.strategy}: one takes labels from the "
                            f"generation reply and the other does not; re-run `dvc repro synthesize@"
                            f"{rnd.k}` first (`dvc repro` does it for you)")
    return wanted


def _text_problem(cfg: Config, text: str, norm: str, seen: SeenTexts,
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
    seen = SeenTexts()
    for row in known:
        seen.add(normalize(row["text"]))
    accepted, rejected = [], []
    for row, ok in check(cfg, samples, answers, labels, seen, leak_index, task, repairs):
        (accepted if ok else rejected).append(row)
    return accepted, rejected


def check(cfg: Config, samples: list[dict], answers: dict[str, dict], labels: list[str],
          seen: SeenTexts, leak_index: LeakIndex, task: Task | None = None,
          repairs: Counter | None = None) -> Iterator[tuple[dict, bool]]:
    """Each sample as written out (with its fields, or its rejection reason) and whether it is
    accepted; accepted texts join `seen`, so later duplicates are rejected."""
    task = task or get_task(cfg.task)
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
            yield {**sample, **checked.record, "reason": reason, "detail": detail}, False
        else:
            seen.add(norm)
            if repairs is not None:
                repairs.update(checked.repairs)
            yield {**sample, **checked.fields, "text": text}, True


class Tally:
    """Stands in for a list of rows where only its length and one field's counts are read
    (the dataset card's facts): iterating yields {field: value} per counted row."""

    def __init__(self, field: str = "", counts: Counter | None = None, total: int = 0):
        self.field, self.counts = field, counts or Counter()
        self.total = total or sum(self.counts.values())

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[dict]:
        for value, n in self.counts.items():
            for _ in range(n):
                yield {self.field: value}


