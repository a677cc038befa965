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
# # Chapter 3 notebook: heads, scales and PyTorch
#
# This notebook looks at the heads of a freshly initialised multi-head attention layer,
# measures how the divisor of the scores changes each head's softmax as the number of heads
# grows, and checks the book's layer against `torch.nn.MultiheadAttention` under several
# masks. Every number comes from functions in `book_code.attention.heads`.

# %%
import torch

from book_code.attention.heads import (
    attention_entropy,
    compare_with_torch,
    scale_sweep,
    token_head_weights,
)
from book_code.figures import PALETTE, BookFigure, new_figure

torch.manual_seed(0)

# %% [markdown]
# ## What four random heads attend to
#
# Six tokens, one random embedding per distinct token (no positions), and one layer with
# `embed_dim=32`, `num_heads=4`, straight from its initialiser. Each heatmap is one head:
# row $i$ is the weight distribution of query $i$ over the keys, so every row sums to 1.

# %%
tokens = "the cat sat on the mat".split()
weights = token_head_weights(tokens, embed_dim=32, num_heads=4, seed=0)  # (heads, n, n)

print("head  mean entropy (nats)  max weight")
for h, w in enumerate(weights):
    print(f"{h:>4}  {attention_entropy(w).mean().item():>19.3f}  {w.max().item():>10.3f}")
print(f"uniform over {len(tokens)} keys: {torch.log(torch.tensor(float(len(tokens)))).item():.3f} nats")

# %%
fig, axes = new_figure(ncols=4, width=9.0, height=2.9)
vmax = weights.max().item()
for h, ax in enumerate(axes):
    image = ax.imshow(weights[h], cmap="cividis", vmin=0.0, vmax=vmax)
    ax.grid(False)
    ax.set_title(f"head {h}")
    ax.set_xticks(range(len(tokens)), tokens, rotation=90)
    ax.set_yticks(range(len(tokens)), tokens if h == 0 else [])
    ax.set_xlabel("key")
axes[0].set_ylabel("query")
fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
BookFigure(
    fig,
    "ch03-heads",
    alt=(
        "Four 6-by-6 heatmaps, one per head, of attention weights over the tokens 'the cat sat "
        "on the mat'. Each head spreads its weight differently, most weights lie near one sixth, "
        "and the two rows and columns for 'the' are identical within every head."
    ),
    caption=(
        "Figure 3.1: per-head attention weights of a randomly initialised layer (embed_dim 32, "
        "4 heads). Rows are queries, columns keys; the colour scale is shared."
    ),
)

# %% [markdown]
# The heads already differ (their projections are different random matrices), but most
# weights stay near $1/6$ and none comes close to 1: at initialisation a head is a gentle,
# uneven average.
# The two occurrences of *the* get identical rows and identical columns in every head,
# because nothing but the token's embedding enters the computation. Chapter 4 fixes that
# with positional encodings.
#
# ## Divide by $\sqrt{d_h}$, not by $\sqrt{E}$
#
# One layer per number of heads ($E = 256$), standard-normal inputs of 32 tokens, and the
# same raw scores $q \cdot k$ divided either by $\sqrt{d_h}$ (correct) or by $\sqrt{E}$ (a
# common mistake). `entropy` is the mean row entropy divided by $\log n$, so 1 means uniform.

# %%
results = scale_sweep(embed_dim=256, heads=(1, 2, 4, 8, 16, 32, 64), seq_len=32)
print(f"{'heads':>5} {'d_h':>4}  {'divisor':<16} {'score std':>9} {'entropy':>8} {'max weight':>10}")
for r in results:
    print(
        f"{r.num_heads:>5} {r.head_dim:>4}  {r.divisor:<16} {r.score_std:>9.4f} "
        f"{r.entropy:>8.4f} {r.max_weight:>10.4f}"
    )

# %%
fig, (ax_std, ax_entropy) = new_figure(ncols=2, width=8.0, height=3.2)
styles = {"sqrt(head_dim)": ("o", PALETTE[0]), "sqrt(embed_dim)": ("s", PALETTE[3])}
for divisor, (marker, colour) in styles.items():
    rows = [r for r in results if r.divisor == divisor]
    heads = [r.num_heads for r in rows]
    label = f"divide by {divisor}"
    ax_std.plot(heads, [r.score_std for r in rows], marker=marker, color=colour, label=label)
    ax_entropy.plot(heads, [r.entropy for r in rows], marker=marker, color=colour, label=label)
for ax in (ax_std, ax_entropy):
    ax.set_xscale("log", base=2)
    ax.set_xlabel("number of heads H (embed_dim 256)")
ax_std.set_yscale("log", base=2)
ax_std.set_ylabel("std of scaled scores")
ax_entropy.set_ylabel("entropy / log n (1 = uniform)")
ax_std.legend()
BookFigure(
    fig,
    "ch03-scale",
    alt=(
        "Two line plots against the number of heads from 1 to 64. Left: dividing by the square "
        "root of the head size keeps the spread of the scores flat, dividing by the square root "
        "of the model width makes it fall steadily as heads are added. Right: with the wrong "
        "divisor the normalised entropy climbs towards 1, uniform weights."
    ),
    caption=(
        "Figure 3.2: the spread of the scaled scores (left) and the normalised entropy of the "
        "weights (right) of freshly initialised layers, for the correct divisor sqrt(d_h) and "
        "the mistaken sqrt(E)."
    ),
)

# %% [markdown]
# With the correct divisor the spread of the scores, and so the sharpness of every head, does
# not depend on how many heads share the width. With $\sqrt{E}$ the spread falls by a further
# $\sqrt{H}$, and the heads drift towards uniform averaging as $H$ grows.
#
# ## Equivalence with PyTorch, mask by mask
#
# `compare_with_torch` copies a float64 `torch.nn.MultiheadAttention` into the book's layer
# with `MultiHeadAttention.from_torch` and reports the largest absolute differences of the
# outputs (explicit path and fused-kernel path) and of the per-head weights.

# %%
print(f"{'setting':<24} {'explicit':>10} {'fused':>10} {'weights':>10}")
for row in compare_with_torch():
    print(f"{row.setting:<24} {row.explicit:>10.1e} {row.fused:>10.1e} {row.weights:>10.1e}")

# %% [markdown]
# Every difference is a few units of float64 rounding error (the spacing of float64 numbers
# near 1 is $2^{-52} \approx 2.2 \times 10^{-16}$): the two layers compute the same function.
