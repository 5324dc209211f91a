"""`evokd export <dir>`: the final student as a folder that `transformers.pipeline(...)` loads,
with its model card, and the merged training set (`dataset/train.jsonl`) with its card.

It reads only what `dvc repro` or `dvc pull` leave in the project (checkpoints, round data and
cards, score files), so a teammate can export a pulled run without re-running anything. The
folder is built beside its destination and renamed into place: an interrupted export leaves no
half-written model behind.

`--force` replaces only a previous export: every export holds a marker file (MARKER) that says
so, and a folder without it, a file, a link, or a folder that holds the project is refused
whatever the flag (`evokd export . --force` used to delete the whole project).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from pathlib import Path

from evokd.cards.card import read_card, usage_totals
from evokd.cards.model import model_facts, write_merged_card, write_model_card
from evokd.cards.provenance import git_revision
from evokd.config import Config
from evokd.errors import PipelineError, UserInputError
from evokd.io import read_json, read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds.slots import active_rounds
from evokd.strategies import get_strategy
from evokd.tasks import get_task

DATA_FILE = "train.jsonl"
MARKER = ".evokd-export.json"


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
    strategy = get_strategy(cfg.synthesize.strategy)
    facts["labelled_by"] = ("eda" if strategy.writer == "eda" else
                            "generation" if strategy.labels_with_generation else "label call")
    facts["round_cards"] = {k: {key: c[key] for key in ("prompt_sha256", "params", "counts", "usage", "git")}
                            for k, c in cards.items()}
    return facts, rows, final


def is_export(folder: Path) -> bool:
    """Whether `folder` is one that `evokd export` wrote (it holds a valid MARKER file)."""
    marker = folder / MARKER
    if not marker.is_file() or marker.is_symlink():
        return False
    try:
        return read_json(marker).get("written_by") == "evokd export"
    except (ValueError, OSError, AttributeError):
        return False


def check_destination(dest: Path, force: bool) -> None:
    """Refuse a destination an export may not write: one that holds the project (or any folder
    around the current one), a file or a link, or a non-empty folder that is not a previous
    export (without --force, any non-empty folder)."""
    if dest.is_symlink():
        raise UserInputError(f"{dest}: is a link; give a folder path that is not a link")
    if not dest.exists():
        return
    if not dest.is_dir():
        raise UserInputError(f"{dest}: is a file, not a previous export; choose another folder")
    here = Path.cwd().resolve()
    if here == dest.resolve() or dest.resolve() in here.parents:
        raise UserInputError(f"{dest}: holds the current project ({here}); export into a new folder, "
                             "such as export/")
    if not any(dest.iterdir()):
        return
    if not is_export(dest):
        raise UserInputError(f"{dest}: exists, is not empty and is not a previous export (no {MARKER}); "
                             "--force replaces only a folder `evokd export` wrote: choose another folder")
    if not force:
        raise UserInputError(f"{dest}: holds a previous export; pass --force to replace it, or choose "
                             "another folder")


def export(cfg: Config, dest: str | Path, force: bool = False) -> dict:
    """Write the export folder; returns what was written."""
    dest = Path(dest)
    check_destination(dest, force)
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
        write_json(out / MARKER, {"written_by": "evokd export", "round": final})
        check_destination(dest, force)  # again: the folder may have changed while the export was built
        if dest.exists():
            shutil.rmtree(dest)
        out.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"dir": str(dest), "round": final, "samples": len(rows), facts["metric"]: facts["test_score"]}
