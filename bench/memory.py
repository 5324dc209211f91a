"""Peak memory of the label stage against the round's size: N synthetic samples streamed through
labelling (the simulated teacher, gold labels from the TREC pool), validation, dedup and the
leakage check against the TREC test split, by the real label stage (`stages/label.py`).

Each size runs in a fresh process, twice: once under tracemalloc (peak Python allocations during
the stage) and once without it (peak resident set size of the process, ru_maxrss, which includes
the interpreter and its imports). The last column is what merely holding the synthetic set as a
list of dicts costs (what the stage did before it streamed), for comparison.

    python bench/memory.py --sizes 10000 30000 100000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("old river city first king war book song team film star moon gold paper ship road bank "
         "tree stone glass north winter summer island bridge tower lake army school market").split()


def build(folder: Path, n: int) -> None:
    """A project folder with round 0 done and round 1's N synthesized samples: each a pool
    question with a few words added (so most survive dedup), plus exact repeats (duplicates),
    test questions (leaks) and too-short texts, as a teacher's output has."""
    import numpy as np

    from evokd.config import DatasetConfig
    from evokd.data.loaders import load_dataset
    from evokd.io import write_json, write_jsonl

    ds = DatasetConfig(train=str(ROOT / "data/raw/trec/TREC.train"), test=str(ROOT / "data/raw/trec/TREC.test"),
                       format="trec")
    splits = load_dataset(ds)
    pool, test = splits["train"], splits["test"]
    prepared = folder / "data/prepared"
    prepared.mkdir(parents=True)
    write_jsonl(prepared / "train.jsonl", pool)
    write_jsonl(prepared / "test.jsonl", test)
    labels = sorted({r["label"] for r in pool})
    write_json(prepared / "labels.json", {"labels": labels})
    np.save(prepared / "train_embeddings.npy", np.zeros((len(pool), 1), dtype=np.float32))
    (folder / "data/rounds/0").mkdir(parents=True)
    write_jsonl(folder / "data/rounds/0/train_set.jsonl", pool[:6])
    rng = random.Random(n)
    (folder / "data/rounds/1").mkdir(parents=True)
    with open(folder / "data/rounds/1/synthesized.jsonl", "w", encoding="utf-8") as fh:
        for i in range(n):
            src = pool[rng.randrange(len(pool))]
            roll = rng.random()
            if roll < 0.02:
                text = test[rng.randrange(len(test))]["text"]  # a leak
            elif roll < 0.05:
                text = src["text"]  # a duplicate of the pool text (and of other draws)
            elif roll < 0.06:
                text = "a ?"  # too short
            else:
                text = f"{src['text'].rstrip(' ?')} {' '.join(rng.choices(WORDS, k=4))} ?"
            fh.write(json.dumps({"id": f"r1-{i:06d}", "text": text, "source_id": src["id"],
                                 "kind": "hard" if i % 4 else "easy"}) + "\n")


def one(folder: Path, traced: bool) -> dict:
    """Run round 1's label stage in this process; its peak memory."""
    import os

    os.chdir(folder)
    import yaml

    from evokd.config import parse_config
    from evokd.io import read_jsonl
    from stages.label import label
    from evokd.teachers.simulated import SimulatedTeacher

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"] = {"train": str(ROOT / "data/raw/trec/TREC.train"),
                         "test": str(ROOT / "data/raw/trec/TREC.test")}
    cfg = parse_config(params)
    teacher = SimulatedTeacher(cfg)
    teacher._load_pool()  # the simulated teacher's pool is the teacher's memory, not the stage's
    out = {}
    if traced:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    start = time.perf_counter()
    result = label(cfg, 1, teacher)
    out["wall_s"] = round(time.perf_counter() - start, 1)
    if traced:
        out["stage_peak_mib"] = round((tracemalloc.get_traced_memory()[1] - base) / 2**20, 1)
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        rows = read_jsonl("data/rounds/1/synthesized.jsonl")
        out["as_list_mib"] = round((tracemalloc.get_traced_memory()[1] - base) / 2**20, 1)
        del rows
    else:
        out["maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    out.update(accepted=result["accepted"], rejected=sum(result["rejected"].values()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--one", nargs=2, metavar=("FOLDER", "TRACED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(Path(args.one[0]), args.one[1] == "1")))
        return
    print("| samples | accepted | rejected | stage peak (tracemalloc) | process peak RSS | set held as a list | wall |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="evokd-mem-") as tmp:
            build(Path(tmp), n)
            runs = {}
            for traced in ("1", "0"):
                done = subprocess.run([sys.executable, __file__, "--one", tmp, traced], capture_output=True,
                                      text=True, check=True)
                runs[traced] = json.loads(done.stdout.strip().splitlines()[-1])
        t, r = runs["1"], runs["0"]
        print(f"| {n:,} | {t['accepted']:,} | {t['rejected']:,} | {t['stage_peak_mib']} MiB | "
              f"{r['maxrss_mib']} MiB | {t['as_list_mib']} MiB | {r['wall_s']} s |", flush=True)


if __name__ == "__main__":
    main()
