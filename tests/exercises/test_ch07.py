"""The Chapter 7 solutions solve their exercises: the initial masked-token loss follows the
small-scale formula for BERT's initialisation and the maximum of the scores for N(0, 1)
embeddings, every row gets a prediction, the intervals and the McNemar test are right, and
shuffling words changes nothing for an order-blind model but something for an order-aware one."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.data import Vocabulary
from book_code.encoder import TransformerClassifier
from book_code.exercises.ch07 import (
    initial_masked_lm_loss,
    mask_tokens_at_least_one,
    mcnemar_p_value,
    shuffle_words,
    shuffled_accuracy,
    small_scale_prediction,
    wilson_interval,
    without_positions,
)
from book_code.pretraining import IGNORE_INDEX

V, E = 5000, 128


def test_initial_loss_small_embeddings_match_the_formula():
    for std in (0.005, 0.02, 0.05):
        estimate = initial_masked_lm_loss(std, E, V, samples=512)
        assert abs(estimate - small_scale_prediction(std, E, V)) < 0.1, std
    assert abs(initial_masked_lm_loss(0.02, E, V, samples=512) - math.log(V)) < 0.1


def test_initial_loss_unit_embeddings_is_set_by_the_largest_score():
    sigma = 1.0 * math.sqrt(E)
    estimate = initial_masked_lm_loss(1.0, E, V, samples=256)
    # Far below the small-scale formula, close to sigma times the expected maximum of V
    # standard normals, which lies below sqrt(2 ln V).
    assert estimate < 0.7 * small_scale_prediction(1.0, E, V)
    assert 0.75 * sigma * math.sqrt(2 * math.log(V)) < estimate < sigma * math.sqrt(2 * math.log(V))


def short_rows(seed: int, rows: int = 64, seq_len: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, 100, (rows, seq_len), generator=generator)
    ids[:, 0] = 2  # [CLS]
    lengths = torch.randint(1, seq_len + 1, (rows,), generator=generator)
    ids[torch.arange(seq_len) >= lengths[:, None]] = 0
    return ids


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_every_row_with_an_ordinary_token_gets_a_prediction(seed):
    ids = short_rows(seed)
    inputs, targets = mask_tokens_at_least_one(ids, 3, 100, generator=torch.Generator().manual_seed(seed))
    chosen = targets != IGNORE_INDEX
    has_ordinary = (ids >= 4).any(dim=1)
    assert torch.equal(chosen.any(dim=1), has_ordinary)  # rows of [CLS] alone get none
    assert not (chosen & (ids < 4)).any()
    assert torch.equal(targets[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_long_rows_keep_the_fifteen_percent_rate():
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 1000, (200, 100), generator=generator)
    _, targets = mask_tokens_at_least_one(ids, 3, 1000, generator=generator)
    rate = (targets != IGNORE_INDEX).double().mean().item()
    assert abs(rate - 0.15) < 0.01


def test_wilson_interval_known_values():
    # Values from the closed form, computed independently.
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.27754, abs=1e-5)
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.49016, abs=1e-5) and high == pytest.approx(0.94331, abs=1e-5)
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2000), data=st.data())
def test_wilson_interval_contains_the_estimate_and_shrinks(n, data):
    correct = data.draw(st.integers(0, n))
    low, high = wilson_interval(correct, n)
    assert -1e-12 <= low <= correct / n <= high <= 1 + 1e-12
    low4, high4 = wilson_interval(4 * correct, 4 * n)
    assert high4 - low4 < high - low


def test_mcnemar_exact_values():
    assert mcnemar_p_value(0, 0) == 1.0
    assert mcnemar_p_value(7, 7) == 1.0
    assert mcnemar_p_value(0, 5) == pytest.approx(2 / 32)  # 2 * (1/2)^5
    assert mcnemar_p_value(20, 5) == pytest.approx(2 * sum(math.comb(25, i) for i in range(6)) / 2**25)
    assert mcnemar_p_value(3, 11) == mcnemar_p_value(11, 3)


def test_shuffle_words_is_a_permutation():
    import random

    text = "the film is not bad , but it is long ."
    shuffled = shuffle_words(text, random.Random(0))
    assert sorted(shuffled.split()) == sorted(text.split()) and shuffled != text


def order_test_data():
    words = [f"w{i}" for i in range(30)]
    vocab = Vocabulary(words)
    generator = torch.Generator().manual_seed(0)
    texts = [
        " ".join(words[j] for j in torch.randint(0, 30, (8,), generator=generator).tolist())
        for _ in range(60)
    ]
    labels = torch.randint(0, 2, (60,), generator=generator).tolist()
    return vocab, texts, labels


def test_an_order_blind_model_is_unchanged_by_shuffling():
    vocab, texts, labels = order_test_data()
    torch.manual_seed(0)
    model = TransformerClassifier(
        len(vocab), 2, 16, 2, 2, max_len=16, positional="none", pooling="mean", dropout=0.0
    ).double()
    result = shuffled_accuracy(model, vocab, texts, labels)
    assert result["changed"] == 0.0
    assert result["accuracy"] == result["shuffled_accuracy"]


def test_an_order_aware_model_changes_some_predictions():
    vocab, texts, labels = order_test_data()
    torch.manual_seed(0)
    model = TransformerClassifier(
        len(vocab), 2, 16, 2, 2, max_len=16, positional="learned", pooling="mean", dropout=0.0
    )
    with torch.no_grad():
        model.position.embedding.weight.mul_(50)  # make position matter at initialisation
    assert shuffled_accuracy(model, vocab, texts, labels)["changed"] > 0.0


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "rope"])
def test_without_positions_removes_only_the_positions(positional):
    vocab, texts, labels = order_test_data()
    torch.manual_seed(0)
    model = TransformerClassifier(
        len(vocab), 2, 16, 2, 1, max_len=16, positional=positional, pooling="mean", dropout=0.0
    ).double().eval()
    blind = without_positions(model)
    assert blind.config.positional == "none" and model.config.positional == positional  # a copy
    assert next(blind.parameters()).dtype == torch.float64
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith("position.")}
    assert kept.keys() == blind.state_dict().keys()
    assert all(torch.equal(v, blind.state_dict()[k]) for k, v in kept.items())
    # With no positions left, the copy is blind to word order; the original is not.
    assert shuffled_accuracy(blind, vocab, texts, labels)["changed"] == 0.0
    ids = torch.tensor([vocab.encode(texts[0])])
    assert (model(ids) - blind(ids)).abs().max() > 1e-9  # the positions did matter
    with pytest.raises(ValueError, match="position"):
        without_positions(TransformerClassifier(30, 2, 16, 2, 1, max_len=8, positional="none"))


def test_on_the_chapters_checkpoint_removing_positions_costs_more_than_shuffling():
    """Exercise 4's answer for the committed chapter-7 model, on the SST-2 dev set."""
    from book_code.data import load_sst2
    from book_code.training import load_classifier
    from tests.data.conftest import find_data_root

    dev = load_sst2("dev", data_dir=find_data_root())
    checkpoint = Path(__file__).resolve().parents[2] / "docs" / "chapters" / "results" / "sst2_model.pt"
    model, vocab, _ = load_classifier(checkpoint)
    model = model.float().eval()
    shuffled = shuffled_accuracy(model, vocab, dev.texts, dev.labels)
    blind = shuffled_accuracy(without_positions(model), vocab, dev.texts, dev.labels)
    assert 0.0 < shuffled["changed"] < 0.1
    assert blind["changed"] == 0.0 and blind["accuracy"] == blind["shuffled_accuracy"]
    assert shuffled["accuracy"] - blind["accuracy"] > shuffled["accuracy"] - shuffled["shuffled_accuracy"]


def test_exercise_3_answers_on_the_committed_results():
    import json

    results_file = Path(__file__).resolve().parents[2] / "docs" / "chapters" / "results" / "sst2_results.json"
    analysis = json.loads(results_file.read_text())["error_analysis"]
    counts = analysis["agreement_with_bag_of_words"]
    p = mcnemar_p_value(counts["only_transformer_right"], counts["only_bag_of_words_right"])
    assert 0.05 < p < 0.1  # "just above 0.05"
    assert counts["only_transformer_right"] > counts["only_bag_of_words_right"]
    for name in ("bag of words", "transformer (chapter recipe)"):
        group = analysis["by_model"][name]["negation"]
        with_ = wilson_interval(round(group["with"] * group["n_with"]), group["n_with"])
        without = wilson_interval(round(group["without"] * group["n_without"]), group["n_without"])
        assert with_[1] < without[0], f"{name}: the negation intervals overlap"
