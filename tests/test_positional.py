"""Position encodings: the formulas, the relative-offset properties that chapter 4 proves,
the two RoPE pairings, permutation (non-)equivariance of attention, and the input checks."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.attention import MultiHeadAttention
from book_code.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    apply_rotary,
    apply_rotary_half,
    frequencies,
    rotate_half_permutation,
    sinusoidal_encoding,
    sinusoidal_shift_matrix,
)
from tests.attention.helpers import assert_close64, max_abs_diff, randn

F64 = torch.float64
EVEN_DIMS = st.sampled_from([2, 4, 6, 8, 16, 32, 64])
BASES = st.sampled_from([10000.0, 100.0, 500000.0])


# --- the sinusoidal table --------------------------------------------------------------------


def test_sinusoidal_table_matches_the_formula_entry_by_entry():
    num_positions, d, base = 13, 10, 10000.0
    pe = sinusoidal_encoding(num_positions, d, base, dtype=F64)
    assert pe.shape == (num_positions, d) and pe.dtype == F64
    for p in range(num_positions):
        for i in range(d // 2):
            angle = p / base ** (2 * i / d)
            assert pe[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-14)
            assert pe[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-14)


def test_sinusoidal_table_defaults_to_the_default_dtype_and_allows_zero_positions():
    assert sinusoidal_encoding(4, 6).dtype == torch.get_default_dtype()
    assert sinusoidal_encoding(0, 6).shape == (0, 6)


def test_frequencies_run_from_one_to_almost_one_over_base():
    theta = frequencies(8, 10000.0)
    assert theta.dtype == F64
    assert_close64(theta, torch.tensor([1.0, 10.0**-1, 10.0**-2, 10.0**-3], dtype=F64), tol=1e-15)


def shift_matrix_by_hand(k: int, d: int, base: float) -> torch.Tensor:
    """M_k built block by block from the angle-addition formulas, independently of the module:
    sin(a + b) = sin a cos b + cos a sin b and cos(a + b) = cos a cos b - sin a sin b, so the
    pair (sin a, cos a) maps to (sin a, cos a) @ [[cos b, -sin b], [sin b, cos b]] = row @ B^T
    with B = [[cos b, sin b], [-sin b, cos b]]."""
    m = torch.zeros(d, d, dtype=F64)
    for i in range(d // 2):
        b = k / base ** (2 * i / d)
        m[2 * i : 2 * i + 2, 2 * i : 2 * i + 2] = torch.tensor(
            [[math.cos(b), math.sin(b)], [-math.sin(b), math.cos(b)]], dtype=F64
        )
    return m


@settings(max_examples=40, deadline=None)
@given(st.integers(-200, 200), EVEN_DIMS, BASES)
def test_sinusoidal_shift_by_k_is_one_linear_map_for_every_position(k, d, base):
    num_positions = 256
    m_k = shift_matrix_by_hand(k, d, base)
    assert_close64(sinusoidal_shift_matrix(k, d, base, dtype=F64), m_k, tol=1e-12)
    # Every position p of a window of 256 (starting where p + k >= 0 when k < 0).
    p = torch.arange(num_positions) + max(0, -k)
    table = sinusoidal_encoding(num_positions + abs(k), d, base, dtype=F64)
    assert_close64(table[p + k], table[p] @ m_k.T, tol=1e-10)


def test_shift_matrix_is_a_rotation_and_shifts_compose():
    d, base = 16, 10000.0
    m3, m5, m8 = (sinusoidal_shift_matrix(k, d, base, dtype=F64) for k in (3, 5, 8))
    assert_close64(m3 @ m3.T, torch.eye(d, dtype=F64), tol=1e-14)
    assert_close64(m3 @ m5, m8, tol=1e-12)
    assert torch.equal(sinusoidal_shift_matrix(0, d, base, dtype=F64), torch.eye(d, dtype=F64))


def test_shift_matrix_depends_on_the_offset():
    # The property above must be able to fail: M_3 does not map PE[p] to PE[p + 4].
    pe = sinusoidal_encoding(20, 8, dtype=F64)
    m3 = sinusoidal_shift_matrix(3, 8, dtype=F64)
    assert max_abs_diff(pe[:10] @ m3.T, pe[4:14]) > 0.1


def test_sinusoidal_dot_products_depend_only_on_the_offset():
    d, base, n = 32, 10000.0, 40
    pe = sinusoidal_encoding(n, d, base, dtype=F64)
    gram = pe @ pe.T
    theta = frequencies(d, base)
    offsets = torch.arange(n)[:, None] - torch.arange(n)[None, :]
    # PE[p] . PE[q] = sum_i sin sin + cos cos = sum_i cos((p - q) theta_i).
    expected = torch.cos(offsets[..., None] * theta).sum(-1)
    assert_close64(gram, expected, tol=1e-11)
    assert_close64(gram.diagonal(), torch.full((n,), d / 2, dtype=F64), tol=1e-12)


# --- the modules that add a table ------------------------------------------------------------


def test_sinusoidal_module_adds_the_table_as_a_buffer():
    layer = SinusoidalPositionalEncoding(8, max_len=20, dtype=F64)
    x = randn(3, 7, 8)
    assert torch.equal(layer(x), x + sinusoidal_encoding(7, 8, dtype=F64))
    assert list(layer.parameters()) == []
    assert "pe" in dict(layer.named_buffers()) and "pe" not in layer.state_dict()
    # Lower-precision inputs get the table in their own dtype.
    assert layer(x.float()).dtype == torch.float32


def test_learned_module_adds_its_rows_and_trains_only_the_rows_it_used():
    torch.manual_seed(0)
    layer = LearnedPositionalEmbedding(max_len=10, embed_dim=4).double()
    x = randn(2, 6, 4)
    assert torch.equal(layer(x), x + layer.embedding.weight[:6])
    assert sum(p.numel() for p in layer.parameters()) == 10 * 4
    layer(x).square().sum().backward()
    grad = layer.embedding.weight.grad
    assert grad[:6].abs().sum(-1).min() > 0 and torch.all(grad[6:] == 0)
    # Initialised small, not N(0, 1): rows are O(0.02).
    assert layer.embedding.weight.std() < 0.1


# --- RoPE ------------------------------------------------------------------------------------


def rope_complex(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """The paper's complex view, independently: pair (x_2i, x_2i+1) is x_2i + j x_2i+1, and
    position m multiplies it by e^{j m theta_i}."""
    d = x.shape[-1]
    theta = torch.tensor([base ** (-2 * i / d) for i in range(d // 2)], dtype=F64)
    z = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2).contiguous())
    rotation = torch.polar(torch.ones((), dtype=F64), positions.to(F64)[..., None] * theta)
    return torch.view_as_real(z * rotation).flatten(-2)


@settings(max_examples=30, deadline=None)
@given(EVEN_DIMS, BASES, st.integers(0, 2**16))
def test_apply_rotary_is_multiplication_by_unit_complex_numbers(d, base, seed):
    x = randn(2, 3, 7, d, seed=seed)
    positions = torch.randint(-50, 5000, (7,), generator=torch.Generator().manual_seed(seed))
    assert_close64(apply_rotary(x, positions, base), rope_complex(x, positions, base), tol=1e-11)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(-5000, 5000), st.integers(-5000, 5000), st.integers(-5000, 5000),
    EVEN_DIMS, st.integers(0, 2**16),
)
def test_rope_scores_depend_only_on_the_relative_offset(m, n, shift, d, seed):
    q, k = randn(2, d, seed=seed).unbind(0)

    def score(m: int, n: int) -> float:
        q_m = apply_rotary(q[None], torch.tensor([m]))[0]
        k_n = apply_rotary(k[None], torch.tensor([n]))[0]
        return (q_m @ k_n).item()

    assert score(m + shift, n + shift) == pytest.approx(score(m, n), abs=1e-9)
    # Complex view: <R_m q, R_n k> = Re sum_i q_i conj(k_i) e^{j (m - n) theta_i}.
    qc, kc = (torch.view_as_complex(t.reshape(d // 2, 2)) for t in (q, k))
    expected = (qc * kc.conj() * torch.polar(torch.ones((), dtype=F64), (m - n) * frequencies(d))).sum().real
    assert score(m, n) == pytest.approx(expected.item(), abs=1e-9)


def test_rope_scores_do_depend_on_the_offset():
    q, k = randn(2, 16, seed=3).unbind(0)
    scores = [(apply_rotary(q[None], torch.tensor([m])) @ k).item() for m in range(6)]
    assert max(scores) - min(scores) > 0.1


@settings(max_examples=30, deadline=None)
@given(EVEN_DIMS, st.integers(0, 2**16))
def test_rope_preserves_norms(d, seed):
    x = randn(3, 11, d, seed=seed)
    positions = torch.arange(11) * 37 - 100
    rotated = apply_rotary(x, positions)
    assert_close64(rotated.norm(dim=-1), x.norm(dim=-1), tol=1e-12)
    assert max_abs_diff(rotated[:, 1:], x[:, 1:]) > 1e-3  # it does change the vectors


def test_position_zero_is_the_identity():
    x = randn(4, 8)
    assert torch.equal(apply_rotary(x, torch.zeros(4, dtype=torch.long)), x)


def test_rotary_module_equals_apply_rotary_at_positions_zero_to_n():
    rope = RotaryEmbedding(8, max_len=32, dtype=F64)
    q, k = randn(2, 3, 9, 8, seed=1), randn(2, 3, 5, 8, seed=2)  # different lengths are fine
    q_rot, k_rot = rope(q, k)
    assert_close64(q_rot, apply_rotary(q, torch.arange(9)), tol=1e-15)
    assert_close64(k_rot, apply_rotary(k, torch.arange(5)), tol=1e-15)
    assert list(rope.parameters()) == [] and rope.state_dict() == {}


def test_apply_rotary_accepts_per_sequence_positions():
    x = randn(2, 4, 6)
    positions = torch.tensor([[0, 1, 2, 3], [10, 11, 12, 13]])
    out = apply_rotary(x, positions)
    assert_close64(out[1], apply_rotary(x[1], torch.arange(10, 14)), tol=1e-15)


# --- the two pairings ------------------------------------------------------------------------


def rope_rotate_half_reference(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0):
    """The rotate-half formula as GPT-NeoX / LLaMA code writes it, from scratch:
    x * cos + rotate_half(x) * sin, with cos and sin repeated for both halves."""
    d = x.shape[-1]
    theta = base ** (-torch.arange(0, d, 2, dtype=F64) / d)
    angles = positions.to(F64)[..., None] * theta
    cos, sin = torch.cat((angles.cos(), angles.cos()), -1), torch.cat((angles.sin(), angles.sin()), -1)
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


@settings(max_examples=30, deadline=None)
@given(EVEN_DIMS, BASES, st.integers(0, 2**16))
def test_rotate_half_equals_the_paper_pairing_up_to_a_fixed_permutation(d, base, seed):
    x = randn(2, 5, d, seed=seed)
    positions = torch.arange(5) * 13
    perm = rotate_half_permutation(d)
    half = apply_rotary_half(x[..., perm], positions, base)
    assert_close64(half, rope_rotate_half_reference(x[..., perm], positions, base), tol=1e-12)
    assert_close64(half, apply_rotary(x, positions, base)[..., perm], tol=1e-12)
    # Hence attention scores agree when q and k are both stored in the permuted layout.
    q, k = x[0], x[1]
    scores_paper = apply_rotary(q, positions, base) @ apply_rotary(k, positions, base).T
    q_half, k_half = (apply_rotary_half(t[..., perm], positions, base) for t in (q, k))
    scores_half = q_half @ k_half.T
    assert_close64(scores_half, scores_paper, tol=1e-11)


def test_the_pairings_differ_without_the_permutation():
    x = randn(5, 8)
    positions = torch.arange(5)
    assert max_abs_diff(apply_rotary_half(x, positions), apply_rotary(x, positions)) > 1e-2
    assert rotate_half_permutation(8).tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


# --- attention needs position ---------------------------------------------------------------

PERM = torch.tensor([3, 0, 5, 1, 4, 2])


def make_attention(rotary: bool) -> MultiHeadAttention:
    torch.manual_seed(0)
    rope = RotaryEmbedding(4, max_len=16, dtype=F64) if rotary else None
    return MultiHeadAttention(8, 2, rotary=rope).double()


@pytest.mark.parametrize("need_weights", [False, True])
def test_attention_without_positions_is_permutation_equivariant(need_weights):
    mha = make_attention(rotary=False)
    x = randn(2, 6, 8)
    out = mha(x, need_weights=need_weights)[0]
    assert_close64(mha(x[:, PERM], need_weights=need_weights)[0], out[:, PERM], tol=1e-12)


@pytest.mark.parametrize("encoding", ["sinusoidal", "learned", "rotary"])
def test_attention_with_positions_is_not_permutation_equivariant(encoding):
    mha = make_attention(rotary=encoding == "rotary")
    torch.manual_seed(1)
    add = {
        "sinusoidal": SinusoidalPositionalEncoding(8, max_len=16, dtype=F64),
        "learned": LearnedPositionalEmbedding(16, 8).double(),
        "rotary": torch.nn.Identity(),
    }[encoding]

    def model(x: torch.Tensor) -> torch.Tensor:
        return mha(add(x))[0]

    x = randn(2, 6, 8)
    assert max_abs_diff(model(x[:, PERM]), model(x)[:, PERM]) > 1e-4


def test_attention_with_rope_uses_the_rotated_queries_and_keys():
    mha = make_attention(rotary=True)
    x = randn(2, 6, 8)
    fast, _ = mha(x)
    explicit, weights = mha(x, need_weights=True)
    assert_close64(fast, explicit, tol=1e-12)
    # Recompute the weights by hand from the projections and apply_rotary.
    q, k, _ = (t.view(2, 6, 2, 4).transpose(1, 2) for t in mha.in_proj(x).chunk(3, dim=-1))
    q, k = apply_rotary(q, torch.arange(6)), apply_rotary(k, torch.arange(6))
    assert_close64(weights, torch.softmax(q @ k.transpose(-2, -1) / 2.0, dim=-1), tol=1e-12)


# --- clear errors ----------------------------------------------------------------------------

BAD_INPUTS = [
    (lambda: sinusoidal_encoding(10, 7), ValueError, "even"),
    (lambda: sinusoidal_encoding(-1, 8), ValueError, "num_positions"),
    (lambda: sinusoidal_encoding(10, 8, base=0.0), ValueError, "base"),
    (lambda: SinusoidalPositionalEncoding(5), ValueError, "even"),
    (lambda: SinusoidalPositionalEncoding(8, max_len=4)(torch.zeros(1, 5, 8)), ValueError,
     r"sequence length 5 exceeds max_len=4"),
    (lambda: SinusoidalPositionalEncoding(8)(torch.zeros(5, 8)), ValueError,
     r"\(batch, seq_len, embed_dim\)"),
    (lambda: SinusoidalPositionalEncoding(8)(torch.zeros(1, 5, 6)), ValueError, "embed_dim=8"),
    (lambda: SinusoidalPositionalEncoding(8)(torch.zeros(1, 5, 8, dtype=torch.long)), TypeError, "floating"),
    (lambda: LearnedPositionalEmbedding(4, 8)(torch.zeros(1, 5, 8)), ValueError,
     r"sequence length 5 exceeds max_len=4"),
    (lambda: LearnedPositionalEmbedding(4, 8)(torch.zeros(1, 3, 6)), ValueError, "embed_dim=8"),
    (lambda: LearnedPositionalEmbedding(0, 8), ValueError, "max_len"),
    (lambda: RotaryEmbedding(7), ValueError, "even"),
    (lambda: RotaryEmbedding(8, max_len=4)(torch.zeros(1, 1, 5, 8), torch.zeros(1, 1, 3, 8)), ValueError,
     r"q has sequence length 5, which exceeds max_len=4"),
    (lambda: RotaryEmbedding(8)(torch.zeros(1, 1, 5, 8), torch.zeros(1, 1, 5, 6)), ValueError, "head_dim=8"),
    (lambda: RotaryEmbedding(8)(torch.zeros(1, 1, 5, 8), [0.0] * 8), TypeError, "k must be a torch.Tensor"),
    (lambda: apply_rotary(torch.zeros(3, 8), torch.tensor([0.0, 1.0, 2.0])), TypeError, "integer"),
    (lambda: apply_rotary(torch.zeros(3, 8), torch.arange(4)), ValueError, "do not broadcast"),
    (lambda: apply_rotary(torch.zeros(3, 5), torch.arange(3)), ValueError, "even"),
    (lambda: apply_rotary(torch.zeros(8), torch.arange(1)), ValueError, r"\(\.\.\., seq_len, head_dim\)"),
    (lambda: sinusoidal_shift_matrix(1.5, 8), TypeError, "offset"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_modules_accept_the_longest_allowed_sequence():
    x = torch.zeros(1, 4, 8)
    assert SinusoidalPositionalEncoding(8, max_len=4)(x).shape == x.shape
    assert LearnedPositionalEmbedding(4, 8)(x).shape == x.shape
    q = torch.zeros(1, 1, 4, 8)
    assert RotaryEmbedding(8, max_len=4)(q, q)[0].shape == q.shape
