"""Fine-tune the student sequence classifier (the loop itself is `evokd.student.loop.fit`)."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from evokd.config import TrainConfig
from evokd.student.backbone import load_weights, setup_torch
from evokd.student.batches import pad_batch
from evokd.student.loop import fit


def train_classifier(
    init_from: str,
    examples: list[dict],
    labels: list[str],
    cfg: TrainConfig,
    out_dir: str | Path,
    seed: int,
    epochs: int,
    desc: str = "train",
) -> dict:
    """Train from `init_from` (a backbone or a previous round's checkpoint) on `examples`
    ({"text", "label"}) and save a pipeline-loadable checkpoint to `out_dir`.

    Returns a log: loss per epoch, examples, wall time and examples per second.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from evokd.student.launch import launch, should_launch

    if should_launch(cfg):  # train.launcher: accelerate -> the same function in N DDP workers
        return launch("classifier", init_from, examples, labels, cfg, out_dir, seed, epochs, desc)
    setup_torch(cfg.threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(init_from)
    model = load_weights(AutoModelForSequenceClassification, init_from, num_labels=len(labels),
                         label2id=label2id, id2label={i: label for label, i in label2id.items()})
    encoded = tokenizer([e["text"] for e in examples], truncation=True, max_length=cfg.max_length)
    targets = [label2id[e["label"]] for e in examples]
    lengths = [len(ids) for ids in encoded["input_ids"]]

    def make_batch(batch_ids: list[int]) -> dict:
        return {**pad_batch(tokenizer, encoded, batch_ids),
                "labels": torch.tensor([targets[i] for i in batch_ids])}

    log = fit(model, lengths, make_batch, cfg, rng, epochs, desc)
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
