from pathlib import Path

import pytest

from evokd.config import DatasetConfig
from evokd.data.loaders import load_dataset, load_split
from evokd.errors import DataError

ROOT = Path(__file__).resolve().parents[3]


def cfg(train, test, **kw) -> DatasetConfig:
    return DatasetConfig(train=str(train), test=str(test), **kw)


def test_real_trec_files_with_latin1_byte():
    splits = load_dataset(cfg(ROOT / "data/raw/trec/TREC.train", ROOT / "data/raw/trec/TREC.test"))
    assert len(splits["train"]) == 5452 and len(splits["test"]) == 500
    assert {r["label"] for r in splits["train"]} == {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    line66 = next(r for r in splits["train"] if r["id"] == "train-00066")
    assert "sister\u00f0city" in line66["text"]  # 0xF0 read as latin-1, not dropped
    fine = load_split(cfg(ROOT / "data/raw/trec/TREC.train", ROOT / "data/raw/trec/TREC.test",
                          trec_labels="fine"), "test")
    assert fine[0]["label"].count(":") == 1


def test_trec_bad_line_names_file_and_line(tmp_path):
    (tmp_path / "t.train").write_text("HUM:ind Who is he ?\n\nnot-a-label-line\n")
    (tmp_path / "t.test").write_text("HUM:ind Who ?\n")
    with pytest.raises(DataError, match=r"t\.train:3: expected a TREC line"):
        load_split(cfg(tmp_path / "t.train", tmp_path / "t.test", format="trec"), "train")


def test_csv_with_blank_lines_and_quotes(tmp_path):
    (tmp_path / "train.csv").write_text('text,label\n"Hello, world",greet\n\nbye now,part\n')
    (tmp_path / "test.csv").write_text("text,label\nhi,greet\n")
    rows = load_split(cfg(tmp_path / "train.csv", tmp_path / "test.csv"), "train")
    assert [r["text"] for r in rows] == ["Hello, world", "bye now"]
    assert rows[0]["id"] == "train-00002"


def test_csv_missing_column(tmp_path):
    (tmp_path / "train.csv").write_text("sentence,label\na,b\n")
    (tmp_path / "test.csv").write_text("sentence,label\na,b\n")
    with pytest.raises(DataError, match=r"train\.csv:1: no column 'text'"):
        load_split(cfg(tmp_path / "train.csv", tmp_path / "test.csv"), "train")


def test_wrong_delimiter_gets_a_hint(tmp_path):
    (tmp_path / "train.csv").write_text("text\tlabel\na\tb\n")
    (tmp_path / "test.csv").write_text("text\tlabel\na\tb\n")
    with pytest.raises(DataError, match="tab-separated"):
        load_split(cfg(tmp_path / "train.csv", tmp_path / "test.csv"), "train")


def test_tsv_short_row(tmp_path):
    (tmp_path / "train.tsv").write_text("id\ttext\tlabel\n1\thello\tx\n2\tbye\n")
    (tmp_path / "test.tsv").write_text("id\ttext\tlabel\n1\thello\tx\n")
    with pytest.raises(DataError, match=r"train\.tsv:3: 2 field"):
        load_split(cfg(tmp_path / "train.tsv", tmp_path / "test.tsv"), "train")


def test_jsonl_bad_line(tmp_path):
    (tmp_path / "train.jsonl").write_text('{"text": "a", "label": "x"}\n{"text": "b", "label"\n')
    (tmp_path / "test.jsonl").write_text('{"text": "a", "label": "x"}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2: not valid JSON"):
        load_split(cfg(tmp_path / "train.jsonl", tmp_path / "test.jsonl"), "train")


def test_empty_file(tmp_path):
    (tmp_path / "train.csv").write_text("\n  \n")
    (tmp_path / "test.csv").write_text("text,label\na,b\n")
    with pytest.raises(DataError, match="file is empty"):
        load_split(cfg(tmp_path / "train.csv", tmp_path / "test.csv"), "train")


def test_single_class_and_unknown_test_label(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,x\nb,x\n")
    (tmp_path / "test.csv").write_text("text,label\na,x\n")
    with pytest.raises(DataError, match="single class"):
        load_dataset(cfg(tmp_path / "train.csv", tmp_path / "test.csv"))
    (tmp_path / "train.csv").write_text("text,label\na,x\nb,y\n")
    (tmp_path / "test.csv").write_text("text,label\na,z\n")
    with pytest.raises(DataError, match=r"labels \['z'\] never occur"):
        load_dataset(cfg(tmp_path / "train.csv", tmp_path / "test.csv"))


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        load_split(cfg(tmp_path / "nope.csv", tmp_path / "test.csv"), "train")
