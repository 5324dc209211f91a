"""The LLM teacher: the three calls of a round against any OpenAI-compatible chat-completions
endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp server, LM Studio).

- synthesize: `synthesize.batches` fresh conversations per round, each with its own draw index
  and its own slice of the previous batch's wrong and right answers, together asking for
  `n_hard` hard and `n_easy` easy *new* texts. Each text records its batch (`draw`) and how
  much of it repeats its prompt (`prompt_overlap`; the label stage rejects echoes). That is
  `synthesize.strategy` evokd; the baselines random and uncertainty ask with a prompt that holds
  only the task and the label set (`synthesize_random.md`), and the uncertainty strategies
  over-generate and let the previous student keep what it is least sure of
  (evokd.student.uncertainty). evokd-gen-labels is evokd's generation with
  `synthesize_labelled.md`, which also asks for each text's answer (the label call's per-text
  answer object); a text keeps it as `answer`, and the label stage takes it instead of calling
  `label` (the ablation "is the separate labelling call worth its tokens?"). Each strategy has
  its own draws, so their replies never mix.
- label: a separate call labels numbered texts, `label.batch_size` per request; answers are
  joined back by number, never by position. Per text: the answer object (e.g. {"label"}) or
  {"error": reason}; the label stage validates it. A second labelling (`draw` > 0) is the same
  call with another draw in the cache key and another sampling seed: a separate sample. (At
  `teacher.label_temperature: 0` it differs only by its batch mates and numbering.)
- analyze: the previous student's wrong and right answers in, {"summary", "weak_labels"} out.

Replies are read tolerantly (evokd.teachers.parse); what cannot be read is counted in
`usage.bad_replies` and `rejected` (by reason), never raised. Sending, caching, the budget and
concurrency are evokd.teachers.dispatch's job; retries are evokd.teachers.client's.
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
from evokd.teachers import schemas
from evokd.teachers.base import SynthesisRequest, Teacher, Usage
from evokd.teachers.budget import Ledger, Price
from evokd.teachers.cache import ResponseCache
from evokd.teachers.client import ChatClient, RetryPolicy
from evokd.teachers.dispatch import ChatRequest, Dispatcher
from evokd.teachers.parse import ParseFailure, as_list, extract_json, item_text
from evokd.teachers.prompts import load_template

log = logging.getLogger(__name__)


def split_evenly(n: int, parts: int) -> list[int]:
    """n as `parts` near-equal counts, larger ones first (24 over 5 -> 5, 5, 5, 5, 4)."""
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def hard_quotas(labels: list[str], per_batch: list[int]) -> list[dict[str, int]]:
    """`synthesize.label_quota: even` for the LLM teacher: each conversation's hard texts per
    label. The round's hard texts go round-robin over the labels and each conversation takes
    the next slice, so the round's counts differ by at most one between labels (24 over 6
    labels in 4 conversations of 6: 4 each) whatever the analysis calls weak."""
    if not labels:
        return [{} for _ in per_batch]
    out, start = [], 0
    for n in per_batch:
        counts: dict[str, int] = {}
        for i in range(start, start + n):
            counts[labels[i % len(labels)]] = counts.get(labels[i % len(labels)], 0) + 1
        out.append({lab: counts[lab] for lab in labels if lab in counts})
        start += n
    return out


def quota_line(counts: dict[str, int]) -> str:
    """The sentence the guided templates append to their hard request (placeholder
    `$hard_quota`); empty without quotas, so the prompt is then what it always was."""
    if not counts:
        return ""
    return (" Spread the hard texts over the labels exactly like this: "
            + ", ".join(f"{n} for {lab}" for lab, n in counts.items()) + ".")


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
        self.ledger = Ledger(price, t.budget.max_tokens, t.budget.max_usd,
                             spent_tokens=spent.prompt_tokens + spent.completion_tokens,
                             spent_usd=spent.cost_usd, cache_hint=f" ({t.cache_dir})")
        self.client = client or ChatClient(
            t.base_url, api_key, t.timeout_s,
            RetryPolicy(t.max_tries, t.backoff_s, t.max_backoff_s),
            on_attempt=self._count_attempt, seed=cfg.seed)
        cache, batch = ResponseCache(t.cache_dir), None
        if t.mode == "batch":  # the OpenAI Batch API: submit, stop, collect on a later run
            from evokd.teachers.batch import BatchRunner

            batch = BatchRunner(self.client._client, cache, self.client.base_url, self.client.redact)
        self.dispatcher = Dispatcher(self.client, t.model, cache, self.ledger,
                                     self.usage, t.max_concurrency, t.cache_namespace, batch)

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
        sampling = {"temperature": self.t.label_temperature if kind == "label" else self.t.temperature,
                    "max_tokens": self.t.max_tokens, "seed": self.cfg.seed}
        if self.t.json_schema:
            sampling["response_format"] = {"type": "json_schema", "json_schema": {
                "name": f"evokd_{kind}", "strict": True,
                "schema": schemas.schema(self.cfg.task, kind, labels)}}
        return sampling

    def _template(self, kind: str):
        return load_template(self.t.prompts, self.cfg.task, kind)

    def _read(self, reply: dict) -> object:
        """The JSON in a reply, or a ParseFailure (a cut-off reply says so)."""
        value = extract_json(reply.get("content"))
        if isinstance(value, ParseFailure) and reply.get("finish_reason") == "length":
            return ParseFailure("truncated", "the reply hit teacher.max_tokens")
        return value

    # -- synthesize -----------------------------------------------------------------------
    def synthesize(self, request: SynthesisRequest) -> list[dict]:
        """Round k's new texts, by `synthesize.strategy`:

        - evokd: analysis-guided generation (the analysis and the previous batch's answers in
          the prompt), `n_hard` hard and `n_easy` easy texts;
        - random: `n_hard + n_easy` texts written for the task and label set alone (no
          analysis, no feedback; the ZeroGen-style baseline), kind "random";
        - uncertainty: `overgenerate` times as many such texts, of which the previous student
          keeps the `n_hard + n_easy` it is least sure of (the active-learning baseline), kind "hard";
        - evokd-uncertainty: evokd with `overgenerate` times the hard texts, of which the
          student keeps the `n_hard` it is least sure of; easy ones as written;
        - evokd-gen-labels: evokd, each text written with its label (`answer`), for the label
          stage to take instead of a label call.
        """
        syn = self.cfg.synthesize
        n = request.n_hard + request.n_easy
        if syn.strategy == "random":
            return self._generate_unguided(request, n, "random")
        if syn.strategy == "uncertainty":
            candidates = self._generate_unguided(request, syn.overgenerated(n), "hard")
            return self._least_sure(request, candidates, n)
        if syn.strategy == "evokd-uncertainty":
            out = self._generate_guided(request, syn.overgenerated(request.n_hard), request.n_easy)
            hard = self._least_sure(request, [s for s in out if s["kind"] == "hard"], request.n_hard)
            return hard + [s for s in out if s["kind"] == "easy"]
        if syn.strategy == "evokd-gen-labels":
            return self._generate_guided(request, request.n_hard, request.n_easy, "synthesize_labelled")
        return self._generate_guided(request, request.n_hard, request.n_easy)

    def _draw(self, k: int, b: int) -> str:
        """The cache draw of round k's generation batch b: strategies never share replies
        (evokd keeps the draw it had before there were strategies, so its cache stays valid)."""
        strategy = self.cfg.synthesize.strategy
        where = f"round{k}/batch{b}"
        return f"synthesize/{where}" if strategy == "evokd" else f"synthesize/{strategy}/{where}"

    def _least_sure(self, request: SynthesisRequest, candidates: list[dict], n: int) -> list[dict]:
        """The `n` candidates the previous round's student is least sure of (evokd.student.uncertainty)."""
        from evokd.student.uncertainty import keep_least_sure

        log.info("synthesize: the round-%d student ranks %d candidates and keeps %d", request.round - 1,
                 len(candidates), min(n, len(candidates)))
        return keep_least_sure(self.cfg, request.student_dir, candidates, n)

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

    def _generate_unguided(self, request: SynthesisRequest, n: int, kind: str) -> list[dict]:
        """`n` texts from the task and the label set alone: the prompt holds no analysis and no
        student answers, and differs between conversations only in the count asked for; each
        conversation has its own sampling seed. Each text is of `kind`."""
        cfg, k = self.cfg, request.round
        template = self._template("synthesize_random")
        plan, requests = [], []
        for b, want in enumerate(split_evenly(n, cfg.synthesize.batches)):
            if want == 0:
                continue
            messages = template.render(labels=", ".join(request.labels), n_total=want)
            plan.append((b, want, messages))
            # Every conversation of every round sends these same messages: only its own
            # sampling seed makes the model write something else each time.
            sampling = {**self._sampling("synthesize_random", request.labels),
                        "seed": _rng(cfg.seed, self._draw(k, b)).randrange(2**31)}
            requests.append(ChatRequest(messages, sampling, draw=self._draw(k, b)))
        replies = self.dispatcher.run(requests)
        return self._samples(plan, replies, lambda reply, want: self._read_texts(reply, want, kind))

    def _generate_guided(self, request: SynthesisRequest, n_hard: int, n_easy: int,
                         kind: str = "synthesize") -> list[dict]:
        """`n_hard` hard and `n_easy` easy texts aimed at the analysis, each conversation shown
        its own slice of the previous batch's wrong and right answers. `kind` synthesize_labelled
        (strategy evokd-gen-labels) asks for each text's label too and keeps it as `answer`."""
        cfg, k = self.cfg, request.round
        template, fmt = self._template(kind), schemas.example_format(cfg.task)
        batches = cfg.synthesize.batches
        hard_n, easy_n = split_evenly(n_hard, batches), split_evenly(n_easy, batches)
        wrong = [r for r in request.feedback if not r.get("correct")]
        right = [r for r in request.feedback if r.get("correct")]
        rng = _rng(cfg.seed, "examples", k)
        rng.shuffle(wrong)
        rng.shuffle(right)
        analysis = request.analysis or {}
        quotas = (hard_quotas(request.labels, hard_n) if cfg.synthesize.label_quota == "even"
                  else [{} for _ in hard_n])
        plan, requests = [], []
        for b in range(batches):
            if hard_n[b] + easy_n[b] == 0:
                continue
            shown_wrong = _window(wrong, b * cfg.synthesize.show_wrong, cfg.synthesize.show_wrong)
            shown_right = _window(right, b * cfg.synthesize.show_correct, cfg.synthesize.show_correct)
            messages = template.render(
                labels=", ".join(request.labels),
                analysis=analysis.get("summary") or "(no analysis yet)",
                weak_labels=", ".join(analysis.get("weak_labels") or []) or "(none named)",
                wrong_examples="\n".join(fmt(r) for r in shown_wrong) or "(none)",
                correct_examples="\n".join(fmt(r) for r in shown_right) or "(none)",
                n_hard=hard_n[b], n_easy=easy_n[b], n_total=hard_n[b] + easy_n[b],
                hard_quota=quota_line(quotas[b]))
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
        return [(kind, text, {}) for text, _ in self._take(items, want)]

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
                    for text, item in self._take(items, want)]
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

    def _take(self, items: list, want: int) -> list[tuple[str, object]]:
        """Up to `want` (text, item) pairs of the items, the text whitespace-normalised; what is
        not a text, what is beyond `want` and what is missing are counted as rejections."""
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
            self._reject("synthesize:missing", want - len(taken))
        return taken

    # -- label ----------------------------------------------------------------------------
    def label(self, samples: list[dict], labels: list[str], draw: int = 0) -> dict[str, dict]:
        template = self._template("label")
        size = self.cfg.label.batch_size
        chunks = [samples[i : i + size] for i in range(0, len(samples), size)]
        sampling = self._sampling("label", labels)
        if draw:  # a second labelling: another sample, cached apart from the first
            sampling["seed"] = self.cfg.seed + draw
        requests = []
        for chunk in chunks:
            texts = "\n".join(f"{n}. {' '.join(s['text'].split())}" for n, s in enumerate(chunk, 1))
            messages = template.render(labels=", ".join(labels), texts=texts, n=len(chunk))
            requests.append(ChatRequest(messages, sampling, draw=f"label/draw{draw}" if draw else "label"))
        replies = self.dispatcher.run(requests)
        out: dict[str, dict] = {}
        for chunk, reply in zip(chunks, replies):
            out.update(self._read_labels(reply, chunk))
        return out

    def _read_labels(self, reply: dict, chunk: list[dict]) -> dict[str, dict]:
        items = as_list(self._read(reply), "labels")
        if isinstance(items, ParseFailure):
            self._reject(f"label:{items.reason}", reply=True)
            return {s["id"]: {"error": f"unreadable reply ({items.reason})"} for s in chunk}
        answers: dict[int, dict] = {}
        for item in items:
            if not isinstance(item, dict):
                self._reject("label:not_an_object")
                continue
            number = item.get("id")
            if number is None and len(chunk) == 1 and len(items) == 1:
                number = 1  # one text, one answer without its number
            try:
                number = int(number)
            except (TypeError, ValueError, OverflowError):  # OverflowError: an id of Infinity
                self._reject("label:no_id")
                continue
            if not 1 <= number <= len(chunk):
                self._reject("label:unknown_id")
            elif number in answers:
                self._reject("label:repeated_id")
            else:
                answers[number] = answer_fields(item, ("id",))
        return {s["id"]: answers.get(n, {"error": "no answer for this text in the reply"})
                for n, s in enumerate(chunk, 1)}

    # -- analyze --------------------------------------------------------------------------
    def analyze(self, round: int, feedback: list[dict], labels: list[str]) -> dict:
        from evokd.rounds.analyze import select_feedback

        shown = select_feedback(self.cfg, feedback)
        wrong = [r for r in shown if not r.get("correct")]
        right = [r for r in shown if r.get("correct")]
        fmt = schemas.example_format(self.cfg.task)
        messages = self._template("analyze").render(
            labels=", ".join(labels), n_wrong=len(wrong), n_correct=len(right),
            wrong_examples="\n".join(fmt(r) for r in wrong) or "(none)",
            correct_examples="\n".join(fmt(r) for r in right) or "(none)")
        reply = self.dispatcher.run([ChatRequest(messages, self._sampling("analyze", labels),
                                                 draw=f"analyze/round{round}")])[0]
        value = self._read(reply)
        if isinstance(value, ParseFailure) or not isinstance(value, dict) \
                or not isinstance(value.get("summary"), str):
            reason = value.reason if isinstance(value, ParseFailure) else "wrong_shape"
            self._reject(f"analyze:{reason}", reply=True)
            return {"summary": "", "weak_labels": [], "error": f"unreadable analysis ({reason})"}
        weak = value.get("weak_labels") or []
        weak = [w for w in (weak if isinstance(weak, list) else [weak]) if isinstance(w, str)]
        known = [w.strip() for w in weak if w.strip() in labels]
        if len(known) < len(weak):
            self._reject("analyze:unknown_weak_label", len(weak) - len(known))
        return {"summary": value["summary"].strip(), "weak_labels": list(dict.fromkeys(known))}


def check_endpoint(cfg: Config, api_key: Optional[str]) -> str:
    """Send one tiny request (never cached); a line saying what answered, or a TeacherError."""
    t = cfg.teacher
    lines = []
    for url in t.base_urls():  # every replica of a fleet, one request each
        client = ChatClient(url, api_key, min(t.timeout_s, 30.0), RetryPolicy(2, 0.5, 2.0))
        start = time.perf_counter()
        reply = client.complete(t.model, [{"role": "user", "content": "Reply with the single word: ok"}],
                                {"max_tokens": 5, "temperature": 0.0})
        took = time.perf_counter() - start
        said = (reply.get("content") or "").strip()[:40]
        lines.append(f"ok: {client.base_url} answered as model {reply.get('model') or t.model!r} in "
                     f"{took:.1f}s ({said!r})")
    return "\n".join(lines)
