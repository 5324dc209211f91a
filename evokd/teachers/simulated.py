"""The offline teacher: it plays an LLM with a real labelled pool (the train split minus the
seed set and anything that leaks the test split).

- synthesize: an LLM told where the student is weak writes *new* hard samples there. To stand in
  for that, candidates are drawn from the pool near the previous batch's mistakes and from the
  labels the student handles worst; the previous student then scores them, and the ones it gets
  wrong or is least sure of become `hard`, a spread of ones it gets right become `easy`.
  `random` and `uncertainty` are the baselines (no feedback; least-confident of a random subset).
  What a strategy does is its declaration (evokd.strategies: guided or not, its ranking); the
  previous student is consulted through the request's probe (`SynthesisRequest.student`).
- label: the pool's gold label, replaced by a wrong one with probability `teacher.label_noise`.
- analyze: a deterministic report of errors per label and the most frequent confusions.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections import Counter, defaultdict
from typing import Callable

import numpy as np

from evokd.config import Config
from evokd.io import read_jsonl
from evokd.paths import Prepared
from evokd.strategies import RANDOM_KIND, Strategy
from evokd.tasks.classification import confusions
from evokd.teachers.base import SynthesisRequest, Teacher, writing_strategy


def _rng(*parts: object) -> random.Random:
    """A generator seeded by a stable hash of `parts` (Python's hash() is salted per process)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _noise_rng(seed: int, sample_id: str, draw: int = 0) -> random.Random:
    """The label-noise generator of one sample; each draw (labelling) is independent of the others."""
    return _rng(seed, "noise", sample_id) if not draw else _rng(seed, "noise", sample_id, f"draw{draw}")


def draw_weighted(chosen: list[int], order: list[str], buckets: dict[str, list[int]],
                  weights: dict[str, float], budget: int, rng: random.Random) -> list[int]:
    """Extend `chosen` to `budget` pool indices: pick a bucket (label or entity type) with
    probability proportional to its weight, then a random member of it; a member in several
    buckets is taken once. `order` fixes the bucket order, so one seed gives one draw."""
    taken = set(chosen)
    live = [b for b in order if buckets.get(b)]
    while len(chosen) < budget and live:
        b = rng.choices(live, weights=[weights[x] for x in live])[0]
        bucket = buckets[b]
        i = bucket.pop(rng.randrange(len(bucket)))
        if i not in taken:
            taken.add(i)
            chosen.append(i)
        if not bucket:
            live.remove(b)
    return chosen


def hard_cap(quota: str, n_hard: int, n_buckets: int) -> int:
    """The most hard samples one label (entity type) may take: `synthesize.label_quota` "even"
    gives each of the `n_buckets` an equal share, "none" keeps the old bound of 40 %."""
    if quota == "even":
        return max(1, math.ceil(n_hard / max(1, n_buckets)))
    return max(1, math.ceil(0.4 * n_hard))


def take_capped(order, key: Callable[[int], str], n: int, cap: int, taken: list[int] | None = None,
                eligible: Callable[[int], bool] = lambda j: True) -> list[int]:
    """Extend `taken` with items of `order` (hardest first) up to `n`, at most `cap` per key;
    items already taken count against their key's cap."""
    out = list(taken or [])
    have = set(out)
    per_key = Counter(key(j) for j in out)
    for j in order:
        j = int(j)
        if len(out) >= n:
            break
        if j not in have and eligible(j) and per_key[key(j)] < cap:
            out.append(j)
            have.add(j)
            per_key[key(j)] += 1
    return out


def spread_over(items: list[int], key: Callable[[int], str], n: int) -> list[int]:
    """Up to `n` of `items`, taken round-robin over their keys (labels, entity types) in sorted
    order, so that easy samples cover every label the student gets right."""
    groups: dict[str, list[int]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    out: list[int] = []
    while len(out) < n and any(groups.values()):
        for k in sorted(groups):
            if groups[k] and len(out) < n:
                out.append(groups[k].pop())
    return out


class SimulatedTeacher(Teacher):
    def __init__(self, cfg: Config, prepared: Prepared = Prepared()):
        super().__init__()
        self.cfg = cfg
        self.prepared = prepared
        self._pool: list[dict] | None = None
        self._emb: np.ndarray | None = None

    # -- the pool -------------------------------------------------------------------------
    def _load_pool(self) -> tuple[list[dict], np.ndarray, dict[str, int]]:
        if self._pool is None:
            self._pool = read_jsonl(self.prepared.train)
            self._emb = np.load(self.prepared.train_embeddings)
        index = {row["id"]: i for i, row in enumerate(self._pool)}
        return self._pool, self._emb, index

    def _available(self, request: SynthesisRequest) -> list[int]:
        pool, _, _ = self._load_pool()
        used = {row.get("source_id", row["id"]) for row in request.known}
        return [i for i, row in enumerate(pool) if row["id"] not in used]

    # -- synthesize -----------------------------------------------------------------------
    def synthesize(self, request: SynthesisRequest) -> list[dict]:
        strategy = writing_strategy(self.cfg.synthesize.strategy)
        self.usage.calls += 1
        pool, emb, index = self._load_pool()
        available = self._available(request)
        n = request.n_hard + request.n_easy
        rng = _rng(self.cfg.seed, "synthesize", request.round)
        if not strategy.guided and strategy.ranking == "none":  # random: a draw, nobody ranks it
            chosen = [(i, RANDOM_KIND) for i in rng.sample(available, min(n, len(available)))]
        else:
            if strategy.guided:
                candidates = self._candidates(request, available, index, emb, rng)
            else:
                candidates = rng.sample(available, min(self.cfg.synthesize.candidates, len(available)))
            chosen = self._pick_by_student(request, candidates, rng, strategy)
        return [{"text": pool[i]["text"], "kind": kind, "source_id": pool[i]["id"]} for i, kind in chosen]

    def probe(self, request: SynthesisRequest, n: int) -> list[dict]:
        """Round 0's fresh texts: `n` pool texts drawn at random (what an LLM writes for the task
        alone), never a seed example; NER rows keep their tokens."""
        self.usage.calls += 1
        pool, _, _ = self._load_pool()
        available = self._available(request)
        chosen = _rng(self.cfg.seed, "probe").sample(available, min(n, len(available)))
        return [{"text": pool[i]["text"], "kind": "probe", "source_id": pool[i]["id"],
                 **({"tokens": pool[i]["tokens"]} if "tokens" in pool[i] else {})} for i in chosen]

    def _candidates(self, request, available, index, emb, rng) -> list[int]:
        """`synthesize.candidates` pool rows: a `guided_share` of them drawn by the analysis
        (`_guided_candidates`), the rest at random from the pool."""
        budget = min(self.cfg.synthesize.candidates, len(available))
        n_guided = int(round(self.cfg.synthesize.guided_share * budget))
        # Near-mistake rows come at least one per mistake, so with many mistakes and a small
        # budget the guided draw can overshoot its share: cut it there.
        guided = (self._guided_candidates(request, available, index, emb, rng, n_guided) if n_guided else [])[:n_guided]
        taken = set(guided)
        rest = [i for i in available if i not in taken]
        return guided + rng.sample(rest, max(0, min(budget - len(guided), len(rest))))

    def _near_mistakes(self, request, available, index, emb, budget) -> list[int]:
        """Pool rows nearest (cosine) to the previous batch's mistakes, up to half the budget."""
        wrong_ids = [index[r["source_id"]] for r in request.feedback
                     if not r["correct"] and r.get("source_id") in index]
        if not wrong_ids:
            return []
        avail = np.array(available)
        sims = emb[avail] @ emb[wrong_ids].T  # (available, wrong)
        per_mistake = max(1, (budget // 2) // len(wrong_ids))
        taken = set()
        for col in range(sims.shape[1]):
            for j in np.argsort(-sims[:, col])[: per_mistake]:
                if avail[j] not in taken:
                    taken.add(int(avail[j]))
        return sorted(taken)

    def _guided_candidates(self, request, available, index, emb, rng, budget: int) -> list[int]:
        """`budget` rows: half near the previous batch's mistakes, half from the weakest labels."""
        pool = self._pool
        chosen = self._near_mistakes(request, available, index, emb, budget)
        # Label weights: more draws for labels the analysis calls weak and labels with few
        # training samples so far (an LLM asked for coverage writes those).
        known = Counter(r["label"] for r in request.known)
        weak = set(request.analysis.get("weak_labels", []))
        weights = {lab: (3.0 if lab in weak else 1.0) / np.sqrt(1 + known[lab]) for lab in request.labels}
        by_label: dict[str, list[int]] = defaultdict(list)
        taken = set(chosen)
        for i in available:
            if i not in taken:
                by_label[pool[i]["label"]].append(i)
        return draw_weighted(chosen, request.labels, by_label, weights, budget, rng)

    def _pick_by_student(self, request: SynthesisRequest, candidates: list[int], rng: random.Random,
                         strategy: Strategy) -> list[tuple[int, str]]:
        """Score candidates with the previous student (`request.student`); unguided: the least
        sure, all hard; guided: hard = wrong or least sure (by the strategy's ranking), easy = right."""
        pool = self._pool
        scores = request.student.label_scores([pool[i]["text"] for i in candidates])
        names, probs, margin = scores.names, scores.probs, scores.margins
        col = {name: j for j, name in enumerate(names)}
        if not strategy.guided:  # uncertainty: the least sure of a random draw
            order = np.argsort(margin, kind="stable")[: request.n_hard + request.n_easy]
            return [(candidates[j], "hard") for j in order]
        p_gold = np.array([probs[j, col[pool[i]["label"]]] for j, i in enumerate(candidates)])
        predicted = probs.argmax(1)
        correct = np.array([names[predicted[j]] == pool[i]["label"] for j, i in enumerate(candidates)])
        # Hard: lowest gold probability (evokd: what the student gets most wrong) or smallest
        # margin (ranking least_sure, evokd-uncertainty), spread over the labels by
        # `synthesize.label_quota` so that one weak label does not crowd out the rest.
        hardness = margin if strategy.ranking == "least_sure" else p_gold
        order = np.argsort(hardness, kind="stable")
        quota = self.cfg.synthesize.label_quota
        label_of = lambda j: pool[candidates[j]]["label"]  # noqa: E731
        hard = take_capped(order, label_of, request.n_hard, hard_cap(quota, request.n_hard, len(request.labels)))
        if quota == "even":  # slots a label could not fill go to the hardest of any label
            hard = take_capped(order, label_of, request.n_hard, request.n_hard, taken=hard)
        # Easy: ones the student gets right, spread over labels (they guard against forgetting).
        rest = [j for j in range(len(candidates)) if j not in set(hard) and correct[j]]
        rng.shuffle(rest)
        easy = spread_over(rest, lambda j: pool[candidates[j]]["label"], request.n_easy)
        return [(candidates[j], "hard") for j in hard] + [(candidates[j], "easy") for j in easy]

    # -- label ----------------------------------------------------------------------------
    def label(self, samples: list[dict], labels: list[str], draw: int = 0) -> dict[str, dict]:
        """The pool's gold labels, each replaced with probability `teacher.label_noise`; `draw` > 0
        makes an independent noise draw (a second labelling)."""
        self.usage.calls += 1
        pool, _, index = self._load_pool()
        out = {}
        for sample in samples:
            i = index.get(sample.get("source_id", ""))
            if i is None:
                out[sample["id"]] = {"error": "unknown_text"}
                continue
            rng = _noise_rng(self.cfg.seed, sample["id"], draw)
            out[sample["id"]] = self._answer(pool[i], labels, rng, self.cfg.teacher.label_noise)
        return out

    def _answer(self, gold_row: dict, labels: list[str], rng: random.Random, noise: float) -> dict:
        """The gold label, replaced by another with probability `noise`."""
        gold = gold_row["label"]
        if noise and rng.random() < noise:
            gold = rng.choice([lab for lab in labels if lab != gold] or [gold])
        return {"label": gold}

    # -- analyze --------------------------------------------------------------------------
    def analyze(self, round: int, feedback: list[dict], labels: list[str]) -> dict:
        self.usage.calls += 1
        total = Counter(r["label"] for r in feedback)
        wrong = Counter(r["label"] for r in feedback if not r["correct"])
        rates = {lab: wrong[lab] / total[lab] for lab in labels if total[lab]}
        pairs = confusions([r["label"] for r in feedback], [r["predicted"] for r in feedback])
        mean = sum(wrong.values()) / max(1, len(feedback))
        # Weak: wrong at least as often as the batch as a whole (and at least once).
        weak = sorted((lab for lab, rate in rates.items() if rate > 0 and rate >= mean),
                      key=lambda lab: (-rates[lab], lab))
        unseen = [lab for lab in labels if not total[lab]]
        lines = [f"The round-{round} student got {len(feedback) - sum(wrong.values())} of "
                 f"{len(feedback)} new samples right."]
        if pairs:
            lines.append("Most frequent confusions: " + ", ".join(
                f"{p['gold']} read as {p['predicted']} ({p['count']})" for p in pairs[:5]) + ".")
        if weak:
            lines.append("Weakest labels: " + ", ".join(
                f"{lab} ({wrong[lab]}/{total[lab]} wrong)" for lab in weak) + ".")
        if unseen:
            lines.append("No feedback yet on: " + ", ".join(unseen) + ".")
        return {"summary": " ".join(lines), "weak_labels": weak + unseen, "confusions": pairs,
                "errors_per_label": {lab: {"wrong": wrong[lab], "total": total[lab]} for lab in labels}}
