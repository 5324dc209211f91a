"""Round slots: DVC has no loops, so dvc.yaml's rounds are slots declared in slots.yaml (its
`foreach` vars; rewrite with `evokd slots N`), and the `plan` stage (stages/plan.py) writes one
activation file per slot from `rounds`. Round k depends on its own file, never on `rounds`, so
raising `rounds` from 4 to 8 rewrites only slots 5..8 and DVC skips 1..4."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from evokd.errors import ConfigError
from evokd.io import atomic_write_text, read_json
from evokd.paths import SLOTS_FILE, Round

# slots.yaml's second mapping: the keys of dvc.yaml's analyze foreach, "0".."N".
ANALYZE_SLOTS = "analyze_slots"


def read_slots(path: Path = SLOTS_FILE) -> list[int]:
    """The round slots dvc.yaml declares (kept in slots.yaml, which dvc.yaml loads as vars)."""
    if not path.exists():
        raise ConfigError(f"{path}: not found; run `evokd slots 8` (or more) to create the round slots")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return sorted(int(k) for k in (data.get("slots") or {}))


def write_slots(n: int, path: Path = SLOTS_FILE) -> None:
    """Rewrite slots.yaml with n round slots (each slot knows its previous round), and the
    analyze stage's keys: round 0 too, so that the round-0 analysis is `analyze@0`, its own stage
    (in batch mode a re-run waits on it without re-running prepare's training)."""
    if n < 1:
        raise ConfigError("slots: need at least one round slot")
    lines = ["# Round slots for dvc.yaml's foreach (DVC has no loops). Rewrite with `evokd slots N`.",
             "# synthesize, label, train and evaluate run in slots 1..N.",
             "slots:"]
    # Keys must be strings: DVC silently expands a foreach over integer keys to no stages.
    lines += [f"  \"{k}\": {{prev: {k - 1}}}" for k in range(1, n + 1)]
    lines += ["# analyze runs in round 0 too (prepare's student): analyze@0 .. analyze@N.",
              f"{ANALYZE_SLOTS}:"]
    lines += [f"  \"{k}\": {{}}" for k in range(0, n + 1)]
    atomic_write_text(path, "\n".join(lines) + "\n")


def check_analyze_slots(slots: list[int], path: Path = SLOTS_FILE) -> None:
    """slots.yaml's analyze keys must be round 0 plus every round slot (a hand edit, or a file
    written before analyze@0 existed, would leave rounds without an analysis)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    keys = sorted(int(k) for k in (data.get(ANALYZE_SLOTS) or {}))
    if keys != [0, *slots]:
        raise ConfigError(
            f"{path}: `{ANALYZE_SLOTS}` should list rounds 0..{max(slots)} (it lists {keys or 'none'}); "
            f"run `evokd slots {len(slots)}` to rewrite the file, commit it, then run again")


def is_active(k: int) -> bool:
    """Whether round k runs (round 0 always does); inactive slots write placeholders without
    importing torch."""
    path = Round(k).plan
    if not path.exists():
        raise ConfigError(f"{path}: missing; run `dvc repro plan` first")
    return bool(read_json(path)["active"])


def active_rounds() -> list[int]:
    """The active round slots, 1..rounds (round 0 is not a slot)."""
    return [k for k in read_slots() if Round(k).plan.exists() and is_active(k)]


def prune_lock(n: int, lock: Path = Path("dvc.lock")) -> list[str]:
    """Drop from dvc.lock the entries of round slots above `n` (after `evokd slots n` lowered the
    count): DVC keeps a removed stage's entry for ever, and it re-reads and rewrites the whole
    lock after every stage it runs, so dead entries cost time on every `dvc repro`. Returns the
    stage names dropped. Round-trip YAML (ruamel, DVC's own) keeps the rest as DVC wrote it."""
    if not lock.exists():
        return []
    from ruamel.yaml import YAML

    yaml_rt = YAML(typ="rt")
    data = yaml_rt.load(lock.read_text(encoding="utf-8"))
    stages = data.get("stages") or {}
    gone = [name for name in list(stages)
            if "@" in name and name.rsplit("@", 1)[1].isdigit() and int(name.rsplit("@", 1)[1]) > n]
    if gone:
        for name in gone:
            del stages[name]
        buf = io.StringIO()
        yaml_rt.dump(data, buf)
        atomic_write_text(lock, buf.getvalue())
    return gone
