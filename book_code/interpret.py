"""What does a classifier look at? Attention rollout, gradient attributions and a test of both (chapter 8).

Three families of explanations of a `book_code.encoder.TransformerClassifier` prediction:

- **attention** itself: the weights of the last layer, or `attention_rollout` (Abnar & Zuidema,
  2020), which follows attention through all layers, counting the residual connections;
- **gradients** with respect to the token embeddings: `gradient_x_input` and
  `integrated_gradients` (Sundararajan et al., 2017), whose attributions add up to the change of
  the class score between a baseline input and the real one (*completeness*);
- a **faithfulness test**, `faithfulness`: delete the tokens that a method ranks highest and
  measure how much the predicted class loses, against deleting random tokens. An explanation
  that deserves the name should beat chance.

Masks follow the book's convention: ``padding_mask`` is ``True`` at real tokens.
"""

from __future__ import annotations

# --8<-- [start:imports]
import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import torch
from matplotlib.figure import Figure
from torch import nn

from book_code._checks import check_tensor, shape_str
from book_code.figures import PALETTE, new_figure
from book_code.visualization import check_attention_weights

# --8<-- [end:imports]

__all__ = [
    "METHODS",
    "Attribution",
    "FaithfulnessResult",
    "attention_rollout",
    "attention_weights",
    "delete_tokens",
    "evaluating",
    "faithfulness",
    "gradient_x_input",
    "integrated_gradients",
    "plot_faithfulness",
    "replaced_output",
    "token_scores",
]


# --8<-- [start:inputs]
@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in evaluation mode (no dropout) for the block, then restore its mode."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def _pad_id(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "pad_id"):
        return config.pad_id
    embedding = getattr(model, "token_embedding", None)
    padding_idx = getattr(embedding, "padding_idx", None)
    return 0 if padding_idx is None else padding_idx


def _pooling(model: nn.Module) -> str:
    """How the model reads one vector from the sequence: ``"cls"`` (position 0) or ``"mean"``."""
    return getattr(getattr(model, "config", None), "pooling", "cls")


def _batched(
    token_ids: torch.Tensor, padding_mask: torch.Tensor | None, pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """``(token_ids, padding_mask, single)`` with a batch dimension; ``single`` if there was none."""
    check_tensor(token_ids, "token_ids")
    if token_ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"token_ids must hold integer token indices (torch.long); got {token_ids.dtype}")
    if token_ids.dim() not in (1, 2):
        raise ValueError(
            f"token_ids must have shape (seq_len,) or (batch, seq_len); got {shape_str(token_ids.shape)}"
        )
    single = token_ids.dim() == 1
    if padding_mask is None:
        padding_mask = token_ids != pad_id
    check_tensor(padding_mask, "padding_mask")
    if padding_mask.dtype != torch.bool or padding_mask.shape != token_ids.shape:
        raise ValueError(
            f"padding_mask must be a bool tensor of the shape of token_ids {shape_str(token_ids.shape)}, "
            f"True at real tokens; got {padding_mask.dtype} {shape_str(padding_mask.shape)}"
        )
    if single:
        return token_ids.unsqueeze(0), padding_mask.unsqueeze(0), True
    return token_ids, padding_mask, False
# --8<-- [end:inputs]


# --8<-- [start:attention_weights]
def attention_weights(
    model: nn.Module, token_ids: torch.Tensor, padding_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Every head's attention weights, from the model's ``forward_with_weights``.

    The model runs in evaluation mode (no dropout on the weights) and without gradients.

    Args:
        model: a model with ``forward_with_weights(token_ids, padding_mask)`` returning
            ``(logits, [per-layer weights (batch, heads, n, n)])``, such as
            `book_code.encoder.TransformerClassifier`.
        token_ids: ``(batch, n)`` or ``(n,)`` token ids.
        padding_mask: same shape, ``True`` at real tokens; default ``token_ids != pad_id``.

    Returns:
        ``(batch, layers, heads, n, n)``, or ``(layers, heads, n, n)`` for a 1-D ``token_ids``.
    """
    if not callable(getattr(model, "forward_with_weights", None)):
        raise TypeError(f"{type(model).__name__} has no forward_with_weights method to return attention")
    token_ids, padding_mask, single = _batched(token_ids, padding_mask, _pad_id(model))
    with evaluating(model), torch.no_grad():
        _, per_layer = model.forward_with_weights(token_ids, padding_mask)
    weights = torch.stack(per_layer, dim=1)
    return weights[0] if single else weights
# --8<-- [end:attention_weights]


# --8<-- [start:rollout]
def attention_rollout(
    weights: torch.Tensor,
    padding_mask: torch.Tensor | None = None,
    residual_weight: float = 0.5,
) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema, 2020): how much each input token flows into each
    token of the last layer, following attention through every layer.

    Per layer, the heads are averaged and the residual connection is added as an identity,
    ``A' = (1 - r) mean_h(A) + r I`` with ``r = residual_weight`` (0.5 in the paper), and the
    rows are renormalised. The rollout is the product ``A'_L ... A'_2 A'_1``: row ``i`` says
    how the output at position ``i`` mixes the input tokens. Padded tokens are masked out:
    each head's weights are restricted to real queries and keys and renormalised (what masking
    the padded keys in the softmax gives), and the rows and columns of padded tokens in the
    result are zero.

    >>> weights = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]])  # 1 layer, 1 head, 2 tokens
    >>> attention_rollout(weights)  # one layer: A' itself; token 2 keeps half of itself
    tensor([[1.0000, 0.0000],
            [0.5000, 0.5000]])

    Args:
        weights: ``(layers, heads, n, n)`` or ``(batch, layers, heads, n, n)``, rows summing to 1.
        padding_mask: ``(n,)`` or ``(batch, n)``, ``True`` at real tokens; default: all real.
        residual_weight: ``r`` above, in ``[0, 1]``; 0 multiplies the raw attention maps.

    Returns:
        ``(n, n)`` or ``(batch, n, n)``; every real row sums to 1. The dtype of ``weights``
        if it is a floating-point tensor, float64 otherwise.
    """
    dtype = weights.dtype if isinstance(weights, torch.Tensor) and weights.is_floating_point() else None
    w = check_attention_weights(
        weights, ranks=(4, 5), layout="(layers, heads, n, n) or (batch, layers, heads, n, n)"
    )
    if not 0.0 <= residual_weight <= 1.0:
        raise ValueError(f"residual_weight must lie in [0, 1]; got {residual_weight}")
    single = w.dim() == 4
    if single:
        w = w.unsqueeze(0)
    batch, layers, _, n, _ = w.shape
    real = torch.ones(batch, n, dtype=torch.bool)
    if padding_mask is not None:
        check_tensor(padding_mask, "padding_mask")
        expected = (n,) if single else (batch, n)
        if padding_mask.dtype != torch.bool or tuple(padding_mask.shape) != expected:
            raise ValueError(
                f"padding_mask must be a bool tensor of shape {shape_str(expected)}, True at real tokens; "
                f"got {padding_mask.dtype} {shape_str(padding_mask.shape)}"
            )
        real = padding_mask.reshape(batch, n).cpu()
    both_real = (real[:, :, None] & real[:, None, :]).to(w.dtype)  # query i and key j are real
    eye = torch.eye(n, dtype=w.dtype)
    tiny = torch.finfo(w.dtype).tiny  # keeps all-zero rows at zero instead of 0/0
    rollout = eye.expand(batch, n, n)  # before the first layer every token is itself
    for layer in range(layers):
        a = w[:, layer] * both_real[:, None]  # forget padded queries and keys in every head
        a = a / a.sum(dim=-1, keepdim=True).clamp_min(tiny)  # as if the keys had been masked
        a = a.mean(dim=1)  # average the heads
        a = (1.0 - residual_weight) * a + residual_weight * eye  # the residual carries x itself
        a = a / a.sum(dim=-1, keepdim=True).clamp_min(tiny)
        rollout = a @ rollout  # this layer mixes what the layers below had mixed
    rollout = rollout * both_real
    rollout = rollout[0] if single else rollout
    if isinstance(weights, torch.Tensor):  # back to the caller's device (and dtype, if floating)
        rollout = rollout.to(device=weights.device, dtype=dtype or rollout.dtype)
    return rollout
# --8<-- [end:rollout]


# --8<-- [start:replaced_output]
@contextlib.contextmanager
def replaced_output(module: nn.Module, value: torch.Tensor) -> Iterator[None]:
    """While the block runs, ``module`` returns ``value`` instead of what it computes.

    A forward hook swaps the output, so the rest of the model runs unchanged on ``value``:
    this is how gradients with respect to the token embeddings are taken without rewriting
    the model's ``forward``.
    """

    def hook(module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        if output.shape != value.shape:
            raise ValueError(
                f"the replacement has shape {shape_str(value.shape)} but {type(module).__name__} "
                f"returns {shape_str(output.shape)}"
            )
        return value

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
# --8<-- [end:replaced_output]


# --8<-- [start:attribution]
@dataclass(frozen=True)
class Attribution:
    """Per-token attributions of one class score.

    Attributes:
        scores: ``(batch, n)`` (or ``(n,)``): each token's share of the score; zero at padding.
            Positive values speak for the target class.
        target: ``(batch,)`` (or a 0-d tensor): the explained class.
        method: ``"grad_x_input"`` or ``"integrated_gradients"``.
        output_at_input: the explained score ``f(x)``, ``(batch,)`` (or 0-d).
        output_at_baseline: ``f(baseline)`` for integrated gradients, else ``None``.
    """

    scores: torch.Tensor
    target: torch.Tensor
    method: str
    output_at_input: torch.Tensor
    output_at_baseline: torch.Tensor | None = None

    def completeness_gap(self) -> torch.Tensor:
        """``sum_i scores_i - (f(x) - f(baseline))``: near zero for integrated gradients."""
        if self.output_at_baseline is None:
            raise ValueError(f"{self.method} has no baseline, so completeness does not apply")
        return self.scores.sum(dim=-1) - (self.output_at_input - self.output_at_baseline)


def _token_embedding(model: nn.Module, embedding: nn.Embedding | None) -> nn.Embedding:
    embedding = getattr(model, "token_embedding", None) if embedding is None else embedding
    if not isinstance(embedding, nn.Embedding):
        raise TypeError(
            "pass embedding=<the model's token nn.Embedding>: the model has no token_embedding attribute"
        )
    return embedding


def _score_and_gradient(
    model: nn.Module,
    embedding: nn.Embedding,
    token_ids: torch.Tensor,
    padding_mask: torch.Tensor,
    embedded: torch.Tensor,
    target: torch.Tensor,
    output: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The target class score ``(batch,)`` when the token embeddings are ``embedded``, and its
    gradient with respect to them ``(batch, n, embed_dim)``."""
    embedded = embedded.detach().requires_grad_(True)
    with replaced_output(embedding, embedded):
        logits = model(token_ids, padding_mask)
    values = logits.softmax(dim=-1) if output == "probability" else logits
    score = values.gather(1, target[:, None]).squeeze(1)
    # Examples do not interact in evaluation mode, so the gradient of the sum is every
    # example's own gradient.
    (gradient,) = torch.autograd.grad(score.sum(), embedded)
    return score.detach(), gradient


def _prepare(model, token_ids, padding_mask, target, output, embedding):
    if output not in ("logit", "probability"):
        raise ValueError(f"output must be 'logit' or 'probability'; got {output!r}")
    embedding = _token_embedding(model, embedding)
    token_ids, padding_mask, single = _batched(token_ids, padding_mask, _pad_id(model))
    if target is None:
        with torch.no_grad():
            target = model(token_ids, padding_mask).argmax(dim=-1)  # explain the prediction
    else:
        target = torch.as_tensor(target, dtype=torch.long, device=token_ids.device)
        target = target.reshape(-1).expand(token_ids.shape[0])
    return embedding, token_ids, padding_mask, single, target
# --8<-- [end:attribution]


# --8<-- [start:gradient_x_input]
def gradient_x_input(
    model: nn.Module,
    token_ids: torch.Tensor,
    padding_mask: torch.Tensor | None = None,
    target: int | torch.Tensor | None = None,
    output: str = "logit",
    embedding: nn.Embedding | None = None,
) -> Attribution:
    """Gradient times input: ``score_i = grad_{e_i} f(x) . e_i`` for each token embedding ``e_i``.

    The first-order Taylor term of ``f`` around the zero embedding. Cheap (one backward pass)
    but local: where ``f`` is saturated, the gradient is small however much a token matters.

    Args:
        model: a classifier ``model(token_ids, padding_mask) -> logits (batch, classes)``.
        token_ids: ``(batch, n)`` or ``(n,)``.
        padding_mask: same shape, ``True`` at real tokens; default ``token_ids != pad_id``.
        target: the class to explain; default: the predicted class of each example.
        output: explain the class ``"logit"`` or its softmax ``"probability"``.
        embedding: the token embedding module; default ``model.token_embedding``.

    Returns:
        An `Attribution`.
    """
    with evaluating(model):
        embedding, token_ids, padding_mask, single, target = _prepare(
            model, token_ids, padding_mask, target, output, embedding
        )
        inputs = embedding(token_ids).detach()
        score, gradient = _score_and_gradient(
            model, embedding, token_ids, padding_mask, inputs, target, output
        )
    scores = (gradient * inputs).sum(dim=-1) * padding_mask
    if single:
        return Attribution(scores[0], target[0], "grad_x_input", score[0])
    return Attribution(scores, target, "grad_x_input", score)
# --8<-- [end:gradient_x_input]


# --8<-- [start:integrated_gradients]
def integrated_gradients(
    model: nn.Module,
    token_ids: torch.Tensor,
    padding_mask: torch.Tensor | None = None,
    target: int | torch.Tensor | None = None,
    baseline: str = "pad",
    steps: int = 32,
    spacing: str = "quadratic",
    output: str = "logit",
    embedding: nn.Embedding | None = None,
) -> Attribution:
    """Integrated gradients (Sundararajan et al., 2017) on the token embeddings.

    Along the straight path from a baseline ``b`` to the input ``x`` (both embeddings),
    ``score_i = (x_i - b_i) . integral_0^1 grad_{x_i} f(b + a (x - b)) da``. The integral is
    taken with the trapezoidal rule on ``steps`` intervals (``steps + 1`` gradients). By the
    fundamental theorem of calculus the scores add up to ``f(x) - f(b)`` (*completeness*) up
    to the quadrature error; `Attribution.completeness_gap` reports it.

    Near a ``[PAD]`` or zero baseline the token embeddings are tiny, and the first layer norm
    scales them up: ``f`` changes fastest for small ``a``. The default ``"quadratic"`` grid
    ``a_k = (k / steps)^2`` puts more of the steps there than the ``"uniform"`` grid ``k / steps``
    and reaches the same completeness gap with far fewer steps.

    Only the token embeddings move along the path: positions and the padding mask stay.

    Args:
        model: a classifier ``model(token_ids, padding_mask) -> logits (batch, classes)``.
        token_ids: ``(batch, n)`` or ``(n,)``.
        padding_mask: same shape, ``True`` at real tokens; default ``token_ids != pad_id``.
        target: the class to explain; default: the predicted class of each example.
        baseline: ``"pad"`` (every token replaced by the ``[PAD]`` embedding, the embedding's
            ``padding_idx``) or ``"zero"`` (the zero vector).
        steps: number of intervals of the trapezoidal rule; the error shrinks like ``1/steps^2``.
        spacing: the grid of ``a``: ``"quadratic"`` or ``"uniform"``.
        output: explain the class ``"logit"`` or its softmax ``"probability"``.
        embedding: the token embedding module; default ``model.token_embedding``.

    Returns:
        An `Attribution` with ``output_at_baseline`` set.
    """
    if baseline not in ("pad", "zero"):
        raise ValueError(f"baseline must be 'pad' or 'zero'; got {baseline!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    if spacing not in ("quadratic", "uniform"):
        raise ValueError(f"spacing must be 'quadratic' or 'uniform'; got {spacing!r}")
    with evaluating(model):
        embedding, token_ids, padding_mask, single, target = _prepare(
            model, token_ids, padding_mask, target, output, embedding
        )
        inputs = embedding(token_ids).detach()
        reference = torch.zeros_like(inputs)
        if baseline == "pad":
            if embedding.padding_idx is None:
                raise ValueError("baseline='pad' needs an embedding with a padding_idx; use baseline='zero'")
            reference = reference + embedding.weight[embedding.padding_idx].detach()
        alphas = torch.linspace(0.0, 1.0, steps + 1, dtype=inputs.dtype, device=inputs.device)
        if spacing == "quadratic":
            alphas = alphas**2  # denser near the baseline, where f is steepest
        # Trapezoidal rule: each interval contributes its width times the mean of its two ends.
        widths = alphas.diff()
        weights = torch.zeros_like(alphas)
        weights[:-1] += widths / 2
        weights[1:] += widths / 2
        total = torch.zeros_like(inputs)
        for alpha, weight in zip(alphas, weights, strict=True):
            point = reference + alpha * (inputs - reference)
            score, gradient = _score_and_gradient(
                model, embedding, token_ids, padding_mask, point, target, output
            )
            total += weight * gradient
            if alpha == 0.0:
                at_baseline = score
        at_input = score
    scores = ((inputs - reference) * total).sum(dim=-1) * padding_mask
    if single:
        return Attribution(scores[0], target[0], "integrated_gradients", at_input[0], at_baseline[0])
    return Attribution(scores, target, "integrated_gradients", at_input, at_baseline)
# --8<-- [end:integrated_gradients]


# --8<-- [start:token_scores]
METHODS = ("attention", "rollout", "grad_x_input", "integrated_gradients")


def _pooled_row(matrix: torch.Tensor, padding_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """The row of a ``(batch, n, n)`` token-to-token matrix that the classifier reads: position
    0 for ``[CLS]`` pooling, the mean of the real rows for mean pooling."""
    if pooling == "cls":
        return matrix[:, 0]
    real = padding_mask.to(matrix.dtype)
    return (matrix * real[:, :, None]).sum(dim=1) / real.sum(dim=1, keepdim=True)


def token_scores(
    model: nn.Module,
    token_ids: torch.Tensor,
    padding_mask: torch.Tensor | None = None,
    methods: Sequence[str] = METHODS,
    steps: int = 32,
    baseline: str = "pad",
) -> dict[str, torch.Tensor]:
    """How important each token is for the predicted class, by each method; higher = more.

    - ``"attention"``: the last layer's weights (averaged over heads) from the pooled
      position to each token;
    - ``"rollout"``: the same row of `attention_rollout`;
    - ``"grad_x_input"`` and ``"integrated_gradients"``: the attribution scores.

    Args:
        model: a `book_code.encoder.TransformerClassifier` (or a model with the same
            ``forward_with_weights``, ``token_embedding`` and ``config.pooling``).
        token_ids: ``(batch, n)``.
        padding_mask: ``(batch, n)``, ``True`` at real tokens; default ``token_ids != pad_id``.
        methods: a subset of `METHODS`.
        steps: integrated-gradients steps.
        baseline: integrated-gradients baseline.

    Returns:
        ``{method: (batch, n) scores}``; padded positions score 0.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose from {list(METHODS)}")
    token_ids, padding_mask, _ = _batched(token_ids, padding_mask, _pad_id(model))
    scores: dict[str, torch.Tensor] = {}
    if "attention" in methods or "rollout" in methods:
        weights = attention_weights(model, token_ids, padding_mask)
        pooling = _pooling(model)
        if "attention" in methods:
            scores["attention"] = _pooled_row(weights[:, -1].mean(dim=1), padding_mask, pooling)
        if "rollout" in methods:
            rollout = attention_rollout(weights, padding_mask)
            scores["rollout"] = _pooled_row(rollout, padding_mask, pooling)
    if "grad_x_input" in methods:
        scores["grad_x_input"] = gradient_x_input(model, token_ids, padding_mask).scores
    if "integrated_gradients" in methods:
        scores["integrated_gradients"] = integrated_gradients(
            model, token_ids, padding_mask, baseline=baseline, steps=steps
        ).scores
    return {m: scores[m].detach() * padding_mask for m in methods}
# --8<-- [end:token_scores]


# --8<-- [start:delete_tokens]
def delete_tokens(
    token_ids: torch.Tensor,
    padding_mask: torch.Tensor,
    delete: torch.Tensor,
    mode: str = "mask",
    pad_id: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Remove the tokens marked in ``delete`` (bool, shape of ``token_ids``).

    ``mode="mask"`` sets their ``padding_mask`` entries to ``False``: no token attends to them
    and mean pooling skips them, as if they had never been there (the positions of the other
    tokens do not change). ``mode="pad"`` replaces them by ``pad_id`` and leaves the mask: the
    model attends to ``[PAD]`` embeddings at real positions, an input it never saw in training.

    Returns:
        The new ``(token_ids, padding_mask)``.
    """
    if mode == "mask":
        return token_ids, padding_mask & ~delete
    if mode == "pad":
        return token_ids.masked_fill(delete, pad_id), padding_mask
    raise ValueError(f"mode must be 'mask' or 'pad'; got {mode!r}")
# --8<-- [end:delete_tokens]


# --8<-- [start:faithfulness_result]
LABELS = {
    "attention": "attention (last layer)",
    "rollout": "attention rollout",
    "grad_x_input": "gradient × input",
    "integrated_gradients": "integrated gradients",
    "random": "random",
}


@dataclass(frozen=True)
class FaithfulnessResult:
    """Mean drop of the predicted class's probability after deleting the top-``k`` tokens.

    Attributes:
        ks: the numbers of deleted tokens.
        drops: ``{method: mean drop for each k}``; ``"random"`` is the mean over draws.
        random_std: the standard deviation of the random drop over the draws, for each k.
        base_probability: the mean probability of the predicted class before any deletion.
        num_examples: number of sequences.
        random_draws: number of random orders averaged.
        mode: how tokens were deleted (see `delete_tokens`).
    """

    ks: tuple[int, ...]
    drops: dict[str, tuple[float, ...]]
    random_std: tuple[float, ...]
    base_probability: float
    num_examples: int
    random_draws: int
    mode: str

    def mean_drop(self, method: str) -> float:
        """The drop of ``method`` averaged over all ``ks``: one number per method."""
        return sum(self.drops[method]) / len(self.ks)

    def rows(self, decimals: int = 3) -> list[list[str]]:
        """The table as strings: a header, then one row per method."""
        header = ["method", *[f"k={k}" for k in self.ks], "mean"]
        body = [
            [LABELS.get(m, m), *[f"{d:.{decimals}f}" for d in drops], f"{self.mean_drop(m):.{decimals}f}"]
            for m, drops in self.drops.items()
        ]
        return [header, *body]

    def to_markdown(self, decimals: int = 3) -> str:
        """A Markdown table: methods down, ``k`` across, entries are mean probability drops."""
        header, *body = self.rows(decimals)
        rule = "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(cells) + " |"

        return "\n".join([line(header), rule, *map(line, body)])

    def __str__(self) -> str:
        table = self.rows()
        widths = [max(len(row[c]) for row in table) for c in range(len(table[0]))]
        lines = [
            "  ".join(
                cell.ljust(width) if c == 0 else cell.rjust(width)  # method names left, numbers right
                for c, (cell, width) in enumerate(zip(row, widths, strict=True))
            )
            for row in table
        ]
        note = (
            f"mean drop in the predicted class's probability (base {self.base_probability:.3f}), "
            f"{self.num_examples} sequences, deletion by {self.mode!r}, "
            f"random: mean of {self.random_draws} draws"
        )
        return "\n".join([note, *lines])
# --8<-- [end:faithfulness_result]


# --8<-- [start:faithfulness]
def faithfulness(
    model: nn.Module,
    token_ids: torch.Tensor,
    padding_mask: torch.Tensor | None,
    scores: Mapping[str, torch.Tensor],
    ks: Sequence[int] = (1, 2, 3, 4, 5),
    random_draws: int = 10,
    seed: int = 0,
    mode: str = "mask",
    protected: Sequence[int] | None = None,
) -> FaithfulnessResult:
    """Delete the ``k`` highest-scoring tokens; how much does the predicted class lose?

    For each method and each ``k``: delete each sequence's top-``k`` tokens (`delete_tokens`
    with ``mode``), and average over the sequences the drop ``p(c | x) - p(c | x without
    them)`` of the class ``c`` predicted for the full input. The same with random orders
    (``random_draws`` of them, from ``seed``) is the chance level a method must beat.

    At least one real token always stays: ``k`` is capped per sequence at the number of
    deletable tokens (minus one if no protected token remains).

    Args:
        model: a classifier ``model(token_ids, padding_mask) -> logits``.
        token_ids: ``(batch, n)``.
        padding_mask: ``(batch, n)``, ``True`` at real tokens, or ``None`` for ``token_ids != pad_id``.
        scores: ``{method: (batch, n)}``, higher = more important (e.g. from `token_scores`).
        ks: how many tokens to delete.
        random_draws: number of random orders.
        seed: seed of the random orders.
        mode: ``"mask"`` or ``"pad"`` (see `delete_tokens`).
        protected: positions never deleted; default ``(0,)`` (the ``[CLS]`` token) for a model
            whose ``config.pooling`` is ``"cls"``, else none.

    Returns:
        A `FaithfulnessResult`.
    """
    token_ids, padding_mask, _ = _batched(token_ids, padding_mask, _pad_id(model))
    batch, n = token_ids.shape
    if "random" in scores:
        raise ValueError("'random' is reserved for the chance baseline; rename that method")
    if not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in ks):
        raise ValueError(f"ks must be positive ints; got {ks!r}")
    if random_draws < 1:
        raise ValueError(f"random_draws must be at least 1; got {random_draws}")
    if protected is None:
        protected = (0,) if _pooling(model) == "cls" and hasattr(model, "config") else ()
    candidates = padding_mask.clone()
    candidates[:, list(protected)] = False
    for method, s in scores.items():
        check_tensor(s, f"scores[{method!r}]")
        if s.shape != (batch, n):
            raise ValueError(
                f"scores[{method!r}] must have shape {shape_str((batch, n))}; got {shape_str(s.shape)}"
            )
        if not torch.isfinite(s[candidates]).all():
            raise ValueError(f"scores[{method!r}] must be finite at real tokens")
    # Delete at most every candidate, and keep one real token if nothing protected remains.
    nothing_left = (padding_mask & ~candidates).sum(dim=1) == 0
    cap = candidates.sum(dim=1) - nothing_left.long()

    with evaluating(model), torch.no_grad():
        probabilities = model(token_ids, padding_mask).softmax(dim=-1)
        predicted = probabilities.argmax(dim=-1, keepdim=True)
        before = probabilities.gather(1, predicted).squeeze(1)

        def drops_for(score: torch.Tensor) -> list[float]:
            order = score.masked_fill(~candidates, -torch.inf).argsort(dim=1, descending=True, stable=True)
            positions = torch.arange(n, device=order.device).expand(batch, n)
            rank = torch.empty_like(order).scatter_(1, order, positions)
            drops = []
            for k in ks:
                delete = rank < cap.clamp(max=k)[:, None]  # each sequence's top-k candidates
                ids, mask = delete_tokens(token_ids, padding_mask, delete, mode, _pad_id(model))
                after = model(ids, mask).softmax(dim=-1).gather(1, predicted).squeeze(1)
                drops.append((before - after).mean().item())
            return drops

        drops = {method: tuple(drops_for(s.to(token_ids.device))) for method, s in scores.items()}
        generator = torch.Generator().manual_seed(seed)
        runs = torch.tensor(
            [drops_for(torch.rand(batch, n, generator=generator).to(token_ids.device))
             for _ in range(random_draws)],
            dtype=torch.float64,
        )
    drops["random"] = tuple(runs.mean(dim=0).tolist())
    return FaithfulnessResult(
        ks=tuple(ks),
        drops=drops,
        random_std=tuple(runs.std(dim=0, correction=0).tolist()),
        base_probability=before.mean().item(),
        num_examples=batch,
        random_draws=random_draws,
        mode=mode,
    )
# --8<-- [end:faithfulness]


# --8<-- [start:plot_faithfulness]
def plot_faithfulness(result: FaithfulnessResult) -> Figure:
    """Probability drop against the number of deleted tokens, one line per method.

    The random baseline is a dashed black line with a band of one standard deviation over the
    random draws; methods differ in marker and line style as well as colour.
    """
    fig, ax = new_figure(width=6.8, height=3.4)
    ks = list(result.ks)
    styles = zip(PALETTE, ("-", "--", "-.", ":") * 3, "osD^v<>p", strict=False)
    for (method, drops), (color, line, marker) in zip(result.drops.items(), styles, strict=False):
        if method == "random":
            continue
        ax.plot(ks, drops, color=color, linestyle=line, marker=marker, label=LABELS.get(method, method))
    mean = torch.tensor(result.drops["random"])
    std = torch.tensor(result.random_std)
    ax.plot(ks, mean.tolist(), color="black", linestyle="--",
            label=f"random (mean ± 1 s.d.,\n{result.random_draws} draws)")
    ax.fill_between(ks, (mean - std).tolist(), (mean + std).tolist(), color="black", alpha=0.12)
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xlabel("tokens deleted, k")
    ax.set_ylabel("drop in probability\nof the predicted class")
    ax.set_xticks(ks)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    return fig
# --8<-- [end:plot_faithfulness]
