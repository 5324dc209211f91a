"""Synthesis strategies (`synthesize.strategy`): how a round's new samples are chosen. One class
per strategy; its declarations are the only place that says how it behaves, and every teacher,
stage and card reads them instead of comparing names.

A strategy declares:
- `writer`: who writes the round's texts: `teacher` (the teacher's `synthesize` call) or `eda`
  (evokd.data.eda: the seed set augmented by word edits, no teacher and no request);
- `template`: the generation prompt an LLM teacher writes with (prompts/<set>/<task>/<template>.md):
  `synthesize` (the analysis and the previous batch's answers in it), `synthesize_random` (the
  task context and seed examples alone) or `synthesize_labelled` (`synthesize`, each text
  written with its label); None where no teacher writes;
- `guided`: whether it is guided by the analysis (and the previous batch's answers). An unguided
  one writes (the simulated teacher: draws) texts for the task alone;
- `labels_with_generation`: whether the texts come with their labels (the generation call's, or
  eda's: its source's), so that the label stage takes those and sends no label call;
- `overgenerates`: which texts an LLM teacher writes `synthesize.overgenerate` times as many of,
  for the student to rank: none, all of them, or the hard ones;
- `ranking`: how the previous student ranks candidates: `none`, or `least_sure` (smallest
  top-two margin first). The simulated teacher ranks a pool draw either way: a guided strategy
  without a ranking stands for an LLM that writes the hard texts it is asked for, so its hard
  samples are the ones the student finds least probable (lowest gold-label probability);
- `reads`: the strategy-dependent params (`STRATEGY_PARAMS`) each teacher reads under it.
  `ignored_params` (evokd.config) names a param set where none of them is read.

To add a strategy: write its class here, add it to `STRATEGIES` and its name to the Literal of
`SynthesizeConfig.strategy`, and give it its own cache draws (`cache_draw`: the default does).
A strategy whose `writer` is not the teacher is run by the synthesize stage itself.
"""

from __future__ import annotations

from typing import ClassVar, Literal, NamedTuple

from evokd.errors import ConfigError

Template = Literal["synthesize", "synthesize_random", "synthesize_labelled"]
Writer = Literal["teacher", "eda"]
Overgeneration = Literal["none", "all", "hard"]
Ranking = Literal["none", "least_sure"]

# The kind of a sample written (or drawn) for the task alone and kept without ranking.
RANDOM_KIND = "random"
# The kind of a sample made from a seed example by word edits (strategy eda).
AUGMENTED_KIND = "augmented"

# The params whose use depends on the strategy, each with who reads it (as the stage's warning
# about a param that changes nothing words it). Order: the order of those warnings.
STRATEGY_PARAMS = {
    "candidates": "the simulated teacher's strategies that rank a pool draw (all but random)",
    "guided_share": "the simulated teacher's evokd strategies",
    "label_quota": "the guided strategies (evokd, evokd-*)",
    "overgenerate": "the LLM teacher's uncertainty strategies (the simulated one ranks its `candidates`)",
    "show_wrong": "the LLM teacher's guided strategies",
    "show_correct": "the LLM teacher's guided strategies",
}


class Reads(NamedTuple):
    """The `synthesize.*` params (of `STRATEGY_PARAMS`) each teacher reads under a strategy."""

    simulated: frozenset[str]
    openai: frozenset[str]


def _reads(simulated: tuple[str, ...] = (), openai: tuple[str, ...] = ()) -> Reads:
    return Reads(frozenset(simulated), frozenset(openai))


class Strategy:
    """A synthesis strategy's declarations (see the module's docstring)."""

    name: ClassVar[str]
    writer: ClassVar[Writer] = "teacher"
    template: ClassVar[Template | None]
    guided: ClassVar[bool]
    labels_with_generation: ClassVar[bool] = False
    overgenerates: ClassVar[Overgeneration] = "none"
    ranking: ClassVar[Ranking] = "none"
    reads: ClassVar[Reads]

    def cache_draw(self, k: int, b: int) -> str:
        """The response-cache draw of round k's generation conversation b: a strategy never
        shares replies with another (the same messages under two strategies are two samples)."""
        return f"synthesize/{self.name}/round{k}/batch{b}"

    def reads_param(self, name: str, provider: str) -> bool:
        """Whether teacher `provider` reads `synthesize.<name>` under this strategy (a param
        outside `STRATEGY_PARAMS` does not depend on the strategy: True)."""
        return name not in STRATEGY_PARAMS or name in getattr(self.reads, provider)

    def __repr__(self) -> str:
        return f"<strategy {self.name}>"


class Evokd(Strategy):
    """Analysis-guided generation: `n_hard` texts the student should get wrong, `n_easy` it
    should get right (simulated: a pool draw near the last mistakes and the weak labels, hard =
    the ones the student finds least probable)."""

    name = "evokd"
    template = "synthesize"
    guided = True
    reads = _reads(simulated=("candidates", "guided_share", "label_quota"),
                   openai=("label_quota", "show_wrong", "show_correct"))

    def cache_draw(self, k: int, b: int) -> str:
        # The draw it had before there were strategies, so that existing caches stay valid.
        return f"synthesize/round{k}/batch{b}"


class Random(Strategy):
    """The ZeroGen-style baseline: `n_hard + n_easy` texts for the task and label set alone (no
    analysis, no feedback, no ranking), of kind "random"."""

    name = "random"
    template = "synthesize_random"
    guided = False
    reads = _reads()


class Uncertainty(Strategy):
    """The active-learning baseline: unguided candidates (LLM: `overgenerate` times
    `n_hard + n_easy`; simulated: `candidates` pool texts), of which the previous student keeps
    the `n_hard + n_easy` it is least sure of, all of kind "hard"."""

    name = "uncertainty"
    template = "synthesize_random"
    guided = False
    overgenerates = "all"
    ranking = "least_sure"
    reads = _reads(simulated=("candidates",), openai=("overgenerate",))


class EvokdUncertainty(Strategy):
    """evokd, its hard samples the `n_hard` the previous student is least sure of among guided
    candidates (LLM: `overgenerate` times `n_hard`); easy ones as written (simulated: drawn)."""

    name = "evokd-uncertainty"
    template = "synthesize"
    guided = True
    overgenerates = "hard"
    ranking = "least_sure"
    reads = _reads(simulated=("candidates", "guided_share", "label_quota"),
                   openai=("label_quota", "overgenerate", "show_wrong", "show_correct"))


class EvokdGenLabels(Strategy):
    """evokd, each text labelled by the generation call itself; the label stage takes that
    label and sends no label call (LLM teacher only: the simulated one's generation and
    labelling both give gold labels, so there is nothing to compare)."""

    name = "evokd-gen-labels"
    template = "synthesize_labelled"
    guided = True
    labels_with_generation = True
    reads = _reads(simulated=("candidates", "guided_share", "label_quota"),
                   openai=("label_quota", "show_wrong", "show_correct"))


class Eda(Strategy):
    """The LLM-free baseline (EDA, Wei & Zou 2019, without WordNet): `n_hard + n_easy` texts made
    from the seed examples by random swaps, deletions, insertions and replacements of words
    (evokd.data.eda), each with its source's label (NER: its tags, entities never touched), of
    kind "augmented". No teacher writes or labels them, with either provider."""

    name = "eda"
    writer = "eda"
    template = None
    guided = False
    labels_with_generation = True
    reads = _reads()


STRATEGIES: dict[str, Strategy] = {s.name: s for s in
                                   (Evokd(), Random(), Uncertainty(), EvokdUncertainty(), EvokdGenLabels(),
                                    Eda())}


def get_strategy(name: str) -> Strategy:
    """The strategy named `name` (`synthesize.strategy`); ConfigError naming the known ones."""
    try:
        return STRATEGIES[name]
    except (KeyError, TypeError):
        raise ConfigError(f"synthesize.strategy: unknown strategy {name!r}; use one of "
                          + ", ".join(STRATEGIES)) from None
