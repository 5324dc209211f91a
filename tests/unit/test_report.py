"""The report stage's outputs, from hand-written round files (no training, no DVC): the headline
metrics, the diagnostics beside them, the plot files of dvc.yaml with the spend per round, the
charts, and the HTML page (self-contained, teacher text escaped). The browser checks are in
test_report_browser.py."""

from __future__ import annotations

import base64
import csv
import json
import re
from pathlib import Path

import pytest

from evokd import report
from stages.report import report as report_stage
from evokd.tasks.classification import confusion_matrix
from evokd.tasks.ner import token_confusion
from report_rounds import write_rounds

FIGURES = ("score", "per_label", "confusion", "samples", "spend")


@pytest.fixture
def finished(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return write_rounds(tmp_path)


def test_summary_holds_only_the_headline_numbers(finished):
    report_stage(finished)
    summary = json.loads(Path("metrics/summary.json").read_text())
    # 3 analyses (120 tokens, $0.001 each), 2 generations (1500, $0.01), 2 labellings (330, $0.002).
    assert summary == {"score": 0.75, "accuracy": 0.75, "rounds_run": 2, "accepted": 8,
                       "tokens": 4020, "cost_usd": 0.027}
    diag = json.loads(Path("reports/diagnostics.json").read_text())
    assert diag["metric"] == "macro_f1" and diag["per_round"] == [0.25, 0.5, 0.75]
    assert diag["samples"] == {"accepted": 8, "rejected": {"duplicate": 2, "leak": 1}, "rejected_total": 3}
    assert diag["teacher"]["tokens"] == 4020 and diag["teacher"]["requests"] == 7
    assert diag["wall_s"]["per_round"]["1"] == {"synthesize": 1.0, "label": 1.0, "train": None,
                                                "evaluate": None, "analyze": 1.0}
    assert {"label_disagreement", "warnings", "per_label_f1", "strategy"} <= set(diag)


def test_scores_csv_has_the_spend_that_made_each_round(finished):
    """Round k's spend is analyze@k-1 + synthesize@k + label@k; analyze@2 guides no round yet,
    so the last total is the summary's tokens less one analysis."""
    report_stage(finished)
    rows = list(csv.DictReader(Path("metrics/scores.csv").open()))
    assert list(rows[0]) == ["round", "score", "macro_f1", "accuracy",
                             "tokens", "cost_usd", "total_tokens", "total_cost_usd"]
    assert [(r["round"], r["score"], r["tokens"], r["cost_usd"], r["total_tokens"], r["total_cost_usd"])
            for r in rows] == [("0", "0.25", "0", "0.0", "0", "0.0"),
                               ("1", "0.5", "1950", "0.013", "1950", "0.013"),
                               ("2", "0.75", "1950", "0.013", "3900", "0.026")]


def test_plot_files_for_dvc(finished):
    report_stage(finished)
    assert Path("metrics/per_label_f1.csv").read_text() == "label,f1\nHUM,0.75\nLOC,0.375\n"
    rows = json.loads(Path("metrics/confusion.json").read_text())
    assert len(rows) == 16 and rows.count({"actual": "HUM", "predicted": "LOC"}) == 2
    assert rows.count({"actual": "LOC", "predicted": "LOC"}) == 5


def test_charts_are_svg_files_the_markdown_embeds(finished):
    report_stage(finished)
    md = Path("reports/report.md").read_text()
    for stem in FIGURES:
        svg = Path(f"reports/figures/{stem}.svg").read_text()
        assert svg.lstrip().startswith("<svg") and "</svg>" in svg
        assert f"](figures/{stem}.svg)" in md
    score = Path("reports/figures/score.svg").read_text()
    assert "full-data ceiling 0.952" in score and "Test macro-F1 per round" in score
    assert "teacher tokens, cumulative" in Path("reports/figures/spend.svg").read_text()
    assert "rejected: leak" in Path("reports/figures/samples.svg").read_text()


def test_ceiling_left_out_when_unknown(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report_stage(write_rounds(tmp_path, **{"report.ceiling": None}))
    assert "ceiling" not in Path("reports/figures/score.svg").read_text()


def test_report_rounds_section_shows_analysis_and_samples(finished):
    report_stage(finished)
    md = Path("reports/report.md").read_text()
    assert "### Round 2" in md
    assert "| Who wrote \\*book\\* 0 \\| 1? | HUM | hard |" in md
    assert "| Where is \\<script\\>alert(1)\\</script\\> Paris ? | duplicate: same as r1-0 | LOC |" in md
    assert "The teacher's analysis of the round-1 student (guides round 2); weak: LOC." in md
    assert "The teacher's analysis of the round-2 student (for a further round)" in md
    assert md.count("| Who wrote") == 2 * 3  # report.samples_shown: 3 of the 4 accepted per round


def test_html_is_self_contained_and_escapes_teacher_text(finished):
    report_stage(finished)
    page = Path("reports/report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page  # the rejected sample's <script> is text, not markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    images = re.findall(r'<img class="chart" id="chart-(\w+)" alt="[^"]*" src="data:image/svg\+xml;base64,([^"]+)"', page)
    assert [stem for stem, _ in images] == ["score", "samples", "spend", "per_label", "confusion"]
    for stem, data in images:
        assert base64.b64decode(data).decode() == Path(f"reports/figures/{stem}.svg").read_text()


def test_confusion_matrices():
    assert confusion_matrix(["A", "A", "B"], ["A", "B", "B"]) == [
        {"actual": "A", "predicted": "A", "count": 1}, {"actual": "A", "predicted": "B", "count": 1},
        {"actual": "B", "predicted": "B", "count": 1}]
    # Token level, B-/I- dropped: a PER read as ORG (2 words), a missed LOC, an O read as MISC.
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]]
    pred = [["B-ORG", "I-ORG", "O", "O"], ["B-MISC", "O"]]
    assert token_confusion(gold, pred) == [
        {"actual": "LOC", "predicted": "O", "count": 1}, {"actual": "O", "predicted": "MISC", "count": 1},
        {"actual": "O", "predicted": "O", "count": 2}, {"actual": "PER", "predicted": "ORG", "count": 2}]


def test_summary_does_not_move_when_only_diagnostics_do(finished):
    """A re-run that changes wall times and the disagreement rates, not the scores, samples or
    spend, leaves metrics/summary.json byte for byte: `dvc metrics diff` stays quiet."""
    report_stage(finished)
    before = Path("metrics/summary.json").read_bytes()
    diag_before = json.loads(Path("reports/diagnostics.json").read_text())
    for k in (1, 2):
        meta = json.loads(Path(f"data/rounds/{k}/label.meta.json").read_text())
        Path(f"data/rounds/{k}/label.meta.json").write_text(json.dumps({**meta, "wall_s": 7.5}))
        Path(f"data/rounds/{k}/feedback.jsonl").write_text(
            json.dumps({"id": "x", "label": "HUM", "kind": "easy", "correct": False}) + "\n")
    report_stage(finished)
    assert Path("metrics/summary.json").read_bytes() == before
    diag = json.loads(Path("reports/diagnostics.json").read_text())
    assert diag["wall_s"] != diag_before["wall_s"]
    assert diag["label_disagreement"]["rate"] == 1.0 != diag_before["label_disagreement"]["rate"]


def test_confusion_chart_is_square_over_every_label(finished):
    """A label the student never predicts still has its column (NER: the types, then O)."""
    specs = report.chart_specs(finished, report.collect(finished))
    enc = specs["confusion"]["encoding"]
    assert enc["x"]["scale"]["domain"] == enc["y"]["scale"]["domain"] == ["HUM", "LOC"]
    from evokd import charts

    svg = charts.svg(charts.confusion_chart([{"actual": "LOC", "predicted": "HUM", "count": 3}], 1, None,
                                            ["HUM", "LOC", "NUM"]))
    assert svg.count(">NUM</text>") == 2  # a row and a column, though no cell names NUM
