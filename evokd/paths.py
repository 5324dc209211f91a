"""Where every stage reads and writes, relative to the project root. One place, so that
dvc.yaml, the stages and the tests agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PREPARED = Path("data/prepared")
PLAN = Path("data/plan")
METRICS = Path("metrics")
REPORTS = Path("reports")
SLOTS_FILE = Path("slots.yaml")


@dataclass(frozen=True)
class Prepared:
    """Round-0 outputs shared by every round."""

    root: Path = PREPARED

    @property
    def train(self) -> Path: return self.root / "train.jsonl"
    @property
    def test(self) -> Path: return self.root / "test.jsonl"
    @property
    def seed(self) -> Path: return self.root / "seed.jsonl"
    @property
    def labels(self) -> Path: return self.root / "labels.json"
    @property
    def train_embeddings(self) -> Path: return self.root / "train_embeddings.npy"
    @property
    def dataset(self) -> Path:
        """The `dataset` params as prepare read them (the task context of every teacher prompt
        among them): what the teacher stages depend on instead of the params."""
        return self.root / "dataset.json"


@dataclass(frozen=True)
class Round:
    """The files of round k (round 0's are written by prepare, probe and analyze@0)."""

    k: int

    @property
    def data(self) -> Path: return Path("data/rounds") / str(self.k)
    @property
    def model(self) -> Path: return Path("models/rounds") / str(self.k)
    @property
    def plan(self) -> Path: return PLAN / f"{self.k}.json"
    @property
    def synthesized(self) -> Path: return self.data / "synthesized.jsonl"
    @property
    def labelled(self) -> Path: return self.data / "labelled.jsonl"
    @property
    def rejected(self) -> Path: return self.data / "rejected.jsonl"
    @property
    def train_set(self) -> Path: return self.data / "train_set.jsonl"
    @property
    def feedback(self) -> Path: return self.data / "feedback.jsonl"
    @property
    def analysis(self) -> Path: return self.data / "analysis.json"
    @property
    def probe(self) -> Path:
        """Round 0's fresh texts, labelled and checked (the `probe` stage)."""
        return self.data / "probe.jsonl"
    @property
    def seed_check(self) -> Path:
        """The teacher's labels of the seed set against the user's (the `probe` stage)."""
        return self.data / "seed_check.json"
    @property
    def card(self) -> Path:
        """The dataset card beside the accepted data (written by the label stage)."""
        return self.data / "README.md"
    @property
    def scores(self) -> Path: return METRICS / "rounds" / f"{self.k}.json"

    def meta(self, verb: str) -> Path:
        """Per-stage record: wall time, teacher usage, counts."""
        return self.data / f"{verb}.meta.json"

    @property
    def previous(self) -> "Round":
        return Round(self.k - 1)
