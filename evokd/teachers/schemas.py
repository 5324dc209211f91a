"""What differs per task in the LLM teacher's calls: the JSON schemas of the replies and how a
feedback row is shown in a prompt. Replies are read generically (evokd.teachers.openai); the
labelling answer per text is handed to the task (`Task.apply_answer` / the label stage) as is.

To add a task: a `<task>` entry in SCHEMAS and EXAMPLE_FORMATS, and templates under
`prompts/<set>/<task>/`.
"""

from __future__ import annotations

from typing import Callable

from evokd.errors import ConfigError


def _strings() -> dict:
    return {"type": "array", "items": {"type": "string"}}


def synthesize_schema(labels: list[str]) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["hard", "easy"],
            "properties": {"hard": _strings(), "easy": _strings()}}


def analyze_schema(labels: list[str]) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["summary", "weak_labels"],
            "properties": {"summary": {"type": "string"},
                           "weak_labels": {"type": "array", "items": {"type": "string", "enum": labels}}}}


def classification_label_schema(labels: list[str]) -> dict:
    item = {"type": "object", "additionalProperties": False, "required": ["id", "label"],
            "properties": {"id": {"type": "integer"}, "label": {"type": "string", "enum": labels}}}
    return {"type": "object", "additionalProperties": False, "required": ["labels"],
            "properties": {"labels": {"type": "array", "items": item}}}


def classification_example(row: dict) -> str:
    """One feedback row in a prompt: the text, its true label, and the student's if wrong."""
    line = f"- {row['text']!r} (true: {row['label']}"
    if not row.get("correct", True):
        line += f"; student said: {row.get('predicted')}"
    return line + ")"


SCHEMAS: dict[str, dict[str, Callable[[list[str]], dict]]] = {
    "classification": {"synthesize": synthesize_schema, "label": classification_label_schema,
                       "analyze": analyze_schema},
}
EXAMPLE_FORMATS: dict[str, Callable[[dict], str]] = {"classification": classification_example}


def schema(task: str, kind: str, labels: list[str]) -> dict:
    if task not in SCHEMAS:
        raise ConfigError(f"teacher.provider openai does not support task {task!r} yet "
                          f"(no reply schema in evokd/teachers/schemas.py)")
    return SCHEMAS[task][kind](labels)


def example_format(task: str) -> Callable[[dict], str]:
    if task not in EXAMPLE_FORMATS:
        raise ConfigError(f"teacher.provider openai does not support task {task!r} yet")
    return EXAMPLE_FORMATS[task]
