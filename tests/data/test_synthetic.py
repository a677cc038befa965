"""The synthetic task: determinism, balance, labels that follow its rules, and the twin
construction that makes word counts useless on negation and contrast."""

from __future__ import annotations

import random
import subprocess
import sys
from collections import Counter, defaultdict

import pytest

from book_code.data import synthetic
from book_code.data.synthetic import (
    NEGATIVE,
    PHENOMENA,
    POSITIVE,
    SyntheticExample,
    columns,
    make_examples,
    make_synthetic_sentiment,
)
from book_code.data.tokenizer import tokenize

POLARITY = {**dict.fromkeys(POSITIVE, 1), **dict.fromkeys(NEGATIVE, 0)}


@pytest.fixture(scope="module")
def task():
    return make_synthetic_sentiment(n_train=2000, n_dev=400, n_test=400, seed=0)


def oracle(text: str, phenomenon: str) -> int:
    """The label the module docstring's rules give, worked out from the words alone."""
    tokens = tokenize(text)
    adjectives = [(i, POLARITY[t]) for i, t in enumerate(tokens) if t in POLARITY]
    if phenomenon in ("plain", "intensifier"):
        (polarity,) = {p for _, p in adjectives}
        return polarity
    assert len(adjectives) == 2, text
    if phenomenon == "negation":
        # the negated adjective follows "not", "n't", "never" or "not at all"
        (negated,) = [p for i, p in adjectives if tokens[i - 1] in ("not", "n't", "never", "all")]
        (kept,) = [p for i, p in adjectives if tokens[i - 1] not in ("not", "n't", "never", "all")]
        assert kept != negated, text
        return kept
    assert phenomenon == "contrast"
    assert adjectives[0][1] != adjectives[1][1], text
    if "but" in tokens or "however" in tokens:  # the clause after the connective counts
        return adjectives[1][1]
    (concession,) = [i for i, t in enumerate(tokens) if t in ("although", "though")]
    conceded = min(i for i, _ in adjectives if i > concession)
    (decisive,) = [p for i, p in adjectives if i != conceded]
    return decisive


def test_labels_follow_the_rules(task):
    for split in ("train", "dev", "test"):
        for example in task[split]:
            assert example.label == oracle(example.text, example.phenomenon), example


def test_sizes_and_balance(task):
    for split, n in (("train", 2000), ("dev", 400), ("test", 400)):
        examples = task[split]
        assert len(examples) == n
        counts = Counter((e.phenomenon, e.label) for e in examples)
        assert counts == {(p, label): n // 8 for p in PHENOMENA for label in (0, 1)}


def test_odd_sizes_and_proportions():
    task = make_synthetic_sentiment(n_train=21, n_dev=3, n_test=0, seed=1,
                                    proportions={"plain": 1, "negation": 4})
    assert (len(task.train), len(task.dev), len(task.test)) == (21, 3, 0)
    counts = Counter(e.phenomenon for e in task.train)
    assert counts == {"negation": 16, "plain": 5}  # 10 units: 2 of plain + the odd one, 8 pairs
    assert abs(sum(e.label for e in task.train) - 10.5) == 0.5


def test_deterministic_given_the_seed(task):
    again = make_synthetic_sentiment(n_train=2000, n_dev=400, n_test=400, seed=0)
    assert again == task
    other = make_synthetic_sentiment(n_train=2000, n_dev=400, n_test=400, seed=1)
    assert other.train != task.train


def test_independent_of_hash_randomisation():
    """Same output in fresh interpreters with different string-hash seeds."""
    # Load the module from its file: it needs only the standard library, so this is fast.
    code = (
        "import importlib.util, sys; "
        f"spec = importlib.util.spec_from_file_location('synthetic', {synthetic.__file__!r}); "
        "module = sys.modules['synthetic'] = importlib.util.module_from_spec(spec); "
        "spec.loader.exec_module(module); "
        "print('|'.join(e.text for e in module.make_synthetic_sentiment(200, 20, 20, seed=7).test))"
    )
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={"PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    expected = "|".join(e.text for e in make_synthetic_sentiment(200, 20, 20, seed=7).test)
    assert outputs == {expected + "\n"}


def test_no_sentence_occurs_twice(task):
    texts = [e.text for split in ("train", "dev", "test") for e in task[split]]
    assert len(texts) == len(set(texts))


def test_word_counts_carry_no_label_information_on_negation_and_contrast(task):
    """Within each split, every bag of words of a negation or contrast sentence occurs as
    often with label 1 as with label 0, so any bag-of-words classifier scores exactly 50%."""
    for split in ("train", "dev", "test"):
        for phenomenon in ("negation", "contrast"):
            by_bag = defaultdict(Counter)
            for e in task[split]:
                if e.phenomenon == phenomenon:
                    by_bag[tuple(sorted(tokenize(e.text)))][e.label] += 1
            assert by_bag and all(c[0] == c[1] for c in by_bag.values())


def test_twins_share_words_and_flip_the_label():
    rng = random.Random(0)
    for phenomenon in ("negation", "contrast"):
        for _ in range(50):
            first, second = make_examples(rng, phenomenon, rng.randrange(2))
            assert Counter(tokenize(first.text)) == Counter(tokenize(second.text))
            assert first.text != second.text and first.label == 1 - second.label
    assert len(make_examples(rng, "plain", 1)) == 1


def test_lengths_vary(task):
    lengths = [len(tokenize(e.text)) for e in task.train]
    assert min(lengths) <= 6 and max(lengths) >= 18


def test_sentences_look_like_text(task):
    for e in task.train[:50]:
        assert e.text[0].isupper() and e.text.endswith(".") and "  " not in e.text


def test_columns(task):
    texts, labels, phenomena = columns(task.dev)
    assert len(texts) == len(labels) == len(phenomena) == 400
    assert SyntheticExample(texts[0], labels[0], phenomena[0]) == task.dev[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_train": -1}, "n_train must be a non-negative integer"),
        ({"n_dev": 1.5}, "n_dev"),
        ({"proportions": {"sarcasm": 1}}, "proportions must map"),
        ({"proportions": {"plain": -1}}, "proportions"),
        ({"proportions": {"plain": 0}}, "positive sum"),
    ],
)
def test_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_synthetic_sentiment(**kwargs)
    with pytest.raises(ValueError, match="phenomenon must be one of"):
        make_examples(random.Random(0), "sarcasm", 1)
    with pytest.raises(KeyError, match="split must be"):
        make_synthetic_sentiment(2, 0, 0)["validation"]
