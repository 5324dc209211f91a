"""Text normalisation, near-duplicate and leakage detection.

Two texts are the same sample when their normalised forms are equal (case, punctuation and
spacing ignored). A synthetic text leaks a test sample when most of its word 3-grams also occur in
one test text and vice versa: |A ∩ B| / max(|A|, |B|) over word 3-gram sets (max, so that a
short text that happens to share one 3-gram with a long one is not a leak).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", text).split())


def shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    words = normalize(text).split()
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


class LeakIndex:
    """Answers "does this text (nearly) equal a protected text?" in time linear in its length."""

    def __init__(self, rows: list[dict], threshold: float = 0.8, n: int = 3):
        self.threshold, self.n = threshold, n
        self.exact: dict[str, str] = {}
        self.shingles: dict[str, set] = {}
        self.index: dict[tuple, set[str]] = defaultdict(set)
        for row in rows:
            self.exact.setdefault(normalize(row["text"]), row["id"])
            grams = shingles(row["text"], n)
            self.shingles[row["id"]] = grams
            for gram in grams:
                self.index[gram].add(row["id"])

    def match(self, text: str) -> str | None:
        """The id of the protected row that `text` leaks, or None."""
        hit = self.exact.get(normalize(text))
        if hit is not None:
            return hit
        grams = shingles(text, self.n)
        if not grams:
            return None
        counts: dict[str, int] = defaultdict(int)
        for gram in grams:
            for rid in self.index.get(gram, ()):
                counts[rid] += 1
        for rid, shared in counts.items():
            if shared / max(len(grams), len(self.shingles[rid])) >= self.threshold:
                return rid
        return None


def hold_out_test_repeats(train: list[dict], test: list[dict], threshold: float) -> list[dict]:
    """The train rows that do not (nearly) repeat a test row, by the label stage's leak rule:
    the rest never reach the seed set, the pool or a teacher, so seed and test never overlap."""
    test_index = LeakIndex(test, threshold=threshold)
    return [r for r in train if test_index.match(r["text"]) is None]
