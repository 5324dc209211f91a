"""The JSON schemas of the LLM teacher's replies, and how a row is shown in a prompt. What
differs per task (a text's answer: its schema, and a row as an example line) is the task's
(`Task.answer_schema`, `Task.answer_field`, `Task.example`); this module builds the replies
around it. Replies are read generically (evokd.teachers.openai); the labelling answer per text
is handed to the task (`Task.apply_answer` / the label stage) as is.

To add a task: the task (evokd.tasks), and templates under `prompts/<set>/<task>/`.
"""

from __future__ import annotations

from typing import Callable

from evokd.tasks import get_task


def _strings() -> dict:
    return {"type": "array", "items": {"type": "string"}}


def synthesize_schema(labels: list[str]) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["hard", "easy"],
            "properties": {"hard": _strings(), "easy": _strings()}}


def synthesize_random_schema(labels: list[str]) -> dict:
    """The no-feedback generation call (strategies random and uncertainty): texts, no kinds."""
    return {"type": "object", "additionalProperties": False, "required": ["texts"],
            "properties": {"texts": _strings()}}


def synthesize_labelled_schema(field: str, answer: dict) -> dict:
    """Strategy evokd-gen-labels: {"hard": [...], "easy": [...]} of {"text", <field>} objects,
    each text with the label call's per-text answer beside it."""
    item = {"type": "object", "additionalProperties": False, "required": ["text", field],
            "properties": {"text": {"type": "string"}, field: answer}}
    return {"type": "object", "additionalProperties": False, "required": ["hard", "easy"],
            "properties": {"hard": {"type": "array", "items": item}, "easy": {"type": "array", "items": item}}}


def label_schema(field: str, answer: dict) -> dict:
    """The label call: {"labels": [{"id", <field>}]}, one per text it was sent."""
    item = {"type": "object", "additionalProperties": False, "required": ["id", field],
            "properties": {"id": {"type": "integer"}, field: answer}}
    return {"type": "object", "additionalProperties": False, "required": ["labels"],
            "properties": {"labels": {"type": "array", "items": item}}}


def analyze_schema(labels: list[str]) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["summary", "weak_labels"],
            "properties": {"summary": {"type": "string"},
                           "weak_labels": {"type": "array", "items": {"type": "string", "enum": labels}}}}


# Reply schemas that are the same for every task, by call kind.
_PLAIN: dict[str, Callable[[list[str]], dict]] = {
    "synthesize": synthesize_schema, "synthesize_random": synthesize_random_schema,
    "analyze": analyze_schema}
# Reply schemas built around the task's per-text answer, by call kind.
_ANSWERED: dict[str, Callable[[str, dict], dict]] = {
    "synthesize_labelled": synthesize_labelled_schema, "label": label_schema}


def schema(task: str, kind: str, labels: list[str]) -> dict:
    """The reply schema of a `kind` call for task `task` with label set `labels`."""
    if kind in _PLAIN:
        return _PLAIN[kind](labels)
    t = get_task(task)
    return _ANSWERED[kind](t.answer_field, t.answer_schema(labels))


def example_format(task: str) -> Callable[[dict], dict]:
    """How a row is shown in a prompt's data block (`Task.example`)."""
    return get_task(task).example
