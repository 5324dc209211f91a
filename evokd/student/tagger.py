"""The NER student: a token classifier (`AutoModelForTokenClassification`) on the same backbone.

Words are split into sub-words by the backbone's tokenizer. Each word's tag is the label of its
*first* sub-word; the other sub-words, and the special tokens, get -100 (ignored by the loss).
Predictions are read at first sub-words and mapped back to words. Words that fall beyond
`max_length` sub-words are cut off: they are predicted `O` (with probability 1), which costs
recall on very long sentences; raise `train.max_length` if a dataset has many.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from evokd.config import TrainConfig
from evokd.progress import progress
from evokd.student.backbone import load_weights, setup_torch
from evokd.student.batches import bucketed_batches, pad_batch
from evokd.student.loop import fit
from evokd.student.runtime import inference_device

IGNORE = -100


def encode_words(tokenizer, sentences: list[list[str]], max_length: int):
    """Sub-word encoding of pre-split sentences, and each sentence's first-sub-word positions
    ({word index: token position})."""
    encoded = tokenizer(sentences, is_split_into_words=True, truncation=True, max_length=max_length)
    firsts = []
    for i in range(len(sentences)):
        first: dict[int, int] = {}
        for pos, word in enumerate(encoded.word_ids(i)):
            if word is not None and word not in first:
                first[word] = pos
        firsts.append(first)
    return encoded, firsts


def align_labels(first: dict[int, int], length: int, tag_ids: list[int]) -> list[int]:
    """Token labels: a word's tag id at its first sub-word, -100 everywhere else."""
    labels = [IGNORE] * length
    for word, pos in first.items():
        labels[pos] = tag_ids[word]
    return labels


def train_tagger(init_from: str, examples: list[dict], tags: list[str], cfg: TrainConfig,
                 out_dir: str | Path, seed: int, epochs: int, desc: str = "train") -> dict:
    """Train a token classifier from `init_from` on `examples` ({"tokens", "tags"}) and save a
    pipeline-loadable checkpoint to `out_dir`; returns the loop's log."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from evokd.student.launch import launch, should_launch
    from evokd.student.train import save_checkpoint

    if should_launch(cfg):  # train.launcher: accelerate -> the same function in N DDP workers
        return launch("tagger", init_from, examples, tags, cfg, out_dir, seed, epochs, desc)
    setup_torch(cfg.threads)
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tag2id = {tag: i for i, tag in enumerate(tags)}
    tokenizer = AutoTokenizer.from_pretrained(init_from)
    model = load_weights(AutoModelForTokenClassification, init_from, num_labels=len(tags), label2id=tag2id,
                         id2label={i: t for t, i in tag2id.items()})
    encoded, firsts = encode_words(tokenizer, [e["tokens"] for e in examples], cfg.max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    labels = [align_labels(first, n, [tag2id[t] for t in e["tags"]])
              for first, n, e in zip(firsts, lengths, examples)]

    def make_batch(batch_ids: list[int]) -> dict:
        batch = pad_batch(tokenizer, encoded, batch_ids)
        width = batch["input_ids"].shape[1]
        padded = [labels[i] + [IGNORE] * (width - len(labels[i])) for i in batch_ids]
        return {**batch, "labels": torch.tensor(padded)}

    log = fit(model, lengths, make_batch, cfg, rng, epochs, desc)
    save_checkpoint(model, tokenizer, Path(out_dir))
    return log


def predict_word_proba(model_dir: str | Path, sentences: list[list[str]], batch_size: int = 64,
                       max_length: int = 128, threads: int | None = None,
                       device: str = "auto", desc: str = "predict") -> tuple[list[str], list[np.ndarray]]:
    """The model's tag names and, per sentence, a (words, tags) matrix of probabilities read at
    each word's first sub-word (cut-off words: probability 1 for `O`). `device`: `train.device`;
    `desc` names the progress display."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    setup_torch(threads)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    where = inference_device(device)
    model = load_weights(AutoModelForTokenClassification, model_dir).eval().to(where)
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    outside = names.index("O") if "O" in names else 0
    out = []
    for words in sentences:
        probs = np.zeros((len(words), len(names)), dtype=np.float32)
        probs[:, outside] = 1.0
        out.append(probs)
    if not sentences:
        return names, out
    encoded, firsts = encode_words(tokenizer, [list(s) for s in sentences], max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    with torch.inference_mode(), progress(len(sentences), desc, "sentence") as bar:
        for batch_ids in bucketed_batches(lengths, batch_size, None):
            batch = pad_batch(tokenizer, encoded, batch_ids).to(where)
            probs = torch.softmax(model(**batch).logits.float(), dim=-1).cpu().numpy()
            for row, i in enumerate(batch_ids):
                for word, pos in firsts[i].items():
                    out[i][word] = probs[row, pos]
            bar.update(len(batch_ids))
    return names, out


def predict_tags(model_dir: str | Path, sentences: list[list[str]], batch_size: int = 64,
                 max_length: int = 128, threads: int | None = None, device: str = "auto") -> list[list[str]]:
    """The most probable tag of every word, repaired to valid BIO (an orphan I-X becomes B-X)."""
    from evokd.data.conll import repair_bio

    names, probs = predict_word_proba(model_dir, sentences, batch_size, max_length, threads, device)
    return [repair_bio([names[j] for j in p.argmax(1)])[0] if len(p) else [] for p in probs]
