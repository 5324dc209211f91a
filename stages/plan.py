"""plan: one activation file per round slot (data/plan/<k>.json), so that round k depends on its
own file and never on `rounds` itself: raising `rounds` from 4 to 8 rewrites only slots 5..8, and
DVC skips rounds 1..4. Round 0 (prepare's student, analysed by `analyze@0`) is always active: its
file `0.json` never changes, so `analyze@0` never re-runs because of `rounds`."""

from __future__ import annotations

from evokd.config import Config
from evokd.errors import ConfigError
from evokd.io import write_json
from evokd.paths import PLAN, SLOTS_FILE, Round
from evokd.rounds.slots import check_analyze_slots, read_slots
from evokd.rounds.stage import plain_stage


def plan(cfg: Config) -> dict:
    slots = read_slots()
    if cfg.rounds > len(slots):
        raise ConfigError(
            f"rounds: {cfg.rounds} is more than the {len(slots)} round slots in {SLOTS_FILE}; "
            f"run `evokd slots {cfg.rounds}` and commit slots.yaml, then run again"
        )
    check_analyze_slots(slots)
    PLAN.mkdir(parents=True, exist_ok=True)
    write_json(Round(0).plan, {"round": 0, "active": True})
    for k in slots:
        write_json(Round(k).plan, {"round": k, "active": k <= cfg.rounds})
    for stale in PLAN.glob("*.json"):
        if stale.stem.isdigit() and int(stale.stem) not in (0, *slots):
            stale.unlink()
    return {"rounds": cfg.rounds, "slots": len(slots)}


if __name__ == "__main__":
    plain_stage("plan", plan)
