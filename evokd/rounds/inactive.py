"""Placeholders for inactive round slots: cheap, constant, and never read by an active round
(active rounds are a prefix of the slots)."""

from __future__ import annotations

import shutil

from evokd.io import atomic_write_text, write_json, write_jsonl
from evokd.paths import Round


def write_placeholders(verb: str, k: int) -> None:
    rnd = Round(k)
    if verb == "synthesize":
        write_jsonl(rnd.synthesized, [])
    elif verb == "label":
        for path in (rnd.labelled, rnd.rejected, rnd.train_set):
            write_jsonl(path, [])
        atomic_write_text(rnd.card, f"# round {k}\n\nInactive round slot (rounds < {k}): no data.\n")
    elif verb == "train":
        shutil.rmtree(rnd.model, ignore_errors=True)
        atomic_write_text(rnd.model / "INACTIVE", f"round {k} is not active (rounds < {k})\n")
    elif verb == "evaluate":
        write_json(rnd.scores, {"round": k, "active": False})
        write_jsonl(rnd.feedback, [])
    elif verb == "analyze":
        write_json(rnd.analysis, {"round": k, "active": False})
    else:
        raise ValueError(verb)
