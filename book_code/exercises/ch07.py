"""Solutions to the coding exercises of Chapter 7 (SST-2 from scratch).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch07.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
import random
from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F

from book_code.data import TextClassificationDataset, Vocabulary, make_dataloader
from book_code.encoder import TransformerClassifier
from book_code.pretraining import IGNORE_INDEX, mask_tokens
from book_code.training import predict

# --8<-- [end:imports]


# --8<-- [start:initial_loss]
def initial_masked_lm_loss(
    embedding_std: float, embed_dim: int, vocab_size: int, samples: int = 256, seed: int = 0
) -> float:
    """Monte Carlo estimate of the masked-token loss at initialisation with tied weights.

    The hidden vector leaves a layer norm (gain 1, shift 0), so it has length ``sqrt(E)``;
    the token embeddings are ``N(0, std^2)``; the target token is uniform. The score of
    token ``v`` is ``z_v = h . e_v`` and the loss is ``logsumexp(z) - z_target``.
    """
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(vocab_size, embed_dim, generator=generator, dtype=torch.float64) * embedding_std
    hidden = torch.randn(samples, embed_dim, generator=generator, dtype=torch.float64)
    hidden = hidden / hidden.norm(dim=1, keepdim=True) * math.sqrt(embed_dim)  # length sqrt(E)
    targets = torch.randint(vocab_size, (samples,), generator=generator)
    return F.cross_entropy(hidden @ embeddings.T, targets).item()


def small_scale_prediction(embedding_std: float, embed_dim: int, vocab_size: int) -> float:
    """``ln V + sigma^2 / 2`` with ``sigma = std * sqrt(E)``: valid while ``sigma`` is small."""
    sigma = embedding_std * math.sqrt(embed_dim)
    return math.log(vocab_size) + sigma**2 / 2
# --8<-- [end:initial_loss]


# --8<-- [start:at_least_one]
def mask_tokens_at_least_one(
    token_ids: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    mask_prob: float = 0.15,
    num_special: int = 4,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`mask_tokens`, but every sequence with an ordinary token gets at least one prediction.

    A row where the coin flips chose nothing gets one of its ordinary tokens chosen at random
    (then corrupted by the same 80/10/10 rule); the other rows are exactly as `mask_tokens`
    made them. Short SST-2 phrases (a third have at most four tokens) would otherwise often
    teach nothing.
    """
    inputs, targets = mask_tokens(token_ids, mask_id, vocab_size, mask_prob, num_special, generator)
    maskable = token_ids >= num_special
    empty = (targets == IGNORE_INDEX).all(dim=1) & maskable.any(dim=1)
    for row in empty.nonzero().flatten().tolist():
        candidates = maskable[row].nonzero().flatten()
        pick = candidates[torch.randint(len(candidates), (1,), generator=generator)].item()
        fate = torch.rand((), generator=generator).item()
        original = token_ids[row, pick].item()
        if fate < 0.8:
            inputs[row, pick] = mask_id
        elif fate < 0.9:
            inputs[row, pick] = torch.randint(num_special, vocab_size, (1,), generator=generator).item()
        targets[row, pick] = original
    return inputs, targets
# --8<-- [end:at_least_one]


# --8<-- [start:intervals]
def wilson_interval(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval for an accuracy of ``correct / n`` (95% for ``z = 1.96``).

    It solves ``|p_hat - p| <= z sqrt(p (1 - p) / n)`` for ``p``; unlike the plain
    ``p_hat +- z sqrt(p_hat (1 - p_hat) / n)`` it stays inside [0, 1] and is not empty at
    ``p_hat = 0`` or 1.
    """
    if n < 1 or not 0 <= correct <= n:
        raise ValueError(f"need 0 <= correct <= n and n >= 1; got correct={correct}, n={n}")
    p_hat = correct / n
    centre = (p_hat + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p_hat * (1 - p_hat) / n + z**2 / (4 * n**2))
    # At p_hat = 0 (or 1) the lower (upper) end is exactly 0 (1); say so, free of rounding.
    return (0.0 if correct == 0 else centre - half), (1.0 if correct == n else centre + half)


def mcnemar_p_value(only_a_right: int, only_b_right: int) -> float:
    """Exact two-sided McNemar test: are two classifiers equally accurate on the same examples?

    Only the examples where exactly one of them is right carry information; under the null
    hypothesis each of those is equally likely to favour either model, so the count
    ``only_a_right`` is Binomial(``only_a_right + only_b_right``, 1/2).
    """
    n = only_a_right + only_b_right
    if n == 0:
        return 1.0
    k = min(only_a_right, only_b_right)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
# --8<-- [end:intervals]


# --8<-- [start:shuffled]
def shuffle_words(text: str, rng: random.Random) -> str:
    """The words of ``text`` in a random order."""
    words = text.split()
    rng.shuffle(words)
    return " ".join(words)


def shuffled_accuracy(
    model: TransformerClassifier,
    vocab: Vocabulary,
    texts: Sequence[str],
    labels: Sequence[int],
    seed: int = 0,
) -> dict[str, float]:
    """Accuracy on the texts as they are and with their words shuffled, and how often the
    prediction changes. A model that ignores word order changes nothing."""
    rng = random.Random(seed)
    shuffled = [shuffle_words(text, rng) for text in texts]
    add_cls = model.config.pooling == "cls"
    predictions = []
    for version in (texts, shuffled):
        dataset = TextClassificationDataset(
            version, labels, vocab, add_cls=add_cls, max_len=model.config.max_len
        )
        logits, _, _ = predict(model, make_dataloader(dataset, 256, shuffle=False), torch.device("cpu"))
        predictions.append(logits.argmax(dim=-1))
    gold = torch.as_tensor(list(labels))
    return {
        "accuracy": (predictions[0] == gold).double().mean().item(),
        "shuffled_accuracy": (predictions[1] == gold).double().mean().item(),
        "changed": (predictions[0] != predictions[1]).double().mean().item(),
    }


def without_positions(model: TransformerClassifier) -> TransformerClassifier:
    """A copy of ``model`` with its position information removed and every other weight kept.

    Learned or sinusoidal positions: the table added to the embeddings is dropped. Rotary
    positions (no weights of their own): the rotations of the queries and keys are turned off.
    """
    if model.config.positional == "none":
        raise ValueError("the model has no position information to remove (positional='none')")
    blind = TransformerClassifier.from_config(replace(model.config, positional="none"))
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("position.")}
    blind.load_state_dict(weights)
    return blind.to(next(model.parameters()).dtype).eval()
# --8<-- [end:shuffled]
