"""What differs per task in the LLM teacher's calls: the JSON schemas of the replies and how a
feedback row or seed example is shown in a prompt (a JSON object for a data block). Replies are
read generically (evokd.teachers.openai); the labelling answer per text is handed to the task
(`Task.apply_answer` / the label stage) as is.

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


def synthesize_random_schema(labels: list[str]) -> dict:
    """The no-feedback generation call (strategies random and uncertainty): texts, no kinds."""
    return {"type": "object", "additionalProperties": False, "required": ["texts"],
            "properties": {"texts": _strings()}}


def _labelled(answer: dict, required: str) -> dict:
    """{"hard": [...], "easy": [...]} of {"text", <the label call's per-text answer>} objects."""
    item = {"type": "object", "additionalProperties": False, "required": ["text", required],
            "properties": {"text": {"type": "string"}, required: answer}}
    return {"type": "object", "additionalProperties": False, "required": ["hard", "easy"],
            "properties": {"hard": {"type": "array", "items": item}, "easy": {"type": "array", "items": item}}}


def analyze_schema(labels: list[str]) -> dict:
    return {"type": "object", "additionalProperties": False, "required": ["summary", "weak_labels"],
            "properties": {"summary": {"type": "string"},
                           "weak_labels": {"type": "array", "items": {"type": "string", "enum": labels}}}}


def _class_label(labels: list[str]) -> dict:
    return {"type": "string", "enum": labels}


def classification_label_schema(labels: list[str]) -> dict:
    item = {"type": "object", "additionalProperties": False, "required": ["id", "label"],
            "properties": {"id": {"type": "integer"}, "label": _class_label(labels)}}
    return {"type": "object", "additionalProperties": False, "required": ["labels"],
            "properties": {"labels": {"type": "array", "items": item}}}


def classification_synthesize_labelled_schema(labels: list[str]) -> dict:
    """Strategy evokd-gen-labels: hard and easy texts, each with its label (the label call's
    per-text answer, {"label"}, beside the text)."""
    return _labelled(_class_label(labels), "label")


def classification_example(row: dict) -> dict:
    """One example in a prompt's data block: the text, its true label, and the student's answer
    where it was wrong (a seed example or a right answer has no `student_said`)."""
    item = {"text": row["text"], "label": row["label"]}
    if not row.get("correct", True):
        item["student_said"] = row.get("predicted")
    return item


def _entities_schema(labels: list[str]) -> dict:
    entity = {"type": "object", "additionalProperties": False, "required": ["text", "type"],
              "properties": {"text": {"type": "string"}, "type": {"type": "string", "enum": labels}}}
    return {"type": "array", "items": entity}


def ner_label_schema(labels: list[str]) -> dict:
    """Per text, its entities by surface form and type; evokd.tasks.spans maps them to BIO."""
    item = {"type": "object", "additionalProperties": False, "required": ["id", "entities"],
            "properties": {"id": {"type": "integer"}, "entities": _entities_schema(labels)}}
    return {"type": "object", "additionalProperties": False, "required": ["labels"],
            "properties": {"labels": {"type": "array", "items": item}}}


def ner_synthesize_labelled_schema(labels: list[str]) -> dict:
    """Strategy evokd-gen-labels: hard and easy sentences, each with its entities (the label
    call's per-text answer, {"entities"}, beside the text)."""
    return _labelled(_entities_schema(labels), "entities")


def _entities(tokens: list[str], tags: list[str]) -> list[dict]:
    from evokd.tasks.spans import bio_to_spans

    return [{"text": s["text"], "type": s["type"]} for s in bio_to_spans(tokens, tags)]


def ner_example(row: dict) -> dict:
    """One example in a prompt's data block: the sentence, its true entities (in the label
    call's answer shape), and the ones the student found where it was wrong."""
    item = {"text": row["text"], "entities": _entities(row["tokens"], row["tags"])}
    if not row.get("correct", True) and row.get("predicted") is not None:
        item["student_found"] = _entities(row["tokens"], row["predicted"])
    return item


SCHEMAS: dict[str, dict[str, Callable[[list[str]], dict]]] = {
    "classification": {"synthesize": synthesize_schema, "synthesize_random": synthesize_random_schema,
                       "synthesize_labelled": classification_synthesize_labelled_schema,
                       "label": classification_label_schema, "analyze": analyze_schema},
    "ner": {"synthesize": synthesize_schema, "synthesize_random": synthesize_random_schema,
            "synthesize_labelled": ner_synthesize_labelled_schema,
            "label": ner_label_schema, "analyze": analyze_schema},
}
EXAMPLE_FORMATS: dict[str, Callable[[dict], dict]] = {"classification": classification_example,
                                                     "ner": ner_example}


def schema(task: str, kind: str, labels: list[str]) -> dict:
    if task not in SCHEMAS:
        raise ConfigError(f"teacher.provider openai does not support task {task!r} yet "
                          f"(no reply schema in evokd/teachers/schemas.py)")
    return SCHEMAS[task][kind](labels)


def example_format(task: str) -> Callable[[dict], dict]:
    if task not in EXAMPLE_FORMATS:
        raise ConfigError(f"teacher.provider openai does not support task {task!r} yet")
    return EXAMPLE_FORMATS[task]
