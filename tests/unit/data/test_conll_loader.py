"""The CoNLL loader on the quirks real files have (tiny fixture files written in tmp_path)."""

import gzip
from pathlib import Path

import pytest

from evokd.config import DatasetConfig
from evokd.data.conll import load_conll, load_ner_dataset, repair_bio, repairs_in
from evokd.errors import DataError

ROOT = Path(__file__).resolve().parents[3]

QUIRKY = (
    "-DOCSTART- -X- -X- O\n"
    "\n"
    "EU NNP B-NP B-ORG\n"
    "rejects VBZ B-VP O\n"
    "German JJ B-NP B-MISC\n"
    "call NN I-NP O\n"
    " \t \n"                      # a whitespace-only sentence break
    "Peter\tB-PER\n"              # two tab-separated columns (token, tag)
    "Blackburn\tI-PER\n"
    "\n\n\n"                      # several blank lines are one break
    "-DOCSTART- -X- -X- O\n"
    "in O\n"
    "New I-LOC\n"                 # orphan I- after O: repaired to B-LOC
    "York I-LOC\n"
    "Inc I-ORG\n"                 # I-ORG after I-LOC: repaired to B-ORG
)


def test_quirks_sentences_columns_docstart_and_whitespace_breaks(tmp_path):
    path = tmp_path / "train.conll"
    path.write_text(QUIRKY)
    rows = load_conll(path, "train")
    assert [r["tokens"] for r in rows] == [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"],
                                           ["in", "New", "York", "Inc"]]
    assert rows[0]["tags"] == ["B-ORG", "O", "B-MISC", "O"]
    assert rows[1]["tags"] == ["B-PER", "I-PER"]
    assert rows[2]["tags"] == ["O", "B-LOC", "I-LOC", "B-ORG"]
    assert rows[0]["text"] == "EU rejects German call"
    assert [r["id"] for r in rows] == ["train-000003", "train-000008", "train-000014"]
    assert repairs_in(path) == 2


def test_repair_rule_turns_orphan_i_into_b():
    assert repair_bio(["I-PER", "I-PER", "O", "I-LOC", "B-LOC", "I-ORG"]) == (
        ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "B-ORG"], [0, 3, 5])


def test_gzip_file_reads_like_the_plain_one(tmp_path):
    plain, packed = tmp_path / "d.conll", tmp_path / "d.conll.gz"
    plain.write_text(QUIRKY)
    packed.write_bytes(gzip.compress(QUIRKY.encode()))
    assert load_conll(packed, "train") == load_conll(plain, "train")


@pytest.mark.parametrize("line,message", [
    ("lonely\n", r"x\.conll:2: one column .*is a tag missing"),
    ("word B_PER\n", r"x\.conll:2: tag 'B_PER' is not O, B-<type> or I-<type>"),
    ("word E-PER\n", r"x\.conll:2: tag 'E-PER'.*BIOES"),
    ("word B-\n", r"x\.conll:2: tag 'B-' is not"),
    ("word NNP\n", r"x\.conll:2: tag 'NNP' is not"),   # tag not in the last column
])
def test_malformed_lines_stop_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "x.conll"
    path.write_text("Good B-PER\n" + line)
    with pytest.raises(DataError, match=message):
        load_conll(path, "train")


def test_any_type_set_and_test_types_must_occur_in_train(tmp_path):
    (tmp_path / "train.bio").write_text("aspirin B-DRUG\n5 B-DOSE\nmg I-DOSE\n\nfine O\n")
    (tmp_path / "test.bio").write_text("ibuprofen B-DRUG\n\nGenes B-GENE\n")
    cfg = DatasetConfig(train=str(tmp_path / "train.bio"), test=str(tmp_path / "test.bio"))
    assert cfg.resolved_format() == "conll"
    with pytest.raises(DataError, match=r"test\.bio: entity types \['GENE'\] never occur"):
        load_ner_dataset(cfg)
    (tmp_path / "test.bio").write_text("ibuprofen B-DRUG\n")
    splits = load_ner_dataset(cfg)
    assert splits["train"][0]["tags"] == ["B-DRUG", "B-DOSE", "I-DOSE"]


def test_all_o_train_file_is_an_error(tmp_path):
    (tmp_path / "a.conll").write_text("just O\nwords O\n")
    (tmp_path / "b.conll").write_text("more O\n")
    with pytest.raises(DataError, match="no entity tags at all"):
        load_ner_dataset(DatasetConfig(train=str(tmp_path / "a.conll"), test=str(tmp_path / "b.conll")))


def test_bundled_conll2003_copy_matches_published_counts():
    cfg = DatasetConfig(train=str(ROOT / "data/raw/conll2003/train.txt.gz"),
                        test=str(ROOT / "data/raw/conll2003/test.txt.gz"),
                        dev=str(ROOT / "data/raw/conll2003/valid.txt.gz"), format="conll")
    splits = load_ner_dataset(cfg)
    assert {k: len(v) for k, v in splits.items()} == {"train": 14041, "test": 3453, "dev": 3250}
    b_tags = sum(t.startswith("B-") for r in splits["train"] for t in r["tags"])
    assert b_tags == 23499  # SOURCE.md: 23,499 entities
    assert repairs_in(cfg.train) == 0
