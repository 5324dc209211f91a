"""`evokd estimate`: the bill of an LLM-teacher run before it is paid.

The requests are the real ones: the OpenAI teacher (evokd.teachers.openai) renders them through
its own templates and sampling (whatever placeholders a prompt set uses), and a recorder that
stands in for its dispatcher keeps them instead of sending them. The stages are walked in
pipeline order (`evokd.rounds.spending.steps`: probe and analyze@0, then synthesize, label, analyze per
round), with the label stage's chunking and second labelling (evokd.rounds.relabel) as it does them.

What a run has not produced yet is stood in for at the largest size the config allows, so that
every figure is an upper bound for a run that goes as configured:
- the student's answers (analyze, and the synthesize prompt's examples): `analyze.n_wrong` /
  `n_correct` and `synthesize.show_wrong` / `show_correct` rows, the longest texts of the train pool;
- the teacher's analysis in the synthesize prompt: as long as an analyze reply may be
  (`teacher.max_tokens` tokens, at 4 characters per token), every label named weak;
- the texts to label: `synthesize.n_hard + n_easy` per round (the most a round keeps), each as
  long as the longest train texts.
Prompt tokens are counted by the budget's estimator (`evokd.teachers.budget.estimate_prompt_tokens`,
the one `teacher.budget` reserves with); completion tokens are bounded by the request's
`max_tokens`; dollars come from the teacher's own price lookup (`teacher.prices`, the ledger the
cost report uses). Requests are exact when the teacher writes every text it is asked for;
retried requests and replies already in the response cache are not counted.
"""

from __future__ import annotations

import textwrap
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from evokd.config import Config
from evokd.errors import ConfigError
from evokd.strategies import get_strategy

if TYPE_CHECKING:
    from evokd.tasks import Task

CHARS_PER_TOKEN = 4  # English text, to write a stand-in analysis of teacher.max_tokens tokens


class _Planned(Exception):
    """Raised by the recorder once a teacher call has planned its requests."""


class _Recorder:
    """Takes the dispatcher's place: keeps the requests a teacher call plans, sends none."""

    def __init__(self) -> None:
        self.requests: list = []

    def run(self, requests: list) -> list:
        self.requests.extend(requests)
        raise _Planned


@dataclass
class StageBill:
    stage: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens_max: int = 0
    usd_max: float | None = 0.0


def _completion_cap(sampling: dict) -> int:
    """The request's output cap, under whichever name the endpoint is sent it."""
    return int(sampling.get("max_tokens") or sampling.get("max_completion_tokens") or 0)


def _feedback_rows(task: Task, pool: list[dict], labels: list[str], n_wrong: int,
                   n_right: int) -> list[dict]:
    """Stand-in student answers: the longest pool texts, wrong ones with the longest wrong answer
    the prompt could show (`Task.longest_wrong_answer`)."""
    longest = _longest(pool, n_wrong + n_right)
    rows = []
    for i, row in enumerate(longest):
        wrong = i < n_wrong
        predicted = task.longest_wrong_answer(row, labels)
        rows.append({**row, "id": f"standin-{i}", "correct": not wrong,
                     **({"predicted": predicted} if wrong else {})})
    return rows


def _longest(pool: list[dict], n: int) -> list[dict]:
    """`n` rows of the pool, longest texts first (cycled when the pool is smaller)."""
    ranked = sorted(pool, key=lambda r: len(r["text"]), reverse=True)
    return [ranked[i % len(ranked)] for i in range(n)] if ranked else []


def _analysis_standin(pool: list[dict], tokens: int) -> str:
    """An analysis as long as one reply may be: `tokens` tokens of pool words."""
    words = " ".join(r["text"] for r in _longest(pool, 50)).split() or ["word"]
    out, size, i = [], 0, 0
    while size < tokens * CHARS_PER_TOKEN:
        out.append(words[i % len(words)])
        size += len(out[-1]) + 1
        i += 1
    return " ".join(out)


def priced_config(cfg: Config, model: str | None) -> Config:
    """The config to estimate: `model` (if given) as the LLM teacher's model; the simulated
    teacher costs nothing, so an estimate needs one."""
    teacher = cfg.teacher
    if model:
        teacher = teacher.model_copy(update={"provider": "openai", "model": model})
    elif teacher.provider != "openai" or not teacher.model:
        raise ConfigError("evokd estimate prices the LLM teacher: set teacher.provider openai and "
                          "teacher.model in params.yaml, or name the model: `evokd estimate --model gpt-4o-mini`")
    # Batch mode changes how requests travel, not what they are; plan them as online ones.
    return cfg.model_copy(update={"teacher": teacher.model_copy(update={"mode": "online"})})


def estimate(cfg: Config, model: str | None = None) -> dict:
    """The bill of `cfg`'s run, per teacher stage and in total (see the module docstring)."""
    from evokd.rounds import relabel
    from evokd.rounds.checks import chunk_size
    from evokd.rounds.spending import steps
    from evokd.tasks import get_task
    from evokd.teachers.base import SynthesisRequest
    from evokd.teachers.budget import estimate_prompt_tokens
    from evokd.teachers.openai import OpenAITeacher

    cfg = priced_config(cfg, model)
    task = get_task(cfg.task)
    pool = task.load(cfg.dataset)["train"]
    labels = task.label_set(pool)
    teacher = OpenAITeacher(cfg, api_key=None, client=object())  # nothing is ever sent
    recorder = _Recorder()
    teacher.dispatcher = recorder
    syn, lab, t = cfg.synthesize, cfg.label, cfg.teacher

    def plan(call, *args, **kwargs) -> list:
        start = len(recorder.requests)
        try:
            call(*args, **kwargs)
        except _Planned:
            pass
        return recorder.requests[start:]

    # prepare's seed set: `shots` examples per label (per entity type for NER), the longest
    # pool texts standing in for them (the generation prompts show them as examples).
    seed = [{**row, "id": f"seed-standin-{i}"} for i, row in enumerate(_longest(pool, cfg.shots * len(labels)))]

    def probe(k: int) -> list:
        # As stages/probe.py: the feedback-free generation of probe.n_texts texts, then one
        # label call for the seed examples and those texts together.
        request = SynthesisRequest(round=0, labels=labels, analysis={}, feedback=[], known=seed,
                                   n_hard=0, n_easy=cfg.probe.n_texts, seed=seed)
        out = plan(teacher.probe, request, cfg.probe.n_texts)
        texts = [{"id": f"probe-standin-{i}", "text": r["text"]}
                 for i, r in enumerate(seed + _longest(pool, cfg.probe.n_texts))]
        return out + plan(teacher.label, texts, labels)

    def analyze(k: int) -> list:
        rows = _feedback_rows(task, pool, labels, cfg.analyze.n_wrong, cfg.analyze.n_correct)
        return plan(teacher.analyze, k, rows, labels)

    def synthesize(k: int) -> list:
        if get_strategy(syn.strategy).writer != "teacher":  # eda: the stage writes, no request
            return []
        rows = _feedback_rows(task, pool, labels, syn.batches * syn.show_wrong, syn.batches * syn.show_correct)
        request = SynthesisRequest(
            round=k, labels=labels, feedback=rows, known=[],
            analysis={"summary": _analysis_standin(pool, t.max_tokens), "weak_labels": labels},
            n_hard=syn.n_hard, n_easy=syn.n_easy, seed=seed)
        return plan(teacher.synthesize, request)

    def label(k: int) -> list:
        # As stages/label.py: chunks of whole requests, the label call unless the
        # generation wrote the labels, and the second labelling of each chunk.
        texts = _longest(pool, syn.n_hard + syn.n_easy)
        samples = [{"id": f"r{k}-standin-{i}", "text": r["text"]} for i, r in enumerate(texts)]
        size = chunk_size(lab.batch_size)
        out = []
        for start in range(0, len(samples), size):
            chunk = samples[start: start + size]
            if not get_strategy(syn.strategy).labels_with_generation:
                out += plan(teacher.label, chunk, labels)
            second = relabel.pick(chunk, lab.relabel_fraction, cfg.seed)
            if second:
                out += plan(teacher.label, second, labels, draw=relabel.RELABEL_DRAW)
        return out

    calls = {"probe": probe, "analyze": analyze, "synthesize": synthesize, "label": label}
    priced = teacher.ledger.price is not None
    stages = []
    for k in range(cfg.rounds + 1):
        for verb in steps(k):
            bill = StageBill(f"{verb}@{k}")
            for request in calls[verb](k):
                prompt = estimate_prompt_tokens(request.messages, request.sampling.get("response_format"))
                completion = _completion_cap(request.sampling)
                bill.requests += 1
                bill.prompt_tokens += prompt
                bill.completion_tokens_max += completion
                bill.usd_max += teacher.ledger.cost(prompt, completion)
            if not priced:
                bill.usd_max = None
            stages.append(bill)
    total = StageBill("total", sum(s.requests for s in stages), sum(s.prompt_tokens for s in stages),
                      sum(s.completion_tokens_max for s in stages),
                      sum(s.usd_max for s in stages) if priced else None)
    price = t.prices.get(t.model)
    return {"model": t.model, "price_per_1m": price.model_dump() if price else None,
            "rounds": cfg.rounds, "strategy": syn.strategy, "prompts": t.prompts,
            "stages": [asdict(s) for s in stages], "total": asdict(total), "notes": notes(cfg, priced)}


def notes(cfg: Config, priced: bool) -> list[str]:
    t = cfg.teacher
    out = [
        "requests: exact when the teacher writes every text it is asked for (retries and replies "
        "already in the response cache not counted)",
        "prompt tokens: upper bounds, counted as teacher.budget counts them. Each prompt is rendered "
        "from the prompt set as the teacher renders it; what the run has not produced yet (the "
        "round-0 student's answers; in later rounds also the analyses and the texts to label) is "
        "stood in for at the largest size the config allows, so later rounds are bounds, not forecasts",
        f"completion tokens: at most teacher.max_tokens ({t.max_tokens}) per request",
    ]
    if not priced:
        out.append(f"no price for {t.model!r} in teacher.prices: add teacher.prices.{t.model}: "
                   "{prompt: ..., completion: ...} (USD per 1M tokens) to see dollars")
    return out


def render(bill: dict) -> str:
    """The bill as a table for a terminal (and for docs/estimate.md)."""
    price = bill["price_per_1m"]
    head = (f"evokd estimate: teacher {bill['model']}"
            + (f" (USD {price['prompt']:g} / {price['completion']:g} per 1M prompt / completion tokens)"
               if price else " (unpriced)")
            + f", {bill['rounds']} rounds, strategy {bill['strategy']}, prompts {bill['prompts']}")
    rows = [("stage", "requests", "prompt tokens", "completion tokens (at most)", "USD (at most)")]
    for s in bill["stages"] + [bill["total"]]:
        usd = "-" if s["usd_max"] is None else f"{s['usd_max']:.4f}"
        rows.append((s["stage"], f"{s['requests']:,}", f"{s['prompt_tokens']:,}",
                     f"{s['completion_tokens_max']:,}", usd))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, ""]
    for n, r in enumerate(rows):
        if n == len(rows) - 1:
            lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
        lines.append("  ".join(r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i])
                               for i in range(len(r))))
    lines += ["", *(textwrap.fill(note, 100, initial_indent="- ", subsequent_indent="  ")
                    for note in bill["notes"])]
    return "\n".join(lines)

