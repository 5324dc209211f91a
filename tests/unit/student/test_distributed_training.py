"""Student training beyond one process: device and precision choice, the DDP batch split, the
`accelerate launch` command, and (slow) a real 2-process CPU run of the `train` stage over gloo."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from evokd.errors import ConfigError
from evokd.student.launch import launch_command, should_launch
from evokd.student.runtime import Placement, local_threads, select_placement, shard
from evokd.config import TrainConfig
from conftest import ROOT, run, tiny_params


# -- device and precision -------------------------------------------------------------------
@pytest.mark.parametrize("requested, cuda, bf16, expected", [
    ("auto", False, False, Placement("cpu", "no")),
    ("auto", True, True, Placement("cuda", "bf16")),
    ("auto", True, False, Placement("cuda", "fp16")),
    ("cpu", True, True, Placement("cpu", "no")),
    ("cuda", True, True, Placement("cuda", "bf16")),
    ("cuda", True, False, Placement("cuda", "fp16")),
])
def test_placement(requested, cuda, bf16, expected):
    assert select_placement(requested, cuda, bf16) == expected


@pytest.mark.parametrize("requested, cuda, bf16, precision, cpu_bf16, expected", [
    ("auto", False, False, "auto", True, Placement("cpu", "bf16")),    # AVX512-BF16 / AMX CPU
    ("auto", False, False, "auto", False, Placement("cpu", "no")),     # emulated bf16 is slower
    ("cpu", True, True, "auto", True, Placement("cpu", "bf16")),
    ("auto", False, False, "fp32", True, Placement("cpu", "no")),
    ("auto", False, False, "bf16", False, Placement("cpu", "bf16")),   # asked for: given
    ("auto", True, True, "fp32", False, Placement("cuda", "no")),
    ("auto", True, True, "fp16", False, Placement("cuda", "fp16")),
])
def test_precision(requested, cuda, bf16, precision, cpu_bf16, expected):
    assert select_placement(requested, cuda, bf16, precision, cpu_bf16) == expected


@pytest.mark.parametrize("cuda, bf16, precision, message", [
    (False, False, "fp16", "fp16 needs a CUDA GPU"),
    (True, False, "bf16", "this GPU has no bf16"),
    (False, False, "int8", "not one of auto, fp32, bf16, fp16"),
])
def test_impossible_precision_is_a_config_error(cuda, bf16, precision, message):
    with pytest.raises(ConfigError, match=message):
        select_placement("auto", cuda, bf16, precision)


def test_cuda_without_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match="train.device is cuda.*no CUDA GPU"):
        select_placement("cuda", False, False)


def test_device_param_is_validated():
    with pytest.raises(ValueError):
        TrainConfig(device="tpu")
    assert TrainConfig().device == "auto" and TrainConfig().launcher == "none"


def test_threads_split_among_local_processes(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert local_threads(None) == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert local_threads(None) == 4
    assert local_threads(3) == 3
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "16")
    assert local_threads(None) == 1


# -- the DDP batch split ---------------------------------------------------------------------
def test_shard_single_process_is_everything():
    batches = [[0, 1], [2, 3], [4]]
    assert shard(batches, 0, 1) == [(b, True) for b in batches]


def test_shard_covers_every_batch_once_with_equal_steps():
    batches = [[i] for i in range(7)]
    parts = [shard(batches, r, 3) for r in range(3)]
    assert {len(p) for p in parts} == {3}  # every process steps as often (DDP would hang otherwise)
    counted = sorted(b[0] for p in parts for b, counts in p if counts)
    assert counted == list(range(7))  # each real batch once; the 2 top-ups do not count
    assert sum(not counts for p in parts for _, counts in p) == 2


def test_shard_fewer_batches_than_processes():
    parts = [shard([[0, 1]], r, 2) for r in range(2)]
    assert parts == [[([0, 1], True)], [([0, 1], False)]]


# -- the launch --------------------------------------------------------------------------------
def test_launch_command_runs_n_processes_of_the_worker(tmp_path):
    cmd = launch_command(tmp_path / "spec.json", 2, "no", 12345)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert "--multi_gpu" in cmd and "--cpu" not in cmd  # --cpu would silently run one process
    assert cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[cmd.index("--main_process_port") + 1] == "12345"
    assert cmd[-3:] == ["-m", "evokd.student.worker", str(tmp_path / "spec.json")]
    assert "--multi_gpu" not in launch_command(tmp_path / "s", 1, "bf16", 1)


def test_workers_do_not_launch_again(monkeypatch):
    cfg = TrainConfig(launcher="accelerate")
    monkeypatch.delenv("EVOKD_LAUNCHED", raising=False)
    assert should_launch(cfg) and not should_launch(TrainConfig())
    monkeypatch.setenv("EVOKD_LAUNCHED", "1")
    assert not should_launch(cfg)


# -- a real 2-process run ----------------------------------------------------------------------
def _round_one_project(root: Path, launcher: str) -> None:
    """The inputs of `train@1`: round 0's student (the backbone with a fresh head),
    its training set, round 1's accepted samples and an active plan file."""
    from evokd.student.backbone import backbone_path
    import shutil

    params = tiny_params(**{"train.launcher": launcher, "train.num_processes": 2, "train.epochs": 2,
                            "train.threads": 1})
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(backbone_path("minilm"), root / "models/rounds/0")
    labels = ["DESC", "ENTY", "HUM", "LOC", "NUM"]
    words = {"DESC": "what does {} mean", "ENTY": "what animal is {}", "HUM": "who invented {}",
             "LOC": "where is {}", "NUM": "how many {} are there"}
    rows = [{"id": f"r1-{lab}-{i}", "text": words[lab].format(f"thing {i}"), "label": lab}
            for lab in labels for i in range(6)]
    (root / "data/prepared").mkdir(parents=True)
    (root / "data/prepared/labels.json").write_text(json.dumps({"labels": labels}))
    for k, part in ((0, rows[::3]), (1, rows)):
        (root / f"data/rounds/{k}").mkdir(parents=True)
    (root / "data/rounds/0/train_set.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[::3]))
    (root / "data/rounds/1/labelled.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "data/plan").mkdir(parents=True)
    (root / "data/plan/1.json").write_text(json.dumps({"round": 1, "active": True}))
    (root / "slots.yaml").write_text("slots:\n  \"1\": {prev: 0}\n")  # the round slots dvc.yaml would declare


@pytest.mark.slow
def test_train_stage_on_two_processes_matches_single_process_format(tmp_path):
    from transformers import pipeline

    logs = {}
    for launcher in ("accelerate", "none"):
        project = tmp_path / launcher
        project.mkdir()
        _round_one_project(project, launcher)
        run(["nice", "-n", "10", sys.executable, str(ROOT / "stages/train.py"), "1"], cwd=project)
        logs[launcher] = json.loads((project / "data/rounds/1/train.meta.json").read_text())
        assert (project / "models/rounds/1/model.safetensors").exists()
        classify = pipeline("text-classification", model=str(project / "models/rounds/1"), device=-1)
        assert classify("where is the river thing 3")[0]["label"] in {"DESC", "ENTY", "HUM", "LOC", "NUM"}
    ddp, single = logs["accelerate"], logs["none"]
    assert ddp["world_size"] == 2 and single["world_size"] == 1  # both processes took part
    assert set(ddp) == set(single)  # the same log format
    assert ddp["examples"] == single["examples"] == 30 + ddp["review"]
    # Each process took half of each epoch's batches: half the optimizer steps.
    batches = -(-single["examples"] // 8)  # train.batch_size 8 in tiny_params
    assert single["steps"] == batches * 2 and ddp["steps"] == -(-batches // 2) * 2
    assert len(ddp["loss_per_epoch"]) == 2 and all(l > 0 for l in ddp["loss_per_epoch"])
    assert sorted(p.name for p in (tmp_path / "accelerate/models/rounds/1").iterdir()) == \
        sorted(p.name for p in (tmp_path / "none/models/rounds/1").iterdir())


def test_a_second_placement_in_one_process_gets_its_own_accelerator():
    """accelerate refuses a second Accelerator with other settings in one process; a GPU run
    then `train.device: cpu` failed that way on a GPU machine. fresh_accelerator resets it."""
    from accelerate import Accelerator

    from evokd.student.runtime import fresh_accelerator

    assert fresh_accelerator(Accelerator, Placement("cpu", "no")).mixed_precision == "no"
    assert fresh_accelerator(Accelerator, Placement("cpu", "bf16")).mixed_precision == "bf16"
    assert fresh_accelerator(Accelerator, Placement("cpu", "no")).mixed_precision == "no"
