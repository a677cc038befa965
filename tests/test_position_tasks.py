"""The length-extrapolation experiment of chapter 4: the task's data, the probe model, and that
training does what the chapter says (learns the task; never touches unseen learned positions)."""

from __future__ import annotations

import math

import pytest
import torch

from book_code.position_tasks import (
    ENCODINGS,
    IGNORE,
    ExtrapolationResult,
    PositionProbe,
    extrapolation_experiment,
    lag_copy_batch,
    position_accuracy,
    train_probe,
)


@pytest.mark.parametrize("lag", [1, 2, 5])
def test_lag_copy_targets_are_the_tokens_lag_positions_back(lag):
    tokens, targets = lag_copy_batch(4, 9, 7, lag, torch.Generator().manual_seed(lag))
    assert tokens.shape == targets.shape == (4, 9)
    assert torch.all(targets[:, :lag] == IGNORE)
    assert torch.equal(targets[:, lag:], tokens[:, :-lag])
    assert tokens.min() >= 0 and tokens.max() < 7


@pytest.mark.parametrize(("args", "message"), [((0, 5, 4, 1), "batch_size"), ((2, 5, 1, 1), "vocab_size"),
                                               ((2, 5, 4, 5), "lag"), ((2, 5, 4, 0), "lag")])
def test_lag_copy_rejects_bad_sizes(args, message):
    with pytest.raises(ValueError, match=message):
        lag_copy_batch(*args)


def test_probe_rejects_unknown_encodings_and_gives_logits():
    with pytest.raises(ValueError, match="encoding must be one of"):
        PositionProbe("alibi", vocab_size=8)
    for encoding in ENCODINGS:
        probe = PositionProbe(encoding, vocab_size=8, embed_dim=16, num_heads=2, max_len=12)
        assert probe(torch.zeros(3, 12, dtype=torch.long)).shape == (3, 12, 8)


def test_without_positions_a_causal_probe_sees_its_prefix_as_a_set():
    # Shuffling tokens 0 .. t-1 leaves output t (t >= 5 here) unchanged: only the causal mask tells
    # positions apart, which is why "none" beats chance near the start of a sequence.
    torch.manual_seed(0)
    probe = PositionProbe("none", vocab_size=10, embed_dim=16).double()
    tokens = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    shuffled = torch.tensor([[5, 4, 1, 3, 1, 9, 2, 6]])  # first five permuted
    torch.testing.assert_close(probe(shuffled)[:, 5:], probe(tokens)[:, 5:], rtol=0, atol=1e-12)
    with_positions = PositionProbe("rotary", vocab_size=10, embed_dim=16).double()
    assert (with_positions(shuffled)[:, 5:] - with_positions(tokens)[:, 5:]).abs().max() > 1e-4


def test_training_learns_the_task_at_the_training_length():
    model, loss = train_probe("rotary", train_len=8, max_len=16, vocab_size=8, steps=120, seed=0)
    assert loss < 0.1
    accuracy = position_accuracy(model, 8, 8, num_sequences=256)
    assert math.isnan(accuracy[0]) and accuracy[1:].min() > 0.95


def test_learned_rows_beyond_the_training_length_never_change():
    torch.manual_seed(0)
    initial = PositionProbe("learned", vocab_size=8, embed_dim=32, max_len=16).position.embedding.weight
    model, _ = train_probe("learned", train_len=6, max_len=16, vocab_size=8, steps=30, seed=0)
    trained = model.position.embedding.weight
    assert torch.equal(trained[6:], initial[6:])  # never seen, never trained: no extrapolation
    assert (trained[:6] - initial[:6]).abs().min() > 0


def test_experiment_returns_one_result_per_encoding_and_seed_deterministically():
    kwargs = {"encodings": ("none", "sinusoidal"), "seeds": (0, 1), "train_len": 6, "eval_len": 10,
              "vocab_size": 5, "steps": 3, "embed_dim": 8}
    results = extrapolation_experiment(**kwargs)
    assert [(r.encoding, r.seed) for r in results] == [("none", 0), ("none", 1), ("sinusoidal", 0),
                                                        ("sinusoidal", 1)]
    assert all(len(r.accuracy) == 10 and math.isnan(r.accuracy[0]) for r in results)
    assert all(0 <= a <= 1 for r in results for a in r.accuracy[1:])
    again = extrapolation_experiment(**kwargs)  # seeded: the same numbers every time
    for first, second in zip(results, again, strict=True):
        assert first.final_loss == second.final_loss
        torch.testing.assert_close(torch.tensor(first.accuracy), torch.tensor(second.accuracy),
                                   rtol=0, atol=0, equal_nan=True)
    with pytest.raises(ValueError, match="eval_len"):
        extrapolation_experiment(train_len=10, eval_len=5)


def test_mean_accuracy_skips_positions_without_a_target():
    result = ExtrapolationResult("none", 0, 4, 0.0, (math.nan, 0.5, 1.0, 0.0))
    assert result.mean_accuracy(0, 3) == 0.75
    assert result.mean_accuracy(2, 4) == 0.5
    with pytest.raises(ValueError, match="no positions"):
        result.mean_accuracy(0, 1)
