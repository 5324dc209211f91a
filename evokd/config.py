"""params.yaml -> a typed, validated config, loaded once at the edge (the CLI) and passed down.

Unknown keys and bad values stop with a message naming the key and what is allowed. Nothing
below the CLI reads YAML or the environment.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evokd.errors import ConfigError

FORMATS = ("trec", "csv", "tsv", "jsonl", "conll")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".conll": "conll",
               ".bio": "conll", ".iob": "conll"}


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(_Block):
    """Where the labelled data lives and how to read it."""

    train: str
    test: str
    dev: Optional[str] = None
    format: Optional[Literal["trec", "csv", "tsv", "jsonl", "conll"]] = None
    text_column: str = "text"
    label_column: str = "label"
    # TREC labels are `COARSE:fine`; the coarse set (6 classes) is the usual task.
    trec_labels: Literal["coarse", "fine"] = "coarse"
    encoding: str = "utf-8"

    def resolved_format(self) -> str:
        """The declared format, or the one the train file's extension implies."""
        if self.format:
            return self.format
        path = Path(self.train)
        if path.suffix.lower() == ".gz":  # data.tsv.gz reads as data.tsv
            path = path.with_suffix("")
        suffix = path.suffix.lower()
        name = path.name.upper()
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
        if name.startswith("TREC") or suffix == ".label":
            return "trec"
        raise ConfigError(
            f"dataset.format: cannot infer the format of {self.train!r} from its extension; "
            f"set dataset.format to one of {', '.join(FORMATS)}"
        )

    @model_validator(mode="after")
    def _known_encoding(self) -> "DatasetConfig":
        import codecs

        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"dataset.encoding: unknown encoding {self.encoding!r}; use a Python "
                             "codec name such as utf-8, latin-1 or cp1252") from None
        return self

    @model_validator(mode="after")
    def _distinct_files(self) -> "DatasetConfig":
        if Path(self.train) == Path(self.test):
            raise ValueError(
                "dataset.test is the same file as dataset.train; the test split must be held out"
            )
        return self


class PriceConfig(_Block):
    """US dollars per 1M tokens of one model."""

    prompt: float = Field(..., ge=0.0)
    completion: float = Field(..., ge=0.0)


class BudgetConfig(_Block):
    """A hard cap on what one pipeline uses of the teacher (null = no cap)."""

    max_tokens: Optional[int] = Field(None, ge=1)
    max_usd: Optional[float] = Field(None, gt=0.0)


class TeacherConfig(_Block):
    """Who plays the teacher. `simulated` runs offline from the labelled train pool; `openai`
    calls any OpenAI-compatible chat-completions endpoint (key from OPENAI_API_KEY only).

    What determines the replies (model, prompts, sampling) is a DVC param of the teacher stages;
    how they are fetched (concurrency, timeouts, retries, budget, base_url) is not.
    """

    provider: Literal["simulated", "openai"] = "simulated"
    model: Optional[str] = None
    # One OpenAI-compatible endpoint, or a list of replicas serving the same model (a self-hosted
    # fleet): requests are spread over them in turn, retries move on to the next one.
    base_url: Optional[str | list[str]] = None
    # online: one chat request at a time (up to max_concurrency in flight). batch: the OpenAI Batch
    # API; a stage submits its uncached requests and stops, the next `dvc repro` collects them.
    mode: Literal["online", "batch"] = "online"
    # Simulated teacher: probability that a label is replaced by a wrong one (a fallible LLM).
    label_noise: float = Field(0.0, ge=0.0, le=1.0)
    # Where teacher responses are cached; outside DVC outputs so that re-runs never pay twice.
    cache_dir: str = ".evokd/cache"
    # Separates cache entries of endpoints that serve different weights under one model name.
    cache_namespace: Optional[str] = None
    # The prompt set: templates under <prompts>/<task>/{analyze,synthesize,label}.md.
    prompts: str = "prompts/default"
    temperature: float = Field(0.9, ge=0.0, le=2.0)  # synthesize and analyze
    label_temperature: float = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(2048, ge=16)  # completion tokens per request
    # Ask for JSON through a JSON-schema response_format; turn off for endpoints that reject it.
    json_schema: bool = True
    # Operational (not DVC params): how requests are sent.
    max_concurrency: int = Field(4, ge=1, le=64)
    timeout_s: float = Field(60.0, gt=0.0)
    max_tries: int = Field(6, ge=1, le=20)
    backoff_s: float = Field(1.0, ge=0.0)  # first retry delay; doubles per try, with jitter
    max_backoff_s: float = Field(60.0, ge=0.0)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)  # per model, USD per 1M tokens
    budget: BudgetConfig = BudgetConfig()

    def base_urls(self) -> list[Optional[str]]:
        """The endpoints as a list ([None] = api.openai.com)."""
        return list(self.base_url) if isinstance(self.base_url, list) else [self.base_url]

    @model_validator(mode="after")
    def _fleet(self) -> "TeacherConfig":
        if isinstance(self.base_url, list):
            if not self.base_url:
                raise ValueError("teacher.base_url is an empty list: give one URL, a list of URLs, or null")
            if len(set(self.base_url)) < len(self.base_url):
                raise ValueError("teacher.base_url lists the same URL twice")
            if self.mode == "batch" and len(self.base_url) > 1:
                raise ValueError("teacher.mode batch sends one batch file to one endpoint: give a single "
                                 "teacher.base_url")
        return self

    @model_validator(mode="after")
    def _openai_needs_model(self) -> "TeacherConfig":
        if self.provider == "openai" and not self.model:
            raise ValueError("teacher.provider is openai: set teacher.model to the endpoint's model name")
        if self.budget.max_usd is not None and self.provider == "openai" and self.model not in self.prices:
            raise ValueError(f"teacher.budget.max_usd needs a price for {self.model!r}: add "
                             f"teacher.prices.{self.model}: {{prompt: ..., completion: ...}} (USD per 1M tokens)")
        return self


class PrepareConfig(_Block):
    """Round 0: pool embedding for the simulated teacher."""

    embed_batch_size: int = Field(128, ge=1)
    embed_max_length: int = Field(64, ge=8, le=512)


# Strategies whose hard samples are the candidates the previous student is least sure of.
RANKED_STRATEGIES = ("uncertainty", "evokd-uncertainty")
# Strategies whose samples are labelled by the generation call itself (no separate label call).
GENERATION_LABELLED_STRATEGIES = ("evokd-gen-labels",)


class SynthesizeConfig(_Block):
    """What the teacher writes each round."""

    # evokd: analysis-guided hard and easy samples. random: samples for the task and label set
    # alone (no analysis, no feedback). uncertainty: random-style candidates, the n_hard + n_easy
    # the previous student is least sure of kept (all "hard"). evokd-uncertainty: evokd, its hard
    # samples the n_hard least sure among analysis-guided candidates. evokd-gen-labels (LLM
    # teacher only): evokd, each text labelled by the generation call itself, no label call.
    strategy: Literal["evokd", "random", "uncertainty", "evokd-uncertainty", "evokd-gen-labels"] = "evokd-uncertainty"
    n_hard: int = Field(24, ge=0)
    n_easy: int = Field(8, ge=0)
    # Simulated teacher: how many pool texts it considers before keeping n_hard + n_easy.
    candidates: int = Field(256, ge=1)
    # Simulated teacher, evokd strategies: the share of those candidates drawn by the analysis
    # (near the last mistakes, weak labels); the rest are drawn at random, as an LLM asked for
    # hard samples also writes ordinary ones.
    guided_share: float = Field(0.5, ge=0.0, le=1.0)
    # How the hard samples are spread over the labels (NER: entity types), whatever the
    # analysis says is weak: "none" = at most 40 % of them from one label; "even" = a quota of
    # n_hard / labels each (rounded up), slots a label cannot fill going to the hardest of any
    # label. Simulated teacher: its pick of hard candidates. LLM teacher (guided strategies):
    # each generation conversation is asked for its hard texts label by label.
    label_quota: Literal["none", "even"] = "none"
    # LLM teacher, strategies uncertainty and evokd-uncertainty: generate this many times the
    # samples to keep (uncertainty: n_hard + n_easy; evokd-uncertainty: n_hard), so that the
    # student has candidates to rank. Every candidate costs completion tokens.
    overgenerate: float = Field(3.0, ge=1.0, le=20.0)
    # LLM teacher: generation conversations per round (each a fresh one, with its own draw),
    # and how many of the previous batch's wrong and right answers each one is shown.
    batches: int = Field(4, ge=1)
    show_wrong: int = Field(4, ge=0)
    show_correct: int = Field(2, ge=0)

    @model_validator(mode="after")
    def _some_samples(self) -> "SynthesizeConfig":
        if self.n_hard + self.n_easy == 0:
            raise ValueError("synthesize.n_hard + synthesize.n_easy must be at least 1")
        return self

    def overgenerated(self, n: int) -> int:
        """How many candidates the LLM teacher writes to keep `n`."""
        return math.ceil(n * self.overgenerate - 1e-9)


class LabelConfig(_Block):
    """Validation of the teacher's labelled samples."""

    min_chars: int = Field(3, ge=1)
    max_chars: int = Field(500, ge=1)
    # A sample whose word 3-grams are covered this much by one test sample is a leak.
    leak_overlap: float = Field(0.8, gt=0.0, le=1.0)
    # Warn (and record) when a round rejects more than this share of its samples.
    max_reject_rate: float = Field(0.5, ge=0.0, le=1.0)
    # LLM teacher: texts per labelling request, and the share of a text's word 3-grams found in
    # the prompt that generated it above which it is rejected as an echo of the prompt.
    batch_size: int = Field(16, ge=1)
    echo_overlap: float = Field(0.8, gt=0.0, le=1.0)
    # Second labelling: this share of each round's samples is labelled again by an independent
    # draw (openai: another cached sample; simulated: another noise draw); the label/relabel
    # disagreement per class is an estimate of label noise (0 = off).
    relabel_fraction: float = Field(0.1, ge=0.0, le=1.0)
    # A class is flagged as likely label noise (a warning in the report) when, over at least
    # flag_min_samples accepted samples, at least disagree_flag_rate of them disagree with the
    # student (before it trained on them), or relabel_flag_rate with the second labelling.
    disagree_flag_rate: float = Field(0.6, gt=0.0, le=1.0)
    relabel_flag_rate: float = Field(0.25, gt=0.0, le=1.0)
    flag_min_samples: int = Field(4, ge=1)


class TrainConfig(_Block):
    """Student fine-tuning; continued from the previous round's checkpoint."""

    backbone: str = "minilm"
    epochs: int = Field(4, ge=1)
    seed_epochs: int = Field(10, ge=1)
    learning_rate: float = Field(1e-4, gt=0.0)
    batch_size: int = Field(16, ge=1)
    max_length: int = Field(64, ge=8, le=512)
    weight_decay: float = Field(0.01, ge=0.0)
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0)
    # Replay: this many earlier samples (seed + earlier rounds) per new sample.
    review_ratio: float = Field(1.0, ge=0.0)
    # Draw the replay so that new + review is as even over the labels as the earlier data
    # allows (a batch piled onto one label is answered by replaying the others), instead of a
    # review balanced on its own. Classification only (NER sentences have no one label).
    review_balance: bool = False
    # Keep the word-embedding matrix (11.7M of MiniLM's 22.7M weights) as pretrained: no dense
    # gradient and no optimizer state for it. Faster on CPU; see BENCHMARKS.md for quality.
    freeze_embeddings: bool = False
    threads: Optional[int] = Field(None, ge=1)
    # Where the student trains: auto = CUDA when present (bf16, else fp16 mixed precision), else CPU.
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Mixed precision of the training step: auto = bf16 (fp16 on GPUs without it) where the
    # hardware does it natively (CUDA; CPUs with AVX512-BF16 or AMX), else fp32. Weights and
    # checkpoints stay fp32. fp32 gives identical numbers on every CPU.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    # none = this process; accelerate = `accelerate launch` with num_processes DDP workers
    # (GPUs, or CPU processes over gloo). See README, "Train on several processes or GPUs".
    launcher: Literal["none", "accelerate"] = "none"
    num_processes: int = Field(2, ge=1, le=64)


class EvaluateConfig(_Block):
    batch_size: int = Field(64, ge=1)


class AnalyzeConfig(_Block):
    """What the teacher is shown when it analyses the student."""

    n_wrong: int = Field(8, ge=0)
    n_correct: int = Field(4, ge=0)


class Config(_Block):
    """The whole params.yaml."""

    task: Literal["classification", "ner"] = "classification"
    dataset: DatasetConfig
    shots: int = Field(1, ge=1)
    seed: int = 0
    rounds: int = Field(4, ge=0)
    teacher: TeacherConfig = TeacherConfig()
    prepare: PrepareConfig = PrepareConfig()
    synthesize: SynthesizeConfig = SynthesizeConfig()
    label: LabelConfig = LabelConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    analyze: AnalyzeConfig = AnalyzeConfig()

    @model_validator(mode="after")
    def _something_to_rank(self) -> "Config":
        syn = self.synthesize
        if self.teacher.provider == "openai" and syn.strategy in RANKED_STRATEGIES and syn.overgenerate < 1.5:
            raise ValueError(
                f"synthesize.overgenerate is {syn.overgenerate:g} with strategy {syn.strategy}: the LLM "
                "teacher would write hardly more candidates than it keeps, so the student has almost "
                "nothing to rank; set it to 1.5 or more (3, the default, writes three candidates per "
                "kept sample), or use strategy random")
        return self

    @model_validator(mode="after")
    def _generation_labels_need_an_llm(self) -> "Config":
        syn = self.synthesize
        if self.teacher.provider == "simulated" and syn.strategy in GENERATION_LABELLED_STRATEGIES:
            raise ValueError(
                f"synthesize.strategy is {syn.strategy} with teacher.provider simulated: the simulated "
                "teacher's generation and labelling both give the pool's gold labels, so taking the "
                "labels from the generation step instead of a separate label call would measure "
                "nothing; set teacher.provider openai (and teacher.model), or use strategy evokd")
        return self


def _show(value: object) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def ignored_params(cfg: "Config", verb: str) -> list[str]:
    """Params of stage `verb` set away from their defaults that this teacher and strategy never
    read: each as a line saying why. DVC still re-runs the stage when one changes (its params
    block is listed whole), so a user who changed one is told it bought nothing."""
    syn, teacher = cfg.synthesize, cfg.teacher
    simulated = teacher.provider == "simulated"
    guided = syn.strategy not in ("random", "uncertainty")
    # Per stage: (key, ignored with this teacher and strategy?, who reads it).
    rules = {
        "synthesize": [
            ("synthesize.candidates", not simulated or syn.strategy == "random",
             "the simulated teacher's strategies that rank a pool draw (all but random)"),
            ("synthesize.guided_share", not (simulated and guided), "the simulated teacher's evokd strategies"),
            ("synthesize.label_quota", not guided, "the guided strategies (evokd, evokd-*)"),
            ("synthesize.overgenerate", simulated or syn.strategy not in RANKED_STRATEGIES,
             "the LLM teacher's uncertainty strategies (the simulated one ranks its `candidates`)"),
            ("synthesize.batches", simulated, "the LLM teacher"),
            ("synthesize.show_wrong", simulated or not guided, "the LLM teacher's guided strategies"),
            ("synthesize.show_correct", simulated or not guided, "the LLM teacher's guided strategies"),
        ],
        "label": [("teacher.label_noise", not simulated, "the simulated teacher")],
        "train": [("train.review_balance", cfg.task == "ner", "classification (NER sentences have no one label)")],
    }
    out = []
    for key, ignored, reader in rules.get(verb, []):
        block_name, name = key.split(".")
        block = getattr(cfg, block_name)
        value, default = getattr(block, name), type(block).model_fields[name].default
        if ignored and value != default:
            out.append(f"{key} is {_show(value)} (default {_show(default)}), read only by {reader}: with "
                       f"teacher.provider {teacher.provider} and strategy {syn.strategy} it changes nothing")
    return out


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key (check its spelling; see the documented keys in README.md)"
    if kind == "missing":
        return f"{key}: required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if not err["loc"]:  # a check across blocks: its message names the keys; the input is everything
        return msg
    return f"{key}: {msg} (got {err.get('input')!r})"


def parse_config(data: Any, source: str = "params.yaml") -> Config:
    """Validate a params mapping; raise ConfigError naming every bad key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys at the top level")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        problems = "\n  ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: invalid configuration:\n  {problems}") from None


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run evokd from the project root (where dvc.yaml is)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_config(data, str(path))
