#!/usr/bin/env python3
"""Write recipes/conll2003.yaml: params.yaml with the NER recipe's keys (docs/ner.md) and the
CoNLL-2003 task context, so the recipe never falls behind params.yaml (a test checks it is this
script's output). The CoNLL `dataset:` block, with its entity-type descriptions, lives in
recipes/conll2003.dataset.yaml; every other line is params.yaml's, comments included.

    python scripts/conll_recipe.py          # rewrite the recipe
    python scripts/conll_recipe.py --check  # exit 1 if it is out of date
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = """\
# A ready params.yaml for named-entity recognition on the CoNLL-2003 English data the project
# carries (data/raw/conll2003, research use only: see its SOURCE.md). Use it with
#   cp recipes/conll2003.yaml params.yaml && dvc exp run
# Written by scripts/conll_recipe.py from params.yaml: the NER keys of docs/ner.md set, and the task
# context (recipes/conll2003.dataset.yaml) written for CoNLL-2003's four entity types after its
# annotation guidelines. Edit those two files, not this one.
"""
# key line in params.yaml (after its indentation) -> the recipe's value; the comment is kept.
VALUES = {"task": "ner", "shots": "2", "n_hard": "32", "epochs": "3", "max_length": "128", "ceiling": "null"}
SECTIONS = {"n_hard": "synthesize", "epochs": "train", "max_length": "train", "ceiling": "report"}


def render() -> str:
    params = (ROOT / "params.yaml").read_text(encoding="utf-8")
    dataset = (ROOT / "recipes/conll2003.dataset.yaml").read_text(encoding="utf-8")
    out, block, skipping = [], None, False
    for line in params.splitlines(keepends=True):
        top = re.match(r"^([a-z_]+):", line)
        if top:
            block = top.group(1)
            skipping = block == "dataset"
            if skipping:
                out.append(dataset if dataset.endswith("\n") else dataset + "\n")
                continue
        elif skipping and (line.startswith(" ") or not line.strip()):
            continue
        m = re.match(r"^(\s*)([a-z_]+):(\s*)(\S+)(.*)$", line.rstrip("\n"))
        if m and m.group(2) in VALUES and SECTIONS.get(m.group(2), None) in (None, block) \
                and (m.group(2) in SECTIONS or not m.group(1)):
            line = f"{m.group(1)}{m.group(2)}:{m.group(3)}{VALUES[m.group(2)].ljust(len(m.group(4)))}{m.group(5)}\n"
        out.append(line)
    return HEADER + "".join(out)


if __name__ == "__main__":
    target = ROOT / "recipes/conll2003.yaml"
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if target.read_text(encoding="utf-8") == text else 1)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target.relative_to(ROOT)}")
