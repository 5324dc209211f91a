"""What a reply cut at `teacher.max_tokens` still holds: its complete items.

A reply with `finish_reason: length` stops mid-JSON, e.g.

    {"labels": [{"id": 1, "label": "HUM"}, {"id": 2, "label": "LO

`extract_json` (evokd.teachers.parse) finds no JSON value in it. `salvage_truncated` closes it
after the last complete item of the outermost list still open at the cut, and decodes that:

    {"labels": [{"id": 1, "label": "HUM"}]}

The unit kept is a whole item of that list: an object whose closing brace arrived, or a string
whose closing quote did. Anything deeper is never cut open: an NER answer
{"id": 2, "entities": [...]} with half its entities would be a wrong label, not a partial one, so
it is dropped whole. Lists closed before the cut are kept as written ({"hard": [...]} complete,
{"easy": [...]} cut); with no list open at the cut, the complete key-value pairs of the open
object are kept ({"summary": "..."} cut inside its text keeps nothing).

Why not an incremental JSON parser: jiter's `partial_mode` (already installed with openai)
decodes a prefix, but returns a cut object such as {"id": 2} as if it were whole, so it cannot
tell a complete item from a cut one; the scanner below has to track that anyway, and once it
knows where the last complete item ends, the standard decoder reads the closed prefix.

The scan is one pass, linear in the reply's length, with strings and escapes respected; the
result goes through `extract_json`, so its depth limit and other guards apply to it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evokd.teachers.parse import ParseFailure, extract_json


@dataclass
class _Open:
    """An open container during the scan: its closing bracket, and where its last complete
    child ends (just after the opening bracket while it has none)."""

    closer: str
    good: int


def _open_value(text: str) -> tuple[int, list[_Open]] | None:
    """Where the last top-level JSON value still open at the end of `text` starts, and its
    containers open at the cut (outermost first); None when every bracket is closed. Text
    between top-level values (prose, a code fence) is not scanned for strings."""
    stack: list[_Open] = []
    start = 0
    in_string = escaped = False
    string_is_value = False  # a string inside a list, or an object's value (not a key)
    expect_key = False  # in an object, between '{' or ',' and the next ':'
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if string_is_value:
                    stack[-1].good = i + 1
            continue
        if not stack:
            if ch in "{[":
                start = i
            else:
                continue
        if ch == '"':
            in_string = True
            string_is_value = not (stack[-1].closer == "}" and expect_key)
        elif ch in "{[":
            stack.append(_Open("}" if ch == "{" else "]", i + 1))
            expect_key = ch == "{"
        elif ch in "}]":
            if ch != stack[-1].closer:
                return None  # not JSON: leave it to the caller's failure
            stack.pop()
            if stack:
                stack[-1].good = i + 1
                expect_key = False
        elif ch == ",":
            expect_key = stack[-1].closer == "}"
            # a number, true, false or null before it is complete now
            j = i - 1
            while j >= 0 and text[j].isspace():
                j -= 1
            if j >= 0 and text[j] not in ",[{:\"}]":
                stack[-1].good = j + 1
        elif ch == ":":
            expect_key = False
    return (start, stack) if stack else None


def salvage_truncated(text: str | None) -> Any | ParseFailure:
    """The complete part of a JSON reply cut off mid-way (see the module docstring), or a
    ParseFailure("truncated") when nothing complete is left. Callers use it only for replies the
    endpoint says were cut (`finish_reason: length`) and that `extract_json` could not read."""
    if not isinstance(text, str):
        return ParseFailure("truncated", "the reply hit teacher.max_tokens")
    found = _open_value(text)
    if found is None:
        return ParseFailure("truncated", "the reply hit teacher.max_tokens")
    start, stack = found
    # Cut inside the outermost open list (its items are the unit), else inside the root object.
    level = next((n for n, c in enumerate(stack) if c.closer == "]"), 0)
    closed = text[start: stack[level].good] + "".join(c.closer for c in reversed(stack[: level + 1]))
    value = extract_json(closed)
    if isinstance(value, ParseFailure):
        return ParseFailure("truncated", f"the reply hit teacher.max_tokens ({value.reason})")
    return value
