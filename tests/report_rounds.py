"""A finished run's round files, written by hand (no training, no teacher), for the report's
tests: two rounds on two labels, with teacher spend, rejections, samples and analyses."""

from __future__ import annotations

from pathlib import Path

import yaml

from evokd.config import Config, parse_config
from evokd.io import write_json, write_jsonl
from evokd.paths import Round
from evokd.rounds.slots import write_slots

ROOT = Path(__file__).resolve().parents[1]

# The last round's confusion matrix: 10 HUM questions (8 right), 6 LOC ones (5 right).
CONFUSION = [{"actual": "HUM", "predicted": "HUM", "count": 8}, {"actual": "HUM", "predicted": "LOC", "count": 2},
             {"actual": "LOC", "predicted": "HUM", "count": 1}, {"actual": "LOC", "predicted": "LOC", "count": 5}]
SCORES = {0: 0.25, 1: 0.5, 2: 0.75}
# Teacher usage per stage meta: each analysis 100 + 20 tokens, generation 1000 + 500, labelling 300 + 30.
USAGE = {"analyze": (100, 20, 0.001), "synthesize": (1000, 500, 0.01), "label": (300, 30, 0.002)}


def write_rounds(root: Path, scores: dict[int, float] = SCORES, **params) -> Config:
    """Round files for rounds 0..2 under `root` (the current directory of the report), and
    the config the report reads (params.yaml's, with dotted `params` overrides)."""
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    for dotted, value in params.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = value
    cfg = parse_config(data)
    write_slots(2, root / "slots.yaml")
    for k, score in scores.items():
        write_json(root / Round(k).plan, {"round": k, "active": True})
        write_json(root / Round(k).scores, {
            "round": k, "active": True, "macro_f1": score, "accuracy": score,
            "per_label": {"HUM": {"f1": score}, "LOC": {"f1": score / 2}},
            "confusion": CONFUSION})
        write_json(root / Round(k).analysis, {"round": k, "summary": f"Round {k}: it reads <b>places</b> | as people.",
                                              "weak_labels": ["LOC"]})
    write_json(root / Round(0).meta("prepare"), {"stage": "prepare", "seed": 2, "wall_s": 3.0})
    for k in scores:
        for verb, (prompt, completion, usd) in USAGE.items():
            if k == 0 and verb != "analyze":
                continue
            meta = {"stage": f"{verb}@{k}", "wall_s": 1.0,
                    "teacher": {"calls": 1, "requests": 1, "prompt_tokens": prompt,
                                "completion_tokens": completion, "cost_usd": usd}}
            if verb == "label":
                meta.update({"accepted": 4, "rejected": {"duplicate": 1, "leak": k - 1} if k > 1 else {"duplicate": 1}})
            write_json(root / Round(k).meta(verb), meta)
        if k:
            write_jsonl(root / Round(k).labelled, [
                {"id": f"r{k}-{i}", "text": f"Who wrote *book* {i} | {k}?", "label": "HUM", "kind": "hard"}
                for i in range(4)])
            write_jsonl(root / Round(k).rejected, [
                {"id": f"r{k}-x", "text": "Where is <script>alert(1)</script> Paris ?", "label": "LOC",
                 "reason": "duplicate", "detail": f"same as r{k}-0"}])
            write_jsonl(root / Round(k).feedback, [])
    return cfg
