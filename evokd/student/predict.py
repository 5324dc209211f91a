"""Run a student (or the bare backbone, for embeddings) over texts, in length-sorted batches.
The token head's reading per word is `evokd.student.tagger.predict_word_proba`, on the same two
helpers (`load_for_inference`, `run_batches`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evokd.progress import progress
from evokd.student.backbone import load_weights, setup_torch
from evokd.student.batches import bucketed_batches, pad_batch
from evokd.student.runtime import inference_device


def load_for_inference(auto_class, model_dir: str | Path, threads: int | None, device: str):
    """The tokenizer, the model in eval mode on its device, and that device (`train.device`)."""
    from transformers import AutoTokenizer

    setup_torch(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    where = inference_device(device)
    return tokenizer, load_weights(auto_class, model_dir).eval().to(where), where


def run_batches(model, tokenizer, encoded, batch_size: int, where, desc: str, unit: str):
    """Yield (row ids, padded batch on `where`, model output) over length-sorted batches of the
    `encoded` rows, without gradients, with a progress display named `desc`."""
    import torch

    lengths = [len(ids) for ids in encoded["input_ids"]]
    with torch.inference_mode(), progress(len(lengths), desc, unit) as bar:
        for batch_ids in bucketed_batches(lengths, batch_size, None):
            batch = pad_batch(tokenizer, encoded, batch_ids).to(where)
            yield batch_ids, batch, model(**batch)
            bar.update(len(batch_ids))


def predict_proba(model_dir: str | Path, texts: list[str], batch_size: int = 64,
                  max_length: int = 128, threads: int | None = None,
                  device: str = "auto", desc: str = "predict") -> tuple[list[str], np.ndarray]:
    """The model's label names and a (len(texts), n_labels) matrix of probabilities.
    `device` is `train.device` (auto | cpu | cuda); `desc` names the progress display."""
    import torch
    from transformers import AutoModelForSequenceClassification

    tokenizer, model, where = load_for_inference(AutoModelForSequenceClassification, model_dir, threads, device)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    probs = np.zeros((len(texts), len(labels)), dtype=np.float32)
    if not texts:
        return labels, probs
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    for batch_ids, _, output in run_batches(model, tokenizer, encoded, batch_size, where, desc, "text"):
        probs[batch_ids] = torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
    return labels, probs


def embed(backbone: str, texts: list[str], batch_size: int = 128, max_length: int = 64,
          threads: int | None = None, desc: str = "embed", device: str = "auto") -> np.ndarray:
    """L2-normalised mean-pooled sentence embeddings (the sentence-transformers recipe)."""
    import torch
    from transformers import AutoModel

    tokenizer, model, where = load_for_inference(AutoModel, backbone, threads, device)
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    if not texts:
        return out
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    for batch_ids, batch, output in run_batches(model, tokenizer, encoded, batch_size, where, desc, "text"):
        hidden = output.last_hidden_state.float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out[batch_ids] = torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy()
    return out
