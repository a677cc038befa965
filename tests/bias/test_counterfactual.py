"""Counterfactual substitution: the EEC's own pairs recovered, word boundaries, capitalisation,
the his/her/hers rule, multiple alternatives, gender_of, and input checks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.bias.counterfactual import (
    GENDER_SUBSTITUTIONS,
    GENDER_WORD_PAIRS,
    RACE_SUBSTITUTIONS,
    counterfactuals,
    gender_of,
    substitute,
)
from book_code.bias.eec import NAMES, NOUN_PHRASE_PAIRS, OBJECT_PRONOUNS, SUBJECT_PRONOUNS, generate_eec


def test_gender_swap_of_every_eec_sentence_is_its_eec_counterpart():
    """Swapping gender in an EEC sentence gives exactly the EEC sentence with the paired person:
    the noun phrase's counterpart, or the name at the same position in the other gender's list."""
    records = generate_eec()
    cell = {(r.template, r.emotion_word, r.person): r.sentence for r in records}
    partner = dict([SUBJECT_PRONOUNS, OBJECT_PRONOUNS, *NOUN_PHRASE_PAIRS])
    for race in ("African-American", "European"):
        partner.update(zip(NAMES["female", race], NAMES["male", race], strict=True))
    partner.update({m: f for f, m in partner.items()})
    for r in records:
        expected = cell[r.template, r.emotion_word, partner[r.person]]
        assert counterfactuals(r.sentence) == [expected], r.sentence


def test_race_swap_keeps_gender_and_is_an_involution():
    assert counterfactuals("Jamel feels angry.", RACE_SUBSTITUTIONS) == ["Frank feels angry."]
    assert counterfactuals("Frank feels angry.", RACE_SUBSTITUTIONS) == ["Jamel feels angry."]
    for name, other in RACE_SUBSTITUTIONS.items():
        assert RACE_SUBSTITUTIONS[other] == name
        gender = {g for (g, _), names in NAMES.items() for n in names if n in (name, other)}
        assert len(gender) == 1


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("The theme of the hero.", []),  # no whole-word match inside "the", "theme", "hero"
        ("he's here", ["she's here"]),
        ("He left. HE left. he left.", ["She left. SHE left. she left."]),
        ("The men and the women.", ["The women and the men."]),
        ("Mr. Smith met Mrs. Smith.", ["Mrs. Smith met Mr. Smith."]),
        ("jack up the car", []),  # names match only capitalised
        ("Jack left.", ["Katie left."]),
        ("My son, my daughter.", ["My daughter, my son."]),
    ],
)
def test_boundaries_and_capitalisation(sentence, expected):
    assert counterfactuals(sentence) == expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Her book is here.", "His book is here."),  # determiner
        ("her old car", "his old car"),
        ("I saw her.", "I saw him."),  # object at the end of a clause
        ("I saw her yesterday.", "I saw him yesterday."),
        ("I gave her the book.", "I gave him the book."),
        ("It makes her feel sad.", "It makes him feel sad."),
        ("I talked to her and left.", "I talked to him and left."),
        ("His book is here.", "Her book is here."),
        ("The idea was his.", "The idea was hers."),  # standalone possessive
        ("His and mine.", "Hers and mine."),
        ("The idea was hers.", "The idea was his."),
        ("She told herself.", "He told himself."),
    ],
)
def test_his_her_hers_rule(sentence, expected):
    assert substitute(sentence, GENDER_SUBSTITUTIONS) == expected


UNAMBIGUOUS = [w for pair in GENDER_WORD_PAIRS for w in pair if w not in ("him", "her")]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([*UNAMBIGUOUS, "the", "cat", "sat", "on", "mat", "and"]), min_size=1,
                max_size=8),
       st.sampled_from([str.lower, str.capitalize, str.upper]))
def test_swapping_twice_gives_the_original(words, case):
    sentence = " ".join(case(w) for w in words) + "."
    once = substitute(sentence, GENDER_SUBSTITUTIONS)
    assert substitute(once, GENDER_SUBSTITUTIONS) == sentence
    if any(w in UNAMBIGUOUS for w in words):
        assert once != sentence


def test_table_is_a_bijection_apart_from_him_his_her_hers():
    for word, other in GENDER_SUBSTITUTIONS.items():
        if word not in ("him", "his", "her", "hers"):
            assert GENDER_SUBSTITUTIONS[other] == word
    with pytest.raises(TypeError):
        GENDER_SUBSTITUTIONS["nurse"] = "doctor"  # read-only; copy it to extend it


def test_several_alternatives_give_every_combination_up_to_the_limit():
    table = {"Jamel": ["Adam", "Alan"], "Alonzo": ["Roger", "Ryan"]}
    assert counterfactuals("Jamel met Alonzo.", table) == [
        "Adam met Roger.", "Adam met Ryan.", "Alan met Roger.", "Alan met Ryan."
    ]
    assert counterfactuals("Jamel met Alonzo.", table, limit=3) == [
        "Adam met Roger.", "Adam met Ryan.", "Alan met Roger."
    ]
    # Every occurrence of a word takes the same alternative; the original itself is dropped.
    assert counterfactuals("Jamel, Jamel!", {"Jamel": ["Jamel", "Adam"]}) == ["Adam, Adam!"]


def test_custom_table_and_multi_word_keys():
    table = {"nurse": "doctor", "doctor": "nurse", "this man": "this woman"}
    assert counterfactuals("The Nurse saw the doctor.", table) == ["The Doctor saw the nurse."]
    assert counterfactuals("This man helped.", table) == ["This woman helped."]


def test_gender_of():
    assert gender_of("She loved it.") == "female"
    assert gender_of("a film about a father and his son") == "male"
    assert gender_of("The king and the queen.") is None  # both
    assert gender_of("It rained all day.") is None
    assert gender_of("theme hero") is None  # whole words only


def test_bad_inputs():
    with pytest.raises(TypeError, match="str"):
        counterfactuals(42)
    with pytest.raises(TypeError, match="mapping"):
        counterfactuals("He left.", [("he", "she")])
    with pytest.raises(ValueError, match="non-empty"):
        counterfactuals("He left.", {"he": []})
    with pytest.raises(ValueError, match="non-empty"):
        counterfactuals("He left.", {"he": 3})
    with pytest.raises(ValueError, match="keys must be words"):
        counterfactuals("He left.", {"he!": "she"})
    with pytest.raises(ValueError, match="limit"):
        counterfactuals("He left.", limit=0)
    with pytest.raises(ValueError, match="one replacement"):
        substitute("He left.", {"he": ["she", "they"]})
    with pytest.raises(TypeError, match="str"):
        gender_of(None)
