"""Span <-> BIO conversions: punctuation, repeated surface forms, multi-token entities, and the
stated repair and rejection rules (evokd.tasks.spans)."""

from evokd.tasks.spans import bio_to_spans, spans_to_bio, tokenize

TYPES = ["LOC", "MISC", "ORG", "PER"]


def tags_of(tokens, spans, types=TYPES, text=None):
    conv = spans_to_bio(tokens, spans, types, text=text)
    return conv.tags, dict(conv.repairs), conv.reason


def test_bio_to_spans_multi_token_and_punctuation():
    tokens = "Peter Blackburn , of the European Commission , said ( in Brussels ) .".split()
    tags = ["B-PER", "I-PER", "O", "O", "O", "B-ORG", "I-ORG", "O", "O", "O", "O", "B-LOC", "O", "O"]
    spans = bio_to_spans(tokens, tags)
    assert [(s["text"], s["type"]) for s in spans] == [
        ("Peter Blackburn", "PER"), ("European Commission", "ORG"), ("Brussels", "LOC")]
    text = " ".join(tokens)
    assert all(text[s["start"]:s["end"]] == s["text"] for s in spans)
    assert (spans[1]["token_start"], spans[1]["token_end"]) == (5, 7)


def test_bio_to_spans_adjacent_entities_of_one_type_stay_apart():
    spans = bio_to_spans(["Germany", "France", "Italy"], ["B-LOC", "B-LOC", "I-LOC"])
    assert [s["text"] for s in spans] == ["Germany", "France Italy"]


def test_round_trip_bio_spans_bio():
    tokens = "U.S. Open winner Pete Sampras beat Germany 's Boris Becker .".split()
    tags = ["B-MISC", "I-MISC", "O", "B-PER", "I-PER", "O", "B-LOC", "O", "B-PER", "I-PER", "O"]
    spans = [{"text": s["text"], "type": s["type"]} for s in bio_to_spans(tokens, tags)]
    assert tags_of(tokens, spans) == (tags, {}, None)


def test_punctuation_inside_and_beside_entities():
    tokens = ["St.", "Louis", "(", "AT&T", ")", "said", ":", "U.S.", "."]
    tags, repairs, reason = tags_of(tokens, [{"text": "St. Louis", "type": "LOC"},
                                             {"text": "AT&T", "type": "ORG"},
                                             {"text": "U.S.", "type": "LOC"}])
    assert tags == ["B-LOC", "I-LOC", "O", "B-ORG", "O", "O", "O", "B-LOC", "O"] and not repairs


def test_repeated_surface_form_listed_twice_takes_both_occurrences():
    tokens = "Jordan beat Jordan in Jordan".split()
    tags, repairs, _ = tags_of(tokens, [{"text": "Jordan", "type": "PER"}, {"text": "Jordan", "type": "LOC"}])
    # Spans are placed in order at their first free occurrence; the third is not extended
    # because the form was given two different types.
    assert tags == ["B-PER", "O", "B-LOC", "O", "O"] and repairs == {}


def test_repeated_surface_form_listed_once_is_extended():
    tokens = "Germany beat Germany B , Germany said".split()
    tags, repairs, _ = tags_of(tokens, [{"text": "Germany", "type": "LOC"}])
    assert tags == ["B-LOC", "O", "B-LOC", "O", "O", "B-LOC", "O"]
    assert repairs == {"repeated_form_extended": 2}


def test_longer_span_wins_an_overlap_regardless_of_order():
    tokens = "The Bank of England said".split()
    for spans in ([{"text": "England", "type": "LOC"}, {"text": "Bank of England", "type": "ORG"}],
                  [{"text": "Bank of England", "type": "ORG"}, {"text": "England", "type": "LOC"}]):
        tags, repairs, reason = tags_of(tokens, spans)
        assert tags == ["O", "B-ORG", "I-ORG", "I-ORG", "O"]
        assert repairs == {"overlap_dropped": 1} and reason is None


def test_shorter_form_takes_a_free_occurrence_outside_the_longer_span():
    tokens = "Michael Jordan visited Jordan".split()
    tags, repairs, _ = tags_of(tokens, [{"text": "Jordan", "type": "LOC"},
                                        {"text": "Michael Jordan", "type": "PER"}])
    assert tags == ["B-PER", "I-PER", "O", "B-LOC"] and repairs == {}


def test_duplicate_span_is_dropped_and_counted():
    tokens = "Paris is nice".split()
    tags, repairs, _ = tags_of(tokens, [{"text": "Paris", "type": "LOC"}, {"text": "Paris", "type": "LOC"}])
    assert tags == ["B-LOC", "O", "O"] and repairs == {"duplicate_span": 1}


def test_span_not_found_or_inside_a_token_rejects():
    tokens = "He lives in Yorkshire .".split()
    assert tags_of(tokens, [{"text": "York", "type": "LOC"}])[2] == "span_not_found"
    assert tags_of(tokens, [{"text": "London", "type": "LOC"}])[2] == "span_not_found"


def test_case_mismatch_is_repaired():
    tags, repairs, _ = tags_of("visit NEW YORK now".split(), [{"text": "New York", "type": "LOC"}])
    assert tags == ["O", "B-LOC", "I-LOC", "O"] and repairs == {"case_mismatch": 1}


def test_types_outside_the_schema():
    tokens = "Anna met Bob".split()
    tags, repairs, reason = tags_of(tokens, [{"text": "Anna", "type": "person"}, {"text": "Bob", "type": "per"}])
    assert tags == ["B-PER", "O", "B-PER"] and repairs == {"type_alias": 1, "type_case": 1}
    assert tags_of(tokens, [{"text": "Anna", "type": "ANIMAL"}])[2] == "bad_type"
    assert tags_of(tokens, [{"text": "Anna"}])[2] == "bad_type"


def test_empty_list_is_no_entities_and_not_a_list_is_a_failure():
    assert tags_of(["a", "b"], []) == (["O", "O"], {}, None)
    assert tags_of(["a", "b"], {"text": "a"})[2] == "not_a_list"
    assert tags_of(["a", "b"], None)[2] == "not_a_list"
    assert tags_of(["a", "b"], ["a"])[2] == "bad_span"


def test_character_offsets_on_the_raw_text_with_snapping():
    text = "Visit the Eiffel Tower in Paris, France."
    tokens = tokenize(text)
    assert tokens == ["Visit", "the", "Eiffel", "Tower", "in", "Paris", ",", "France", "."]
    tags, repairs, reason = tags_of(tokens, [
        {"start": 10, "end": 22, "type": "LOC"},           # exact: Eiffel Tower
        {"start": 27, "end": 30, "type": "LOC"},           # inside "Paris": snapped outward
        {"start": 33, "end": 39, "type": "LOC", "text": "France"},
    ], text=text)
    assert tags == ["O", "O", "B-LOC", "I-LOC", "O", "B-LOC", "O", "B-LOC", "O"]
    assert repairs == {"snapped": 1} and reason is None


def test_offsets_that_disagree_with_their_text_fall_back_to_the_text():
    text = "Visit Paris and Rome"
    tags, repairs, _ = tags_of(tokenize(text), [{"start": 0, "end": 5, "type": "LOC", "text": "Rome"}], text=text)
    assert tags == ["O", "O", "O", "B-LOC"] and repairs == {"offset_mismatch": 1}
    assert tags_of(tokenize(text), [{"start": 40, "end": 45, "type": "LOC"}], text=text)[2] == "span_not_found"


def test_tokenizer_splits_like_conll():
    assert tokenize("Germany's O'Neill said: \"No.\" (AT&T, 1996-08-22)") == [
        "Germany", "'s", "O'Neill", "said", ":", '"', "No", ".", '"', "(", "AT&T", ",", "1996-08-22", ")"]
