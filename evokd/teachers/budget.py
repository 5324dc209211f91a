"""Token and cost accounting for teacher calls, and the hard budget.

The budget caps what one pipeline (one experiment) uses of the teacher: the tokens of every
reply its stages use, whether it came over the network or from the response cache. Counting
cached replies too makes the stopping point independent of the cache's state, so a re-run
stops (or not) exactly where the first run did.

A stage starts from what the stages before it used (their meta files, summed by the CLI) and
admits its requests in their planned order, each with a worst-case reservation (prompt size
estimate + `max_tokens`). A request that could cross the limit is not sent; the ones admitted
before it still run and are cached, then `BudgetExceeded` stops the stage. The admission
decision depends only on the plan and earlier stages, never on reply timing, so it is
deterministic even with concurrent requests.

That per-pipeline count cannot see money paid elsewhere: N experiments queued at once (each its
own process, sharing one response cache folder) would each spend up to the cap, and a try that
timed out may have been processed and billed without a reply to count. So every try sent over
the network is also metered in a ledger file in the cache folder (`SharedLedger`,
`<cache>/budget.ledger`), changed only under a file lock with an atomic rewrite: each try
reserves its worst case before it is sent (refused if the folder's total would cross the cap),
keeps that reservation if it timed out or lost its connection (it may have been billed), gives
it back if the server answered with an error status (not processed), and is settled to the
reported usage once its reply arrives. The ledger is a running total of what was paid through
the folder, by every run, at any time: the cap bounds it, so runs that share a folder share one
budget (raise the cap, or delete the file, to start a new one).

Reservations are upper bounds (`estimate_prompt_tokens`), and usage values that make no sense
are charged as the reservation (evokd.teachers.dispatch), so neither an unusual script nor an
odd endpoint lets spending pass the cap.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional

from evokd.errors import BudgetExceeded, TeacherError
from evokd.io import atomic_write_text

log = logging.getLogger(__name__)

# Framing a chat template adds around each message (role markers, separators, special tokens:
# OpenAI counts 3-4 per message, Llama-3-style templates about 5) and around a request (reply
# priming: 3; a template's fixed preamble, e.g. Llama 3.1's dated system header: about 30).
MESSAGE_OVERHEAD_TOKENS = 16
REQUEST_OVERHEAD_TOKENS = 64
LEDGER_FILE = "budget.ledger"  # not *.json: never mistaken for a cache entry
LEDGER_LOCK_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Price:
    """US dollars per 1M tokens."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


def _utf8_size(value: Any) -> int:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return len(text.encode("utf-8", "surrogatepass"))


def estimate_prompt_tokens(messages: list[dict], response_format: Any = None) -> int:
    """An upper bound on the prompt tokens of a chat request, for any script and any tokenizer
    that works on UTF-8 bytes (byte-level BPE: OpenAI's, Llama 3's, Qwen's; SentencePiece with
    byte fallback): each token covers at least one byte, so a text never takes more tokens than
    it has bytes. Counted: every message as its JSON (role, content and any other field: at least
    its text's bytes), `MESSAGE_OVERHEAD_TOKENS` each, `REQUEST_OVERHEAD_TOKENS` once, and the
    `response_format` JSON schema (OpenAI bills the schema as prompt tokens).

    English costs about 4 bytes a token, so this over-reserves by about 4x there; CJK text is
    3 bytes a character and 1-2 characters a token, where characters/3 (what this was) reserved
    a third of what one prompt used (9,300 tokens against a cap of 5,000)."""
    total = REQUEST_OVERHEAD_TOKENS
    for message in messages:
        total += MESSAGE_OVERHEAD_TOKENS + _utf8_size(message)
    if response_format:
        total += _utf8_size(response_format)
    return total


def _limits(max_tokens: Optional[int], max_usd: Optional[float]) -> list[str]:
    """The caps that are set, as the params that set them (for a BudgetExceeded message)."""
    return ([f"teacher.budget.max_tokens={max_tokens}"] if max_tokens is not None else []) + (
        [f"teacher.budget.max_usd={max_usd}"] if max_usd is not None else [])


class Ledger:
    """Running totals for one pipeline, checked against the budget before each request; with a
    `SharedLedger`, every try sent is also metered there (`meter`)."""

    def __init__(self, price: Optional[Price], max_tokens: Optional[int], max_usd: Optional[float],
                 spent_tokens: int = 0, spent_usd: float = 0.0, cache_hint: str = "",
                 shared: "Optional[SharedLedger]" = None):
        self.price = price
        self.max_tokens, self.max_usd = max_tokens, max_usd
        self.tokens, self.usd = spent_tokens, spent_usd  # used so far, earlier stages included
        self.cache_hint = cache_hint
        self.shared = shared
        self._lock = threading.Lock()

    def worst_usd(self, tokens: int) -> float:
        """The most `tokens` can cost: every one at the dearer rate."""
        return tokens * max(self.price.prompt, self.price.completion) / 1e6 if self.price else 0.0

    def meter(self, reserve: int) -> "Meter":
        """The meter of one request whose worst case is `reserve` tokens."""
        return Meter(self, reserve)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return self.price.cost(prompt_tokens, completion_tokens) if self.price else 0.0

    def admit(self, reservations: list[int]) -> int:
        """How many of the planned requests (reserved tokens each, in order) fit the budget."""
        tokens, usd = self.tokens, self.usd
        for i, reserve in enumerate(reservations):
            tokens += reserve
            # Worst case for money: every reserved token priced at the dearer rate.
            usd += self.worst_usd(reserve)
            if (self.max_tokens is not None and tokens > self.max_tokens) or (
                    self.max_usd is not None and usd > self.max_usd):
                return i
        return len(reservations)

    def charge(self, prompt_tokens: int, completion_tokens: int) -> float:
        cost = self.cost(prompt_tokens, completion_tokens)
        with self._lock:
            self.tokens += prompt_tokens + completion_tokens
            self.usd += cost
        return cost

    def exceeded(self, next_reserve: int, unsent: int) -> BudgetExceeded:
        limits = _limits(self.max_tokens, self.max_usd)
        return BudgetExceeded(
            f"teacher budget reached: this pipeline has used {self.tokens} tokens "
            f"(${self.usd:.4f}) and the next request could take up to {next_reserve} more, which "
            f"would exceed {' and '.join(limits)}; {unsent} request(s) not sent. Every reply so far "
            f"is kept in the response cache{self.cache_hint}: raise the budget and run `dvc repro` "
            f"again to continue without paying for them twice.")


class Meter:
    """The paid side of one request, try by try, in the folder's `SharedLedger` (a no-op
    without one). `before_try` reserves the worst case (or raises BudgetExceeded: the try is not
    sent); `refund_try` gives it back when the server refused the try; `settle` replaces the
    last try's reservation with what its reply cost. A try that timed out keeps its reservation."""

    def __init__(self, ledger: Ledger, reserve: int):
        self.ledger, self.reserve = ledger, reserve
        self.reserve_usd = ledger.worst_usd(reserve)

    def before_try(self) -> None:
        shared = self.ledger.shared
        if shared is not None and not shared.reserve(self.reserve, self.reserve_usd):
            raise shared.exceeded(self.reserve, self.ledger.cache_hint)

    def refund_try(self) -> None:
        if self.ledger.shared is not None:
            self.ledger.shared.add(-self.reserve, -self.reserve_usd)

    def settle(self, prompt_tokens: int, completion_tokens: int) -> None:
        if self.ledger.shared is not None:
            self.ledger.shared.add(prompt_tokens + completion_tokens - self.reserve,
                                   self.ledger.cost(prompt_tokens, completion_tokens) - self.reserve_usd)


class SharedLedger:
    """What every process using one response cache folder has paid over the network, in
    `<folder>/budget.ledger` ({"tokens", "usd"}), read and rewritten only under a file lock
    (`filelock`, `<file>.lock`) and rewritten atomically, so concurrent experiments see each
    other's spending at once and a killed process leaves a whole file (its reservations stay
    charged: their tries may have been billed)."""

    def __init__(self, folder: str | Path, max_tokens: Optional[int], max_usd: Optional[float]):
        from filelock import FileLock

        self.path = Path(folder) / LEDGER_FILE
        self.max_tokens, self.max_usd = max_tokens, max_usd
        self._file_lock = FileLock(str(self.path) + ".lock", timeout=LEDGER_LOCK_TIMEOUT_S)
        self._lock = threading.Lock()  # threads of this process, before the file lock
        self.seen = (0, 0.0)  # the totals the last refused reservation saw

    @property
    def capped(self) -> bool:
        return self.max_tokens is not None or self.max_usd is not None

    def _read(self) -> tuple[int, float]:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0, 0.0
        except (OSError, UnicodeDecodeError) as exc:
            return self._damaged(f"unreadable ({exc})")
        try:
            data = json.loads(raw)
            tokens, usd = data["tokens"], data["usd"]
            if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0 \
                    or not isinstance(usd, (int, float)) or isinstance(usd, bool) or not 0 <= usd < float("inf"):
                raise ValueError("tokens and usd must be non-negative numbers")
        except (ValueError, KeyError, TypeError) as exc:
            return self._damaged(f"not a ledger ({exc})")
        return tokens, float(usd)

    def _damaged(self, why: str) -> tuple[int, float]:
        if self.capped:
            raise TeacherError(
                f"the teacher spending ledger {self.path} is {why}: it holds what the runs sharing "
                f"this cache folder have paid, which teacher.budget caps. Restore it, or delete it "
                f"to count from zero again.")
        log.warning("teacher: spending ledger %s is %s; counting from zero (no teacher.budget set)",
                    self.path, why)
        return 0, 0.0

    def _write(self, tokens: int, usd: float) -> None:
        atomic_write_text(self.path, json.dumps({"tokens": tokens, "usd": round(usd, 10)}) + "\n")

    @contextmanager
    def _held(self) -> Iterator[None]:
        """The ledger to this thread and this process alone (a thread lock, then the file lock
        that other processes sharing the cache folder take)."""
        from filelock import Timeout

        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._file_lock.acquire()
            except Timeout:
                raise TeacherError(f"the teacher spending ledger's lock {self._file_lock.lock_file} was "
                                   f"held for over {LEDGER_LOCK_TIMEOUT_S:g} s; if no evokd process is "
                                   f"running, delete it") from None
            try:
                yield
            finally:
                self._file_lock.release()

    def totals(self) -> tuple[int, float]:
        """(tokens, USD) paid through the folder so far, reservations of tries in flight included."""
        with self._held():
            return self._read()

    def reserve(self, tokens: int, usd: float) -> bool:
        """Add a try's worst case if the total stays within the cap; False (nothing added) if not."""
        with self._held():
            paid, paid_usd = self._read()
            if (self.max_tokens is not None and paid + tokens > self.max_tokens) or (
                    self.max_usd is not None and paid_usd + usd > self.max_usd):
                self.seen = (paid, paid_usd)
                return False
            self._write(paid + tokens, paid_usd + usd)
            return True

    def add(self, tokens: int, usd: float) -> None:
        """Change the total by (tokens, usd), e.g. a reservation settled to what was billed."""
        with self._held():
            paid, paid_usd = self._read()
            self._write(max(0, paid + tokens), max(0.0, paid_usd + usd))

    def exceeded(self, next_reserve: int, cache_hint: str = "") -> BudgetExceeded:
        paid, paid_usd = self.seen
        limits = _limits(self.max_tokens, self.max_usd)
        return BudgetExceeded(
            f"teacher budget reached: the runs sharing this response cache folder have paid "
            f"{paid} tokens (${paid_usd:.4f}, {self.path}) and the next request could take up to "
            f"{next_reserve} more, which would exceed {' and '.join(limits)}; it was not sent. The "
            f"cap is a total over every run (experiment) that shares the folder, timed-out tries "
            f"included. Every reply so far is kept in the response cache{cache_hint}: raise the "
            f"budget (or delete {self.path.name} to start a new one) and run `dvc repro` again.")
