"""Baselines: the majority class, bag-of-words logistic regression and per-group accuracy.

The chapter's required result: on the synthetic task the bag-of-words baseline stays at or
below 75% on negation and contrast, while it is good on plain sentences."""

from __future__ import annotations

import numpy as np
import pytest

from book_code.data.baselines import (
    BowBaseline,
    MajorityClassBaseline,
    accuracy_by_group,
    fit_bow_baseline,
)
from book_code.data.datasets import load_sst2
from book_code.data.synthetic import NEGATIVE, POSITIVE, columns, make_synthetic_sentiment


@pytest.fixture(scope="module")
def synthetic():
    task = make_synthetic_sentiment(n_train=2000, n_dev=0, n_test=1000, seed=0)
    return columns(task.train), columns(task.test)


@pytest.fixture(scope="module")
def bow(synthetic):
    (texts, labels, _), _ = synthetic
    return fit_bow_baseline(texts, labels)


def test_bow_fails_on_negation_and_contrast_but_not_on_plain_sentences(bow, synthetic):
    _, (texts, labels, phenomena) = synthetic
    accuracy = accuracy_by_group(bow.predict(texts), labels, phenomena)
    assert accuracy["negation"] <= 0.75 and accuracy["contrast"] <= 0.75
    assert accuracy["plain"] >= 0.95 and accuracy["intensifier"] >= 0.95
    # Stronger, by construction: twins with equal word counts and opposite labels.
    assert accuracy["negation"] == accuracy["contrast"] == 0.5


def test_word_pairs_see_some_word_order(synthetic, bow):
    (train_texts, train_labels, _), (texts, labels, phenomena) = synthetic
    bigrams = fit_bow_baseline(train_texts, train_labels, ngram_range=(1, 2))
    unigram_accuracy = accuracy_by_group(bow.predict(texts), labels, phenomena)
    bigram_accuracy = accuracy_by_group(bigrams.predict(texts), labels, phenomena)
    assert bigram_accuracy["negation"] > unigram_accuracy["negation"] + 0.2


def test_bow_learns_the_adjectives(bow):
    top = bow.top_features(8)
    assert {word for word, _ in top["positive"]} <= set(POSITIVE)
    assert {word for word, _ in top["negative"]} <= set(NEGATIVE)
    weights = [w for _, w in top["positive"]]
    assert weights == sorted(weights, reverse=True) and weights[-1] > 0


def test_bow_interface(bow):
    assert isinstance(bow, BowBaseline)
    probabilities = bow.predict_proba(["The film was good.", "The film was dull."])
    assert probabilities.shape == (2, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[0, 1] > 0.9 and probabilities[1, 0] > 0.9
    assert bow.predict(["The film was good.", "The film was dull."]).tolist() == [1, 0]
    assert bow.accuracy(["The film was good.", "The film was dull."], [1, 1]) == 0.5


def test_bow_uses_the_books_tokenizer():
    bow = fit_bow_baseline(["it isn't good", "it is good"], [0, 1])
    vocabulary = set(bow.pipeline.named_steps["countvectorizer"].get_feature_names_out())
    assert vocabulary == {"it", "is", "n't", "good"}


def test_bow_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="got 2 texts but 1 labels"):
        fit_bow_baseline(["a", "b"], [1])


def test_majority_class():
    baseline = MajorityClassBaseline().fit(["x"] * 5, [1, 0, 1, 1, 0])
    assert baseline.predict(["a", "b", "c"]).tolist() == [1, 1, 1]
    np.testing.assert_allclose(baseline.predict_proba(["a"]), [[0.4, 0.6]])
    assert MajorityClassBaseline().fit(["x", "y"], [1, 0]).predict(["a"]).tolist() == [0]  # tie: smaller
    with pytest.raises(ValueError, match="empty training set"):
        MajorityClassBaseline().fit([], [])


def test_majority_class_scores_half_on_the_balanced_synthetic_task(synthetic):
    (train_texts, train_labels, _), (texts, labels, _) = synthetic
    predictions = MajorityClassBaseline().fit(train_texts, train_labels).predict(texts)
    assert np.mean(predictions == np.array(labels)) == 0.5


def test_accuracy_by_group():
    assert accuracy_by_group([1, 0, 1, 1], [1, 1, 1, 0], ["b", "a", "b", "a"]) == {"a": 0.0, "b": 1.0}
    tags = [{"negation", "intensifier"}, {"negation"}, ("plain",)]
    assert accuracy_by_group(np.array([1, 0, 0]), np.array([1, 1, 0]), tags) == {
        "intensifier": 1.0, "negation": 0.5, "plain": 1.0}
    with pytest.raises(ValueError, match="lengths differ"):
        accuracy_by_group([1], [1, 0], ["a", "b"])


def test_bow_on_sst2_is_a_strong_baseline(data_root):
    """Word counts alone reach about 80% on SST-2 dev (majority class: about 51%)."""
    train, dev = load_sst2("train", data_dir=data_root), load_sst2("dev", data_dir=data_root)
    accuracy = fit_bow_baseline(train.texts, train.labels).accuracy(dev.texts, dev.labels)
    assert 0.78 <= accuracy <= 0.85
    majority = MajorityClassBaseline().fit(train.texts, train.labels).predict(dev.texts)
    assert 0.50 <= np.mean(majority == np.array(dev.labels)) <= 0.52
