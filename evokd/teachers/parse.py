"""Tolerant reading of JSON from an LLM reply. Pure functions, no I/O.

Endpoints that cannot enforce a JSON schema (or models that ignore it) wrap the JSON in code
fences, put prose around it, leave trailing commas, or return one object where a list was asked
for. `extract_json` recovers the value in those cases; what it cannot recover is reported as a
`ParseFailure` with a short reason, so that the caller rejects and counts it instead of crashing.

Replies are untrusted input: every step is linear in the reply's length (a huge reply costs time
in proportion, never quadratic), and JSON nested deeper than `MAX_DEPTH` is refused before it is
decoded (`too_deep`): Python's decoder would raise RecursionError at about a thousand levels, and
anything deeper than a reply schema needs could not be written back out (rejected samples keep
their answer) or walked by later code without the same risk.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# The language tag of a code fence (```json): a word right after the opening backticks.
_FENCE_TAG = re.compile(r"^[a-zA-Z0-9_-]*[ \t]*(?:\n|$)")
# evokd's reply schemas nest 4 deep; 64 leaves room for any sane extra wrapping.
MAX_DEPTH = 64


@dataclass(frozen=True)
class ParseFailure:
    """Why a reply could not be read; `reason` is a short stable code, `detail` a snippet."""

    reason: str
    detail: str = ""


def _strip_trailing_commas(text: str) -> str:
    """Remove commas before a closing bracket, outside strings (one pass, linear time)."""
    out, in_string, escaped, n = [], False, False, len(text)
    for i, ch in enumerate(text):
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == ",":
            j = i + 1
            while j < n and text[j].isspace():
                j += 1
            if j < n and text[j] in "]}":
                continue
        out.append(ch)
    return "".join(out)


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting of `text` outside JSON strings (linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "}]" and depth:
            depth -= 1
    return deepest


class _TooDeep(ValueError):
    """A candidate nests deeper than MAX_DEPTH."""


def _loads(text: str) -> Any:
    if nesting_depth(text) > MAX_DEPTH:
        raise _TooDeep(text[:120])
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return json.loads(_strip_trailing_commas(text))


def _scan(text: str) -> tuple[list[str], list[str]]:
    """(every top-level {...} or [...] span of `text`, the contents of every top-level code
    fence), in order. One linear scan: inside a span, JSON strings and escapes are respected, so a
    bracket or a ``` fence inside a string (a text the reply quotes) is data, never structure."""
    spans, fences, depth, start, in_string, escaped = [], [], 0, None, False, False
    fence_open, i, n = None, 0, len(text)
    while i < n:
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"' and depth:
            in_string = True
        elif ch == "`" and depth == 0 and text.startswith("```", i):
            if fence_open is None:
                fence_open = i + 3
            else:
                fences.append(_FENCE_TAG.sub("", text[fence_open:i], count=1).strip())
                fence_open = None
            i += 3
            continue
        elif ch in "{[":
            if depth == 0:
                start = i
            depth += 1
        elif ch in "}]" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                spans.append(text[start : i + 1])
                start = None
        i += 1
    return spans, fences


def _structured(value: Any) -> bool:
    """An object, or a non-empty list of objects or strings: what a reply schema can be (a
    bracketed aside in prose, like "[1]", is not)."""
    return isinstance(value, dict) or (isinstance(value, list) and bool(value)
                                        and all(isinstance(v, (dict, str)) for v in value))


def _text_safe(value: Any) -> Any:
    """`value` with lone UTF-16 surrogates (JSON `"\\ud800"` decodes to one) replaced by U+FFFD:
    such a string cannot be written as UTF-8, so it would crash whatever stores it next."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=False).encode("utf-16-le", "surrogatepass")
        return json.loads(text.decode("utf-16-le", "replace"))


def extract_json(text: str | None) -> Any | ParseFailure:
    """The JSON value in an LLM reply, or a ParseFailure saying why there is none.

    1. The whole reply, if it is JSON: the reply's own value, whatever its strings quote.
    2. Otherwise the reply's top-level candidates: the contents of each code fence and each
       balanced {...} or [...] span, found outside JSON strings (a fence or an object quoted
       inside a text is part of that text, never a candidate). Those that decode to an object or
       a list of objects/strings count; equal ones are one. Exactly one: it. Several different
       ones: `ambiguous` (a reply that shows two answers, e.g. JSON echoed from a generated text
       beside its own, is rejected and counted rather than guessed at).
    Trailing commas are forgiven at every step.
    """
    if text is None or (isinstance(text, str) and not text.strip()):
        return ParseFailure("empty_reply")
    if not isinstance(text, str):
        return ParseFailure("not_text", type(text).__name__)
    too_deep = False
    try:
        return _text_safe(_loads(text.strip()))
    except _TooDeep:
        too_deep = True
    except (json.JSONDecodeError, ValueError, RecursionError):
        pass  # ValueError: e.g. an integer longer than Python's int-string limit
    spans, fences = _scan(text)
    found: list[Any] = []
    for candidate in fences + spans:
        if not candidate:
            continue
        try:
            value = _loads(candidate)
        except _TooDeep:
            too_deep = True
            continue
        except (json.JSONDecodeError, ValueError, RecursionError):
            continue
        if _structured(value) and value not in found:
            found.append(value)
            if len(found) > 1:  # already ambiguous; stop (keeps a reply of many objects linear)
                break
    if len(found) == 1:
        return _text_safe(found[0])
    if len(found) > 1:
        return ParseFailure("ambiguous", "more than one JSON value in the reply")
    if too_deep:
        return ParseFailure("too_deep", f"JSON nested deeper than {MAX_DEPTH} levels")
    return ParseFailure("not_json", text.strip()[:120])


def as_list(value: Any, key: str) -> list | ParseFailure:
    """The list under `key`, accepting a bare list, {key: [...]}, {key: {...}} or one object.

    A model asked for {"labels": [...]} may answer [...], {"labels": {...}} (a single item) or
    just the single item itself; all read as a list.
    """
    if isinstance(value, ParseFailure):
        return value
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        if key in value:
            inner = value[key]
            if isinstance(inner, list):
                return inner
            if isinstance(inner, (dict, str)):
                return [inner]
            return ParseFailure("wrong_shape", f"{key!r} is {type(inner).__name__}")
        # One object where a list of objects was asked for.
        return [value]
    return ParseFailure("wrong_shape", f"expected an object or a list, got {type(value).__name__}")


def item_text(item: Any) -> str | None:
    """A generated text given as a string or as {"text": ...}; None if neither."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("text", "question", "sentence", "input"):
            if isinstance(item.get(key), str):
                return item[key]
    return None
