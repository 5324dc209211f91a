"""The previous round's student as the teachers consult it (evokd.scores.StudentProbe):
the student's predict and margin functions over the checkpoint in a folder, behind the seam
that keeps teachers from importing student code.

Nothing is imported or loaded when the probe is made: the model is read (and torch imported)
only when a teacher asks for scores, so a strategy that never consults the student (random, the
LLM teacher's evokd) or an inactive round costs nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evokd.scores import LabelScores, WordScores

if TYPE_CHECKING:
    from evokd.config import Config


class SavedStudent:
    """The student saved in `model_dir`, scored with the run's inference settings
    (`evaluate.batch_size`, `train.max_length`, `train.threads`, `train.device`)."""

    def __init__(self, cfg: "Config", model_dir: str | Path):
        self.cfg = cfg
        self.model_dir = str(model_dir)

    def _opts(self) -> dict:
        from evokd.student import inference_opts

        return inference_opts(self.cfg)

    def label_scores(self, texts: list[str]) -> LabelScores:
        from evokd.student import predict
        from evokd.student.uncertainty import top_two_gap

        names, probs = predict.predict_proba(self.model_dir, list(texts), **self._opts())
        return LabelScores(names, probs, top_two_gap(probs))

    def word_scores(self, sentences: list[list[str]]) -> WordScores:
        import numpy as np

        from evokd.student import tagger
        from evokd.student.uncertainty import sentence_margin

        names, probs = tagger.predict_word_proba(self.model_dir, list(sentences), **self._opts())
        return WordScores(names, probs, np.array([sentence_margin(p) for p in probs], dtype=np.float64))

    def least_sure(self, samples: list[dict], n: int) -> list[dict]:
        from evokd.student import uncertainty

        return uncertainty.keep_least_sure(self.cfg, self.model_dir, samples, n)

    def __repr__(self) -> str:
        return f"SavedStudent({self.model_dir!r})"
