#!/usr/bin/env python3
"""Mean ± spread of metrics over DVC experiments, grouped by params (docs/compare-prompts.md).

    dvc exp show --json | python scripts/exp_spread.py --by teacher.prompts --metric score

Reads `dvc exp show --json` (stdin, or a file given with --input). Takes every experiment that
finished with the metric (not the workspace row, not the baseline commits: those repeat an
experiment or were made under other code), groups them by the values of the --by params, and
prints per group and metric: runs, mean ± sample standard deviation, min and max, and the
`seed`s the runs used. A single run swings by several points, so compare groups by their mean
and spread, never by one run each. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict


def _dotted(tree: dict, key: str):
    """tree["a"]["b"] for "a.b"; None when absent."""
    node = tree
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _lookup(files: dict, key: str):
    """`key` in the first params or metrics file (of `dvc exp show --json`) that has it."""
    for content in (files or {}).values():
        value = _dotted((content or {}).get("data") or {}, key)
        if value is not None:
            return value
    return None


def experiments(shown: list) -> list[dict]:
    """The experiment rows of `dvc exp show --json`: {"name", "params", "metrics"} each."""
    out = []
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                if rev.get("error") or not data:
                    continue  # failed or still queued
                out.append({"name": rev.get("name") or exp.get("name") or rev.get("rev", "")[:7],
                            "params": data.get("params") or {}, "metrics": data.get("metrics") or {}})
    return out


def spread(shown: list, by: list[str], metrics: list[str]) -> list[dict]:
    """Per group of equal `by` params: for each metric, n, mean, sd (sample; 0 for one run),
    min, max, and the runs' seeds and names."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for exp in experiments(shown):
        groups[tuple(_lookup(exp["params"], key) for key in by)].append(exp)
    out = []
    for values, runs in sorted(groups.items(), key=lambda item: str(item[0])):
        row = {"group": dict(zip(by, values)), "runs": [r["name"] for r in runs],
               "seeds": sorted({_lookup(r["params"], "seed") for r in runs}, key=str), "metrics": {}}
        for metric in metrics:
            xs = [float(v) for v in (_lookup(r["metrics"], metric) for r in runs)
                  if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if xs:
                row["metrics"][metric] = {"n": len(xs), "mean": statistics.fmean(xs),
                                          "sd": statistics.stdev(xs) if len(xs) > 1 else 0.0,
                                          "min": min(xs), "max": max(xs)}
        out.append(row)
    return out


def render(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        group = ", ".join(f"{k}={v}" for k, v in row["group"].items())
        lines.append(f"{group}  (runs: {len(row['runs'])}; seeds: {', '.join(map(str, row['seeds']))})")
        for metric, m in row["metrics"].items():
            lines.append(f"  {metric}: {m['mean']:.4f} ± {m['sd']:.4f}  (n={m['n']}; min {m['min']:.4f}, "
                         f"max {m['max']:.4f})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--by", action="append", required=True, help="a param to group by (repeatable)")
    parser.add_argument("--metric", action="append", required=True, help="a metric (dotted; repeatable)")
    parser.add_argument("--input", help="the JSON of `dvc exp show --json` (default: stdin)")
    parser.add_argument("--json", action="store_true", help="print the groups as JSON")
    args = parser.parse_args(argv)
    text = open(args.input, encoding="utf-8").read() if args.input else sys.stdin.read()
    try:
        shown = json.loads(text)
    except json.JSONDecodeError as exc:
        print(f"error: not the JSON of `dvc exp show --json` ({exc})", file=sys.stderr)
        return 2
    rows = spread(shown, args.by, args.metric)
    if not rows:
        print("error: no finished experiments in the input (run `dvc queue start` and wait for "
              "`dvc queue status`)", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=1) if args.json else render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
