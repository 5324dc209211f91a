"""CoNLL-style column files for named-entity recognition.

One token per line: the token in the first column, its BIO tag in the last; columns in between
(POS, chunk, ...) are allowed and ignored. Columns are separated by whitespace. A blank or
whitespace-only line ends a sentence; `-DOCSTART-` lines (document breaks) end one too and are
not samples. A `.gz` file is read decompressed (see `decode_lines`).

Tags are `O`, `B-<type>` or `I-<type>`, with any set of entity types. One repair is made, and
counted: **an `I-X` that does not follow a `B-X` or `I-X` becomes `B-X`** (it starts a new
entity; this also turns IOB1 files into BIO). Anything else stops with a DataError naming the
file and line: a line with a single column (no tag), a tag that is not `O`/`B-`/`I-` (including
BIOES `E-`/`S-` tags), or an empty entity type.

A sample is `{"id", "tokens", "tags", "text"}`; `text` is the tokens joined by single spaces,
which the shared machinery (dedup, leakage, embedding) reads. The id is `<split>-<line>`, the
line of the sentence's first token.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from evokd.config import DatasetConfig
from evokd.data.loaders import LoadReport, Rows, check_distinct_files, decode_lines
from evokd.errors import DataError

log = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"
_TAG = re.compile(r"^(O|([BI])-(\S+))$")


@dataclass
class ConllStats:
    """What loading one file found: sentences, documents and BIO repairs (with first line)."""

    sentences: int = 0
    documents: int = 0
    repaired: int = 0
    first_repair_line: int | None = None


def entity_type(tag: str) -> str | None:
    """`PER` for `B-PER`/`I-PER`, None for `O`."""
    return None if tag == "O" else tag[2:]


def repair_bio(tags: list[str]) -> tuple[list[str], list[int]]:
    """Tags with every orphan `I-X` (not after `B-X`/`I-X`) turned into `B-X`; the positions fixed."""
    out, fixed = [], []
    prev = "O"
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            tag = "B-" + tag[2:]
            fixed.append(i)
        out.append(tag)
        prev = tag
    return out, fixed


def parse_conll(lines: list[str], path: Path, split: str) -> tuple[list[dict], ConllStats]:
    """Sentences of a CoNLL column file (already decoded into lines)."""
    rows: list[dict] = []
    stats = ConllStats()
    tokens: list[str] = []
    tags: list[str] = []
    lines_of: list[int] = []

    def flush() -> None:
        if not tokens:
            return
        fixed_tags, fixed = repair_bio(tags)
        if fixed:
            stats.repaired += len(fixed)
            if stats.first_repair_line is None:
                stats.first_repair_line = lines_of[fixed[0]]
        rows.append({"id": f"{split}-{lines_of[0]:06d}", "tokens": list(tokens), "tags": fixed_tags,
                     "text": " ".join(tokens)})
        stats.sentences += 1
        tokens.clear(), tags.clear(), lines_of.clear()

    for number, line in enumerate(lines, start=1):
        columns = line.split()
        if not columns:
            flush()
            continue
        if columns[0] == DOCSTART:
            flush()
            stats.documents += 1
            continue
        if len(columns) < 2:
            raise DataError(
                f"{path}:{number}: one column ({columns[0][:40]!r}) but a CoNLL line needs a token "
                "and a tag (token first, BIO tag last); is a tag missing?"
            )
        tag = columns[-1]
        match = _TAG.match(tag)
        if not match:
            hint = " (BIOES/IOBES tags are not supported; convert to BIO)" if tag[:2] in ("E-", "S-") else ""
            raise DataError(
                f"{path}:{number}: tag {tag[:40]!r} is not O, B-<type> or I-<type>{hint}; "
                "the BIO tag must be the last column"
            )
        tokens.append(columns[0])
        tags.append(tag)
        lines_of.append(number)
    flush()
    return rows, stats


def load_conll(path: str | Path, split: str, encoding: str = "utf-8") -> Rows:
    """One CoNLL file's sentences; logs the BIO repairs it made and counts them in its report
    (prepare's meta file), with the latin-1 lines."""
    path = Path(path)
    report = LoadReport(str(path))
    rows, stats = parse_conll(decode_lines(path, encoding, report), path, split)
    if not rows:
        raise DataError(f"{path}: no sentences found (is it a CoNLL column file?)")
    if stats.repaired:
        report.repaired["orphan_i_tag_to_b"] = stats.repaired
        log.warning("%s: %d orphan I- tag(s) repaired to B- (first: line %d)",
                    path, stats.repaired, stats.first_repair_line)
    return Rows(rows, report)


def repairs_in(path: str | Path, split: str = "train", encoding: str = "utf-8") -> int:
    """How many orphan I- tags loading `path` repairs (for reports and tests)."""
    path = Path(path)
    return parse_conll(decode_lines(path, encoding), path, split)[1].repaired


def entity_types(rows: list[dict]) -> list[str]:
    """The sorted entity types that occur in `rows`."""
    return sorted({tag[2:] for row in rows for tag in row["tags"] if tag != "O"})


def load_ner_dataset(cfg: DatasetConfig) -> dict[str, list[dict]]:
    """All configured splits of a CoNLL dataset, checked together: the train split must have at
    least one entity type and the other splits no type the train split lacks."""
    fmt = cfg.format or "conll"
    if fmt != "conll":
        raise DataError(f"{cfg.train}: task: ner reads CoNLL column files; dataset.format is {fmt!r} "
                        "(set it to conll or leave it unset)")
    check_distinct_files(cfg)
    splits = {"train": load_conll(cfg.train, "train", cfg.encoding),
              "test": load_conll(cfg.test, "test", cfg.encoding)}
    if cfg.dev:
        splits["dev"] = load_conll(cfg.dev, "dev", cfg.encoding)
    types = set(entity_types(splits["train"]))
    if not types:
        raise DataError(f"{cfg.train}: no entity tags at all (every tag is O); check that the BIO "
                        "tag is the last column")
    for name in ("test", "dev"):
        unknown = set(entity_types(splits.get(name, []))) - types
        if unknown:
            raise DataError(f"{getattr(cfg, name)}: entity types {sorted(unknown)} never occur in "
                            f"{cfg.train}")
    return splits
