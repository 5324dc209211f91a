"""Fine-tune the student classifier: a short, plain PyTorch loop (no Trainer overhead)."""

from __future__ import annotations

import math
import random
import shutil
import time
from pathlib import Path

from evokd.config import TrainConfig
from evokd.student.backbone import setup_torch
from evokd.student.batches import bucketed_batches, pad_batch


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
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    setup_torch(cfg.threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    label2id = {label: i for i, label in enumerate(labels)}
    tokenizer = AutoTokenizer.from_pretrained(init_from)
    model = AutoModelForSequenceClassification.from_pretrained(
        init_from, num_labels=len(labels), label2id=label2id,
        id2label={i: label for label, i in label2id.items()},
    )
    encoded = tokenizer([e["text"] for e in examples], truncation=True, max_length=cfg.max_length)
    targets = [label2id[e["label"]] for e in examples]
    lengths = [len(ids) for ids in encoded["input_ids"]]

    steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total = steps_per_epoch * epochs
    no_decay = ("bias", "LayerNorm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": cfg.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)],
         "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=cfg.learning_rate)
    warmup = int(total * cfg.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: (s + 1) / (warmup + 1) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
    )

    model.train()
    losses, start = [], time.perf_counter()
    with tqdm(total=total, desc=desc, unit="step", leave=False) as bar:
        for _ in range(epochs):
            epoch_loss = 0.0
            for batch_ids in bucketed_batches(lengths, cfg.batch_size, rng):
                batch = pad_batch(tokenizer, encoded, batch_ids)
                out = model(**batch, labels=torch.tensor([targets[i] for i in batch_ids]))
                out.loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                epoch_loss += out.loss.item() * len(batch_ids)
                bar.update(1)
                bar.set_postfix(loss=f"{out.loss.item():.3f}")
            losses.append(round(epoch_loss / max(1, len(examples)), 4))
    wall = time.perf_counter() - start

    save_checkpoint(model, tokenizer, Path(out_dir))
    return {
        "examples": len(examples), "epochs": epochs, "steps": total, "loss_per_epoch": losses,
        "wall_s": round(wall, 2), "examples_per_s": round(len(examples) * epochs / wall, 1) if wall else None,
    }


def save_checkpoint(model, tokenizer, out_dir: Path) -> None:
    """save_pretrained into a temporary sibling, then rename: a kill never leaves half a model."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
