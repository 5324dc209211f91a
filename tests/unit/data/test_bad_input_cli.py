"""Bad input gets a clear error, never a traceback: each malformed dataset file or bad param the
reliability issue lists, run through the real prepare stage (`python stages/prepare.py`) in a fresh folder. Each must stop
with exit code 2, a message naming the file and line (or the params key) and what to do, no
Python traceback, and no prepared output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import csv_params as params

STAGES = Path(__file__).resolve().parents[3] / "stages"  # the stage scripts dvc.yaml runs

GOOD_TEST = "text,label\nhi there,a\nbye now,b\n"


# name -> (files, params overrides, regex the error must match)
CASES = {
    "missing_column": ({"train.csv": "sentence,label\nx,a\n"}, {},
                       r"train\.csv:1: no column 'text'.*set dataset\.text_column"),
    "empty_file": ({"train.csv": ""}, {}, r"train\.csv: file is empty"),
    "blank_lines_only": ({"train.csv": "\n \n\t\n"}, {}, r"train\.csv: file is empty"),
    "tab_file_read_as_csv": ({"train.csv": "text\tlabel\nx\ta\n"}, {},
                             r"train\.csv:1: .*tab-separated \(set dataset\.format: tsv\)"),
    "semicolon_delimiter": ({"train.csv": "text;label\nx;a\n"}, {},
                            r"train\.csv:1: .*semicolon-separated.*convert it to CSV or TSV"),
    "undecodable_binary_csv": ({"train.csv": b"text,label\n\x89PNG\x00\x1a\rIHDR\xff\xfe,a\n"}, {},
                               r"train\.csv:2: NUL bytes in the line.*dataset\.encoding: utf-16"),
    "unknown_encoding": ({"train.csv": "text,label\nx,a\ny,b\n"}, {"dataset.encoding": "utf-9"},
                         r"dataset\.encoding: unknown text encoding 'utf-9'"),
    "one_class_label_column": ({"train.csv": "text,label\nx,a\ny,a\n", "test.csv": "text,label\nq,a\n"},
                               {}, r"train\.csv: the label column has a single class \('a'\).*dataset\.label_column"),
    "test_label_unseen_in_train": ({"train.csv": "text,label\nx,a\ny,b\n", "test.csv": "text,label\nq,z\n"},
                                   {}, r"test\.csv: labels \['z'\] never occur in train\.csv"),
    "short_row": ({"train.csv": "id,text,label\n1,x,a\n2,y\n"}, {},
                  r"train\.csv:3: 2 field\(s\) but the header has 3"),
    "trec_line_without_label": ({"TREC.train": "HUM:ind Who ?\nno label here\n", "TREC.test": "HUM:ind Who ?\n"},
                                {"dataset.train": "TREC.train", "dataset.test": "TREC.test"},
                                r"TREC\.train:2: expected a TREC line"),
    "jsonl_bad_line": ({"train.jsonl": '{"text": "a", "label": "x"}\n{"text": "b", "label"\n',
                        "test.jsonl": '{"text": "a", "label": "x"}\n'},
                       {"dataset.train": "train.jsonl", "dataset.test": "test.jsonl"},
                       r"train\.jsonl:2: not valid JSON"),
    "jsonl_nested_10000_deep": ({"train.jsonl": "[" * 10000 + "]" * 10000 + "\n",
                                 "test.jsonl": '{"text": "a", "label": "x"}\n'},
                                {"dataset.train": "train.jsonl", "dataset.test": "test.jsonl"},
                                r"train\.jsonl:1: JSON too deeply nested"),
    "jsonl_text_not_a_string": ({"train.jsonl": '{"text": {"a": 1}, "label": "x"}\n',
                                 "test.jsonl": '{"text": "a", "label": "x"}\n'},
                                {"dataset.train": "train.jsonl", "dataset.test": "test.jsonl"},
                                r"train\.jsonl:1: 'text' is dict, expected a string"),
    "conll_line_missing_tag": ({"train.conll": "EU B-ORG\nrejects\n", "test.conll": "Bonn B-LOC\n"},
                               {"task": "ner", "dataset.train": "train.conll", "dataset.test": "test.conll"},
                               r"train\.conll:2: one column .*is a tag missing"),
    "conll_bad_tag": ({"train.conll": "EU B-ORG\nrejects NNP\n", "test.conll": "Bonn B-ORG\n"},
                      {"task": "ner", "dataset.train": "train.conll", "dataset.test": "test.conll"},
                      r"train\.conll:2: tag 'NNP' is not O, B-<type> or I-<type>"),
    "unknown_key": ({"train.csv": "text,label\nx,a\ny,b\n"}, {"train.lerning_rate": 0.1},
                    r"train\.lerning_rate: unknown key \(check its spelling"),
    "unknown_top_level_key": ({"train.csv": "text,label\nx,a\ny,b\n"}, {"round": 3},
                              r"round: unknown key"),
    "wrong_type": ({"train.csv": "text,label\nx,a\ny,b\n"}, {"train.epochs": "many"},
                   r"train\.epochs: .*valid integer.*'many'"),
    "out_of_range": ({"train.csv": "text,label\nx,a\ny,b\n"}, {"teacher.label_noise": 1.5},
                     r"teacher\.label_noise: .*1\.5"),
    "shots_above_smallest_class": ({"train.csv": "text,label\nx one,a\ny two,a\nz three,b\n"}, {"shots": 2},
                                   r"shots: 2 is more than the 1 example\(s\) of label 'b' .*set shots to at most 1"),
    "ner_shots_above_smallest_type": ({"train.conll": "EU B-ORG\n\nBonn B-LOC\n\nUN B-ORG\n",
                                       "test.conll": "Berlin B-LOC\n"},
                                      {"task": "ner", "shots": 2, "dataset.train": "train.conll",
                                       "dataset.test": "test.conll"},
                                      r"shots: 2 is more than .*'LOC'.*set shots to at most 1"),
    "test_file_is_train_file": ({"train.csv": "text,label\nx,a\ny,b\n"}, {"dataset.test": "./train.csv"},
                                r"dataset\.test is the same file as dataset\.train"),
    "test_file_is_train_file_by_absolute_path": ({"train.csv": "text,label\nx,a\ny,b\n"},
                                                 {"dataset.test": "{dir}/train.csv"},
                                                 r"dataset\.test: .*train\.csv is the same file as dataset\.train"),
    "test_file_is_a_symlink_to_train": ({"train.csv": "text,label\nx,a\ny,b\n", "test.csv": "->train.csv"}, {},
                                        r"dataset\.test: test\.csv is the same file as dataset\.train"),
    "missing_file": ({}, {"dataset.train": "nope.csv"}, r"nope\.csv: file not found \(check the dataset block"),
}


def evokd_prepare(folder: Path, files: dict, over: dict) -> subprocess.CompletedProcess:
    folder.mkdir()
    files = {"test.csv": GOOD_TEST, **files}
    for name, content in files.items():
        if isinstance(content, str) and content.startswith("->"):
            os.symlink(content[2:], folder / name)
        else:
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    over = {k: v.format(dir=folder) if isinstance(v, str) else v for k, v in over.items()}
    (folder / "params.yaml").write_text(yaml.safe_dump(params(**over)))
    return subprocess.run([sys.executable, str(STAGES / "prepare.py")], cwd=folder, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_stops_with_a_clear_message(tmp_path, name):
    files, over, message = CASES[name]
    out = evokd_prepare(tmp_path / name, files, over)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr and "Traceback" not in out.stdout
    assert "error:" in out.stderr
    assert re.search(message, out.stderr, re.DOTALL), out.stderr[-2000:]
    assert not (tmp_path / name / "data" / "prepared").exists()


def test_params_that_are_not_yaml(tmp_path):
    (tmp_path / "params.yaml").write_text("task: [unclosed\n")
    out = subprocess.run([sys.executable, str(STAGES / "prepare.py")], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "params.yaml: not valid YAML" in out.stderr
