"""Hostile corpus, config: params that contradict themselves or hold what no code can take are
refused when params.yaml is loaded (before any data is read or model embedded), each with a
message naming the key and what is allowed; the values that are fine load."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import csv_params as params

from evokd.config import MAX_SEED, load_config, parse_config
from evokd.errors import ConfigError



REFUSED = {
    "encoding_rot13": ({"dataset.encoding": "rot13"}, r"dataset\.encoding: unknown text encoding 'rot13'"),
    "encoding_base64": ({"dataset.encoding": "base64"}, r"unknown text encoding 'base64'"),
    "encoding_hex": ({"dataset.encoding": "hex"}, r"unknown text encoding 'hex'"),
    "encoding_zlib": ({"dataset.encoding": "zlib"}, r"unknown text encoding 'zlib'"),
    "encoding_unknown": ({"dataset.encoding": "utf-9"}, r"unknown text encoding 'utf-9'"),
    "encoding_undefined": ({"dataset.encoding": "undefined"}, r"dataset\.encoding: unknown text encoding 'undefined'"),
    "seed_negative": ({"seed": -1}, r"seed: Input should be greater than or equal to 0"),
    "seed_above_torch_and_numpy": ({"seed": 2**64}, rf"seed: Input should be less than or equal to {MAX_SEED}"),
    "seed_just_above_max": ({"seed": MAX_SEED + 1}, rf"seed: .*{MAX_SEED}"),
    "seed_float": ({"seed": 1.5}, r"seed: .*integer"),
    "min_chars_above_max_chars": ({"label.min_chars": 600, "label.max_chars": 500},
                                  r"label\.min_chars \(600\) is above label\.max_chars \(500\)"),
    "base_url_no_scheme": ({"teacher.base_url": "localhost:8000/v1"}, r"teacher\.base_url: not an http\(s\) URL"),
    "base_url_ftp": ({"teacher.base_url": "ftp://host/v1"}, r"teacher\.base_url: not an http\(s\) URL"),
    "base_url_no_host": ({"teacher.base_url": "http:///v1"}, r"teacher\.base_url: not an http\(s\) URL"),
    "base_url_bad_port": ({"teacher.base_url": "http://host:99999/v1"}, r"teacher\.base_url: not an http\(s\) URL"),
    "base_url_words": ({"teacher.base_url": "my endpoint"}, r"teacher\.base_url: not an http\(s\) URL"),
    "base_url_space_in_host": ({"teacher.base_url": "http://my host/v1"}, r"teacher\.base_url: not an http\(s\) URL"),
    "base_url_one_bad_in_fleet": ({"teacher.base_url": ["http://a:1/v1", "b:2"]}, r"teacher\.base_url: not an http\(s\) URL"),
    "max_backoff_below_backoff": ({"teacher.backoff_s": 10, "teacher.max_backoff_s": 2},
                                  r"teacher\.max_backoff_s \(2\) is below teacher\.backoff_s \(10\)"),
    "text_column_is_label_column": ({"dataset.text_column": "x", "dataset.label_column": "x"},
                                    r"dataset\.text_column and dataset\.label_column are both 'x'"),
    "dev_is_train": ({"dataset.dev": "train.csv"}, r"dataset\.dev is the same file as dataset\.train"),
    "dev_is_test": ({"dataset.dev": "./test.csv"}, r"dataset\.dev is the same file as dataset\.test"),
    "conll_format_for_classification": ({"dataset.format": "conll"},
                                        r"dataset\.format is conll but task is classification"),
    "csv_format_for_ner": ({"task": "ner", "dataset.format": "csv"}, r"dataset\.format is csv but task is ner"),
    "unknown_format": ({"dataset.format": "xlsx"}, r"dataset\.format: Input should be 'trec', 'csv'"),
}

ACCEPTED = {
    "encoding_utf16": {"dataset.encoding": "utf-16"},
    "encoding_cp1252": {"dataset.encoding": "cp1252"},
    "encoding_latin1": {"dataset.encoding": "latin-1"},
    "seed_max": {"seed": MAX_SEED},
    "min_chars_equals_max_chars": {"label.min_chars": 50, "label.max_chars": 50},
    "base_url_https_with_path": {"teacher.base_url": "https://api.example.com/v1"},
    "base_url_ipv6": {"teacher.base_url": "http://[::1]:8000/v1"},
    "format_parquet": {"dataset.format": "parquet"},
    "format_hf": {"dataset.format": "hf"},
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_contradiction_or_impossible_value_is_refused_at_load(name):
    over, message = REFUSED[name]
    with pytest.raises(ConfigError) as info:
        parse_config(params(**over))
    assert re.search(message, str(info.value)), str(info.value)


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_sensible_value_loads(name):
    parse_config(params(**ACCEPTED[name]))


def test_base_url_error_does_not_repeat_the_url_in_its_own_words():
    with pytest.raises(ConfigError) as info:
        parse_config(params(**{"teacher.base_url": "ftp://user:s3cret@host/v1"}))
    first = str(info.value).split("(got", 1)[0]
    assert "s3cret" not in first


# name -> (bytes of params.yaml, message regex)
FILES = {
    "utf16_le_bom": ("seed: 1\n".encode("utf-16"), r"params\.yaml: is UTF-16; save it as UTF-8"),
    "utf16_be_bom": (b"\xfe\xff" + "seed: 1\n".encode("utf-16-be"), r"params\.yaml: is UTF-16"),
    "latin1_bytes": (b"dataset:\n  train: caf\xe9.csv\n", r"params\.yaml:2: not valid UTF-8 \(byte 0xe9\)"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00", r"params\.yaml:1: not valid UTF-8"),
    "duplicate_top_level_key": (b"seed: 1\nrounds: 2\nseed: 3\n", r"key 'seed' given twice \(first on line 1\)"),
    "duplicate_nested_key": (b"train:\n  epochs: 1\n  epochs: 2\n", r"key 'epochs' given twice \(first on line 2\)"),
    # Both on one line: a flow mapping (a check by line number alone would miss it).
    "duplicate_key_in_flow_mapping": (b"train: {epochs: 1, epochs: 2}\n",
                                      r"key 'epochs' given twice \(first on line 1\)"),
    "not_a_mapping": (b"- a\n- b\n", r"params\.yaml: expected a mapping"),
    "empty": (b"", r"params\.yaml: expected a mapping"),
    "unclosed": (b"task: [unclosed\n", r"params\.yaml: not valid YAML"),
    "tab_indent": (b"dataset:\n\ttrain: x\n", r"params\.yaml: not valid YAML"),
    "deep_nesting": (b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n", r"params\.yaml: not valid YAML"),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_params_file_that_cannot_be_read(tmp_path, name):
    data, message = FILES[name]
    (tmp_path / "params.yaml").write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "params.yaml")
    assert re.search(message, str(info.value)), str(info.value)


def test_params_with_utf8_bom_loads(tmp_path):
    (tmp_path / "params.yaml").write_bytes(b"\xef\xbb\xbf" + yaml.safe_dump(params(seed=7)).encode())
    assert load_config(tmp_path / "params.yaml").seed == 7


def test_params_with_a_yaml_merge_key_loads(tmp_path):
    """`<<: *anchor` is valid YAML (yaml.safe_load takes it), and a key after it overrides the
    merged one: neither is a key given twice."""
    text = yaml.safe_dump(params(**{"teacher.prices": {}}))
    text = text.replace("prices: {}", "prices:\n    gpt-4o-mini: &base {prompt: 0.15, completion: 0.6}\n"
                                      "    my-model: {<<: *base, completion: 0.7}")
    (tmp_path / "params.yaml").write_text(text)
    prices = load_config(tmp_path / "params.yaml").teacher.prices
    assert (prices["my-model"].prompt, prices["my-model"].completion) == (0.15, 0.7)


def test_params_is_a_folder(tmp_path):
    (tmp_path / "params.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"params\.yaml: is a folder"):
        load_config(tmp_path / "params.yaml")
