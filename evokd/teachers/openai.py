"""The LLM teacher: the three calls of a round against any OpenAI-compatible chat-completions
endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp server, LM Studio).

- synthesize: `synthesize.batches` fresh conversations per round, each with its own draw index
  and its own slice of the previous batch's wrong and right answers, together asking for
  `n_hard` hard and `n_easy` easy *new* texts. Each text records its batch (`draw`) and how
  much of it repeats its prompt (`prompt_overlap`; the label stage rejects echoes). That is
  `synthesize.strategy` evokd; the baselines random and uncertainty ask with a prompt that holds
  only the task context and the seed examples (`synthesize_random.md`), and the uncertainty strategies
  over-generate and let the previous student keep what it is least sure of (the request's
  probe of it, `SynthesisRequest.student`). evokd-gen-labels is evokd's generation with
  `synthesize_labelled.md`, which also asks for each text's answer (the label call's per-text
  answer object); a text keeps it as `answer`, and the label stage takes it instead of calling
  `label` (the ablation "is the separate labelling call worth its tokens?"). Each strategy has
  its own draws, so their replies never mix. Which of these a run does is the strategy's
  declaration (evokd.strategies: template, guided, over-generation, ranking, cache draw).
- label: a separate call labels numbered texts, `label.batch_size` per request; answers are
  joined back by number, never by position. Per text: the answer object (e.g. {"label"}) or
  {"error": reason}; the label stage validates it. A second labelling (`draw` > 0) is the same
  call with another draw in the cache key and another sampling seed: a separate sample. (At
  `teacher.label_temperature: 0` it differs only by its batch mates and numbering.)
- analyze: the previous student's wrong and right answers in, {"summary", "weak_labels"} out.

Replies are read tolerantly (evokd.teachers.parse); what cannot be read is counted in
`usage.bad_replies` and `rejected` (by reason), never raised. A reply cut at `teacher.max_tokens`
keeps its complete items (evokd.teachers.salvage): they are used, the reply is counted in
`usage.truncated_replies`, and the texts or answers it never reached as `<call>:truncated`.
Sending, caching, the budget and concurrency are evokd.teachers.dispatch's job; retries are
evokd.teachers.client's.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from typing import Optional

from evokd.config import Config
from evokd.data.textnorm import shingles
from evokd.errors import TeacherError, TeacherRefused
from evokd.strategies import RANDOM_KIND, get_strategy
from evokd.teachers import schemas
from evokd.teachers.base import SynthesisRequest, Teacher, Usage, select_feedback, writing_strategy
from evokd.teachers.budget import Ledger, Price, SharedLedger
from evokd.teachers.cache import ResponseCache
from evokd.teachers.client import REFUSAL_HINTS, ChatClient, Refused, RetryPolicy
from evokd.teachers.dispatch import ChatRequest, Dispatcher
from evokd.teachers.parse import ParseFailure, as_list, extract_json, item_text
from evokd.teachers.prompts import data_block, load_template, task_context
from evokd.teachers.salvage import salvage_truncated

log = logging.getLogger(__name__)


def split_evenly(n: int, parts: int) -> list[int]:
    """n as `parts` near-equal counts, larger ones first (24 over 5 -> 5, 5, 5, 5, 4)."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def label_quotas(labels: list[str], per_batch: list[int], start: int = 0) -> list[dict[str, int]]:
    """Each conversation's texts per label. The round's texts go round-robin over the labels,
    from label number `start`, and each conversation takes the next slice, so the round's counts
    differ by at most one between labels (24 over 6 labels in 4 conversations of 6: 4 each).
    `synthesize.label_quota: even` spreads the hard texts so, whatever the analysis calls weak;
    the easy texts are always spread so (`easy_labels`)."""
    if not labels:
        return [{} for _ in per_batch]
    out, start = [], start % len(labels)
    for n in per_batch:
        counts: dict[str, int] = {}
        for i in range(start, start + n):
            counts[labels[i % len(labels)]] = counts.get(labels[i % len(labels)], 0) + 1
        out.append({lab: counts[lab] for lab in labels if lab in counts})
        start += n
    return out


def _per_label(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} for {lab}" for lab, n in counts.items())


def quota_line(counts: dict[str, int]) -> str:
    """The sentence the guided templates append to their hard request (placeholder
    `$hard_quota`); empty without quotas, so the prompt is then what it always was."""
    if not counts:
        return ""
    return " Spread the hard texts over the labels exactly like this: " + _per_label(counts) + "."


def easy_labels(counts: dict[str, int]) -> str:
    """The labels of one conversation's easy texts (placeholder `$easy_labels`): "1 for ENTY,
    1 for HUM". A conversation asks for too few easy texts to cover every label (8 over 4
    conversations is 2 each, for 6 labels); asked in each for texts "spread over all labels",
    the LLM of bench/llm_trial left a label or more without one in every round. So each
    conversation names its own labels and the round's conversations cover them all
    (`label_quotas`)."""
    return _per_label(counts) or "none"


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _window(rows: list[dict], start: int, size: int) -> list[dict]:
    """`size` rows from `start`, wrapping around, no repeats."""
    if not rows or size <= 0:
        return []
    return [rows[(start + i) % len(rows)] for i in range(min(size, len(rows)))]


# Keys of a generated item that are not its answer: the text (under any name item_text reads),
# the kind of a list-form reply, a number.
_NOT_ANSWER = ("text", "question", "sentence", "input", "kind", "id")


def answer_fields(item: dict, drop: tuple[str, ...]) -> dict:
    """A per-text answer object: the item without the keys in `drop`, a label stripped of
    surrounding whitespace (the task checks the rest)."""
    answer = {key: value for key, value in item.items() if key not in drop}
    if isinstance(answer.get("label"), str):
        answer["label"] = answer["label"].strip()
    return answer


def prompt_overlap(text: str, prompt_grams: set) -> float:
    """Share of the text's word 3-grams that occur in its prompt (1.0 = a copy of prompt text)."""
    grams = shingles(text)
    return round(len(grams & prompt_grams) / len(grams), 3) if grams else 0.0


def sampling_params(cfg: Config, kind: str, labels: list[str]) -> dict:
    """The params of one `kind` request (synthesize, synthesize_random, synthesize_labelled,
    label, analyze) under evokd's names, which the cache key is made of:

    - `max_tokens`: the output cap, `teacher.output_cap()` (a reasoning model's includes
      `reasoning_headroom`); the client sends it as max_tokens or max_completion_tokens, a name
      that changes nothing in the reply, so it is not in the key;
    - `temperature` (label_temperature for label): not for a reasoning model, which samples only
      at its default, nor when null; the key then holds none, as the request does;
    - `seed` (teacher.send_seed), `reasoning_effort` (when set), and the JSON-schema
      `response_format` (teacher.json_schema).

    A non-reasoning model with the default settings gets exactly the params of earlier versions,
    so existing caches stay valid."""
    t = cfg.teacher
    temperature = t.label_temperature if kind == "label" else t.temperature
    sampling: dict = {}
    if temperature is not None and not t.is_reasoning():
        sampling["temperature"] = temperature
    sampling["max_tokens"] = t.output_cap()
    if t.send_seed:
        sampling["seed"] = cfg.seed
    if t.reasoning_effort is not None:
        sampling["reasoning_effort"] = t.reasoning_effort
    if t.json_schema:
        sampling["response_format"] = {"type": "json_schema", "json_schema": {
            "name": f"evokd_{kind}", "strict": True, "schema": schemas.schema(cfg.task, kind, labels)}}
    return sampling


def make_client(cfg: Config, api_key: Optional[str], timeout_s: Optional[float] = None,
                policy: Optional[RetryPolicy] = None, on_attempt=lambda: None,
                base_url=None) -> ChatClient:
    """The ChatClient for `teacher` (its endpoints, or Azure; the output cap's field name)."""
    t = cfg.teacher
    return ChatClient(
        base_url if base_url is not None else t.base_url, api_key,
        timeout_s if timeout_s is not None else t.timeout_s,
        policy or RetryPolicy(t.max_tries, t.backoff_s, t.max_backoff_s),
        on_attempt=on_attempt, seed=cfg.seed, token_param=t.resolved_token_param(),
        azure=t.azure, model=t.model)


class OpenAITeacher(Teacher):
    def __init__(self, cfg: Config, api_key: Optional[str] = None, spent: Optional[Usage] = None,
                 client: Optional[ChatClient] = None):
        super().__init__()
        t = cfg.teacher
        self.cfg, self.t = cfg, t
        self._lock = threading.Lock()
        price = Price(t.prices[t.model].prompt, t.prices[t.model].completion) if t.model in t.prices else None
        if price is None:
            log.info("teacher: no price for %r in teacher.prices; cost is reported as 0", t.model)
        spent = spent or Usage()
        cache, batch = ResponseCache(t.cache_dir), None
        # What every run sharing the cache folder paid: the cap holds across processes too.
        shared = SharedLedger(cache.root, t.budget.max_tokens, t.budget.max_usd)
        self.ledger = Ledger(price, t.budget.max_tokens, t.budget.max_usd,
                             spent_tokens=spent.prompt_tokens + spent.completion_tokens,
                             spent_usd=spent.cost_usd, cache_hint=f" ({t.cache_dir})", shared=shared)
        self.client = client or make_client(cfg, api_key, on_attempt=self._count_attempt)
        if t.mode == "batch":  # the OpenAI Batch API: submit, stop, collect on a later run
            from evokd.teachers.batch import BatchRunner

            batch = BatchRunner(self.client._client, cache, self.client.display_url, self.client.redact,
                                self.ledger)
        self.dispatcher = Dispatcher(self.client, t.model, cache, self.ledger, self.usage, t.max_concurrency,
                                     t.cache_namespace, batch)
        self._truncated_notes: list[str] = []

    def _count_attempt(self) -> None:
        with self._lock:
            self.usage.requests += 1

    def _reject(self, reason: str, n: int = 1, reply: bool = False) -> None:
        with self._lock:
            self.rejected[reason] += n
            if reply:
                self.usage.bad_replies += 1

    # -- requests -------------------------------------------------------------------------
    def _sampling(self, kind: str, labels: list[str]) -> dict:
        """The params of a `kind` request, under evokd's names (the cache key is made of them;
        the client renames the output cap for the endpoint): see `sampling_params`."""
        return sampling_params(self.cfg, kind, labels)

    def _seeded(self, sampling: dict, seed: int) -> dict:
        """`sampling` with its own seed (when seeds are sent at all: teacher.send_seed)."""
        return {**sampling, "seed": seed} if self.t.send_seed else sampling

    def request_shape(self) -> dict:
        """What this teacher sends, for the stage's meta: the output cap and the field it went
        under, what is set but not sent, and what was changed at run time."""
        t = self.t
        shape = {"reasoning": t.is_reasoning(), "token_param": self.client.token_param,
                 "output_cap": t.output_cap(), "reasoning_effort": t.reasoning_effort,
                 "seed": t.send_seed, "json_schema": t.json_schema}
        unsent = t.unsent_temperatures()
        if unsent:
            shape["not_sent"] = {f"teacher.{k}": v for k, v in unsent.items()}
        if self.client.adaptations:
            shape["adaptations"] = list(self.client.adaptations)
        if self._truncated_notes:
            shape["truncated"] = list(self._truncated_notes)
        return shape

    def _template(self, kind: str):
        return load_template(self.t.prompts, self.cfg.task, kind)

    def _context(self, labels: list[str]) -> dict:
        """What every prompt kind renders: the label names and the task context (`$task`).
        (prepare has checked that every described label is the dataset's.)"""
        ds = self.cfg.dataset
        return {"labels": ", ".join(labels),
                "task": task_context(self.cfg.task, labels, ds.description, ds.label_descriptions)}

    def _examples(self, request: SynthesisRequest, b: int) -> str:
        """Generation conversation b's `$examples`: its window of `synthesize.show_seed` seed
        examples (all of them when the seed set is that small), as a data block."""
        fmt, n = schemas.example_format(self.cfg.task), self.cfg.synthesize.show_seed
        return data_block("examples", [fmt(r) for r in _window(request.seed, b * n, n)])

    def _read(self, reply: dict) -> object:
        """The JSON in a reply, or a ParseFailure. A reply cut off at the output cap gives its
        complete items (`salvage_truncated`, counted in `usage.truncated_replies`; the caller
        counts what it lacks as truncated). One with nothing complete is `truncated`, counted
        (`usage.truncated`) and named with what to raise; an empty one whose tokens all went to
        hidden reasoning says so."""
        if _cut(reply):
            salvaged = salvage_truncated(reply.get("content"))
            if not isinstance(salvaged, ParseFailure):
                with self._lock:
                    self.usage.truncated_replies += 1
                return salvaged
        value = extract_json(reply.get("content"))
        if not (isinstance(value, ParseFailure) and _cut(reply)):
            return value
        usage = reply.get("usage") if isinstance(reply.get("usage"), dict) else {}
        reasoning = usage.get("reasoning_tokens") or 0
        cap = self.t.output_cap()
        if value.reason == "empty_reply" and reasoning:
            detail = (f"empty reply: all {usage.get('completion_tokens')} completion tokens went to hidden "
                      f"reasoning ({reasoning}), the output cap is {cap}; raise teacher.reasoning_headroom "
                      f"or lower teacher.reasoning_effort")
        else:
            detail = (f"the reply hit the output cap ({cap} tokens"
                      + (f", {reasoning} of them hidden reasoning" if reasoning else "")
                      + "); raise teacher.max_tokens" + (" or teacher.reasoning_headroom" if self.t.is_reasoning() else ""))
        with self._lock:
            self.usage.truncated += 1
            first = not self._truncated_notes
            if len(self._truncated_notes) < 5:  # the meta file shows the first five; the count is in usage
                self._truncated_notes.append(detail)
        if first:
            log.warning("teacher: a reply was truncated: %s", detail)
        return ParseFailure("truncated", detail)

    # -- synthesize -----------------------------------------------------------------------
    def synthesize(self, request: SynthesisRequest) -> list[dict]:
        """Round k's new texts, by `synthesize.strategy` (what evokd.strategies declares of it):

        - evokd: analysis-guided generation (the analysis and the previous batch's answers in
          the prompt), `n_hard` hard and `n_easy` easy texts;
        - random: `n_hard + n_easy` texts written for the task and label set alone (no
          analysis, no feedback; the ZeroGen-style baseline), of kind random;
        - uncertainty: `overgenerate` times as many such texts, of which the previous student
          keeps the `n_hard + n_easy` it is least sure of (the active-learning baseline), kind "hard";
        - evokd-uncertainty: evokd with `overgenerate` times the hard texts, of which the
          student keeps the `n_hard` it is least sure of; easy ones as written;
        - evokd-gen-labels: evokd, each text written with its label (`answer`), for the label
          stage to take instead of a label call.
        """
        syn, strategy = self.cfg.synthesize, writing_strategy(self.cfg.synthesize.strategy)
        if not strategy.guided:
            n = request.n_hard + request.n_easy
            if strategy.overgenerates == "none":
                return self._generate_unguided(request, n, RANDOM_KIND)
            candidates = self._generate_unguided(request, syn.overgenerated(n), "hard")
            return self._ranked(request, candidates, n)
        if strategy.overgenerates == "hard":
            out = self._generate_guided(request, syn.overgenerated(request.n_hard), request.n_easy,
                                        strategy.template)
            hard = self._ranked(request, [s for s in out if s["kind"] == "hard"], request.n_hard)
            return hard + [s for s in out if s["kind"] == "easy"]
        return self._generate_guided(request, request.n_hard, request.n_easy, strategy.template)

    def _draw(self, k: int, b: int) -> str:
        """The cache draw of round k's generation batch b: the strategy's own
        (`Strategy.cache_draw`), so that strategies never share replies."""
        return get_strategy(self.cfg.synthesize.strategy).cache_draw(k, b)

    def _ranked(self, request: SynthesisRequest, candidates: list[dict], n: int) -> list[dict]:
        """The `n` candidates an over-generating strategy keeps: those the previous round's
        student is least sure of (ranking least_sure, the one ranking evokd.strategies declares)."""
        if request.student is None:
            # A bug, not a user's mistake (the synthesize stage always gives one): a traceback.
            raise ValueError(f"strategy {self.cfg.synthesize.strategy} ranks candidates with the previous "
                             "round's student, and the request holds none")
        log.info("synthesize: the round-%d student ranks %d candidates and keeps %d", request.round - 1,
                 len(candidates), min(n, len(candidates)))
        return request.student.least_sure(candidates, n)

    def _samples(self, plan: list[tuple], replies: list[dict], read) -> list[dict]:
        """Generated samples with their batch (`draw`) and how much each repeats its prompt;
        `read` gives (kind, text, extra fields) per sample (extra: {"answer"} or nothing)."""
        out = []
        for (b, *wants, messages), reply in zip(plan, replies):
            grams = set().union(*(shingles(m["content"]) for m in messages))
            for kind, text, extra in read(reply, *wants):
                out.append({"text": text, "kind": kind, **extra, "draw": b,
                            "prompt_overlap": prompt_overlap(text, grams)})
        return out

    def _generate_unguided(self, request: SynthesisRequest, n: int, kind: str,
                           draw=None) -> list[dict]:
        """`n` texts from the task context and the seed examples alone: the prompt holds no
        analysis and no student answers, and differs between conversations only in the count
        asked for and the seed examples shown; each conversation has its own sampling seed.
        Each text is of `kind`; `draw(b)` names conversation b's cache draw (default: the
        strategy's, `_draw`)."""
        cfg, k = self.cfg, request.round
        draw = draw or (lambda b: self._draw(k, b))
        template, context = self._template("synthesize_random"), self._context(request.labels)
        plan, requests = [], []
        for b, want in enumerate(split_evenly(n, cfg.synthesize.batches)):
            if want == 0:
                continue
            messages = template.render(**context, examples=self._examples(request, b), n_total=want)
            plan.append((b, want, messages))
            # Every conversation of every round sends these same messages: only its own
            # sampling seed makes the model write something else each time.
            sampling = self._seeded(self._sampling("synthesize_random", request.labels),
                                    _rng(cfg.seed, draw(b)).randrange(2**31))
            requests.append(ChatRequest(messages, sampling, draw=draw(b)))
        replies = self.dispatcher.run(requests)
        return self._samples(plan, replies, lambda reply, want: self._read_texts(reply, want, kind))

    def _generate_guided(self, request: SynthesisRequest, n_hard: int, n_easy: int,
                         kind: str = "synthesize") -> list[dict]:
        """`n_hard` hard and `n_easy` easy texts aimed at the analysis, each conversation shown
        its own slice of the previous batch's wrong and right answers. `kind` synthesize_labelled
        (strategy evokd-gen-labels) asks for each text's label too and keeps it as `answer`."""
        cfg, k = self.cfg, request.round
        template, fmt = self._template(kind), schemas.example_format(cfg.task)
        context = self._context(request.labels)
        batches = cfg.synthesize.batches
        hard_n, easy_n = split_evenly(n_hard, batches), split_evenly(n_easy, batches)
        wrong = [r for r in request.feedback if not r.get("correct")]
        right = [r for r in request.feedback if r.get("correct")]
        rng = _rng(cfg.seed, "examples", k)
        rng.shuffle(wrong)
        rng.shuffle(right)
        analysis = request.analysis or {}
        quotas = (label_quotas(request.labels, hard_n) if cfg.synthesize.label_quota == "even"
                  else [{} for _ in hard_n])
        # The easy texts go on where the previous round's left off, so that no label is always
        # the one left with fewer.
        easy = label_quotas(request.labels, easy_n, start=(k - 1) * n_easy)
        plan, requests = [], []
        for b in range(batches):
            if hard_n[b] + easy_n[b] == 0:
                continue
            shown_wrong = _window(wrong, b * cfg.synthesize.show_wrong, cfg.synthesize.show_wrong)
            shown_right = _window(right, b * cfg.synthesize.show_correct, cfg.synthesize.show_correct)
            messages = template.render(
                **context, examples=self._examples(request, b),
                analysis=data_block("analysis", [{"summary": analysis.get("summary") or "(no analysis yet)"}]),
                weak_labels=", ".join(analysis.get("weak_labels") or []) or "(none named)",
                wrong_examples=data_block("wrong_answers", [fmt(r) for r in shown_wrong]),
                correct_examples=data_block("right_answers", [fmt(r) for r in shown_right]),
                n_hard=hard_n[b], n_easy=easy_n[b], n_total=hard_n[b] + easy_n[b],
                hard_quota=quota_line(quotas[b]), easy_labels=easy_labels(easy[b]))
            plan.append((b, hard_n[b], easy_n[b], messages))
            requests.append(ChatRequest(messages, self._sampling(kind, request.labels),
                                        draw=self._draw(k, b)))
        replies = self.dispatcher.run(requests)
        with_answers = kind == "synthesize_labelled"
        return self._samples(plan, replies, lambda reply, n_hard, n_easy:
                             self._read_synthesis(reply, n_hard, n_easy, with_answers))

    def _read_texts(self, reply: dict, want: int, kind: str) -> list[tuple[str, str, dict]]:
        """An unguided reply, {"texts": [...]} (or a bare list; a {"hard", "easy"} reply is read
        as both lists), as up to `want` texts of `kind` (no extra fields)."""
        value = self._read(reply)
        if isinstance(value, dict) and "texts" not in value and ("hard" in value or "easy" in value):
            items: list = []  # the guided reply's shape: both lists are texts
            for key in ("hard", "easy"):
                part = as_list(value.get(key, []), key)
                items += [] if isinstance(part, ParseFailure) else part
        else:
            items = as_list(value, "texts")
        if isinstance(items, ParseFailure):
            self._reject(f"synthesize:{items.reason}", reply=True)
            return []
        return [(kind, text, {}) for text, _ in self._take(items, want, _cut(reply))]

    def _read_synthesis(self, reply: dict, n_hard: int, n_easy: int,
                        with_answers: bool = False) -> list[tuple[str, str, dict]]:
        """A guided reply, {"hard": [...], "easy": [...]} (or a list of {"text", "kind"}), as up
        to `n_hard` hard and `n_easy` easy (kind, text, extra) triples; `with_answers`: extra
        holds each text's answer ({"answer": {...}}) where its item gave one."""
        value = self._read(reply)
        if isinstance(value, ParseFailure):
            self._reject(f"synthesize:{value.reason}", reply=True)
            return []
        if isinstance(value, dict) and ("hard" in value or "easy" in value):
            groups = {kind: as_list(value.get(kind, []), kind) for kind in ("hard", "easy")}
        else:  # a list (or one object) of {"text", "kind"}
            items = as_list(value, "samples")
            if isinstance(items, ParseFailure):
                self._reject(f"synthesize:{items.reason}", reply=True)
                return []
            groups = {"hard": [], "easy": []}
            for item in items:
                kind = item.get("kind", "hard") if isinstance(item, dict) else "hard"
                groups["easy" if str(kind).lower() == "easy" else "hard"].append(item)
        out = []
        for kind, want in (("hard", n_hard), ("easy", n_easy)):
            items = groups[kind]
            if isinstance(items, ParseFailure):
                self._reject(f"synthesize:{items.reason}")
                continue
            out += [(kind, text, self._generated_answer(item) if with_answers else {})
                    for text, item in self._take(items, want, _cut(reply))]
        return out

    def _generated_answer(self, item: object) -> dict:
        """{"answer": ...}: a labelled generation item's per-text answer (what the label call
        would answer for it, without the text), or {} when the item holds none (a bare string,
        or an object with only its text), counted as `synthesize:no_answer`; the label stage
        then rejects the text as unlabelled."""
        answer = answer_fields(item, _NOT_ANSWER) if isinstance(item, dict) else {}
        answer = {key: value for key, value in answer.items() if value is not None}  # "label": null
        if not answer:
            self._reject("synthesize:no_answer")
            return {}
        return {"answer": answer}

    def _take(self, items: list, want: int, cut: bool = False) -> list[tuple[str, object]]:
        """Up to `want` (text, item) pairs of the items, the text whitespace-normalised; what is
        not a text, what is beyond `want` and what is missing are counted as rejections (missing
        from a reply `cut` at max_tokens: `truncated`)."""
        taken = []
        for item in items:
            text = item_text(item)
            if text is None:
                self._reject("synthesize:not_text")
            elif len(taken) < want:
                taken.append((" ".join(text.split()), item))
            else:
                self._reject("synthesize:surplus")
        if len(taken) < want:
            self._reject("synthesize:truncated" if cut else "synthesize:missing", want - len(taken))
        return taken

    # -- probe (round 0) ------------------------------------------------------------------
    def probe(self, request: SynthesisRequest, n: int) -> list[dict]:
        """Round 0's fresh texts: the feedback-free generation (`synthesize_random.md`, task
        context and seed examples), `n` texts of kind "probe", in draws of their own."""
        return self._generate_unguided(request, n, "probe", draw=lambda b: f"probe/round0/batch{b}")

    # -- label ----------------------------------------------------------------------------
    def label(self, samples: list[dict], labels: list[str], draw: int = 0) -> dict[str, dict]:
        template, context = self._template("label"), self._context(labels)
        size = self.cfg.label.batch_size
        chunks = [samples[i : i + size] for i in range(0, len(samples), size)]
        sampling = self._sampling("label", labels)
        if draw:  # a second labelling: another sample, cached apart from the first
            sampling = self._seeded(sampling, self.cfg.seed + draw)
        requests = []
        for chunk in chunks:
            texts = data_block("texts", [{"id": n, "text": " ".join(s["text"].split())}
                                         for n, s in enumerate(chunk, 1)])
            messages = template.render(**context, texts=texts, n=len(chunk))
            requests.append(ChatRequest(messages, sampling, draw=f"label/draw{draw}" if draw else "label"))
        replies = self.dispatcher.run(requests)
        out: dict[str, dict] = {}
        for chunk, reply in zip(chunks, replies):
            out.update(self._read_labels(reply, chunk))
        return out

    def _read_labels(self, reply: dict, chunk: list[dict]) -> dict[str, dict]:
        """Each text's answer object, joined by number. A reply whose numbers do not match the
        request (one answer per text, each numbered 1..n once) is rejected whole: its answers
        cannot be trusted to belong to the texts they name (a text that quotes JSON, a model that
        skipped or merged lines). Counted as `label:<reason>` and in `usage.bad_replies`; every
        text of the chunk gets {"error": ...} for the label stage to reject."""
        items = as_list(self._read(reply), "labels")
        if isinstance(items, ParseFailure):
            self._reject(f"label:{items.reason}", reply=True)
            return {s["id"]: {"error": f"unreadable reply ({items.reason})"} for s in chunk}
        answers: dict[int, dict] = {}
        problem = None
        for item in items:
            if not isinstance(item, dict):
                problem = "not_an_object"
                break
            number = item.get("id")
            if number is None and len(chunk) == 1 and len(items) == 1:
                number = 1  # one text, one answer without its number
            if isinstance(number, bool) or (isinstance(number, float) and not number.is_integer()):
                number = None  # true is not 1, and 1.5 is no text's number
            try:
                number = int(number)
            except (TypeError, ValueError, OverflowError):  # OverflowError: an id of Infinity
                problem = "no_id"
                break
            if not 1 <= number <= len(chunk):
                problem = "unknown_id"
                break
            if number in answers:
                problem = "repeated_id"
                break
            answers[number] = answer_fields(item, ("id",))
        # A reply cut at the output cap may lack the answers after the cut: those texts are
        # `label:truncated`, the complete answers before it are kept (their numbers still must
        # match). Anything else missing means the numbers do not match the request.
        cut_short = _cut(reply) and problem is None and len(answers) < len(chunk)
        if problem is None and len(answers) != len(chunk) and not cut_short:
            problem = "missing_id"
        if problem is not None:
            self._reject(f"label:{problem}", reply=True)
            detail = (f"the reply's ids do not match the request ({problem}: {len(items)} answer(s) "
                      f"for {len(chunk)} text(s)); the whole reply is rejected")
            return {s["id"]: {"error": detail} for s in chunk}
        if cut_short:
            self._reject("label:truncated", len(chunk) - len(answers))
        missing = {"error": "the reply was cut at teacher.max_tokens before this text's answer"}
        return {s["id"]: answers.get(n, missing) for n, s in enumerate(chunk, 1)}

    # -- analyze --------------------------------------------------------------------------
    def analyze(self, round: int, feedback: list[dict], labels: list[str]) -> dict:
        shown = select_feedback(self.cfg.analyze, feedback)
        wrong = [r for r in shown if not r.get("correct")]
        right = [r for r in shown if r.get("correct")]
        fmt = schemas.example_format(self.cfg.task)
        messages = self._template("analyze").render(
            **self._context(labels), n_wrong=len(wrong), n_correct=len(right),
            wrong_examples=data_block("wrong_answers", [fmt(r) for r in wrong]),
            correct_examples=data_block("right_answers", [fmt(r) for r in right]))
        reply = self.dispatcher.run([ChatRequest(messages, self._sampling("analyze", labels),
                                                 draw=f"analyze/round{round}")])[0]
        value = self._read(reply)
        if isinstance(value, ParseFailure) or not isinstance(value, dict) \
                or not isinstance(value.get("summary"), str):
            reason = value.reason if isinstance(value, ParseFailure) else \
                "truncated" if _cut(reply) else "wrong_shape"
            self._reject(f"analyze:{reason}", reply=True)
            return {"summary": "", "weak_labels": [], "error": f"unreadable analysis ({reason})"}
        weak = value.get("weak_labels") or []
        weak = [w for w in (weak if isinstance(weak, list) else [weak]) if isinstance(w, str)]
        known = [w.strip() for w in weak if w.strip() in labels]
        if len(known) < len(weak):
            self._reject("analyze:unknown_weak_label", len(weak) - len(known))
        return {"summary": value["summary"].strip(), "weak_labels": list(dict.fromkeys(known))}


def _cut(reply: dict) -> bool:
    """Whether the endpoint says the reply stopped at its output cap."""
    return reply.get("finish_reason") == "length"


CHECK_PROMPT = ("This is a connection check of a program's '{kind}' request, not a task. Reply with the "
                "smallest JSON value the requested format allows (empty lists, an empty string), nothing else.")


def stage_requests(cfg: Config) -> list[tuple[str, str]]:
    """(stage, request kind) of each teacher request shape the configured pipeline sends (no
    synthesize request where no teacher writes the texts: strategy eda)."""
    template = get_strategy(cfg.synthesize.strategy).template
    return [("analyze", "analyze"), *([("synthesize", template)] if template else []), ("label", "label")]


def _check_labels(cfg: Config) -> tuple[list[str], str]:
    """The label set the schemas enumerate: the prepared one, else placeholders (the schema's
    shape, which is what an endpoint may refuse, is the same)."""
    from evokd.io import read_json
    from evokd.paths import Prepared

    path = Prepared().labels
    if path.exists():
        return list(read_json(path)["labels"]), f"labels from {path}"
    return ["LABEL_A", "LABEL_B"], "placeholder labels (run `dvc repro prepare` for the real ones)"


def _sent(client: ChatClient, sampling: dict) -> str:
    """The request fields as sent, in short."""
    parts = []
    for key, value in client.wire(sampling).items():
        if key == "response_format":
            parts.append(f"response_format=json_schema({value['json_schema']['name']}, strict)")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _check_stage(cfg: Config, client: ChatClient, stage: str, kind: str, labels: list[str]) -> tuple[list[str], bool]:
    """Send `stage`'s exact request shape with a tiny prompt; refused fields are dropped one by
    one to find every one. Lines to print, and whether the endpoint refused something that
    needs a params change (a token-name switch does not: runs make it by themselves)."""
    t = cfg.teacher
    sampling = sampling_params(cfg, kind, labels)
    messages = [{"role": "user", "content": CHECK_PROMPT.format(kind=kind)}]
    shape, refused, needs_change = _sent(client, sampling), [], False
    token_param = client.token_param
    for _ in range(len(sampling) + 2):
        start = time.perf_counter()
        try:
            reply = client.complete(t.model, messages, sampling)
        except Refused as exc:
            refused.append(f"    refused {exc.sent}: {exc.reason} -> {exc.hint} (docs/teacher-servers.md)")
            needs_change = True
            sampling = {k: v for k, v in sampling.items() if k != exc.param}
            continue
        took = time.perf_counter() - start
        if client.token_param != token_param:  # the client switched the cap's name by itself
            refused.append(f"    refused {token_param} -> {REFUSAL_HINTS[token_param]}")
        break
    else:
        return [f"  {stage}: still refused after dropping {len(refused)} field(s)", *refused], True
    value, note = extract_json(reply.get("content")), ""
    if isinstance(value, ParseFailure):
        note = f"; the reply is not JSON ({value.reason}, finish_reason {reply.get('finish_reason')})"
    usage = reply.get("usage") or {}
    if usage.get("reasoning_tokens"):
        note += f"; {usage['reasoning_tokens']} hidden reasoning tokens"
    head = f"  {stage} ({kind}): " + ("ok" if not refused else "answered only without the refused field(s)")
    lines = [f"{head} in {took:.1f}s{note}", f"    sent: {shape}", *refused]
    unsent = t.unsent_temperatures()
    if unsent:
        lines.append(f"    not sent: teacher.{' and teacher.'.join(unsent)} (a reasoning model samples only "
                     f"at its default)")
    return lines, needs_change


def check_endpoint(cfg: Config, api_key: Optional[str]) -> str:
    """Send each teacher stage's exact request shape (its params, response_format schema and
    output cap; a tiny prompt, never cached) to each endpoint: lines saying what answered, what
    was sent, and which fields the endpoint refused with what to set. Raises TeacherError when
    the endpoint cannot be used as configured (its message holds the same lines)."""
    t = cfg.teacher
    labels, where = _check_labels(cfg)
    lines, bad = [], False
    for url in ([None] if t.azure is not None else t.base_urls()):  # every replica of a fleet
        client = make_client(cfg, api_key, timeout_s=min(t.timeout_s, 30.0), policy=RetryPolicy(2, 0.5, 2.0),
                             base_url=url)
        lines.append(f"{client.display_url} (model {t.model!r}, {'reasoning' if t.is_reasoning() else 'chat'} "
                     f"request shape, {where}):")
        for stage, kind in stage_requests(cfg):
            stage_lines, needs_change = _check_stage(cfg, client, stage, kind, labels)
            lines += stage_lines
            bad |= needs_change
    if bad:
        raise TeacherRefused("the endpoint refused part of evokd's requests:\n" + "\n".join(lines)
                           + "\nSet what each refused line says in params.yaml, then run `evokd teacher check` again.")
    return "\n".join(["ok: every teacher stage's request was answered", *lines])
