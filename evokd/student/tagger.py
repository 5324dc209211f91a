"""The token head (NER): a token classifier (`AutoModelForTokenClassification`) on the same
backbone, trained by `evokd.student.train.fine_tune` like the sequence head; this module holds
what differs: word-piece alignment, the training batches and reading predictions back per word.

Words are split into sub-words by the backbone's tokenizer. Each word's tag is the label of its
*first* sub-word; the other sub-words, and the special tokens, get -100 (ignored by the loss).
Predictions are read at first sub-words and mapped back to words. Words that fall beyond
`max_length` sub-words are cut off: they are predicted `O` (with probability 1), which costs
recall on very long sentences; raise `train.max_length` if a dataset has many.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evokd.student.batches import pad_batch

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


def token_batches(tokenizer, examples: list[dict], tag2id: dict[str, int], max_length: int):
    """The token head's batches ({"tokens", "tags"} examples): sub-words padded per batch, tag
    ids at first sub-words, -100 on the rest and on the padding."""
    import torch

    encoded, firsts = encode_words(tokenizer, [e["tokens"] for e in examples], max_length)
    lengths = [len(ids) for ids in encoded["input_ids"]]
    labels = [align_labels(first, n, [tag2id[t] for t in e["tags"]])
              for first, n, e in zip(firsts, lengths, examples)]

    def make_batch(batch_ids: list[int]) -> dict:
        batch = pad_batch(tokenizer, encoded, batch_ids)
        width = batch["input_ids"].shape[1]
        padded = [labels[i] + [IGNORE] * (width - len(labels[i])) for i in batch_ids]
        return {**batch, "labels": torch.tensor(padded)}

    return lengths, make_batch


def predict_word_proba(model_dir: str | Path, sentences: list[list[str]], batch_size: int = 64,
                       max_length: int = 128, threads: int | None = None,
                       device: str = "auto", desc: str = "predict") -> tuple[list[str], list[np.ndarray]]:
    """The model's tag names and, per sentence, a (words, tags) matrix of probabilities read at
    each word's first sub-word (cut-off words: probability 1 for `O`). `device`: `train.device`;
    `desc` names the progress display."""
    import torch
    from transformers import AutoModelForTokenClassification

    from evokd.student.predict import load_for_inference, run_batches

    tokenizer, model, where = load_for_inference(AutoModelForTokenClassification, model_dir, threads, device)
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
    for batch_ids, _, output in run_batches(model, tokenizer, encoded, batch_size, where, desc, "sentence"):
        probs = torch.softmax(output.logits.float(), dim=-1).cpu().numpy()
        for row, i in enumerate(batch_ids):
            for word, pos in firsts[i].items():
                out[i][word] = probs[row, pos]
    return names, out

