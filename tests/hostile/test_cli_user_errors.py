"""Hostile corpus, CLI: a user's mistake reaches the user as `error: ...` naming the file and
line or the key, exit code 2, never a Python traceback, and nothing left in data/prepared.
Each case runs the real prepare stage, `python stages/prepare.py` (or `evokd teacher check`) in a fresh folder. The last
test runs a whole prepare on a file with unusable rows: they are dropped, named in a warning,
and counted in data/rounds/0/prepare.meta.json."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import csv_params as params
from evokd.config import MAX_SEED

STAGES = Path(__file__).resolve().parents[2] / "stages"  # the stage scripts dvc.yaml runs

GOOD = "text,label\nhi there,a\nbye now,b\n"


def evokd(folder: Path, files: dict, over: dict, *args: str, params_bytes: bytes | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in {"test.csv": GOOD, **files}.items():
        if name.endswith("/"):
            (folder / name).mkdir()
        else:
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    data = params_bytes if params_bytes is not None else yaml.safe_dump(params(**over)).encode()
    if data == b"<dir>":
        (folder / "params.yaml").mkdir()
    else:
        (folder / "params.yaml").write_bytes(data)
    # `prepare` is the stage script dvc.yaml runs; anything else is an `evokd` tool.
    command = [str(STAGES / "prepare.py")] if not args or args == ("prepare",) else ["-m", "evokd", *args]
    return subprocess.run([sys.executable, *command], cwd=folder, capture_output=True, text=True, timeout=180)


U16_PARAMS = yaml.safe_dump(params()).encode("utf-16")
OPENAI = {"teacher.provider": "openai", "teacher.model": "m"}

# name -> (files, params overrides, params bytes (None: from the overrides), command, message regex)
CASES = {
    "params_utf16": ({"train.csv": GOOD}, {}, U16_PARAMS, (), r"params\.yaml: is UTF-16; save it as UTF-8"),
    "params_latin1": ({"train.csv": GOOD}, {}, b"seed: 1\n# caf\xe9\n", (), r"params\.yaml:2: not valid UTF-8"),
    "params_is_a_folder": ({"train.csv": GOOD}, {}, b"<dir>", (), r"params\.yaml: is a folder"),
    "params_duplicate_key": ({"train.csv": GOOD}, {}, b"seed: 1\nseed: 2\n", (), r"key 'seed' given twice"),
    "seed_torch_cannot_take": ({"train.csv": GOOD}, {"seed": 2**64}, None, (),
                               rf"seed: Input should be less than or equal to {MAX_SEED}"),
    "seed_negative": ({"train.csv": GOOD}, {"seed": -5}, None, (), r"seed: Input should be greater than or equal to 0"),
    "encoding_rot13": ({"train.csv": GOOD}, {"dataset.encoding": "rot13"}, None, (),
                       r"dataset\.encoding: unknown text encoding 'rot13'"),
    "min_chars_above_max_chars": ({"train.csv": GOOD}, {"label.min_chars": 900}, None, (),
                                  r"label\.min_chars \(900\) is above label\.max_chars \(500\)"),
    "base_url_not_a_url_prepare": ({"train.csv": GOOD}, {**OPENAI, "teacher.base_url": "localhost:8000"}, None, (),
                                   r"teacher\.base_url: not an http\(s\) URL"),
    "base_url_not_a_url_teacher_check": ({"train.csv": GOOD}, {**OPENAI, "teacher.base_url": "htp//x"}, None,
                                         ("teacher", "check"), r"teacher\.base_url: not an http\(s\) URL"),
    "directory_as_dataset": ({"train.csv/": None}, {}, None, (), r"train\.csv: is a folder, not a dataset file"),
    "corrupt_gz": ({"train.csv.gz": b"\x1f\x8b\x08\x00\x00junk"}, {"dataset.train": "train.csv.gz"}, None, (),
                   r"train\.csv\.gz: not a valid gzip file"),
    "truncated_gz": ({"train.csv.gz": gzip.compress(GOOD.encode() * 20)[:25]}, {"dataset.train": "train.csv.gz"},
                     None, (), r"train\.csv\.gz: not a valid gzip file"),
    "jsonl_lone_surrogate": ({"train.jsonl": '{"text": "a", "label": "x"}\n{"text": "b \\ud800", "label": "y"}\n',
                              "test.jsonl": '{"text": "c", "label": "x"}\n'},
                             {"dataset.train": "train.jsonl", "dataset.test": "test.jsonl"}, None, (),
                             r"train\.jsonl:2: 'text' holds a lone surrogate"),
    "jsonl_label_NaN": ({"train.jsonl": '{"text": "a", "label": NaN}\n', "test.jsonl": '{"text": "c", "label": "x"}\n'},
                        {"dataset.train": "train.jsonl", "dataset.test": "test.jsonl"}, None, (),
                        r"train\.jsonl:1: NaN is not JSON"),
    "jsonl_label_true": ({"train.jsonl": '{"text": "a", "label": true}\n', "test.jsonl": '{"text": "c", "label": "x"}\n'},
                         {"dataset.train": "train.jsonl", "dataset.test": "test.jsonl"}, None, (),
                         r"train\.jsonl:1: 'label' is true/false true, expected a string"),
    "utf16_dataset_read_as_utf8": ({"train.csv": GOOD.encode("utf-16")}, {}, None, (),
                                   r"train\.csv: starts with a UTF-16 byte-order mark.*set dataset\.encoding: utf-16"),
    "duplicate_label_header": ({"train.csv": "text,label,label\nx,a,b\n"}, {}, None, (),
                               r"train\.csv:1: the header names 'label' twice"),
    "extra_field": ({"train.csv": "text,label\nx,a\nHello, world,b\n"}, {}, None, (),
                    r"train\.csv:3: 3 field\(s\) but the header has 2"),
    "every_label_missing": ({"train.csv": "text,label\nx,N/A\ny,nan\n"}, {}, None, (),
                            r"train\.csv: no samples found \(all 2 row\(s\) dropped"),
    "format_conll_for_classification": ({"train.csv": GOOD}, {"dataset.format": "conll"}, None, (),
                                        r"dataset\.format is conll but task is classification"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_user_mistake_is_a_message_not_a_traceback(tmp_path, name):
    files, over, raw, command, message = CASES[name]
    out = evokd(tmp_path / name, files, over, *command, params_bytes=raw)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "Traceback" not in out.stderr + out.stdout
    assert re.search(r"^error: ", out.stderr, re.MULTILINE)
    assert re.search(message, out.stderr, re.DOTALL), out.stderr[-2000:]
    assert not (tmp_path / name / "data" / "prepared").exists()


def test_prepare_drops_unusable_rows_with_a_warning_and_counts_them_in_its_meta(tmp_path):
    train = ("text,label\n" + "".join(f"what is thing {i} ?,DESC\nwho is person {i} ?,HUM\n" for i in range(4))
             + "where is it ?,N/A\nwhen was it ?,nan\n   ,HUM\n")
    test = "text,label\nwhat is a cat ?,DESC\nwho was Bach ?,HUM\nwho is that ?,\n"
    over = {"shots": 1, "train.seed_epochs": 1, "train.max_length": 16, "prepare.embed_max_length": 16}
    out = evokd(tmp_path / "p", {"train.csv": train, "test.csv": test}, over)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "train.csv: 3 row(s) dropped: 1 empty_text (first: line 12), 2 missing_label (first: line 10)" in out.stderr
    assert "test.csv: 1 row(s) dropped: 1 missing_label (first: line 4)" in out.stderr
    meta = json.loads((tmp_path / "p" / "data/rounds/0/prepare.meta.json").read_text())
    assert meta["dataset_rows_dropped"] == {
        "train": {"dropped": {"empty_text": 1, "missing_label": 2}, "dropped_total": 3,
                  "first": {"empty_text": "line 12", "missing_label": "line 10"}},
        "test": {"dropped": {"missing_label": 1}, "dropped_total": 1, "first": {"missing_label": "line 4"}}}
    labels = json.loads((tmp_path / "p" / "data/prepared/labels.json").read_text())
    assert labels["labels"] == ["DESC", "HUM"] and labels["counts"] == {"train": 8, "test": 2}
