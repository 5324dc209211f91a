"""`synthesize.strategy: evokd-gen-labels` (the ablation "is the separate labelling call worth its
tokens?") with the openai teacher, against the local fake chat-completions server
(tests/fake_openai.py): the guided generation call asks with `synthesize_labelled.md` and its
schema, each text keeps its label as `answer`, and the label stage validates those answers
without sending a label request (only the second labelling does). The simulated teacher refuses
the strategy."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path
from string import Template

import pytest
import yaml

from fake_openai import auto_reply, fake_openai, openai_config, reply  # noqa: F401 (fixture)
from evokd.cards.provenance import prompt_hashes
from evokd.config import parse_config
from evokd.errors import ConfigError, PipelineError
from evokd.io import read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.rounds import checks
from stages import label as label_step
from evokd.data.ids import assign_ids
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.openai import OpenAITeacher
from evokd.strategies import get_strategy
from evokd.teachers.prompts import load_template

ROOT = Path(__file__).resolve().parents[3]
LABELS = ["DESC", "HUM", "LOC", "NUM"]
TYPES = ["LOC", "MISC", "ORG", "PER"]
FEEDBACK = [
    {"id": "a", "text": "Where is the Eiffel Tower ?", "label": "LOC", "predicted": "HUM", "correct": False},
    {"id": "c", "text": "Who wrote Hamlet ?", "label": "HUM", "predicted": "HUM", "correct": True},
]
NER_FEEDBACK = [{"id": "n1", "text": "Peter flew to Paris", "tokens": ["Peter", "flew", "to", "Paris"],
                 "tags": ["B-PER", "O", "O", "B-LOC"], "predicted": ["B-ORG", "O", "O", "O"], "correct": False}]
SUMMARY = "Confuses places with people."


def make_cfg(server, tmp_path, strategy="evokd-gen-labels", label=None, **kwargs):
    """No second labelling unless a test asks for it; 4 texts per labelling request."""
    return openai_config(server, tmp_path, strategy,
                         label={"relabel_fraction": 0.0, "batch_size": 4, **(label or {})}, **kwargs)


def synth_request(n_hard=12, n_easy=4, task="classification"):
    """3 hard and 1 easy per conversation over 4: what the fake server's auto reply writes."""
    ner = task == "ner"
    return SynthesisRequest(round=1, labels=TYPES if ner else LABELS, feedback=NER_FEEDBACK if ner else FEEDBACK,
                            known=[],
                            analysis={"summary": SUMMARY, "weak_labels": ["LOC"]}, n_hard=n_hard, n_easy=n_easy)


_numbers = itertools.count()


def distinct_replies(body: dict) -> dict:
    """The fake server's auto reply with every generated text made unique (the conversations of a
    round may send the same messages, and would get the same texts back)."""
    answer = auto_reply(body)
    value = json.loads(answer["content"])
    if isinstance(value, dict) and "hard" in value:
        for item in value["hard"] + value["easy"]:
            item["text"] = f"{item['text']} Variant {next(_numbers)} ."
        answer["content"] = json.dumps(value)
    return answer


def prompt_of(request: dict) -> str:
    return "\n".join(m["content"] for m in request["body"]["messages"])


def stage_files(root: Path, samples: list[dict], labels: list[str]) -> Prepared:
    """What `label@1` reads: the label set, a test split, round 0's set, round 1's samples."""
    prepared = Prepared(root / "data/prepared")
    write_json(prepared.labels, {"labels": labels})
    write_jsonl(prepared.test, [{"id": "test-1", "text": "Completely unrelated held out sentence here",
                                 "label": labels[0]}])
    write_jsonl(Round(0).train_set, [])
    write_jsonl(Round(1).synthesized, samples)
    return prepared


# -- the generation call ----------------------------------------------------------------------
@pytest.mark.parametrize("task", ["classification", "ner"])
def test_generation_asks_with_the_labelled_template_and_schema(fake_openai, tmp_path, task):
    cfg = make_cfg(fake_openai, tmp_path, task=task)
    teacher = OpenAITeacher(cfg)
    out = teacher.synthesize(synth_request(task=task))
    labels = TYPES if task == "ner" else LABELS
    assert fake_openai.count() == 4
    for request in fake_openai.requests:
        body, prompt = request["body"], prompt_of(request)
        fmt = body["response_format"]["json_schema"]
        assert fmt["name"] == "evokd_synthesize_labelled" and fmt["strict"] is True
        item = fmt["schema"]["properties"]["hard"]["items"]
        assert fmt["schema"]["properties"]["easy"]["items"] == item
        if task == "ner":
            assert item["required"] == ["text", "entities"]
            assert item["properties"]["entities"]["items"]["properties"]["type"]["enum"] == labels
            assert '"entities"' in prompt
        else:
            assert item["required"] == ["text", "label"]
            assert item["properties"]["label"]["enum"] == labels
            assert '"label"' in prompt
        # The analysis-guided prompt (analysis and feedback in it), at the generation temperature.
        assert SUMMARY in prompt and "Write 3 new HARD" in prompt
        assert body["temperature"] == cfg.teacher.temperature
    assert any((FEEDBACK if task != "ner" else NER_FEEDBACK)[0]["text"] in prompt_of(r)
               for r in fake_openai.requests)
    assert len(out) == 16 and sorted({s["draw"] for s in out}) == [0, 1, 2, 3]
    assert [s["kind"] for s in out].count("hard") == 12
    for sample in out:
        answer = sample["answer"]
        if task == "ner":
            assert answer["entities"][0]["text"] == "thing" and answer["entities"][0]["type"] in labels
        else:
            assert set(answer) == {"label"} and answer["label"] in labels
        assert sample["text"] not in json.dumps(answer)  # the answer without its text
    assert not teacher.rejected and teacher.usage.requests == 4


def test_evokd_keeps_its_rows_and_never_shares_replies_with_gen_labels(fake_openai, tmp_path):
    out = OpenAITeacher(make_cfg(fake_openai, tmp_path)).synthesize(synth_request())
    draws = sorted(json.loads(p.read_text())["request"]["draw"] for p in (tmp_path / "cache").rglob("*.json"))
    assert draws == [f"synthesize/evokd-gen-labels/round1/batch{b}" for b in range(4)]
    plain = OpenAITeacher(make_cfg(fake_openai, tmp_path, strategy="evokd")).synthesize(synth_request())
    assert fake_openai.count() == 8  # evokd pays for its own replies
    assert fake_openai.requests[4]["body"]["response_format"]["json_schema"]["name"] == "evokd_synthesize"
    assert all(list(s) == ["text", "kind", "draw", "prompt_overlap"] for s in plain)
    assert all(list(s) == ["text", "kind", "answer", "draw", "prompt_overlap"] for s in out)


def test_labelled_replies_are_read_tolerantly(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path, synthesize={"batches": 2})
    fake_openai.script(
        reply(json.dumps({"hard": [{"text": "Who wrote Faust ?", "label": " HUM "},
                                   "How far is the Moon ?",                   # no label
                                   {"text": "What is love ?"},               # no label either
                                   {"text": "Who is Ada ?", "label": None},  # a null label
                                   7],                                       # not a text
                          "easy": {"question": "Where is Rome ?", "label": "LOC"}})),
        reply("no JSON here"))
    teacher = OpenAITeacher(cfg)
    out = teacher.synthesize(synth_request(n_hard=8, n_easy=2))
    assert [(s["text"], s.get("answer")) for s in out] == [
        ("Who wrote Faust ?", {"label": "HUM"}), ("How far is the Moon ?", None), ("What is love ?", None),
        ("Who is Ada ?", None), ("Where is Rome ?", {"label": "LOC"})]
    assert teacher.rejected["synthesize:no_answer"] == 3 and teacher.rejected["synthesize:not_text"] == 1
    assert teacher.rejected["synthesize:not_json"] == 1 and teacher.usage.bad_replies == 1


def test_concise_set_without_json_schema_still_asks_for_labels(fake_openai, tmp_path):
    cfg = make_cfg(fake_openai, tmp_path, prompts=str(ROOT / "prompts/concise"), json_schema=False)
    out = OpenAITeacher(cfg).synthesize(synth_request())
    assert "response_format" not in fake_openai.requests[0]["body"]
    assert '"label"' in prompt_of(fake_openai.requests[0])
    assert len(out) == 16 and all("label" in s["answer"] for s in out)


# -- the label stage --------------------------------------------------------------------------
def test_label_stage_takes_the_generation_labels_and_sends_no_label_request(fake_openai, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_openai.responder = distinct_replies
    cfg = make_cfg(fake_openai, tmp_path)
    samples = assign_ids(1, OpenAITeacher(cfg).synthesize(synth_request()))
    prepared = stage_files(tmp_path, samples, LABELS)
    sent = fake_openai.count()
    teacher = OpenAITeacher(cfg)
    result = label_step.label(cfg, 1, teacher, prepared)
    assert fake_openai.count() == sent and teacher.usage.calls == 0  # no label request at all
    assert result["accepted"] == 16 and result["rejected"] == {}
    labelled = read_jsonl(Round(1).labelled)
    assert {r["id"]: r["label"] for r in labelled} == {s["id"]: s["answer"]["label"] for s in samples}
    assert all("answer" not in r for r in labelled + read_jsonl(Round(1).train_set))


@pytest.mark.parametrize("written, running", [("evokd", "evokd-gen-labels"), ("evokd-gen-labels", "evokd")])
def test_label_stage_refuses_samples_written_for_the_other_labelling(fake_openai, tmp_path, monkeypatch,
                                                                       written, running):
    """A stage run by hand after switching strategy: labels from nowhere, or answers ignored."""
    monkeypatch.chdir(tmp_path)
    answer = {"answer": {"label": "HUM"}} if written == "evokd-gen-labels" else {}
    prepared = stage_files(tmp_path, [{"id": "r1-a", "text": "Who wrote Faust ?", "kind": "hard", **answer}], LABELS)
    write_json(Round(1).meta("synthesize"), {"strategy": written})
    sent = fake_openai.count()
    cfg = make_cfg(fake_openai, tmp_path, running)
    with pytest.raises(PipelineError, match=f"written with synthesize.strategy {written}.*dvc repro synthesize@1"):
        label_step.label(cfg, 1, OpenAITeacher(cfg), prepared)
    assert fake_openai.count() == sent  # refused before any label request


def test_wrong_or_missing_generation_labels_are_rejected_with_reasons(fake_openai, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_cfg(fake_openai, tmp_path, synthesize={"batches": 1}, json_schema=False)
    fake_openai.script(reply(json.dumps({
        "hard": [{"text": "Who wrote Faust ?", "label": "HUM"},
                 {"text": "Where is the city of Rome ?", "label": "PLANET"},  # outside the label set
                 "How far away is the Moon ?"],                              # no label
        "easy": [{"text": "What is the meaning of love ?", "kind": "easy"}]})))  # no label either
    samples = assign_ids(1, OpenAITeacher(cfg).synthesize(synth_request(n_hard=3, n_easy=1)))
    prepared = stage_files(tmp_path, samples, LABELS)
    sent = fake_openai.count()
    result = label_step.label(cfg, 1, OpenAITeacher(cfg), prepared)
    assert fake_openai.count() == sent
    assert result["accepted"] == 1 and result["rejected"] == {"bad_label": 1, "unlabelled": 2}
    rejected = {r["text"]: r for r in read_jsonl(Round(1).rejected)}
    assert rejected["Where is the city of Rome ?"]["reason"] == "bad_label"
    assert rejected["Where is the city of Rome ?"]["detail"] == "PLANET"
    for text in ("How far away is the Moon ?", "What is the meaning of love ?"):
        assert rejected[text]["reason"] == "unlabelled"
        assert rejected[text]["detail"] == checks.NO_GENERATION_LABEL
    assert all("answer" not in r for r in rejected.values())
    assert [r["label"] for r in read_jsonl(Round(1).labelled)] == ["HUM"]


def test_ner_generation_entities_become_bio_tags_with_reasons(fake_openai, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_cfg(fake_openai, tmp_path, task="ner", synthesize={"batches": 1})
    fake_openai.script(reply(json.dumps({
        "hard": [{"text": "Angela Merkel visited Berlin on Monday.",
                  "entities": [{"text": "Angela Merkel", "type": "PER"}, {"text": "Berlin", "type": "LOC"}]},
                 {"text": "Apple opened a new store downtown.",
                  "entities": [{"text": "Apple Inc", "type": "ORG"}]}],          # not in the text
        "easy": [{"text": "It rained all day long.", "entities": []}]})))          # [] is an answer
    samples = assign_ids(1, OpenAITeacher(cfg).synthesize(synth_request(n_hard=2, n_easy=1, task="ner")))
    assert fake_openai.requests[0]["body"]["response_format"]["json_schema"]["name"] == "evokd_synthesize_labelled"
    prepared = stage_files(tmp_path, samples, TYPES)
    result = label_step.label(cfg, 1, OpenAITeacher(cfg), prepared)
    assert fake_openai.count() == 1  # the generation request only
    assert result["accepted"] == 2 and result["rejected"] == {"span_not_found": 1}
    by_text = {r["text"]: r for r in read_jsonl(Round(1).labelled)}
    merkel = by_text["Angela Merkel visited Berlin on Monday ."]
    assert merkel["tags"] == ["B-PER", "I-PER", "O", "B-LOC", "O", "O", "O"]
    assert by_text["It rained all day long ."]["tags"] == ["O"] * 6
    assert [r["reason"] for r in read_jsonl(Round(1).rejected)] == ["span_not_found"]


def test_second_labelling_still_uses_the_label_call(fake_openai, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake_openai.responder = distinct_replies
    cfg = make_cfg(fake_openai, tmp_path, label={"relabel_fraction": 1.0})
    samples = assign_ids(1, OpenAITeacher(cfg).synthesize(synth_request()))
    prepared = stage_files(tmp_path, samples, LABELS)
    sent = fake_openai.count()
    result = label_step.label(cfg, 1, OpenAITeacher(cfg), prepared)
    new = fake_openai.requests[sent:]
    # 16 texts, 4 per request: the second labelling only (another seed), no first one.
    assert len(new) == 4 and all(r["body"]["response_format"]["json_schema"]["name"] == "evokd_label" for r in new)
    assert {r["body"]["seed"] for r in new} == {cfg.seed + 1}
    assert result["accepted"] == 16 and result["relabel"]["samples"] + result["relabel"]["failed"] == 16


# -- configuration, templates, provenance -----------------------------------------------------
def test_simulated_teacher_refuses_the_strategy():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["teacher"]["provider"] = "simulated"
    params["synthesize"]["strategy"] = "evokd-gen-labels"
    with pytest.raises(ConfigError, match=r"synthesize.strategy is evokd-gen-labels with teacher.provider "
                                          r"simulated: .*gold labels.*set teacher.provider openai"):
        parse_config(params)
    params["teacher"].update({"provider": "openai", "model": "m"})
    assert parse_config(params).synthesize.strategy == "evokd-gen-labels"


def _placeholders(text: str) -> set[str]:
    return {m.group("named") or m.group("braced") for m in Template.pattern.finditer(text)
            if m.group("named") or m.group("braced")}


@pytest.mark.parametrize("prompt_set", ["default", "concise"])
@pytest.mark.parametrize("task", ["classification", "ner"])
def test_every_prompt_set_has_a_labelled_template_like_its_guided_one(prompt_set, task):
    folder = ROOT / "prompts" / prompt_set / task
    assert _placeholders((folder / "synthesize_labelled.md").read_text()) == \
        _placeholders((folder / "synthesize.md").read_text())
    messages = load_template(ROOT / "prompts" / prompt_set, task, "synthesize_labelled").render(
        labels="A, B", task="TASK", examples="-", analysis="x", weak_labels="A", wrong_examples="-",
        correct_examples="-", n_hard=3, n_easy=1, n_total=4, hard_quota="", easy_labels="1 for A")
    text = "\n".join(m["content"] for m in messages)
    assert '"hard"' in text and ('"entities"' if task == "ner" else '"label"') in text
    assert re.search(r"\b3\b", text) and "A, B" in text
    assert get_strategy("evokd-gen-labels").template == "synthesize_labelled"


def test_card_hashes_the_templates_the_strategy_reads(fake_openai, tmp_path):
    hashed = lambda cfg: sorted(Path(p).name for p in prompt_hashes(cfg))
    assert hashed(make_cfg(fake_openai, tmp_path)) == ["analyze.md", "synthesize_labelled.md"]
    assert hashed(make_cfg(fake_openai, tmp_path, label={"relabel_fraction": 0.1})) == \
        ["analyze.md", "label.md", "synthesize_labelled.md"]
    assert hashed(make_cfg(fake_openai, tmp_path, strategy="evokd")) == ["analyze.md", "label.md", "synthesize.md"]
