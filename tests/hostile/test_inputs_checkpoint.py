"""Hostile corpus, checkpoints: a student folder arrives by `dvc pull` from a remote anyone on the
team can write. evokd reads checkpoints as safetensors only: a folder that holds a pickled
`pytorch_model.bin` (which runs code when unpickled) instead of `model.safetensors` is refused,
and the pickle is never opened."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from evokd.errors import PipelineError
from evokd.student.backbone import backbone_path


class Payload:
    """Unpickling this creates the file `marker`: proof that the pickle was loaded."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def poisoned_checkpoint(tmp_path, labels=("A", "B")):
    folder = tmp_path / "pulled-model"
    backbone = backbone_path("minilm")
    folder.mkdir()
    config = json.loads(Path(backbone, "config.json").read_text())
    config.update({"id2label": {str(i): lab for i, lab in enumerate(labels)},
                   "label2id": {lab: i for i, lab in enumerate(labels)}, "architectures": ["BertForSequenceClassification"]})
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(f"{backbone}/{name}", folder / name)
    marker = tmp_path / "PWNED"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload(marker)))
    return folder, marker


def test_the_payload_does_run_when_unpickled(tmp_path):
    """Positive control: the planted file really executes code when a pickle loader opens it."""
    folder, marker = poisoned_checkpoint(tmp_path)
    pickle.loads((folder / "pytorch_model.bin").read_bytes()).close()
    assert marker.exists()


def test_predict_refuses_a_pickled_checkpoint(tmp_path):
    from evokd.student.predict import predict_proba

    folder, marker = poisoned_checkpoint(tmp_path)
    with pytest.raises(PipelineError, match=r"pulled-model: cannot load the model \(.*model\.safetensors.*\); "
                                            r"evokd reads only safetensors weights"):
        predict_proba(folder, ["hello"], threads=1, device="cpu")
    assert not marker.exists()


def test_training_from_a_pickled_checkpoint_is_refused(tmp_path):
    from evokd.config import TrainConfig
    from evokd.student.train import fine_tune

    folder, marker = poisoned_checkpoint(tmp_path)
    with pytest.raises(PipelineError, match=r"pulled-model: cannot load the model \(.*model\.safetensors"):
        fine_tune("sequence", str(folder), [{"text": "hi", "label": "A"}], ["A", "B"],
                  TrainConfig(device="cpu", threads=1), tmp_path / "out", seed=0, epochs=1, desc="t")
    assert not marker.exists() and not (tmp_path / "out").exists()
