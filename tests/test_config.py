from pathlib import Path

import pytest
import yaml

from evokd.config import load_config, parse_config
from evokd.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


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
