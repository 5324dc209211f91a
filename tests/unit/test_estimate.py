"""`evokd estimate`: the bill before the run, rendered from the teacher's own prompts.

Fast tests check the requests per stage and strategy, the price arithmetic and that the prompt
set is what is rendered; the slow one runs the pipeline against the fake server, which counts
tokens itself (tests/fake_openai.py, `count_tokens`), and holds the estimate to what it counted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import run
from evokd.cli import app
from evokd.config import parse_config
from evokd.errors import ConfigError
from evokd.estimate import estimate, render
from fake_openai import PromptSensitive, fake_openai  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[2]


def config(**blocks) -> object:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["dataset"].update({"train": str(ROOT / "data/raw/trec/TREC.train"),
                              "test": str(ROOT / "data/raw/trec/TREC.test")})
    params["teacher"]["prompts"] = str(ROOT / "prompts/default")
    for block, values in blocks.items():
        params[block].update(values)
    return parse_config(params)


def per_stage(bill: dict, field: str = "requests") -> dict:
    return {s["stage"]: s[field] for s in bill["stages"]}


def test_default_config_requests_and_price():
    bill = estimate(config(), "gpt-4o-mini")
    # Per round: 4 generation conversations; 32 texts labelled 16 a request, plus the second
    # labelling of ceil(0.1 * 32) = 4 of them in one request; 1 analysis. Round 0: the probe's 4
    # generation conversations and its label call for 6 seed + 32 probe texts (3 requests of
    # 16), then its analysis.
    expected = {"probe@0": 7, "analyze@0": 1}
    for k in range(1, 9):
        expected.update({f"synthesize@{k}": 4, f"label@{k}": 3, f"analyze@{k}": 1})
    assert per_stage(bill) == expected and bill["total"]["requests"] == 72
    assert bill["total"]["completion_tokens_max"] == 72 * 2048
    t = bill["total"]
    assert t["usd_max"] == pytest.approx((t["prompt_tokens"] * 0.15 + t["completion_tokens_max"] * 0.60) / 1e6)
    assert bill["price_per_1m"] == {"prompt": 0.15, "completion": 0.60}
    # The shipped strategy (uncertainty) writes without the analysis; a guided one carries the
    # stand-in analysis (teacher.max_tokens long) in each of its 4 generation prompts.
    guided = estimate(config(synthesize={"strategy": "evokd-uncertainty"}), "gpt-4o-mini")
    assert per_stage(guided, "prompt_tokens")["synthesize@1"] > per_stage(bill, "prompt_tokens")["synthesize@1"] + 4 * 2048
    text = render(bill)
    total = next(line for line in text.splitlines() if line.startswith("total"))
    assert total.split()[:2] == ["total", "72"] and "later rounds are bounds" in text.replace("\n  ", " ")


@pytest.mark.parametrize("strategy, synthesize, label", [
    ("random", 4, 3), ("uncertainty", 4, 3), ("evokd-uncertainty", 4, 3),
    ("evokd-gen-labels", 4, 1),  # no label call: only the second labelling
])
def test_requests_follow_the_strategy(strategy, synthesize, label):
    bill = estimate(config(synthesize={"strategy": strategy},
                           teacher={"provider": "openai", "model": "gpt-4o-mini"}))
    assert per_stage(bill)["synthesize@1"] == synthesize and per_stage(bill)["label@1"] == label


def test_no_second_labelling_and_fewer_rounds():
    bill = estimate(config(label={"relabel_fraction": 0.0, "batch_size": 5}) .model_copy(update={"rounds": 2}),
                    "gpt-4o-mini")
    assert per_stage(bill) == {"probe@0": 4 + 8, "analyze@0": 1, "synthesize@1": 4, "label@1": 7, "analyze@1": 1,
                               "synthesize@2": 4, "label@2": 7, "analyze@2": 1}


def test_the_prompt_set_is_what_is_rendered(tmp_path):
    """A prompt set with a longer user message in every template costs more in every stage."""
    longer = tmp_path / "longer"
    shutil.copytree(ROOT / "prompts/default", longer)
    for path in longer.rglob("*.md"):
        path.write_text(path.read_text() + "\nTake care: " + "every word counts here. " * 12 + "\n")
    base = per_stage(estimate(config(), "gpt-4o-mini"), "prompt_tokens")
    more = per_stage(estimate(config(teacher={"prompts": str(longer)}), "gpt-4o-mini"), "prompt_tokens")
    assert all(more[stage] > base[stage] for stage in base), (base, more)


def test_unpriced_model_and_simulated_teacher():
    bill = estimate(config(), "my-local-llama")
    assert bill["total"]["usd_max"] is None and all(s["usd_max"] is None for s in bill["stages"])
    assert any("no price for 'my-local-llama'" in note for note in bill["notes"])
    with pytest.raises(ConfigError, match="evokd estimate --model"):
        estimate(config())  # the simulated teacher, no model named


def test_cli_prints_the_bill(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["estimate", "--model", "gpt-4o-mini", "--json"])
    assert result.exit_code == 0, result.output
    bill = json.loads(result.stdout)
    assert bill["total"]["requests"] == 72 and bill["model"] == "gpt-4o-mini"


@pytest.mark.slow
def test_estimate_bounds_what_the_server_counts(project, fake_openai):
    """The estimate of a run, then the run against a server that counts tokens: the same
    requests per stage, and every stage's counted prompt tokens within the estimate."""
    root = project(slots=2, **{"teacher.provider": "openai", "teacher.model": "fake-model",
                               "teacher.base_url": fake_openai.url, "teacher.backoff_s": 0.01,
                               "teacher.prices": {"fake-model": {"prompt": 1.0, "completion": 2.0}},
                               "synthesize.batches": 2, "label.batch_size": 4})
    fake_openai.count_tokens = True
    # Natural questions, as an LLM writes them (auto_reply's texts carry hex digests, which no
    # tokenizer packs 3 characters to a token).
    fake_openai.responder = PromptSensitive(careful_words=0)
    bill = json.loads(run(["evokd", "estimate", "--json"], root).stdout)
    run(["dvc", "repro"], root, env={"OPENAI_API_KEY": "sk-test"})
    counted = {}
    for stage in per_stage(bill):
        verb, k = stage.split("@")
        counted[stage] = json.loads((root / f"data/rounds/{k}/{verb}.meta.json").read_text())["teacher"]
    assert {s: c["requests"] for s, c in counted.items()} == per_stage(bill)
    # probe 2 + 3, analyze@0 1, then per round 2 generation + 2 labelling + 1 second + 1 analysis
    assert sum(per_stage(bill).values()) == fake_openai.count() == 5 + 1 + 2 * 6
    estimated = per_stage(bill, "prompt_tokens")
    for stage, c in counted.items():
        assert 0 < c["prompt_tokens"] <= estimated[stage], stage
        assert c["completion_tokens"] <= per_stage(bill, "completion_tokens_max")[stage]
    ratio = sum(c["prompt_tokens"] for c in counted.values()) / bill["total"]["prompt_tokens"]
    print(f"counted / estimated prompt tokens: {ratio:.2f}; per stage: "
          + ", ".join(f"{s} {counted[s]['prompt_tokens']}/{estimated[s]}" for s in counted))


def test_ner_config_is_estimated():
    """NER: the stand-in answers are sentences with their tags; every call kind renders."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["task"] = "ner"
    params["dataset"] = {"train": str(ROOT / "data/raw/conll2003/train.txt.gz"),
                         "test": str(ROOT / "data/raw/conll2003/test.txt.gz"), "format": "conll"}
    params["teacher"]["prompts"] = str(ROOT / "prompts/default")
    params["rounds"] = 1
    bill = estimate(parse_config(params), "gpt-4o-mini")
    assert per_stage(bill) == {"probe@0": 7, "analyze@0": 1, "synthesize@1": 4, "label@1": 3, "analyze@1": 1}
    assert all(s["prompt_tokens"] > 0 for s in bill["stages"])
