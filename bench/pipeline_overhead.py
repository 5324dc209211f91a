"""Pipeline overhead: what DVC and the round slots cost around the stages' own work, before and
after a change, in one run.

For each revision (default: `--baseline` and HEAD) it clones this repository into a scratch
folder, as a newcomer would, and there measures
1. the first `dvc repro` on the shipped params.yaml (the default run: real TREC data, simulated
   teacher), against the sum of its stages' own times: `wall_s` (the step, as each stage's meta
   file records it) and, where the revision records it, `process_s` (an active stage's whole
   process from its first evokd import: imports, config, the step, the meta file);
2. a no-op `dvc repro` (everything up to date): wall time and stages re-run (must be 0);
3. with `--more N`, `dvc exp run -S rounds=<rounds+N>`: wall time, and which of the old rounds
   re-ran (must be none).

Each clone runs its own code: PYTHONPATH puts the clone first, so the stage commands (`python
stages/<verb>.py`, or an older revision's `evokd <verb>`) import the clone's evokd. DVC runs as
the revision's pyproject.toml installs it: a revision that does not require ruamel.yaml.clib
(DVC's C YAML parser, optional since ruamel.yaml 0.19) gets DVC with the pure-Python parser,
whatever this environment holds (`yaml_parser` in the table).

    python bench/pipeline_overhead.py --baseline c622ff5 --more 2

Prints a table and writes bench/results/pipeline_overhead.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# `dvc` as if ruamel.yaml.clib were not installed: ruamel.yaml falls back to its Python parser.
PURE_YAML_DVC = """import sys
sys.modules["_ruamel_yaml"] = None
from dvc.cli import main
sys.exit(main(sys.argv[1:]))
"""


def dvc_command(project: Path, work: Path) -> tuple[list[str], str]:
    """How to run DVC for the revision in `project`, and which YAML parser that gives it."""
    if "ruamel.yaml.clib" in (project / "pyproject.toml").read_text():
        try:
            import _ruamel_yaml  # noqa: F401  (the revision requires it: it must be installed here)
        except ImportError:
            raise SystemExit("this revision requires ruamel.yaml.clib: pip install -e . first")
        return ["dvc"], "C"
    wrapper = work / "dvc_pure_yaml.py"
    wrapper.write_text(PURE_YAML_DVC)
    return [sys.executable, str(wrapper)], "pure Python"


def sh(cmd: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd} ({proc.returncode}):\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    return proc


def timed(cmd: list[str], cwd: Path, env: dict) -> tuple[float, list[str]]:
    t0 = time.perf_counter()
    proc = sh(cmd, cwd, env)
    return round(time.perf_counter() - t0, 2), re.findall(r"Running stage '([^']+)'", proc.stdout)


def stage_times(project: Path) -> dict:
    """The stages' own times from their meta files (prepare, probe, every round slot's)."""
    wall = process = 0.0
    metas = active = with_process = 0
    for path in project.glob("data/rounds/*/*.meta.json"):
        meta = json.loads(path.read_text())
        metas += 1
        active += "wall_s" in meta
        wall += meta.get("wall_s") or 0.0
        if "process_s" in meta:
            with_process += 1
            process += meta["process_s"]
    # process_s: the active stages' (an inactive slot's meta is a constant placeholder, untimed)
    return {"stages": metas, "active": active, "step_s": round(wall, 1),
            "process_s": round(process, 1) if with_process else None}


def measure(rev: str, work: Path, more: int, slots: int | None = None) -> dict:
    project = work / rev
    sh(["git", "clone", "-q", str(ROOT), str(project)], work, dict(os.environ))
    sh(["git", "checkout", "-q", rev], project, dict(os.environ))
    env = {**os.environ, "PYTHONPATH": str(project), "PYTHONDONTWRITEBYTECODE": "1"}
    rounds = int(re.search(r"^rounds: (\d+)", (project / "params.yaml").read_text(), re.M).group(1))
    dvc, parser = dvc_command(project, work)
    if slots:  # the round slots a user who never raises `rounds` needs (`evokd slots N`)
        sh([sys.executable, "-m", "evokd.cli", "slots", str(slots)], project, env)
    first, ran = timed([*dvc, "repro"], project, env)
    own = stage_times(project)
    noop, noop_ran = timed([*dvc, "repro"], project, env)
    sha = sh(["git", "rev-parse", "--short", "HEAD"], project, env).stdout.strip()
    row = {"rev": rev, "sha": sha, "yaml_parser": parser, "slots": slots or "as shipped", "rounds": rounds, "repro_s": first, "stages_run": len(ran), **own,
           "repro_per_step_s": round(first / own["step_s"], 2),
           "repro_per_process_s": round(first / own["process_s"], 2) if own["process_s"] else None,
           "noop_s": noop, "noop_stages_run": len(noop_ran)}
    if more:
        sh(["git", "add", "-A"], project, env)
        sh(["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-qm", "run"], project, env)
        exp, exp_ran = timed([*dvc, "exp", "run", "-S", f"rounds={rounds + more}"], project, env)
        row.update({"exp_more_rounds_s": exp, "exp_stages_run": len(exp_ran),
                    "exp_old_rounds_rerun": sorted(s for s in exp_ran if re.search(r"@(\d+)$", s)
                                                   and 1 <= int(s.rsplit("@", 1)[1]) <= rounds)})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", help="the revision to compare against (measured first)")
    parser.add_argument("--rev", default="HEAD", help="the revision measured after the baseline")
    parser.add_argument("--more", type=int, default=0, help="then `dvc exp run -S rounds=<rounds+N>`")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/pipeline_overhead.json")
    parser.add_argument("--slots", type=int, help="run `evokd slots N` in each clone first (default: the shipped slots)")
    parser.add_argument("--keep", type=Path, help="clone into this folder and keep the projects (to inspect)")
    args = parser.parse_args()
    revs = [r for r in (args.baseline, args.rev) if r]
    rows = []
    with tempfile.TemporaryDirectory(prefix="evokd-overhead-") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for rev in revs:
            print(f"measuring {rev} ...", file=sys.stderr, flush=True)
            rows.append(measure(rev, work, args.more, args.slots))
    result = {"command": "python bench/pipeline_overhead.py " + " ".join(sys.argv[1:]),
              "load_1min": round(os.getloadavg()[0], 1), "rows": rows}
    if len(rows) == 2:
        result["after_over_before"] = {key: round(rows[1][key] / rows[0][key], 2)
                                       for key in ("repro_s", "noop_s") if rows[0][key]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"$ {result['command']}")
    print("| rev | YAML parser | dvc repro s | stages | steps s | processes s | repro / steps | repro / processes | no-op s |"
          + (" exp +rounds s | old rounds re-run |" if args.more else ""))
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---|" if args.more else ""))
    for r in rows:
        print(f"| {r['rev']} ({r['sha']}) | {r['yaml_parser']} | {r['repro_s']} | {r['stages_run']} | {r['step_s']} | {r['process_s'] or '-'} | "
              f"{r['repro_per_step_s']} | {r['repro_per_process_s'] or '-'} | {r['noop_s']} |"
              + (f" {r['exp_more_rounds_s']} | {r['exp_old_rounds_rerun'] or 'none'} |" if args.more else ""))
    if "after_over_before" in result:
        print(f"after / before: {result['after_over_before']}")


if __name__ == "__main__":
    main()
