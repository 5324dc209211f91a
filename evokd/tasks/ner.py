"""Named-entity recognition: the tag set, seed sets per entity type, the teacher's answer (its
JSON schema, and turned into BIO tags), a sentence's entities as the label call answers them,
entity-level metrics (seqeval) and the per-sentence error analysis.

A sample is `{"id", "tokens", "tags", "text"}` (BIO tags; `text` = tokens joined by spaces, read
by dedup, leakage and embedding), plus `spans` where a teacher gave entity spans.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from evokd.data.conll import repair_bio
from evokd.errors import ConfigError
from evokd.tasks.base import Answer
from evokd.tasks.spans import bio_to_spans, spans_to_bio, tokenize


def tag_names(types: list[str]) -> list[str]:
    """The student's tag set: O, then B- and I- of each entity type."""
    return ["O"] + [f"{p}-{t}" for t in types for p in ("B", "I")]


def types_in(tags: list[str]) -> set[str]:
    return {tag[2:] for tag in tags if tag != "O"}


def draw_seed_sentences(rows: list[dict], types: list[str], shots: int, seed: int,
                        source: str = "train") -> list[dict]:
    """`shots` sentences for each entity type (drawn reproducibly, type by type in sorted order,
    never the same sentence twice), so that the first student has seen every type."""
    by_type: dict[str, list[dict]] = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["id"]):
        for kind in types_in(row["tags"]):
            by_type[kind].append(row)
    rng = random.Random(seed)
    chosen: list[dict] = []
    taken: set[str] = set()
    for kind in types:
        pool = [r for r in by_type[kind] if r["id"] not in taken]
        if len(pool) < shots:
            raise ConfigError(
                f"shots: {shots} is more than the {len(pool)} unused sentence(s) with entity type "
                f"{kind!r} in {source}; set shots to at most {len(pool)}"
            )
        for row in rng.sample(pool, shots):
            chosen.append(row)
            taken.add(row["id"])
    return chosen


def answer_to_tags(sample: dict, answer: dict, types: list[str]) -> Answer:
    """Turn a teacher's NER answer into the sample's tokens and tags, or a rejection.

    `{"tags": [...]}` (one BIO tag per token; orphan I- repaired to B-, counted `orphan_i`) or
    `{"entities": [...]}` (spans, by the rules of `evokd.tasks.spans`); `{"entities": []}` means
    no entities, a valid answer. `{"error": ...}` or no answer is `unlabelled`.
    """
    if "tags" not in answer and "entities" not in answer:
        return Answer(None, "unlabelled", str(answer.get("error", "no entities"))[:200],
                      record={"entities": None})
    tokens = sample.get("tokens") or tokenize(sample.get("text") or "")
    if "tags" in answer:
        tags = answer["tags"]
        record = {"tags": tags}
        if not isinstance(tags, list) or len(tags) != len(tokens):
            return Answer(None, "bad_tags", f"{len(tags) if isinstance(tags, list) else tags!r} tags "
                          f"for {len(tokens)} tokens", record=record)
        allowed = set(tag_names(types))
        unknown = next((t for t in tags if not isinstance(t, str) or t not in allowed), None)
        if unknown is not None:
            return Answer(None, "bad_type", str(unknown)[:80], record=record)
        fixed, where = repair_bio(list(tags))
        repairs = Counter({"orphan_i": len(where)}) if where else Counter()
        return Answer({"tokens": list(tokens), "tags": fixed, "text": " ".join(tokens)}, repairs=repairs)
    text = sample.get("text") if not sample.get("tokens") else None
    conv = spans_to_bio(list(tokens), answer["entities"], types, text=text)
    record = {"entities": answer["entities"]}
    if conv.tags is None:
        return Answer(None, conv.reason, conv.detail, conv.repairs, record=record)
    return Answer({"tokens": list(tokens), "tags": conv.tags, "text": " ".join(tokens),
                   "spans": answer["entities"]}, repairs=conv.repairs)


def metrics(gold: list[list[str]], predicted: list[list[str]], types: list[str]) -> dict:
    """Entity-level precision, recall and F1 (micro over entities, conlleval rules, seqeval),
    macro-F1 over the types present, token accuracy, and per type precision/recall/F1/support."""
    from seqeval.metrics import accuracy_score, classification_report

    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    report = classification_report(gold, predicted, output_dict=True, zero_division=0) if gold else {}
    per_label = {}
    for kind in types:
        row = report.get(kind, {})
        per_label[kind] = {"precision": round(float(row.get("precision", 0.0)), 4),
                           "recall": round(float(row.get("recall", 0.0)), 4),
                           "f1": round(float(row.get("f1-score", 0.0)), 4),
                           "support": int(row.get("support", 0))}
    micro = report.get("micro avg", {})
    present = [k for k in types if per_label[k]["support"] > 0]
    macro = sum(per_label[k]["f1"] for k in present) / len(present) if present else 0.0
    return {"f1": round(float(micro.get("f1-score", 0.0)), 4),
            "precision": round(float(micro.get("precision", 0.0)), 4),
            "recall": round(float(micro.get("recall", 0.0)), 4),
            "macro_f1": round(macro, 4),
            "accuracy": round(float(accuracy_score(gold, predicted)), 4) if gold else 0.0,
            "per_label": per_label}


def token_confusion(gold: list[list[str]], predicted: list[list[str]]) -> list[dict]:
    """Token-level confusion over entity types: each word's gold and predicted tag with the
    B-/I- prefix dropped (`O` stays `O`), counted per (actual, predicted) pair, sorted. Token
    level, not entity level, so that every word is in exactly one cell and boundary errors show
    as type-against-O cells."""
    strip = lambda tag: tag[2:] if tag[:2] in ("B-", "I-") else tag  # noqa: E731
    pairs = Counter((strip(g), strip(p)) for gs, ps in zip(gold, predicted) for g, p in zip(gs, ps))
    return [{"actual": g, "predicted": p, "count": n} for (g, p), n in sorted(pairs.items())]


def entity_errors(tokens: list[str], gold: list[str], predicted: list[str]) -> dict[str, list[dict]]:
    """A sentence's entity-level errors, by kind:
    - `confused`: a gold entity predicted with the same extent but another type;
    - `boundary`: a gold entity overlapped by a predicted one of its type but a different extent;
    - `missed`: a gold entity no prediction overlaps with its type (and not confused);
    - `over_predicted`: a predicted entity that overlaps no gold entity.
    Each item is {"text", "type"} (plus "predicted" for confused)."""
    g_spans, p_spans = bio_to_spans(tokens, gold), bio_to_spans(tokens, predicted)
    extent = lambda s: (s["token_start"], s["token_end"])  # noqa: E731
    overlaps = lambda a, b: a["token_start"] < b["token_end"] and b["token_start"] < a["token_end"]  # noqa: E731
    p_by_extent = {extent(s): s for s in p_spans}
    out: dict[str, list[dict]] = {"confused": [], "boundary": [], "missed": [], "over_predicted": []}
    for g in g_spans:
        p = p_by_extent.get(extent(g))
        if p is not None and p["type"] == g["type"]:
            continue
        if p is not None:
            out["confused"].append({"text": g["text"], "type": g["type"], "predicted": p["type"]})
        elif any(overlaps(g, q) and q["type"] == g["type"] for q in p_spans):
            out["boundary"].append({"text": g["text"], "type": g["type"]})
        else:
            out["missed"].append({"text": g["text"], "type": g["type"]})
    for p in p_spans:
        if not any(overlaps(p, g) for g in g_spans):
            out["over_predicted"].append({"text": p["text"], "type": p["type"]})
    return out


def entity_set(tags: list[str]) -> set[tuple[int, int, str]]:
    """A tag sequence's entities as (first token, last token + 1, type)."""
    return {(s["token_start"], s["token_end"], s["type"])
            for s in bio_to_spans([f"w{i}" for i in range(len(tags))], tags)}


def entities(tokens: list[str], tags: list[str]) -> list[dict]:
    """A sentence's entities as the label call answers them: [{"text", "type"}], in order."""
    return [{"text": s["text"], "type": s["type"]} for s in bio_to_spans(tokens, tags)]


def sentence_correct(gold: list[str], predicted: list[str]) -> bool:
    """Right when the predicted entities (extent and type) are exactly the gold ones."""
    return entity_set(gold) == entity_set(predicted)


def entities_schema(types: list[str]) -> dict:
    """The JSON schema of a sentence's entities in a teacher's reply: surface form and type
    (evokd.tasks.spans maps them to BIO)."""
    entity = {"type": "object", "additionalProperties": False, "required": ["text", "type"],
              "properties": {"text": {"type": "string"}, "type": {"type": "string", "enum": types}}}
    return {"type": "array", "items": entity}

