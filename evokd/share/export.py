"""`evokd export <dir>`: the final student as a folder that `transformers.pipeline(...)` loads,
with its model card, and the merged training set (`dataset/train.jsonl`) with its card.

It reads only what `dvc repro` or `dvc pull` leave in the project (checkpoints, round data and
cards, score files), so a teammate can export a pulled run without re-running anything. The
folder is built beside its destination and renamed into place: an interrupted export leaves no
half-written model behind.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from evokd.cards.card import read_card, usage_totals
from evokd.cards.model import model_facts, write_merged_card, write_model_card
from evokd.cards.provenance import git_revision
from evokd.config import GENERATION_LABELLED_STRATEGIES, Config
from evokd.errors import PipelineError
from evokd.io import read_json, read_jsonl, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds.plan import active_rounds
from evokd.tasks import get_task

DATA_FILE = "train.jsonl"


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise PipelineError(f"{path}: missing ({what}); run `dvc repro`, or `dvc pull` a run "
                            f"that a teammate pushed, then export again")
    return path


def merged_rows(rounds: list[int], prepared: Prepared = Prepared()) -> list[dict]:
    """The seed set (round 0) and each round's accepted samples, each with its `round`."""
    rows = [{**r, "round": 0} for r in read_jsonl(_need(prepared.seed, "the seed set"))]
    for k in rounds:
        rows += [{**r, "round": k} for r in read_jsonl(_need(Round(k).labelled, f"round {k}'s data"))]
    return rows


def collect(cfg: Config, prepared: Prepared = Prepared()) -> tuple[dict, list[dict], int]:
    """(model facts, merged rows, final round) of the run in the current project."""
    task = get_task(cfg.task)
    info = read_json(_need(prepared.labels, "the prepared dataset"))
    rounds = active_rounds()
    final = rounds[-1] if rounds else 0
    rows = merged_rows(rounds, prepared)
    cards = {k: read_card(_need(Round(k).card, f"round {k}'s dataset card"))["evokd"] for k in rounds}
    scores = []
    for k in [0, *rounds]:
        s = read_json(_need(Round(k).scores, f"round {k}'s scores"))
        scores.append({"round": k, task.metric: s[task.metric], "accuracy": s.get("accuracy")})
    rejected: Counter = Counter()
    for card in cards.values():
        rejected.update(card["counts"]["rejected"])
    per_round = Counter(r["round"] for r in rows)
    data = {
        "total": len(rows),
        "seed": per_round.get(0, 0),
        "synthetic": len(rows) - per_round.get(0, 0),
        "rounds": len(rounds),
        "per_round": {k: per_round.get(k, 0) for k in [0, *rounds]},
        "per_label": task.label_counts(rows),
        "rejected": dict(sorted(rejected.items())),
        "rejected_total": sum(rejected.values()),
        "usage": usage_totals(*(c["usage"]["total"] for c in cards.values())),
    }
    teacher = cards[final]["teacher"] if rounds else {"provider": cfg.teacher.provider,
                                                        "model": cfg.teacher.model}
    facts = model_facts(cfg.task, info["labels"], cfg.train.backbone, teacher, task.metric, scores,
                        data, (info.get("counts") or {}).get("test"), git_revision())
    facts["labelled_by"] = ("generation" if cfg.synthesize.strategy in GENERATION_LABELLED_STRATEGIES
                            else "label call")
    facts["round_cards"] = {k: {key: c[key] for key in ("prompt_sha256", "params", "counts", "usage", "git")}
                            for k, c in cards.items()}
    return facts, rows, final


def export(cfg: Config, dest: str | Path, force: bool = False) -> dict:
    """Write the export folder; returns what was written."""
    dest = Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        raise PipelineError(f"{dest}: exists and is not empty; choose another folder or pass --force "
                            f"to replace it")
    facts, rows, final = collect(cfg)
    model_dir = _need(Round(final).model / "config.json", f"round {final}'s student").parent
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        out = staging / "export"
        shutil.copytree(model_dir, out)
        round_cards = facts.pop("round_cards")
        write_model_card(out / "README.md", facts)
        write_jsonl(out / "dataset" / DATA_FILE, rows)
        write_merged_card(out / "dataset" / "README.md", {**facts, "round_cards": round_cards}, DATA_FILE)
        if dest.exists():
            shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
        out.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"dir": str(dest), "round": final, "samples": len(rows), facts["metric"]: facts["test_score"]}
