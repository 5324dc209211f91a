"""Length-bucketed batches with dynamic padding: cost on CPU is linear in padded length."""

from __future__ import annotations

import random


def bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random | None) -> list[list[int]]:
    """Index batches of similar length. With an rng, buckets are shuffled (training);
    without one, the order is by length (inference)."""
    order = list(range(len(lengths)))
    if rng is None:
        order.sort(key=lambda i: lengths[i])
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(order)
    # Sort within windows of 50 batches so that batches stay random across the epoch.
    window = batch_size * 50
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def pad_batch(tokenizer, encoded, batch_ids: list[int]):
    """Pad the selected encoded rows to the longest among them; torch tensors."""
    return tokenizer.pad(
        {"input_ids": [encoded["input_ids"][i] for i in batch_ids],
         "attention_mask": [encoded["attention_mask"][i] for i in batch_ids]},
        return_tensors="pt",
    )
