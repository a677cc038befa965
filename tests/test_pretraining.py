"""Tests of masked-token self-pretraining (book_code.pretraining, chapter 7)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.data import TextClassificationDataset, Vocabulary, make_dataloader
from book_code.encoder import TransformerClassifier
from book_code.pretraining import (
    IGNORE_INDEX,
    MaskedLanguageModel,
    PretrainConfig,
    init_embeddings_,
    mask_tokens,
    masked_lm_loss,
    pretrain,
)

PAD, UNK, CLS, MASK = 0, 1, 2, 3
VOCAB_SIZE = 1000


def padded_batch(batch: int = 400, seq_len: int = 60, seed: int = 0) -> torch.Tensor:
    """[CLS], ordinary tokens (some [UNK]), then [PAD] to a random length per row."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(4, VOCAB_SIZE, (batch, seq_len), generator=generator)
    ids[torch.rand(ids.shape, generator=generator) < 0.05] = UNK
    ids[:, 0] = CLS
    lengths = torch.randint(2, seq_len + 1, (batch,), generator=generator)
    ids[torch.arange(seq_len) >= lengths[:, None]] = PAD
    return ids


def test_masks_fifteen_percent_of_ordinary_tokens():
    ids = padded_batch()
    ordinary = ids >= 4
    _, targets = mask_tokens(ids, MASK, VOCAB_SIZE, generator=torch.Generator().manual_seed(1))
    chosen = targets != IGNORE_INDEX
    n = int(ordinary.sum())
    rate = chosen.sum().item() / n
    # Binomial(n, 0.15): four standard deviations.
    assert abs(rate - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n), rate
    assert not (chosen & ~ordinary).any()


def test_eighty_ten_ten_rule():
    ids = padded_batch(batch=800)
    inputs, targets = mask_tokens(ids, MASK, VOCAB_SIZE, generator=torch.Generator().manual_seed(2))
    chosen = targets != IGNORE_INDEX
    n = int(chosen.sum())
    masked = (inputs[chosen] == MASK).sum().item() / n
    kept = (inputs[chosen] == ids[chosen]).sum().item() / n
    replaced = ((inputs[chosen] != MASK) & (inputs[chosen] != ids[chosen])).sum().item() / n
    tolerance = 4 * math.sqrt(0.8 * 0.2 / n)
    assert abs(masked - 0.8) < tolerance, masked
    # A random replacement draws the original token again with probability 1 / 996.
    assert abs(kept - (0.1 + 0.1 / 996)) < tolerance, kept
    assert abs(replaced - 0.1 * (1 - 1 / 996)) < tolerance, replaced


def test_replacements_are_ordinary_tokens_and_targets_are_the_originals():
    ids = padded_batch()
    inputs, targets = mask_tokens(ids, MASK, VOCAB_SIZE, generator=torch.Generator().manual_seed(3))
    chosen = targets != IGNORE_INDEX
    assert torch.equal(targets[chosen], ids[chosen])
    assert torch.equal(inputs[~chosen], ids[~chosen])  # unchosen positions are untouched
    replaced = chosen & (inputs != MASK) & (inputs != ids)
    assert replaced.any()
    assert (inputs[replaced] >= 4).all() and (inputs[replaced] < VOCAB_SIZE).all()


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), mask_prob=st.floats(0.01, 0.99))
def test_never_masks_reserved_tokens(seed, mask_prob):
    ids = padded_batch(batch=16, seq_len=12, seed=seed)
    ids[:, -1] = MASK  # a literal [MASK] in the input is reserved too
    generator = torch.Generator().manual_seed(seed)
    inputs, targets = mask_tokens(ids, MASK, VOCAB_SIZE, mask_prob, generator=generator)
    reserved = ids < 4
    assert torch.equal(inputs[reserved], ids[reserved])  # [PAD], [UNK], [CLS], [MASK] unchanged
    assert (targets[reserved] == IGNORE_INDEX).all()
    assert (inputs[:, 0] == CLS).all()
    assert (inputs[ids == PAD] == PAD).all()


def test_masking_is_reproducible_with_a_generator():
    ids = padded_batch(batch=8)
    first = mask_tokens(ids, MASK, VOCAB_SIZE, generator=torch.Generator().manual_seed(5))
    second = mask_tokens(ids, MASK, VOCAB_SIZE, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("mask_prob", [0.0, 1.0, -0.1])
def test_rejects_bad_mask_probability(mask_prob):
    with pytest.raises(ValueError, match="mask_prob"):
        mask_tokens(padded_batch(batch=2), MASK, VOCAB_SIZE, mask_prob)


def test_rejects_float_ids_and_tiny_vocabularies():
    with pytest.raises(ValueError, match="integer"):
        mask_tokens(torch.zeros(2, 3), MASK, VOCAB_SIZE)
    with pytest.raises(ValueError, match="vocab_size"):
        mask_tokens(padded_batch(batch=2), MASK, 4)


def small_classifier(vocab_size: int = 50, **kwargs) -> TransformerClassifier:
    torch.manual_seed(0)
    options = dict(embed_dim=16, num_heads=2, num_layers=1, max_len=16, pooling="mean", dropout=0.0)
    options.update(kwargs)
    return TransformerClassifier(vocab_size, 2, **options)


def test_output_weights_are_the_token_embeddings():
    # float64, so that rounding in the matrix product cannot pass for a change
    mlm = MaskedLanguageModel(small_classifier()).double()
    ids = torch.tensor([[5, 6, 3, 7]])
    before = mlm(ids)
    with torch.no_grad():
        # A random direction: adding a constant to every coordinate would change nothing, since
        # the head's layer norm leaves vectors whose coordinates sum to zero.
        mlm.classifier.token_embedding.weight[9] += torch.randn(16, dtype=torch.float64)
    change = (mlm(ids) - before).abs().amax(dim=(0, 1))
    assert change[9] > 1e-3
    assert torch.cat([change[:9], change[10:]]).max() < 1e-12
    names = [name for name, _ in mlm.named_parameters()]
    assert not any("decoder" in name for name in names)  # no separate output matrix
    assert (
        sum(p.numel() for p in mlm.parameters())
        == sum(p.numel() for p in mlm.classifier.parameters()) + 16 * 16 + 16 + 2 * 16 + 50
    )


def test_scores_at_positions_equal_the_full_scores():
    mlm = MaskedLanguageModel(small_classifier()).double().eval()
    ids = torch.tensor([[5, 6, 3, 7, 0], [8, 3, 9, 0, 0]])
    padding = ids != 0
    positions = ids == MASK
    full = mlm(ids, padding)
    assert full.shape == (2, 5, 50)
    torch.testing.assert_close(mlm(ids, padding, positions=positions), full[positions])


def test_init_embeddings_scale_and_padding_row():
    model = init_embeddings_(small_classifier(vocab_size=2000, embed_dim=64), std=0.02)
    weight = model.token_embedding.weight
    assert torch.all(weight[0] == 0)
    assert abs(weight[1:].std().item() - 0.02) < 0.001


def test_small_initial_embeddings_start_the_loss_near_log_v():
    """With std 0.02 the scores start near 0 and the loss near ln V (chapter 7, exercise 1)."""
    ids = padded_batch(batch=64, seq_len=12)
    for std, low, high in ((0.02, math.log(VOCAB_SIZE) - 0.2, math.log(VOCAB_SIZE) + 0.2), (1.0, 15.0, 80.0)):
        classifier = init_embeddings_(small_classifier(VOCAB_SIZE, embed_dim=64, max_len=12), std)
        loss, _, count = masked_lm_loss(
            MaskedLanguageModel(classifier), ids, ids != PAD, MASK, generator=torch.Generator().manual_seed(0)
        )
        assert count > 0 and low < loss.item() < high, (std, loss.item())


def tiny_corpus() -> list[str]:
    """Sentences whose words are predictable from their neighbours."""
    subjects = ["the film", "this movie", "the plot", "the cast", "the ending", "the script"]
    verbs = ["is", "seems", "was"]
    adjectives = ["good", "bad", "dull", "clever", "long", "funny"]
    return [f"{s} {v} very {a} ." for s in subjects for v in verbs for a in adjectives]


def test_mlm_loss_decreases_on_a_tiny_corpus():
    texts = tiny_corpus()
    vocab = Vocabulary.build(texts)
    dataset = TextClassificationDataset(texts, [0] * len(texts), vocab, add_cls=False)
    loader = make_dataloader(dataset, 16, seed=0)
    torch.manual_seed(0)
    classifier = init_embeddings_(
        TransformerClassifier(len(vocab), 2, 32, 2, 2, max_len=8, pooling="mean", dropout=0.0)
    )
    head_before = classifier.head.weight.clone()
    embedding_before = classifier.token_embedding.weight.clone()
    history = pretrain(
        MaskedLanguageModel(classifier),
        loader,
        PretrainConfig(epochs=30, lr=3e-3, mask_prob=0.3, seed=0),
        vocab.mask_id,
    )
    assert len(history) == 30
    assert {"epoch", "mlm_loss", "mlm_accuracy", "predictions", "steps", "time_s"} <= set(history[0])
    first, last = history[0]["mlm_loss"], history[-1]["mlm_loss"]
    assert first > math.log(len(vocab)) - 0.5  # starts near chance
    assert last < 0.5 * first, (first, last)
    assert history[-1]["mlm_accuracy"] > 0.5  # "very" and "." alone are a third of the tokens
    # The encoder and embeddings were trained; the classification head was not used.
    assert not torch.equal(classifier.token_embedding.weight, embedding_before)
    assert torch.equal(classifier.head.weight, head_before)


def test_pretrain_skips_batches_without_masks():
    vocab = Vocabulary.build(["a b"])
    dataset = TextClassificationDataset(["a"], [0], vocab, add_cls=True)
    loader = make_dataloader(dataset, 1, seed=0)
    classifier = small_classifier(vocab_size=len(vocab))
    history = pretrain(
        MaskedLanguageModel(classifier),
        loader,
        PretrainConfig(epochs=2, mask_prob=0.01, seed=1),
        vocab.mask_id,
    )
    # One token, masked with probability 0.01: almost surely no prediction, and no crash.
    assert all(record["steps"] <= 1 for record in history)
    assert all(math.isfinite(record["mlm_loss"]) for record in history)
