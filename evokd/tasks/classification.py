"""Text classification: metrics, confusions, and the task (`ClassificationTask`)."""

from __future__ import annotations

from collections import Counter

from evokd.config import DatasetConfig
from evokd.tasks.base import Answer, Task


def metrics(gold: list[str], predicted: list[str], labels: list[str]) -> dict:
    """Accuracy, macro-F1 over `labels`, and per-label precision/recall/F1/support."""
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    tp, fp, fn = Counter(), Counter(), Counter()
    for g, p in zip(gold, predicted):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    per_label = {}
    for label in labels:
        prec = tp[label] / (tp[label] + fp[label]) if tp[label] + fp[label] else 0.0
        rec = tp[label] / (tp[label] + fn[label]) if tp[label] + fn[label] else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_label[label] = {"precision": round(prec, 4), "recall": round(rec, 4),
                            "f1": round(f1, 4), "support": tp[label] + fn[label]}
    present = [label for label in labels if per_label[label]["support"] > 0]
    macro = sum(per_label[label]["f1"] for label in present) / len(present) if present else 0.0
    accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold) if gold else 0.0
    return {"accuracy": round(accuracy, 4), "macro_f1": round(macro, 4), "per_label": per_label}


def confusions(gold: list[str], predicted: list[str]) -> list[dict]:
    """Off-diagonal (gold, predicted) pairs, most frequent first."""
    pairs = Counter((g, p) for g, p in zip(gold, predicted) if g != p)
    return [{"gold": g, "predicted": p, "count": n}
            for (g, p), n in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))]


def confusion_matrix(gold: list[str], predicted: list[str]) -> list[dict]:
    """Every (actual, predicted) pair that occurs, the diagonal included, with its count; sorted
    by actual then predicted, so that the file reads the same on every run."""
    pairs = Counter(zip(gold, predicted))
    return [{"actual": g, "predicted": p, "count": n} for (g, p), n in sorted(pairs.items())]


class ClassificationTask(Task):
    """One label per text. Samples are {"id", "text", "label"}; the student is a sequence
    classifier; the headline metric is macro-F1."""

    name = "classification"
    head = "sequence"
    metric = "macro_f1"
    columns = {"macro_f1": "macro-F1", "accuracy": "accuracy"}
    formats = ("trec", "csv", "tsv", "jsonl", "parquet", "hf")
    reads = "texts with one label each"
    hf_task = "text-classification"
    label_noun = "labels"
    label_word = "label"
    one_label_per_sample = True
    answer_field = "label"
    gold_fields = ("label",)
    simulated_teacher = "evokd.teachers.simulated:SimulatedTeacher"

    def load(self, dataset: DatasetConfig) -> dict[str, list[dict]]:
        from evokd.data.loaders import load_dataset

        return load_dataset(dataset)

    def label_set(self, train: list[dict]) -> list[str]:
        return sorted({r["label"] for r in train})

    def label_counts(self, rows: list[dict]) -> dict[str, int]:
        return dict(sorted(Counter(r["label"] for r in rows).items()))

    def draw_seed(self, rows, labels, shots, seed, source):
        from evokd.data.sampling import draw_seed_set

        return draw_seed_set(rows, shots, seed, source)

    def score(self, test, prediction, labels):
        names, probs = prediction
        predicted = [names[j] for j in probs.argmax(1)]
        gold = [r["label"] for r in test]
        return {**metrics(gold, predicted, labels), "confusion": confusion_matrix(gold, predicted)}

    def feedback(self, rows, prediction):
        names, probs = prediction
        out = []
        for row, p in zip(rows, probs):
            predicted = names[int(p.argmax())]
            out.append({**row, "predicted": predicted, "confidence": round(float(p.max()), 4),
                        "correct": predicted == row["label"]})
        return out

    def answer_schema(self, labels):
        return {"type": "string", "enum": labels}

    def shown_answer(self, row):
        return row["label"]

    def student_answer(self, row):
        return {"student_said": row.get("predicted")}

    def longest_wrong_answer(self, row, labels):
        """The longest label name."""
        return max(labels, key=len)

    def labels_of(self, row):
        """Its class."""
        return {str(row["label"])} if "label" in row else set()

    def answer_key(self, fields):
        return fields.get("label")

    def apply_answer(self, sample, answer, labels):
        record = {"label": answer.get("label")}
        if "label" not in answer:
            return Answer(None, "unlabelled", answer.get("error", "no label"), record=record)
        if not isinstance(answer["label"], str) or answer["label"] not in set(labels):
            return Answer(None, "bad_label", str(answer["label"])[:100], record=record)
        return Answer({"label": answer["label"]}, record=record)

    def words_and_tags(self, row):
        """The text's whitespace-separated words, every one editable (the label is the text's)."""
        words = row["text"].split()
        return words, ["O"] * len(words)

    def from_words(self, row, words, tags):
        """The words joined by spaces, with the source's label."""
        return {"text": " ".join(words)}, {"label": row["label"]}
