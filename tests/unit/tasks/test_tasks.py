"""The task seam (evokd.tasks): everything that differs between classification and NER is a
task's, and nothing outside evokd/tasks compares task names. What moved here from teachers/,
rounds/, cards/ and config.py must say and send exactly what it did before (reply schemas are in
the teacher's cache keys)."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from evokd.cards.card import hf_task
from evokd.config import parse_config
from evokd.errors import ConfigError
from evokd.tasks import TASKS, Task, format_mismatch, get_task
from evokd.teachers import schemas
from evokd.teachers.base import Teacher
from evokd.teachers.prompts import task_context

ROOT = Path(__file__).resolve().parents[3]
CLS, NER = get_task("classification"), get_task("ner")
SENT = {"id": "s1", "text": "Ann went to Paris", "tokens": ["Ann", "went", "to", "Paris"],
        "tags": ["B-PER", "O", "O", "B-LOC"]}


def test_registry_names_every_task_and_rejects_others():
    assert TASKS == ("classification", "ner")
    assert all(isinstance(get_task(name), Task) and get_task(name).name == name for name in TASKS)
    with pytest.raises(ConfigError, match="'pos' is not one of classification, ner"):
        get_task("pos")


@pytest.mark.parametrize("task, kind, digest", [
    ("classification", "label", "a485a9e107a5be3a"),
    ("classification", "synthesize_labelled", "ae54d58dfabf33ab"),
    ("ner", "label", "3d8d7ae55fc9df21"),
    ("ner", "synthesize_labelled", "0a0159fdde6486c5"),
])
def test_reply_schemas_are_byte_for_byte_those_of_before(task, kind, digest):
    """The schemas built around the task's per-text answer, as the earlier per-task functions
    wrote them (sha256 of the JSON sent): a change here would invalidate every cached reply."""
    sent = json.dumps(schemas.schema(task, kind, ["LOC", "PER"]))
    assert hashlib.sha256(sent.encode()).hexdigest()[:16] == digest


def test_task_free_schemas_are_the_same_for_both_tasks():
    for kind in ("synthesize", "synthesize_random", "analyze"):
        assert schemas.schema("classification", kind, ["A"]) == schemas.schema("ner", kind, ["A"])


def test_example_lines():
    assert CLS.example({"text": "t", "label": "A"}) == {"text": "t", "label": "A"}
    assert CLS.example({"text": "t", "label": "A", "correct": False, "predicted": "B"}) == \
        {"text": "t", "label": "A", "student_said": "B"}
    found = NER.example({**SENT, "correct": False, "predicted": ["B-PER", "O", "O", "O"]})
    assert found == {"text": "Ann went to Paris", "entities": [{"text": "Ann", "type": "PER"},
                                                                {"text": "Paris", "type": "LOC"}],
                     "student_found": [{"text": "Ann", "type": "PER"}]}
    assert "student_found" not in NER.example({**SENT, "correct": False})
    assert schemas.example_format("ner")(SENT) == NER.example(SENT)


def test_labels_of_a_row_verdicts_and_what_two_labellings_compare():
    assert CLS.labels_of({"label": "A"}) == {"A"} and CLS.labels_of({}) == set()
    assert NER.labels_of({"tags": ["B-PER", "I-PER", "I-LOC", "B-LOC"]}) == {"PER", "LOC"}
    assert CLS.verdicts({"label": "A", "correct": False}) == [("A", True)]
    # NER: per gold entity, not per sentence; without predicted tags, the sentence's verdict.
    assert sorted(NER.verdicts({**SENT, "predicted": ["B-PER", "O", "O", "O"], "correct": False})) == \
        [("LOC", True), ("PER", False)]
    assert sorted(NER.verdicts({**SENT, "correct": False})) == [("LOC", True), ("PER", True)]
    assert CLS.answer_key({"label": "A"}) == "A" and NER.answer_key(SENT) == SENT["tags"]


def test_the_cost_estimates_stand_in_wrong_answer_is_the_longest_a_prompt_could_show():
    assert CLS.longest_wrong_answer({"label": "A"}, ["A", "LONGEST", "B"]) == "LONGEST"
    assert NER.longest_wrong_answer(SENT, ["LOC", "PER"]) == SENT["tags"]


def test_a_seed_row_without_its_answer_and_its_answer_shown():
    assert CLS.without_answer({"id": "x", "text": "t", "label": "A"}) == {"id": "x", "text": "t"}
    bare = NER.without_answer({**SENT, "spans": []})
    assert set(bare) == {"id", "text", "tokens"}
    assert CLS.shown_answer({"label": "A"}) == "A"
    assert NER.shown_answer(SENT) == [{"text": "Ann", "type": "PER"}, {"text": "Paris", "type": "LOC"}]


def test_confusion_cells_and_labels():
    cells = [{"actual": "O", "predicted": "O", "count": 9}, {"actual": "PER", "predicted": "O", "count": 1}]
    assert CLS.confusion_cells(cells) == (cells, None)
    kept, note = NER.confusion_cells(cells)
    assert kept == cells[1:] and "O/O cell" in note
    assert CLS.confusion_labels(["A"]) == ["A"] and NER.confusion_labels(["PER"]) == ["PER", "O"]


def test_task_context_in_the_tasks_words():
    cls = task_context("classification", ["A"], None, {})
    ner = task_context("ner", ["PER"], "News.", {"PER": "people"})
    assert "from the labels and the examples" in cls and "The labels, with" in cls
    assert "The entity types, with" in ner and "- PER: people" in ner
    assert ner.endswith("Anything that is none of these types is not an entity and is not marked.")
    assert not cls.endswith("marked.")


def test_every_format_is_read_by_exactly_one_task():
    from evokd.config import FORMATS

    read = [fmt for name in TASKS for fmt in get_task(name).formats]
    assert sorted(read) == sorted(FORMATS)


def test_format_mismatch_messages_are_those_of_before():
    assert format_mismatch("classification", "csv") is None and format_mismatch("ner", "conll") is None
    assert format_mismatch("classification", "conll") == "conll is read for task: ner"
    assert format_mismatch("ner", "jsonl") == "task: ner reads CoNLL column files (dataset.format: conll)"
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    data["dataset"]["format"] = "conll"
    with pytest.raises(ConfigError, match="dataset.format is conll but task is classification: "
                                          "conll is read for task: ner"):
        parse_config(data)


def test_cards_and_simulated_teachers_come_from_the_task():
    assert hf_task("classification") == "text-classification" and hf_task("ner") == "token-classification"
    assert hf_task("something-else") == "something-else"  # a card from elsewhere
    from importlib import import_module

    for name in TASKS:
        module, cls = get_task(name).simulated_teacher.split(":")
        assert issubclass(getattr(import_module(module), cls), Teacher)


def test_tasks_import_no_teacher_code():
    for path in (ROOT / "evokd/tasks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("evokd.teachers") for n in names), path


def test_nothing_outside_tasks_says_ner():
    """The task's name is compared only in evokd/tasks (config.py declares the names once)."""
    said = set()
    for path in [*(ROOT / "evokd").rglob("*.py"), *(ROOT / "stages").glob("*.py")]:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("evokd/tasks/"):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if '"ner"' in line and not re.search(r"task: Literal\[", line):
                said.add(rel)
    assert not said, sorted(said)
