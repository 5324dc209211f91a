"""`synthesize.strategy` with the openai teacher, against the local fake chat-completions server
(tests/fake_openai.py): random asks without analysis or feedback, uncertainty over-generates and
keeps what the previous student is least sure of, evokd-uncertainty does so for its hard texts;
strategies never share cached replies, and the budget still applies."""

from __future__ import annotations

import itertools
import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest

from fake_openai import fake_openai, openai_config, reply  # noqa: F401 (fixture)
from evokd.errors import BudgetExceeded, ConfigError
from evokd.student import uncertainty
from evokd.student.saved import SavedStudent
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.openai import OpenAITeacher
from evokd.teachers.prompts import load_template

ROOT = Path(__file__).resolve().parents[3]
LABELS = ["DESC", "HUM", "LOC", "NUM"]
FEEDBACK = [
    {"id": "a", "text": "Where is the Eiffel Tower ?", "label": "LOC", "predicted": "HUM", "correct": False},
    {"id": "b", "text": "How many moons has Mars ?", "label": "NUM", "predicted": "DESC", "correct": False},
    {"id": "c", "text": "Who wrote Hamlet ?", "label": "HUM", "predicted": "HUM", "correct": True},
]
SUMMARY = "Confuses places with people."


def make_cfg(server, tmp_path, strategy, synthesize=None, **kwargs):
    return openai_config(server, tmp_path, strategy, synthesize={"overgenerate": 3, **(synthesize or {})}, **kwargs)


def synth_request(n_hard=6, n_easy=2, labels=LABELS, feedback=FEEDBACK, student_dir="models/rounds/0", cfg=None):
    """Round 1's request; its student is the probe of `student_dir` (scored with `cfg`'s settings)."""
    return SynthesisRequest(round=1, labels=labels, feedback=feedback, known=[],
                            student=SavedStudent(cfg, student_dir),
                            analysis={"summary": SUMMARY, "weak_labels": ["LOC"]}, n_hard=n_hard, n_easy=n_easy)


def prompt_of(request: dict) -> str:
    return "\n".join(m["content"] for m in request["body"]["messages"])


_replies = itertools.count()


def asking_replies(body: dict) -> dict:
    """A responder that writes exactly what a generation prompt asks for (hard and easy counts
    of the guided prompt, or the unguided one's total), with distinct texts."""
    from fake_openai import auto_reply

    user = body["messages"][-1]["content"]
    hard = re.search(r"Write (\d+) new HARD", user)
    if not hard:
        return auto_reply(body)
    easy = int(re.search(r"Write (\d+) new EASY", user).group(1))
    tag = f"{zlib.crc32(user.encode())}-{next(_replies)}"  # distinct even where prompts repeat
    return reply(json.dumps({"hard": [f"Which hard question {tag} number {i} ?"
                                      for i in range(int(hard.group(1)))],
                             "easy": [f"Which easy question {tag} number {i} ?" for i in range(easy)]}))


def fake_margins(calls: list):
    """A stand-in for the student: a text's margin is a fixed pseudo-random number of it."""
    def margins(cfg, model_dir, texts):
        calls.append((str(model_dir), list(texts)))
        return np.array([int.from_bytes(t.encode()[-6:], "big") % 1000 / 1000 for t in texts])
    return margins


# -- random ---------------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["classification", "ner"])
def test_random_prompt_holds_no_analysis_and_no_feedback(fake_openai, tmp_path, task):
    cfg = make_cfg(fake_openai, tmp_path, "random", task=task)
    feedback = FEEDBACK if task == "classification" else [
        {"id": "n1", "text": "Peter flew to Paris", "tokens": ["Peter", "flew", "to", "Paris"],
         "tags": ["B-PER", "O", "O", "B-LOC"], "predicted": ["B-ORG", "O", "O", "O"], "correct": False}]
    labels = LABELS if task == "classification" else ["LOC", "MISC", "ORG", "PER"]
    teacher = OpenAITeacher(cfg)
    out = teacher.synthesize(synth_request(labels=labels, feedback=feedback))
    assert fake_openai.count() == 4
    assert len(out) == 8 and {s["kind"] for s in out} == {"random"}
    assert sorted({s["draw"] for s in out}) == [0, 1, 2, 3]
    for request in fake_openai.requests:
        prompt = prompt_of(request)
        assert request["body"]["response_format"]["json_schema"]["name"] == "evokd_synthesize_random"
        assert all(f"\n- {label}" in prompt for label in labels)  # the task context names each
        assert SUMMARY not in prompt and "handles worst" not in prompt and "WRONG" not in prompt
        assert not any(r["text"] in prompt for r in feedback)
    assert ("named-entity" in prompt_of(fake_openai.requests[0])) == (task == "ner")
    assert teacher.usage.requests == 4 and teacher.usage.prompt_tokens == 400 and not teacher.rejected


def test_unguided_replies_are_read_tolerantly(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path, "random", synthesize={"batches": 3})
    fake_openai.script(reply(json.dumps(["What is a one ?", {"text": "What is a two ?"}, 7, "What is a three ?"])),
                       reply(json.dumps({"hard": ["Who is four ?"], "easy": ["Who is five ?"]})),
                       reply("no JSON here"))
    teacher = OpenAITeacher(cfg)
    out = teacher.synthesize(synth_request(n_hard=6, n_easy=3))  # 3 per conversation
    assert [s["text"] for s in out] == ["What is a one ?", "What is a two ?", "What is a three ?",
                                        "Who is four ?", "Who is five ?"]
    assert teacher.rejected["synthesize:not_text"] == 1 and teacher.rejected["synthesize:missing"] == 1
    assert teacher.usage.bad_replies == 1


@pytest.mark.parametrize("prompt_set", ["default", "concise"])
@pytest.mark.parametrize("task", ["classification", "ner"])
def test_every_prompt_set_has_an_unguided_template(prompt_set, task):
    messages = load_template(ROOT / "prompts" / prompt_set, task, "synthesize_random").render(
        labels="A, B", task="TASK CONTEXT", examples="<examples>\n</examples>", n_total=5)
    text = "\n".join(m["content"] for m in messages)
    assert "TASK CONTEXT" in text and "<examples>" in text and "Write 5 " in text and '"texts"' in text


# -- uncertainty -----------------------------------------------------------------------------
def test_uncertainty_overgenerates_and_keeps_exactly_the_least_sure(fake_openai, tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(uncertainty, "margins", fake_margins(calls))
    cfg = make_cfg(fake_openai, tmp_path, "uncertainty")
    teacher = OpenAITeacher(cfg)
    out = teacher.synthesize(synth_request(n_hard=6, n_easy=2))
    # 3 x 8 = 24 candidates over 4 conversations, 6 each, asked without feedback.
    assert fake_openai.count() == 4
    for request in fake_openai.requests:
        prompt = prompt_of(request)
        assert "Write 6 new texts" in prompt and SUMMARY not in prompt
        assert not any(r["text"] in prompt for r in FEEDBACK)
    assert len(calls) == 1 and calls[0][0] == "models/rounds/0"
    candidates = calls[0][1]
    assert len(candidates) == len(set(candidates)) == 24
    scores = fake_margins([])(cfg, "", candidates)
    least = [candidates[j] for j in np.argsort(scores, kind="stable")[:8]]
    assert [s["text"] for s in out] == least
    assert {s["kind"] for s in out} == {"hard"}
    assert [s["margin"] for s in out] == sorted(s["margin"] for s in out)
    assert max(s["margin"] for s in out) <= min(np.sort(scores)[8:])
    assert teacher.usage.requests == 4 and not teacher.rejected


def test_evokd_uncertainty_ranks_guided_hard_candidates_and_keeps_easy_ones(fake_openai, tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(uncertainty, "margins", fake_margins(calls))
    fake_openai.responder = asking_replies
    cfg = make_cfg(fake_openai, tmp_path, "evokd-uncertainty")
    out = OpenAITeacher(cfg).synthesize(synth_request(n_hard=6, n_easy=2))
    # The guided prompt (analysis and feedback in it) asks for 3 x 6 = 18 hard (5+5+4+4), 2 easy.
    prompts = [prompt_of(r) for r in fake_openai.requests]
    assert all(SUMMARY in p for p in prompts) and any("Where is the Eiffel Tower" in p for p in prompts)
    assert sorted(int(re.search(r"Write (\d+) new HARD", p).group(1)) for p in prompts) == [4, 4, 5, 5]
    candidates = calls[0][1]
    assert len(calls) == 1 and len(candidates) == 18 and all("hard question" in t for t in candidates)
    scores = fake_margins([])(cfg, "", candidates)
    hard = [s for s in out if s["kind"] == "hard"]
    easy = [s for s in out if s["kind"] == "easy"]
    assert [s["text"] for s in hard] == [candidates[j] for j in np.argsort(scores, kind="stable")[:6]]
    assert len(easy) == 2 and all("easy question" in s["text"] and "margin" not in s for s in easy)


def test_strategies_never_share_cached_replies(fake_openai, tmp_path, monkeypatch):
    monkeypatch.setattr(uncertainty, "margins", fake_margins([]))
    sent = {}
    for strategy in ("evokd", "random", "uncertainty", "evokd-uncertainty"):
        before = fake_openai.count()
        OpenAITeacher(make_cfg(fake_openai, tmp_path, strategy)).synthesize(synth_request())
        sent[strategy] = fake_openai.count() - before
    assert sent == {"evokd": 4, "random": 4, "uncertainty": 4, "evokd-uncertainty": 4}
    # Each one again: all from the cache.
    for strategy in sent:
        teacher = OpenAITeacher(make_cfg(fake_openai, tmp_path, strategy))
        teacher.synthesize(synth_request())
        assert teacher.usage.requests == 0 and teacher.usage.cache_hits == 4
    # The same messages under another strategy are still another draw: evokd-uncertainty with no
    # hard samples sends evokd's very prompts, yet pays for its own replies.
    before = fake_openai.count()
    for strategy in ("evokd", "evokd-uncertainty"):
        OpenAITeacher(make_cfg(fake_openai, tmp_path, strategy)).synthesize(synth_request(n_hard=0, n_easy=4))
    new = fake_openai.requests[before:]
    assert len(new) == 8 and [r["body"]["messages"] for r in new[:4]] == [r["body"]["messages"] for r in new[4:]]


def test_budget_applies_to_overgeneration_and_nothing_is_scored(fake_openai, tmp_path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(uncertainty, "margins", fake_margins(calls))
    probe = OpenAITeacher(make_cfg(fake_openai, tmp_path, "uncertainty"))
    one = probe.dispatcher.reservation
    from evokd.teachers.dispatch import ChatRequest

    messages = load_template(ROOT / "prompts/default", "classification", "synthesize_random").render(
        **probe._context(LABELS), examples=probe._examples(synth_request(), 0), n_total=6)
    limit = 2 * one(ChatRequest(messages, probe._sampling("synthesize_random", LABELS), "x")) + 10
    cfg = make_cfg(fake_openai, tmp_path, "uncertainty", budget={"max_tokens": limit})
    with pytest.raises(BudgetExceeded, match="max_tokens"):
        OpenAITeacher(cfg).synthesize(synth_request())
    assert fake_openai.count() == 2 and calls == []


def test_overgenerate_is_validated_where_it_matters(fake_openai, tmp_path):
    with pytest.raises(ConfigError, match=r"synthesize.overgenerate is 1 with strategy uncertainty.*1\.5 or more"):
        make_cfg(fake_openai, tmp_path, "uncertainty", synthesize={"overgenerate": 1})
    with pytest.raises(ConfigError, match=r"synthesize.overgenerate: Input should be less than or equal to 20"):
        make_cfg(fake_openai, tmp_path, "random", synthesize={"overgenerate": 50})
    assert make_cfg(fake_openai, tmp_path, "random", synthesize={"overgenerate": 1}).synthesize.overgenerate == 1
    cfg = make_cfg(fake_openai, tmp_path, "evokd-uncertainty", synthesize={"overgenerate": 2.5})
    assert cfg.synthesize.overgenerated(6) == 15 and cfg.synthesize.overgenerated(0) == 0


# -- the margin filter -----------------------------------------------------------------------
def test_margins_are_top_two_gaps_and_a_sentence_takes_its_least_sure_word():
    probs = np.array([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05], [0.4, 0.4, 0.2]])
    assert np.allclose(uncertainty.top_two_gap(probs), [0.2, 0.85, 0.0])
    assert uncertainty.top_two_gap(np.ones((2, 1))).tolist() == [1.0, 1.0]
    assert uncertainty.sentence_margin(probs[:2]) == pytest.approx(0.2)
    assert uncertainty.sentence_margin(np.zeros((0, 3))) == 1.0


def test_least_sure_keeps_the_smallest_margins_once_per_text():
    samples = [{"text": t} for t in ("a b", "c", "a  b", "d", "e")]
    kept = uncertainty.least_sure(samples, np.array([0.1, 0.5, 0.05, 0.1, 0.9]), 3)
    # "a  b" repeats "a b" (spacing aside): only the first copy competes; ties keep the order.
    assert kept == [{"text": "a b", "margin": 0.1}, {"text": "d", "margin": 0.1}, {"text": "c", "margin": 0.5}]
    assert uncertainty.least_sure(samples, np.zeros(5), 0) == []


def test_ner_margins_tag_the_words_the_label_stage_will_see(fake_openai, tmp_path, monkeypatch):
    import evokd.student.tagger as tagger

    seen = {}

    def predict_word_proba(model_dir, sentences, batch_size, max_length, threads, device):
        seen.update(model_dir=model_dir, sentences=sentences, opts=(batch_size, max_length, threads, device))
        sure = np.array([[0.9, 0.1], [0.8, 0.2]])
        return ["O", "B-PER"], [np.array([[0.55, 0.45]] + [[1.0, 0.0]] * (len(s) - 1)) if "Paris" in s
                                else sure[: len(s)] for s in sentences]

    monkeypatch.setattr(tagger, "predict_word_proba", predict_word_proba)
    cfg = make_cfg(fake_openai, tmp_path, "uncertainty", task="ner")
    scores = uncertainty.margins(cfg, "m", ["Peter flew to Paris.", "It rained"])
    assert seen["sentences"] == [["Peter", "flew", "to", "Paris", "."], ["It", "rained"]]
    assert seen["opts"] == (cfg.evaluate.batch_size, cfg.train.max_length, cfg.train.threads, cfg.train.device)
    assert np.allclose(scores, [0.1, 0.6])


# -- a real student --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_student(tmp_path_factory):
    """A real MiniLM classifier trained one epoch on 48 TREC questions (seconds on a CPU)."""
    from evokd.config import DatasetConfig, TrainConfig
    from evokd.data.loaders import load_split
    from evokd.student.backbone import backbone_path
    from evokd.student.train import fine_tune

    rows = load_split(DatasetConfig(train=str(ROOT / "data/raw/trec/TREC.train"),
                                    test=str(ROOT / "data/raw/trec/TREC.test")), "train")
    rows = rows[:: len(rows) // 48][:48]
    out = tmp_path_factory.mktemp("student") / "model"
    fine_tune("sequence", backbone_path("minilm"), rows, sorted({r["label"] for r in rows}),
              TrainConfig(device="cpu", batch_size=16, max_length=24), out, seed=0, epochs=1)
    return out


def test_uncertainty_with_a_real_student_keeps_its_least_sure_texts(fake_openai, tmp_path, tiny_student,
                                                                    monkeypatch):
    from evokd.student.predict import predict_proba

    scored: list = []
    real = uncertainty.margins
    monkeypatch.setattr(uncertainty, "margins", lambda cfg, model_dir, texts: scored.append(texts) or
                        real(cfg, model_dir, texts))
    cfg = make_cfg(fake_openai, tmp_path, "uncertainty", synthesize={"batches": 2})
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"device": "cpu", "max_length": 24})})
    out = OpenAITeacher(cfg).synthesize(synth_request(n_hard=3, n_easy=1, student_dir=str(tiny_student), cfg=cfg))
    assert fake_openai.count() == 2 and len(out) == 4 and {s["kind"] for s in out} == {"hard"}
    candidates = scored[0]
    assert len(scored) == 1 and len(candidates) == 12
    _, probs = predict_proba(tiny_student, candidates, max_length=24, device="cpu")
    top2 = np.sort(probs, axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    assert [s["text"] for s in out] == [candidates[j] for j in np.argsort(gap, kind="stable")[:4]]
    assert [s["margin"] for s in out] == [round(float(g), 4) for g in np.sort(gap, kind="stable")[:4]]
