"""The model card of an exported student (README.md beside its weights) and the card of the
merged training set that goes with it. Both are built from the round cards and score files a
run (or `dvc pull`) leaves in the project, so an export needs no teacher and no training."""

from __future__ import annotations

from pathlib import Path

from evokd.cards.card import hf_task, markdown_counts, write_card

BACKBONES = {"minilm": "sentence-transformers/all-MiniLM-L6-v2",
             "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2"}

INTENDED_USE = (
    "A small, fast {task} model for the label set above, distilled from the teacher named "
    "here on synthetic data (EvoKD: the teacher writes samples aimed at the student's "
    "weaknesses, {labelling}, and the student is retrained each round).")
LABELLING = {"label call": "labels them in a separate call",
             "generation": "labels them as it writes them (strategy evokd-gen-labels)"}
# Strategy eda: no teacher wrote or labelled the synthetic samples.
INTENDED_USE_EDA = (
    "A small, fast {task} model for the label set above, trained on the seed set and on samples "
    "made from it by word edits (strategy eda: EDA, each sample with its seed example's label; no "
    "teacher wrote or labelled them), retrained each round.")
LIMITS = [
    "It knows only the labels above and the kinds of text the teacher wrote and the seed set showed; "
    "expect lower scores on text far from them (other domains, languages, lengths).",
    "Its labels are the teacher's: the teacher's mistakes and biases are learnt too. The rejected "
    "samples (see the dataset card) show what the checks caught, not what they missed.",
    "The test score comes from one test split; small splits and rare labels make it swing by several points.",
    "Not for decisions about people without human review.",
]


def model_facts(task: str, labels: list[str], backbone: str, teacher: dict, metric: str,
                scores: list[dict], data: dict, test_size: int | None, git: dict) -> dict:
    """Machine-readable facts: `scores` is one {round, <metric>, accuracy} per round (0 = seed)."""
    final = scores[-1]
    return {
        "task": task,
        "labels": list(labels),
        "backbone": BACKBONES.get(backbone.lower(), backbone),
        "teacher": teacher,
        "metric": metric,
        "test_score": final[metric],
        "test_accuracy": final.get("accuracy"),
        "test_size": test_size,
        "per_round": scores,
        "training_data": data,
        "git": git,
    }


def write_model_card(path: str | Path, facts: dict) -> None:
    task, metric = facts["task"], facts["metric"]
    data, teacher = facts["training_data"], facts["teacher"]
    front = {
        "library_name": "transformers",
        "pipeline_tag": hf_task(task),
        "base_model": facts["backbone"],
        "tags": ["evokd", "knowledge-distillation", "synthetic-data"],
        "evokd": facts,
    }
    teacher_name = teacher["provider"] + (f" ({teacher['model']})" if teacher.get("model") else "")
    rows = "".join(f"| {s['round']} | {s[metric]:.4f} | {s.get('accuracy', float('nan')):.4f} |\n"
                   for s in facts["per_round"])
    body = [
        "# evokd student", "",
        f"A {hf_task(task)} model fine-tuned from `{facts['backbone']}` by evokd, "
        f"distilled from the teacher {teacher_name}.", "",
        "```python",
        "from transformers import pipeline",
        f'clf = pipeline("{hf_task(task)}", model="<this folder>")',
        "```", "",
        "## Labels", "", ", ".join(facts["labels"]), "",
        "## Training data", "",
        f"{data['total']} samples: {data['seed']} seed examples and {data['synthetic']} synthetic samples "
        f"from {data['rounds']} round(s) ({data['rejected_total']} more were rejected: "
        f"{markdown_counts(data['rejected'])}). Per label: {markdown_counts(data['per_label'])}. "
        f"Teacher usage: {data['usage']['prompt_tokens']} prompt + {data['usage']['completion_tokens']} "
        f"completion tokens, ${data['usage']['cost_usd']:.4f}. The set is in `dataset/` with its card.", "",
        "## Scores", "",
        f"Test {metric} **{facts['test_score']:.4f}**"
        + (f" on {facts['test_size']} held-out samples" if facts["test_size"] else "")
        + " (round 0 = the seed set alone).", "",
        f"| round | {metric} | accuracy |", "|---:|---:|---:|", rows,
        "## Intended use", "", _intended_use(task, facts.get("labelled_by", "label call")), "",
        "## Limits", "", *[f"- {line}" for line in LIMITS], "",
        f"Git revision of the project: {facts['git'].get('commit') or 'unknown'}.",
    ]
    write_card(path, front, body)


def _intended_use(task: str, labelled_by: str) -> str:
    if labelled_by == "eda":
        return INTENDED_USE_EDA.format(task=task)
    return INTENDED_USE.format(task=task, labelling=LABELLING[labelled_by])


def write_merged_card(path: str | Path, facts: dict, data_file: str = "train.jsonl") -> None:
    """The card of the merged training set (seed + every round's accepted samples)."""
    data, teacher = facts["training_data"], facts["teacher"]
    front = {
        "pretty_name": "evokd synthetic training set",
        "task_categories": [hf_task(facts["task"])],
        "tags": ["synthetic", "knowledge-distillation", "evokd"],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": data_file}]}],
        "evokd": {k: facts[k] for k in ("task", "labels", "teacher", "git")} | {"training_data": data},
    }
    body = [
        "# evokd synthetic training set", "",
        f"`{data_file}` (JSON Lines): the student's whole training set, {data['total']} samples. "
        "`round` says where each came from (0 = the labelled seed set, k = accepted in round k); "
        f"teacher: {teacher['provider']}" + (f" ({teacher['model']})" if teacher.get("model") else "") + ".", "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("json", data_files="{data_file}")',
        "```", "",
        f"- Per round: {markdown_counts({str(k): v for k, v in data['per_round'].items()})}",
        f"- Per label: {markdown_counts(data['per_label'])}",
        f"- Rejected by the checks: {markdown_counts(data['rejected'])}",
        "- Each round's own card (prompt-file hashes, the params that shaped it) is in "
        "`data/rounds/<k>/README.md` of the project, and in `evokd.rounds` below.",
    ]
    front["evokd"]["rounds"] = facts.get("round_cards", {})
    write_card(path, front, body)
