"""params.yaml -> a typed, validated config, loaded once at the edge (the CLI) and passed down.

Unknown keys and bad values stop with a message naming the key and what is allowed. Nothing
below the CLI reads YAML or the environment.
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path
from urllib.parse import urlsplit
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from evokd.errors import ConfigError, UnknownLabelError
from evokd.strategies import STRATEGY_PARAMS, get_strategy

FORMATS = ("trec", "csv", "tsv", "jsonl", "parquet", "hf", "conll")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".conll": "conll",
               ".bio": "conll", ".iob": "conll", ".parquet": "parquet", ".pq": "parquet"}
# Each round trains with seed * 1000 + round (stages/train.py); numpy and some endpoints
# take seeds below 2**32, so seeds stay where every derived one fits.
MAX_SEED = (2**32 - 1) // 1000 - 1


def is_http_url(url: str) -> bool:
    """An http(s) URL with a host and, if any, a valid port."""
    try:
        parts = urlsplit(url)
        parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in url)


def is_saved_dataset(path: Path) -> bool:
    """A folder written by `datasets`' save_to_disk (a Dataset, or a DatasetDict of splits)."""
    return path.is_dir() and any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json",
                                                                 "state.json"))


def _implied_format(path: Path) -> str | None:
    """The format a dataset path implies (extension, TREC name, save_to_disk folder), or None."""
    if is_saved_dataset(path):
        return "hf"
    if path.suffix.lower() == ".gz":  # data.tsv.gz reads as data.tsv
        path = path.with_suffix("")
    suffix = path.suffix.lower()
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    if path.name.upper().startswith("TREC") or suffix == ".label":
        return "trec"
    return None


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatasetConfig(_Block):
    """Where the labelled data lives and how to read it."""

    train: str
    test: str
    dev: Optional[str] = None
    # hf: a folder written by Hugging Face datasets' save_to_disk (inferred for such a folder).
    format: Optional[Literal["trec", "csv", "tsv", "jsonl", "parquet", "hf", "conll"]] = None
    text_column: str = "text"
    label_column: str = "label"
    # TREC labels are `COARSE:fine`; the coarse set (6 classes) is the usual task.
    trec_labels: Literal["coarse", "fine"] = "coarse"
    encoding: str = "utf-8"
    # The task context every teacher prompt carries: what the texts are, where they come from and
    # what is being decided; and what each label (classification) or entity type (NER) means.
    # A label without a description is fine; a described name the dataset lacks is an error
    # (`check_label_descriptions`, where the label set is known). The simulated teacher ignores both.
    description: Optional[str] = Field(None, min_length=1)
    label_descriptions: dict[str, str] = Field(default_factory=dict)

    def resolved_format(self, split_path: str | Path | None = None) -> str:
        """The declared format, or the one the file's extension implies: `split_path`'s when it
        has one (a Parquet train split may come with a save_to_disk test split), else the train
        file's."""
        if self.format:
            return self.format
        found = _implied_format(Path(split_path)) if split_path is not None else None
        found = found or _implied_format(Path(self.train))
        if found is None:
            raise ConfigError(
                f"dataset.format: cannot infer the format of {self.train!r} from its extension; "
                f"set dataset.format to one of {', '.join(FORMATS)}"
            )
        return found

    @model_validator(mode="after")
    def _described_labels(self) -> "DatasetConfig":
        for name, text in self.label_descriptions.items():
            if not name.strip():
                raise ValueError("dataset.label_descriptions: a label name is empty")
            if not text.strip():
                raise ValueError(f"dataset.label_descriptions.{name}: the description is empty; "
                                 "write what the label means, or leave the label out")
        return self

    def check_label_descriptions(self, labels: list[str], source: str = "params.yaml") -> None:
        """Stop with UnknownLabelError when `label_descriptions` names a label the dataset does
        not have (a typo, or the description of another dataset): the prompts would define a
        label the teacher may then never use. Labels without a description are fine."""
        unknown = sorted(set(self.label_descriptions) - set(labels))
        if unknown:
            raise UnknownLabelError(
                f"{source}: dataset.label_descriptions names {len(unknown)} label(s) that "
                f"{self.train} does not have: {', '.join(unknown)}; its labels are "
                f"{', '.join(labels)} (names are case-sensitive). Describe this dataset's labels, "
                f"or remove dataset.label_descriptions (and dataset.description) for none")

    @model_validator(mode="after")
    def _known_encoding(self) -> "DatasetConfig":
        # A text encoding: rot13 and base64 are codecs too, but not ones a text file is in.
        try:
            "a\n".encode(self.encoding).decode(self.encoding)
        except (LookupError, UnicodeError):  # UnicodeError: the `undefined` codec, which encodes nothing
            raise ValueError(f"dataset.encoding: unknown text encoding {self.encoding!r}; use a Python "
                             "text encoding such as utf-8, utf-16, latin-1 or cp1252") from None
        return self

    @model_validator(mode="after")
    def _distinct_files(self) -> "DatasetConfig":
        for name in ("test", "dev"):
            other = getattr(self, name)
            if other is not None and Path(self.train) == Path(other):
                raise ValueError(f"dataset.{name} is the same file as dataset.train; the {name} split "
                                 "must be held out")
        if self.dev is not None and Path(self.dev) == Path(self.test):
            raise ValueError("dataset.dev is the same file as dataset.test; give each its own file")
        if self.text_column == self.label_column:
            raise ValueError(f"dataset.text_column and dataset.label_column are both "
                             f"{self.text_column!r}; a column cannot be both the text and its label")
        return self


class PriceConfig(_Block):
    """US dollars per 1M tokens of one model."""

    prompt: float = Field(..., ge=0.0)
    completion: float = Field(..., ge=0.0)


class BudgetConfig(_Block):
    """A hard cap on what one pipeline uses of the teacher, and on what every run sharing the
    response cache folder pays over the network together (null = no cap; evokd.teachers.budget)."""

    max_tokens: Optional[int] = Field(None, ge=1)
    max_usd: Optional[float] = Field(None, gt=0.0)


# OpenAI's reasoning models (o1, o3, o4-mini, ...; the GPT-5 family) by name: they take
# `max_completion_tokens`, not `max_tokens`, and only their default temperature. A proxy or an Azure
# deployment may hide the name: `teacher.reasoning` says it outright.
_REASONING_NAME = re.compile(r"^(o\d+(-|$)|gpt-5)")
_OPENAI_HOSTS = ("api.openai.com",)


def looks_like_reasoning_model(model: Optional[str]) -> bool:
    """True for OpenAI reasoning model names (o1, o3-mini, o4-mini, gpt-5, gpt-5-mini, ...),
    also behind a provider prefix (`openai/o3-mini`)."""
    return bool(model) and bool(_REASONING_NAME.match(model.lower().rsplit("/", 1)[-1]))


class AzureConfig(_Block):
    """An Azure OpenAI resource, reached through the SDK's Azure client (the key comes from the
    AZURE_OPENAI_API_KEY environment variable only)."""

    endpoint: str  # https://<resource>.openai.azure.com
    api_version: str  # e.g. 2024-10-21 (GA); reasoning models need 2024-12-01-preview or later
    deployment: Optional[str] = None  # the deployment's name; null = teacher.model

    @model_validator(mode="after")
    def _url(self) -> "AzureConfig":
        if not is_http_url(self.endpoint):
            raise ValueError(f"teacher.azure.endpoint must be a URL (https://<resource>.openai.azure.com), "
                             f"got {self.endpoint!r}")
        return self


class TeacherConfig(_Block):
    """Who plays the teacher. `simulated` runs offline from the labelled train pool; `openai`
    calls any OpenAI-compatible chat-completions endpoint (key from OPENAI_API_KEY only), or Azure
    OpenAI (`azure`; key from AZURE_OPENAI_API_KEY only). What is sent to which server:
    docs/teacher-servers.md.

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
    # null = not sent (the endpoint's default). Reasoning models sample at their own default
    # only: for them neither is sent, and the first teacher stage says so (docs/teacher-servers.md).
    temperature: Optional[float] = Field(0.9, ge=0.0, le=2.0)  # synthesize and analyze
    label_temperature: Optional[float] = Field(0.0, ge=0.0, le=2.0)
    max_tokens: int = Field(2048, ge=16)  # completion tokens per request (the visible reply)
    # Ask for JSON through a JSON-schema response_format; turn off for endpoints that reject it.
    json_schema: bool = True
    # Send the sampling seed (tells apart otherwise identical conversations); off for endpoints
    # that refuse `seed`.
    send_seed: bool = True
    # A reasoning model (hidden reasoning tokens, no temperature, `max_completion_tokens`):
    # null = by the model's name (OpenAI o-series, gpt-5*), true/false where the name hides it.
    reasoning: Optional[bool] = None
    # Sent as `reasoning_effort` when set (OpenAI: minimal/low/medium/high; some models none/xhigh).
    reasoning_effort: Optional[Literal["none", "minimal", "low", "medium", "high", "xhigh"]] = None
    # Reasoning models: completion tokens allowed for hidden reasoning on top of max_tokens (the
    # output cap sent is their sum; reasoning tokens are billed as completion tokens).
    reasoning_headroom: int = Field(8192, ge=0)
    # The name the output cap is sent under. auto: max_completion_tokens to api.openai.com, Azure
    # and reasoning models, max_tokens to other servers (vLLM, Ollama, llama.cpp know it). A 400
    # that names the one sent switches to the other, once, with a warning and a record.
    token_param: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"
    # Azure OpenAI (instead of base_url): endpoint, api_version, deployment.
    azure: Optional[AzureConfig] = None
    # Operational (not DVC params): how requests are sent.
    max_concurrency: int = Field(4, ge=1, le=64)
    timeout_s: float = Field(60.0, gt=0.0)
    max_tries: int = Field(6, ge=1, le=20)
    backoff_s: float = Field(1.0, ge=0.0)  # first retry delay; doubles per try, with jitter
    max_backoff_s: float = Field(60.0, ge=0.0)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)  # per model, USD per 1M tokens
    # When and how the price table was last compared with the providers' price lists.
    prices_checked: Optional[str] = None
    budget: BudgetConfig = BudgetConfig()

    def base_urls(self) -> list[Optional[str]]:
        """The endpoints as a list ([None] = api.openai.com)."""
        return list(self.base_url) if isinstance(self.base_url, list) else [self.base_url]

    def is_reasoning(self) -> bool:
        """Whether the model is taken for a reasoning model (`reasoning`, else by its name)."""
        return self.reasoning if self.reasoning is not None else looks_like_reasoning_model(self.model)

    def unsent_temperatures(self) -> dict[str, float]:
        """`temperature` / `label_temperature` (by key) that are set but never sent: a reasoning
        model samples only at its default temperature."""
        if not self.is_reasoning():
            return {}
        return {k: getattr(self, k) for k in ("temperature", "label_temperature") if getattr(self, k) is not None}

    def output_cap(self) -> int:
        """The completion tokens a request may use: max_tokens, plus reasoning_headroom for a
        reasoning model (its hidden reasoning counts against the same cap)."""
        return self.max_tokens + (self.reasoning_headroom if self.is_reasoning() else 0)

    def resolved_token_param(self) -> str:
        """The request field the output cap goes under (see `token_param`)."""
        if self.token_param != "auto":
            return self.token_param
        if self.is_reasoning() or self.azure is not None:
            return "max_completion_tokens"
        hosts = [urlsplit(url).hostname if url else _OPENAI_HOSTS[0] for url in self.base_urls()]
        return "max_completion_tokens" if all(h in _OPENAI_HOSTS for h in hosts) else "max_tokens"

    @model_validator(mode="after")
    def _azure(self) -> "TeacherConfig":
        if self.azure is None:
            return self
        if self.base_url is not None:
            raise ValueError("teacher.azure and teacher.base_url are both set: Azure OpenAI is reached through "
                             "teacher.azure.endpoint; set teacher.base_url: null")
        if self.mode == "batch":
            raise ValueError("teacher.mode batch is not supported with teacher.azure (Azure's Batch API takes "
                             "other endpoints); use teacher.mode: online")
        return self

    @model_validator(mode="after")
    def _base_url_is_a_url(self) -> "TeacherConfig":
        for url in self.base_urls():
            if url is not None and not is_http_url(url):
                # The URL itself is not repeated: it may hold credentials.
                raise ValueError("teacher.base_url: not an http(s) URL with a host (such as "
                                 "http://127.0.0.1:8000/v1); check the scheme and the host")
        if self.max_backoff_s < self.backoff_s:
            raise ValueError(f"teacher.max_backoff_s ({self.max_backoff_s:g}) is below teacher.backoff_s "
                             f"({self.backoff_s:g}), the first retry delay; raise max_backoff_s")
        return self

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


class ProbeConfig(_Block):
    """Round 0's teacher work (the `probe` stage): the teacher writes `n_texts` fresh texts for
    the task (the `synthesize_random` prompt: task context and seed examples, no feedback) and
    labels them together with the seed set; the round-0 student's answers on those texts are
    round 0's feedback, and every seed label the teacher disagrees with is reported."""

    n_texts: int = Field(32, ge=1)


class PrepareConfig(_Block):
    """Round 0: pool embedding for the simulated teacher."""

    embed_batch_size: int = Field(128, ge=1)
    embed_max_length: int = Field(64, ge=8, le=512)


class SynthesizeConfig(_Block):
    """What the teacher writes each round."""

    # evokd: analysis-guided hard and easy samples. random: samples for the task and label set
    # alone (no analysis, no feedback). uncertainty: random-style candidates, the n_hard + n_easy
    # the previous student is least sure of kept (all "hard"). evokd-uncertainty: evokd, its hard
    # samples the n_hard least sure among analysis-guided candidates. evokd-gen-labels (LLM
    # teacher only): evokd, each text labelled by the generation call itself, no label call.
    # eda: no teacher; n_hard + n_easy seed examples edited word by word (EDA), each keeping its
    # label (NER: its entities). Each is a class in evokd/strategies.py (what it reads and does);
    # this list names them.
    strategy: Literal["evokd", "random", "uncertainty", "evokd-uncertainty", "evokd-gen-labels",
                      "eda"] = "uncertainty"
    n_hard: int = Field(24, ge=0)
    n_easy: int = Field(8, ge=0)
    # Simulated teacher: how many pool texts it considers before keeping n_hard + n_easy.
    candidates: int = Field(256, ge=1)
    # Simulated teacher, evokd strategies: the share of those candidates drawn by the analysis
    # (near the last mistakes, weak labels); the rest are drawn at random, as an LLM asked for
    # hard samples also writes ordinary ones.
    guided_share: float = Field(0.5, ge=0.0, le=1.0)
    # How the hard samples are spread over the labels (NER: entity types), whatever the
    # analysis says is weak: "none" = the simulated teacher takes at most 40 % of them from one
    # label (the LLM teacher's prompt asks for at most half); "even" = a quota of
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
    # LLM teacher: the user's own seed examples shown in every generation conversation (every
    # strategy, so that the baselines see what evokd sees), spread over the labels.
    show_seed: int = Field(8, ge=0)

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

    @model_validator(mode="after")
    def _length_range(self) -> "LabelConfig":
        if self.min_chars > self.max_chars:
            raise ValueError(f"label.min_chars ({self.min_chars}) is above label.max_chars "
                             f"({self.max_chars}): every sample would be rejected; lower min_chars "
                             "or raise max_chars")
        return self


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
    # The loss's class weights: none = every sample counts once; balanced = each label weighed by
    # n / (labels present * its count) in what the round trains on (new + review), so a label the
    # batch has little of counts as much as one it piles onto. Classification only (config error
    # for NER: see `Config._class_weight_fits_task`).
    class_weight: Literal["none", "balanced"] = "none"
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
    # (GPUs, or CPU processes over gloo). See docs/scaling.md, "Train on several processes or GPUs".
    launcher: Literal["none", "accelerate"] = "none"
    num_processes: int = Field(2, ge=1, le=64)


class EvaluateConfig(_Block):
    batch_size: int = Field(64, ge=1)


class AnalyzeConfig(_Block):
    """What the teacher is shown when it analyses the student."""

    n_wrong: int = Field(8, ge=0)
    n_correct: int = Field(4, ge=0)


class ReportConfig(_Block):
    """What the report shows beside the run's own numbers."""

    # The test score (the task's headline metric) of the student trained on the whole labelled
    # train split, drawn as a reference line in the score chart; null = not known.
    ceiling: Optional[float] = Field(None, ge=0.0, le=1.0)
    # Accepted and rejected samples shown per round in the report.
    samples_shown: int = Field(3, ge=0, le=50)


class Config(_Block):
    """The whole params.yaml."""

    task: Literal["classification", "ner"] = "classification"
    dataset: DatasetConfig
    shots: int = Field(1, ge=1)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    rounds: int = Field(8, ge=0)
    teacher: TeacherConfig = TeacherConfig()
    prepare: PrepareConfig = PrepareConfig()
    probe: ProbeConfig = ProbeConfig()
    synthesize: SynthesizeConfig = SynthesizeConfig()
    label: LabelConfig = LabelConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    analyze: AnalyzeConfig = AnalyzeConfig()
    report: ReportConfig = ReportConfig()

    @model_validator(mode="after")
    def _something_to_rank(self) -> "Config":
        syn = self.synthesize
        if (self.teacher.provider == "openai" and get_strategy(syn.strategy).overgenerates != "none"
                and syn.overgenerate < 1.5):
            raise ValueError(
                f"synthesize.overgenerate is {syn.overgenerate:g} with strategy {syn.strategy}: the LLM "
                "teacher would write hardly more candidates than it keeps, so the student has almost "
                "nothing to rank; set it to 1.5 or more (3, the default, writes three candidates per "
                "kept sample), or use strategy random")
        return self

    @model_validator(mode="after")
    def _format_fits_task(self) -> "Config":
        from evokd.tasks import format_mismatch

        fmt = self.dataset.format
        why = format_mismatch(self.task, fmt) if fmt is not None else None
        if why:
            raise ValueError(f"dataset.format is {fmt} but task is {self.task}: {why}")
        return self

    @model_validator(mode="after")
    def _class_weight_fits_task(self) -> "Config":
        from evokd.tasks import get_task

        if self.train.class_weight != "none" and not get_task(self.task).one_label_per_sample:
            # Over NER's tags, inverse frequency weighs O (83 % of CoNLL-2003's training words)
            # 24 times below B-LOC and 147 times below I-MISC: the student learns to tag words as
            # entities that are not, and entity F1 pays in precision. The imbalance the lever is
            # for, between the entity types, is no per-word weight.
            raise ValueError(
                f"train.class_weight is {self.train.class_weight} with task {self.task}: class weights "
                "weigh each sample by its one label, and an NER sentence has none; weighed per tag, "
                "O (most words) would count far below every entity tag and the student would tag "
                "words as entities that are not. Set train.class_weight: none")
        return self

    @model_validator(mode="after")
    def _generation_labels_need_an_llm(self) -> "Config":
        syn = self.synthesize
        strategy = get_strategy(syn.strategy)
        if self.teacher.provider == "simulated" and strategy.labels_with_generation and strategy.writer == "teacher":
            raise ValueError(
                f"synthesize.strategy is {syn.strategy} with teacher.provider simulated: the simulated "
                "teacher's generation and labelling both give the pool's gold labels, so taking the "
                "labels from the generation step instead of a separate label call would measure "
                "nothing; set teacher.provider openai (and teacher.model), or use strategy evokd")
        return self


def ignored_params(cfg: "Config", verb: str) -> list[str]:
    """Params of stage `verb` set away from their defaults that this teacher and strategy never
    read: each as a line saying why. DVC still re-runs the stage when one changes (its params
    block is listed whole), so a user who changed one is told it bought nothing. Which
    `synthesize.*` params a strategy reads, each strategy declares (evokd.strategies)."""
    from evokd.tasks import get_task

    syn, teacher = cfg.synthesize, cfg.teacher
    simulated = teacher.provider == "simulated"
    strategy = get_strategy(syn.strategy)
    teacher_writes = strategy.writer == "teacher"  # eda: the generation params have no one to read them
    # The simulated teacher sends no prompts: a prompt set changes none of its answers.
    prompts = ("teacher.prompts", simulated, "the LLM teacher (the simulated one sends no prompts)")
    by_strategy = {name: (f"synthesize.{name}", not strategy.reads_param(name, teacher.provider), reader)
                   for name, reader in STRATEGY_PARAMS.items()}
    # Per stage: (key, ignored with this teacher and strategy?, who reads it).
    rules = {
        "synthesize": [
            by_strategy["candidates"], by_strategy["guided_share"], by_strategy["label_quota"],
            by_strategy["overgenerate"],
            ("synthesize.batches", simulated or not teacher_writes, "the LLM teacher"),
            by_strategy["show_wrong"], by_strategy["show_correct"],
            ("synthesize.show_seed", simulated or not teacher_writes, "the LLM teacher"),
            prompts,
        ],
        # eda: no label call, and the simulated teacher's second labelling cannot answer for an
        # augmented text (it labels the texts of its pool only): nothing draws the noise.
        "label": [("teacher.label_noise", not simulated or not teacher_writes,
                   "the simulated teacher's labels of its pool texts"), prompts],
        "analyze": [prompts],
        "train": [("train.review_balance", not get_task(cfg.task).one_label_per_sample,
                   "classification (NER sentences have no one label)")],
    }
    out = []
    for key, ignored, reader in rules.get(verb, []):
        block_name, name = key.split(".")
        block = getattr(cfg, block_name)
        value, default = getattr(block, name), type(block).model_fields[name].default
        if ignored and value != default:
            out.append(f"{key} is {_shown(value)} (default {_shown(default)}), read only by {reader}: with "
                       f"teacher.provider {teacher.provider} and strategy {syn.strategy} it changes nothing")
    return out + unsent_params(cfg, verb)


def unsent_params(cfg: "Config", verb: str) -> list[str]:
    """The sampling params of stage `verb` that are set but not sent, because the teacher is a
    reasoning model (it samples only at its default temperature): each as a line saying so."""
    teacher = cfg.teacher
    if teacher.provider != "openai":
        return []
    key = {"synthesize": "temperature", "analyze": "temperature", "label": "label_temperature"}.get(verb)
    value = teacher.unsent_temperatures().get(key)
    if value is None:
        return []
    return [f"teacher.{key} is {value:g} but is not sent: {teacher.model!r} is taken for a reasoning model "
            f"(teacher.reasoning), which samples only at its default temperature; set teacher.{key}: null "
            f"to say so in params.yaml (docs/teacher-servers.md)"]


def _shown(value: Any) -> str:
    """A param's value as a user wrote it: numbers short (3, not 3.0), text as is."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _describe(err: dict) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "(top level)"
    kind = err["type"]
    if kind == "extra_forbidden":
        return f"{key}: unknown key (check its spelling; see the documented keys in docs/pipeline.md, 'Parameters')"
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


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last
    silently, so a second `dataset:` block would quietly replace the first)."""

    def construct_mapping(self, node, deep=False):
        seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor`: its keys may be overridden
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key; construct_mapping reports it
                continue
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first on line {first})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def read_params_text(path: Path) -> str:
    """params.yaml as text: UTF-8 (a byte-order mark allowed), as DVC reads it too."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; give the params file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{path}: is UTF-16; save it as UTF-8 (DVC reads params as UTF-8)")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8 (byte {raw[exc.start]:#04x}); save the file "
                          "as UTF-8") from None


def load_config(path: str | Path = "params.yaml") -> Config:
    """Read and validate params.yaml."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: not found; run evokd from the project root (where dvc.yaml is)")
    stream = io.StringIO(read_params_text(path))
    stream.name = str(path)  # named in YAML error marks
    try:
        data = yaml.load(stream, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    return parse_config(data, str(path))
