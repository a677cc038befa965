# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Chapter 4 notebook: encodings and extrapolation
#
# This notebook runs the experiments of [Chapter 4](../../chapters/04-position/): it shuffles
# the tokens of a self-attention layer with and without position information, draws the
# sinusoidal table and its dot products, shows that RoPE scores depend on the offset only,
# and trains tiny models on short sequences to see which encodings keep working on longer
# ones. Everything it computes comes from `book_code.positional` and
# `book_code.position_tasks`; it runs in well under a minute on a laptop CPU.

# %%
import time

import torch

from book_code.attention import MultiHeadAttention
from book_code.figures import PALETTE, BookFigure, new_figure
from book_code.position_tasks import extrapolation_experiment
from book_code.positional import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    apply_rotary,
    sinusoidal_encoding,
    sinusoidal_shift_matrix,
)

torch.manual_seed(0)
# Every tensor here is tiny: more threads only add overhead (and stall on a busy machine).
torch.set_num_threads(1)

# %% [markdown]
# ## Shuffle the tokens
#
# One multi-head attention layer (`embed_dim=16`, 4 heads) reads 6 random token vectors, then
# the same vectors in a shuffled order. If the layer is permutation equivariant, the shuffled
# outputs are the original outputs shuffled the same way: the difference below is zero up to
# rounding. With a position encoding it is not.

# %%
E, H, N = 16, 4, 6
x = torch.randn(1, N, E, dtype=torch.float64)
perm = torch.tensor([3, 0, 5, 1, 4, 2])
print("permutation:", perm.tolist())

plain = MultiHeadAttention(E, H).double()
with_rope = MultiHeadAttention(E, H, rotary=RotaryEmbedding(E // H, dtype=torch.float64)).double()
sinusoidal = SinusoidalPositionalEncoding(E, dtype=torch.float64)
learned = LearnedPositionalEmbedding(32, E).double()
models = {
    "no positions": lambda t: plain(t)[0],
    "sinusoidal (added to x)": lambda t: plain(sinusoidal(t))[0],
    "learned (added to x)": lambda t: plain(learned(t))[0],
    "RoPE (inside attention)": lambda t: with_rope(t)[0],
}
print(f"{'encoding':<26} max |f(x[perm]) - f(x)[perm]|")
for name, f in models.items():
    gap = (f(x[:, perm]) - f(x)[:, perm]).abs().max().item()
    print(f"{name:<26} {gap:.2e}")

# %% [markdown]
# ## Figure 4.1: the sinusoidal table
#
# Rows are positions, columns are dimensions. Column $2i$ holds $\sin(p\,\theta_i)$ and
# column $2i+1$ holds $\cos(p\,\theta_i)$, with $\theta_i = 10000^{-2i/d}$: the left columns
# oscillate fast, the right ones barely move over 100 positions.

# %%
table = sinusoidal_encoding(100, 64)
fig, ax = new_figure(width=6.4, height=3.6)
image = ax.imshow(table, cmap="cividis", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
ax.grid(False)
ax.set_xlabel("dimension $j$ (even: sine, odd: cosine)")
ax.set_ylabel("position $p$")
fig.colorbar(image, ax=ax, label="$PE[p, j]$")
BookFigure(
    fig,
    "ch04-sinusoidal",
    alt=(
        "Heatmap of the sinusoidal position table for 100 positions and 64 dimensions. The "
        "leftmost columns alternate quickly between -1 and 1 down the positions; further right "
        "the stripes get wider, and the rightmost columns are almost constant (sine near 0, "
        "cosine near 1)."
    ),
    caption=(
        "Figure 4.1: The sinusoidal table PE (100 positions, d = 64, base 10000). Each pair of "
        "columns is a sine and a cosine of one frequency; frequencies fall geometrically from "
        "left to right."
    ),
)

# %% [markdown]
# ## The shift is a fixed linear map
#
# The chapter proves $PE[p+k] = PE[p]\, M_k^\top$ for every $p$, with $M_k$ block-diagonal.
# Here is the largest error of that identity over 1000 positions, for a few offsets $k$,
# in float64.

# %%
big = sinusoidal_encoding(1200, 64, dtype=torch.float64)
print(f"{'k':>5} max_p |PE[p+k] - PE[p] M_k^T|")
for k in (1, 7, 50, 200):
    m_k = sinusoidal_shift_matrix(k, 64, dtype=torch.float64)
    error = (big[k : k + 1000] - big[:1000] @ m_k.T).abs().max().item()
    print(f"{k:>5} {error:.1e}")

# %% [markdown]
# ## Figure 4.2: dot products depend on the offset only
#
# $PE[p] \cdot PE[p+k] = \sum_i \cos(k\,\theta_i)$ does not involve $p$. The curves start at
# three different positions $p$ and lie on top of each other.

# %%
offsets = torch.arange(0, 201)
table = sinusoidal_encoding(1400, 64, dtype=torch.float64)
fig, ax = new_figure(width=6.4, height=3.2)
starts = [(0, {"linewidth": 2.5}), (400, {"linestyle": "--"}), (1000, {"linestyle": ":"})]
for (p, style), color in zip(starts, PALETTE[:3], strict=True):
    ax.plot(offsets, table[p + offsets] @ table[p], color=color, label=f"$p = {p}$", **style)
ax.set_xlabel("offset $k$ (positions)")
ax.set_ylabel(r"$PE[p] \cdot PE[p+k]$")
ax.legend(title="start position")
BookFigure(
    fig,
    "ch04-similarity",
    alt=(
        "Line plot of the dot product between the sinusoidal encodings of positions p and p + k "
        "against k from 0 to 200, for p = 0, 400 and 1000. The three curves coincide: they start "
        "at d/2 = 32 for k = 0, fall quickly over the first few offsets and then oscillate "
        "with a slowly falling trend."
    ),
    caption=(
        "Figure 4.2: Dot products of sinusoidal encodings (d = 64) depend only on the offset k: "
        "three start positions give one curve. The similarity falls with distance, but not "
        "monotonically."
    ),
)

# %% [markdown]
# ## Figure 4.3: RoPE scores depend on the offset only
#
# Left: one random query and key ($d = 64$) at positions $m$ and $n$; the score
# $\langle R_m q, R_n k\rangle$ as a function of $m - n$, with the key at $n = 0$ and at
# $n = 500$. Right: the same for $q = k = (1, \dots, 1)$, where every pair contributes
# $2\cos((m-n)\theta_i)$; this is the "long-term decay" that Su et al. (2021) point out.

# %%
d = 64
q, k = torch.randn(2, d, dtype=torch.float64)
ones = torch.ones(d, dtype=torch.float64)
rel = torch.arange(0, 201)


def rope_scores(q: torch.Tensor, k: torch.Tensor, n: int) -> torch.Tensor:
    """Scores <R_{n+r} q, R_n k> for the offsets r in `rel`."""
    queries = apply_rotary(q.expand(len(rel), d), n + rel)
    key = apply_rotary(k[None], torch.tensor([n]))[0]
    return queries @ key


fig, (left, right) = new_figure(ncols=2, width=8.0, height=3.2)
panels = ((left, q, k, "random $q$, $k$"), (right, ones, ones, "$q = k = \\mathbf{1}$"))
for ax, a, b, title in panels:
    ax.plot(rel, rope_scores(a, b, 0), color=PALETTE[0], linewidth=2.5, label="key at $n = 0$")
    ax.plot(rel, rope_scores(a, b, 500), color=PALETTE[1], linestyle="--", label="key at $n = 500$")
    ax.set_xlabel("offset $m - n$ (positions)")
    ax.set_title(title)
left.set_ylabel(r"score $\langle R_m q, R_n k \rangle$")
left.legend()
BookFigure(
    fig,
    "ch04-rope",
    alt=(
        "Two line plots of the RoPE attention score against the offset m - n from 0 to 200. In "
        "each, the curve for a key at position 0 and the dashed curve for a key at position 500 "
        "coincide. Left, a random query and key: the score oscillates irregularly. Right, query "
        "and key all ones: the score starts at d = 64 and falls, with ripples, as the offset grows."
    ),
    caption=(
        "Figure 4.3: RoPE scores depend only on the offset m - n: moving both positions by 500 "
        "gives the same curve. For q = k = 1 the score decays with distance."
    ),
)

# %% [markdown]
# ## Length extrapolation
#
# The task: at every position $t$, output the token at position $t-1$, for random tokens
# from a vocabulary of 16. The model is as small as it gets: token embedding, one position
# encoding (or none), one causal attention layer with one head ($d = 32$), and a linear
# read-out. Each encoding trains for 300 Adam steps on sequences of length 16, twice with
# different seeds; we then measure its accuracy at every position of sequences of length 64.
# Learned positions get a table of 64 rows, so that long inputs run at all; rows 16 to 63
# are never trained.

# %%
TRAIN_LEN, EVAL_LEN, VOCAB = 16, 64, 16
start = time.perf_counter()
results = extrapolation_experiment(
    seeds=(0, 1), train_len=TRAIN_LEN, eval_len=EVAL_LEN, vocab_size=VOCAB, steps=300
)
print(f"trained and evaluated {len(results)} models in {time.perf_counter() - start:.1f} s\n")

BUCKETS = [(1, 16), (16, 32), (32, 48), (48, 64)]
header = "  ".join(f"pos {a}-{b - 1}" for a, b in BUCKETS)
print(f"{'encoding':<11} {'seed':>4} {'train loss':>10}  {header}")
for r in results:
    accuracies = "  ".join(f"{r.mean_accuracy(a, b):>8.3f}" for a, b in BUCKETS)
    print(f"{r.encoding:<11} {r.seed:>4} {r.final_loss:>10.4f}  {accuracies}")
print(f"\nchance: {1 / VOCAB:.3f}")

# %% [markdown]
# ## Figure 4.4: accuracy by position
#
# Mean over the two seeds. Left of the dashed line: positions seen in training.

# %%
fig, ax = new_figure(width=6.8, height=3.4)
positions = torch.arange(EVAL_LEN)
styles = {"none": ":", "sinusoidal": "-", "learned": "--", "rotary": "-"}
for encoding, color in zip(styles, PALETTE[:4], strict=True):
    runs = torch.tensor([r.accuracy for r in results if r.encoding == encoding])
    ax.plot(positions[1:], runs.mean(0)[1:], color=color, linestyle=styles[encoding],
            linewidth=2.2 if encoding == "rotary" else 1.6, label=encoding)
ax.axvline(TRAIN_LEN - 0.5, color="0.3", linestyle="--", linewidth=1)
ax.annotate("training length", (TRAIN_LEN - 0.5, 0.6), xytext=(-4, 0), textcoords="offset points",
            fontsize=8, ha="right")
ax.axhline(1 / VOCAB, color="0.5", linestyle=":", linewidth=1)
ax.annotate("chance", (EVAL_LEN - 1, 1 / VOCAB), xytext=(-30, 4), textcoords="offset points", fontsize=8)
ax.set_ylim(0, 1.03)
ax.set_xlabel("position $t$ in a sequence of length 64")
ax.set_ylabel("accuracy (fraction correct)")
ax.legend(title="position encoding", loc="center", bbox_to_anchor=(0.55, 0.5))
BookFigure(
    fig,
    "ch04-extrapolation",
    alt=(
        "Line plot of accuracy against position, from 1 to 63, for models trained on sequences "
        "of length 16 with no position encoding, sinusoidal, learned and rotary encodings. A "
        "dashed vertical line marks the training length. Left of it, the three models with "
        "positions are almost always right and the one without falls from high accuracy at the "
        "first positions towards chance. Right of it, learned and sinusoidal positions drop to "
        "chance within a few positions, while rotary stays far above chance but declines as the "
        "sequence gets longer; the table above gives the numbers."
    ),
    caption=(
        "Figure 4.4: Copy-the-previous-token accuracy at each position of length-64 sequences, "
        "for one-layer models trained on length 16 (mean of two seeds). Positions right of the "
        "dashed line were never seen in training."
    ),
)
