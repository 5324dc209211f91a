"""Cards: Markdown files with a YAML front matter, the Hugging Face card format.

The front matter holds the machine-readable facts under `evokd:` (and, for datasets, the
`configs:` block that lets `datasets.load_dataset(<folder>)` find the data file); the body says
the same for a person. `read_card` gives the front matter back, for tests and for `evokd export`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from evokd.errors import PipelineError
from evokd.io import atomic_write_text
from evokd.tasks import TASKS, get_task


def hf_task(task: str) -> str:
    """The Hugging Face task of evokd task `task` (`Task.hf_task`); a name evokd does not know
    (a card from elsewhere) stands as it is."""
    return get_task(task).hf_task if task in TASKS else task


def render(front: dict, body: list[str]) -> str:
    head = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=100)
    return f"---\n{head}---\n\n" + "\n".join(body).rstrip() + "\n"


def write_card(path: str | Path, front: dict, body: list[str]) -> None:
    atomic_write_text(path, render(front, body))


def read_card(path: str | Path) -> dict:
    """The front matter of a card as a dict."""
    path = Path(path)
    if not path.exists():
        raise PipelineError(f"{path}: no card here; run the stage that writes it (`dvc repro`) "
                            f"or fetch it (`dvc pull`)")
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise PipelineError(f"{path}: not a card (no YAML front matter between '---' lines)")
    return yaml.safe_load(text[4:text.index("\n---\n", 4)]) or {}


def usage_totals(*usages: dict) -> dict:
    """Tokens, cost, requests and cache hits summed over teacher usage records."""
    keys = ("calls", "requests", "cache_hits", "prompt_tokens", "completion_tokens", "cost_usd")
    total = {k: 0 for k in keys}
    for usage in usages:
        for k in keys:
            total[k] += (usage or {}).get(k) or 0
    total["cost_usd"] = round(total["cost_usd"], 6)
    return total


def markdown_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) if counts else "none"
