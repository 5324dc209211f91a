"""The synthesis strategies (evokd/strategies.py): each one's declarations, lookup by name, the
params each teacher reads under it (`ignored_params`), and the probe seam through which the
teachers consult the previous student without importing student code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
import yaml

from evokd.config import SynthesizeConfig, ignored_params, parse_config
from evokd.errors import ConfigError
from evokd.io import write_json, write_jsonl
from evokd.paths import Prepared
from evokd.strategies import RANDOM_KIND, STRATEGIES, STRATEGY_PARAMS, get_strategy
from evokd.scores import LabelScores
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.simulated import SimulatedTeacher

ROOT = Path(__file__).resolve().parents[2]
LABELS = ["A", "B", "C"]


# -- declarations ------------------------------------------------------------------------------
@pytest.mark.parametrize("name, template, guided, with_labels, overgenerates, ranking", [
    ("evokd", "synthesize", True, False, "none", "none"),
    ("random", "synthesize_random", False, False, "none", "none"),
    ("uncertainty", "synthesize_random", False, False, "all", "least_sure"),
    ("evokd-uncertainty", "synthesize", True, False, "hard", "least_sure"),
    ("evokd-gen-labels", "synthesize_labelled", True, True, "none", "none"),
    ("eda", None, False, True, "none", "none"),
])
def test_each_strategy_declares_what_it_does(name, template, guided, with_labels, overgenerates, ranking):
    s = get_strategy(name)
    assert s.name == name and s.template == template and s.guided == guided
    assert s.labels_with_generation == with_labels
    assert s.overgenerates == overgenerates and s.ranking == ranking
    # An LLM teacher ranks exactly what it over-generates; the unguided template is the unguided one's.
    assert (s.overgenerates != "none") == (s.ranking != "none")
    # A teacher-written strategy has a template, the unguided one the unguided template; eda has none.
    assert (s.template is None) == (s.writer != "teacher")
    assert (s.template == "synthesize_random") == (not s.guided and s.writer == "teacher")


def test_the_config_names_exactly_the_strategies_there_are():
    assert get_args(SynthesizeConfig.model_fields["strategy"].annotation) == tuple(STRATEGIES)
    assert SynthesizeConfig().strategy in STRATEGIES


def test_lookup_by_name_and_an_unknown_name():
    assert all(get_strategy(name) is s and s.name == name for name, s in STRATEGIES.items())
    with pytest.raises(ConfigError, match=r"unknown strategy 'bogus'; use one of evokd, random, uncertainty"):
        get_strategy("bogus")
    # params.yaml still names a bad strategy by its key, as pydantic's Literal says it.
    params = {"dataset": {"train": "a", "test": "b"}, "synthesize": {"strategy": "bogus"}}
    with pytest.raises(ConfigError, match=r"synthesize\.strategy: Input should be 'evokd', 'random'"):
        parse_config(params)


def test_every_strategy_has_its_own_cache_draws():
    draws = {name: s.cache_draw(2, 1) for name, s in STRATEGIES.items()}
    assert draws["evokd"] == "synthesize/round2/batch1"  # the draw of before strategies: old caches stay valid
    assert draws["evokd-uncertainty"] == "synthesize/evokd-uncertainty/round2/batch1"
    assert len(set(draws.values())) == len(draws)


# -- what each teacher reads ------------------------------------------------------------------
def test_declared_reads_agree_with_the_other_declarations():
    for s in STRATEGIES.values():
        assert s.reads.simulated <= set(STRATEGY_PARAMS) and s.reads.openai <= set(STRATEGY_PARAMS)
        assert ("label_quota" in s.reads.openai) == ("label_quota" in s.reads.simulated) == s.guided
        assert ({"show_wrong", "show_correct"} <= s.reads.openai) == s.guided
        assert ("guided_share" in s.reads.simulated) == s.guided
        assert ("overgenerate" in s.reads.openai) == (s.overgenerates != "none")
        # The simulated teacher draws `candidates` for every strategy that consults the student.
        assert ("candidates" in s.reads.simulated) == (s.guided or s.ranking != "none")
        assert "overgenerate" not in s.reads.simulated and "candidates" not in s.reads.openai
        assert s.reads_param("n_hard", "openai") and s.reads_param("n_hard", "simulated")


ALL_SET = {"candidates": 64, "guided_share": 0.3, "label_quota": "even", "overgenerate": 5, "batches": 2,
           "show_wrong": 1, "show_correct": 1, "show_seed": 1}
LLM_ONLY = ["synthesize.batches", "synthesize.show_seed", "teacher.prompts"]


@pytest.mark.parametrize("provider, strategy, ignored", [
    ("simulated", "evokd", ["overgenerate", "show_wrong", "show_correct"]),
    ("simulated", "evokd-uncertainty", ["overgenerate", "show_wrong", "show_correct"]),
    ("simulated", "uncertainty", ["guided_share", "label_quota", "overgenerate", "show_wrong", "show_correct"]),
    ("simulated", "random", ["candidates", "guided_share", "label_quota", "overgenerate", "show_wrong",
                             "show_correct"]),
    ("openai", "evokd", ["candidates", "guided_share", "overgenerate"]),
    ("openai", "evokd-gen-labels", ["candidates", "guided_share", "overgenerate"]),
    ("openai", "evokd-uncertainty", ["candidates", "guided_share"]),
    ("openai", "uncertainty", ["candidates", "guided_share", "label_quota", "show_wrong", "show_correct"]),
    ("openai", "random", ["candidates", "guided_share", "label_quota", "overgenerate", "show_wrong",
                          "show_correct"]),
    # No teacher writes: every generation param is unread, the LLM teacher's too.
    ("simulated", "eda", list(STRATEGY_PARAMS)),
    ("openai", "eda", list(STRATEGY_PARAMS) + ["batches", "show_seed"]),
])
def test_ignored_params_are_derived_from_the_declarations(provider, strategy, ignored):
    teacher = {"provider": provider, "prompts": "prompts/concise", **({"model": "m"} if provider == "openai" else {})}
    cfg = parse_config({"dataset": {"train": "a", "test": "b"}, "teacher": teacher,
                        "synthesize": {"strategy": strategy, **ALL_SET}})
    named = [line.split(" ")[0] for line in ignored_params(cfg, "synthesize")]
    # The teacher's own params (conversations, seed examples, prompts) come after by key order.
    expected = [f"synthesize.{p}" for p in ignored] + (LLM_ONLY if provider == "simulated" else [])
    assert sorted(named) == sorted(expected)
    assert all(f"strategy {strategy} it changes nothing" in line for line in ignored_params(cfg, "synthesize"))


# -- the student probe seam -------------------------------------------------------------------
class TableStudent:
    """A StudentProbe that is a table: each text's margin is given; it predicts label A."""

    def __init__(self, margins: dict[str, float]):
        self.margins, self.asked = margins, []

    def label_scores(self, texts):
        self.asked.append(list(texts))
        probs = np.array([[0.5 + self.margins[t] / 2, 0.5 - self.margins[t] / 2, 0.0] for t in texts])
        return LabelScores(LABELS, probs, np.array([self.margins[t] for t in texts]))

    def word_scores(self, sentences):
        raise AssertionError("not a tagger")

    def least_sure(self, samples, n):
        raise AssertionError("the simulated teacher ranks its own pool draw")


class NoStudent:
    def __getattr__(self, name):
        raise AssertionError(f"the student was consulted ({name})")


def _teacher(tmp_path: Path, strategy: str) -> SimulatedTeacher:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["synthesize"].update(strategy=strategy, candidates=6)
    prepared = Prepared(tmp_path / "prepared")
    rows = [{"id": f"train-{lab}{i}", "text": f"{lab} question number {i} ?", "label": lab}
            for lab in LABELS for i in range(2)]
    write_jsonl(prepared.train, rows)
    np.save(prepared.train_embeddings, np.eye(len(rows), 8, dtype=np.float32))
    write_json(prepared.labels, {"labels": LABELS})
    return SimulatedTeacher(parse_config(params), prepared)


def _request(student, n_hard=2, n_easy=1) -> SynthesisRequest:
    return SynthesisRequest(round=1, labels=LABELS, analysis={}, feedback=[], known=[], n_hard=n_hard,
                            n_easy=n_easy, student=student)


def test_random_never_consults_the_student(tmp_path):
    out = _teacher(tmp_path, "random").synthesize(_request(NoStudent()))
    assert len(out) == 3 and {s["kind"] for s in out} == {RANDOM_KIND}


def test_uncertainty_keeps_what_the_given_probe_is_least_sure_of(tmp_path):
    margins = {f"{lab} question number {i} ?": m for (lab, i), m in
               zip([(lab, i) for lab in LABELS for i in range(2)], [0.9, 0.1, 0.8, 0.05, 0.7, 0.3])}
    student = TableStudent(margins)
    out = _teacher(tmp_path, "uncertainty").synthesize(_request(student))
    assert len(student.asked) == 1 and sorted(student.asked[0]) == sorted(margins)
    assert [s["text"] for s in out] == ["B question number 1 ?", "A question number 1 ?", "C question number 1 ?"]
    assert {s["kind"] for s in out} == {"hard"}


def test_teachers_never_import_the_student_and_the_probe_loads_nothing_until_asked():
    """Teachers and student meet only in evokd/scores.py; neither imports the other."""
    for path in (ROOT / "evokd/teachers").glob("*.py"):
        assert "evokd.student" not in path.read_text(), path
    for path in (ROOT / "evokd/student").glob("*.py"):
        assert "evokd.teachers" not in path.read_text(), path
    code = ("import sys\n"
            "import evokd.teachers.openai, evokd.teachers.simulated, evokd.teachers.simulated_ner\n"
            "assert not [m for m in sys.modules if m.startswith('evokd.student')], 'a teacher imports the student'\n"
            "sys.path.insert(0, '.'); import stages.synthesize\n"
            "from evokd.config import parse_config\n"
            "from evokd.student.saved import SavedStudent\n"
            "SavedStudent(parse_config({'dataset': {'train': 'a', 'test': 'b'}}), 'models/rounds/0')\n"
            "assert 'torch' not in sys.modules and 'evokd.student.predict' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
