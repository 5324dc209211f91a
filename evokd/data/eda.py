"""The texts of strategy `eda`: EDA (Wei & Zou 2019, "EDA: Easy Data Augmentation Techniques for
Boosting Performance on Text Classification Tasks") without WordNet, so nothing is downloaded and
no teacher is asked. Each round makes `n` new samples from the seed set, each from one seed
example by word edits, with that example's label (NER: its tags).

The paper's four operations, each changing n = max(1, int(ALPHA * words)) words:
- swap: two words trade places, n times;
- delete: each word goes with probability ALPHA (at least one goes, and one stays);
- insert: a word goes in at a random place, n times;
- replace: a word is replaced by another, n times.
The paper inserts and replaces with WordNet synonyms; here the words come from the seed examples
that share a label with the source (the source itself included: with one seed example per label
it is the only one). Only words a task lets move are edited (`Task.words_and_tags`): punctuation
never, and for NER only words outside every entity (tag O), and nothing is inserted inside an
entity, so every entity stays whole, with its tags, and the tags stay right.

Which sources: the seed set, round-robin in an order drawn per round (so a round's samples spread
over the labels as the seed set does). Which edits: one operation, drawn among those that apply;
a result that is already in the training set or in this round (the label stage would reject it
as a `duplicate`) is drawn again, with one more operation composed in every `TRIES_PER_EDIT`
tries, as a source's one-edit variants run out over the rounds. A source that yields nothing new
in `TRIES` tries is left out for the rest of the round. Every draw comes from one generator seeded
by (seed, round): one run gives the same texts on every machine.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from typing import TYPE_CHECKING

from evokd.data.textnorm import normalize
from evokd.strategies import AUGMENTED_KIND

if TYPE_CHECKING:
    from evokd.tasks import Task

# The paper's alpha for every operation (its recommendation for small training sets, and the
# value of its released code's defaults): the share of a text's words one edit changes.
ALPHA = 0.1
OPERATIONS = ("swap", "delete", "insert", "replace")
# Tries per sample before a source is left out, and tries per extra composed operation: a
# 10-word TREC question has about 45 one-swap variants, so a source of a 1-shot seed set (about
# 43 samples over 8 rounds of 32) runs short of one-edit variants only late in a run.
TRIES = 30
TRIES_PER_EDIT = 10


def _rng(seed: int, k: int) -> random.Random:
    """The round's generator, from a stable hash (Python's hash() is salted per process)."""
    digest = hashlib.sha256(f"{seed}\x1feda\x1f{k}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _changes(n_words: int) -> int:
    return max(1, int(ALPHA * n_words))


def _editable(words: list[str], tags: list[str]) -> list[int]:
    """Positions an edit may touch: words (not punctuation) tagged O."""
    return [i for i, (w, t) in enumerate(zip(words, tags)) if t == "O" and any(c.isalnum() for c in w)]


def swap(words, tags, vocab, rng):
    free = _editable(words, tags)
    if len(free) < 2:
        return None
    words = list(words)
    for _ in range(_changes(len(words))):
        i, j = rng.sample(free, 2)
        words[i], words[j] = words[j], words[i]
    return words, list(tags)  # both tagged O: the tags stay where they are


def delete(words, tags, vocab, rng):
    free = _editable(words, tags)
    if len(free) < 2:
        return None
    gone = {i for i in free if rng.random() < ALPHA} or {rng.choice(free)}
    if len(gone) == len(free):  # a text of its entities and punctuation alone says nothing
        gone.discard(rng.choice(sorted(gone)))
    keep = [i for i in range(len(words)) if i not in gone]
    return [words[i] for i in keep], [tags[i] for i in keep]


def insert(words, tags, vocab, rng):
    if not vocab:
        return None
    words, tags = list(words), list(tags)
    for _ in range(_changes(len(words))):
        # Before any word but an entity's inner one (I-), so an entity is never split; at the end
        # only when the text does not end in punctuation ("?" stays the last word of a question).
        places = [i for i in range(len(words)) if not tags[i].startswith("I-")]
        if not words or any(c.isalnum() for c in words[-1]):
            places.append(len(words))
        i = rng.choice(places)
        words.insert(i, rng.choice(vocab))
        tags.insert(i, "O")
    return words, tags


def replace(words, tags, vocab, rng):
    free = _editable(words, tags)
    words, done = list(words), 0
    for i in rng.sample(free, len(free)):
        options = [w for w in vocab if w.casefold() != words[i].casefold()]
        if options:
            words[i] = rng.choice(options)
            done += 1
        if done == _changes(len(words)):
            break
    return (words, list(tags)) if done else None


_OPS = {"swap": swap, "delete": delete, "insert": insert, "replace": replace}


def _vocabularies(task: "Task", seed_rows: list[dict]) -> dict[str, list[str]]:
    """Per seed example, the editable words of the seed examples that share a label with it
    (itself included), in seed order, each once."""
    views = [(row, *task.words_and_tags(row)) for row in seed_rows]
    out = {}
    for row, _, _ in views:
        mine = task.labels_of(row)
        words = [w[i] for other, w, t in views if other is row or task.labels_of(other) & mine
                 for i in _editable(w, t)]
        out[row["id"]] = list(dict.fromkeys(words))
    return out


def augment(task: "Task", seed_rows: list[dict], known: list[dict], n: int, seed: int,
            k: int) -> tuple[list[dict], dict]:
    """Round k's `n` augmented samples (fewer only when every source runs out of new texts) and
    what making them took: {"tries", "edits" (operations applied, by name), "exhausted" (the
    sources left out, by id)}. Each sample is {"text", "kind": "augmented", the task's fields
    (NER: "tokens"), "source_id", "edits", "answer"}: `answer` is the source's label (NER: the
    edited sentence's tags), which the label stage takes instead of a label call."""
    rng = _rng(seed, k)
    vocab = _vocabularies(task, seed_rows)
    seen = {normalize(row["text"]) for row in [*known, *seed_rows]}
    live = list(seed_rows)
    rng.shuffle(live)
    out: list[dict] = []
    tries, edits, exhausted = 0, Counter(), []
    slot = 0
    while len(out) < n and live:
        source = live[slot % len(live)]
        made = None
        for attempt in range(TRIES):
            tries += 1
            made = _draw(task, source, vocab[source["id"]], 1 + attempt // TRIES_PER_EDIT, rng, seen)
            if made is not None:
                break
        if made is None:
            live.remove(source)  # the next source takes this slot
            exhausted.append(source["id"])
            continue
        seen.add(normalize(made["text"]))
        edits.update(made["edits"])
        out.append(made)
        slot += 1
    return out, {"tries": tries, "edits": dict(sorted(edits.items())), "exhausted": exhausted}


def _draw(task: "Task", source: dict, vocab: list[str], n_edits: int, rng: random.Random,
          seen: set[str]) -> dict | None:
    """One try: `n_edits` operations on `source`, each drawn among those that apply; None when
    none applies or the text is not new."""
    words, tags = task.words_and_tags(source)
    done = []
    for _ in range(n_edits):
        for name in rng.sample(OPERATIONS, len(OPERATIONS)):
            edited = _OPS[name](words, tags, vocab, rng)
            if edited is not None:
                words, tags = edited
                done.append(name)
                break
        else:
            return None
    fields, answer = task.from_words(source, words, tags)
    norm = normalize(fields["text"])
    if not norm or norm in seen:
        return None
    return {"text": fields["text"], "kind": AUGMENTED_KIND, **fields, "source_id": source["id"],
            "edits": done, "answer": answer}
