"""Progress where people wait (evokd/progress.py): teacher requests (done / total, tokens,
retries), scoring the test split, and `evokd cache push` / `pull`. On a terminal a tqdm bar that
is cleared when done; in a log (stderr not a terminal, as under CI or `dvc repro > log`) plain
lines at most every LOG_EVERY_S seconds, none for a short wait."""

from __future__ import annotations

import io
import re

import pytest

from evokd import progress as progress_module
from evokd.progress import progress

from fake_openai import FakeOpenAI, reply, status
from conftest import dvc_repo, fill
from fake_openai import KEY, LABELS, make_cfg


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def lines(text: str, desc: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"evokd: {desc}:")]


def test_a_log_gets_plain_lines_and_nothing_for_a_short_wait(monkeypatch):
    log = io.StringIO()
    with progress(3, "work", "item", stream=log) as bar:  # the default LOG_EVERY_S: 30 s
        bar.update(3)
    assert log.getvalue() == ""
    monkeypatch.setattr(progress_module, "LOG_EVERY_S", 0.0)
    log = io.StringIO()
    with progress(3, "work", "item", initial=1, stream=log) as bar:
        bar.set_postfix_str("tokens=12", refresh=False)
        bar.update(2)
    out = log.getvalue()
    assert "\r" not in out and out.endswith("\n")
    assert [line.split(" [")[0] for line in lines(out, "work")] == ["evokd: work: 1/3", "evokd: work: 3/3"]
    assert lines(out, "work")[-1].endswith(", tokens=12]")


def test_a_terminal_gets_a_bar_that_is_cleared_when_done():
    term = Terminal()
    with progress(4, "work", "item", stream=term) as bar:
        bar.update(4)
    out = term.getvalue()
    assert out.startswith("\rwork:   0%|") and "0/4" in out  # a bar, redrawn in place
    assert not out.endswith("\n") and out.rstrip(" ").endswith("\r")  # cleared, no line left behind


def test_teacher_requests_show_done_total_tokens_and_retries(tmp_path, monkeypatch, capsys):
    from evokd.teachers.openai import OpenAITeacher

    monkeypatch.setattr(progress_module, "LOG_EVERY_S", 0.0)
    samples = [{"id": f"s{i}", "text": f"Where is the town number {i} ?"} for i in range(12)]
    with FakeOpenAI() as server:
        cfg = make_cfg(server, tmp_path, label={"batch_size": 4}, max_concurrency=1)
        # The first request fails once (retried), the other replies come from auto_reply.
        server.script(status(503))
        OpenAITeacher(cfg, api_key=KEY).label(samples, LABELS)
        shown = lines(capsys.readouterr().err, "teacher requests")
        assert shown[0].startswith("evokd: teacher requests: 0/3 ")
        assert re.search(r": 3/3 \[.*, tokens=[1-9][\d,]*, retries=1\]$", shown[-1]), shown
        # Run again with one reply cached away: the cached ones count as done from the start.
        first = sorted((tmp_path / "cache").glob("??/*.json"))[0]
        first.unlink()
        server.script(reply('{"labels": []}'))
        OpenAITeacher(cfg, api_key=KEY).label(samples, LABELS)
        shown = lines(capsys.readouterr().err, "teacher requests")
        assert shown[0].startswith("evokd: teacher requests: 2/3 ") and ": 3/3 " in shown[-1]
        assert shown[-1].endswith("retries=0]")


def test_scoring_the_test_split_shows_progress(tmp_path, monkeypatch, capsys):
    import yaml
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from evokd.config import parse_config
    from evokd.student import predict_rows
    from evokd.student.backbone import backbone_path
    from evokd.tasks import get_task
    from conftest import ROOT

    monkeypatch.setattr(progress_module, "LOG_EVERY_S", 0.0)
    labels = ["DESC", "LOC"]
    model_dir = tmp_path / "student"
    backbone = backbone_path("minilm")
    AutoModelForSequenceClassification.from_pretrained(
        backbone, num_labels=2, id2label=dict(enumerate(labels)),
        label2id={k: i for i, k in enumerate(labels)}).save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(backbone).save_pretrained(model_dir)
    cfg = parse_config(yaml.safe_load((ROOT / "params.yaml").read_text()))
    test = [{"id": str(i), "text": f"where is place {i} ?", "label": labels[i % 2]} for i in range(5)]
    task = get_task("classification")
    task.score(test, predict_rows(task, cfg, model_dir, test, desc="score test split"), labels)
    shown = lines(capsys.readouterr().err, "score test split")
    assert shown[0].startswith("evokd: score test split: 0/5 ") and shown[-1].startswith("evokd: score test split: 5/5 ")


def test_cache_push_and_pull_show_progress(tmp_path, monkeypatch, capsys):
    from evokd.share import remote_cache
    from evokd.teachers.cache import ResponseCache

    monkeypatch.setattr(progress_module, "LOG_EVERY_S", 0.0)
    a = dvc_repo(tmp_path / "a", str(tmp_path / "remote"))
    b = dvc_repo(tmp_path / "b", str(tmp_path / "remote"))
    fill(cache_a := ResponseCache(a / ".evokd/cache"), 5, "alice")
    capsys.readouterr()
    assert remote_cache.push(cache_a, remote_cache.open_remote(repo_root=a), jobs=2).transferred == 5
    shown = lines(capsys.readouterr().err, "cache push")
    assert shown[0].startswith("evokd: cache push: 0/5 ") and shown[-1].startswith("evokd: cache push: 5/5 ")
    cache_b = ResponseCache(b / ".evokd/cache")
    assert remote_cache.pull(cache_b, remote_cache.open_remote(repo_root=b), jobs=2).transferred == 5
    shown = lines(capsys.readouterr().err, "cache pull")
    assert shown[0].startswith("evokd: cache pull: 0/5 ") and shown[-1].startswith("evokd: cache pull: 5/5 ")
