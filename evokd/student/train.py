"""The one place a student is built and fine-tuned, whatever its head (the loop itself is
`evokd.student.loop.fit`).

A head is what sits on the shared MiniLM-style encoder: `sequence` (one label per text, examples
{"text", "label"}) or `token` (one tag per word, examples {"tokens", "tags"}, tags aligned to each
word's first sub-word by `evokd.student.tagger`). The two differ only in the transformers auto
class and in how examples become padded batches with labels; the backbone, tokenizer, seeding,
threads, device, optimizer, schedule, launcher and safetensors checkpoint are the same code.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Callable

from evokd.config import TrainConfig
from evokd.errors import ConfigError
from evokd.student.backbone import load_weights, setup_torch
from evokd.student.batches import pad_batch
from evokd.student.loop import fit

# What `fine_tune` needs of a head: `make(tokenizer, examples, label2id, max_length)` returns the
# token count of each example and `make_batch(ids)` -> the model's keyword arguments, labels included.
Batches = Callable[..., tuple[list[int], Callable[[list[int]], dict]]]


def sequence_batches(tokenizer, examples: list[dict], label2id: dict[str, int], max_length: int):
    """The sequence head's batches: texts padded per batch, one class id per text."""
    import torch

    encoded = tokenizer([e["text"] for e in examples], truncation=True, max_length=max_length)
    targets = [label2id[e["label"]] for e in examples]
    lengths = [len(ids) for ids in encoded["input_ids"]]

    def make_batch(batch_ids: list[int]) -> dict:
        return {**pad_batch(tokenizer, encoded, batch_ids),
                "labels": torch.tensor([targets[i] for i in batch_ids])}

    return lengths, make_batch


def balanced_weights(targets: list[int], n_classes: int) -> list[float] | None:
    """`train.class_weight: balanced`: class c's loss weight n / (present * count_c) over the
    `targets` (class ids) trained on, `present` the classes that occur, so that the weights of the
    samples average 1 (scikit-learn's "balanced" over the classes present). A class that does not
    occur gets 1.0 (it has no sample to weigh). None when every present class is equally frequent:
    the weighted loss is then the plain one, and the plain one is computed (bit for bit the run
    without weights, e.g. round 0 on a k-shot seed set)."""
    from collections import Counter

    counts = Counter(targets)
    if len(set(counts.values())) <= 1:
        return None
    n, present = len(targets), len(counts)
    return [n / (present * counts[c]) if counts[c] else 1.0 for c in range(n_classes)]


def class_weights(head_name: str, examples: list[dict], label2id: dict[str, int], cfg: TrainConfig) -> list[float] | None:
    """The loss's class weights by `train.class_weight` (None: the model's own, unweighted loss)."""
    if cfg.class_weight == "none":
        return None
    if head_name != "sequence":  # the config refuses it for NER (evokd.config: why)
        raise ConfigError(f"train.class_weight: {cfg.class_weight} weighs one label per text; the "
                          f"{head_name} head has none. Set train.class_weight: none")
    return balanced_weights([label2id[e["label"]] for e in examples], len(label2id))


def head(name: str) -> tuple[type, Batches]:
    """The transformers auto class and the batch maker of the head called `name`."""
    if name == "sequence":
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification, sequence_batches
    if name == "token":
        from transformers import AutoModelForTokenClassification

        from evokd.student.tagger import token_batches

        return AutoModelForTokenClassification, token_batches
    raise ValueError(f"unknown student head {name!r} (sequence | token)")


def fine_tune(head_name: str, init_from: str, examples: list[dict], labels: list[str], cfg: TrainConfig,
              out_dir: str | Path, seed: int, epochs: int, desc: str = "train") -> dict:
    """Train a `head_name` head ("sequence" | "token") with output names `labels` from `init_from`
    (a backbone or a previous round's checkpoint) on `examples` and save a pipeline-loadable
    checkpoint to `out_dir`. With `train.launcher: accelerate` the same function runs in N DDP
    workers (`evokd.student.launch`).

    Returns the loop's log: loss per epoch, examples, wall time and examples per second.
    """
    import torch
    from transformers import AutoTokenizer

    from evokd.student.launch import launch, should_launch

    if should_launch(cfg):
        return launch(head_name, init_from, examples, labels, cfg, out_dir, seed, epochs, desc)
    auto_class, batches = head(head_name)
    setup_torch(cfg.threads)
    # Seed before the model is built: the new head's initialisation draws from the torch generator.
    torch.manual_seed(seed)
    rng = random.Random(seed)
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(init_from)
    model = load_weights(auto_class, init_from, num_labels=len(labels),
                         label2id=label2id, id2label={i: label for label, i in label2id.items()})
    lengths, make_batch = batches(tokenizer, examples, label2id, cfg.max_length)
    weights = class_weights(head_name, examples, label2id, cfg)
    log = fit(model, lengths, make_batch, cfg, rng, epochs, desc, class_weights=weights)
    if weights is not None:
        log["class_weights"] = {label: round(weights[i], 4) for label, i in label2id.items()}
    save_checkpoint(model, tokenizer, Path(out_dir))
    return log


def save_checkpoint(model, tokenizer, out_dir: Path) -> None:
    """save_pretrained into a temporary sibling, then rename: a kill never leaves half a model.

    Under DDP every process holds the same weights; only rank 0 writes them."""
    from evokd.student.runtime import is_main_process

    if not is_main_process():
        return
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
