"""The Chapter 6 solutions solve their exercises: bigram counts close the negation gap but get
one contrast template systematically wrong; a warm-up comparison changes nothing but the
schedule, and without warm-up the first step at a high rate throws the loss up; the new
"rather than" phenomenon has twins that no count-based model can tell apart."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from book_code.data import accuracy_by_group, columns, fit_bow_baseline, make_synthetic_sentiment, tokenize
from book_code.data.synthetic import CONTRAST_TEMPLATES, make_examples
from book_code.encoder import TransformerClassifier
from book_code.exercises.ch06 import (
    accuracy_on,
    bow_by_phenomenon,
    contrast_connective,
    first_steps,
    make_rather_than,
    rather_than_examples,
    warmup_comparison,
)
from book_code.training.experiments import CHAPTER_CONFIG

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "chapters" / "results" / "ch06_results.json"
NAMES = ["but", "although, decisive", "decisive, although", "however", "even though"]  # template order


def test_connective_names_every_template_even_after_an_opener():
    for template, name in zip(CONTRAST_TEMPLATES, NAMES, strict=True):
        body = template.format(subject="the plot", other="the cast", be="is", decisive="clever",
                               conceded="dull")
        for opener in ("", "frankly, ", "to be fair, "):
            assert contrast_connective(f"{opener}{body}.".capitalize()) == name, (opener, template)
    with pytest.raises(ValueError):
        contrast_connective("The plot is clever.")
    rng = random.Random(0)
    twins = [make_examples(rng, "contrast", label=1) for _ in range(200)]
    assert {contrast_connective(a.text) for a, _ in twins} == set(NAMES)
    assert all(contrast_connective(a.text) == contrast_connective(b.text) for a, b in twins)


def test_bigrams_close_the_negation_gap_but_not_the_contrast_gap():
    pytest.importorskip("sklearn")
    results = bow_by_phenomenon(((1, 1), (1, 2), (1, 3)))
    unigram, bigram, trigram = results["1-1"], results["1-2"], results["1-3"]
    assert unigram["negation"] == unigram["contrast"] == 0.5  # twins: exactly one of each pair right
    assert all(unigram[f"contrast: {name}"] == 0.5 for name in NAMES)
    assert bigram["negation"] >= 0.95  # "not dull" is a feature of its own
    assert bigram["contrast"] < bigram["negation"] - 0.05
    # "B is clever, although A is dull." ends with the conceded adjective: the bigram
    # "dull ." that signals the deciding word in the other templates points the wrong way.
    assert bigram["contrast: decisive, although"] < 0.5
    assert bigram["contrast: but"] >= 0.9
    assert trigram["contrast"] > bigram["contrast"]
    if RESULTS.exists():  # the same splits as the chapter's results file
        recorded = json.loads(RESULTS.read_text())["baselines"]
        assert unigram["negation"] == recorded["bow_unigram"]["by_phenomenon"]["negation"]
        assert bigram["contrast"] == pytest.approx(recorded["bow_bigram"]["by_phenomenon"]["contrast"])


def test_warmup_comparison_changes_only_the_schedule():
    config = replace(CHAPTER_CONFIG, lr=1e-2)
    without, with_warmup = first_steps(0, config, num_steps=5), first_steps(50, config, num_steps=5)
    # Same initial weights and first batch: the loss before the first step is identical.
    assert without["loss"][0] == with_warmup["loss"][0]
    assert without["lr"][0] == pytest.approx(1e-2)
    assert with_warmup["lr"][:2] == pytest.approx([1e-2 / 50, 2e-2 / 50])
    # Adam's first step moves every weight by about the learning rate, whatever the gradient:
    # at 1e-2, without warm-up, that throws the loss far above its starting value.
    assert max(without["loss"]) > 1.5 * max(with_warmup["loss"])
    curves = warmup_comparison(norm_first=True, lr=1e-2, warmup_steps=50, num_steps=2, seeds=(0,))
    assert set(curves) == {0, 50} and len(curves[0][0]) == 2
    assert curves[0][0][0] == curves[50][0][0]


def test_rather_than_twins_defeat_every_count_based_model():
    pytest.importorskip("sklearn")
    twins = make_rather_than(random.Random(3), label=1)
    assert [t.label for t in twins] == [1, 0]
    assert Counter(tokenize(twins[0].text)) == Counter(tokenize(twins[1].text))
    assert "rather than" in twins[0].text
    examples = rather_than_examples(120, seed=0)
    assert len({e.text for e in examples}) == 240
    assert sum(e.label for e in examples) == 120
    train, test = examples[:160], examples[160:]  # pairs stay together (even cut)
    task = make_synthetic_sentiment(400, 0, 0, seed=0)
    texts, labels, _ = columns(task.train + train)
    bow = fit_bow_baseline(texts, labels)
    test_texts, test_labels, groups = columns(test)
    assert accuracy_by_group(bow.predict(test_texts), test_labels, groups) == {"rather": 0.5}


def test_accuracy_on_scores_a_model():
    examples = rather_than_examples(8, seed=1)
    from book_code.data import Vocabulary

    vocab = Vocabulary.build([e.text for e in examples])
    torch.manual_seed(0)
    model = TransformerClassifier(len(vocab), 2, embed_dim=16, num_heads=2, num_layers=1, max_len=32).eval()
    expected = []
    with torch.no_grad():
        for e in examples:
            ids = torch.tensor([vocab.encode(e.text, add_cls=True)])
            expected.append(int(model(ids).argmax()) == e.label)
    assert accuracy_on(model, vocab, examples) == pytest.approx(sum(expected) / len(expected))
