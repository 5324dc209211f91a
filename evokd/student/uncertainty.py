"""How sure the student is of new, unlabelled texts, and the margin filter built on it: the
uncertainty-sampling half of the `uncertainty` and `evokd-uncertainty` strategies of the LLM
teacher; the simulated teachers rank their pool candidates with the same margins.

The margin of a prediction is the gap between its two most probable answers (0 = a toss-up,
1 = certain). A text's margin is that of its class (classification), or that of its least sure
word (NER: one doubtful word is enough to make a sentence worth labelling). Candidates with the
smallest margins are the ones a label teaches the student most, by the classic active-learning
argument; no label is needed to rank them, so ranking comes before the labelling call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from evokd.config import Config


def top_two_gap(probs: np.ndarray) -> np.ndarray:
    """Per row of a (n, classes) probability matrix, the top-two probability gap (1.0 with
    fewer than two classes: nothing to hesitate between)."""
    if probs.ndim != 2 or probs.shape[1] < 2:
        return np.ones(len(probs), dtype=np.float64)
    top2 = np.sort(probs, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]).astype(np.float64)


def sentence_margin(word_probs: np.ndarray) -> float:
    """A sentence's margin: that of its least sure word (1.0 for a sentence without words)."""
    return float(top_two_gap(word_probs).min()) if len(word_probs) else 1.0


def margins(cfg: Config, model_dir: str | Path, texts: list[str]) -> np.ndarray:
    """The student in `model_dir` (the previous round's) on `texts`: one margin per text.
    NER texts are split into words as the label stage will split them."""
    from evokd.student import inference_opts

    opts = inference_opts(cfg)
    if not texts:
        return np.zeros(0, dtype=np.float64)
    from evokd.tasks import get_task

    if get_task(cfg.task).head == "token":  # a margin per word; the sentence's is its least sure word's
        from evokd.student.tagger import predict_word_proba
        from evokd.tasks.spans import tokenize

        _, word_probs = predict_word_proba(model_dir, [tokenize(t) for t in texts], **opts)
        return np.array([sentence_margin(p) for p in word_probs], dtype=np.float64)
    from evokd.student.predict import predict_proba

    _, probs = predict_proba(model_dir, list(texts), **opts)
    return top_two_gap(probs)


def least_sure(samples: list[dict], scores: np.ndarray, n: int) -> list[dict]:
    """The `n` samples with the smallest margins (ties: the earlier first), each with its
    `margin`. A text repeated among the candidates (same words, spacing aside) competes once,
    so that two copies of one doubtful text do not take two places."""
    seen: set[str] = set()
    firsts = []
    for j, sample in enumerate(samples):
        key = " ".join(sample["text"].split())
        if key not in seen:
            seen.add(key)
            firsts.append(j)
    order = sorted(firsts, key=lambda j: (float(scores[j]), j))[: max(0, n)]
    return [{**samples[j], "margin": round(float(scores[j]), 4)} for j in order]


def keep_least_sure(cfg: Config, model_dir: str | Path, samples: list[dict], n: int) -> list[dict]:
    """Score `samples` (dicts with a "text") with the student in `model_dir` and keep the `n`
    it is least sure of."""
    return least_sure(samples, margins(cfg, model_dir, [s["text"] for s in samples]), n)
