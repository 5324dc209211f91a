"""Hostile corpus, tables: a Parquet file (read with pandas) and a folder written by Hugging Face
datasets' `save_to_disk` (read with `datasets.load_from_disk`) as dataset.train / dataset.test.
Each case asserts the exact outcome: used, dropped with a reason, or refused naming the file
and row."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from evokd.config import DatasetConfig
from evokd.data.loaders import load_dataset, load_split
from evokd.errors import DataError

STAGES = Path(__file__).resolve().parents[2] / "stages"  # the stage scripts dvc.yaml runs


def rows_of(rows):
    return [(r["id"], r["text"], r["label"]) for r in rows]


def parquet(tmp_path, frame, name="train.parquet"):
    path = tmp_path / name
    frame.to_parquet(path)
    return path


def test_parquet_used_as_written(tmp_path):
    path = parquet(tmp_path, pd.DataFrame({"text": ["hi ", "bye\nnow"], "label": ["A", "B"], "x": [1, 2]}))
    cfg = DatasetConfig(train=str(path), test="t.parquet")
    assert cfg.resolved_format() == "parquet"
    rows = load_split(cfg, "train")
    assert rows_of(rows) == [("train-00001", "hi", "A"), ("train-00002", "bye\nnow", "B")]
    assert rows.report.to_dict()["dropped"] == {}


def test_parquet_missing_values_are_dropped_not_classes(tmp_path):
    frame = pd.DataFrame({"text": ["a", "b", "c", None, "e"], "label": ["A", None, "nan", "B", "N/A"]})
    rows = load_split(DatasetConfig(train=str(parquet(tmp_path, frame)), test="t.parquet"), "train")
    assert rows_of(rows) == [("train-00001", "a", "A")]
    assert rows.report.to_dict()["dropped"] == {"missing_label": 3, "empty_text": 1}


def test_parquet_float_nan_label_is_missing(tmp_path):
    frame = pd.DataFrame({"text": ["a", "b"], "label": ["A", float("nan")]})
    rows = load_split(DatasetConfig(train=str(parquet(tmp_path, frame)), test="t.parquet"), "train")
    assert rows_of(rows) == [("train-00001", "a", "A")] and rows.report.dropped == {"missing_label": 1}


def test_parquet_categorical_labels_are_their_names(tmp_path):
    frame = pd.DataFrame({"text": ["a", "b"], "label": pd.Categorical(["pos", "neg"])})
    rows = load_split(DatasetConfig(train=str(parquet(tmp_path, frame)), test="t.parquet"), "train")
    assert rows_of(rows) == [("train-00001", "a", "pos"), ("train-00002", "b", "neg")]


@pytest.mark.parametrize("labels, shown", [([0, 1], "int 0"), ([True, False], "true/false true"),
                                           ([0.5, 1.5], "float 0.5")])
def test_parquet_non_string_labels_are_refused(tmp_path, labels, shown):
    frame = pd.DataFrame({"text": ["a", "b"], "label": labels})
    with pytest.raises(DataError, match=rf"train\.parquet: row 1: 'label' is {re.escape(shown)}, expected a string"):
        load_split(DatasetConfig(train=str(parquet(tmp_path, frame)), test="t.parquet"), "train")


def test_parquet_missing_column_and_corrupt_file(tmp_path):
    path = parquet(tmp_path, pd.DataFrame({"sentence": ["a"], "label": ["A"]}))
    with pytest.raises(DataError, match=r"train\.parquet: no column 'text' \(columns: \['sentence', 'label'\]\)"):
        load_split(DatasetConfig(train=str(path), test="t.parquet"), "train")
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataError, match=r"train\.parquet: not a readable Parquet file"):
        load_split(DatasetConfig(train=str(path), test="t.parquet"), "train")


def _save(tmp_path, name, data):
    path = tmp_path / name
    data.save_to_disk(str(path))
    return path


def test_saved_dataset_with_class_label_names(tmp_path):
    from datasets import ClassLabel, Dataset, Features, Value

    features = Features({"text": Value("string"), "label": ClassLabel(names=["neg", "pos"])})
    train = _save(tmp_path, "train", Dataset.from_dict(
        {"text": ["bad", "good", "fine", ""], "label": [0, 1, -1, 1]}, features=features))
    test = _save(tmp_path, "test", Dataset.from_dict({"text": ["meh"], "label": [0]}, features=features))
    cfg = DatasetConfig(train=str(train), test=str(test))
    assert cfg.resolved_format() == "hf"
    splits = load_dataset(cfg)
    assert rows_of(splits["train"]) == [("train-00001", "bad", "neg"), ("train-00002", "good", "pos")]
    assert splits["train"].report.dropped == {"missing_label": 1, "empty_text": 1}
    assert rows_of(splits["test"]) == [("test-00001", "meh", "neg")]


def test_saved_dataset_dict_picks_the_split(tmp_path):
    from datasets import Dataset, DatasetDict

    folder = _save(tmp_path, "ds", DatasetDict({
        "train": Dataset.from_dict({"text": ["a", "b"], "label": ["x", "y"]}),
        "validation": Dataset.from_dict({"text": ["c"], "label": ["x"]})}))
    cfg = DatasetConfig(train=str(folder), test=str(folder / "validation"), format="hf")
    assert rows_of(load_split(cfg, "train")) == [("train-00001", "a", "x"), ("train-00002", "b", "y")]
    assert rows_of(load_split(cfg, "test")) == [("test-00001", "c", "x")]
    no_test = DatasetConfig(train=str(folder / "train"), test=str(folder), format="hf")
    with pytest.raises(DataError, match=r"a DatasetDict with splits \['train', 'validation'\] and none named test"):
        load_split(no_test, "test")


def test_saved_dataset_int_labels_without_names_are_refused(tmp_path):
    from datasets import Dataset

    folder = _save(tmp_path, "train", Dataset.from_dict({"text": ["a"], "label": [3]}))
    with pytest.raises(DataError, match=r"train: row 1: 'label' is int 3, expected a string"):
        load_split(DatasetConfig(train=str(folder), test="t", format="hf"), "train")


def test_folder_that_is_not_a_saved_dataset(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("hello")
    with pytest.raises(DataError, match=r"data: not a folder written by datasets' save_to_disk"):
        load_split(DatasetConfig(train=str(tmp_path / "data"), test="t", format="hf"), "train")
    with pytest.raises(DataError, match=r"data: is a folder, not a dataset file"):
        load_split(DatasetConfig(train=str(tmp_path / "data"), test="t", format="csv"), "train")
    for fmt in ("hf", "parquet"):  # a mistyped path is said to be missing, in every format
        with pytest.raises(DataError, match=r"typo: file not found \(check the dataset block"):
            load_split(DatasetConfig(train=str(tmp_path / "typo"), test="t", format=fmt), "train")


def test_prepare_runs_on_a_parquet_train_file_and_a_saved_dataset_test_split(tmp_path):
    """The real prepare stage: dataset.train a Parquet file, dataset.test a save_to_disk folder
    (formats inferred); one unlabelled train row dropped and counted in the meta file."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    import yaml
    from datasets import ClassLabel, Dataset, Features, Value

    root = Path(__file__).resolve().parents[2]
    texts = [f"what is thing {i} ?" for i in range(4)] + [f"who is person {i} ?" for i in range(4)]
    pd.DataFrame({"text": texts + ["where ?"], "label": ["DESC"] * 4 + ["HUM"] * 4 + [None]}).to_parquet(
        tmp_path / "train.parquet")
    features = Features({"text": Value("string"), "label": ClassLabel(names=["DESC", "HUM"])})
    Dataset.from_dict({"text": ["what is a cat ?", "who was Bach ?"], "label": [0, 1]},
                      features=features).save_to_disk(str(tmp_path / "test"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["dataset"] = {"train": "train.parquet", "test": "test"}
    params["train"].update({"seed_epochs": 1, "max_length": 16})
    params["prepare"]["embed_max_length"] = 16
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = subprocess.run([sys.executable, str(STAGES / "prepare.py")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    meta = json.loads((tmp_path / "data/rounds/0/prepare.meta.json").read_text())
    assert meta["dataset_rows_dropped"]["train"]["dropped"] == {"missing_label": 1}
    assert meta["train"] == 8 and meta["test"] == 2
    test_rows = [json.loads(line) for line in (tmp_path / "data/prepared/test.jsonl").read_text().splitlines()]
    assert [(r["id"], r["label"]) for r in test_rows] == [("test-00001", "DESC"), ("test-00002", "HUM")]


def test_format_is_inferred_per_split_and_falls_back_to_the_train_files(tmp_path):
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset_info.json").write_text("{}")
    cfg = DatasetConfig(train="train.parquet", test=str(tmp_path / "ds"), dev="dev.data")
    assert [cfg.resolved_format(p) for p in (cfg.train, cfg.test, cfg.dev)] == ["parquet", "hf", "parquet"]
    assert DatasetConfig(train="a.csv", test="b.tsv", format="csv").resolved_format("b.tsv") == "csv"
