"""Run a student (or the bare backbone, for embeddings) over texts, in length-sorted batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evokd.student.backbone import load_weights, setup_torch
from evokd.progress import progress
from evokd.student.batches import bucketed_batches, pad_batch
from evokd.student.runtime import inference_device


def predict_proba(model_dir: str | Path, texts: list[str], batch_size: int = 64,
                  max_length: int = 128, threads: int | None = None,
                  device: str = "auto", desc: str = "predict") -> tuple[list[str], np.ndarray]:
    """The model's label names and a (len(texts), n_labels) matrix of probabilities.
    `device` is `train.device` (auto | cpu | cuda); `desc` names the progress display."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    setup_torch(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    where = inference_device(device)
    model = load_weights(AutoModelForSequenceClassification, model_dir).eval().to(where)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    probs = np.zeros((len(texts), len(labels)), dtype=np.float32)
    if not texts:
        return labels, probs
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    with torch.inference_mode(), progress(len(texts), desc, "text") as bar:
        for batch_ids in bucketed_batches(lengths, batch_size, None):
            batch = pad_batch(tokenizer, encoded, batch_ids).to(where)
            probs[batch_ids] = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
            bar.update(len(batch_ids))
    return labels, probs


def embed(backbone: str, texts: list[str], batch_size: int = 128, max_length: int = 64,
          threads: int | None = None, desc: str = "embed", device: str = "auto") -> np.ndarray:
    """L2-normalised mean-pooled sentence embeddings (the sentence-transformers recipe)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    setup_torch(threads)
    tokenizer = AutoTokenizer.from_pretrained(backbone)
    where = inference_device(device)
    model = load_weights(AutoModel, backbone).eval().to(where)
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    if not texts:
        return out
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    with torch.inference_mode(), progress(len(texts), desc, "text") as bar:
        for batch_ids in bucketed_batches(lengths, batch_size, None):
            batch = pad_batch(tokenizer, encoded, batch_ids).to(where)
            hidden = model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out[batch_ids] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
            bar.update(len(batch_ids))
    return out
