"""`train.class_weight: balanced`: the weights for a skewed label list, the config's refusal for
NER (why: evokd.config), and the weighted loss path on a tiny one-layer BERT (the shipped
MiniLM's tokenizer, random weights: seconds on a CPU)."""

from __future__ import annotations

import random

import pytest
import yaml

from evokd.config import TrainConfig, parse_config
from evokd.errors import ConfigError
from evokd.student.train import balanced_weights, class_weights
from conftest import ROOT

LABELS = ["A", "B", "C"]


def test_weights_are_inverse_label_frequency_averaging_one_per_sample():
    targets = [0] * 6 + [1] * 3 + [2]  # 10 samples: A 6, B 3, C 1
    weights = balanced_weights(targets, 4)  # a 4th class that does not occur
    assert weights == pytest.approx([10 / (3 * 6), 10 / (3 * 3), 10 / (3 * 1), 1.0])
    assert sum(weights[t] for t in targets) == pytest.approx(len(targets))
    assert weights[2] / weights[0] == pytest.approx(6.0)  # the rare label counts 6 times as much


def test_even_labels_keep_the_plain_loss():
    assert balanced_weights([0, 1, 2, 0, 1, 2], 3) is None  # round 0 on a k-shot seed set
    assert balanced_weights([1, 1], 3) is None
    examples = [{"text": "x", "label": lab} for lab in "AAB"]
    ids = {lab: i for i, lab in enumerate(LABELS)}
    assert class_weights("sequence", examples, ids, TrainConfig()) is None  # the default: off
    assert class_weights("sequence", examples, ids, TrainConfig(class_weight="balanced")) == \
        pytest.approx([3 / 4, 3 / 2, 1.0])
    with pytest.raises(ConfigError, match="train.class_weight: balanced weighs one label per text"):
        class_weights("token", [], ids, TrainConfig(class_weight="balanced"))


def test_config_refuses_class_weights_for_ner():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert parse_config(params).train.class_weight == "none"
    params["train"]["class_weight"] = "balanced"
    assert parse_config(params).train.class_weight == "balanced"
    params.update(task="ner", dataset={"train": "a.conll", "test": "b.conll"})
    with pytest.raises(ConfigError, match="train.class_weight is balanced with task ner: .*O \\(most words\\)"):
        parse_config(params)
    params["train"]["class_weight"] = "inverse"
    with pytest.raises(ConfigError, match="train.class_weight"):
        parse_config(params)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A one-layer, 32-wide BERT with MiniLM's tokenizer, saved as safetensors."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    from evokd.student.backbone import backbone_path

    folder = tmp_path_factory.mktemp("tiny")
    tokenizer = AutoTokenizer.from_pretrained(backbone_path("minilm"))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder, safe_serialization=True)  # no head: each test adds its own
    tokenizer.save_pretrained(folder)
    return str(folder)


EXAMPLES = [{"text": f"question number {i} about {lab}", "label": lab}
            for lab, n in (("A", 12), ("B", 3), ("C", 1)) for i in range(n)]
CFG = dict(epochs=2, batch_size=4, max_length=16, threads=1, device="cpu", precision="fp32")


def test_fine_tune_trains_with_the_weights_and_logs_them(tiny_model, tmp_path):
    from evokd.student.train import fine_tune

    log = fine_tune("sequence", tiny_model, EXAMPLES, LABELS, TrainConfig(class_weight="balanced", **CFG),
                    tmp_path / "out", seed=0, epochs=2)
    assert log["class_weights"] == pytest.approx({"A": 16 / 36, "B": 16 / 9, "C": 16 / 3}, abs=1e-4)
    assert len(log["loss_per_epoch"]) == 2 and (tmp_path / "out" / "model.safetensors").exists()
    plain = fine_tune("sequence", tiny_model, EXAMPLES, LABELS, TrainConfig(**CFG), tmp_path / "plain",
                      seed=0, epochs=2)
    assert "class_weights" not in plain and plain["loss_per_epoch"] != log["loss_per_epoch"]


def test_weighted_loss_with_equal_weights_is_the_models_own_loss(tiny_model):
    """The weighted path computes what the model's loss computes, weights aside."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from evokd.student.loop import fit
    from evokd.student.train import sequence_batches

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ids = {lab: i for i, lab in enumerate(LABELS)}
    losses = []
    for weights in (None, [1.0, 1.0, 1.0]):
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
        lengths, make_batch = sequence_batches(tokenizer, EXAMPLES, ids, 16)
        log = fit(model, lengths, make_batch, TrainConfig(**CFG), random.Random(0), 2, class_weights=weights)
        losses.append(log["loss_per_epoch"])
    assert losses[0] == pytest.approx(losses[1], abs=1e-4)
