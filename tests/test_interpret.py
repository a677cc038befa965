"""Tests of book_code.interpret: rollout against a hand computation, completeness of integrated
gradients, and a faithfulness test that finds the token a hand-built model depends on."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from book_code.encoder import TransformerClassifier
from book_code.interpret import (
    METHODS,
    FaithfulnessResult,
    attention_rollout,
    attention_weights,
    delete_tokens,
    evaluating,
    faithfulness,
    gradient_x_input,
    integrated_gradients,
    plot_faithfulness,
    replaced_output,
    token_scores,
)


@pytest.fixture(autouse=True)
def _no_figures():
    yield
    plt.close("all")


def tiny_classifier(seed: int = 0, pooling: str = "cls", positional: str = "learned"):
    torch.manual_seed(seed)
    model = TransformerClassifier(
        12, 3, embed_dim=8, num_heads=2, num_layers=2, max_len=8, dropout=0.1, pooling=pooling,
        positional=positional,
    ).double()
    with torch.no_grad():
        model.head.weight.mul_(5.0)  # sizeable score differences, so completeness is a real test
    return model


def batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    token_ids = torch.randint(2, 12, (3, 7), generator=torch.Generator().manual_seed(seed))
    token_ids[:, 0] = 1  # [CLS]
    token_ids[2, 5:] = 0  # padding
    return token_ids, token_ids != 0


class BagOfWords(nn.Module):
    """A hand-built scorer: each token has a fixed score, the first embedding coordinate;
    class 1's logit is ``g(sum of the scores of the real tokens)``, class 0's is its negative.
    With ``g`` the identity the model is linear in the embeddings."""

    def __init__(self, token_scores: torch.Tensor, nonlinear: bool = False):
        super().__init__()
        self.token_embedding = nn.Embedding(len(token_scores), 2, padding_idx=0, dtype=torch.float64)
        with torch.no_grad():
            self.token_embedding.weight[:, 0] = token_scores
            self.token_embedding.weight[:, 1] = 0.5  # a coordinate the output ignores
            self.token_embedding.weight[0] = 0.0
        self.nonlinear = nonlinear

    def forward(self, token_ids: torch.Tensor, padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        if padding_mask is None:
            padding_mask = token_ids != 0
        embedded = self.token_embedding(token_ids) * padding_mask[..., None]
        total = embedded[..., 0].sum(dim=1)
        if self.nonlinear:
            total = 2.0 * torch.tanh(total / 2.0) + 0.1 * total**2
        return torch.stack([-total, total], dim=1)


IMPORTANT = 7  # the token id that decides the toy model's prediction


def toy_data(size: int = 40, length: int = 8, seed: int = 0) -> tuple[BagOfWords, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    scores = (torch.rand(10, generator=generator, dtype=torch.float64) - 0.5) * 0.4  # in [-0.2, 0.2]
    scores[IMPORTANT] = 3.0
    token_ids = torch.randint(1, 10, (size, length), generator=generator)
    token_ids[token_ids == IMPORTANT] = 1
    where = torch.randint(0, length, (size,), generator=generator)
    token_ids[torch.arange(size), where] = IMPORTANT  # exactly one important token per sequence
    return BagOfWords(scores), token_ids


# Attention rollout.

def test_rollout_matches_a_hand_computed_example():
    # Layer 1, two heads that are permutations; their mean sends half to each other token:
    #   mean = [[0, .5, .5], [.5, 0, .5], [.5, .5, 0]]
    #   A'1 = .5 mean + .5 I = [[.5, .25, .25], [.25, .5, .25], [.25, .25, .5]]
    # Layer 2, both heads attend to token 0:
    #   A'2 = .5 [[1, 0, 0]] * 3 + .5 I = [[1, 0, 0], [.5, .5, 0], [.5, 0, .5]]
    # Rollout A'2 A'1, row by row:
    #   row 0 = A'1[0]                 = [1/2, 1/4, 1/4]
    #   row 1 = .5 A'1[0] + .5 A'1[1]  = [3/8, 3/8, 1/4]
    #   row 2 = .5 A'1[0] + .5 A'1[2]  = [3/8, 1/4, 3/8]
    shift = torch.tensor([[0.0, 1, 0], [0, 0, 1], [1, 0, 0]])
    to_first = torch.tensor([[1.0, 0, 0], [1, 0, 0], [1, 0, 0]])
    weights = torch.stack([torch.stack([shift, shift.T]), torch.stack([to_first, to_first])])
    expected = torch.tensor([[1 / 2, 1 / 4, 1 / 4], [3 / 8, 3 / 8, 1 / 4], [3 / 8, 1 / 4, 3 / 8]])
    torch.testing.assert_close(attention_rollout(weights), expected)


def test_rollout_masks_padding_by_hand():
    # Token 2 is padding. Layer 1 (one head): the real block [[0, .5], [.5, 0]] renormalises to
    # [[0, 1], [1, 0]], so A'1 = [[.5, .5], [.5, .5]]. Layer 2: A'2 = [[1, 0], [.5, .5]].
    # A'2 A'1 = [[.5, .5], [.5, .5]]; padded rows and columns are zero.
    layer1 = torch.tensor([[0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    layer2 = torch.tensor([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    weights = torch.stack([layer1, layer2]).unsqueeze(1)  # (layers=2, heads=1, 3, 3)
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(attention_rollout(weights, torch.tensor([True, True, False])), expected)


@settings(max_examples=25, deadline=None)
@given(
    layers=st.integers(1, 3), heads=st.integers(1, 3), real=st.integers(1, 5), pad=st.integers(0, 3),
    residual=st.floats(0.0, 1.0), seed=st.integers(0, 2**16),
)
def test_rollout_of_padded_input_is_rollout_of_the_real_tokens(layers, heads, real, pad, residual, seed):
    n = real + pad
    generator = torch.Generator().manual_seed(seed)
    weights = torch.softmax(torch.randn(layers, heads, n, n, generator=generator, dtype=torch.float64), -1)
    mask = torch.arange(n) < real
    rollout = attention_rollout(weights, mask, residual_weight=residual)
    truncated = weights[..., :real, :real]
    expected = attention_rollout(truncated / truncated.sum(-1, keepdim=True), residual_weight=residual)
    torch.testing.assert_close(rollout[:real, :real], expected)
    assert (rollout[real:] == 0).all() and (rollout[:, real:] == 0).all()
    torch.testing.assert_close(rollout[:real].sum(-1), torch.ones(real, dtype=torch.float64))


def test_rollout_of_a_batch_is_the_rollout_of_each_sequence():
    weights = torch.softmax(torch.randn(4, 2, 3, 5, 5, dtype=torch.float64), -1)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2, [True] * 4 + [False], [True] + [False] * 4])
    together = attention_rollout(weights, mask)
    for b in range(4):
        torch.testing.assert_close(together[b], attention_rollout(weights[b], mask[b]))


def test_rollout_extremes_and_dtype():
    weights = torch.softmax(torch.randn(3, 2, 4, 4), -1)
    assert attention_rollout(weights).dtype == torch.float32
    torch.testing.assert_close(attention_rollout(weights, residual_weight=1.0), torch.eye(4))
    one_layer = weights[:1].double()
    torch.testing.assert_close(attention_rollout(one_layer, residual_weight=0.0), one_layer[0].mean(0))


@pytest.mark.parametrize(
    ("weights", "kwargs", "message"),
    [
        (torch.ones(2, 3, 3) / 3, {}, "4 or 5 dimensions"),
        (torch.ones(1, 1, 3, 2) / 2, {}, "square"),
        (torch.ones(1, 1, 3, 3) / 2, {}, "sum to 1"),
        (torch.tensor([[[[1.5, -0.5], [0.5, 0.5]]]]), {}, "non-negative"),
        (torch.ones(1, 1, 3, 3) / 3, {"padding_mask": torch.ones(4, dtype=torch.bool)}, r"\(3,\)"),
        (torch.ones(1, 1, 3, 3) / 3, {"padding_mask": torch.ones(3)}, "bool"),
        (torch.ones(1, 1, 3, 3) / 3, {"residual_weight": 1.5}, "residual_weight"),
    ],
    ids=["rank", "square", "rows", "negative", "mask-shape", "mask-dtype", "residual"],
)
def test_rollout_refuses_bad_inputs(weights, kwargs, message):
    with pytest.raises(ValueError, match=message):
        attention_rollout(weights, **kwargs)


# Attention weights from the model.

def test_attention_weights_have_every_layer_and_head_and_keep_the_mode():
    model = tiny_classifier()
    token_ids, mask = batch()
    model.train()
    weights = attention_weights(model, token_ids, mask)
    assert model.training  # restored after the evaluation-mode pass
    assert weights.shape == (3, 2, 2, 7, 7)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, 2, 7, dtype=torch.float64))
    assert (weights[2, ..., 5:] == 0).all()  # nobody attends to padding
    assert torch.equal(attention_weights(model, token_ids, mask), weights)  # no dropout
    torch.testing.assert_close(attention_weights(model, token_ids[0]), weights[0])
    with pytest.raises(TypeError, match="forward_with_weights"):
        attention_weights(nn.Linear(2, 2), token_ids)


def test_replaced_output_swaps_a_module_output_and_checks_its_shape():
    layer = nn.Linear(2, 2)
    with replaced_output(layer, torch.zeros(1, 2)):
        assert torch.equal(layer(torch.ones(1, 2)), torch.zeros(1, 2))
        with pytest.raises(ValueError, match="replacement has shape"):
            layer(torch.ones(3, 2))
    assert not torch.equal(layer(torch.ones(1, 2)), torch.zeros(1, 2))  # hook removed


# Gradient attributions.

def test_gradient_x_input_of_a_linear_model_is_each_tokens_score():
    model, token_ids = toy_data(size=5)
    result = gradient_x_input(model, token_ids)
    assert (result.target == 1).all()  # the important token makes class 1 win
    expected = model.token_embedding.weight[token_ids, 0].detach()
    torch.testing.assert_close(result.scores, expected)
    explained_class_0 = gradient_x_input(model, token_ids, target=0)
    torch.testing.assert_close(explained_class_0.scores, -expected)
    with pytest.raises(ValueError, match="no baseline"):
        result.completeness_gap()


def test_integrated_gradients_equals_gradient_x_input_on_a_linear_model():
    model, token_ids = toy_data(size=5)
    ig = integrated_gradients(model, token_ids, steps=4)
    torch.testing.assert_close(ig.scores, gradient_x_input(model, token_ids).scores)
    torch.testing.assert_close(ig.completeness_gap(), torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize("spacing", ["quadratic", "uniform"])
def test_integrated_gradients_is_complete_on_a_nonlinear_scorer(spacing):
    model, token_ids = toy_data(size=6)
    model.nonlinear = True
    ig = integrated_gradients(model, token_ids, steps=64, spacing=spacing)
    difference = ig.output_at_input - ig.output_at_baseline
    assert difference.abs().min() > 1.0
    assert ig.completeness_gap().abs().max() < 1e-3
    assert not torch.allclose(ig.scores, gradient_x_input(model, token_ids).scores, atol=1e-2)


def test_integrated_gradients_is_complete_on_a_transformer():
    model = tiny_classifier()
    token_ids, mask = batch()
    model.train()  # attributions must switch dropout off by themselves
    gaps = {}
    for steps in (32, 256):
        ig = integrated_gradients(model, token_ids, mask, steps=steps)
        gaps[steps] = ig.completeness_gap().abs().max().item()
    difference = (ig.output_at_input - ig.output_at_baseline).abs()
    assert model.training
    assert difference.min() > 0.5
    assert gaps[256] < 0.01 * difference.max() and gaps[256] < gaps[32]
    assert (ig.scores[2, 5:] == 0).all()  # padding gets nothing
    with torch.no_grad():
        model.eval()
        logits = model(token_ids, mask)
    torch.testing.assert_close(ig.output_at_input, logits.gather(1, ig.target[:, None]).squeeze(1))


def test_integrated_gradients_of_probabilities_and_single_sequences():
    model = tiny_classifier(1, positional="sinusoidal")
    token_ids, _ = batch(1)
    ig = integrated_gradients(model, token_ids[0], output="probability", steps=64, baseline="zero")
    assert ig.scores.shape == (7,) and ig.target.dim() == 0
    assert 0.0 < ig.output_at_input < 1.0
    assert abs(ig.completeness_gap()) < 1e-3


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"baseline": "mean"}, ValueError, "baseline"),
        ({"steps": 0}, ValueError, "steps"),
        ({"spacing": "log"}, ValueError, "spacing"),
        ({"output": "loss"}, ValueError, "output"),
        ({"embedding": nn.Linear(2, 2)}, TypeError, "embedding"),
    ],
)
def test_integrated_gradients_refuses_bad_arguments(kwargs, error, message):
    model = tiny_classifier()
    with pytest.raises(error, match=message):
        integrated_gradients(model, batch()[0], **kwargs)


def test_attributions_refuse_bad_token_ids():
    model = tiny_classifier()
    with pytest.raises(TypeError, match="integer"):
        gradient_x_input(model, torch.zeros(2, 3))
    with pytest.raises(ValueError, match="seq_len"):
        gradient_x_input(model, torch.ones(1, 2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="padding_mask"):
        gradient_x_input(model, torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3))


# Token scores of the classifier.

@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_token_scores_read_the_pooled_position(pooling):
    model = tiny_classifier(pooling=pooling)
    token_ids, mask = batch()
    scores = token_scores(model, token_ids, mask, steps=8)
    assert list(scores) == list(METHODS)
    for value in scores.values():
        assert value.shape == (3, 7) and (value[2, 5:] == 0).all()
    weights = attention_weights(model, token_ids, mask)
    last = weights[:, -1].mean(1)
    if pooling == "cls":
        torch.testing.assert_close(scores["attention"], last[:, 0])
        torch.testing.assert_close(scores["rollout"], attention_rollout(weights, mask)[:, 0])
    else:
        torch.testing.assert_close(scores["attention"][0], last[0].mean(0))
        torch.testing.assert_close(scores["attention"][2, :5], last[2, :5].mean(0)[:5])
    with pytest.raises(ValueError, match="unknown methods"):
        token_scores(model, token_ids, mask, methods=["saliency"])


# Faithfulness.

def test_delete_tokens_masks_or_pads():
    token_ids = torch.tensor([[1, 5, 6, 0]])
    mask = token_ids != 0
    delete = torch.tensor([[False, True, False, False]])
    ids, new_mask = delete_tokens(token_ids, mask, delete, mode="mask")
    assert torch.equal(ids, token_ids) and new_mask.tolist() == [[True, False, True, False]]
    ids, new_mask = delete_tokens(token_ids, mask, delete, mode="pad", pad_id=0)
    assert ids.tolist() == [[1, 0, 6, 0]] and torch.equal(new_mask, mask)
    with pytest.raises(ValueError, match="mode"):
        delete_tokens(token_ids, mask, delete, mode="drop")


def test_faithfulness_finds_the_token_a_hand_built_model_depends_on():
    model, token_ids = toy_data()
    position = (token_ids == IMPORTANT).long().argmax(dim=1)
    scores = {
        "grad_x_input": gradient_x_input(model, token_ids).scores,
        "integrated_gradients": integrated_gradients(model, token_ids, steps=8).scores,
    }
    for value in scores.values():  # both rank the important token first
        assert torch.equal(value.argmax(dim=1), position)
    scores["backwards"] = -scores["grad_x_input"]  # a deliberately wrong explanation
    result = faithfulness(model, token_ids, None, scores, ks=(1, 2, 3), random_draws=8, seed=0)
    assert isinstance(result, FaithfulnessResult)
    assert result.ks == (1, 2, 3) and result.num_examples == 40 and result.mode == "mask"
    assert list(result.drops) == ["grad_x_input", "integrated_gradients", "backwards", "random"]
    random_drop = result.drops["random"][0]
    for method in ("grad_x_input", "integrated_gradients"):
        assert result.drops[method][0] > 0.3 > random_drop + 0.2
    assert result.drops["backwards"][0] < random_drop  # deleting what speaks against it helps
    assert all(s > 0 for s in result.random_std)
    # Deleting by [PAD] is the same here: the [PAD] embedding is zero and the model sums.
    padded = faithfulness(model, token_ids, None, scores, ks=(1, 2, 3), random_draws=8, mode="pad")
    for method, drops in result.drops.items():
        assert padded.drops[method] == pytest.approx(drops)


def test_faithfulness_random_baseline_is_seeded():
    model, token_ids = toy_data(size=10)
    scores = {"grad_x_input": gradient_x_input(model, token_ids).scores}
    first = faithfulness(model, token_ids, None, scores, ks=(1, 2), random_draws=3, seed=1)
    again = faithfulness(model, token_ids, None, scores, ks=(1, 2), random_draws=3, seed=1)
    other = faithfulness(model, token_ids, None, scores, ks=(1, 2), random_draws=3, seed=2)
    assert first.drops["random"] == again.drops["random"] != other.drops["random"]


def test_faithfulness_keeps_cls_and_one_token():
    model = tiny_classifier()
    token_ids, mask = batch()
    scores = {"cls_first": torch.arange(7, 0, -1).double().expand(3, 7).clone()}  # ranks [CLS] first
    # If [CLS] were deleted the cls-pooling model would raise; k=10 exceeds every length.
    result = faithfulness(model, token_ids, mask, scores, ks=(1, 10), random_draws=2)
    assert len(result.drops["cls_first"]) == 2
    toy, ids = toy_data(size=4, length=3)
    result = faithfulness(toy, ids, None, {"any": torch.rand(4, 3, dtype=torch.float64)}, ks=(2, 5))
    assert result.drops["any"][0] == result.drops["any"][1]  # k=5 deletes 2 of 3, like k=2
    assert result.drops["random"][0] == result.drops["random"][1]


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        ({"random": torch.zeros(40, 8)}, {}, "reserved"),
        ({"m": torch.zeros(40, 7)}, {}, r"\(40, 8\)"),
        ({"m": torch.full((40, 8), float("nan"))}, {}, "finite"),
        ({"m": torch.zeros(40, 8)}, {"ks": (0,)}, "ks"),
        ({"m": torch.zeros(40, 8)}, {"random_draws": 0}, "random_draws"),
        ({"m": torch.zeros(40, 8)}, {"mode": "drop"}, "mode"),
    ],
)
def test_faithfulness_refuses_bad_arguments(scores, kwargs, message):
    model, token_ids = toy_data()
    with pytest.raises(ValueError, match=message):
        faithfulness(model, token_ids, None, scores, **kwargs)


def test_faithfulness_table_and_plot():
    result = FaithfulnessResult(
        ks=(1, 2), drops={"integrated_gradients": (0.5, 0.625), "random": (0.125, 0.25)},
        random_std=(0.0625, 0.125), base_probability=0.9, num_examples=4, random_draws=3, mode="mask",
    )
    assert result.mean_drop("integrated_gradients") == pytest.approx(0.5625)
    markdown = result.to_markdown().splitlines()
    assert markdown[0] == "| method | k=1 | k=2 | mean |"
    assert markdown[1] == "|---|---:|---:|---:|"
    assert markdown[2] == "| integrated gradients | 0.500 | 0.625 | 0.562 |"
    assert markdown[3] == "| random | 0.125 | 0.250 | 0.188 |"
    text = str(result)
    assert "integrated gradients" in text and "3 draws" in text and "'mask'" in text
    fig = plot_faithfulness(result)
    (ax,) = fig.axes
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels[0] == "integrated gradients" and labels[1].startswith("random")
    assert list(ax.get_lines()[0].get_xdata()) == [1, 2]
    assert list(ax.get_lines()[0].get_ydata()) == [0.5, 0.625]
    assert ax.get_xlabel() == "tokens deleted, k" and "probability" in ax.get_ylabel()
    assert len(ax.collections) == 1  # the band of the random baseline


def test_evaluating_restores_the_mode_after_an_error():
    model = nn.Dropout(0.5).train()
    with pytest.raises(RuntimeError), evaluating(model):
        assert not model.training
        raise RuntimeError
    assert model.training
