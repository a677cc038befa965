"""Solutions to the coding exercises of Chapter 8 (looking inside).

Each solution is printed, collapsed, under its exercise; ``tests/exercises/test_ch08.py``
checks that it really solves the exercise.
"""

from __future__ import annotations

# --8<-- [start:imports]
import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn

from book_code.experiments.inside import EvalSet
from book_code.interpret import (
    FaithfulnessResult,
    attention_rollout,
    attention_weights,
    delete_tokens,
    evaluating,
    faithfulness,
)

# --8<-- [end:imports]


# --8<-- [start:sufficiency]
def sufficiency(
    model: nn.Module,
    token_ids: torch.Tensor,
    padding_mask: torch.Tensor,
    scores: Mapping[str, torch.Tensor],
    ks: Sequence[int] = (1, 2, 3, 4, 5),
    protected: Sequence[int] = (0,),
) -> dict[str, tuple[float, ...]]:
    """ERASER's *sufficiency* (DeYoung et al., 2020) of each method's top-``k`` tokens.

    Keep only the ``k`` highest-scoring tokens (and the ``protected`` positions, such as
    ``[CLS]``), delete every other real token by masking, and average over the sentences the
    drop ``p(c | x) - p(c | top-k only)`` of the class ``c`` predicted for the full input.
    A small drop means the top tokens suffice on their own; deletion (`faithfulness`) asks
    the complementary question, whether the prediction needs them.

    Returns:
        ``{method: (mean drop for each k)}``.
    """
    candidates = padding_mask.clone()
    candidates[:, list(protected)] = False
    with evaluating(model), torch.no_grad():
        probabilities = model(token_ids, padding_mask).softmax(dim=-1)
        predicted = probabilities.argmax(dim=-1, keepdim=True)
        before = probabilities.gather(1, predicted).squeeze(1)
        result = {}
        for method, score in scores.items():
            order = score.masked_fill(~candidates, -torch.inf).argsort(dim=1, descending=True, stable=True)
            rank = order.argsort(dim=1)  # rank[b, j]: place of token j in sentence b's order
            drops = []
            for k in ks:
                delete = candidates & (rank >= k)  # every candidate outside the top k
                ids, mask = delete_tokens(token_ids, padding_mask, delete)
                after = model(ids, mask).softmax(dim=-1).gather(1, predicted).squeeze(1)
                drops.append((before - after).mean().item())
            result[method] = tuple(drops)
    return result
# --8<-- [end:sufficiency]


# --8<-- [start:ablation]
@contextlib.contextmanager
def ablated_heads(model: nn.Module, heads: Iterable[tuple[int, int]]) -> Iterator[nn.Module]:
    """While the block runs, the given ``(layer, head)`` pairs (0-based) output zeros.

    A forward pre-hook on each layer's output projection zeroes the head's slice of the
    merged heads, so that the head contributes nothing to the layer's output, the ablation
    of Michel et al. (2019). The hooks are removed when the block ends.
    """
    by_layer: dict[int, list[int]] = {}
    for layer, head in heads:
        by_layer.setdefault(layer, []).append(head)
    handles = []
    try:
        for layer, layer_heads in by_layer.items():
            attention = model.encoder.layers[layer].self_attn
            keep = torch.ones(attention.embed_dim)
            for head in layer_heads:
                if not 0 <= head < attention.num_heads:
                    raise ValueError(f"layer {layer} has heads 0 to {attention.num_heads - 1}; got {head}")
                keep[head * attention.head_dim : (head + 1) * attention.head_dim] = 0.0

            def zero_heads(module: nn.Module, args: tuple, keep: torch.Tensor = keep) -> tuple:
                merged, *rest = args  # (batch, n, embed_dim): head h is slice h*d .. (h+1)*d
                return (merged * keep.to(merged), *rest)

            handles.append(attention.out_proj.register_forward_pre_hook(zero_heads))
        yield model
    finally:
        for handle in handles:
            handle.remove()


def accuracy_by_phenomenon(model: nn.Module, eval_set: EvalSet) -> dict[str, float]:
    """Accuracy overall (``"all"``) and on each phenomenon of ``eval_set``."""
    with evaluating(model), torch.no_grad():
        correct = model(eval_set.token_ids, eval_set.padding_mask).argmax(dim=-1) == eval_set.labels
    groups = {"all": [True] * len(eval_set)} | {
        p: [q == p for q in eval_set.phenomena] for p in dict.fromkeys(eval_set.phenomena)
    }
    return {name: correct[torch.tensor(mask)].double().mean().item() for name, mask in groups.items()}


def head_ablation(model: nn.Module, eval_set: EvalSet) -> dict[tuple[int, int] | None, dict[str, float]]:
    """Accuracy by phenomenon with no head ablated (key ``None``) and with each single head
    ablated (key ``(layer, head)``)."""
    results = {None: accuracy_by_phenomenon(model, eval_set)}
    for layer, block in enumerate(model.encoder.layers):
        for head in range(block.self_attn.num_heads):
            with ablated_heads(model, [(layer, head)]):
                results[layer, head] = accuracy_by_phenomenon(model, eval_set)
    return results
# --8<-- [end:ablation]


# --8<-- [start:rollout_sweep]
def rollout_sweep(
    model: nn.Module,
    eval_set: EvalSet,
    residual_weights: Sequence[float] = (0.0, 0.25, 0.5, 0.75),
    ks: Sequence[int] = (1, 2, 3, 4, 5),
    random_draws: int = 10,
) -> FaithfulnessResult:
    """The deletion test of attention rollout's ``[CLS]`` row for several residual weights ``r``.

    The methods of the result are named ``"r=0.25"`` and so on; the model must pool by ``[CLS]``.
    """
    if model.config.pooling != "cls":
        raise ValueError("the [CLS] row explains only a model that pools by [CLS]")
    weights = attention_weights(model, eval_set.token_ids, eval_set.padding_mask)
    scores = {
        f"r={r:g}": attention_rollout(weights, eval_set.padding_mask, residual_weight=r)[:, 0]
        for r in residual_weights
    }
    return faithfulness(model, eval_set.token_ids, eval_set.padding_mask, scores, ks=tuple(ks),
                        random_draws=random_draws)
# --8<-- [end:rollout_sweep]


# --8<-- [start:negation_deletion]
def negation_deletion(
    model: nn.Module, eval_set: EvalSet, words: Sequence[str] = ("not", "n't"), seed: int = 0
) -> dict[str, dict[str, float]]:
    """What does deleting the negation words of a sentence do to ``p(positive)``?

    For every sentence of ``eval_set`` that contains one of ``words``, delete all of them
    (by masking) and measure the change of the positive class's probability; as a control,
    delete the same number of other words, drawn at random (never ``[CLS]``). The results are
    split by the gold label: a model that reads *not* as an operator should move positive
    sentences ("not bad") down and negative ones ("not good") up; a model that reads it as
    one more negative word moves both up.

    Returns:
        ``{"positive": {...}, "negative": {...}}``, each with ``"sentences"``, the mean change
        ``"negators"`` and ``"random"`` of ``p(positive)``, and ``"flipped"``, the fraction of
        predictions that deleting the negation words changes.
    """
    negator = torch.zeros_like(eval_set.padding_mask)
    for row, tokens in enumerate(eval_set.tokens):
        for column, token in enumerate(tokens):
            negator[row, column] = token in words
    negator &= eval_set.padding_mask
    keep = negator.any(dim=1)
    ids, mask, negator = eval_set.token_ids[keep], eval_set.padding_mask[keep], negator[keep]
    others = mask & ~negator
    if eval_set.tokens and eval_set.tokens[0][:1] == ["[CLS]"]:
        others[:, 0] = False  # a model that pools by [CLS] reads that position: never delete it
    # Random other words, as many as each sentence has negation words: the top of a random order.
    noise = torch.rand(others.shape, generator=torch.Generator().manual_seed(seed)).masked_fill(~others, -1.0)
    rank = noise.argsort(dim=1, descending=True).argsort(dim=1)
    control = others & (rank < negator.sum(dim=1, keepdim=True))
    with evaluating(model), torch.no_grad():
        before = model(ids, mask).softmax(dim=-1)[:, 1]
        without = model(*delete_tokens(ids, mask, negator)).softmax(dim=-1)[:, 1]
        random = model(*delete_tokens(ids, mask, control)).softmax(dim=-1)[:, 1]
    labels = eval_set.labels[keep]
    result = {}
    for name, label in (("positive", 1), ("negative", 0)):
        group = labels == label
        result[name] = {
            "sentences": int(group.sum()),
            "negators": (without - before)[group].mean().item(),
            "random": (random - before)[group].mean().item(),
            "flipped": ((without >= 0.5) != (before >= 0.5))[group].double().mean().item(),
        }
    return result
# --8<-- [end:negation_deletion]
