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
# # Chapter 1 notebook: why divide by $\sqrt{d_k}$
#
# This notebook measures what Chapter 1 of the book derives: for random
# queries and keys with unit-variance components, the variance of the dot-product logits,
# how saturated the softmax is (its mean largest weight) and how much gradient it passes back
# (the norm of its Jacobian), at widths $d_k$ from 1 to 1024, with and without dividing the
# logits by $\sqrt{d_k}$.

# %%
import math

import torch

from book_code.attention.scaling import scaling_sweep
from book_code.figures import PALETTE, BookFigure, new_figure

torch.manual_seed(0)  # the measurements seed their own generators; this is for anything else

WIDTHS = tuple(2**i for i in range(11))  # d_k = 1, 2, 4, ..., 1024
NUM_KEYS = 32  # keys per query: the softmax runs over 32 logits
results = scaling_sweep(WIDTHS, num_keys=NUM_KEYS, num_queries=2000, seed=0)
unscaled = [r for r in results if not r.scaled]
scaled = [r for r in results if r.scaled]

# %% [markdown]
# ## The measurements
#
# Each row draws 2000 queries and 32 keys with independent $\mathcal{N}(0, 1)$ components.
# "var" is the variance of the logits, "max w" the largest softmax weight averaged over the
# queries (1/32 is uniform, 1 is one-hot), "|J|" the mean Frobenius norm of the softmax
# Jacobian $\operatorname{diag}(\alpha) - \alpha^\top\alpha$.

# %%
print(f"{'':>6} {'unscaled':^26} {'scaled by 1/sqrt(d_k)':^26}")
print(f"{'d_k':>6} {'var':>8} {'max w':>8} {'|J|':>8} {'var':>8} {'max w':>8} {'|J|':>8}")
for u, s in zip(unscaled, scaled, strict=True):
    print(
        f"{u.d_k:>6} {u.logit_variance:>8.2f} {u.max_weight:>8.3f} {u.grad_norm:>8.3f}"
        f" {s.logit_variance:>8.2f} {s.max_weight:>8.3f} {s.grad_norm:>8.3f}"
    )

# %% [markdown]
# ## Figure 1.1: the logits
#
# The derivation predicts $\operatorname{Var}(q \cdot k) = d_k$ without scaling and $1$ with
# it. The dashed lines are those predictions; the markers are the measurements.

# %%
UNSCALED_STYLE = {"color": PALETTE[3], "marker": "o", "label": "unscaled: $q \\cdot k$"}
SCALED_STYLE = {"color": PALETTE[0], "marker": "s", "label": "scaled: $q \\cdot k / \\sqrt{d_k}$"}
THEORY_STYLE = {"color": "0.4", "linestyle": "--", "linewidth": 1}


def plot_both(ax, field: str) -> None:
    """Plot one measured field against d_k, unscaled and scaled."""
    ax.plot(WIDTHS, [getattr(r, field) for r in unscaled], **UNSCALED_STYLE)
    ax.plot(WIDTHS, [getattr(r, field) for r in scaled], **SCALED_STYLE)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("key width $d_k$ (log scale)")


fig, ax = new_figure(width=5.6, height=3.4)
plot_both(ax, "logit_variance")
ax.plot(WIDTHS, WIDTHS, **THEORY_STYLE, label="theory: $d_k$ and 1")
ax.plot(WIDTHS, [1.0] * len(WIDTHS), **THEORY_STYLE)
ax.set_yscale("log", base=2)
ax.set_ylabel("variance of the logits (log scale)")
ax.legend()
BookFigure(
    fig,
    "ch01-logit-variance",
    alt=(
        "Log-log plot of the measured variance of attention logits against the key width d_k from "
        "1 to 1024. Unscaled dot products follow the line variance = d_k; dividing by the square "
        "root of d_k keeps the variance at 1 for every width."
    ),
    caption=(
        "Figure 1.1: Variance of the logits for random unit-variance queries and keys. Unscaled, "
        "it grows like d_k; scaled by 1/sqrt(d_k), it stays at 1. Dashed: the derivation."
    ),
)

# %% [markdown]
# ## Figure 1.2: the softmax and its gradient
#
# Left: how close the weights are to one-hot. Right: the size of the softmax Jacobian. The
# dotted lines mark the two extremes: uniform weights ($1/n$ and
# $\lVert J \rVert_F = \sqrt{n-1}/n$) and one-hot weights ($1$ and $0$), for $n = 32$ keys.

# %%
REFERENCE_STYLE = {"color": "0.4", "linestyle": ":", "linewidth": 1}
n = NUM_KEYS

fig, (left, right) = new_figure(ncols=2, width=7.6, height=3.4)

plot_both(left, "max_weight")
left.axhline(1.0, **REFERENCE_STYLE)
left.axhline(1 / n, **REFERENCE_STYLE)
left.annotate("one-hot", (1, 1.0), xytext=(0, -12), textcoords="offset points", fontsize=8)
left.annotate("uniform", (1, 1 / n), xytext=(0, 4), textcoords="offset points", fontsize=8)
left.set_ylim(0, 1.05)
left.set_ylabel("mean largest weight")
left.set_title("saturation")
left.legend(loc="center right")

plot_both(right, "grad_norm")
right.axhline(0.0, **REFERENCE_STYLE)
right.axhline(math.sqrt(n - 1) / n, **REFERENCE_STYLE)
right.annotate("one-hot", (1, 0.0), xytext=(0, 4), textcoords="offset points", fontsize=8)
right.annotate(
    "uniform", (1, math.sqrt(n - 1) / n), xytext=(0, -12), textcoords="offset points", fontsize=8
)
right.set_ylim(bottom=-0.01)
right.set_ylabel("mean Frobenius norm of the Jacobian")
right.set_title("gradient through the softmax")

BookFigure(
    fig,
    "ch01-saturation",
    alt=(
        "Two panels against the key width d_k from 1 to 1024, for 32 keys. Left: without scaling, "
        "the mean largest softmax weight climbs from near uniform towards 1 (one-hot); with "
        "scaling it stays flat and low. Right: without scaling, the norm of the softmax Jacobian "
        "falls towards zero as d_k grows; with scaling it stays constant."
    ),
    caption=(
        "Figure 1.2: Unscaled dot products saturate the softmax as d_k grows (left) and the "
        "gradient through it vanishes (right); dividing by sqrt(d_k) keeps both independent of "
        "the width. Dotted: uniform and one-hot weights."
    ),
)
