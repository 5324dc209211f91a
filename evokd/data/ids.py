"""Stable sample ids, from content: the same text gets the same id on every run."""

from __future__ import annotations

import hashlib


def assign_ids(k: int, samples: list[dict]) -> list[dict]:
    """Round k's samples with an `id` first: `r<k>-<sha1 of text>`, with a suffix for repeated texts."""
    seen: dict[str, int] = {}
    out = []
    for sample in samples:
        base = f"r{k}-" + hashlib.sha1(sample["text"].encode("utf-8")).hexdigest()[:12]
        seen[base] = seen.get(base, 0) + 1
        out.append({"id": base if seen[base] == 1 else f"{base}-{seen[base]}", **sample})
    return out
