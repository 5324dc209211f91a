"""One DDP worker of a launched training (see `evokd.student.launch`): reads the spec, runs the
same training function (`evokd.student.train.fine_tune`) as a single-process run, and rank 0
writes the log back.

Run by `accelerate launch ... -m evokd.student.worker <spec.json>`, never by hand."""

from __future__ import annotations

import sys

from evokd.config import TrainConfig
from evokd.io import iter_jsonl, read_json, write_json


def main(spec_path: str) -> None:
    from evokd.student.runtime import is_main_process
    from evokd.student.train import fine_tune

    spec = read_json(spec_path)
    log = fine_tune(spec["head"], spec["init_from"], list(iter_jsonl(spec["examples"])), spec["labels"],
                    TrainConfig(**spec["cfg"]), spec["out_dir"], seed=spec["seed"], epochs=spec["epochs"],
                    desc=spec["desc"])
    if is_main_process():
        write_json(spec["result"], log)


if __name__ == "__main__":
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main(sys.argv[1])
