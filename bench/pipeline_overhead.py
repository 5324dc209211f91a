"""Pipeline overhead: what DVC and the round slots cost around the real work.

On a small TREC project (the test suite's tiny configuration, the simulated teacher) it measures
1. the first `dvc repro` with `rounds=n`,
2. a no-op `dvc repro` (everything up to date): wall time and stages re-run (should be 0),
3. `dvc exp run -S rounds=<n+2>`: wall time, stages re-run (rounds 1..n must be skipped) and
   teacher requests sent.

    python bench/pipeline_overhead.py --rounds 2 --slots 6
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import make_project, run  # noqa: E402  (the tests' project builder, reused)


def timed(cmd: list[str], cwd: Path) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    proc = run(cmd, cwd)
    stages = re.findall(r"Running stage '([^']+)'", proc.stdout)
    return time.perf_counter() - t0, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--slots", type=int, default=6)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/pipeline_overhead.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = make_project(Path(tmp) / "project", args.slots, rounds=args.rounds)
        first, first_stages = timed(["dvc", "repro"], root)
        noop, noop_stages = timed(["dvc", "repro"], root)
        run(["git", "add", "-A"], root)
        run(["git", "commit", "-qm", "run"], root)
        more, more_stages = timed(["dvc", "exp", "run", "-S", f"rounds={args.rounds + 2}"], root)
        summary = json.loads((root / "reports/diagnostics.json").read_text())
        active_new = [s for s in more_stages if re.search(rf"@({args.rounds + 1}|{args.rounds + 2})$", s)]
        rows = [
            {"step": f"dvc repro (rounds={args.rounds}, {args.slots} slots)", "wall_s": round(first, 1),
             "stages_run": len(first_stages)},
            {"step": "dvc repro, nothing changed", "wall_s": round(noop, 1), "stages_run": len(noop_stages)},
            {"step": f"dvc exp run -S rounds={args.rounds + 2}", "wall_s": round(more, 1),
             "stages_run": len(more_stages),
             "old_rounds_rerun": sorted(s for s in more_stages if re.search(rf"@([1-{args.rounds}])$", s)),
             "new_round_stages": len(active_new), "teacher_requests": summary["teacher"]["requests"]},
        ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(sys.argv), "rows": rows}, indent=2) + "\n")
    print("| step | wall s | stages run |\n|---|---:|---:|")
    for r in rows:
        print(f"| {r['step']} | {r['wall_s']} | {r['stages_run']} |")
    print(f"\nrounds 1..{args.rounds} re-run by the exp: {rows[2]['old_rounds_rerun'] or 'none'}; "
          f"teacher requests: {rows[2]['teacher_requests']}")


if __name__ == "__main__":
    main()
