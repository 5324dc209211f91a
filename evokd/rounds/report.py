"""report: gather every active round into metrics/summary.json (DVC metrics), a score-per-round
plot file, and a Markdown report a person can read."""

from __future__ import annotations

import csv
import io
from collections import Counter

from evokd.config import Config
from evokd.io import atomic_write_text, read_json, read_jsonl, write_json
from evokd.paths import METRICS, REPORTS, Round
from evokd.rounds import noise
from evokd.rounds.plan import active_rounds
from evokd.tasks import get_task
from evokd.teachers.base import Usage

TEACHER_VERBS = ("synthesize", "label", "analyze")
ROUND_VERBS = ("synthesize", "label", "train", "evaluate", "analyze")
ROUND0_VERBS = ("prepare", "analyze")  # round 0: prepare's student, then analyze@0


def _meta(k: int, verb: str) -> dict:
    path = Round(k).meta(verb)
    return read_json(path) if path.exists() else {}


def collect(cfg: Config) -> dict:
    task = get_task(cfg.task)
    metric = task.metric
    rounds = [0] + active_rounds()
    per_round = [read_json(Round(k).scores) for k in rounds]
    usage, accepted, rejected = Usage(), 0, Counter()
    timings: dict[str, list] = {}
    warnings: list[str] = []
    disagreements: dict[str, dict] = {}
    relabelled: dict[str, dict] = {}  # the second labelling's disagreement, per round
    rows = []
    for k in rounds:
        verbs = ROUND0_VERBS if k == 0 else ROUND_VERBS
        metas = {verb: _meta(k, verb) for verb in verbs}
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
                [r for r in read_jsonl(Round(k).feedback) if r.get("kind") != "hard"])
        accepted += label.get("accepted", 0)
        rejected.update(label.get("rejected", {}))
        timings[str(k)] = {verb: m.get("wall_s") for verb, m in metas.items()}
        rows.append({
            "round": k,
            **{col: per_round[k][col] for col in task.columns},
            "accepted": label.get("accepted", metas.get("prepare", {}).get("seed", 0)),
            "rejected": sum(label.get("rejected", {}).values()),
            "wall_s": round(sum(m.get("wall_s") or 0 for m in metas.values()), 1),
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
    return {
        "rounds_completed": len(rounds) - 1,
        "metric": metric,
        "score": final[metric],
        **{col: final[col] for col in task.columns if col not in (metric, "accuracy")},
        "accuracy": final["accuracy"],
        "round0_score": per_round[0][metric],
        "per_round": [r[metric] for r in per_round],
        "per_round_accuracy": [r["accuracy"] for r in per_round],
        "samples": {"accepted": accepted, "rejected": dict(sorted(rejected.items())),
                    "rejected_total": sum(rejected.values())},
        # What made the samples and what it cost, so that `dvc metrics diff` compares strategies.
        "strategy": cfg.synthesize.strategy,
        "teacher": {"provider": cfg.teacher.provider, "model": cfg.teacher.model, **usage.to_dict(),
                    "tokens": usage.prompt_tokens + usage.completion_tokens},
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
        "warnings": warnings,
        "wall_s": {"total": round(sum(r["wall_s"] for r in rows), 1), "per_round": timings},
        "_rows": rows,
    }


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
    """A Markdown table: round, the task's score columns, samples, wall time."""
    names = ["round", *columns.values(), "accepted", "rejected", "wall s"]
    head = "| " + " | ".join(names) + " |\n|" + "---:|" * len(names) + "\n"
    return head + "".join(
        f"| {r['round']} | " + "".join(f"{r[col]:.4f} | " for col in columns)
        + f"{r['accepted']} | {r['rejected']} | {r['wall_s']} |\n" for r in rows)


def run(cfg: Config) -> dict:
    columns = get_task(cfg.task).columns
    summary = collect(cfg)
    rows = summary.pop("_rows")
    write_json(METRICS / "summary.json", summary)
    buf = io.StringIO()
    # `score` is the task's headline metric under one name, so that dvc.yaml's plot (and
    # `dvc plots diff` across a classification and an NER experiment) need not know the task.
    fields = ["round", "score", *columns]
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({"score": r[summary["metric"]], **{k: r[k] for k in fields if k != "score"}}
                     for r in rows)
    atomic_write_text(METRICS / "scores.csv", buf.getvalue())
    t = summary["teacher"]
    md = [
        "# evokd report", "",
        f"Task: {cfg.task}; teacher: {cfg.teacher.provider}"
        + (f" ({cfg.teacher.model})" if cfg.teacher.model else "")
        + f"; strategy: {cfg.synthesize.strategy}; rounds: {summary['rounds_completed']}.", "",
        f"**Test {summary['metric']}: {summary['score']:.4f}** (round 0: {summary['round0_score']:.4f}); "
        f"accuracy {summary['accuracy']:.4f}.", "",
        table(rows, columns),
        f"Samples accepted: {summary['samples']['accepted']}; rejected: "
        f"{summary['samples']['rejected'] or 'none'}.", "",
        f"Teacher: {t['calls']} calls, {t['requests']} requests sent, "
        + (f"{t['batch_requests']} answered through batches, " if t.get("batch_requests") else "")
        + f"{t['cache_hits']} cache hits, "
        f"{t['prompt_tokens']} prompt + {t['completion_tokens']} completion = {t['tokens']} tokens, "
        f"${t['cost_usd']:.4f}.", "",
        *([f"**Warnings ({len(summary['warnings'])}):**", "",
           *[f"- WARNING: {w}" for w in summary["warnings"]], ""] if summary["warnings"] else []),
        "Accepted labels the student disagreed with (before training on them): "
        f"{summary['label_disagreement']['rate']:.0%} of {summary['label_disagreement']['samples']}"
        + ("; per label: " + ", ".join(f"{lab} {r:.0%}" for lab, r in
                                       summary["label_disagreement"]["per_label"].items())
           if summary["label_disagreement"]["per_label"] else "") + ".", "",
        _second_labelling_line(summary["label_disagreement"]["second_labelling"]), "",
        "Per-label F1 after the last round: "
        + ", ".join(f"{lab} {f1:.3f}" for lab, f1 in summary["per_label_f1"].items()) + ".", "",
        *label_balance([r["round"] for r in rows], cfg.synthesize.strategy),
    ]
    atomic_write_text(REPORTS / "report.md", "\n".join(md))
    print("\n" + table(rows, columns))
    for warning in summary["warnings"]:
        print(f"WARNING: {warning}")
    return {"score": summary["score"], "rounds_completed": summary["rounds_completed"]}
