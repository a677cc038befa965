"""The Equity Evaluation Corpus generator: the published counts, the realisation rules, and an
independent re-generation from the shared template specification."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from book_code.bias.eec import (
    EMOTIONS,
    NAMES,
    NOUN_PHRASE_PAIRS,
    SITUATION_WORDS,
    STATE_WORDS,
    TEMPLATES,
    EECRecord,
    generate_eec,
    persons,
    realise,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def records() -> list[EECRecord]:
    return generate_eec()


# --- the counts Kiritchenko & Mohammad (2018) publish ------------------------------------------


def test_published_counts(records):
    assert len(records) == 8640
    assert len({r.sentence for r in records}) == 8640
    assert Counter(r.gender for r in records) == {"female": 4320, "male": 4320}
    assert Counter(r.race for r in records) == {"African-American": 2880, "European": 2880, None: 2880}
    assert Counter(r.emotion for r in records) == {
        "anger": 2100, "fear": 2100, "joy": 2100, "sadness": 2100, None: 240
    }


def test_word_list_sizes():
    assert len(TEMPLATES) == 11
    assert all(len(names) == 10 for names in NAMES.values()) and len(NAMES) == 4
    assert len({n for names in NAMES.values() for n in names}) == 40
    for words in (STATE_WORDS, SITUATION_WORDS):
        assert set(words) == set(EMOTIONS)
        assert all(len(w) == 5 for w in words.values())
    assert len({w for words in (STATE_WORDS, SITUATION_WORDS) for ws in words.values() for w in ws}) == 40


def test_every_cell_of_the_design_appears_once(records):
    """Emotion templates: 60 persons x 20 words; neutral templates: 60 persons, no word."""
    per_template = Counter(r.template for r in records)
    for template in TEMPLATES:
        has_word = "<emotion word>" in template or "<emotional situation word>" in template
        assert per_template[template] == (1200 if has_word else 60)
    cells = Counter((r.template, r.person, r.emotion_word) for r in records)
    assert set(cells.values()) == {1}


def test_emotion_fields_are_consistent(records):
    for r in records:
        if r.emotion is None:
            assert r.emotion_word is None and "<" not in r.template.replace("<person", "")
        else:
            words = SITUATION_WORDS if "situation word" in r.template else STATE_WORDS
            assert r.emotion_word in words[r.emotion]
            assert r.emotion_word in r.sentence


# --- realisation rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "person", "gender", "word", "expected"),
    [
        (TEMPLATES[0], "my son", "male", "angry", "My son feels angry."),
        (TEMPLATES[0], "he", "male", "angry", "He feels angry."),
        (TEMPLATES[1], "her", "female", "sad", "The situation makes her feel sad."),
        (TEMPLATES[4], "Alonzo", "male", "irritating", "Alonzo found himself in an irritating situation."),
        (TEMPLATES[4], "Alonzo", "male", "vexing", "Alonzo found himself in a vexing situation."),
        (TEMPLATES[4], "this girl", "female", "horrible", "This girl found herself in a horrible situation."),
        (TEMPLATES[6], "my aunt", "female", "grim", "The conversation with my aunt was grim."),
        (TEMPLATES[8], "Tia", "female", None, "I talked to Tia yesterday."),
    ],
)
def test_realise(template, person, gender, word, expected):
    assert realise(template, person, gender, word) == expected


def test_realise_without_the_needed_word_is_an_error():
    with pytest.raises(ValueError, match="needs an emotion word"):
        realise(TEMPLATES[0], "he", "male")


def test_pronouns_only_in_their_slot(records):
    for r in records:
        if r.person in ("he", "she"):
            assert "<person subject>" in r.template
        if r.person in ("him", "her"):
            assert "<person object>" in r.template
    assert {p for p, _, _ in persons("subject")} & {"him", "her"} == set()
    with pytest.raises(ValueError, match="slot"):
        persons("verb")


def test_noun_phrase_pairs_are_gendered_counterparts():
    for female, male in NOUN_PHRASE_PAIRS:
        assert female.split()[0] == male.split()[0]  # "this"/"my" kept, only the noun changes


# --- the shared specification ------------------------------------------------------------------


def spec_path() -> Path:
    """The shared template specification: $BOOK_DATA_DIR/eec/..., else ../shared/data/eec/...

    Skip only when BOOK_DATA_DIR is unset and the file is absent; fail when it is set and absent.
    """
    data_dir = os.environ.get("BOOK_DATA_DIR")
    path = Path(data_dir or ROOT.parent / "shared" / "data") / "eec" / "eec_template_spec.json"
    if not path.is_file():
        if data_dir:
            pytest.fail(f"BOOK_DATA_DIR is set but {path} does not exist")
        pytest.skip(f"EEC template specification not found at {path} (set BOOK_DATA_DIR)")
    return path


def realise_from_spec(spec: dict) -> set[tuple]:
    """An independent realisation that follows the specification's own notes."""
    out = set()
    emotions = spec["emotions"]
    for entry in spec["templates"]:
        template = entry["template"]
        subject = "<person subject>" in template
        if "<emotion word>" in template:
            words = [(e, w) for e, v in emotions.items() for w in v["emotional_state_words"]]
        elif "<emotional situation word>" in template:
            words = [(e, w) for e, v in emotions.items() for w in v["emotional_situation_words"]]
        else:
            words = [(None, None)]
        for group, people in spec["persons"].items():
            gender, kind = group.split("|")
            for person in people:
                if kind == "noun_phrase" and person in (("him", "her") if subject else ("he", "she")):
                    continue
                for emotion, word in words:
                    s = template.replace("<person subject>", person).replace("<person object>", person)
                    if word is not None:
                        s = s.replace("<emotion word>", word).replace("<emotional situation word>", word)
                        s = s.replace("a/an", "an" if word[0] in "aeiou" else "a")
                    s = s.replace("himself/herself", "himself" if gender == "male" else "herself")
                    s = s[0].upper() + s[1:]
                    race = None if kind == "noun_phrase" else kind
                    out.add((s, template, person, gender, race, emotion, word))
    return out


def test_generator_matches_the_shared_specification(records):
    spec = json.loads(spec_path().read_text(encoding="utf-8"))
    assert len(records) == spec["n_sentences"]
    assert {t["template"] for t in spec["templates"]} == set(TEMPLATES)
    rows = Counter(r.template for r in records)
    assert {t["template"]: t["rows"] for t in spec["templates"]} == rows
    for (gender, race), names in NAMES.items():
        assert set(spec["persons"][f"{gender}|{race}"]) == set(names)
    for emotion in EMOTIONS:
        assert set(spec["emotions"][emotion]["emotional_state_words"]) == set(STATE_WORDS[emotion])
        assert set(spec["emotions"][emotion]["emotional_situation_words"]) == set(SITUATION_WORDS[emotion])
    ours = {(r.sentence, r.template, r.person, r.gender, r.race, r.emotion, r.emotion_word) for r in records}
    assert ours == realise_from_spec(spec)
    assert set(spec["examples"]) <= {r.sentence for r in records}


def test_spec_location_fails_loudly_when_book_data_dir_is_wrong(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOK_DATA_DIR", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="BOOK_DATA_DIR is set"):
        spec_path()
