"""The card beside each round's accepted data (`data/rounds/<k>/README.md`, a DVC output of the
label stage): what the data is, how it was made and what it cost, so that a team that pulls it
from a DVC remote can use it without the run that made it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from evokd.config import Config
from evokd.cards.card import hf_task, markdown_counts, usage_totals, write_card
from evokd.cards.provenance import git_revision, prompt_hashes, shaping_params


def round_facts(cfg: Config, k: int, labels: list[str], synthesized: list[dict],
                accepted: list[dict], rejected: list[dict], train_set_size: int,
                label_counts: dict[str, int], synthesize_usage: dict, label_usage: dict) -> dict:
    """The machine-readable facts of round k's card."""
    return {
        "round": k,
        "task": cfg.task,
        "labels": list(labels),
        "teacher": {"provider": cfg.teacher.provider, "model": cfg.teacher.model},
        "prompt_sha256": prompt_hashes(cfg),
        "params": shaping_params(cfg),
        "counts": {
            "synthesized": len(synthesized),
            "accepted": len(accepted),
            "rejected": dict(sorted(Counter(r.get("reason") for r in rejected).items())),
            "rejected_total": len(rejected),
            "accepted_per_label": label_counts,
            "accepted_per_kind": dict(sorted(Counter(r.get("kind") or "unknown" for r in accepted).items())),
            "train_set": train_set_size,
        },
        "usage": {"synthesize": usage_totals(synthesize_usage), "label": usage_totals(label_usage),
                  "total": usage_totals(synthesize_usage, label_usage)},
        "git": git_revision(),
    }


def write_round_card(path: str | Path, facts: dict, data_file: str = "labelled.jsonl") -> None:
    k, counts, usage = facts["round"], facts["counts"], facts["usage"]["total"]
    teacher = facts["teacher"]
    front = {
        "pretty_name": f"evokd round {k} synthetic data",
        "task_categories": [hf_task(facts["task"])],
        "tags": ["synthetic", "knowledge-distillation", "evokd"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": data_file}]}],
        "evokd": facts,
    }
    git = facts["git"]
    body = [
        f"# evokd round {k}: accepted synthetic data", "",
        f"`{data_file}` (JSON Lines) holds the {counts['accepted']} samples the teacher wrote and "
        f"labelled in round {k} that passed validation; `rejected.jsonl` keeps the others with their "
        f"reason, `train_set.jsonl` the cumulative training set ({counts['train_set']} samples).", "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("json", data_files="data/rounds/{k}/{data_file}")',
        "```", "",
        f"- Task: {facts['task']}; labels: {', '.join(facts['labels'])}",
        f"- Teacher: {teacher['provider']}" + (f" ({teacher['model']})" if teacher["model"] else ""),
        "- Prompt files: " + (", ".join(f"`{p}` sha256 {h[:12]}" for p, h in facts["prompt_sha256"].items())
                              or "none (the simulated teacher reads no prompt)"),
        f"- Synthesized {counts['synthesized']}, accepted {counts['accepted']}, rejected "
        f"{counts['rejected_total']} ({markdown_counts(counts['rejected'])})",
        f"- Accepted per label: {markdown_counts(counts['accepted_per_label'])}; per kind: "
        f"{markdown_counts(counts['accepted_per_kind'])}",
        f"- Teacher usage (synthesize + label): {usage['prompt_tokens']} prompt + "
        f"{usage['completion_tokens']} completion tokens, ${usage['cost_usd']:.4f}, "
        f"{usage['requests']} requests sent, {usage['cache_hits']} cache hits",
        f"- Git revision: {git['commit'] or 'unknown'}" + (" (with uncommitted changes)" if git["dirty"] else ""),
        "", "The params that shaped this data are in the front matter (`evokd.params`).",
    ]
    write_card(path, front, body)
