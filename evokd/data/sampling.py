"""Seeded draws: the k-shot seed set and the review (replay) sample."""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from evokd.errors import ConfigError


def draw_seed_set(rows: list[dict], shots: int, seed: int, source: str = "train") -> list[dict]:
    """`shots` examples per label, drawn reproducibly; stops if a label has fewer."""
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_label[row["label"]].append(row)
    smallest = min(by_label, key=lambda label: len(by_label[label]))
    if len(by_label[smallest]) < shots:
        raise ConfigError(
            f"shots: {shots} is more than the {len(by_label[smallest])} example(s) of label "
            f"{smallest!r} in {source}; set shots to at most {len(by_label[smallest])}"
        )
    rng = random.Random(seed)
    seed_set = []
    for label in sorted(by_label):
        seed_set.extend(rng.sample(sorted(by_label[label], key=lambda r: r["id"]), shots))
    return seed_set


def draw_review(previous: list[dict], n: int, seed: int, new: list[dict] | None = None) -> list[dict]:
    """A replay sample of `n` earlier samples, balanced over labels where it can be.

    With `new` (the round's new samples; `train.review_balance`), the review evens out the
    labels of new + review instead: each pick goes to the label with the fewest samples so far
    in the two together (ties in label order), so a batch that piles onto one label is
    answered by replaying the others. Rows without a `label` (NER sentences) share one bucket."""
    if n >= len(previous):
        return list(previous)
    rng = random.Random(seed)
    by_label: dict[str, list[dict]] = defaultdict(list)
    for row in previous:
        by_label[row.get("label", "")].append(row)
    pools = {k: rng.sample(v, len(v)) for k, v in sorted(by_label.items())}
    chosen: list[dict] = []
    if new is not None:
        have = Counter(row.get("label", "") for row in new)
        while len(chosen) < n:
            label = min((lab for lab in pools if pools[lab]), key=lambda lab: (have[lab], lab))
            chosen.append(pools[label].pop())
            have[label] += 1
        return chosen
    while len(chosen) < n:
        for label in list(pools):
            if pools[label] and len(chosen) < n:
                chosen.append(pools[label].pop())
            if not pools[label]:
                del pools[label]
    return chosen
