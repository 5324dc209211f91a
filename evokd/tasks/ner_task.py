"""The NER task behind the `Task` seam: CoNLL data, BIO tags, a token-classifier student,
entity-level F1 (seqeval) as the headline metric."""

from __future__ import annotations

from collections import Counter

from evokd.tasks import ner
from evokd.tasks.base import Answer, Task


class NerTask(Task):
    """Samples are {"id", "tokens", "tags", "text"}; the label set is the entity types."""

    name = "ner"
    head = "token"
    metric = "f1"
    columns = {"f1": "F1", "precision": "precision", "recall": "recall",
               "macro_f1": "macro-F1", "accuracy": "token accuracy"}
    formats = ("conll",)
    reads = "CoNLL column files"
    hf_task = "token-classification"
    label_noun = "entity types"
    label_word = "type"
    context_note = "Anything that is none of these types is not an entity and is not marked."
    # A sentence holds any number of entities, of any types.
    one_label_per_sample = False
    answer_field = "entities"
    # BIO tags, and the spans a teacher gave them from.
    gold_fields = ("tags", "spans")
    simulated_teacher = "evokd.teachers.simulated_ner:SimulatedNerTeacher"

    def load(self, dataset):
        from evokd.data.conll import load_ner_dataset

        return load_ner_dataset(dataset)

    def label_set(self, train):
        from evokd.data.conll import entity_types

        return entity_types(train)

    def label_counts(self, rows):
        """Entities per type (not sentences)."""
        counts = Counter(tag[2:] for row in rows for tag in row["tags"] if tag.startswith("B-"))
        return dict(sorted(counts.items()))

    def draw_seed(self, rows, labels, shots, seed, source):
        return ner.draw_seed_sentences(rows, labels, shots, seed, source)

    def student_labels(self, labels):
        """The BIO tags of the entity types: what the token head predicts."""
        return ner.tag_names(labels)

    def _tags(self, prediction):
        """The most probable tag of every word, repaired to valid BIO (an orphan I-X becomes B-X)."""
        from evokd.data.conll import repair_bio

        names, probs = prediction
        return [repair_bio([names[j] for j in p.argmax(1)])[0] for p in probs]

    def score(self, test, prediction, labels):
        predicted = self._tags(prediction)
        gold = [r["tags"] for r in test]
        return {**ner.metrics(gold, predicted, labels), "confusion": ner.token_confusion(gold, predicted)}

    def show_label(self, row):
        """Entities as `text (TYPE)`: from the tags of an accepted sentence, else the teacher's
        answer that a rejected one keeps (`entities`, or `tags`)."""
        from evokd.tasks.spans import bio_to_spans

        tokens, tags, entities = row.get("tokens"), row.get("tags"), row.get("entities")
        if isinstance(tokens, list) and isinstance(tags, list) and len(tokens) == len(tags):
            spans = bio_to_spans(tokens, tags)
            return ", ".join(f"{s['text']} ({s['type']})" for s in spans) or "(no entities)"
        if isinstance(entities, list):
            return ", ".join(f"{e.get('text', '?')} ({e.get('type', '?')})" if isinstance(e, dict)
                             else str(e) for e in entities) or "(no entities)"
        return "(none)" if tags is None and entities is None else str(tags if tags is not None else entities)

    def feedback(self, rows, prediction):
        """`correct`: the predicted entities are exactly the gold ones; `confidence`: the least
        confident word's top probability."""
        out = []
        for row, tags, p in zip(rows, self._tags(prediction), prediction[1]):
            confidence = float(p.max(1).min()) if len(p) else 1.0
            out.append({**row, "predicted": tags, "confidence": round(confidence, 4),
                        "correct": ner.sentence_correct(row["tags"], tags)})
        return out

    def apply_answer(self, sample, answer, labels) -> Answer:
        return ner.answer_to_tags(sample, answer, labels)

    def answer_schema(self, labels):
        return ner.entities_schema(labels)

    def shown_answer(self, row):
        return ner.entities(row["tokens"], row["tags"])

    def student_answer(self, row):
        """The entities the student found (none shown where it gave no answer)."""
        if row.get("predicted") is None:
            return {}
        return {"student_found": ner.entities(row["tokens"], row["predicted"])}

    def longest_wrong_answer(self, row, labels):
        """Every entity again (as the student's find)."""
        return row.get("tags")

    def labels_of(self, row):
        """The entity types it begins."""
        return {tag[2:] for tag in row.get("tags") or [] if tag.startswith("B-")}

    def verdicts(self, row):
        """Each gold entity counts once for its type, and disagrees when the student did not
        predict it exactly: a sentence-level verdict would mark every type in a sentence wrong
        for one missed entity (about 75 % "noise" on CoNLL hard samples, which is the student's
        weakness, not the teacher's). A row without predicted tags takes the sentence's verdict."""
        if not isinstance(row.get("predicted"), list):
            return super().verdicts(row)
        predicted = ner.entity_set(row["predicted"])
        return [(etype, (start, end, etype) not in predicted)
                for start, end, etype in ner.entity_set(row["tags"])]

    def answer_key(self, fields):
        """The tag sequence."""
        return fields.get("tags")

    def words_and_tags(self, row):
        """The sentence's tokens and BIO tags: words inside an entity are not `O`, so no edit
        touches them."""
        return list(row["tokens"]), list(row["tags"])

    def from_words(self, row, words, tags):
        """The tokens (joined by spaces as `text`), and their tags as the answer: the label call's
        `{"tags"}` form, one per token."""
        return {"text": " ".join(words), "tokens": list(words)}, {"tags": list(tags)}

    def confusion_cells(self, cells):
        """Token level (entity types, B-/I- dropped); the O-O cell (most words of every
        sentence) is left out, as it would wash out the scale, and the note says so."""
        kept = [c for c in cells if not (c["actual"] == "O" and c["predicted"] == "O")]
        return kept, "token level, B-/I- dropped; the O/O cell (words rightly outside entities) left out"

    def confusion_labels(self, labels):
        """Every type, then `O`."""
        return list(labels) + ["O"]
