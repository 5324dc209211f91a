"""The student on a CUDA GPU: bf16/fp16 mixed-precision training, fp32 checkpoints in the same
format as a CPU run, GPU inference that agrees with the CPU's, and the round stages end to end.

Skipped where torch sees no GPU (CI has none); `scripts/gpu_check.sh` runs this file on a GPU
machine. Every test compares the GPU against the CPU on the same machine, so a silent fallback to
the CPU, a bf16 checkpoint or a device mix-up fails here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import yaml

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

ROOT = Path(__file__).resolve().parents[3]


def _precision() -> str:
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _trec_rows(n: int) -> list[dict]:
    from evokd.config import DatasetConfig
    from evokd.data.loaders import load_split

    rows = load_split(DatasetConfig(train=str(ROOT / "data/raw/trec/TREC.train"),
                                    test=str(ROOT / "data/raw/trec/TREC.test")), "train")
    return rows[:: max(1, len(rows) // n)][:n]


def _on_gpu(call):
    """Run `call` and check it put at least a model's worth (MiniLM: ~90 MB) on the GPU, so that
    a GPU-vs-CPU comparison cannot pass by running twice on the CPU."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = call()
    assert torch.cuda.max_memory_allocated() - before > 50e6, "inference did not run on the GPU"
    return out


def _saved_dtypes(model_dir: Path) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(model_dir / "model.safetensors"), framework="pt") as f:
        return {str(f.get_tensor(k).dtype) for k in f.keys()}


def test_classifier_trains_mixed_precision_on_gpu_saves_fp32_and_predicts_like_cpu(tmp_path):
    from evokd.config import TrainConfig
    from evokd.student.backbone import backbone_path
    from evokd.student.predict import predict_proba
    from evokd.student.train import fine_tune

    rows = _trec_rows(256)
    labels = sorted({r["label"] for r in rows})
    cfg = TrainConfig(device="auto", batch_size=16, max_length=32)
    log = fine_tune("sequence", backbone_path("minilm"), rows, labels, cfg, tmp_path / "m", seed=0, epochs=4)
    assert (log["device"], log["precision"], log["world_size"]) == ("cuda", _precision(), 1)
    assert log["loss_per_epoch"][-1] < 0.6 * log["loss_per_epoch"][0], log["loss_per_epoch"]
    assert _saved_dtypes(tmp_path / "m") == {"torch.float32"}

    texts = [r["text"] for r in _trec_rows(600)]
    names_gpu, p_gpu = _on_gpu(lambda: predict_proba(tmp_path / "m", texts, max_length=32, device="cuda"))
    names_cpu, p_cpu = predict_proba(tmp_path / "m", texts, max_length=32, device="cpu")
    assert names_gpu == names_cpu
    assert np.abs(p_gpu - p_cpu).max() < 1e-2
    assert (p_gpu.argmax(1) == p_cpu.argmax(1)).mean() > 0.99
    # The model learnt: far above the 1/6 of chance on (mostly unseen) train questions.
    gold = np.array([names_gpu.index(r["label"]) for r in _trec_rows(600)])
    assert (p_gpu.argmax(1) == gold).mean() > 0.6


def test_cuda_device_is_honoured_and_cpu_can_be_forced(tmp_path):
    from evokd.config import TrainConfig
    from evokd.student.backbone import backbone_path
    from evokd.student.train import fine_tune

    rows = _trec_rows(48)
    labels = sorted({r["label"] for r in rows})
    on_gpu = fine_tune("sequence", backbone_path("minilm"), rows, labels, TrainConfig(device="cuda", max_length=32),
                       tmp_path / "g", seed=0, epochs=1)
    on_cpu = fine_tune("sequence", backbone_path("minilm"), rows, labels,
                       TrainConfig(device="cpu", precision="fp32", max_length=32), tmp_path / "c", seed=0, epochs=1)
    assert (on_gpu["device"], on_cpu["device"], on_cpu["precision"]) == ("cuda", "cpu", "fp32")
    # Same seed, same batches: the first epoch's loss differs only by bf16 rounding.
    assert on_gpu["loss_per_epoch"][0] == pytest.approx(on_cpu["loss_per_epoch"][0], rel=0.05)


def test_embeddings_on_gpu_match_cpu():
    from evokd.student.backbone import backbone_path
    from evokd.student.predict import embed

    texts = [r["text"] for r in _trec_rows(300)]
    gpu = _on_gpu(lambda: embed(backbone_path("minilm"), texts, max_length=32, device="cuda"))
    cpu = embed(backbone_path("minilm"), texts, max_length=32, device="cpu")
    assert (gpu * cpu).sum(1).min() > 0.999  # cosine of unit vectors


def test_tagger_trains_on_gpu_and_predicts_like_cpu(tmp_path):
    from evokd.config import TrainConfig
    from evokd.data.conll import load_conll
    from evokd.student.backbone import backbone_path
    from evokd.student.tagger import predict_word_proba
    from evokd.student.train import fine_tune
    from evokd.tasks import ner

    rows = [r for r in load_conll(ROOT / "data/raw/conll2003/train.txt.gz", "train") if r["tokens"]][:400]
    tags = ner.tag_names(sorted({t[2:] for r in rows for t in r["tags"] if t != "O"}))
    cfg = TrainConfig(device="auto", batch_size=16, max_length=64)
    log = fine_tune("token", backbone_path("minilm"), rows, tags, cfg, tmp_path / "t", seed=0, epochs=3)
    assert (log["device"], log["precision"]) == ("cuda", _precision())
    assert log["loss_per_epoch"][-1] < 0.6 * log["loss_per_epoch"][0], log["loss_per_epoch"]
    assert _saved_dtypes(tmp_path / "t") == {"torch.float32"}
    sentences = [r["tokens"] for r in rows[:200]]
    _, gpu = _on_gpu(lambda: predict_word_proba(tmp_path / "t", sentences, max_length=64, device="cuda"))
    _, cpu = predict_word_proba(tmp_path / "t", sentences, max_length=64, device="cpu")
    agree = np.mean([(g.argmax(1) == c.argmax(1)).mean() for g, c in zip(gpu, cpu) if len(g)])
    assert agree > 0.99


def test_round_stages_run_on_gpu(tmp_path, monkeypatch):
    """prepare, probe, analyze@0 and one full round through the stage scripts, as `dvc repro` runs them, with the
    default `train.device: auto`: every training log says cuda, and the scores are real."""
    import shutil

    import subprocess
    import sys

    from conftest import tiny_params, trec_subset
    from evokd.rounds.slots import write_slots

    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "prompts", project / "prompts")
    trec_subset(project / "data/raw/trec")
    params = tiny_params(rounds=1)
    params["train"]["device"] = "auto"
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    monkeypatch.chdir(project)
    write_slots(1)
    for args in (["prepare"], ["plan"], ["probe"], ["analyze", "0"],
                 *[[v, "1"] for v in ("synthesize", "label", "train", "evaluate", "analyze")]):
        result = subprocess.run([sys.executable, str(ROOT / "stages" / f"{args[0]}.py"), *args[1:]],
                                capture_output=True, text=True)
        assert result.returncode == 0, (args, result.stderr[-3000:])
    meta0 = json.loads(Path("data/rounds/0/prepare.meta.json").read_text())
    meta1 = json.loads(Path("data/rounds/1/train.meta.json").read_text())
    for log in (meta0["train_log"], meta1):
        assert (log["device"], log["precision"]) == ("cuda", _precision())
    from evokd.student.runtime import inference_device

    assert inference_device("auto") == "cuda"  # evaluate and the teacher's scoring ran there too
    scores = json.loads(Path("metrics/rounds/1.json").read_text())
    assert 0.0 <= scores["macro_f1"] <= 1.0 and scores["active"] is True
    assert os.path.isdir("models/rounds/1")
