"""The offline teacher for NER: the simulated teacher's pool play, with sentences and entity types.

- synthesize: candidates are pool sentences near the previous batch's wrong sentences (in the
  pool embedding made once by `prepare`) and sentences holding the entity types the analysis
  calls weak or the training set has least of (sentences without entities are drawn too: they
  teach `O`). The previous student tags them; `hard` are those whose gold tag it finds least
  probable on some word (at most 40 % led by one type), `easy` ones it tags entirely right.
- label: the pool sentence's gold tags. With `teacher.label_noise`, each entity's type is
  replaced by another type with that probability: the mistake an LLM labeller typically makes
  (boundaries and the entity's existence are kept).
- analyze: per entity type, how often the student missed it, confused it with another type,
  got its boundary wrong, or predicted it where there is none, with example sentences.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from evokd.strategies import Strategy
from evokd.tasks.ner import entity_errors, sentence_correct
from evokd.tasks.spans import bio_to_spans
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.simulated import SimulatedTeacher, draw_weighted, hard_cap, spread_over, take_capped

NO_ENTITY = "O"  # bucket of sentences without entities


def _types(row: dict) -> set[str]:
    return {tag[2:] for tag in row["tags"] if tag != "O"}


class SimulatedNerTeacher(SimulatedTeacher):
    # -- synthesize -----------------------------------------------------------------------
    def synthesize(self, request: SynthesisRequest) -> list[dict]:
        samples = super().synthesize(request)
        pool, _, index = self._load_pool()
        return [{**s, "tokens": pool[index[s["source_id"]]]["tokens"]} for s in samples]

    def _guided_candidates(self, request, available, index, emb, rng, budget: int) -> list[int]:
        """`budget` rows: half near the previous batch's wrong sentences, the rest drawn type by type."""
        pool = self._pool
        chosen = self._near_mistakes(request, available, index, emb, budget)
        known = Counter(t for r in request.known for t in (_types(r) or {NO_ENTITY}))
        weak = set(request.analysis.get("weak_labels", []))
        buckets = [*request.labels, NO_ENTITY]
        weights = {t: (3.0 if t in weak else 1.0) / np.sqrt(1 + known[t]) for t in buckets}
        weights[NO_ENTITY] *= 0.5
        by_type: dict[str, list[int]] = defaultdict(list)
        taken = set(chosen)
        for i in available:
            if i not in taken:
                for t in sorted(_types(pool[i]) or {NO_ENTITY}):
                    by_type[t].append(i)
        return draw_weighted(chosen, buckets, by_type, weights, budget, rng)

    def _pick_by_student(self, request: SynthesisRequest, candidates: list[int], rng,
                         strategy: Strategy) -> list[tuple[int, str]]:
        from evokd.data.conll import repair_bio

        pool = self._pool
        scores = request.student.word_scores([pool[i]["tokens"] for i in candidates])
        names, probs, margins = scores.names, scores.probs, scores.margins
        col = {name: j for j, name in enumerate(names)}
        n = request.n_hard + request.n_easy
        if not strategy.guided:  # uncertainty: the least sure of a random draw
            order = sorted(range(len(candidates)), key=lambda j: margins[j])[:n]
            return [(candidates[j], "hard") for j in order]
        lead, p_gold, correct = [], [], []
        for j, i in enumerate(candidates):
            gold = pool[i]["tags"]
            word_p = np.array([probs[j][w, col[t]] if t in col else 0.0 for w, t in enumerate(gold)])
            worst = int(word_p.argmin()) if len(word_p) else 0
            p_gold.append(float(word_p.min()) if len(word_p) else 1.0)
            # The type that makes the sentence hard: that of its least probable gold tag.
            lead.append(gold[worst][2:] if gold and gold[worst] != "O" else
                        (sorted(_types(pool[i])) or [NO_ENTITY])[0])
            predicted = repair_bio([names[k] for k in probs[j].argmax(1)])[0]
            correct.append(sentence_correct(gold, predicted))
        # evokd: the lowest gold-tag probability first; ranking least_sure (evokd-uncertainty):
        # the smallest margin.
        hardness = margins if strategy.ranking == "least_sure" else np.array(p_gold)
        # Wrong sentences first, then the least sure right ones, spread over the types that make
        # them hard (sentences without entities are a bucket of their own) by
        # `synthesize.label_quota`.
        order = np.argsort(hardness, kind="stable")
        quota = self.cfg.synthesize.label_quota
        cap = hard_cap(quota, request.n_hard, len(request.labels) + 1)
        hard = take_capped(order, lead.__getitem__, request.n_hard, cap, eligible=lambda j: not correct[j])
        hard = take_capped(order, lead.__getitem__, request.n_hard, cap, taken=hard)
        if quota == "even":  # slots a type could not fill go to the hardest of any type
            hard = take_capped(order, lead.__getitem__, request.n_hard, request.n_hard, taken=hard)
        rest = [j for j in range(len(candidates)) if j not in set(hard) and correct[j]]
        rng.shuffle(rest)
        easy = spread_over(rest, lambda j: lead[j], request.n_easy)
        return [(candidates[j], "hard") for j in hard] + [(candidates[j], "easy") for j in easy]

    # -- label ----------------------------------------------------------------------------
    def _answer(self, gold_row: dict, labels: list[str], rng, noise: float) -> dict:
        """The gold tags; with probability `noise` per entity, its type swapped for another."""
        tags = list(gold_row["tags"])
        if noise:
            for span in bio_to_spans(gold_row["tokens"], tags):
                others = [t for t in labels if t != span["type"]]
                if others and rng.random() < noise:
                    kind = rng.choice(others)
                    for w in range(span["token_start"], span["token_end"]):
                        tags[w] = ("B-" if w == span["token_start"] else "I-") + kind
        return {"tags": tags}

    # -- analyze --------------------------------------------------------------------------
    def analyze(self, round: int, feedback: list[dict], labels: list[str]) -> dict:
        self.usage.calls += 1
        kinds = ("missed", "confused", "boundary", "over_predicted")
        errors = {t: Counter() for t in labels}
        gold_total: Counter = Counter()
        pairs: Counter = Counter()
        examples: dict[str, list[str]] = defaultdict(list)
        for row in feedback:
            found = entity_errors(row["tokens"], row["tags"], row["predicted"])
            gold_total.update(s["type"] for s in bio_to_spans(row["tokens"], row["tags"]))
            for kind in kinds:
                for e in found[kind]:
                    errors.setdefault(e["type"], Counter())[kind] += 1
                    if kind == "confused":
                        pairs[(e["type"], e["predicted"])] += 1
                    if len(examples[e["type"]]) < 2 and row["text"] not in examples[e["type"]]:
                        examples[e["type"]].append(row["text"])
        wrong_of = {t: sum(errors[t][k] for k in kinds) for t in labels}
        rates = {t: wrong_of[t] / max(1, gold_total[t]) for t in labels if wrong_of[t] or gold_total[t]}
        mean = sum(wrong_of.values()) / max(1, sum(gold_total.values()))
        weak = sorted((t for t, r in rates.items() if wrong_of[t] and r >= mean),
                      key=lambda t: (-rates[t], t))
        unseen = [t for t in labels if not gold_total[t]]
        right = sum(r["correct"] for r in feedback)
        lines = [f"The round-{round} student tagged {right} of {len(feedback)} new sentences exactly right."]
        ranked = sorted((t for t in labels if wrong_of[t]), key=lambda t: (-rates[t], t))
        for t in ranked:  # every type with errors, worst first
            parts = [f"{errors[t][k]} {k.replace('_', '-')}" for k in kinds if errors[t][k]]
            lines.append(f"{t}: {', '.join(parts)} (of {gold_total[t]} {t} entities)"
                         + (f", e.g. \"{examples[t][0]}\"" if examples[t] else "") + ".")
        confusions = [{"gold": g, "predicted": p, "count": c}
                      for (g, p), c in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]
        if confusions:
            lines.append("Most frequent confusions: " + ", ".join(
                f"{c['gold']} read as {c['predicted']} ({c['count']})" for c in confusions[:5]) + ".")
        if unseen:
            lines.append("No feedback yet on: " + ", ".join(unseen) + ".")
        return {"summary": " ".join(lines), "weak_labels": weak + [t for t in unseen if t not in weak],
                "confusions": confusions,
                "errors_per_label": {t: {"total": gold_total[t], **{k: errors[t][k] for k in kinds}}
                                     for t in labels},
                "examples": dict(examples)}
