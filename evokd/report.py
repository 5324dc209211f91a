"""The report's library: gather every active round into the few headline numbers people compare
(metrics/summary.json, the DVC metric), the diagnostics beside them (reports/diagnostics.json),
the plot files of dvc.yaml (metrics/scores.csv, per_label_f1.csv, confusion.json), the charts
(reports/figures/*.svg), and a report to read (reports/report.md) and to look at
(reports/report.html: the same text with the charts inlined, no network needed).

The report's text is one list of Markdown sections (`sections`); the HTML page is rendered from
that Markdown, so a section added there shows in both."""

from __future__ import annotations

import base64
import csv
import html
import io
import re
from collections import Counter
from pathlib import Path

from evokd import charts
from evokd.config import Config
from evokd.io import read_json, read_jsonl
from evokd.paths import REPORTS, Round
from evokd.rounds import noise
from evokd.rounds.slots import active_rounds
from evokd.tasks import get_task
from evokd.teachers.base import Usage

TEACHER_VERBS = ("probe", "synthesize", "label", "analyze")
ROUND_VERBS = ("synthesize", "label", "train", "evaluate", "analyze")
ROUND0_VERBS = ("prepare", "probe", "analyze")  # round 0: prepare's student, probe, analyze@0
FIGURES = REPORTS / "figures"
DIAGNOSTICS = REPORTS / "diagnostics.json"


def _meta(k: int, verb: str) -> dict:
    path = Round(k).meta(verb)
    return read_json(path) if path.exists() else {}


def _spend(metas_by_round: dict[int, dict[str, dict]], k: int) -> Usage:
    """What round k's student cost the teacher: the analysis it was guided by (analyze@k-1),
    then its generation and labelling. Round 0's student is the seed set's: nothing (its
    analysis, analyze@0, is round 1's spend)."""
    usage = Usage()
    if k > 0:
        usage.add(metas_by_round[k - 1].get("analyze", {}).get("teacher", {}))
        for verb in ("synthesize", "label"):
            usage.add(metas_by_round[k].get(verb, {}).get("teacher", {}))
    return usage


def collect(cfg: Config) -> dict:
    """Everything the report writes, from the rounds' files: `summary` (the DVC metric),
    `diagnostics`, per-round `rows`, and the last round's `confusion` cells."""
    task = get_task(cfg.task)
    metric = task.metric
    rounds = [0] + active_rounds()
    per_round = [read_json(Round(k).scores) for k in rounds]
    usage, accepted, rejected = Usage(), 0, Counter()
    timings: dict[str, list] = {}
    # The teacher's check of the seed set (the probe stage): each disagreement is a warning.
    seed_check = read_json(Round(0).seed_check) if Round(0).seed_check.exists() else {}
    warnings: list[str] = list(seed_check.get("warnings", []))
    disagreements: dict[str, dict] = {}
    relabelled: dict[str, dict] = {}  # the second labelling's disagreement, per round
    metas_by_round: dict[int, dict[str, dict]] = {}
    rows = []
    spent_tokens, spent_usd = 0, 0.0
    for k in rounds:
        verbs = ROUND0_VERBS if k == 0 else ROUND_VERBS
        metas = {verb: _meta(k, verb) for verb in verbs}
        metas_by_round[k] = metas
        for verb in TEACHER_VERBS:
            usage.add(metas.get(verb, {}).get("teacher", {}))
        label = metas.get("label", {})
        if label.get("warning"):
            warnings.append(label["warning"])
        if label.get("relabel"):
            relabelled[str(k)] = label["relabel"]
        if k > 0 and Round(k).feedback.exists():
            # Hard samples are chosen for the student to get wrong: their disagreement is the
            # method working, not label noise (it flagged most classes of a clean default run).
            disagreements[str(k)] = noise.disagreement(
                task, [r for r in read_jsonl(Round(k).feedback) if r.get("kind") != "hard"])
        accepted += label.get("accepted", 0)
        rejected.update(label.get("rejected", {}))
        timings[str(k)] = {verb: m.get("wall_s") for verb, m in metas.items()}
        spend = _spend(metas_by_round, k)
        tokens = spend.prompt_tokens + spend.completion_tokens
        spent_tokens += tokens
        spent_usd += spend.cost_usd
        rows.append({
            "round": k,
            **{col: per_round[k][col] for col in task.columns},
            "score": per_round[k][metric],
            "per_label_f1": {lab: v["f1"] for lab, v in per_round[k]["per_label"].items()},
            "accepted": label.get("accepted", metas.get("prepare", {}).get("seed", 0)),
            "rejected": sum(label.get("rejected", {}).values()),
            "rejected_by_reason": dict(label.get("rejected", {})),
            "wall_s": round(sum(m.get("wall_s") or 0 for m in metas.values()), 1),
            # Teacher spend for this round's student, and in all up to it (see _spend).
            "tokens": tokens, "cost_usd": round(spend.cost_usd, 6), "calls": spend.calls,
            "total_tokens": spent_tokens, "total_cost_usd": round(spent_usd, 6),
        })
    final = per_round[-1]
    lab_cfg = cfg.label
    overall = noise.merge(list(disagreements.values()))
    noisy = noise.flagged(overall, lab_cfg.disagree_flag_rate, lab_cfg.flag_min_samples)
    second = noise.merge(list(relabelled.values()))
    unsure = noise.flagged(second, lab_cfg.relabel_flag_rate, lab_cfg.flag_min_samples)
    if noisy:
        warnings.append(
            "label noise: most accepted labels of " + ", ".join(
                f"{lab} ({overall['per_label'][lab]['rate']:.0%} of {overall['per_label'][lab]['samples']})"
                for lab in noisy)
            + " disagree with the student; inspect data/rounds/*/feedback.jsonl for these labels "
              "and the teacher's labelling prompt")
    if unsure:
        warnings.append(
            "label noise: the second labelling disagrees with the accepted label for " + ", ".join(
                f"{lab} ({second['per_label'][lab]['rate']:.0%} of {second['per_label'][lab]['samples']})"
                for lab in unsure)
            + f" (label.relabel_flag_rate is {lab_cfg.relabel_flag_rate:.0%}); the teacher is unsure of "
              "these labels: sharpen their definitions in the labelling prompt, or lower "
              "teacher.label_temperature")
    tokens = usage.prompt_tokens + usage.completion_tokens
    # The few numbers people compare across experiments (`dvc exp show`, `dvc metrics diff`):
    # nothing here moves unless the result or its cost does.
    summary = {
        "score": final[metric],
        **{col: final[col] for col in task.columns if col != metric},
        # Not `rounds`: beside the param of that name DVC shows it as `metrics/summary.json:rounds`.
        "rounds_run": len(rounds) - 1,
        "accepted": accepted,
        "tokens": tokens,
        "cost_usd": round(usage.cost_usd, 6),
    }
    diagnostics = {
        "metric": metric,
        "round0_score": per_round[0][metric],
        "per_round": [r[metric] for r in per_round],
        "per_round_accuracy": [r["accuracy"] for r in per_round],
        "samples": {"accepted": accepted, "rejected": dict(sorted(rejected.items())),
                    "rejected_total": sum(rejected.values())},
        # What made the samples and what it cost.
        "strategy": cfg.synthesize.strategy,
        "teacher": {"provider": cfg.teacher.provider, "model": cfg.teacher.model, **usage.to_dict(),
                    "tokens": tokens},
        "per_label_f1": {lab: v["f1"] for lab, v in final["per_label"].items()},
        # Accepted labels the student (before training on them) disagrees with, per label,
        # over the samples not meant to be hard (easy ones, random draws).
        "label_disagreement": {"rate": overall["rate"], "samples": overall["samples"],
                               "per_label": {lab: v["rate"] for lab, v in overall["per_label"].items()},
                               "per_round": {k: v["rate"] for k, v in disagreements.items()},
                               "flagged": noisy,
                               # Accepted labels an independent second labelling disagrees with.
                               "second_labelling": {
                                   "rate": second["rate"], "samples": second["samples"],
                                   "failed": sum(v.get("failed", 0) for v in relabelled.values()),
                                   "per_label": {lab: v["rate"] for lab, v in second["per_label"].items()},
                                   "per_round": {k: v["rate"] for k, v in relabelled.items()},
                                   "flagged": unsure}},
        "seed_check": {"checked": seed_check.get("checked", 0),
                       "disagreements": len(seed_check.get("disagreements", []))},
        "warnings": warnings,
        "wall_s": {"total": round(sum(r["wall_s"] for r in rows), 1), "per_round": timings},
    }
    return {"summary": summary, "diagnostics": diagnostics, "rows": rows,
            "confusion": final.get("confusion", [])}


def _second_labelling_line(second: dict) -> str:
    """The report's sentence on the second labelling (label.relabel_fraction)."""
    if not second["samples"] and not second["failed"]:
        return "Second labelling: none (label.relabel_fraction is 0, or no sampled item was accepted)."
    return (f"Accepted labels a second, independent labelling disagreed with: {second['rate']:.0%} of "
            f"{second['samples']}" + (f" ({second['failed']} unusable second answers)" if second["failed"] else "")
            + ("; per label: " + ", ".join(f"{lab} {r:.0%}" for lab, r in second["per_label"].items())
               if second["per_label"] else "") + ".")


def label_balance(rounds: list[int], strategy: str) -> list[str]:
    """The report's section on how each round's accepted samples spread over the labels (NER:
    entities per type), from the label stage's meta (`label_counts`, per kind in
    `label_counts_by_kind`): a strategy that piles its samples onto a few labels shows here
    without a benchmark. Markdown lines; none when no round recorded counts (a run made before
    the label stage wrote them). Self-contained: it reads only the label metas of `rounds`."""
    counts = {k: _meta(k, "label").get("label_counts") for k in rounds if k > 0}
    counts = {k: c for k, c in counts.items() if c is not None}
    if not counts:
        return []
    labels = list(dict.fromkeys(lab for c in counts.values() for lab in c))
    head = ("| round | kinds | " + " | ".join(labels) + " | largest / smallest |\n|"
            + "---:|---|" + "---:|" * (len(labels) + 1) + "\n")
    lines = []
    for k, c in counts.items():
        by_kind = _meta(k, "label").get("label_counts_by_kind") or {}
        kinds = ", ".join(f"{kind} {sum(v.values())}" for kind, v in by_kind.items()) or "-"
        values = [c.get(lab, 0) for lab in labels]
        ratio = (f"{max(values) / min(values):.1f}" if min(values) else "∞") if any(values) else "-"
        lines.append(f"| {k} | {kinds} | " + " | ".join(map(str, values)) + f" | {ratio} |")
    return [f"Accepted samples per label and round (strategy {strategy}; NER: entities per type). "
            "A strategy that aims at weak labels can starve the others; the last column is the "
            "largest count over the smallest.", "", head + "\n".join(lines), ""]


def table(rows: list[dict], columns: dict[str, str]) -> str:
    """A Markdown table: round, the task's score columns, samples, teacher tokens, wall time."""
    names = ["round", *columns.values(), "accepted", "rejected", "teacher tokens", "wall s"]
    head = "| " + " | ".join(names) + " |\n|" + "---:|" * len(names) + "\n"
    return head + "".join(
        f"| {r['round']} | " + "".join(f"{r[col]:.4f} | " for col in columns)
        + f"{r['accepted']} | {r['rejected']} | {r['tokens']} | {r['wall_s']} |\n" for r in rows)


def csv_text(rows: list[dict], fields: list[str]) -> str:
    """`rows` as CSV text with the columns `fields` (others left out)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# ---- the charts ------------------------------------------------------------------------------

def _confusion_cells(cfg: Config, cells: list[dict]) -> tuple[list[dict], str | None]:
    """The cells the confusion chart and DVC's confusion plot show, and the subtitle saying
    what is left out (`Task.confusion_cells`: NER leaves out its O/O cell)."""
    return get_task(cfg.task).confusion_cells(cells)


def _confusion_labels(cfg: Config, last: dict) -> list[str]:
    """The confusion matrix's rows and columns (`Task.confusion_labels`: NER adds `O`)."""
    return get_task(cfg.task).confusion_labels(list(last["per_label_f1"]))


def _spend_axis(cfg: Config, rows: list[dict]) -> tuple[list[dict], str, str]:
    """Score-against-spend points: cumulative teacher tokens, or, where the teacher spends none
    (the simulated one), cumulative teacher calls, and the axis title saying which."""
    if any(r["total_tokens"] for r in rows):
        priced = rows[-1]["total_cost_usd"] > 0
        sub = (f"${rows[-1]['total_cost_usd']:.4f} in all by the last round" if priced else
               f"no price for {cfg.teacher.model!r} in teacher.prices")
        return [{**r, "spent": r["total_tokens"]} for r in rows], "teacher tokens, cumulative", sub
    calls, points = 0, []
    for r in rows:
        calls += r["calls"]
        points.append({**r, "spent": calls})
    return points, "teacher calls, cumulative", "this teacher spends no tokens: calls instead"


def chart_specs(cfg: Config, collected: dict) -> dict[str, dict]:
    """Each figure's Vega-Lite spec, by file stem (reports/figures/<stem>.svg)."""
    task = get_task(cfg.task)
    rows = collected["rows"]
    metric_label = task.columns.get(task.metric, task.metric)
    label_word = task.label_word
    cells, note = _confusion_cells(cfg, collected["confusion"])
    points, unit, sub = _spend_axis(cfg, rows)
    return {
        "score": charts.score_chart(rows, metric_label, cfg.report.ceiling),
        "per_label": charts.per_label_chart(rows, label_word),
        "confusion": charts.confusion_chart(cells, rows[-1]["round"], note, _confusion_labels(cfg, rows[-1])),
        "samples": charts.samples_chart(rows),
        "spend": charts.spend_chart(points, metric_label, unit, sub),
    }


FIGURE_TITLES = {"score": "Test score per round", "per_label": "Per-label F1 per round",
                 "confusion": "Confusion matrix of the last round", "samples": "Samples per round",
                 "spend": "Score against teacher spend"}


def _figure(stem: str) -> str:
    """The Markdown image line of a figure, relative to reports/."""
    return f"![{FIGURE_TITLES[stem]}](figures/{stem}.svg)"


# ---- the text --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def _cell(text: object, limit: int = 160) -> str:
    """Teacher-written text made safe for one Markdown table cell: one line, at most `limit`
    characters, Markdown punctuation escaped (so a `|` or `<b>` in a sample stays text)."""
    one = " ".join(str(text).split())
    if len(one) > limit:
        one = one[:limit - 1] + "…"
    return _MD_SPECIAL.sub(r"\\\1", one)


def _samples_table(task, rows: list[dict], rejected: bool) -> list[str]:
    head = ("| text | reason | teacher's answer |\n|---|---|---|" if rejected else
            "| text | label | kind |\n|---|---|---|")
    body = []
    for r in rows:
        text = r.get("text") or " ".join(r.get("tokens") or [])
        if rejected:
            reason = r.get("reason", "?") + (f": {r['detail']}" if r.get("detail") else "")
            body.append(f"| {_cell(text)} | {_cell(reason, 80)} | {_cell(task.show_label(r), 100)} |")
        else:
            body.append(f"| {_cell(text)} | {_cell(task.show_label(r), 100)} | {_cell(r.get('kind') or '')} |")
    return [head, *body, ""]


def rounds_section(cfg: Config, rows: list[dict]) -> list[str]:
    """Per round: the teacher's analysis (which guides the next round) and a few accepted and
    rejected samples with their labels."""
    task = get_task(cfg.task)
    n = cfg.report.samples_shown
    md = ["## Round by round", ""]
    for r in rows:
        k, rnd = r["round"], Round(r["round"])
        md += [f"### Round {k}", ""]
        if k > 0 and n:
            accepted = read_jsonl(rnd.labelled) if rnd.labelled.exists() else []
            rejected = read_jsonl(rnd.rejected) if rnd.rejected.exists() else []
            md += [f"Accepted: {len(accepted)}" + (f", shown: {min(n, len(accepted))}" if accepted else "") + ".", ""]
            if accepted:
                md += _samples_table(task, accepted[:n], rejected=False)
            md += [f"Rejected: {len(rejected)}" + (f", shown: {min(n, len(rejected))}" if rejected else "") + ".", ""]
            if rejected:
                md += _samples_table(task, rejected[:n], rejected=True)
        analysis = read_json(rnd.analysis) if rnd.analysis.exists() else None
        if analysis:
            summary = " ".join(str(analysis.get("summary") or "(empty)").split())
            weak = ", ".join(map(str, analysis.get("weak_labels") or [])) or "none"
            guides = f"guides round {k + 1}" if k < rows[-1]["round"] else "for a further round"
            md += [f"The teacher's analysis of the round-{k} student ({guides}); weak: "
                   f"{_cell(weak, 300)}.", "", "> " + _cell(summary, 2000), ""]
    return md


def sections(cfg: Config, collected: dict) -> list[str]:
    """The report's Markdown, section by section. A new section goes here, as its own function
    returning Markdown lines; reports/report.html renders the same lines."""
    summary, diag, rows = collected["summary"], collected["diagnostics"], collected["rows"]
    columns = get_task(cfg.task).columns
    t = diag["teacher"]
    priced = cfg.teacher.provider == "simulated" or cfg.teacher.model in cfg.teacher.prices
    return [
        "# evokd report", "",
        f"Task: {cfg.task}; teacher: {cfg.teacher.provider}"
        + (f" ({cfg.teacher.model})" if cfg.teacher.model else "")
        + f"; strategy: {cfg.synthesize.strategy}; rounds: {summary['rounds_run']}.", "",
        f"**Test {diag['metric']}: {summary['score']:.4f}** (round 0: {diag['round0_score']:.4f}); "
        f"accuracy {summary['accuracy']:.4f}.", "",
        _figure("score"), "",
        table(rows, columns),
        _figure("samples"), "",
        f"Samples accepted: {diag['samples']['accepted']}; rejected: "
        f"{diag['samples']['rejected'] or 'none'}.", "",
        f"Teacher: {t['calls']} calls, {t['requests']} requests sent, "
        + (f"{t['batch_requests']} answered through batches, " if t.get("batch_requests") else "")
        + f"{t['cache_hits']} cache hits, "
        f"{t['prompt_tokens']} prompt + {t['completion_tokens']} completion = {t['tokens']} tokens"
        + (f" ({t['reasoning_tokens']} of the completion tokens hidden reasoning)" if t.get("reasoning_tokens") else "")
        + f", ${t['cost_usd']:.4f}"
        + ("" if priced else f" (no price for {cfg.teacher.model!r} in teacher.prices)")
        + (f" (teacher.prices checked {cfg.teacher.prices_checked})" if t['cost_usd'] and cfg.teacher.prices_checked else "")
        + ".", "",
        _figure("spend"), "",
        *([f"**Warnings ({len(diag['warnings'])}):**", "",
           *[f"- WARNING: {w}" for w in diag["warnings"]], ""] if diag["warnings"] else []),
        "Accepted labels the student disagreed with (before training on them): "
        f"{diag['label_disagreement']['rate']:.0%} of {diag['label_disagreement']['samples']}"
        + ("; per label: " + ", ".join(f"{lab} {r:.0%}" for lab, r in
                                       diag["label_disagreement"]["per_label"].items())
           if diag["label_disagreement"]["per_label"] else "") + ".", "",
        _second_labelling_line(diag["label_disagreement"]["second_labelling"]), "",
        "## Per label", "",
        _figure("per_label"), "",
        "Per-label F1 after the last round: "
        + ", ".join(f"{lab} {f1:.3f}" for lab, f1 in diag["per_label_f1"].items()) + ".", "",
        _figure("confusion"), "",
        *label_balance([r["round"] for r in rows], cfg.synthesize.strategy),
        *rounds_section(cfg, rows),
    ]


# ---- the HTML page ---------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>evokd report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.9rem; }}
th, td {{ border: 1px solid #ddd; padding: 0.25rem 0.5rem; vertical-align: top; }}
th {{ background: #f4f4f4; }}
img.chart {{ display: block; max-width: 100%; height: auto; margin: 1rem 0; }}
blockquote {{ border-left: 4px solid #1f6fb2; margin: 0.5rem 0 1rem; padding: 0.25rem 1rem;
             background: #f6f9fc; }}
</style>
</head>
<body>
{body}
</body>
</html>
"""


def render_html(markdown: str, figures: dict[str, str]) -> str:
    """The report page: `markdown` rendered (raw HTML in it escaped, never passed through), each
    `figures/<stem>.svg` image inlined as a data: URI, so the page needs no other file and no
    network. Data URIs, not inline <svg>: each chart keeps its own ids (Vega's clip paths)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def image(renderer, tokens, idx, options, env):
        token = tokens[idx]
        src = token.attrGet("src") or ""
        alt = html.escape(token.content or "", quote=True)
        stem = Path(src).stem
        if src.startswith("figures/") and stem in figures:
            data = base64.b64encode(figures[stem].encode()).decode()
            return f'<img class="chart" id="chart-{stem}" alt="{alt}" src="data:image/svg+xml;base64,{data}">'
        return f'<img alt="{alt}" src="{html.escape(src, quote=True)}">'

    md.add_render_rule("image", image)
    return _PAGE.format(body=md.render(markdown))


def confusion_rows(cfg: Config, collected: dict) -> list[dict]:
    """metrics/confusion.json's rows: DVC's confusion template counts rows, so one {actual,
    predicted} row per test item (NER: per word, the O/O words left out)."""
    cells, _ = _confusion_cells(cfg, collected["confusion"])
    return [{"actual": c["actual"], "predicted": c["predicted"]} for c in cells for _ in range(c["count"])]
