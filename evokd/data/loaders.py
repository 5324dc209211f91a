"""Dataset loaders: TREC label lines, CSV/TSV with a header, JSON Lines, Parquet, and a folder
saved by Hugging Face `datasets` (`save_to_disk`).

Input is never silently changed: every row is used as written (its text and label stripped of
surrounding whitespace) or dropped with a reason that is counted in a warning and in prepare's
meta file (`LoadReport`). Rows are never merged, split, re-labelled or given a new class.
What cannot be read unambiguously stops with a DataError naming the file and line (or row) and
what to do. The policy, per case, is in docs/own-data.md.

- Line ends are `\\n`, `\\r\\n` or a bare `\\r`; a UTF-8 byte-order mark is not text. Lines that are
  not valid in `dataset.encoding` are read as latin-1 (TREC.train has one such byte), counted.
- Dropped, with a reason: `missing_label` (empty, null, or a value that reads as missing, such as
  `N/A` or `nan`: see MISSING_LABELS) and `empty_text`. Blank lines are not rows.
- Refused: a label or text that is not a string (JSON `1`, `true`, `1e999`; `NaN` is not JSON
  at all), a row with more or fewer fields than the header, a header or JSON object that names a
  used column twice, a lone UTF-16 surrogate, NUL bytes (UTF-16 read as UTF-8, or a binary file).

CSV/TSV go through the csv module in strict mode, record by record: a field that opens with a
quote never closed as CSV closes one cannot swallow the lines after it; that line is read as
written instead (see DESIGN.md, "Reading a user's dataset", for why not pandas.read_csv).
Every sample gets a stable id, `<split>-<line>` (or `<split>-<row>` for Parquet and datasets).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import logging
import numbers
import os
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Iterator

from evokd.config import DatasetConfig, is_saved_dataset
from evokd.errors import DataError

log = logging.getLogger(__name__)

# Labels that read as "no label" (compared case-insensitively, after stripping): such a row is
# dropped as `missing_label`, never made a class. pandas' default NA strings, and `-` / `?`.
MISSING_LABELS = frozenset({
    "", "n/a", "na", "nan", "-nan", "null", "none", "nil", "<na>", "#n/a", "#na", "n.a.", "-", "?",
    "-1.#ind", "1.#ind", "-1.#qnan", "1.#qnan", "#n/a n/a", "undefined",
})
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
_LINE_BYTES = re.compile(rb"(\r\n|\r|\n)")
_SURROGATE = re.compile("[\ud800-\udfff]")
_WIDE_BOMS = {codecs.BOM_UTF32_LE: "utf-32", codecs.BOM_UTF32_BE: "utf-32",
              codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16"}


@dataclass
class LoadReport:
    """What loading one file did besides using rows: drops by reason (with the first line of
    each), lines read as latin-1, lines read as written because their quoting was broken."""

    path: str
    dropped: Counter = field(default_factory=Counter)
    first: dict = field(default_factory=dict)
    latin1_lines: int = 0
    literal_lines: int = 0
    # Documented repairs that keep a row but change what it says (CoNLL: orphan I- tags to B-).
    repaired: Counter = field(default_factory=Counter)

    def drop(self, reason: str, where: str) -> None:
        self.dropped[reason] += 1
        self.first.setdefault(reason, where)

    def to_dict(self) -> dict:
        out: dict[str, Any] = {"dropped": dict(sorted(self.dropped.items())),
                               "dropped_total": sum(self.dropped.values())}
        if self.first:
            out["first"] = dict(sorted(self.first.items()))
        if self.latin1_lines:
            out["latin1_lines"] = self.latin1_lines
        if self.literal_lines:
            out["literal_lines"] = self.literal_lines
        if self.repaired:
            out["repaired"] = dict(sorted(self.repaired.items()))
        return out

    def warn(self) -> None:
        if self.dropped:
            log.warning("%s: %d row(s) dropped: %s", self.path, sum(self.dropped.values()),
                        ", ".join(f"{n} {reason} (first: {self.first[reason]})"
                                  for reason, n in sorted(self.dropped.items())))
        if self.literal_lines:
            log.warning("%s: %d line(s) with a quote that is not closed as CSV closes one were read "
                        "as written", self.path, self.literal_lines)


class Rows(list):
    """A split's samples, with the LoadReport of the file they came from."""

    report: LoadReport

    def __init__(self, rows, report: LoadReport):
        super().__init__(rows)
        self.report = report


def load_reports(splits: dict[str, list]) -> dict[str, dict]:
    """Per split, what loading dropped and why (for prepare's meta file); {} for none."""
    return {name: rows.report.to_dict() for name, rows in splits.items() if isinstance(rows, Rows)}


def _ascii_compatible(encoding: str) -> bool:
    return "\r\n,\t\"{}: ".encode(encoding) == b"\r\n,\t\"{}: "


def _must_exist(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found (check the dataset block of params.yaml)")


def read_raw(path: Path) -> bytes:
    """The file's bytes, a `.gz` decompressed; DataError for what is not a readable file."""
    _must_exist(path)
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not a dataset file; a folder is read only when Hugging "
                        "Face datasets' save_to_disk wrote it (it then holds dataset_info.json)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc}); re-compress it or give the "
                            "uncompressed file") from None
    return raw


def decode_text(path: Path, encoding: str = "utf-8", report: LoadReport | None = None) -> str:
    """The file as text with its line ends kept (`\\n`, `\\r\\n` or `\\r`). An ASCII-compatible
    encoding is decoded line by line, a line that is not valid in it read as latin-1 (which never
    fails) and counted; UTF-16/32 are decoded whole. A leading byte-order mark is dropped."""
    report = report if report is not None else LoadReport(str(path))
    raw = read_raw(path)
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    if not _ascii_compatible(encoding):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not valid {encoding} at byte {exc.start} ({exc.reason}); check "
                            "dataset.encoding") from None
        return text.removeprefix("\ufeff")
    for bom, wide in _WIDE_BOMS.items():
        if raw.startswith(bom):
            raise DataError(f"{path}: starts with a {wide.upper()} byte-order mark but dataset.encoding "
                            f"is {encoding}; set dataset.encoding: {wide} (or save the file as UTF-8)")
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    parts, fallbacks = [], []
    pieces = _LINE_BYTES.split(raw)  # [line, end, line, end, ..., line]
    for i in range(0, len(pieces), 2):
        number = i // 2 + 1
        chunk = pieces[i]
        if b"\x00" in chunk:
            raise DataError(f"{path}:{number}: NUL bytes in the line; the file may be UTF-16 without a "
                            "byte-order mark (set dataset.encoding: utf-16) or not text at all")
        try:
            parts.append(chunk.decode(encoding))
        except UnicodeDecodeError:
            parts.append(chunk.decode("latin-1"))
            fallbacks.append(number)
        if i + 1 < len(pieces):
            parts.append(pieces[i + 1].decode("ascii"))
    if fallbacks:
        report.latin1_lines += len(fallbacks)
        log.warning("%s: %d line(s) not valid %s, read as latin-1 (first: line %d)",
                    path, len(fallbacks), encoding, fallbacks[0])
    return "".join(parts)


def physical_lines(text: str) -> list[str]:
    """Lines with their ends kept, split at `\\n`, `\\r\\n` and `\\r` only (not at the other
    characters str.splitlines breaks on, such as U+2028, which may be part of a text)."""
    return _LINE.findall(text)


def decode_lines(path: Path, encoding: str = "utf-8", report: LoadReport | None = None) -> list[str]:
    """The file's lines, without their ends (see decode_text)."""
    return [line.rstrip("\r\n") for line in physical_lines(decode_text(path, encoding, report))]


def _string(where: str, column: str, value: Any, what: str) -> str | None:
    """`value` as a string, None when it is null; DataError for any other type, or a lone
    surrogate (half of a UTF-16 pair, not a character: no UTF-8 file could hold it)."""
    if value is None:
        return None
    if not isinstance(value, str):
        kind = "true/false" if isinstance(value, bool) else type(value).__name__
        scalar = isinstance(value, (bool, numbers.Number))
        shown = json.dumps(value) if type(value) in (bool, int, float) else repr(value)[:40]
        hint = f"; if the class is named {shown}, write it as a string" if what == "label" and scalar else ""
        raise DataError(f"{where}: {column!r} is {kind}{' ' + shown if scalar else ''}, expected a string{hint}")
    if _SURROGATE.search(value):
        raise DataError(f"{where}: {column!r} holds a lone surrogate escape (such as \\ud800), which is "
                        "half of a UTF-16 pair and not a character; fix or remove the row")
    return value


def _sample(report: LoadReport, where: str, sample_id: str, text: str | None,
            label: str | None) -> dict | None:
    """The sample, or None with the row counted as dropped (missing label first)."""
    label = (label or "").strip()
    if label.casefold() in MISSING_LABELS:
        report.drop("missing_label", where)
        return None
    text = (text or "").strip()
    if not text:
        report.drop("empty_text", where)
        return None
    return {"id": sample_id, "text": text, "label": label}


_TREC_LINE = re.compile(r"(\S+)\s+(.*)", re.DOTALL)


def _trec(path: Path, split: str, cfg: DatasetConfig, report: LoadReport) -> list[dict]:
    rows = []
    for number, line in enumerate(decode_lines(path, cfg.encoding, report), start=1):
        if not line.strip():
            continue
        match = _TREC_LINE.fullmatch(line.strip())  # label, any whitespace (space or tab), question
        label, text = match.groups() if match else (line.strip(), "")
        coarse, colon, fine = label.partition(":")
        if not colon or not coarse or not fine or not text.strip():
            raise DataError(
                f"{path}:{number}: expected a TREC line `COARSE:fine question ...`, got {line[:60]!r}"
            )
        sample = _sample(report, f"line {number}", f"{split}-{number:05d}", text,
                         coarse if cfg.trec_labels == "coarse" else label)
        if sample:
            rows.append(sample)
    return rows


def _delimiter_hint(header: str, delimiter: str) -> str:
    """What to do when a header reads as one column: the delimiter it seems to use."""
    names = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe"}
    found = max((d for d in names if d != delimiter), key=header.count)
    if not header.count(found):
        return "the file may not be delimited text (check dataset.format)"
    if found in ("\t", ","):
        return (f"the file may be {names[found]}-separated "
                f"(set dataset.format: {'tsv' if found == chr(9) else 'csv'})")
    return (f"the file may be {names[found]}-separated, which evokd does not read: "
            "convert it to CSV or TSV")


def delimited_records(lines: list[str], delimiter: str) -> Iterator[tuple[int, list[str], bool]]:
    """(first line number, fields, read as written?) per record of CSV/TSV `lines` (ends kept).

    Strict CSV quoting, so that a quoted field must close with a quote followed by the delimiter
    or the line end. When a record breaks that rule (a text that opens with an unmatched `"`, or
    `"Jaws" is a film`), its first line alone is taken as written, split at the delimiter, and
    reading goes on at the next line: the lines after it are never swallowed into it. A scan ends
    at the next quote character, so this stays linear in the file's size."""
    start = 0
    while start < len(lines):
        reader = csv.reader(islice(lines, start, None), delimiter=delimiter, strict=True)
        while True:
            first = start + reader.line_num  # 0-based index of the next record's first line
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error:
                yield first + 1, lines[first].rstrip("\r\n").split(delimiter), True
                start = first + 1
                break
            yield first + 1, record, False


def _delimited(path: Path, split: str, cfg: DatasetConfig, delimiter: str, report: LoadReport) -> list[dict]:
    kind = "CSV" if delimiter == "," else "TSV"
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 24))  # 16 MB texts; the default is 128 KB
    records = delimited_records(physical_lines(decode_text(path, cfg.encoding, report)), delimiter)
    header = None
    for number, record, _ in records:
        if any(h.strip() for h in record):
            header = [h.strip() for h in record]
            break
    if header is None:
        raise DataError(f"{path}: file is empty")
    missing = [c for c in (cfg.text_column, cfg.label_column) if c not in header]
    if missing:
        hint = ""
        if len(header) == 1:
            hint = "; the header has one column, so " + _delimiter_hint(header[0], delimiter)
        raise DataError(
            f"{path}:{number}: no column {', '.join(map(repr, missing))} in the header {header}; "
            f"set dataset.text_column / dataset.label_column{hint}"
        )
    for column in (cfg.text_column, cfg.label_column):
        if header.count(column) > 1:
            places = [i + 1 for i, h in enumerate(header) if h == column]
            raise DataError(f"{path}:{number}: the header names {column!r} twice (columns "
                            f"{', '.join(map(str, places))}); rename one so that it is clear which to read")
    twice = sorted(h for h, n in Counter(header).items() if n > 1 and h)
    if twice:
        log.warning("%s:%d: header names %s more than once (not read by evokd)", path, number, twice)
    ti, li = header.index(cfg.text_column), header.index(cfg.label_column)
    rows = []
    for number, record, literal in records:
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # a blank line is not a row
        if literal:
            report.literal_lines += 1
        extra = record[len(header):]
        if len(record) < len(header) or any(f.strip() for f in extra):
            why = (" (the line opens a quote that is never closed as " + kind + " closes one, "
                   "so it was split as written)") if literal else ""
            raise DataError(f"{path}:{number}: {len(record)} field(s) but the header has "
                            f"{len(header)}{why}; quote a text that holds the delimiter")
        sample = _sample(report, f"line {number}", f"{split}-{number:05d}", record[ti], record[li])
        if sample:
            rows.append(sample)
    return rows


class _DuplicateKey(ValueError):
    """A JSON object names a key twice (json.loads would keep the last value silently)."""


class _NotJson(ValueError):
    """NaN / Infinity / -Infinity: Python's json accepts them, JSON does not."""


def _json_object(pairs: list[tuple[str, Any]]) -> dict:
    twice = sorted(k for k, n in Counter(k for k, _ in pairs).items() if n > 1)
    if twice:
        raise _DuplicateKey(twice)
    return dict(pairs)


def _not_json(constant: str) -> None:
    raise _NotJson(constant)


def _jsonl(path: Path, split: str, cfg: DatasetConfig, report: LoadReport) -> list[dict]:
    rows = []
    for number, line in enumerate(decode_lines(path, cfg.encoding, report), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line, object_pairs_hook=_json_object, parse_constant=_not_json)
        except json.JSONDecodeError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.msg})") from None
        except _NotJson as exc:
            raise DataError(f"{where}: {exc} is not JSON (JSON has no NaN or Infinity); a missing "
                            "label is null") from None
        except _DuplicateKey as exc:
            raise DataError(f"{where}: the object has key(s) {exc} twice; keep one") from None
        except (RecursionError, ValueError):  # nested too deep, or a number too long to convert
            raise DataError(f"{where}: JSON too deeply nested or a number too long; "
                            "expected one flat object per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object per line")
        for column in (cfg.text_column, cfg.label_column):
            if column not in record:
                raise DataError(
                    f"{where}: no key {column!r} (keys: {sorted(record)}); "
                    f"set dataset.text_column / dataset.label_column"
                )
        text = _string(where, cfg.text_column, record[cfg.text_column], "text")
        label = _string(where, cfg.label_column, record[cfg.label_column], "label")
        sample_id = record.get("id", f"{split}-{number:05d}")
        if isinstance(sample_id, bool) or not isinstance(sample_id, (str, int)):
            kind = {type(None): "null", bool: "true/false"}.get(type(sample_id), type(sample_id).__name__)
            raise DataError(f"{where}: 'id' is {kind}, expected a string or an integer (or no 'id' key: "
                            "the line number is used)")
        sample_id = _string(where, "id", str(sample_id), "id")
        sample = _sample(report, f"line {number}", sample_id, text, label)
        if sample:
            rows.append(sample)
    return rows


def _table_rows(path: Path, split: str, cfg: DatasetConfig, report: LoadReport, columns: list[str],
                column_values, label_names: list[str] | None) -> list[dict]:
    """Rows of a table (Parquet or a saved dataset), by position: ids `<split>-<row>`, 1-based."""
    for column in (cfg.text_column, cfg.label_column):
        if column not in columns:
            raise DataError(f"{path}: no column {column!r} (columns: {columns}); set "
                            "dataset.text_column / dataset.label_column")
    texts, labels = column_values(cfg.text_column), column_values(cfg.label_column)
    rows = []
    for i, (text, label) in enumerate(zip(texts, labels), start=1):
        where = f"{path}: row {i}"
        if label_names is not None and isinstance(label, int) and not isinstance(label, bool):
            if label == -1:  # datasets' "no label"
                label = None
            elif 0 <= label < len(label_names):
                label = label_names[label]
            else:
                raise DataError(f"{where}: label {label} is outside the {len(label_names)} class "
                                "names of the column's ClassLabel")
        if isinstance(label, float) and label != label:  # pandas' NaN for a missing value
            label = None
        if isinstance(text, float) and text != text:
            text = None
        text = _string(where, cfg.text_column, text, "text")
        label = _string(where, cfg.label_column, label, "label")
        sample = _sample(report, f"row {i}", f"{split}-{i:05d}", text, label)
        if sample:
            rows.append(sample)
    return rows


def _parquet(path: Path, split: str, cfg: DatasetConfig, report: LoadReport) -> list[dict]:
    import pandas as pd

    _must_exist(path)
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DataError(f"{path}: not a readable Parquet file ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) < len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise DataError(f"{path}: column name(s) {twice} appear twice; rename one")

    def values(column: str) -> list:
        series = frame[column]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        return [None if v is pd.NA or v is pd.NaT else v for v in series.tolist()]

    return _table_rows(path, split, cfg, report, columns, values, None)


def _saved_dataset(path: Path, split: str, cfg: DatasetConfig, report: LoadReport) -> list[dict]:
    from datasets import ClassLabel, DatasetDict, load_from_disk

    _must_exist(path)  # a mistyped path is not "a folder save_to_disk did not write"
    if not is_saved_dataset(path):
        raise DataError(f"{path}: not a folder written by datasets' save_to_disk (no dataset_info.json, "
                        "dataset_dict.json or state.json); give the folder save_to_disk wrote")
    try:
        data = load_from_disk(str(path))
    except Exception as exc:  # datasets/pyarrow raise several types for a damaged folder
        raise DataError(f"{path}: cannot be read by datasets.load_from_disk ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None
    if isinstance(data, DatasetDict):
        names = {"dev": ("dev", "validation", "valid")}.get(split, (split,))
        found = next((n for n in names if n in data), None)
        if found is None:
            raise DataError(f"{path}: a DatasetDict with splits {sorted(data)} and none named "
                            f"{' or '.join(names)}; point dataset.{split} at the split's folder "
                            f"({path}/<split>)")
        data = data[found]
    feature = data.features.get(cfg.label_column)
    names = feature.names if isinstance(feature, ClassLabel) else None
    return _table_rows(path, split, cfg, report, list(data.column_names), lambda c: data[c], names)


def load_split(cfg: DatasetConfig, split: str) -> Rows:
    """Load one split ('train', 'test' or 'dev') of a classification dataset."""
    path = Path(getattr(cfg, split))
    fmt = cfg.resolved_format(path)
    report = LoadReport(str(path))
    if fmt == "trec":
        rows = _trec(path, split, cfg, report)
    elif fmt in ("csv", "tsv"):
        rows = _delimited(path, split, cfg, "," if fmt == "csv" else "\t", report)
    elif fmt == "jsonl":
        rows = _jsonl(path, split, cfg, report)
    elif fmt == "parquet":
        rows = _parquet(path, split, cfg, report)
    elif fmt == "hf":
        rows = _saved_dataset(path, split, cfg, report)
    else:
        raise DataError(f"{path}: format {fmt!r} is for task: ner, not classification")
    report.warn()
    if not rows:
        why = f" (all {sum(report.dropped.values())} row(s) dropped: {dict(report.dropped)})" if report.dropped else ""
        raise DataError(f"{path}: no samples found{why}")
    ids = Counter(r["id"] for r in rows)
    dup = next((i for i, n in ids.items() if n > 1), None)
    if dup is not None:
        raise DataError(f"{path}: id {dup!r} appears {ids[dup]} times; ids must be unique")
    return Rows(rows, report)


def check_distinct_files(cfg: DatasetConfig) -> None:
    """Stop when the test (or dev) file is the train file under another name (a relative and
    an absolute path, a symlink, a hard link): config validation only compares the strings."""
    train = Path(cfg.train)
    for name in ("test", "dev"):
        other = getattr(cfg, name)
        if other and train.exists() and Path(other).exists() and os.path.samefile(train, other):
            raise DataError(f"dataset.{name}: {other} is the same file as dataset.train ({cfg.train}); "
                            f"the {name} split must be held out: point dataset.{name} at its own file")


def load_dataset(cfg: DatasetConfig) -> dict[str, Rows]:
    """All configured splits, with checks that span them (label sets, enough classes)."""
    check_distinct_files(cfg)
    splits = {"train": load_split(cfg, "train"), "test": load_split(cfg, "test")}
    if cfg.dev:
        splits["dev"] = load_split(cfg, "dev")
    labels = {r["label"] for r in splits["train"]}
    if len(labels) < 2:
        raise DataError(
            f"{cfg.train}: the label column has a single class ({next(iter(labels))!r}); "
            "classification needs at least two (check dataset.label_column)"
        )
    for name in ("test", "dev"):
        unknown = {r["label"] for r in splits.get(name, [])} - labels
        if unknown:
            raise DataError(
                f"{getattr(cfg, name)}: labels {sorted(unknown)} never occur in {cfg.train}"
            )
    return splits
