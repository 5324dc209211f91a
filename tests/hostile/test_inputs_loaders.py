"""Hostile corpus, loaders: each dataset file below is read by the real loader and must end in
exactly one stated outcome: used (the exact rows, nothing dropped), dropped (the exact rows
kept, the exact drop counts by reason), or refused (a DataError naming the file and the line or
row). Nothing is merged, split, re-labelled or given a new class. Policy: docs/own-data.md."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

from evokd.config import DatasetConfig
from evokd.data.loaders import load_split
from evokd.errors import DataError

U16 = "text,label\nhi there,A\nbye now,B\n".encode("utf-16")


def used(*rows, **report):
    return ("used", rows, report)


def dropped(rows, **counts):
    return ("dropped", rows, counts)


def refused(pattern):
    return ("refused", pattern, None)


# name -> (file name, content, DatasetConfig overrides, expected outcome)
CASES = {
    # --- byte-order marks and line ends
    "utf8_bom_csv": ("train.csv", b"\xef\xbb\xbftext,label\nhi,A\n", {}, used(("train-00002", "hi", "A"))),
    "utf8_bom_trec": ("TREC.train", b"\xef\xbb\xbfDESC:def What is it ?\n", {},
                      used(("train-00001", "What is it ?", "DESC"))),
    "utf8_bom_jsonl": ("train.jsonl", b'\xef\xbb\xbf{"text": "hi", "label": "A"}\n', {},
                       used(("train-00001", "hi", "A"))),
    "bare_cr_trec": ("TREC.train", b"HUM:ind Who is he ?\rLOC:city Where is it ?\r", {},
                     used(("train-00001", "Who is he ?", "HUM"), ("train-00002", "Where is it ?", "LOC"))),
    "bare_cr_csv": ("train.csv", b"text,label\rhi,A\rbye,B\r", {},
                    used(("train-00002", "hi", "A"), ("train-00003", "bye", "B"))),
    "bare_cr_tsv": ("train.tsv", b"text\tlabel\rhi\tA\rbye\tB", {},
                    used(("train-00002", "hi", "A"), ("train-00003", "bye", "B"))),
    "bare_cr_jsonl": ("train.jsonl", b'{"text": "hi", "label": "A"}\r{"text": "bye", "label": "B"}\r', {},
                      used(("train-00001", "hi", "A"), ("train-00002", "bye", "B"))),
    "crlf_csv": ("train.csv", b"text,label\r\nhi,A\r\nbye,B\r\n", {},
                 used(("train-00002", "hi", "A"), ("train-00003", "bye", "B"))),
    "mixed_line_ends_tsv": ("train.tsv", b"text\tlabel\nhi\tA\r\nbye\tB\rso long\tC\n", {},
                            used(("train-00002", "hi", "A"), ("train-00003", "bye", "B"),
                                 ("train-00004", "so long", "C"))),
    "line_separator_u2028_stays_in_text": ("TREC.train", "HUM:ind Who\u2028is he ?\n".encode(), {},
                                           used(("train-00001", "Who\u2028is he ?", "HUM"))),
    "form_feed_stays_in_text": ("train.jsonl", b'{"text": "a\\fb", "label": "A"}\n', {},
                                used(("train-00001", "a\fb", "A"))),
    # --- TREC
    "trec_tab_between_label_and_question": ("TREC.train", b"HUM:ind\tWho is he ?\n", {},
                                            used(("train-00001", "Who is he ?", "HUM"))),
    "trec_several_spaces": ("TREC.train", b"HUM:ind   Who is he ?\n", {},
                            used(("train-00001", "Who is he ?", "HUM"))),
    "trec_fine_labels": ("TREC.train", b"HUM:ind\tWho is he ?\n", {"trec_labels": "fine"},
                         used(("train-00001", "Who is he ?", "HUM:ind"))),
    "trec_label_only": ("TREC.train", b"HUM:ind\n", {}, refused(r"TREC\.train:1: expected a TREC line")),
    "trec_no_colon": ("TREC.train", b"HUM:ind Who ?\nWho is he ?\n", {},
                      refused(r"TREC\.train:2: expected a TREC line")),
    # --- CSV / TSV quoting
    "tsv_text_opens_with_unmatched_quote": (
        "train.tsv", b'text\tlabel\n"Hello world\tA\nnext one\tB\nthird "one"\tA\n', {},
        used(("train-00002", '"Hello world', "A"), ("train-00003", "next one", "B"),
             ("train-00004", 'third "one"', "A"), literal_lines=1)),
    "csv_text_opens_with_unmatched_quote": (
        "train.csv", b'text,label\n"Hello world,A\nnext one,B\n', {},
        used(("train-00002", '"Hello world', "A"), ("train-00003", "next one", "B"), literal_lines=1)),
    "csv_unmatched_quote_and_comma": ("train.csv", b'text,label\n"Hello, world,A\nnext,B\n', {},
                                      refused(r"train\.csv:2: 3 field\(s\) but the header has 2 \(the line opens a quote")),
    "csv_quoted_word_then_more": ("train.csv", b'text,label\n"Jaws" is a film,ENTY\nbye,B\n', {},
                                  used(("train-00002", '"Jaws" is a film', "ENTY"), ("train-00003", "bye", "B"),
                                       literal_lines=1)),
    "csv_quoted_multiline_text": ("train.csv", b'text,label\n"two\nlines",A\nbye,B\n', {},
                                  used(("train-00002", "two\nlines", "A"), ("train-00004", "bye", "B"))),
    "csv_quoted_cr_kept": ("train.csv", b'text,label\n"two\rlines",A\n', {},
                           used(("train-00002", "two\rlines", "A"))),
    "csv_doubled_quotes": ("train.csv", b'text,label\n"He said ""hi""",A\n', {},
                           used(("train-00002", 'He said "hi"', "A"))),
    "csv_quote_inside_unquoted_field": ("train.csv", b'text,label\nsay "hi" now,A\n', {},
                                        used(("train-00002", 'say "hi" now', "A"))),
    "tsv_inner_quotes": ("train.tsv", b'text\tlabel\nHe said "hi"\tA\n', {},
                         used(("train-00002", 'He said "hi"', "A"))),
    "csv_quote_runs_to_end_of_file": ("train.csv", b'text,label\nok,A\n"never closed,B\nlast,A\n', {},
                                      used(("train-00002", "ok", "A"), ("train-00003", '"never closed', "B"),
                                           ("train-00004", "last", "A"), literal_lines=1)),
    # --- header and field counts
    "duplicate_header_label": ("train.csv", b"text,label,label\nhi,A,B\n", {},
                               refused(r"train\.csv:1: the header names 'label' twice \(columns 2, 3\)")),
    "duplicate_header_text": ("train.csv", b"text,text,label\nhi,ho,A\n", {},
                              refused(r"train\.csv:1: the header names 'text' twice")),
    "duplicate_header_unused_column": ("train.csv", b"note,text,note,label\nx,hi,y,A\n", {},
                                       used(("train-00002", "hi", "A"))),
    "extra_field_with_data": ("train.csv", b"text,label\nhi,A\nHello, world,B\n", {},
                              refused(r"train\.csv:3: 3 field\(s\) but the header has 2")),
    "extra_empty_trailing_field": ("train.csv", b"text,label\nhi,A,\n", {}, used(("train-00002", "hi", "A"))),
    "short_row": ("train.tsv", b"id\ttext\tlabel\n1\thi\tA\n2\tbye\n", {},
                  refused(r"train\.tsv:3: 2 field\(s\) but the header has 3")),
    "header_after_blank_lines": ("train.csv", b"\n\ntext,label\nhi,A\n", {}, used(("train-00004", "hi", "A"))),
    "header_missing_column_names_line": ("train.csv", b"\nsentence,label\nhi,A\n", {},
                                         refused(r"train\.csv:2: no column 'text'")),
    "tsv_row_of_empty_fields_is_a_row": ("train.tsv", b"text\tlabel\nhi\tA\n\t\n", {},
                                         dropped([("train-00002", "hi", "A")], missing_label=1)),
    # --- missing-looking labels: dropped, never a class
    **{f"csv_label_{name}": ("train.csv", f"text,label\nhi,A\nbye,{value}\n".encode(), {},
                             dropped([("train-00002", "hi", "A")], missing_label=1))
       for name, value in [("N/A", "N/A"), ("nan", "nan"), ("NaN", "NaN"), ("NULL", "NULL"),
                           ("None", "None"), ("empty", ""), ("spaces", "   "), ("dash", "-"),
                           ("question_mark", "?"), ("excel_na", "#N/A"), ("pandas_na", "<NA>"),
                           ("NA", "NA"), ("quoted_empty", '""')]},
    "csv_empty_text": ("train.csv", b"text,label\nhi,A\n  ,B\n", {},
                       dropped([("train-00002", "hi", "A")], empty_text=1)),
    "all_rows_dropped": ("train.csv", b"text,label\nhi,N/A\nbye,\n", {},
                         refused(r"train\.csv: no samples found \(all 2 row\(s\) dropped")),
    # --- JSON Lines values that are not labels
    "jsonl_label_NaN": ("train.jsonl", b'{"text": "hi", "label": NaN}\n', {},
                        refused(r"train\.jsonl:1: NaN is not JSON")),
    "jsonl_label_Infinity": ("train.jsonl", b'{"text": "hi", "label": Infinity}\n', {},
                             refused(r"train\.jsonl:1: Infinity is not JSON")),
    "jsonl_label_minus_Infinity": ("train.jsonl", b'{"text": "hi", "label": -Infinity}\n', {},
                                   refused(r"train\.jsonl:1: -Infinity is not JSON")),
    "jsonl_label_true": ("train.jsonl", b'{"text": "hi", "label": true}\n', {},
                         refused(r"train\.jsonl:1: 'label' is true/false true, expected a string")),
    "jsonl_label_1": ("train.jsonl", b'{"text": "hi", "label": 1}\n', {},
                      refused(r"train\.jsonl:1: 'label' is int 1, expected a string; if the class is named 1")),
    "jsonl_label_1e999": ("train.jsonl", b'{"text": "hi", "label": 1e999}\n', {},
                          refused(r"train\.jsonl:1: 'label' is float Infinity, expected a string")),
    "jsonl_label_float": ("train.jsonl", b'{"text": "hi", "label": 0.5}\n', {},
                          refused(r"train\.jsonl:1: 'label' is float 0\.5")),
    "jsonl_label_list": ("train.jsonl", b'{"text": "hi", "label": ["A"]}\n', {},
                         refused(r"train\.jsonl:1: 'label' is list")),
    "jsonl_text_number": ("train.jsonl", b'{"text": 42, "label": "A"}\n', {},
                          refused(r"train\.jsonl:1: 'text' is int 42, expected a string$")),
    "jsonl_label_null": ("train.jsonl", b'{"text": "hi", "label": "A"}\n{"text": "bye", "label": null}\n', {},
                         dropped([("train-00001", "hi", "A")], missing_label=1)),
    "jsonl_label_string_nan": ("train.jsonl", b'{"text": "hi", "label": "A"}\n{"text": "bye", "label": "nan"}\n', {},
                               dropped([("train-00001", "hi", "A")], missing_label=1)),
    "jsonl_text_null": ("train.jsonl", b'{"text": "hi", "label": "A"}\n{"text": null, "label": "B"}\n', {},
                        dropped([("train-00001", "hi", "A")], empty_text=1)),
    "jsonl_label_1_as_string": ("train.jsonl", b'{"text": "hi", "label": "1"}\n', {},
                                used(("train-00001", "hi", "1"))),
    "jsonl_duplicate_key": ("train.jsonl", b'{"text": "hi", "label": "A", "label": "B"}\n', {},
                            refused(r"train\.jsonl:1: the object has key\(s\) \['label'\] twice")),
    "jsonl_lone_surrogate_text": ("train.jsonl", b'{"text": "hi \\ud800", "label": "A"}\n', {},
                                  refused(r"train\.jsonl:1: 'text' holds a lone surrogate")),
    "jsonl_lone_surrogate_label": ("train.jsonl", b'{"text": "hi", "label": "\\udfffA"}\n', {},
                                   refused(r"train\.jsonl:1: 'label' holds a lone surrogate")),
    "jsonl_lone_surrogate_id": ("train.jsonl", b'{"id": "\\ud800", "text": "hi", "label": "A"}\n', {},
                                refused(r"train\.jsonl:1: 'id' holds a lone surrogate")),
    "jsonl_surrogate_pair_is_a_character": ("train.jsonl", b'{"text": "hi \\ud83d\\ude00", "label": "A"}\n', {},
                                            used(("train-00001", "hi \U0001F600", "A"))),
    "jsonl_id_object": ("train.jsonl", b'{"id": {"a": 1}, "text": "hi", "label": "A"}\n', {},
                        refused(r"train\.jsonl:1: 'id' is dict")),
    "jsonl_id_null": ("train.jsonl", b'{"id": null, "text": "hi", "label": "A"}\n', {},
                      refused(r"train\.jsonl:1: 'id' is null, expected a string or an integer \(or no 'id' key")),
    "jsonl_id_true": ("train.jsonl", b'{"id": true, "text": "hi", "label": "A"}\n', {},
                      refused(r"train\.jsonl:1: 'id' is true/false, expected a string")),
    "jsonl_id_integer": ("train.jsonl", b'{"id": 7, "text": "hi", "label": "A"}\n', {}, used(("7", "hi", "A"))),
    "jsonl_duplicate_ids": ("train.jsonl", b'{"id": "x", "text": "hi", "label": "A"}\n{"id": "x", "text": "ho", "label": "A"}\n',
                            {}, refused(r"train\.jsonl: id 'x' appears 2 times")),
    "jsonl_extra_keys_ignored": ("train.jsonl", b'{"text": "hi", "label": "A", "meta": [1, 2]}\n', {},
                                 used(("train-00001", "hi", "A"))),
    "jsonl_missing_key": ("train.jsonl", b'{"text": "hi"}\n', {}, refused(r"train\.jsonl:1: no key 'label'")),
    "jsonl_top_level_array": ("train.jsonl", b'["hi", "A"]\n', {},
                              refused(r"train\.jsonl:1: expected a JSON object per line")),
    # --- encodings
    "utf16_file_read_as_utf8": ("train.csv", U16, {}, refused(r"train\.csv: starts with a UTF-16 byte-order mark "
                                                              r"but dataset\.encoding is utf-8; set dataset\.encoding: utf-16")),
    "utf16_file_with_encoding_utf16": ("train.csv", U16, {"encoding": "utf-16"},
                                       used(("train-00002", "hi there", "A"), ("train-00003", "bye now", "B"))),
    "utf16_trec_with_encoding_utf16": ("TREC.train", "HUM:ind Who is he ?\n".encode("utf-16"), {"encoding": "utf-16"},
                                       used(("train-00001", "Who is he ?", "HUM"))),
    "utf16le_without_bom_read_as_utf8": ("train.csv", "text,label\nhi,A\n".encode("utf-16-le"), {},
                                         refused(r"train\.csv:1: NUL bytes in the line; the file may be UTF-16")),
    "utf16_invalid_bytes": ("train.csv", b"\xff\xfe" + "text,label\n".encode("utf-16-le") + b"\x00\xdc",
                            {"encoding": "utf-16"}, refused(r"train\.csv: not valid utf-16 at byte")),
    "utf32_file_read_as_utf8": ("train.csv", "text,label\nhi,A\n".encode("utf-32"), {},
                                refused(r"UTF-32 byte-order mark.*dataset\.encoding: utf-32")),
    "latin1_byte_in_utf8_file": ("train.csv", b"text,label\ncaf\xe9,A\n", {},
                                 used(("train-00002", "caf\u00e9", "A"), latin1_lines=1)),
    "cp1252_encoding": ("train.csv", b"text,label\n\x93quoted\x94 caf\xe9,A\n", {"encoding": "cp1252"},
                        used(("train-00002", "\u201cquoted\u201d caf\u00e9", "A"))),
    "binary_file": ("train.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {},
                    refused(r"train\.csv:3: NUL bytes in the line")),
    # --- files that are not files
    "directory_as_dataset": ("train.csv/", None, {}, refused(r"train\.csv: is a folder, not a dataset file")),
    "corrupt_gz": ("train.csv.gz", b"\x1f\x8b\x08\x00garbage-not-deflate", {},
                   refused(r"train\.csv\.gz: not a valid gzip file")),
    "truncated_gz": ("train.csv.gz", gzip.compress(b"text,label\nhi,A\n" * 50)[:30], {},
                     refused(r"train\.csv\.gz: not a valid gzip file")),
    "not_gzip_at_all": ("train.csv.gz", b"text,label\nhi,A\n", {}, refused(r"train\.csv\.gz: not a valid gzip file")),
    "valid_gz": ("train.csv.gz", gzip.compress(b"text,label\nhi,A\n"), {}, used(("train-00002", "hi", "A"))),
    "empty_gz": ("train.csv.gz", gzip.compress(b""), {}, refused(r"train\.csv\.gz: file is empty")),
    "missing_file": ("nope.csv", None, {}, refused(r"nope\.csv: file not found")),
}


def write(folder: Path, name: str, content: bytes | None) -> Path:
    path = folder / name.rstrip("/")
    if name.endswith("/"):
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    return path


def check(outcome, load):
    kind, expect, report = outcome
    if kind == "refused":
        with pytest.raises(DataError) as info:
            load()
        assert re.search(expect, str(info.value)), str(info.value)
        return
    rows = load()
    assert [(r["id"], r["text"], r["label"]) for r in rows] == [tuple(e) for e in expect]
    got = rows.report.to_dict()
    if kind == "used":
        assert got["dropped"] == {}
        for key in ("latin1_lines", "literal_lines"):
            assert got.get(key, 0) == report.get(key, 0), got
    else:
        assert got["dropped"] == report and got["dropped_total"] == sum(report.values())
        assert set(got["first"]) == set(report)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loader_outcome(tmp_path, name):
    filename, content, over, outcome = CASES[name]
    path = write(tmp_path, filename, content)
    cfg = DatasetConfig(train=str(path), test=str(tmp_path / "other-test-file"), **over)
    check(outcome, lambda: load_split(cfg, "train"))


def test_dropped_rows_name_their_first_line(tmp_path):
    path = write(tmp_path, "train.csv", b"text,label\nhi,A\nbye,N/A\n ,B\nyo,nan\n")
    rows = load_split(DatasetConfig(train=str(path), test="t.csv"), "train")
    assert rows.report.to_dict() == {"dropped": {"empty_text": 1, "missing_label": 2}, "dropped_total": 3,
                                     "first": {"empty_text": "line 4", "missing_label": "line 3"}}


# CoNLL (task: ner): name -> (content, encoding, expected sentences as (id, tokens, tags) or a
# refusal regex, the report's `repaired` counts).
CONLL = {
    "utf8_bom": (b"\xef\xbb\xbfEU B-ORG\nrejects O\n", "utf-8", [("train-000001", ["EU", "rejects"], ["B-ORG", "O"])], {}),
    "bare_cr": (b"EU B-ORG\rrejects O\r\rBonn B-LOC\r", "utf-8",
                [("train-000001", ["EU", "rejects"], ["B-ORG", "O"]), ("train-000004", ["Bonn"], ["B-LOC"])], {}),
    "crlf_and_tabs": (b"EU\tNNP\tB-ORG\r\nrejects\tVBZ\tO\r\n", "utf-8",
                      [("train-000001", ["EU", "rejects"], ["B-ORG", "O"])], {}),
    "orphan_i_repaired_and_counted": (b"in O\nBonn I-LOC\n", "utf-8",
                                      [("train-000001", ["in", "Bonn"], ["O", "B-LOC"])], {"orphan_i_tag_to_b": 1}),
    "utf16_with_encoding": ("EU B-ORG\n".encode("utf-16"), "utf-16", [("train-000001", ["EU"], ["B-ORG"])], {}),
    "utf16_read_as_utf8": ("EU B-ORG\n".encode("utf-16"), "utf-8", r"UTF-16 byte-order mark.*dataset\.encoding: utf-16", {}),
    "nul_bytes": (b"EU\x00 B-ORG\n", "utf-8", r"train\.conll:1: NUL bytes", {}),
    "bioes_tag": (b"EU S-ORG\n", "utf-8", r"train\.conll:1: tag 'S-ORG' .*BIOES", {}),
}


@pytest.mark.parametrize("name", sorted(CONLL))
def test_conll_outcome(tmp_path, name):
    from evokd.data.conll import load_conll

    content, encoding, expect, repaired = CONLL[name]
    path = write(tmp_path, "train.conll", content)
    if isinstance(expect, str):
        with pytest.raises(DataError, match=expect):
            load_conll(path, "train", encoding)
        return
    rows = load_conll(path, "train", encoding)
    assert [(r["id"], r["tokens"], r["tags"]) for r in rows] == expect
    assert rows.report.to_dict().get("repaired", {}) == repaired
