"""Hostile corpus, loaders under hypothesis: any text and label written by each format's own
writer (csv module, pandas.to_csv, json.dumps, a TREC line, pandas.to_parquet) are read back by
evokd's loader exactly as written (stripped of surrounding whitespace), or the row is dropped
with its reason (`missing_label`, `empty_text`). Never merged with a neighbour, never split,
never re-labelled: the row count and order are checked too."""

from __future__ import annotations

import csv
import io
import json
import re

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evokd.config import DatasetConfig
from evokd.data.loaders import MISSING_LABELS, load_split
from evokd.errors import DataError

# Any Unicode but NUL (refused: it marks UTF-16 or binary) and lone surrogates (not characters).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
ROWS = st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=6)
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def expected(rows):
    """(text, label) kept in order, and drop counts, by the documented rules."""
    keep, drops = [], {}
    for text, label in rows:
        if label.strip().casefold() in MISSING_LABELS:
            drops["missing_label"] = drops.get("missing_label", 0) + 1
        elif not text.strip():
            drops["empty_text"] = drops.get("empty_text", 0) + 1
        else:
            keep.append((text.strip(), label.strip()))
    return keep, drops


def check(tmp_path, name, data: bytes, rows, unquoted_cr: bool = False, **cfg):
    """`unquoted_cr`: the writer left a bare CR in an unquoted field (csv writers quote only the
    characters of their own line terminator); a bare CR ends a line, so the file may also be
    refused, naming the line (Python's csv reader and pandas.read_csv break there too)."""
    path = tmp_path / name
    path.write_bytes(data)
    keep, drops = expected(rows)
    config = DatasetConfig(train=str(path), test=str(tmp_path / "other"), **cfg)
    if unquoted_cr:
        try:
            got = load_split(config, "train")
        except DataError as exc:
            assert re.search(rf"{name}:\d+: ", str(exc)) or "no samples found" in str(exc), str(exc)
            return
        assert [(r["text"], r["label"]) for r in got] == keep
        return
    if not keep:
        with pytest.raises(Exception, match="no samples found"):
            load_split(config, "train")
        return
    got = load_split(config, "train")
    assert [(r["text"], r["label"]) for r in got] == keep
    assert got.report.to_dict()["dropped"] == drops


@SETTINGS
@given(rows=ROWS, delimiter=st.sampled_from([",", "\t"]), lineterminator=st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_module_writer_round_trips(tmp_path, rows, delimiter, lineterminator):
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator=lineterminator)
    writer.writerow(["text", "label"])
    writer.writerows(rows)
    check(tmp_path, "train.csv" if delimiter == "," else "train.tsv", buf.getvalue().encode(), rows,
          unquoted_cr=lineterminator == "\n" and any("\r" in f for row in rows for f in row))


@SETTINGS
@given(rows=ROWS, delimiter=st.sampled_from([",", "\t"]), bom=st.booleans())
def test_pandas_to_csv_round_trips(tmp_path, rows, delimiter, bom):
    frame = pd.DataFrame(rows, columns=["text", "label"])
    data = frame.to_csv(sep=delimiter, index=False, lineterminator="\n").encode()
    check(tmp_path, "train.csv" if delimiter == "," else "train.tsv",
          (b"\xef\xbb\xbf" if bom else b"") + data, rows,
          unquoted_cr=any("\r" in f for row in rows for f in row))


@SETTINGS
@given(rows=ROWS, ascii_only=st.booleans(), utf16=st.booleans())
def test_jsonl_round_trips(tmp_path, rows, ascii_only, utf16):
    text = "".join(json.dumps({"text": t, "label": lab}, ensure_ascii=ascii_only) + "\n" for t, lab in rows)
    check(tmp_path, "train.jsonl", text.encode("utf-16" if utf16 else "utf-8"), rows,
          **({"encoding": "utf-16"} if utf16 else {}))


LABEL = st.from_regex(r"[A-Z]{1,5}:[a-z]{1,5}", fullmatch=True)
LINE_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r\n"),
                    min_size=1, max_size=40).filter(str.strip)


@SETTINGS
@given(rows=st.lists(st.tuples(LINE_TEXT, LABEL), min_size=1, max_size=6), sep=st.sampled_from([" ", "\t", "  "]),
       end=st.sampled_from(["\n", "\r\n", "\r"]))
def test_trec_round_trips(tmp_path, rows, sep, end):
    data = "".join(f"{label}{sep}{text}{end}" for text, label in rows).encode()
    path = tmp_path / "TREC.train"
    path.write_bytes(data)
    got = load_split(DatasetConfig(train=str(path), test=str(tmp_path / "TREC.test"), trec_labels="fine"), "train")
    assert [(r["id"], r["text"], r["label"]) for r in got] == [
        (f"train-{i:05d}", text.strip(), label) for i, (text, label) in enumerate(rows, start=1)]


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_parquet_round_trips(tmp_path, rows):
    path = tmp_path / "train.parquet"
    pd.DataFrame(rows, columns=["text", "label"]).to_parquet(path)
    check(tmp_path, "train.parquet", path.read_bytes(), rows)


@SETTINGS
@given(rows=ROWS, where=st.integers(0, 5), surrogate=st.integers(0xD800, 0xDFFF), column=st.sampled_from(["text", "label"]))
def test_jsonl_lone_surrogate_is_refused_naming_its_line(tmp_path, rows, where, surrogate, column):
    """The third outcome: a value no UTF-8 file can hold is refused with its line, wherever it is."""
    where = min(where, len(rows) - 1)
    records = [{"text": t, "label": lab} for t, lab in rows]
    records[where][column] += chr(surrogate)
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))  # ASCII escapes: \udXXX
    with pytest.raises(DataError, match=rf"train\.jsonl:{where + 1}: '{column}' holds a lone surrogate"):
        load_split(DatasetConfig(train=str(path), test=str(tmp_path / "other")), "train")
