"""The encoder equals PyTorch's, its counts are exact, padding never leaks, and bad input
fails with a clear error."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from book_code.encoder import (
    ClassifierConfig,
    Encoder,
    EncoderLayer,
    FeedForward,
    TransformerClassifier,
    bert_parameters,
    count_parameters,
    encoder_parameters,
    flops_per_forward,
    init_gradient_norms,
    inverted_dropout,
    layer_flops,
    layer_norm,
    layer_parameters,
    majority_task,
    train_majority,
    warmup_experiment,
    warmup_then_decay,
)
from book_code.positional import RotaryEmbedding

TOL = 1e-10
POSITIONAL = ("learned", "sinusoidal", "rope", "none")


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def perturb_(module: nn.Module, seed: int) -> nn.Module:
    """Move every parameter off its initial value (LayerNorm gains 1, shifts 0, zero biases)
    so that a copying mistake cannot hide behind a default value."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    return module


def padding(lengths: list[int], seq_len: int) -> torch.Tensor:
    """Book convention: True at the first ``length`` (real) positions of each row."""
    return torch.arange(seq_len)[None, :] < torch.tensor(lengths)[:, None]


def max_diff(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(a, b, strict=True))


def outputs_and_grads(module, x, call):
    """Output of ``call(module, x)`` and the gradients of a fixed random loss with respect to
    the input and every parameter (in registration order)."""
    x = x.detach().clone().requires_grad_(True)
    out = call(module, x)
    weight = torch.linspace(-1.0, 1.0, out.numel(), dtype=out.dtype).reshape(out.shape)
    grads = torch.autograd.grad((out * weight).sum() + (out**2).sum(), [x, *module.parameters()])
    return out, grads


# --- Building blocks -------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 5), st.integers(2, 12), st.booleans(), st.integers(0, 10**6))
def test_layer_norm_equals_torch(batch, seq_len, dim, affine, seed):
    g = torch.Generator().manual_seed(seed)
    x = 3.0 * torch.randn(batch, seq_len, dim, generator=g, dtype=torch.float64) + 1.0
    weight = torch.randn(dim, generator=g, dtype=torch.float64) if affine else None
    bias = torch.randn(dim, generator=g, dtype=torch.float64) if affine else None
    expected = F.layer_norm(x, (dim,), weight, bias, eps=1e-5)
    assert (layer_norm(x, weight, bias, eps=1e-5) - expected).abs().max() < 1e-12


def test_layer_norm_normalises_each_token():
    x = torch.randn(4, 6, 32, dtype=torch.float64) * 5 + 3
    y = layer_norm(x, eps=0.0)
    assert torch.allclose(y.mean(-1), torch.zeros(4, 6, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(y.var(-1, correction=0), torch.ones(4, 6, dtype=torch.float64), atol=1e-12)


def test_inverted_dropout_keeps_the_expectation():
    x = torch.full((200_000,), 3.0, dtype=torch.float64)
    p = 0.3
    y = inverted_dropout(x, p, generator=torch.Generator().manual_seed(0))
    assert set(y.unique().tolist()) == {0.0, 3.0 / (1 - p)}  # dropped, or scaled by 1/(1-p)
    assert abs((y == 0).double().mean().item() - p) < 0.01  # drops a fraction p
    assert abs(y.mean().item() - 3.0) < 0.03  # E[y] = x, not x (1 - p) or x / p
    assert torch.equal(inverted_dropout(x, p, training=False), x)
    assert torch.equal(inverted_dropout(x, 0.0), x)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        inverted_dropout(x, 1.0)


def test_feed_forward_structure_and_errors():
    ff = FeedForward(8, 20, dropout=0.0, activation="gelu")
    x = torch.randn(2, 3, 8)
    expected = ff.linear2(F.gelu(ff.linear1(x)))
    assert torch.allclose(ff(x), expected)
    with pytest.raises(ValueError, match="activation"):
        FeedForward(8, 20, activation="tanh")
    with pytest.raises(ValueError, match="ff_dim"):
        FeedForward(8, 0)


# --- Equivalence with torch.nn.TransformerEncoderLayer ---------------------------------

@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "padding-mask"])
def test_layer_equals_torch_forward_and_gradients(norm_first, activation, masked):
    torch.manual_seed(0)
    reference = nn.TransformerEncoderLayer(
        16, 4, 40, dropout=0.1, activation=activation, norm_first=norm_first,
        batch_first=True, dtype=torch.float64,
    )
    perturb_(reference, seed=1).eval()
    mine = EncoderLayer.from_torch(reference).eval()
    assert mine.norm_first == norm_first and mine.self_attn.dropout == reference.self_attn.dropout
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    mask = padding([7, 4, 2], 7) if masked else None
    # The input requires grad, which also turns off PyTorch's inference fast path
    # (torch._transformer_encoder_layer_fwd): both sides run the plain computation.
    theirs = outputs_and_grads(
        reference, x, lambda m, x: m(x, src_key_padding_mask=None if mask is None else ~mask)
    )
    ours = outputs_and_grads(mine, x, lambda m, x: m(x, key_padding_mask=mask))
    assert (theirs[0] - ours[0]).abs().max() < TOL
    assert len(theirs[1]) == len(ours[1]) == 1 + 12  # the input and 12 parameter tensors
    assert max_diff(theirs[1], ours[1]) < TOL


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_layer_equals_torch_with_causal_mask_and_no_bias(norm_first):
    torch.manual_seed(0)
    reference = nn.TransformerEncoderLayer(
        12, 2, 24, norm_first=norm_first, bias=False, batch_first=True, dtype=torch.float64
    )
    perturb_(reference, seed=2).eval()
    mine = EncoderLayer.from_torch(reference).eval()
    assert mine.norm1.bias is None and mine.feed_forward.linear1.bias is None
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    ignore = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)  # PyTorch: True = ignore
    theirs = outputs_and_grads(reference, x, lambda m, x: m(x, src_mask=ignore))
    ours = outputs_and_grads(mine, x, lambda m, x: m(x, is_causal=True))
    assert (theirs[0] - ours[0]).abs().max() < TOL
    assert max_diff(theirs[1], ours[1]) < TOL
    ours_mask = mine(x, attn_mask=~ignore)  # an explicit mask in the book's convention
    assert (theirs[0] - ours_mask).abs().max() < TOL


class FixedMaskDropout(nn.Module):
    """A dropout whose mask is fixed by a name and the input shape, so that two layers that
    apply dropout at the same places in the same way give identical outputs."""

    def __init__(self, name: str, p: float = 0.5):
        super().__init__()
        self.name, self.p = name, p

    def forward(self, x):
        seed = sum(map(ord, self.name)) * 1000 + x.numel()
        keep = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) >= self.p
        return x * keep.to(x.dtype) / (1 - self.p)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_dropout_sits_where_pytorch_puts_it(norm_first):
    # A fixed mask per place replaces the random ones (PyTorch's batch_first attention
    # output has another memory layout, so even one seed draws different masks for it).
    # gelu, not relu: relu(m x) = m relu(x) for a mask m >= 0, which would hide a dropout
    # placed before the activation instead of after it.
    reference = nn.TransformerEncoderLayer(
        16, 4, 32, dropout=0.0, activation="gelu", norm_first=norm_first, batch_first=True,
        dtype=torch.float64,
    )
    mine = EncoderLayer.from_torch(reference)
    for place in ("dropout1", "dropout", "dropout2"):
        setattr(reference, place, FixedMaskDropout(place))
    mine.dropout1 = FixedMaskDropout("dropout1")
    mine.feed_forward.dropout = FixedMaskDropout("dropout")  # after the activation
    mine.dropout2 = FixedMaskDropout("dropout2")
    reference.train(), mine.train()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    assert (reference(x) - mine(x)).abs().max() < TOL
    # ... and the masks matter: without them the outputs differ.
    mine.dropout2 = nn.Identity()
    assert (reference(x) - mine(x)).abs().max() > 1e-3


def test_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    layer = EncoderLayer(16, 4, 32, dropout=0.5)
    x = torch.randn(2, 6, 16)
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer(x), layer(x))


def test_layer_from_torch_rejects_what_it_cannot_copy():
    with pytest.raises(ValueError, match="batch_first=True"):
        EncoderLayer.from_torch(nn.TransformerEncoderLayer(8, 2, 16))
    with pytest.raises(ValueError, match="relu and exact gelu"):
        EncoderLayer.from_torch(nn.TransformerEncoderLayer(8, 2, 16, activation=torch.tanh, batch_first=True))
    with pytest.raises(ValueError, match="relu and exact gelu"):
        EncoderLayer.from_torch(
            nn.TransformerEncoderLayer(8, 2, 16, activation=nn.GELU("tanh"), batch_first=True)
        )
    with pytest.raises(TypeError, match="TransformerEncoderLayer"):
        EncoderLayer.from_torch(nn.Linear(8, 8))


def test_forward_with_weights_matches_forward():
    torch.manual_seed(0)
    layer = EncoderLayer(16, 4, 32, norm_first=True).double().eval()
    x = torch.randn(3, 6, 16, dtype=torch.float64)
    mask = padding([6, 3, 1], 6)
    out, weights = layer.forward_with_weights(x, key_padding_mask=mask)
    assert (out - layer(x, key_padding_mask=mask)).abs().max() < 1e-12
    assert weights.shape == (3, 4, 6, 6)
    assert torch.allclose(weights.sum(-1), torch.ones(3, 4, 6, dtype=torch.float64))
    assert torch.all(weights.masked_select(~mask[:, None, None, :].expand_as(weights)) == 0)


def test_layer_passes_rotary_to_attention():
    torch.manual_seed(0)
    rotary = RotaryEmbedding(4, max_len=16)
    with_rope = EncoderLayer(16, 4, 32, dropout=0.0, rotary=rotary).eval()
    without = EncoderLayer(16, 4, 32, dropout=0.0).eval()
    without.load_state_dict(with_rope.state_dict())
    assert with_rope.self_attn.rotary is rotary
    x = torch.randn(1, 5, 16)
    assert (with_rope(x) - without(x)).abs().max() > 1e-4  # positions change the result
    # Without positions attention is permutation equivariant; with RoPE it is not.
    perm = torch.tensor([4, 2, 0, 1, 3])
    assert torch.allclose(without(x[:, perm]), without(x)[:, perm], atol=1e-5)
    assert not torch.allclose(with_rope(x[:, perm]), with_rope(x)[:, perm], atol=1e-3)


def test_layer_rejects_bad_input():
    layer = EncoderLayer(16, 4, 32)
    with pytest.raises(ValueError, match="embed_dim=16"):
        layer(torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match=r"\(batch, seq_len, embed_dim\)"):
        layer(torch.randn(5, 16))
    with pytest.raises(TypeError, match="floating-point"):
        layer(torch.ones(2, 5, 16, dtype=torch.long))
    with pytest.raises(ValueError, match="key_padding_mask"):
        layer(torch.randn(2, 5, 16), key_padding_mask=torch.ones(2, 4, dtype=torch.bool))


# --- Equivalence with torch.nn.TransformerEncoder --------------------------------------

@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masked", [False, True], ids=["no-mask", "padding-mask"])
def test_encoder_equals_torch_forward_and_gradients(norm_first, activation, masked):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(
        16, 4, 40, activation=activation, norm_first=norm_first, batch_first=True, dtype=torch.float64
    )
    final = nn.LayerNorm(16, dtype=torch.float64) if norm_first else None
    # enable_nested_tensor=False: PyTorch's "sparsity fast path" would otherwise pack the
    # padded batch into a nested tensor in eval mode and return zeros at padded positions.
    reference = nn.TransformerEncoder(layer, 3, norm=final, enable_nested_tensor=False)
    perturb_(reference, seed=3).eval()  # also makes the three deep-copied layers differ
    mine = Encoder.from_torch(reference).eval()
    assert len(mine.layers) == 3 and (mine.norm is None) == (final is None)
    x = torch.randn(3, 7, 16, dtype=torch.float64)
    mask = padding([7, 5, 1], 7) if masked else None
    theirs = outputs_and_grads(
        reference, x, lambda m, x: m(x, src_key_padding_mask=None if mask is None else ~mask)
    )
    ours = outputs_and_grads(mine, x, lambda m, x: m(x, key_padding_mask=mask))
    assert (theirs[0] - ours[0]).abs().max() < TOL
    assert max_diff(theirs[1], ours[1]) < TOL


@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors:UserWarning")
def test_encoder_matches_torch_fast_path_at_real_tokens():
    # In eval mode without gradients PyTorch's post-LN encoder takes its fused "sparsity fast
    # path": it drops padded positions (nested tensors) and returns zeros there. Only the
    # real tokens are comparable, and they agree.
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True, dtype=torch.float64)
    reference = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True)
    perturb_(reference, seed=4).eval()
    mine = Encoder.from_torch(reference).eval()
    x = torch.randn(2, 6, 16, dtype=torch.float64)
    mask = padding([6, 3], 6)
    with torch.no_grad():
        theirs, ours = reference(x, src_key_padding_mask=~mask), mine(x, key_padding_mask=mask)
    assert torch.all(theirs[~mask] == 0)  # the fast path ran
    assert (theirs[mask] - ours[mask]).abs().max() < TOL


def test_encoder_construction_errors():
    layer = EncoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match="new layer"):
        Encoder(lambda: layer, 2)
    with pytest.raises(ValueError, match="num_layers"):
        Encoder(lambda: EncoderLayer(8, 2, 16), 0)
    with pytest.raises(TypeError, match="EncoderLayer"):
        Encoder(lambda: nn.Linear(8, 8), 2)
    with pytest.raises(TypeError, match="TransformerEncoder"):
        Encoder.from_torch(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True))


def test_encoder_layers_are_initialised_independently():
    torch.manual_seed(0)
    encoder = Encoder(lambda: EncoderLayer(8, 2, 16), 2, final_norm=True)
    first, second = (layer.self_attn.in_proj.weight for layer in encoder.layers)
    assert not torch.equal(first, second)
    x = torch.randn(2, 4, 8)
    out, weights = encoder.eval().forward_with_weights(x)
    assert torch.allclose(out, encoder(x), atol=1e-6) and len(weights) == 2


# --- The classifier -------------------------------------------------------------------

def small_model(**overrides) -> TransformerClassifier:
    settings_ = dict(vocab_size=30, num_classes=3, embed_dim=16, num_heads=2, num_layers=2, max_len=20)
    torch.manual_seed(0)
    return TransformerClassifier(**{**settings_, **overrides})


def test_config_round_trip_and_defaults():
    config = ClassifierConfig(vocab_size=100, num_classes=2, embed_dim=32)
    assert config.ff_dim == 128  # 4 * embed_dim, stored resolved
    data = json.loads(json.dumps(config.to_dict()))
    assert ClassifierConfig.from_dict(data) == config
    model = TransformerClassifier.from_config(config)
    assert model.config == config
    assert model.encoder.norm is not None  # pre-LN by default, so a final norm
    with pytest.raises(ValueError, match="unknown ClassifierConfig fields"):
        ClassifierConfig.from_dict({**data, "hidden": 3})


def test_state_dict_reloads_into_a_model_built_from_the_config():
    model = small_model(positional="rope", pooling="mean")
    clone = TransformerClassifier.from_config(ClassifierConfig.from_dict(model.config.to_dict()))
    clone.load_state_dict(model.state_dict())
    ids = torch.randint(1, 30, (2, 7))
    model.eval(), clone.eval()
    assert torch.equal(model(ids), clone(ids))


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("positional", "alibi", "positional"),
        ("pooling", "max", "pooling"),
        ("activation", "tanh", "activation"),
        ("num_heads", 3, "multiple of num_heads"),
        ("pad_id", 30, "pad_id"),
        ("dropout", 1.0, "dropout"),
        ("max_len", 0, "max_len"),
        ("embed_dim", 12.0, "embed_dim"),
    ],
)
def test_config_rejects_bad_values(name, value, match):
    with pytest.raises(ValueError, match=match):
        small_model(**{name: value})


def test_rope_needs_an_even_head_dim():
    with pytest.raises(ValueError, match="even"):
        small_model(embed_dim=18, num_heads=2, positional="rope")


@pytest.mark.parametrize("positional", POSITIONAL)
@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_padding_does_not_leak(positional, pooling):
    model = small_model(positional=positional, pooling=pooling, dropout=0.3).double().eval()
    ids = torch.tensor([[1, 5, 9, 12, 7], [1, 8, 3, 0, 0]])
    mask = ids != 0
    longer = F.pad(ids, (0, 4), value=0)  # four more padding positions
    longer_mask = longer != 0
    with torch.no_grad():
        logits, longer_logits = model(ids, mask), model(longer, longer_mask)
        hidden = model.encoder(model.embed(ids), key_padding_mask=mask)
        longer_hidden = model.encoder(model.embed(longer), key_padding_mask=longer_mask)
        # Garbage in the padding slots changes nothing either.
        noisy = longer.masked_fill(~longer_mask, 17)
        noisy_logits = model(noisy, longer_mask)
    assert (logits - longer_logits).abs().max() < 1e-12
    assert (logits - noisy_logits).abs().max() < 1e-12
    assert (hidden[mask] - longer_hidden[:, :5][mask]).abs().max() < 1e-12
    assert (model.pool(hidden, mask) - model.pool(longer_hidden, longer_mask)).abs().max() < 1e-12


def test_mean_pooling_averages_real_tokens_and_cls_takes_position_zero():
    hidden = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    mean_model, cls_model = small_model(pooling="mean"), small_model(pooling="cls")
    assert torch.equal(mean_model.pool(hidden, mask)[0], hidden[0, :2].mean(0))
    assert torch.equal(mean_model.pool(hidden, mask)[1], hidden[1].mean(0))
    assert torch.equal(cls_model.pool(hidden, mask), hidden[:, 0])


def test_default_padding_mask_comes_from_pad_id():
    model = small_model(pad_id=2).eval()
    ids = torch.tensor([[1, 5, 9, 2, 2]])
    assert torch.equal(model(ids), model(ids, ids != 2))


def test_forward_with_weights_returns_each_layer():
    model = small_model().eval()
    ids = torch.tensor([[1, 5, 9, 0], [1, 4, 0, 0]])
    logits, weights = model.forward_with_weights(ids)
    assert torch.allclose(logits, model(ids), atol=1e-6)
    assert len(weights) == 2 and weights[0].shape == (2, 2, 4, 4)
    assert torch.all(weights[1][1, :, :, 2:] == 0)  # no weight on padding keys


@pytest.mark.parametrize(
    ("ids", "mask", "error", "match"),
    [
        (torch.ones(2, 4), None, TypeError, "integer token indices"),
        (torch.tensor([[1, 2, 30]]), None, ValueError, r"\[0, vocab_size=30\)"),
        (torch.tensor([[1, -1, 3]]), None, ValueError, "vocab_size"),
        (torch.ones(1, 21, dtype=torch.long), None, ValueError, "max_len=20"),
        (torch.tensor([1, 2, 3]), None, ValueError, r"\(batch, seq_len\)"),
        (torch.tensor([[1, 2, 3]]), torch.ones(1, 4, dtype=torch.bool), ValueError, "shape of token_ids"),
        (torch.tensor([[1, 2, 3]]), torch.ones(1, 3), ValueError, "bool"),
        (torch.tensor([[1, 2, 3]]), torch.zeros(1, 3, dtype=torch.bool), ValueError, "at least one real"),
        (torch.tensor([[0, 2, 3]]), None, ValueError, r"position 0.*real token \(\[CLS\]\)"),
        ([[1, 2, 3]], None, TypeError, "torch.Tensor"),
    ],
)
def test_classifier_rejects_bad_input(ids, mask, error, match):
    with pytest.raises(error, match=match):
        small_model()(ids, mask)


# --- Parameter counts -----------------------------------------------------------------

@settings(max_examples=20, deadline=None)
@given(st.sampled_from([(8, 1), (8, 2), (12, 3), (16, 4), (24, 6)]), st.integers(1, 40), st.booleans())
def test_layer_parameters_match_the_layer(size, ff_dim, bias):
    embed_dim, num_heads = size
    counts = layer_parameters(embed_dim, ff_dim, bias)
    layer = EncoderLayer(embed_dim, num_heads, ff_dim, bias=bias)
    assert counts["total"] == n_params(layer)
    assert counts["attention"] == n_params(layer.self_attn)
    assert counts["feed_forward"] == n_params(layer.feed_forward)
    reference = nn.TransformerEncoderLayer(embed_dim, num_heads, ff_dim, bias=bias, batch_first=True)
    assert counts["total"] == n_params(reference)


@pytest.mark.parametrize("final_norm", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_encoder_parameters_match_the_encoder(final_norm, bias):
    encoder = Encoder(lambda: EncoderLayer(12, 3, 20, bias=bias), 3, final_norm=final_norm)
    assert encoder_parameters(12, 20, 3, final_norm, bias) == n_params(encoder)


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"positional": "sinusoidal", "norm_first": False},
        {"positional": "rope", "num_layers": 3, "ff_dim": 24},
        {"positional": "none", "pooling": "mean", "num_classes": 7, "embed_dim": 32, "num_heads": 8},
        {"positional": "learned", "max_len": 64, "vocab_size": 101},
    ],
)
def test_count_parameters_matches_the_classifier(overrides):
    model = small_model(**overrides)
    counts = count_parameters(model.config)
    assert counts["total"] == n_params(model)
    assert counts["token_embedding"] == model.token_embedding.weight.numel()
    assert counts["encoder"] == n_params(model.encoder)
    assert counts["head"] == n_params(model.head)


def test_bert_parameters_match_the_architecture_and_the_paper():
    # The same parts as BERT, assembled from PyTorch modules, at a small size.
    V, P, T, E, L, Fd = 50, 16, 2, 24, 2, 40
    layer = nn.TransformerEncoderLayer(E, 4, Fd, activation="gelu", batch_first=True)
    parts = nn.ModuleList([
        nn.Embedding(V, E), nn.Embedding(P, E), nn.Embedding(T, E), nn.LayerNorm(E),  # embeddings
        nn.TransformerEncoder(layer, L, enable_nested_tensor=False),  # post-LN, no final norm
        nn.Linear(E, E),  # pooler
    ])
    assert bert_parameters(V, P, T, E, L, Fd)["total"] == n_params(parts)
    # BERT-base: Devlin et al. (2019) report 110M, two significant figures of this count.
    base = bert_parameters()
    assert base["total"] == 109_482_240 and round(base["total"], -7) == 110_000_000


# --- FLOP counts ----------------------------------------------------------------------

def counted_flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


@pytest.mark.parametrize(("batch", "seq_len", "embed_dim", "num_heads", "ff_dim"),
                         [(1, 1, 8, 2, 16), (2, 7, 16, 4, 40), (3, 12, 24, 3, 96)])
def test_layer_flops_match_the_flop_counter(batch, seq_len, embed_dim, num_heads, ff_dim):
    layer = EncoderLayer(embed_dim, num_heads, ff_dim, dropout=0.0).eval()
    x = torch.randn(batch, seq_len, embed_dim)
    counts = layer_flops(embed_dim, ff_dim, seq_len, batch)
    # The explicit path computes Q K^T and the weighted sum as matmuls: all counted.
    assert counted_flops(lambda: layer.forward_with_weights(x)) == counts["total"]
    # The fused path calls F.scaled_dot_product_attention; on the CPU its kernel
    # (_scaled_dot_product_flash_attention_for_cpu) has no entry in the flop counter's
    # registry, so the two n^2 terms go uncounted there. (CUDA kernels are counted.)
    core = counts["scores"] + counts["weighted_values"]
    assert counted_flops(lambda: layer(x)) == counts["total"] - core


@pytest.mark.parametrize(("batch", "seq_len"), [(1, 3), (4, 9), (2, 20)])
@pytest.mark.parametrize("positional", ["learned", "rope"])
def test_classifier_flops_match_the_flop_counter(batch, seq_len, positional):
    model = small_model(positional=positional, pooling="mean", num_classes=5).eval()
    ids = torch.randint(1, 30, (batch, seq_len))
    counts = flops_per_forward(model.config, batch, seq_len)
    assert counted_flops(lambda: model.forward_with_weights(ids)) == counts["total"]
    assert counted_flops(lambda: model(ids)) == counts["total"] - counts["attention_core"]


def test_flops_grow_as_the_derivation_says():
    one = layer_flops(64, 256, seq_len=10)
    assert layer_flops(64, 256, seq_len=10, batch=3)["total"] == 3 * one["total"]
    double = layer_flops(64, 256, seq_len=20)
    assert double["scores"] == 4 * one["scores"]  # quadratic in n
    assert double["projections"] == 2 * one["projections"]  # linear in n


# --- Chapter 5 experiments ------------------------------------------------------------

def test_warmup_then_decay():
    assert [warmup_then_decay(t, 4, 8) for t in range(8)] == [0.25, 0.5, 0.75, 1.0, 1.0, 0.75, 0.5, 0.25]
    assert warmup_then_decay(0, 0, 10) == 1.0
    with pytest.raises(ValueError, match="warmup_steps"):
        warmup_then_decay(0, 10, 10)


def test_majority_task_labels():
    ids, labels = majority_task(200, seq_len=9, generator=torch.Generator().manual_seed(0))
    assert ids.shape == (200, 9) and torch.all(ids[:, 0] == 1) and torch.all(ids[:, 1:] >= 2)
    expected = [int((row == 2).sum() > (row == 3).sum()) for row in ids]
    assert labels.tolist() == expected and 0 < labels.sum() < 200


def test_init_gradient_norms_are_deterministic_and_positive():
    kwargs = dict(num_layers=3, embed_dim=16, seq_len=6, batch=4, seeds=(0, 1))
    post = init_gradient_norms(False, **kwargs)
    assert len(post) == 3 and all(v > 0 for v in post)
    assert post == init_gradient_norms(False, **kwargs)
    assert post != init_gradient_norms(True, **kwargs)
    assert init_gradient_norms(False, "xavier", **kwargs) != post
    with pytest.raises(ValueError, match="init"):
        init_gradient_norms(False, "he", **kwargs)


def test_train_majority_learns_and_is_reproducible():
    def run(steps):
        return train_majority(True, 5, learning_rate=3e-3, steps=steps, num_layers=2, embed_dim=16)

    losses = run(40)
    assert len(losses) == 40
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    assert run(6) == run(6)


def test_warmup_experiment_covers_every_setting():
    runs = warmup_experiment(steps=2, warmup_steps=1, seeds=(0,))
    assert {(r.norm_first, r.warmup_steps) for r in runs} == {(False, 0), (False, 1), (True, 0), (True, 1)}
    assert all(len(r.losses) == 2 for r in runs)
