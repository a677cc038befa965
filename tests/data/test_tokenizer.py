"""The word tokenizer: PTB rules, idempotence, and agreement with SST-2's own tokenisation."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.data.tokenizer import tokenize


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Don't", ["do", "n't"]),
        ("I can't, we won't, it isn't", ["i", "ca", "n't", ",", "we", "wo", "n't", ",", "it", "is", "n't"]),
        ("it's they're we've i'll i'd i'm", ["it", "'s", "they", "'re", "we", "'ve", "i", "'ll", "i", "'d",
                                            "i", "'m"]),
        ("the film's end", ["the", "film", "'s", "end"]),
        ("I cannot, I'm gonna", ["i", "can", "not", ",", "i", "'m", "gon", "na"]),
        ("Good. Bad!", ["good", ".", "bad", "!"]),
        ("(yes) [no]; maybe: so?!", ["(", "yes", ")", "[", "no", "]", ";", "maybe", ":", "so", "?!"]),
        ("10,000 fans, 1.8 stars, at 2:30", ["10,000", "fans", ",", "1.8", "stars", ",", "at", "2:30"]),
        ("an old-fashioned, by-the-numbers and/or r&b film", ["an", "old-fashioned", ",", "by-the-numbers",
                                                               "and/or", "r&b", "film"]),
        ("Mr. Smith vs. the U.S. etc.", ["mr.", "smith", "vs.", "the", "u.s.", "etc."]),
        ("malcolm x. and j. k. rowling", ["malcolm", "x.", "and", "j.", "k.", "rowling"]),
        ("so do i.", ["so", "do", "i", "."]),  # the pronoun ending a sentence is not an initial
        ("gangster no. 1, the answer: no.", ["gangster", "no.", "1", ",", "the", "answer", ":", "no", "."]),
        ("\u201cWow\u201d \u2014 I didn\u2019t\u2026", ["``", "wow", "''", "--", "i", "did", "n't", "..."]),
        ('he said "fine" (twice)', ["he", "said", "``", "fine", "''", "(", "twice", ")"]),
        ("rock 'n' roll in the '70s", ["rock", "'n'", "roll", "in", "the", "'70s"]),
        ("anti- castro and pre- and post-war", ["anti-", "castro", "and", "pre-", "and", "post-war"]),
        ("poor--if durable--imitation", ["poor", "--", "if", "durable", "--", "imitation"]),
        ("CLICHÉS in Amélie", ["clichés", "in", "amélie"]),
        ("  \t\n ", []),
        ("", []),
    ],
)
def test_rules(text, tokens):
    assert tokenize(text) == tokens


def test_rejects_non_strings():
    with pytest.raises(TypeError, match="text must be a str"):
        tokenize(["not", "a", "string"])


TRICKY = st.sampled_from(
    [*"abinstxyzIS019 '.-,/&\"`?!:;()$*_\t\n", "\u2019", "\u201c", "\u2026", "\u2014", "é", "\u0130",
     "\u0307", "n't", "'s", "mr.", "cannot", "gonna", "e.g.", "no. 1", "'n'", "ol'", "'70s", "--", "..."]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.lists(TRICKY, max_size=25).map("".join), st.text(max_size=40)))
def test_idempotent(text):
    """Tokenising the space-joined tokens again changes nothing; tokens are non-empty and
    contain no whitespace."""
    tokens = tokenize(text)
    assert tokenize(" ".join(tokens)) == tokens
    assert all(token and "".join(token.split()) == token for token in tokens)


def test_sst2_text_comes_back_unchanged(data_root):
    """SST-2 is lower-cased and PTB-tokenised already: the tokenizer must leave it as it is."""
    checked, different = 0, []
    for name, column in (("train.tsv", 0), ("dev.tsv", 0), ("test.tsv", 1)):
        with open(data_root / "sst2" / name, encoding="utf-8", newline="") as f:
            reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(reader)
            for row in reader:
                checked += 1
                if tokenize(row[column]) != row[column].split():
                    different.append(row[column])
    assert checked == 67_349 + 872 + 1_821
    assert different == []
