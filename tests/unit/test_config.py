from pathlib import Path

import pytest
import yaml

from evokd.config import load_config, parse_config
from evokd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def base() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_shipped_params_load():
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.task == "classification"
    assert cfg.dataset.resolved_format() == "trec"
    assert cfg.teacher.provider == "simulated"


def test_unknown_key_is_named():
    data = base()
    data["train"]["lerning_rate"] = 1e-3
    with pytest.raises(ConfigError, match=r"train\.lerning_rate: unknown key"):
        parse_config(data)


def test_unknown_top_level_key_is_named():
    data = base()
    data["round"] = 3
    with pytest.raises(ConfigError, match=r"round: unknown key"):
        parse_config(data)


def test_wrong_type_names_key_and_value():
    data = base()
    data["shots"] = "many"
    with pytest.raises(ConfigError, match=r"shots: .*'many'"):
        parse_config(data)


def test_out_of_range_value():
    data = base()
    data["teacher"]["label_noise"] = 1.5
    with pytest.raises(ConfigError, match=r"teacher\.label_noise"):
        parse_config(data)


def test_test_file_equal_to_train_file():
    data = base()
    data["dataset"]["test"] = data["dataset"]["train"]
    with pytest.raises(ConfigError, match="same file as dataset.train"):
        parse_config(data)


def test_format_inferred_from_extension_or_error():
    data = base()
    data["dataset"].update({"train": "x/train.csv", "test": "x/test.csv", "format": None})
    assert parse_config(data).dataset.resolved_format() == "csv"
    data["dataset"].update({"train": "x/train.data", "test": "x/test.data"})
    with pytest.raises(ConfigError, match="set dataset.format"):
        parse_config(data).dataset.resolved_format()


def test_no_samples_per_round_is_rejected():
    data = base()
    data["synthesize"].update({"n_hard": 0, "n_easy": 0})
    with pytest.raises(ConfigError, match="n_hard"):
        parse_config(data)


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "params.yaml")
    bad = tmp_path / "params.yaml"
    bad.write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def _with(**dotted) -> dict:
    data = base()
    for key, value in dotted.items():
        block, name = key.split("__")
        data.setdefault(block, {})[name] = value
    return data


def test_shipped_params_ignore_nothing():
    from evokd.config import ignored_params

    cfg = parse_config(base())
    assert ignored_params(cfg, "synthesize") == [] and ignored_params(cfg, "label") == []


@pytest.mark.parametrize("dotted, verb, expected", [
    # the simulated teacher never over-generates or holds conversations
    ({"synthesize__overgenerate": 5}, "synthesize", "synthesize.overgenerate is 5 (default 3)"),
    ({"synthesize__batches": 2}, "synthesize", "synthesize.batches is 2 (default 4)"),
    # guided_share is the evokd strategies' knob
    ({"synthesize__strategy": "random", "synthesize__guided_share": 1.0}, "synthesize",
     "synthesize.guided_share is 1 (default 0.5)"),
    # label noise is simulated; an LLM's noise is its own
    ({"teacher__provider": "openai", "teacher__model": "m", "teacher__label_noise": 0.2}, "label",
     "teacher.label_noise is 0.2 (default 0)"),
    ({"teacher__provider": "openai", "teacher__model": "m", "synthesize__candidates": 64}, "synthesize",
     "synthesize.candidates is 64 (default 256)"),
    # the simulated random strategy draws its samples straight from the pool
    ({"synthesize__strategy": "random", "synthesize__candidates": 64}, "synthesize",
     "synthesize.candidates is 64 (default 256)"),
    # the simulated teacher sends no prompts: every teacher stage says a prompt set changes nothing
    ({"teacher__prompts": "prompts/concise"}, "synthesize", "teacher.prompts is prompts/concise (default prompts/default)"),
    ({"teacher__prompts": "prompts/concise"}, "label", "teacher.prompts is prompts/concise (default prompts/default)"),
    ({"teacher__prompts": "prompts/concise"}, "analyze", "teacher.prompts is prompts/concise (default prompts/default)"),
])
def test_params_that_change_nothing_are_named(dotted, verb, expected):
    from evokd.config import ignored_params

    lines = ignored_params(parse_config(_with(**dotted)), verb)
    assert len(lines) == 1 and lines[0].startswith(expected) and "changes nothing" in lines[0]


def test_params_that_apply_are_not_named():
    from evokd.config import ignored_params

    cfg = parse_config(_with(synthesize__guided_share=0.5, synthesize__candidates=64, teacher__label_noise=0.1))
    assert ignored_params(cfg, "synthesize") == [] and ignored_params(cfg, "label") == []
    llm = parse_config(_with(teacher__provider="openai", teacher__model="m", synthesize__strategy="uncertainty",
                             synthesize__overgenerate=5, synthesize__batches=2))
    assert ignored_params(llm, "synthesize") == []
    concise = parse_config(_with(teacher__provider="openai", teacher__model="m", teacher__prompts="prompts/concise"))
    assert [ignored_params(concise, verb) for verb in ("synthesize", "label", "analyze")] == [[], [], []]


def test_the_stage_warns_about_params_that_change_nothing(tmp_path, monkeypatch, caplog):
    """What the user sees: `dvc repro` prints the warning from the stage that ignores the param."""
    import json
    import logging
    from types import SimpleNamespace

    from evokd.rounds.stage import run_round

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/plan").mkdir(parents=True)
    (tmp_path / "data/plan/1.json").write_text(json.dumps({"round": 1, "active": True}))
    (tmp_path / "slots.yaml").write_text("slots:\n  \"1\": {prev: 0}\n")
    teacher = SimpleNamespace(usage=SimpleNamespace(to_dict=lambda: {}), rejected={}, request_shape=lambda: None)
    cfg = parse_config(_with(synthesize__overgenerate=5))
    (tmp_path / "data/prepared").mkdir(parents=True)
    (tmp_path / "data/prepared/dataset.json").write_text(json.dumps(cfg.dataset.model_dump(mode="json")))
    with caplog.at_level(logging.WARNING, logger="evokd"):
        run_round("synthesize", 1, cfg, lambda cfg, k, t: {"samples": 0}, lambda cfg: teacher)
    assert "synthesize@1: synthesize.overgenerate is 5 (default 3)" in caplog.text
    assert json.loads((tmp_path / "data/rounds/1/synthesize.meta.json").read_text())["samples"] == 0


def test_report_ceiling_is_a_score():
    """report.ceiling is a score in [0, 1] (a percentage is named as the error), or null."""
    data = base()
    data["report"]["ceiling"] = 95.2
    with pytest.raises(ConfigError, match=r"report\.ceiling: Input should be less than or equal to 1 \(got 95\.2\)"):
        parse_config(data)
    data["report"]["ceiling"] = None
    assert parse_config(data).report.ceiling is None
    assert load_config(ROOT / "params.yaml").report.ceiling == 0.952
