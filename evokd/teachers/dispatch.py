"""Runs a stage's planned chat requests: response cache first, then the budget, then the
network with up to `max_concurrency` requests in flight.

Each reply is written to the cache by the thread that received it, before anything else
happens, so a process killed mid-stage loses only the requests still in flight. When a request
fails for good, requests not yet started are cancelled, those in flight finish (and are
cached), and the error is raised.

With a `BatchRunner` (`teacher.mode: batch`) the uncached requests go to the OpenAI Batch API
instead (evokd.teachers.batch): the stage stops until a later run finds their replies.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from evokd.teachers.base import Usage
from evokd.teachers.budget import Ledger, estimate_prompt_tokens
from evokd.teachers.cache import ResponseCache, request_key
from evokd.teachers.client import ChatClient, Stopped

if TYPE_CHECKING:
    from evokd.teachers.batch import BatchRunner


@dataclass(frozen=True)
class ChatRequest:
    """One planned request. `draw` tells apart requests that may share messages (a batch
    index, a round) so that each is a separate sample from the model."""

    messages: list[dict]
    sampling: dict
    draw: str


class Dispatcher:
    def __init__(self, client: ChatClient, model: str, cache: ResponseCache, ledger: Ledger,
                 usage: Usage, max_concurrency: int = 4, namespace: str | None = None,
                 batch: "BatchRunner | None" = None):
        self.client, self.model, self.cache, self.ledger = client, model, cache, ledger
        self.usage, self.max_concurrency, self.namespace = usage, max_concurrency, namespace
        self.batch = batch
        self._lock = threading.Lock()

    def reservation(self, request: ChatRequest) -> int:
        """The most one try of `request` can cost: an upper bound on its prompt (with its reply
        schema) plus the completion cap."""
        return (estimate_prompt_tokens(request.messages, request.sampling.get("response_format"))
                + _completion_cap(request.sampling))

    def run(self, requests: list[ChatRequest]) -> list[dict]:
        """The replies, in the order of `requests`. Raises BudgetExceeded or TeacherError."""
        reservations = [self.reservation(r) for r in requests]
        admitted = self.ledger.admit(reservations)
        keys = [request_key(self.model, r.messages, r.sampling, r.draw, self.namespace) for r in requests]
        replies: list[dict | None] = [None] * len(requests)
        todo = []
        for i in range(admitted):
            cached = self.cache.get(keys[i])
            if cached is not None:
                replies[i] = cached
                with self._lock:
                    self.usage.calls += 1
                    self.usage.cache_hits += 1
            else:
                todo.append(i)
        if self.batch is not None:
            self._collect(todo, requests, keys, replies)
        else:
            self._send(todo, requests, keys, replies)
        for i in range(admitted):
            self._account(replies[i], requests[i])
        if admitted < len(requests):
            raise self.ledger.exceeded(reservations[admitted], len(requests) - admitted)
        return replies  # type: ignore[return-value]

    def _send(self, todo: list[int], requests, keys, replies) -> None:
        """Sends the uncached requests `todo`; a progress display counts the answered ones
        (those read from the cache count as done from the start), the tokens of the replies
        received, and the retries so far."""
        if not todo:
            return
        from evokd.progress import progress

        cached = sum(r is not None for r in replies)
        retries_before, tokens = self.client.retries, 0

        def one(i: int, bar) -> None:
            nonlocal tokens
            meter = self.ledger.meter(self.reservation(requests[i]))
            try:
                reply = self.client.complete(self.model, requests[i].messages, requests[i].sampling,
                                             meter=meter)
            except BaseException:
                self.client.stop.set()  # queued requests are not started, in-flight ones stop retrying
                raise
            request = {"model": self.model, "messages": requests[i].messages,
                       "sampling": requests[i].sampling, "draw": requests[i].draw}
            if self.namespace:
                request["namespace"] = self.namespace
            self.cache.put(keys[i], request, reply)
            replies[i] = reply
            used = _tokens(reply, requests[i])[:2]
            meter.settle(*used)
            cost = self.ledger.cost(*used)
            with self._lock:
                self.usage.calls += 1
                self.usage.sent_cost_usd += cost
                tokens += sum(used)
                bar.set_postfix_str(f"tokens={tokens:,}, retries={self.client.retries - retries_before}",
                                    refresh=False)
                bar.update(1)

        with progress(cached + len(todo), "teacher requests", "req", initial=cached) as bar, \
                ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(todo)),
                                   thread_name_prefix="teacher") as pool:
            futures = [pool.submit(one, i, bar) for i in todo]
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
            wait(pending)
            errors = [f.exception() for f in futures if not f.cancelled() and f.exception() is not None]
            if errors:
                # The first real failure, not the siblings it stopped.
                raise next((e for e in errors if not isinstance(e, Stopped)), errors[0])

    def _collect(self, todo: list[int], requests, keys, replies) -> None:
        """Batch mode: the replies of `todo` from finished batches, or BatchPending."""
        from evokd.teachers.batch import BatchItem

        if not todo:
            return
        items = []
        for i in todo:
            record = {"model": self.model, "messages": requests[i].messages,
                      "sampling": requests[i].sampling, "draw": requests[i].draw}
            if self.namespace:
                record["namespace"] = self.namespace
            body = {"model": self.model, "messages": requests[i].messages, **self.client.wire(requests[i].sampling)}
            items.append(BatchItem(keys[i], body, record, self.reservation(requests[i])))
        self.batch.run(items)  # raises BatchPending while any reply is still missing
        for i in todo:
            replies[i] = self.cache.get(keys[i])
            cost = self.ledger.cost(*_tokens(replies[i], requests[i])[:2])
            with self._lock:
                self.usage.calls += 1
                self.usage.batch_requests += 1
                self.usage.sent_cost_usd += cost

    def _account(self, reply: dict, request: ChatRequest) -> None:
        prompt, completion, reasoning = _tokens(reply, request)
        cost = self.ledger.charge(prompt, completion)
        with self._lock:
            self.usage.prompt_tokens += prompt
            self.usage.completion_tokens += completion
            self.usage.reasoning_tokens += reasoning
            self.usage.cost_usd += cost


# No model has a context near this; a larger count is not a count (it would also make the
# ledger's totals meaningless, or overflow a float price).
MAX_SANE_TOKENS = 100_000_000


def _completion_cap(sampling: dict) -> int:
    """The completion tokens one try may produce: the request's cap."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = _count(sampling.get(name))
        if value:
            return value
    return 0


def _tokens(reply: dict, request: ChatRequest) -> tuple[int, int, int]:
    """Prompt tokens, completion tokens (hidden reasoning included: it is billed as completion)
    and, of those, reasoning tokens, to charge for a reply.

    What the endpoint reported, where it makes sense; otherwise (missing, negative, not a whole
    number, absurd) that part of the request's reservation, never 0: a reply is untrusted input,
    and an odd count must not lower the bill. A missing completion count is charged as the whole
    cap, which also covers a reasoning model's hidden tokens. OpenAI and Azure count
    `completion_tokens_details.reasoning_tokens` inside `completion_tokens` (total = prompt +
    completion); a server that reports them beside it shows more in `total_tokens`, or more
    reasoning than completion; either way they are added."""
    usage = reply.get("usage") if isinstance(reply, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    reasoning, total = _count(usage.get("reasoning_tokens")) or 0, _count(usage.get("total_tokens"))
    if prompt is None:
        prompt = estimate_prompt_tokens(request.messages, request.sampling.get("response_format"))
    if completion is None:
        content = reply.get("content") if isinstance(reply, dict) else None
        completion = _completion_cap(request.sampling) or (
            len(content.encode("utf-8", "surrogatepass")) if isinstance(content, str) else 0) + 16
    elif total is not None and total > prompt + completion:
        completion = total - prompt
    elif reasoning > completion:
        completion += reasoning
    return prompt, completion, min(reasoning, completion)


def _count(value: object) -> int | None:
    """A token count an endpoint reported, if it is one: a whole number (not a bool, not 12.5 or
    "12") from 0 to MAX_SANE_TOKENS; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SANE_TOKENS:
        return None
    return value
