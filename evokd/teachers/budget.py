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
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Optional

from evokd.errors import BudgetExceeded

# A token is about 4 characters of English; divide by 3 to over- rather than under-estimate.
CHARS_PER_TOKEN_ESTIMATE = 3


@dataclass(frozen=True)
class Price:
    """US dollars per 1M tokens."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


def estimate_prompt_tokens(messages: list[dict]) -> int:
    chars = sum(len(str(m.get("content", ""))) + 8 for m in messages)
    return math.ceil(chars / CHARS_PER_TOKEN_ESTIMATE)


class Ledger:
    """Running totals for one process, checked against the budget before each request."""

    def __init__(self, price: Optional[Price], max_tokens: Optional[int], max_usd: Optional[float],
                 spent_tokens: int = 0, spent_usd: float = 0.0, cache_hint: str = ""):
        self.price = price
        self.max_tokens, self.max_usd = max_tokens, max_usd
        self.tokens, self.usd = spent_tokens, spent_usd  # used so far, earlier stages included
        self.cache_hint = cache_hint
        self._lock = threading.Lock()

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return self.price.cost(prompt_tokens, completion_tokens) if self.price else 0.0

    def admit(self, reservations: list[int]) -> int:
        """How many of the planned requests (reserved tokens each, in order) fit the budget."""
        tokens, usd = self.tokens, self.usd
        for i, reserve in enumerate(reservations):
            tokens += reserve
            # Worst case for money: every reserved token priced at the dearer rate.
            if self.price:
                usd += reserve * max(self.price.prompt, self.price.completion) / 1e6
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
        limits = []
        if self.max_tokens is not None:
            limits.append(f"teacher.budget.max_tokens={self.max_tokens}")
        if self.max_usd is not None:
            limits.append(f"teacher.budget.max_usd={self.max_usd}")
        return BudgetExceeded(
            f"teacher budget reached: this pipeline has used {self.tokens} tokens "
            f"(${self.usd:.4f}) and the next request could take up to {next_reserve} more, which "
            f"would exceed {' and '.join(limits)}; {unsent} request(s) not sent. Every reply so far "
            f"is kept in the response cache{self.cache_hint}: raise the budget and run `dvc repro` "
            f"again to continue without paying for them twice.")
