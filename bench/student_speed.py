"""Student speed: evokd's training and inference path against plain Hugging Face, side by side
in one run, on the same data, model and machine. Reports examples per second and ratios.

Baselines:
- `Trainer, padded`: the tutorial recipe, tokenizer(padding="max_length") + Trainer.
- `Trainer, dynamic`: Trainer with DataCollatorWithPadding (pads per batch, random order).
- inference: `transformers.pipeline("text-classification", batch_size=...)`.

    python bench/student_speed.py --examples 512 --max-length 64 --repeats 2

On a GPU: `--device auto` (evokd in bf16 autocast, the Trainer with bf16=True, pipeline on cuda:0).
On a CPU with native bf16 (AVX512-BF16, AMX) evokd's default trains in bf16 autocast and the
Trainer's in fp32; both then also run in the other precision (`evokd_fp32`,
`trainer_dynamic_bf16`) and the like-for-like ratios are printed beside the default one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def trec(n: int) -> list[dict]:
    from evokd.config import DatasetConfig
    from evokd.data.loaders import load_split

    rows = load_split(DatasetConfig(train=str(ROOT / "data/raw/trec/TREC.train"),
                                    test=str(ROOT / "data/raw/trec/TREC.test")), "train")
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def evokd_train(rows, labels, args, out, precision: str = "auto") -> float:
    from evokd.config import TrainConfig
    from evokd.student.backbone import backbone_path
    from evokd.student.train import fine_tune

    cfg = TrainConfig(batch_size=args.batch_size, max_length=args.max_length, epochs=1, device=args.device,
                      precision=precision)
    t0 = time.perf_counter()
    fine_tune("sequence", backbone_path("minilm"), rows, labels, cfg, out, seed=0, epochs=args.epochs, desc="evokd")
    return len(rows) * args.epochs / (time.perf_counter() - t0)


def trainer_train(rows, labels, args, out, dynamic: bool, bf16: bool | None = None) -> float:
    """The Trainer's examples/s; `bf16` None = its default (bf16 on a GPU, fp32 on the CPU)."""
    import torch
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments)

    from evokd.student.backbone import backbone_path

    path = backbone_path("minilm")
    gpu = args.device != "cpu" and torch.cuda.is_available()
    bf16 = gpu if bf16 is None else bf16
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path)
    label2id = {label: i for i, label in enumerate(labels)}
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(labels))
    pad = {} if dynamic else {"padding": "max_length"}
    encoded = tok([r["text"] for r in rows], truncation=True, max_length=args.max_length, **pad)
    # A list of feature dicts is a map-style dataset to the Trainer (no `datasets` needed).
    ds = [{**{k: v[i] for k, v in encoded.items()}, "label": label2id[r["label"]]} for i, r in enumerate(rows)]
    targs = TrainingArguments(output_dir=str(out), per_device_train_batch_size=args.batch_size,
                              num_train_epochs=args.epochs, learning_rate=1e-4, save_strategy="no",
                              report_to=[], logging_strategy="no", use_cpu=not gpu, bf16=bf16,
                              disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=ds,
                      data_collator=DataCollatorWithPadding(tok) if dynamic else None)
    trainer.train()
    trainer.save_model(str(out))
    return len(rows) * args.epochs / (time.perf_counter() - t0)


def evokd_predict(model_dir, texts, args) -> float:
    from evokd.student.predict import predict_proba

    t0 = time.perf_counter()
    predict_proba(model_dir, texts, batch_size=64, max_length=args.max_length, device=args.device)
    return len(texts) / (time.perf_counter() - t0)


def pipeline_predict(model_dir, texts, args) -> float:
    from transformers import pipeline

    t0 = time.perf_counter()
    import torch

    gpu = args.device != "cpu" and torch.cuda.is_available()
    clf = pipeline("text-classification", model=str(model_dir), device=0 if gpu else -1)
    clf(texts, batch_size=64, truncation=True, max_length=args.max_length)
    return len(texts) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="alternating repeats; the median is kept")
    parser.add_argument("--device", default="cpu", choices=["cpu", "auto"],
                        help="auto: a GPU when torch sees one (evokd in bf16, the Trainer with bf16=True)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/student_speed.json")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.set_num_threads(os.cpu_count() or 1)

    rows = trec(args.examples)
    labels = sorted({r["label"] for r in rows})
    texts = [r["text"] for r in trec(2000)]
    from evokd.student.runtime import detect_placement

    # On a CPU with native bf16, evokd's default (train.precision: auto) trains in bf16 autocast
    # and the Trainer's default in fp32: both are also run in the other precision, so that the
    # ratio of the defaults can be read beside the like-for-like ones.
    placement = detect_placement(args.device)
    cpu_bf16 = placement.device == "cpu" and placement.precision == "bf16"
    names = ["evokd", "trainer_padded", "trainer_dynamic"]
    names += ["evokd_fp32", "trainer_dynamic_bf16"] if cpu_bf16 else []
    runs: dict[str, list[float]] = {k: [] for k in names + ["evokd_predict", "pipeline_predict"]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # One untimed pass of each on a few examples first: the first call in a process pays
        # one-off costs (lazy imports, allocator warm-up, CUDA context) that a long-lived run
        # does not; without it the contender that happens to go first looks ~25% slower.
        warm = rows[: 2 * args.batch_size]
        evokd_train(warm, labels, args, tmp / "evokd")
        trainer_train(warm, labels, args, tmp / "hf", dynamic=False)
        trainer_train(warm, labels, args, tmp / "hf", dynamic=True)
        if cpu_bf16:
            evokd_train(warm, labels, args, tmp / "evokd32", precision="fp32")
            trainer_train(warm, labels, args, tmp / "hf", dynamic=True, bf16=True)
        evokd_predict(tmp / "evokd", texts[:64], args)
        pipeline_predict(tmp / "evokd", texts[:64], args)
        # Alternate the contenders so that machine noise hits all of them alike.
        for _ in range(args.repeats):
            runs["evokd"].append(evokd_train(rows, labels, args, tmp / "evokd"))
            runs["trainer_padded"].append(trainer_train(rows, labels, args, tmp / "hf", dynamic=False))
            runs["trainer_dynamic"].append(trainer_train(rows, labels, args, tmp / "hf", dynamic=True))
            if cpu_bf16:
                runs["evokd_fp32"].append(evokd_train(rows, labels, args, tmp / "evokd32", precision="fp32"))
                runs["trainer_dynamic_bf16"].append(
                    trainer_train(rows, labels, args, tmp / "hf", dynamic=True, bf16=True))
            runs["evokd_predict"].append(evokd_predict(tmp / "evokd", texts, args))
            runs["pipeline_predict"].append(pipeline_predict(tmp / "evokd", texts, args))
    med = {k: round(statistics.median(v), 1) for k, v in runs.items()}
    ratios = {
        "train_vs_trainer_padded": round(med["evokd"] / med["trainer_padded"], 2),
        "train_vs_trainer_dynamic": round(med["evokd"] / med["trainer_dynamic"], 2),
        "predict_vs_pipeline": round(med["evokd_predict"] / med["pipeline_predict"], 2),
    }
    if cpu_bf16:
        ratios["train_bf16_vs_trainer_dynamic_bf16"] = round(med["evokd"] / med["trainer_dynamic_bf16"], 2)
        ratios["train_fp32_vs_trainer_dynamic"] = round(med["evokd_fp32"] / med["trainer_dynamic"], 2)
    result = {"command": " ".join(sys.argv), "examples": args.examples, "epochs": args.epochs,
              "batch_size": args.batch_size, "max_length": args.max_length, "threads": torch.get_num_threads(),
              "device": torch.cuda.get_device_name(0) if args.device != "cpu" and torch.cuda.is_available() else "cpu",
              "evokd_precision": placement.precision_name,
              "examples_per_s_median": med, "runs": runs, "ratios": ratios}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print("| path | examples/s (median) |\n|---|---:|")
    for k, v in med.items():
        print(f"| {k} | {v} |")
    print("\n" + "\n".join(f"{k}: {v}x" for k, v in ratios.items()))


if __name__ == "__main__":
    main()
