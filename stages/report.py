"""report (after the last round): gather every active round into the headline numbers people
compare (metrics/summary.json, the DVC metric), the diagnostics beside them
(reports/diagnostics.json), the plot files of dvc.yaml (metrics/scores.csv, per_label_f1.csv,
confusion.json), the charts (reports/figures/*.svg), and a report to read (reports/report.md) and
to look at (reports/report.html, the charts inlined: no network needed)."""

from __future__ import annotations

from evokd import charts
from evokd.config import Config
from evokd.io import atomic_write_text, write_json
from evokd.paths import METRICS, REPORTS
from evokd.report import (DIAGNOSTICS, FIGURES, chart_specs, collect, confusion_rows, csv_text, render_html,
                          sections, table)
from evokd.rounds.stage import plain_stage
from evokd.tasks import get_task


def report(cfg: Config) -> dict:
    task = get_task(cfg.task)
    collected = collect(cfg)
    summary, rows = collected["summary"], collected["rows"]
    write_json(METRICS / "summary.json", summary)
    write_json(DIAGNOSTICS, collected["diagnostics"])
    # `score` is the task's headline metric under one name, so that dvc.yaml's plots (and
    # `dvc plots diff` across a classification and an NER experiment) need not know the task.
    spend = ["tokens", "cost_usd", "total_tokens", "total_cost_usd"]
    atomic_write_text(METRICS / "scores.csv", csv_text(rows, ["round", "score", *task.columns, *spend]))
    last = rows[-1]
    per_label = [{"label": lab, "f1": f1} for lab, f1 in last["per_label_f1"].items()]
    atomic_write_text(METRICS / "per_label_f1.csv", csv_text(per_label, ["label", "f1"]))
    write_json(METRICS / "confusion.json", confusion_rows(cfg, collected))
    figures = {stem: charts.svg(spec) for stem, spec in chart_specs(cfg, collected).items()}
    for stem, svg in figures.items():
        atomic_write_text(FIGURES / f"{stem}.svg", svg)
    markdown = "\n".join(sections(cfg, collected))
    atomic_write_text(REPORTS / "report.md", markdown)
    atomic_write_text(REPORTS / "report.html", render_html(markdown, figures))
    print("\n" + table(rows, task.columns))
    for warning in collected["diagnostics"]["warnings"]:
        print(f"WARNING: {warning}")
    print(f"report: {REPORTS / 'report.html'} (open it in a browser; no network needed)")
    return {"score": summary["score"], "rounds": summary["rounds_run"]}


if __name__ == "__main__":
    plain_stage("report", report)
