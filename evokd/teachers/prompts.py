"""Prompt templates: versioned files, one per task and call kind.

    <teacher.prompts>/<task>/<kind>.md
        kind: analyze | synthesize | synthesize_random | synthesize_labelled | label

`synthesize` is the analysis-guided generation call (strategies evokd, evokd-uncertainty);
`synthesize_random` the generation call that sees only the task context and the seed examples (strategies
random, uncertainty); `synthesize_labelled` the guided generation call that also answers each
text's label (strategy evokd-gen-labels, which sends no label call).

A template holds a system and a user message, each introduced by a line of its own,
`=== system ===` and `=== user ===`. Placeholders are `$name` or `${name}`
(`string.Template`; `$$` is a literal dollar), so JSON braces need no escaping. A placeholder
the caller does not supply, or a template without a user part, stops with a ConfigError naming
the file. dvc.yaml makes each teacher stage depend on the files it reads here, so editing a
template or selecting another set (`-S teacher.prompts=...`) re-runs exactly those stages.

What every kind is given (besides its own counts):
- `$task`: the task context (`task_context`): `dataset.description` and each label's (entity
  type's) name with its `dataset.label_descriptions` entry. It is the user's configuration, so
  it is rendered as instructions.
- data: texts, the student's answers, the teacher's own analysis and the user's seed examples
  come from outside the prompt author's hands (a generated text may hold anything). Each is a
  `data_block`: a named, fenced block of JSON objects, one per line, in which a text can never
  close its fence. Every template says that what is inside a block is data, not instructions.
  Generation kinds get `$examples` (the seed examples); analyze and synthesize get
  `$wrong_examples` and `$correct_examples`; synthesize gets `$analysis`; label gets `$texts`.
  The guided generation kinds also get `$hard_quota` and `$easy_labels` (evokd.teachers.openai).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from evokd.errors import ConfigError
from evokd.tasks import get_task

KINDS = ("analyze", "synthesize", "synthesize_random", "synthesize_labelled", "label")
_SECTION = re.compile(r"^===\s*(system|user)\s*===\s*$", re.MULTILINE)


def task_context(task: str, labels: list[str], description: str | None,
                 label_descriptions: dict[str, str]) -> str:
    """The `$task` block: what the texts are and what each label means (a label without a
    description is listed by name alone), in the task's words (`Task.label_noun`, and its
    `context_note` as a last line)."""
    t = get_task(task)
    noun = t.label_noun
    lines = ["Task: " + (" ".join(description.split()) if description else
                         f"(no task description was given; infer the task from the {noun} and the examples)"),
             "", f"The {noun}, with what each one means (use the names exactly as written):"]
    for name in labels:
        meaning = label_descriptions.get(name)
        lines.append(f"- {name}: {' '.join(meaning.split())}" if meaning else f"- {name}")
    if t.context_note:
        lines.append(t.context_note)
    return "\n".join(lines)


def data_block(name: str, rows: list[dict]) -> str:
    """`rows` as a fenced data block: `<name>`, one JSON object per line, `</name>` (empty
    between the fences when there are none). JSON escapes quotes and line breaks, and every
    `</` inside a value is written `<\\/` (the same string to a JSON reader), so no text can
    end its block early or pose as prompt text after it."""
    body = [json.dumps(row, ensure_ascii=False).replace("</", "<\\/") for row in rows]
    return "\n".join([f"<{name}>", *body, f"</{name}>"])


def template_path(prompt_set: str | Path, task: str, kind: str) -> Path:
    return Path(prompt_set) / task / f"{kind}.md"


@dataclass(frozen=True)
class PromptTemplate:
    path: Path
    system: str
    user: str

    def render(self, **values: object) -> list[dict]:
        """Chat messages with every placeholder filled."""
        messages = []
        for role, text in (("system", self.system), ("user", self.user)):
            if not text:
                continue
            try:
                content = Template(text).substitute({k: str(v) for k, v in values.items()})
            except KeyError as exc:
                raise ConfigError(f"{self.path}: unknown placeholder ${exc.args[0]} in the {role} "
                                  f"part; available: {', '.join('$' + k for k in sorted(values))}") from None
            except ValueError as exc:
                raise ConfigError(f"{self.path}: bad placeholder in the {role} part ({exc}); "
                                  f"write $$ for a literal dollar sign") from None
            messages.append({"role": role, "content": content.strip()})
        return messages


def parse_template(text: str, path: Path) -> PromptTemplate:
    parts = _SECTION.split(text)
    sections: dict[str, str] = {}
    for role, body in zip(parts[1::2], parts[2::2]):
        if role in sections:
            raise ConfigError(f"{path}: the '=== {role} ===' section appears twice")
        sections[role] = body.strip()
    if not sections.get("user"):
        raise ConfigError(f"{path}: no '=== user ===' section; a template needs at least a user "
                          f"message (and optionally a '=== system ===' one before it)")
    return PromptTemplate(path, sections.get("system", ""), sections["user"])


def load_template(prompt_set: str | Path, task: str, kind: str) -> PromptTemplate:
    path = template_path(prompt_set, task, kind)
    if not path.exists():
        raise ConfigError(f"{path}: prompt template not found; teacher.prompts is {str(prompt_set)!r} "
                          f"and a set needs {task}/{{{','.join(KINDS)}}}.md (see prompts/default)")
    return parse_template(path.read_text(encoding="utf-8"), path)
