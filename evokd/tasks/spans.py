"""Entity spans <-> BIO tags, and the word tokenizer for teacher-written NER text.

A teacher (an LLM) answers NER with the text's entities, either by surface form
`{"text": "New York", "type": "LOC"}` or by character offsets `{"start": 10, "end": 18, "type":
"LOC"}` (a `text` beside offsets is checked against them). `spans_to_bio` maps them onto the
sentence's tokens by these rules, counting every repair by name:

1. Types: a type in the schema is kept; one that equals a schema type but for case is repaired
   (`type_case`); a common long name (PERSON, ORGANIZATION, LOCATION, MISCELLANEOUS, ...) maps to
   its schema type (`type_alias`). Any other type rejects the answer (`bad_type`).
2. Surface forms are matched in the text on token boundaries (a match inside a token, like
   "York" in "Yorkshire", does not count), case-sensitively, else case-insensitively
   (`case_mismatch`). No match rejects the answer (`span_not_found`): dropping the span
   would teach the student that a real entity is `O`.
3. Offsets are snapped outward to whole tokens (`snapped`); offsets outside the text, or whose
   `text` differs from the text at the offsets and is not found elsewhere, reject the answer
   (`span_not_found`); a differing `text` found elsewhere is placed there (`offset_mismatch`).
4. Overlaps: spans are placed longest first (offset spans before surface forms), each at its
   first occurrence that overlaps nothing placed yet. So of two overlapping spans the longer
   wins (flat NER, as in CoNLL: "Bank of England" ORG over "England" LOC), and a form listed
   twice takes its first and second occurrence. A span with no free occurrence is dropped:
   `duplicate_span` if the same extent and type is already placed, else `overlap_dropped`.
5. Repeated surface forms: a form listed with one type that occurs again, unclaimed, is tagged
   there too (`repeated_form_extended`): a name means the same entity throughout a sentence,
   and leaving the second occurrence `O` would be label noise.

`[]` (no entities) is a valid answer: every tag is `O`. A non-list answer is a failure.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

# Dotted abbreviations (U.S.), words with inner hyphens/dots/apostrophes/ampersands
# (1996-08-22, AT&T, O'Neill), clitics split off ('s, 'll), then single non-space characters (punctuation).
_TOKEN = re.compile(
    r"(?:[^\W\d_]\.){2,}|\w+(?:(?:[-.&]|['’](?!(?:s|d|t|ll|re|ve|m)\b))\w+)*|['’]\w+|[^\w\s]",
    re.UNICODE)

TYPE_ALIASES = {
    "PERSON": "PER", "PEOPLE": "PER", "ORGANIZATION": "ORG", "ORGANISATION": "ORG",
    "COMPANY": "ORG", "LOCATION": "LOC", "PLACE": "LOC", "GPE": "LOC",
    "MISCELLANEOUS": "MISC", "OTHER": "MISC",
}


def tokenize(text: str) -> list[str]:
    """Words and punctuation of a teacher-written text, close to CoNLL-2003 tokenisation."""
    return _TOKEN.findall(text)


def token_offsets(tokens: list[str], text: str) -> list[tuple[int, int]]:
    """Character (start, end) of each token in `text`, found left to right."""
    offsets, pos = [], 0
    for token in tokens:
        start = text.find(token, pos)
        if start < 0:
            raise ValueError(f"token {token!r} not found in the text after position {pos}")
        offsets.append((start, start + len(token)))
        pos = start + len(token)
    return offsets


def bio_to_spans(tokens: list[str], tags: list[str], text: str | None = None) -> list[dict]:
    """Entities of a BIO-tagged sentence: {"text", "type", "start", "end" (characters in `text`,
    default the tokens joined by spaces), "token_start", "token_end" (exclusive)}.
    An orphan `I-X` starts an entity, as the loader's repair rule does."""
    if len(tokens) != len(tags):
        raise ValueError(f"{len(tokens)} tokens but {len(tags)} tags")
    text = " ".join(tokens) if text is None else text
    offsets = token_offsets(tokens, text)
    spans: list[dict] = []
    start, kind = None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        continues = tag.startswith("I-") and kind == tag[2:]
        if start is not None and not continues:
            a, b = offsets[start][0], offsets[i - 1][1]
            spans.append({"text": text[a:b], "type": kind, "start": a, "end": b,
                          "token_start": start, "token_end": i})
            start, kind = None, None
        if tag != "O" and not continues:
            start, kind = i, tag[2:]
    return spans


@dataclass
class Conversion:
    """The outcome of `spans_to_bio`: tags (None when rejected), repairs, rejection reason."""

    tags: list[str] | None
    repairs: Counter = field(default_factory=Counter)
    reason: str | None = None
    detail: str | None = None


def resolve_type(name: object, types: list[str]) -> tuple[str | None, str | None]:
    """(schema type, repair name or None); (None, None) when the type is not in the schema."""
    if not isinstance(name, str) or not name.strip():
        return None, None
    name = name.strip()
    if name in types:
        return name, None
    by_upper = {t.upper(): t for t in types}
    if name.upper() in by_upper:
        return by_upper[name.upper()], "type_case"
    alias = TYPE_ALIASES.get(name.upper())
    if alias is not None and alias.upper() in by_upper:
        return by_upper[alias.upper()], "type_alias"
    return None, None


def _occurrences(surface: str, text: str, starts: dict[int, int], ends: dict[int, int],
                 fold: bool) -> list[tuple[int, int]]:
    """Token ranges (first, last+1) where `surface` occurs in `text` on token boundaries."""
    hay, needle = (text.lower(), surface.lower()) if fold else (text, surface)
    if fold and (len(hay) != len(text) or len(needle) != len(surface)):
        return []
    found, pos = [], hay.find(needle)
    while pos >= 0:
        end = pos + len(needle)
        if pos in starts and end in ends:
            found.append((starts[pos], ends[end] + 1))
        pos = hay.find(needle, pos + 1)
    return found


def spans_to_bio(tokens: list[str], spans: object, types: list[str],
                 text: str | None = None) -> Conversion:
    """BIO tags for `tokens` from a teacher's entity spans, by the rules in the module docstring."""
    if not isinstance(spans, list):
        return Conversion(None, reason="not_a_list", detail=type(spans).__name__)
    text = " ".join(tokens) if text is None else text
    offsets = token_offsets(tokens, text)
    starts = {a: i for i, (a, _) in enumerate(offsets)}
    ends = {b: i for i, (_, b) in enumerate(offsets)}
    repairs: Counter = Counter()
    # (priority, length, order, candidate token ranges, type, surface form)
    wanted: list[tuple] = []
    for order, span in enumerate(spans):
        if not isinstance(span, dict):
            return Conversion(None, repairs, "bad_span", repr(span)[:80])
        kind, fix = resolve_type(span.get("type", span.get("label")), types)
        if kind is None:
            return Conversion(None, repairs, "bad_type", str(span.get("type", span.get("label")))[:80])
        if fix:
            repairs[fix] += 1
        surface = span.get("text")
        surface = " ".join(surface.split()) if isinstance(surface, str) else None
        if isinstance(span.get("start"), int) and isinstance(span.get("end"), int):
            a, b = span["start"], span["end"]
            covered = [i for i, (x, y) in enumerate(offsets) if x < b and y > a]
            at_offsets = text[a:b] if 0 <= a < b <= len(text) else None
            if covered and (surface is None or at_offsets == surface):
                lo, hi = covered[0], covered[-1] + 1
                if offsets[lo][0] != a or offsets[hi - 1][1] != b:
                    repairs["snapped"] += 1
                wanted.append((0, offsets[hi - 1][1] - offsets[lo][0], order, [(lo, hi)], kind, None))
                continue
            if surface is None:
                return Conversion(None, repairs, "span_not_found", f"offsets {a}-{b}")
            repairs["offset_mismatch"] += 1
        if not surface:
            return Conversion(None, repairs, "bad_span", repr(span)[:80])
        places = _occurrences(surface, text, starts, ends, fold=False)
        if not places:
            places = _occurrences(surface, text, starts, ends, fold=True)
            if not places:
                return Conversion(None, repairs, "span_not_found", surface[:80])
            repairs["case_mismatch"] += 1
        wanted.append((1, len(surface), order, places, kind, surface))

    tags = ["O"] * len(tokens)
    owner: list[tuple | None] = [None] * len(tokens)  # (lo, hi, type) of the span on each token
    forms: dict[str, set[str]] = {}
    for _, _, _, places, kind, surface in sorted(wanted, key=lambda w: (w[0], -w[1], w[2])):
        free = next(((lo, hi) for lo, hi in places if all(o is None for o in owner[lo:hi])), None)
        if free is None:
            same = any(owner[lo] == (lo, hi, kind) for lo, hi in places)
            repairs["duplicate_span" if same else "overlap_dropped"] += 1
            continue
        _place(tags, owner, free, kind)
        if surface is not None:
            forms.setdefault(surface, set()).add(kind)
    for surface, kinds in forms.items():
        if len(kinds) != 1:
            continue
        for lo, hi in _occurrences(surface, text, starts, ends, fold=False):
            if all(o is None for o in owner[lo:hi]):
                _place(tags, owner, (lo, hi), next(iter(kinds)))
                repairs["repeated_form_extended"] += 1
    return Conversion(tags, repairs)


def _place(tags: list[str], owner: list, where: tuple[int, int], kind: str) -> None:
    lo, hi = where
    for i in range(lo, hi):
        tags[i] = ("B-" if i == lo else "I-") + kind
        owner[i] = (lo, hi, kind)
