"""Quality benchmark: score per round for each synthesis strategy, over several seeds.

Runs the stage scripts' own steps (stages/*.py) in-process (no DVC, to keep process start-up out of the
measurement) in a scratch folder per (strategy, seed). Round 0 (prepare: seed set, pool
embedding, round-0 student; probe, its first feedback on fresh texts; then analyze@0, the
teacher's first analysis) is shared by every
strategy of a seed, so they start from the same student. `full` trains the round-0 recipe on the whole (leak-free) train split once: the ceiling.

    python bench/quality.py --rounds 8 --seeds 0 1 2 3 4 --strategies evokd random uncertainty full

Prints a table and writes it as JSON (default bench/results/quality.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Strategy name -> overrides of the params file (dotted keys). Each names every synthesize key
# it depends on, so that a name means the same thing whatever the params file's defaults are;
# `default` is the params file as it is. Ablations of the evokd strategy too.
EVOKD = {"synthesize.strategy": "evokd", "synthesize.guided_share": 1.0, "synthesize.label_quota": "none"}
EVOKD_UNC = {**EVOKD, "synthesize.strategy": "evokd-uncertainty"}
EUM = {**EVOKD_UNC, "synthesize.guided_share": 0.5}  # evokd-uncertainty-mixed
STRATEGIES = {
    "default": {},
    "evokd": EVOKD,
    "random": {"synthesize.strategy": "random"},
    "uncertainty": {"synthesize.strategy": "uncertainty"},
    "evokd-no-easy": {**EVOKD, "synthesize.n_easy": 0, "synthesize.n_hard": "n_total"},
    "evokd-no-review": {**EVOKD, "train.review_ratio": 0.0},
    "evokd-uncertainty": EVOKD_UNC,
    "evokd-frozen": {**EVOKD, "train.freeze_embeddings": True},
    "evokd-mixed": {**EVOKD, "synthesize.guided_share": 0.5},
    "evokd-uncertainty-mixed": EUM,
    # Levers of issue 14: hard samples spread evenly over the labels (synthesize.label_quota),
    # a replay that evens out new + review (train.review_balance).
    "evokd-even": {**EVOKD, "synthesize.label_quota": "even"},
    "evokd-uncertainty-even": {**EVOKD_UNC, "synthesize.label_quota": "even"},
    "evokd-uncertainty-mixed-even": {**EUM, "synthesize.label_quota": "even"},
    "evokd-balanced-review": {**EVOKD, "train.review_balance": True},
    "evokd-uncertainty-mixed-br": {**EUM, "train.review_balance": True},
    "evokd-uncertainty-mixed-even-br": {**EUM, "synthesize.label_quota": "even", "train.review_balance": True},
    # Issue 14, continued: the LLM-free EDA baseline (the seed set edited word by word, no teacher)
    # and evokd-uncertainty-mixed (the default when it was measured) with a class-weighted loss
    # (its rows in bench/results/quality_issue14_*.json are named `default-cw`).
    "eda": {"synthesize.strategy": "eda"},
    "evokd-uncertainty-mixed-cw": {**EUM, "train.class_weight": "balanced"},
}


@contextmanager
def cwd(path: Path):
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def make_config(params_file: Path, seed: int, rounds: int, overrides: dict, base: dict | None = None):
    """The params file with `base` (--set, every strategy) and then the strategy's overrides."""
    from evokd.config import parse_config

    data = yaml.safe_load(params_file.read_text())
    overrides = {**(base or {}), **overrides}
    for key in ("train", "test", "dev"):
        if data["dataset"].get(key):
            data["dataset"][key] = str((params_file.parent / data["dataset"][key]).resolve())
    data["seed"], data["rounds"] = seed, rounds
    n_total = data["synthesize"]["n_hard"] + data["synthesize"]["n_easy"]
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[key]
        node[last] = n_total if value == "n_total" else value
    return parse_config(data)


def run_rounds(cfg, rounds: int) -> list[dict]:
    from evokd.io import read_json
    from evokd.paths import Round
    from evokd.teachers import make_teacher
    from stages.analyze import analyze
    from stages.evaluate import evaluate
    from stages.label import label
    from stages.synthesize import synthesize
    from stages.train import train

    teacher = make_teacher(cfg)
    scores = [read_json(Round(0).scores)]
    for k in range(1, rounds + 1):  # one round: the five stage scripts' steps, in dvc.yaml's order
        synthesize(cfg, k, teacher)
        label(cfg, k, teacher)
        train(cfg, k)
        evaluate(cfg, k)
        analyze(cfg, k, teacher)
        scores.append(read_json(Round(k).scores))
    return scores


def run_full(cfg) -> dict:
    """The student trained on the whole leak-free train split: the ceiling."""
    from evokd.io import read_json, read_jsonl
    from evokd.paths import Prepared
    from evokd.student import predict_rows, train_student
    from evokd.student.backbone import backbone_path
    from evokd.tasks import get_task

    task = get_task(cfg.task)
    prepared = Prepared()
    labels = read_json(prepared.labels)["labels"]
    train_rows = read_jsonl(prepared.train)
    train_student(task, backbone_path(cfg.train.backbone), train_rows, labels, cfg.train, Path("models/full"),
                  seed=cfg.seed, epochs=cfg.train.epochs, desc="full")
    test = read_jsonl(prepared.test)
    return task.score(test, predict_rows(task, cfg, Path("models/full"), test, desc="score test split"), labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--strategies", nargs="+", default=["default", "random", "uncertainty", "full"],
                        choices=[*STRATEGIES, "full"])
    parser.add_argument("--full-seeds", type=int, default=2, help="seeds for the (slow) full baseline")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "evokd-bench")
    parser.add_argument("--keep-models", action="store_true",
                        help="keep every round's checkpoint under --work (87 MB each: ~5 GB per seed "
                             "for 7 strategies of 8 rounds); by default a run's models are deleted "
                             "once it is scored, its data and scores are kept")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a param for every strategy (dotted key, YAML value), e.g. "
                             "--set shots=1 --set train.threads=1")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/quality.json")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="join these result files into --out and print the table (runs nothing)")
    args = parser.parse_args()
    if args.merge:
        merge(args.merge, args.out)
        return

    set_params = {}  # --set: every strategy's params (not `base`, the round-0 folder below)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item}: expected KEY=VALUE")
        set_params[key] = yaml.safe_load(value)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from stages.analyze import analyze
    from stages.prepare import prepare
    from stages.probe import probe
    from evokd.teachers import make_teacher
    from evokd.tasks import get_task

    results: dict[str, dict] = {}
    metric = None
    started = time.perf_counter()
    for seed in args.seeds:
        base = args.work / f"seed{seed}" / "round0"
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        cfg0 = make_config(args.params, seed, args.rounds, {}, set_params)
        metric = get_task(cfg0.task).metric
        with cwd(base):  # round 0, as the stages prepare, probe and analyze@0 make it
            prepare(cfg0)
            probe(cfg0, 0, make_teacher(cfg0))
            analyze(cfg0, 0, make_teacher(cfg0))
        for name in args.strategies:
            t0 = time.perf_counter()
            if name == "full":
                if seed not in args.seeds[: args.full_seeds]:
                    continue
                with cwd(base):
                    result = run_full(cfg0)
                rows = [{metric: result[metric], "accuracy": result.get("accuracy")}]
            else:
                work = args.work / f"seed{seed}" / name
                shutil.rmtree(work, ignore_errors=True)
                shutil.copytree(base, work)
                cfg = make_config(args.params, seed, args.rounds, STRATEGIES[name], set_params)
                with cwd(work):
                    rows = run_rounds(cfg, args.rounds)
                if not args.keep_models:
                    shutil.rmtree(work / "models", ignore_errors=True)
            results.setdefault(name, {})[str(seed)] = {
                "per_round": [r[metric] for r in rows],
                "accuracy": [r.get("accuracy") for r in rows],
                "wall_s": round(time.perf_counter() - t0, 1),
            }
            print(f"seed {seed} {name:18s} final {metric} {rows[-1][metric]:.4f} "
                  f"({time.perf_counter() - t0:.0f}s)", flush=True)
            # After every run, so that a run killed halfway keeps what it finished.
            write_results(args.out, " ".join(sys.argv), metric, args.rounds, results,
                          time.perf_counter() - started)
        if not args.keep_models:
            shutil.rmtree(base / "models", ignore_errors=True)
    print(render(summarize(results, metric, args.rounds), metric, args.rounds))
    print(render_paired(paired(results), metric))


def write_results(out: Path, command: str, metric: str, rounds: int, results: dict, wall: float) -> None:
    from evokd.io import atomic_write_text

    seeds = sorted({int(seed) for runs in results.values() for seed in runs})
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out, json.dumps({"command": command, "metric": metric, "rounds": rounds, "seeds": seeds,
                                       "summary": summarize(results, metric, rounds),
                                       "paired": paired(results), "runs": results,
                                       "wall_s": round(wall, 1)}, indent=2) + "\n")


def merge(files: list[Path], out: Path) -> None:
    """One table from several result files (e.g. one process per seed): their runs, joined."""
    parts = [json.loads(f.read_text()) for f in files]
    results: dict[str, dict] = {}
    for part in parts:
        for name, runs in part["runs"].items():
            results.setdefault(name, {}).update(runs)
    metric, rounds = parts[0]["metric"], parts[0]["rounds"]
    command = " && ".join(part["command"] for part in parts)
    write_results(out, command, metric, rounds, results, max(part["wall_s"] for part in parts))
    print(render(summarize(results, metric, rounds), metric, rounds))
    print(render_paired(paired(results), metric))


def _mean_sd(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarize(results: dict, metric: str, rounds: int) -> dict:
    out = {}
    full = [r["per_round"][-1] for r in results.get("full", {}).values()]
    full_mean = statistics.mean(full) if full else None
    for name, runs in results.items():
        per_round = list(zip(*[r["per_round"] for r in runs.values()]))
        acc = [r["accuracy"][-1] for r in runs.values()]
        final_mean, final_sd = _mean_sd(list(per_round[-1]))
        out[name] = {
            "n": len(runs),
            "per_round_mean": [round(statistics.mean(v), 4) for v in per_round],
            "final_mean": round(final_mean, 4), "final_sd": round(final_sd, 4),
            "final_accuracy_mean": round(statistics.mean(acc), 4) if all(a is not None for a in acc) else None,
            "pct_of_full": round(100 * final_mean / full_mean, 1) if full_mean else None,
        }
    return out


BASELINES = ("random", "uncertainty")


def paired(results: dict, baselines: tuple[str, ...] = BASELINES) -> dict:
    """Each strategy against each baseline, seed by seed: mean and sd of the final-score
    differences and how many seeds it wins.

    A seed fixes the seed set, the round-0 student and the test split, so most of the spread
    between seeds (which rare-class questions the seed set covers, say) is shared by all
    strategies of that seed; the paired difference removes it. `sd` here is the spread of the
    differences, the one to read a difference against."""
    out: dict[str, dict] = {}
    for base in baselines:
        if base not in results:
            continue
        for name, runs in results.items():
            if name in (base, "full"):
                continue
            seeds = sorted(set(runs) & set(results[base]), key=int)
            if len(seeds) < 2:
                continue
            diffs = [runs[s]["per_round"][-1] - results[base][s]["per_round"][-1] for s in seeds]
            mean, sd = _mean_sd(diffs)
            out.setdefault(name, {})[base] = {"n": len(seeds), "mean_diff": round(mean, 4),
                                              "sd_diff": round(sd, 4), "wins": sum(d > 0 for d in diffs)}
    return out


def render_paired(table: dict, metric: str) -> str:
    if not table:
        return ""
    bases = sorted({b for row in table.values() for b in row})
    head = (f"| strategy | " + " | ".join(f"final {metric} − {b} (wins)" for b in bases) + " |\n"
            + "|---|" + "---:|" * len(bases) + "\n")
    lines = []
    for name, row in table.items():
        cells = [f"{row[b]['mean_diff']:+.4f} ± {row[b]['sd_diff']:.4f} ({row[b]['wins']}/{row[b]['n']})"
                 if b in row else "-" for b in bases]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def render(summary: dict, metric: str, rounds: int) -> str:
    head = f"| strategy | n | {metric} per round (mean) | final {metric} | accuracy | % of full |\n|---|---:|---|---:|---:|---:|\n"
    lines = []
    for name, s in summary.items():
        curve = " ".join(f"{v:.3f}" for v in s["per_round_mean"])
        lines.append(f"| {name} | {s['n']} | {curve} | {s['final_mean']:.4f} ± {s['final_sd']:.4f} | "
                     f"{s['final_accuracy_mean'] if s['final_accuracy_mean'] is not None else '-'} | "
                     f"{s['pct_of_full'] if s['pct_of_full'] is not None else '-'} |")
    return head + "\n".join(lines)


if __name__ == "__main__":
    main()
