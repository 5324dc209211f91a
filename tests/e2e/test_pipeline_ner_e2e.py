"""The real DVC pipeline with `task: ner`, end to end, on a tiny CoNLL-2003 subset; then a
made-up CoNLL dataset with another entity-type set, switched to by the dataset block alone."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from conftest import ROOT, run

pytestmark = pytest.mark.slow


def conll_subset(src: Path, dest: Path, n: int) -> None:
    """The first n sentences of a CoNLL-2003 file (DOCSTART lines kept), gzip-compressed."""
    blocks = gzip.open(src, "rt").read().split("\n\n")
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(gzip.compress(("\n\n".join(blocks[:n]) + "\n").encode()))


def toy_dataset(dest: Path) -> None:
    """A made-up drug-and-dose corpus (types DRUG, DOSE), with `#`-free 3-column lines."""
    rng = random.Random(0)
    drugs = ["aspirin", "ibuprofen", "metformin", "warfarin", "insulin glargine", "amoxicillin"]
    doses = ["5 mg", "10 mg", "200 mg", "1 g", "2.5 ml", "40 units"]
    frames = ["The patient took {dose} of {drug} daily .", "{drug} was stopped after a week .",
              "Give {dose} twice a day .", "No change was made .", "Start {drug} at {dose} ."]
    for split, n in (("train", 40), ("test", 12)):
        lines = []
        for _ in range(n):
            frame = rng.choice(frames)
            words = []
            for part in frame.split():
                if part in ("{drug}", "{dose}"):
                    kind = "DRUG" if part == "{drug}" else "DOSE"
                    value = rng.choice(drugs if kind == "DRUG" else doses).split()
                    words += [(w, ("B-" if i == 0 else "I-") + kind) for i, w in enumerate(value)]
                else:
                    words.append((part, "O"))
            lines += [f"{w}\tX\t{t}" for w, t in words] + [""]
        (dest / f"{split}.conll").parent.mkdir(parents=True, exist_ok=True)
        (dest / f"{split}.conll").write_text("\n".join(lines) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_ner_pipeline_then_another_type_set_by_the_dataset_block_alone(project):
    root = project(slots=3, **{"task": "ner", "dataset.train": "data/raw/conll/train.txt.gz",
                               "dataset.test": "data/raw/conll/test.txt.gz", "dataset.format": "conll",
                               "synthesize.candidates": 16, "train.seed_epochs": 4})
    conll_subset(ROOT / "data/raw/conll2003/train.txt.gz", root / "data/raw/conll/train.txt.gz", 60)
    conll_subset(ROOT / "data/raw/conll2003/test.txt.gz", root / "data/raw/conll/test.txt.gz", 25)
    toy_dataset(root / "data/raw/toy")
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "ner data"], root)

    run(["dvc", "repro"], root)
    labels = json.loads((root / "data/prepared/labels.json").read_text())
    assert labels["task"] == "ner" and labels["labels"] == ["LOC", "MISC", "ORG", "PER"]
    seed = read_jsonl(root / "data/rounds/0/train_set.jsonl")
    assert {t[2:] for r in seed for t in r["tags"] if t != "O"} == {"LOC", "MISC", "ORG", "PER"}

    summary = json.loads((root / "metrics/summary.json").read_text())
    diag = json.loads((root / "reports/diagnostics.json").read_text())
    assert diag["metric"] == "f1" and summary["rounds_run"] == 2
    assert summary["score"] == diag["per_round"][-1] and len(diag["per_round"]) == 3
    assert set(diag["per_label_f1"]) == {"LOC", "MISC", "ORG", "PER"}
    assert list(summary) == ["score", "precision", "recall", "macro_f1", "accuracy", "rounds_run", "accepted",
                             "tokens", "cost_usd"]
    assert (root / "metrics/scores.csv").read_text().startswith(
        "round,score,f1,precision,recall,macro_f1,accuracy,tokens,cost_usd,total_tokens,total_cost_usd\n")
    # The confusion plot is token level over entity types, without the O/O words.
    confusion = json.loads((root / "metrics/confusion.json").read_text())
    assert confusion and {"actual": "O", "predicted": "O"} not in confusion
    assert {c["actual"] for c in confusion} <= {"O", "LOC", "MISC", "ORG", "PER"}
    assert "| round | F1 | precision | recall |" in (root / "reports/report.md").read_text()

    labelled = read_jsonl(root / "data/rounds/1/labelled.jsonl")
    assert labelled and all(len(r["tokens"]) == len(r["tags"]) for r in labelled)
    assert all(r["text"] == " ".join(r["tokens"]) for r in labelled)
    feedback = read_jsonl(root / "data/rounds/1/feedback.jsonl")
    assert {r["id"] for r in feedback} == {r["id"] for r in labelled}
    assert all(len(r["predicted"]) == len(r["tokens"]) and isinstance(r["correct"], bool) for r in feedback)
    analysis = json.loads((root / "data/rounds/1/analysis.json").read_text())
    assert set(analysis["errors_per_label"]) == {"LOC", "MISC", "ORG", "PER"}

    # The checkpoint is a token classifier that transformers.pipeline loads directly.
    from transformers import pipeline

    ner = pipeline("token-classification", model=str(root / "models/rounds/2"), device=-1)
    assert all(p["entity"] in {"O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"}
               for p in ner("Peter Blackburn flew to Brussels ."))

    # Another CoNLL dataset with a different type set: only the dataset block changes.
    run(["dvc", "exp", "run", "-S", "dataset.train=data/raw/toy/train.conll",
         "-S", "dataset.test=data/raw/toy/test.conll"], root)
    labels = json.loads((root / "data/prepared/labels.json").read_text())
    assert labels["labels"] == ["DOSE", "DRUG"]
    diag = json.loads((root / "reports/diagnostics.json").read_text())
    assert diag["metric"] == "f1" and set(diag["per_label_f1"]) == {"DOSE", "DRUG"}
    assert json.loads((root / "metrics/summary.json").read_text())["rounds_run"] == 2
