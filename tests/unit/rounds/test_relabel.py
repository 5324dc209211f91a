"""Second labelling (issue 6, "label noise is visible"): a sample of each round's samples is
labelled again by an independent draw; the label stage records the disagreement per class, the
report flags classes over `label.relabel_flag_rate` (and student disagreement over
`label.disagree_flag_rate`). With the simulated teacher (independent noise draws) and the openai
teacher against the fake server (a separately cached request with another draw and seed)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from evokd.config import parse_config
from evokd.io import read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from stages import label as label_step
from evokd import report
from stages.report import report as report_stage
from evokd.rounds import relabel
from evokd.teachers.cache import ResponseCache, resolve_root
from evokd.teachers.openai import OpenAITeacher
from evokd.teachers.simulated import SimulatedTeacher
from fake_openai import fake_openai, reply  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[3]
LABELS = ["A", "B", "C"]


def make_cfg(teacher: dict | None = None, label: dict | None = None, **top):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["teacher"].update(teacher or {})
    params["label"].update(label or {})
    params.update(top)
    return parse_config(params)


def stage_files(root: Path, rows: list[dict], labels: list[str]) -> Prepared:
    """What `label@1` reads: the label set, a test split, round 0's set, round 1's samples."""
    prepared = Prepared(root / "data/prepared")
    write_json(prepared.labels, {"labels": labels})
    write_jsonl(prepared.test, [{"id": "test-1", "text": "Completely unrelated held out sentence here", "label": labels[0]}])
    write_jsonl(Round(0).train_set, [])
    write_jsonl(Round(1).synthesized, [{**r, "kind": "hard"} for r in rows])
    return prepared


def pool(prepared: Prepared, n_per_label: int = 40) -> list[dict]:
    import numpy as np

    rows = [{"id": f"train-{lab}{i}", "text": f"{lab} question number {i} ?", "label": lab}
            for lab in LABELS for i in range(n_per_label)]
    write_jsonl(prepared.train, rows)
    np.save(prepared.train_embeddings, np.eye(len(rows), 8, dtype=np.float32))
    return rows


def test_pick_is_a_fixed_share_chosen_by_id_not_position():
    chunk = [{"id": f"r1-{i}"} for i in range(25)]
    chosen = relabel.pick(chunk, 0.1, seed=42)
    assert len(chosen) == 3 and relabel.pick(chunk, 0.0, 42) == [] and len(relabel.pick(chunk, 1.0, 42)) == 25
    assert {r["id"] for r in relabel.pick(chunk[::-1], 0.1, 42)} == {r["id"] for r in chosen}
    assert {r["id"] for r in relabel.pick(chunk, 0.1, 7)} != {r["id"] for r in chosen}
    assert len(relabel.pick(chunk[:1], 0.01, 42)) == 1  # any share > 0 relabels at least one


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_label_stage_records_second_labelling_with_the_simulated_teacher(tmp_path, monkeypatch, noise):
    monkeypatch.chdir(tmp_path)
    prepared = Prepared(tmp_path / "data/prepared")
    rows = pool(prepared)
    samples = [{"id": f"r1-{i}", "text": r["text"], "source_id": r["id"]} for i, r in enumerate(rows)]
    stage_files(tmp_path, samples, LABELS)
    cfg = make_cfg({"label_noise": noise}, {"relabel_fraction": 0.5})
    teacher = SimulatedTeacher(cfg, prepared)
    result = label_step.label(cfg, 1, teacher, prepared)
    second = result["relabel"]
    assert result["accepted"] == 120 and second["samples"] == 60 and second["failed"] == 0
    assert set(second["per_label"]) == set(LABELS) and teacher.usage.calls == 2
    assert sum(v["samples"] for v in second["per_label"].values()) == 60
    if noise == 0:
        assert second["disagree"] == 0 and second["rate"] == 0.0
    else:  # two independent draws at 30 % noise disagree on about half (1 - .49 - .045)
        assert 0.3 <= second["rate"] <= 0.75, second
        assert sum(v["disagree"] for v in second["per_label"].values()) == second["disagree"]
    # The first labelling is unchanged by the second (draw 0 is what it always was).
    labelled = {r["id"]: {"label": r["label"]} for r in read_jsonl(Round(1).labelled)}
    assert SimulatedTeacher(cfg, prepared).label(samples, LABELS) == labelled


def test_relabel_off_means_one_labelling_and_no_meta(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prepared = Prepared(tmp_path / "data/prepared")
    rows = pool(prepared, 4)
    stage_files(tmp_path, [{"id": f"r1-{i}", "text": r["text"], "source_id": r["id"]} for i, r in enumerate(rows)], LABELS)
    cfg = make_cfg({"label_noise": 0.5}, {"relabel_fraction": 0.0})
    teacher = SimulatedTeacher(cfg, prepared)
    assert "relabel" not in label_step.label(cfg, 1, teacher, prepared) and teacher.usage.calls == 1


TEXTS = ["Who built the pyramids ?", "Who wrote Faust ?", "Who sang Yesterday ?",
         "Where is Lima ?", "Where is Oslo ?", "Where is Accra ?", "What is a quark ?"]


def _responder(seed: int):
    """Labels by the first word; the second labelling (another seed) calls people places and
    answers an unknown label for definitions."""

    def answer(body: dict) -> dict:
        user = body["messages"][-1]["content"]
        second = body.get("seed") != seed
        out = []
        rows = [json.loads(line) for line in re.findall(r'^(\{"id": \d+, "text": .*\})$', user, re.MULTILINE)]
        for n, text in ((row["id"], row["text"]) for row in rows):
            label = {"Who": "HUM", "Where": "LOC", "What": "DESC"}[text.split()[0]]
            if second and label == "HUM":
                label = "LOC"
            if second and label == "DESC":
                label = "PLANET"
            out.append({"id": int(n), "label": label})
        return reply(json.dumps({"labels": out}))

    return answer


def test_openai_second_labelling_is_a_separate_cached_sample(fake_openai, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    labels = ["DESC", "HUM", "LOC"]
    prepared = stage_files(tmp_path, [{"id": f"r1-{i}", "text": t} for i, t in enumerate(TEXTS)], labels)
    cfg = make_cfg({"provider": "openai", "model": "fake-model", "base_url": fake_openai.url,
                    "cache_dir": str(tmp_path / "cache"), "prompts": str(ROOT / "prompts/default"),
                    "backoff_s": 0.01}, {"relabel_fraction": 1.0, "batch_size": 4}, seed=42)
    fake_openai.responder = _responder(42)
    result = label_step.label(cfg, 1, OpenAITeacher(cfg, api_key="k"), prepared)
    # 7 texts, 4 per request: 2 requests for the first labelling, 2 for the second.
    assert fake_openai.count() == 4 and result["accepted"] == 7
    seeds = sorted(r["body"]["seed"] for r in fake_openai.requests)
    assert seeds == [42, 42, 43, 43]
    assert result["relabel"] == {
        "fraction": 1.0, "samples": 6, "disagree": 3, "rate": 0.5, "failed": 1,
        "per_label": {"HUM": {"samples": 3, "disagree": 3, "rate": 1.0},
                      "LOC": {"samples": 3, "disagree": 0, "rate": 0.0}}}
    draws = sorted(json.loads(p.read_text())["request"]["draw"] for p in (tmp_path / "cache").rglob("*.json"))
    assert draws == ["label", "label", "label/draw1", "label/draw1"]
    # A re-run pays for nothing: both labellings come from the cache.
    again = OpenAITeacher(cfg, api_key="k")
    assert label_step.label(cfg, 1, again, prepared)["relabel"] == result["relabel"]
    assert fake_openai.count() == 4 and again.usage.cache_hits == 4


def _round(k: int, label_meta: dict, feedback: list[dict]) -> None:
    write_json(Round(k).plan, {"round": k, "active": True})
    write_json(Round(k).scores, {"round": k, "active": True, "macro_f1": 0.5, "accuracy": 0.5,
                                 "per_label": {"HUM": {"f1": 0.5}, "LOC": {"f1": 0.5}}})
    write_json(Round(k).meta("label"), {"stage": f"label@{k}", "wall_s": 1.0, "accepted": 10,
                                        "rejected": {}, "reject_rate": 0.0, "warning": None, **label_meta})
    write_jsonl(Round(k).feedback, feedback)


def _second(hum: tuple[int, int], loc: tuple[int, int], failed: int = 0) -> dict:
    per = {"HUM": {"samples": hum[0], "disagree": hum[1], "rate": round(hum[1] / hum[0], 4)},
           "LOC": {"samples": loc[0], "disagree": loc[1], "rate": round(loc[1] / loc[0], 4)}}
    n, bad = hum[0] + loc[0], hum[1] + loc[1]
    return {"fraction": 0.1, "samples": n, "disagree": bad, "rate": round(bad / n, 4), "failed": failed,
            "per_label": per}


@pytest.mark.parametrize("relabel_flag_rate, disagree_flag_rate", [(0.25, 0.6), (0.9, 0.9)])
def test_report_carries_second_labelling_per_class_and_flags_by_params(tmp_path, monkeypatch,
                                                                       relabel_flag_rate, disagree_flag_rate):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "slots.yaml").write_text(yaml.safe_dump({"slots": {"1": {"prev": 0}, "2": {"prev": 1}}}))
    cfg = make_cfg(label={"relabel_flag_rate": relabel_flag_rate, "disagree_flag_rate": disagree_flag_rate})
    write_json(Round(0).scores, {"round": 0, "active": True, "macro_f1": 0.1, "accuracy": 0.1,
                                 "per_label": {"HUM": {"f1": 0.1}, "LOC": {"f1": 0.1}}})
    write_json(Round(0).meta("prepare"), {"stage": "prepare", "seed": 2, "wall_s": 1.0})
    fb = [{"id": f"h{i}", "label": "HUM", "correct": i == 0} for i in range(5)]  # HUM: 80 % disagree
    _round(1, {"relabel": _second((2, 1), (3, 0), failed=1)}, fb)
    _round(2, {"relabel": _second((2, 1), (2, 0))}, [])
    report_stage(cfg)
    summary = json.loads((tmp_path / "reports/diagnostics.json").read_text())
    second = summary["label_disagreement"]["second_labelling"]
    assert second["per_label"] == {"HUM": 0.5, "LOC": 0.0} and second["samples"] == 9
    assert second["failed"] == 1 and second["per_round"] == {"1": 0.2, "2": 0.25}
    warnings = "\n".join(summary["warnings"])
    md = (tmp_path / "reports/report.md").read_text()
    assert "second, independent labelling disagreed with: 22% of 9 (1 unusable" in md and "HUM 50%" in md
    if relabel_flag_rate == 0.25:
        assert second["flagged"] == ["HUM"] and "second labelling disagrees" in warnings
        assert summary["label_disagreement"]["flagged"] == ["HUM"]
        assert "WARNING: label noise: the second labelling" in md
    else:  # the thresholds come from params: raised, nothing is flagged
        assert second["flagged"] == [] and summary["label_disagreement"]["flagged"] == []
        assert "label noise" not in warnings


def test_relative_cache_dir_in_a_queued_experiment_is_the_projects(tmp_path):
    workspace = tmp_path / "proj" / ".dvc" / "tmp" / "exps" / "tmpab12cd"
    assert resolve_root(".evokd/cache", workspace) == tmp_path / "proj" / ".evokd/cache"
    assert resolve_root(".evokd/cache", tmp_path / "proj") == Path(".evokd/cache")
    assert resolve_root(tmp_path / "abs", workspace) == tmp_path / "abs"
    assert ResponseCache(tmp_path / "c").root == tmp_path / "c"
