"""The teacher seam: the three calls of a round, and the usage they cost.

A teacher is given everything it may see (never the test split) and returns plain dicts:
- synthesize: new input texts, `n_hard` the student should get wrong and `n_easy` it should get
  right, each {"text", "kind"} (plus provider-specific keys such as "source_id", or "answer":
  the label written with the text, strategy evokd-gen-labels, which the label stage takes
  instead of calling `label`);
- label: for each sample id, {"label"} or {"error": reason} (a failure, not a crash); `draw` > 0
  asks for an independent second labelling of the same samples (evokd.rounds.relabel);
- analyze: {"summary", "weak_labels", ...} from the student's right and wrong answers;
- probe (round 0 only): fresh texts for the task, on which the round-0 student is tested.

A teacher never imports student code: the synthesize stage hands it a `StudentProbe` of the
previous round's student (`SavedStudent`, in the student package), texts in, scores out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Optional

# The previous student as a teacher may consult it (the seam both sides import).
from evokd.scores import LabelScores, StudentProbe, WordScores  # noqa: F401


@dataclass
class Usage:
    """What teacher calls cost. `requests` counts HTTP requests actually sent (retries
    included); `batch_requests` the answers this run collected from OpenAI batches (sent as
    lines of a batch file, not as requests of their own: `teacher.mode: batch`); `calls` counts
    the answers used, `cache_hits` those read from the response cache.
    Tokens and `cost_usd` cover every answer used, cached or not (what the pipeline costs, the
    same on every run); `sent_cost_usd` only what this run paid for. `reasoning_tokens` is the
    part of `completion_tokens` a reasoning model spent on hidden reasoning (billed as
    completion). `bad_replies` counts replies that could not be read (each is rejected with a
    reason, never a crash); `truncated` those of them cut off at the output cap with nothing
    complete in them; `truncated_replies` replies cut at the cap whose complete items were used
    (what they never reached is counted as `<call>:truncated` in the stage's `teacher_rejected`)."""

    calls: int = 0
    requests: int = 0
    batch_requests: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    sent_cost_usd: float = 0.0
    bad_replies: int = 0
    truncated: int = 0
    truncated_replies: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    def add(self, other: dict) -> None:
        for key, value in other.items():
            if hasattr(self, key):
                setattr(self, key, getattr(self, key) + value)


def select_feedback(params, rows: list[dict]) -> list[dict]:
    """What an analysis is shown of the student's answers: at most `params.n_wrong` wrong and
    `params.n_correct` right ones (the `analyze` params block), in a stable order."""
    wrong = [r for r in rows if not r["correct"]]
    right = [r for r in rows if r["correct"]]
    return wrong[: params.n_wrong] + right[: params.n_correct]


@dataclass
class SynthesisRequest:
    """What the teacher sees when it writes round k's samples."""

    round: int
    labels: list[str]
    analysis: dict
    feedback: list[dict]  # the previous student's answers on the previous batch
    known: list[dict]  # samples already in the training set (seed and earlier rounds)
    n_hard: int
    n_easy: int
    # The previous round's student, for the strategies that rank candidates with it (None:
    # nothing to consult, e.g. round 0's probe or `evokd estimate`).
    student: Optional[StudentProbe] = None
    extra: dict = field(default_factory=dict)
    # The user's own labelled seed examples (data/prepared/seed.jsonl): an LLM teacher shows a
    # few of them in every generation prompt, whatever the strategy.
    seed: list[dict] = field(default_factory=list)


def writing_strategy(name: str):
    """The strategy `name` (`synthesize.strategy`) a teacher's `synthesize` writes for. One whose
    texts no teacher writes (eda) is the synthesize stage's own: asking a teacher is a bug."""
    from evokd.strategies import get_strategy

    strategy = get_strategy(name)
    if strategy.writer != "teacher":
        raise ValueError(f"strategy {name}: the synthesize stage writes its texts ({strategy.writer}), "
                         "not a teacher")
    return strategy


class Teacher(ABC):
    def __init__(self) -> None:
        self.usage = Usage()
        # Replies or generated items the teacher could not use, by reason (recorded per stage).
        self.rejected: Counter = Counter()

    @abstractmethod
    def synthesize(self, request: SynthesisRequest) -> list[dict]: ...

    @abstractmethod
    def label(self, samples: list[dict], labels: list[str], draw: int = 0) -> dict[str, dict]: ...

    @abstractmethod
    def analyze(self, round: int, feedback: list[dict], labels: list[str]) -> dict: ...

    def request_shape(self) -> dict | None:
        """What this teacher sends an endpoint, for the stage's meta (None: no endpoint)."""
        return None

    @abstractmethod
    def probe(self, request: SynthesisRequest, n: int) -> list[dict]:
        """Round 0's fresh texts (the `probe` stage): `n` texts written for the task alone, as
        the feedback-free strategies write them, each {"text", "kind": "probe", ...}; the
        round-0 student is then tested on them, so that round 0's analysis has mistakes to read."""
