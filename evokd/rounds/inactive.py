"""Placeholders for inactive round slots: cheap, constant, and never read by an active round
(active rounds are a prefix of the slots).

A JSON Lines placeholder holds one blank line, not zero bytes: DVC prints "WARNING: '<out>' is
empty." for every zero-byte output it saves, and the 8 inactive slots of a default run gave 164
such lines per `dvc repro`, burying the warnings that matter. evokd's reader, pandas and
`datasets` read a blank line as no rows. Active rounds write strict JSON Lines (an empty
`rejected.jsonl` stays zero bytes: a warning there at least says something true)."""

from __future__ import annotations

import shutil

from evokd.io import atomic_write_text, write_json
from evokd.paths import Round


NO_ROWS = "\n"


def _no_rows(path) -> None:
    atomic_write_text(path, NO_ROWS)


def write_placeholders(verb: str, k: int) -> None:
    rnd = Round(k)
    if verb == "synthesize":
        _no_rows(rnd.synthesized)
    elif verb == "label":
        for path in (rnd.labelled, rnd.rejected, rnd.train_set):
            _no_rows(path)
        atomic_write_text(rnd.card, f"# round {k}\n\nInactive round slot (rounds < {k}): no data.\n")
    elif verb == "train":
        shutil.rmtree(rnd.model, ignore_errors=True)
        atomic_write_text(rnd.model / "INACTIVE", f"round {k} is not active (rounds < {k})\n")
    elif verb == "evaluate":
        write_json(rnd.scores, {"round": k, "active": False})
        _no_rows(rnd.feedback)
    elif verb == "analyze":
        write_json(rnd.analysis, {"round": k, "active": False})
    else:
        raise ValueError(verb)
