"""Dataset loaders: TREC label lines, CSV/TSV with a header, JSON Lines.

Real files have quirks. Lines that are not valid UTF-8 are decoded as latin-1 (TREC.train has one
such byte) and counted; blank lines are skipped. What cannot be handled stops with a DataError
naming the file and line. Every sample gets a stable id, `<split>-<line>`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import os
from collections import Counter
from pathlib import Path

from evokd.config import DatasetConfig
from evokd.errors import DataError

log = logging.getLogger(__name__)


def decode_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """The file's lines, each decoded with `encoding`, else latin-1 (which never fails).
    A `.gz` file is decompressed first, so that large datasets can live in git compressed."""
    if not path.exists():
        raise DataError(f"{path}: file not found (check the dataset block of params.yaml)")
    raw = path.read_bytes()
    if path.suffix.lower() == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a valid gzip file ({exc})") from None
    if not raw.strip():
        raise DataError(f"{path}: file is empty")
    lines, fallbacks = [], []
    for number, chunk in enumerate(raw.split(b"\n"), start=1):
        chunk = chunk.rstrip(b"\r")
        try:
            lines.append(chunk.decode(encoding))
        except UnicodeDecodeError:
            lines.append(chunk.decode("latin-1"))
            fallbacks.append(number)
    if fallbacks:
        log.warning("%s: %d line(s) not valid %s, read as latin-1 (first: line %d)",
                    path, len(fallbacks), encoding, fallbacks[0])
    return lines


def _trec(path: Path, split: str, cfg: DatasetConfig) -> list[dict]:
    rows = []
    for number, line in enumerate(decode_lines(path, cfg.encoding), start=1):
        if not line.strip():
            continue
        label, _, text = line.strip().partition(" ")
        coarse, colon, fine = label.partition(":")
        if not colon or not coarse or not fine or not text.strip():
            raise DataError(
                f"{path}:{number}: expected a TREC line `COARSE:fine question ...`, got {line[:60]!r}"
            )
        rows.append({"id": f"{split}-{number:05d}", "text": text.strip(),
                     "label": coarse if cfg.trec_labels == "coarse" else label})
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


def _delimited(path: Path, split: str, cfg: DatasetConfig, delimiter: str) -> list[dict]:
    lines = decode_lines(path, cfg.encoding)
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    try:
        return _read_delimited(path, split, cfg, delimiter, reader)
    except csv.Error as exc:  # e.g. a stray carriage return inside a field of a binary file
        raise DataError(f"{path}:{reader.line_num}: not a readable "
                        f"{'CSV' if delimiter == ',' else 'TSV'} line ({exc}); check dataset.format "
                        f"and dataset.encoding, or that the file is text") from None


def _read_delimited(path: Path, split: str, cfg: DatasetConfig, delimiter: str, reader) -> list[dict]:
    header = next(reader, None)
    while header is not None and not any(h.strip() for h in header):
        header = next(reader, None)
    if header is None:
        raise DataError(f"{path}: file is empty")
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in (cfg.text_column, cfg.label_column) if c not in header]
    if missing:
        hint = ""
        if len(header) == 1:
            hint = "; the header has one column, so " + _delimiter_hint(header[0], delimiter)
        raise DataError(
            f"{path}:1: no column {', '.join(map(repr, missing))} in the header {header}; "
            f"set dataset.text_column / dataset.label_column{hint}"
        )
    ti, li = header.index(cfg.text_column), header.index(cfg.label_column)
    rows = []
    for record in reader:
        number = reader.line_num
        if not any(field.strip() for field in record):
            continue
        if len(record) <= max(ti, li):
            raise DataError(
                f"{path}:{number}: {len(record)} field(s) but the header has {len(header)}"
            )
        text, label = record[ti].strip(), record[li].strip()
        if not text or not label:
            raise DataError(f"{path}:{number}: empty {'text' if not text else 'label'} field")
        rows.append({"id": f"{split}-{number:05d}", "text": text, "label": label})
    return rows


def _jsonl(path: Path, split: str, cfg: DatasetConfig) -> list[dict]:
    rows = []
    for number, line in enumerate(decode_lines(path, cfg.encoding), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        except (RecursionError, ValueError):  # nested too deep, or a number too long to convert
            raise DataError(f"{path}:{number}: JSON too deeply nested or a number too long; "
                            "expected one flat object per line") from None
        if not isinstance(record, dict):
            raise DataError(f"{path}:{number}: expected a JSON object per line")
        for column in (cfg.text_column, cfg.label_column):
            if column not in record:
                raise DataError(
                    f"{path}:{number}: no key {column!r} (keys: {sorted(record)}); "
                    f"set dataset.text_column / dataset.label_column"
                )
        for column in (cfg.text_column, cfg.label_column):
            if isinstance(record[column], (dict, list)) or record[column] is None:
                raise DataError(f"{path}:{number}: {column!r} is "
                                f"{type(record[column]).__name__ if record[column] is not None else 'null'}, "
                                "expected a string")
        text, label = str(record[cfg.text_column]).strip(), str(record[cfg.label_column]).strip()
        if not text or not label:
            raise DataError(f"{path}:{number}: empty {'text' if not text else 'label'}")
        rows.append({"id": str(record.get("id", f"{split}-{number:05d}")), "text": text, "label": label})
    return rows


def load_split(cfg: DatasetConfig, split: str) -> list[dict]:
    """Load one split ('train', 'test' or 'dev') of a classification dataset."""
    path = Path(getattr(cfg, split))
    fmt = cfg.resolved_format()
    if fmt == "trec":
        rows = _trec(path, split, cfg)
    elif fmt in ("csv", "tsv"):
        rows = _delimited(path, split, cfg, "," if fmt == "csv" else "\t")
    elif fmt == "jsonl":
        rows = _jsonl(path, split, cfg)
    else:
        raise DataError(f"{path}: format {fmt!r} is for task: ner, not classification")
    if not rows:
        raise DataError(f"{path}: no samples found")
    ids = Counter(r["id"] for r in rows)
    dup = next((i for i, n in ids.items() if n > 1), None)
    if dup is not None:
        raise DataError(f"{path}: id {dup!r} appears {ids[dup]} times; ids must be unique")
    return rows


def check_distinct_files(cfg: DatasetConfig) -> None:
    """Stop when the test (or dev) file is the train file under another name (a relative and
    an absolute path, a symlink, a hard link): config validation only compares the strings."""
    train = Path(cfg.train)
    for name in ("test", "dev"):
        other = getattr(cfg, name)
        if other and train.exists() and Path(other).exists() and os.path.samefile(train, other):
            raise DataError(f"dataset.{name}: {other} is the same file as dataset.train ({cfg.train}); "
                            f"the {name} split must be held out: point dataset.{name} at its own file")


def load_dataset(cfg: DatasetConfig) -> dict[str, list[dict]]:
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
