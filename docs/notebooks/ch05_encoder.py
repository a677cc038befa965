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
# # Chapter 5 notebook: pre-LN, post-LN and counts
#
# This notebook measures what [Chapter 5](../../chapters/05-encoder/) discusses: the gradient
# of every layer of a 6-layer encoder at initialisation, for post-LN and pre-LN; training
# with and without learning-rate warm-up on a small synthetic task; and the parameter and
# FLOP counts of common encoder configurations, computed from the chapter's formulas. Every
# number comes from functions in `book_code.encoder`; it runs in well under a minute on a
# laptop CPU.

# %%
import math

import torch

from book_code.encoder import (
    ClassifierConfig,
    bert_parameters,
    count_parameters,
    flops_per_forward,
    init_gradient_norms,
    layer_flops,
    layer_parameters,
    majority_task,
    warmup_experiment,
)
from book_code.figures import PALETTE, BookFigure, new_figure

# The models here are tiny: one thread is faster than several competing for the cores.
torch.set_num_threads(1)
torch.manual_seed(0)  # the experiments seed their own generators; this is for anything else

# %% [markdown]
# ## Gradients at initialisation
#
# For each of 10 seeds, a fresh 6-layer mean-pooling classifier ($E = 64$, 4 heads,
# $F = 256$, no dropout) reads a batch of random token ids, and we backpropagate the
# cross-entropy against random labels. The table gives the norm of the gradient with
# respect to each layer's second feed-forward matrix $W_2$, averaged over the seeds (the
# quantity Xiong et al., 2020, plot in their Figure 3), once with PyTorch's default
# initialisation and once with Xavier initialisation of every linear map.

# %%
LAYERS = 6
grad_norms = {
    (init, norm_first): init_gradient_norms(norm_first, init, num_layers=LAYERS)
    for init in ("pytorch", "xavier")
    for norm_first in (False, True)
}
print(f"{'init':<8} {'variant':<8}" + "".join(f"{f'layer {i}':>9}" for i in range(1, LAYERS + 1)))
for (init, norm_first), norms in grad_norms.items():
    variant = "pre-LN" if norm_first else "post-LN"
    print(f"{init:<8} {variant:<8}" + "".join(f"{v:>9.3f}" for v in norms))
for init in ("pytorch", "xavier"):
    ratio = grad_norms[init, False][-1] / grad_norms[init, True][-1]
    print(f"{init}: last layer, post-LN / pre-LN = {ratio:.2f}")

# %%
fig, axes = new_figure(ncols=2, width=8.0, height=3.2)
layers = range(1, LAYERS + 1)
for ax, init, title in zip(axes, ("pytorch", "xavier"), ("PyTorch default init", "Xavier init"), strict=True):
    ax.plot(layers, grad_norms[init, False], marker="o", color=PALETTE[3], label="post-LN")
    ax.plot(layers, grad_norms[init, True], marker="s", color=PALETTE[0], label="pre-LN")
    ax.set_title(title)
    ax.set_xlabel("layer (1 = nearest the input)")
    ax.set_ylim(bottom=0)
axes[0].set_ylabel("gradient norm of $W_2$")
axes[0].legend()
BookFigure(
    fig,
    "ch05-grad-norms",
    alt=(
        "Two line plots of the gradient norm of each layer's second feed-forward matrix "
        "against the layer index, 1 to 6, for post-LN and pre-LN encoders at initialisation. "
        "Left, PyTorch's default initialisation: the two curves are close. Right, Xavier "
        "initialisation: the post-LN curve lies well above the pre-LN curve at every layer, "
        "and the pre-LN curve falls towards the output."
    ),
    caption=(
        "Figure 5.1: gradient norm of each layer's W_2 at initialisation (6 layers, E = 64, "
        "mean of 10 seeds), post-LN and pre-LN, with PyTorch's default initialisation (left) "
        "and Xavier initialisation (right)."
    ),
)

# %% [markdown]
# ## Warm-up
#
# The task: 12 tokens, the first a `[CLS]` token, the rest uniform over 14 symbols; the
# label says whether symbol 2 occurs more often than symbol 3. A 6-layer classifier
# ($E = 32$, `[CLS]` pooling, no dropout) trains for 200 Adam steps on fresh batches of 32
# at a peak learning rate of $8 \times 10^{-3}$, with the rate decaying linearly to zero,
# either from the first step (no warm-up) or after 50 steps of linear warm-up. Each
# setting runs with three seeds. "final" is the mean loss over the last 20 steps. For
# comparison, the loss of a classifier that ignores its input and always predicts the class
# frequencies is their entropy:

# %%
_, labels = majority_task(100_000, generator=torch.Generator().manual_seed(0))
share = labels.double().mean().item()
guessing = -(share * math.log(share) + (1 - share) * math.log(1 - share))
print(f"label 1 in {share:.1%} of sequences; loss of guessing the frequencies: {guessing:.3f} nats")

# %%
runs = warmup_experiment(learning_rate=8e-3, warmup_steps=50, steps=200, seeds=(0, 1, 2))


def label(run) -> str:
    variant = "pre-LN" if run.norm_first else "post-LN"
    return f"{variant}, {'warm-up' if run.warmup_steps else 'no warm-up'}"


def final_loss(run) -> float:
    return sum(run.losses[-20:]) / 20


settings = list(dict.fromkeys(label(r) for r in runs))
print(f"{'setting':<22}" + "".join(f"{f'seed {s}':>9}" for s in (0, 1, 2)))
for setting in settings:
    finals = [final_loss(r) for r in runs if label(r) == setting]
    print(f"{setting:<22}" + "".join(f"{v:>9.3f}" for v in finals))

# %%
styles = {
    "post-LN, no warm-up": (PALETTE[3], "-"),
    "post-LN, warm-up": (PALETTE[1], "--"),
    "pre-LN, no warm-up": (PALETTE[0], "-"),
    "pre-LN, warm-up": (PALETTE[2], "--"),
}


def smooth(values, width=10):
    return [sum(values[max(0, i - width + 1): i + 1]) / len(values[max(0, i - width + 1): i + 1])
            for i in range(len(values))]


fig, (ax_curve, ax_final) = new_figure(ncols=2, width=8.0, height=3.4)
for run in runs:
    if run.seed == 0:
        colour, line = styles[label(run)]
        ax_curve.plot(smooth(run.losses), color=colour, linestyle=line, label=label(run))
for i, setting in enumerate(settings):
    seeds = [r for r in runs if label(r) == setting]
    offsets = [i + 0.1 * (k - (len(seeds) - 1) / 2) for k in range(len(seeds))]  # side by side
    ax_final.scatter(offsets, [final_loss(r) for r in seeds], color=styles[setting][0], zorder=3)
ax_curve.set_xlabel("training step")
ax_curve.set_ylabel("training loss (10-step mean, nats)")
ax_curve.set_title("seed 0")
ax_curve.legend(fontsize=8)
ax_final.set_xticks(range(len(settings)), [s.replace(", ", "\n") for s in settings], fontsize=8)
ax_final.set_ylabel("final training loss (nats)")
ax_final.set_yscale("log")
ax_final.set_title("three seeds")
BookFigure(
    fig,
    "ch05-warmup",
    alt=(
        "Left: training-loss curves over 200 steps for four settings, post-LN and pre-LN, "
        "each with and without warm-up. Right: the final loss of each of three seeds per "
        "setting on a logarithmic axis. The pre-LN runs reach a low loss with or without "
        "warm-up; the post-LN runs without warm-up all end far higher."
    ),
    caption=(
        "Figure 5.2: a 6-layer encoder trained on the majority task at peak learning rate "
        "8e-3, with and without 50 warm-up steps. Left, smoothed loss curves of seed 0; "
        "right, final loss (mean of the last 20 steps) of every seed."
    ),
)

# %% [markdown]
# ## Parameters and FLOPs of common configurations
#
# Counts from `bert_parameters`, `count_parameters` and `layer_flops`, the formulas the
# chapter derives and the tests check against real modules and against
# `torch.utils.flop_counter`. "encoder GFLOP" is the matrix-multiply work of the encoder
# layers for one sequence of 128 or 512 tokens (a multiply-add is 2 FLOPs);
# "attention share" is the part of it spent on the two $n^2$ products at 512 tokens.
# Published counts: 110M and 340M for BERT-base and BERT-large (Devlin et al., 2019).

# %%
book = ClassifierConfig(vocab_size=20_000, num_classes=2)  # the book's default classifier
configs = [  # name, layers L, width E, heads, feed-forward F, parameters, published
    ("book classifier", book.num_layers, book.embed_dim, book.num_heads, book.ff_dim,
     count_parameters(book)["total"], "-"),
    ("Transformer-base encoder", 6, 512, 8, 2048, 6 * layer_parameters(512, 2048)["total"], "-"),
    ("BERT-base", 12, 768, 12, 3072, bert_parameters()["total"], "110M"),
    ("BERT-large", 24, 1024, 16, 4096,
     bert_parameters(embed_dim=1024, num_layers=24, ff_dim=4096)["total"], "340M"),
]
print(f"{'configuration':<25}{'L':>3}{'E':>6}{'heads':>6}{'F':>6}{'parameters':>13}{'published':>10}"
      f"{'GFLOP n=128':>12}{'GFLOP n=512':>12}{'attention share':>16}")
for name, L, E, H, F, params, published in configs:
    gflop = {n: L * layer_flops(E, F, n)["total"] / 1e9 for n in (128, 512)}
    at_512 = layer_flops(E, F, 512)
    share = (at_512["scores"] + at_512["weighted_values"]) / at_512["total"]
    print(f"{name:<25}{L:>3}{E:>6}{H:>6}{F:>6}{params:>13,}{published:>10}"
          f"{gflop[128]:>12.2f}{gflop[512]:>12.2f}{share:>16.1%}")

# %% [markdown]
# The Transformer-base row counts the six encoder layers only (no embeddings). Where do
# BERT-base's parameters sit? And how does the classifier's forward pass split?

# %%
for part, count in bert_parameters().items():
    print(f"BERT-base {part:<12}{count:>13,}")
book_flops = flops_per_forward(book, batch=1, seq_len=128)
print(f"book classifier, 128 tokens: {book_flops['total'] / 1e6:.1f} MFLOP, of which "
      f"{book_flops['attention_core'] / book_flops['total']:.1%} in the n^2 products")
