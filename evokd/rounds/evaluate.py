"""evaluate: score round k's student on the test split, and run the previous student on the new
batch: its right and wrong answers (`feedback`) are what the teacher analyses next."""

from __future__ import annotations

from evokd.config import Config
from evokd.io import read_json, read_jsonl, write_json, write_jsonl
from evokd.paths import Prepared, Round
from evokd.tasks.classification import metrics


def score(cfg: Config, model_dir, test: list[dict], labels: list[str]) -> dict:
    """Test-split metrics of one checkpoint."""
    from evokd.student.predict import predict_proba

    names, probs = predict_proba(model_dir, [r["text"] for r in test], cfg.evaluate.batch_size,
                                 cfg.train.max_length, cfg.train.threads)
    predicted = [names[j] for j in probs.argmax(1)]
    return metrics([r["label"] for r in test], predicted, labels)


def feedback(cfg: Config, model_dir, rows: list[dict]) -> list[dict]:
    """The student's answer on each row, joined by id: label, predicted, confidence, correct."""
    from evokd.student.predict import predict_proba

    names, probs = predict_proba(model_dir, [r["text"] for r in rows], cfg.evaluate.batch_size,
                                 cfg.train.max_length, cfg.train.threads)
    out = []
    for row, p in zip(rows, probs):
        predicted = names[int(p.argmax())]
        out.append({**row, "predicted": predicted, "confidence": round(float(p.max()), 4),
                    "correct": predicted == row["label"]})
    return out


def run(cfg: Config, k: int, prepared: Prepared = Prepared()) -> dict:
    rnd = Round(k)
    labels = read_json(prepared.labels)["labels"]
    result = score(cfg, rnd.model, read_jsonl(prepared.test), labels)
    write_json(rnd.scores, {"round": k, "active": True, **result})
    batch = read_jsonl(rnd.labelled)
    fb = feedback(cfg, rnd.previous.model, batch)
    write_jsonl(rnd.feedback, fb)
    return {"macro_f1": result["macro_f1"], "accuracy": result["accuracy"],
            "feedback_wrong": sum(not r["correct"] for r in fb), "feedback_total": len(fb)}
