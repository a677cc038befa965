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
# # Chapter 2 notebook: masks and what attention costs
#
# This notebook draws the book's masks, then measures how the wall time and the peak memory of
# attention grow with the sequence length $n$, for the book's explicit function and for
# PyTorch's fused kernel, on the machine that builds the book.

# %%
import torch

from book_code.attention import causal_mask, combine_masks, key_padding_to_attention_mask, padding_mask
from book_code.attention.cost import fit_loglog_slope, measure_attention_cost
from book_code.figures import PALETTE, BookFigure, new_figure

torch.manual_seed(0)
print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} CPU threads available")

# %% [markdown]
# ## The masks of the chapter
#
# One convention everywhere: `True` (dark) means *this query may attend to this key*. Rows are
# queries, columns are keys. The last panel has fewer queries than keys, as when a model
# continues a sequence it has already read: the causal diagonal then ends in the bottom-right
# corner.

# %%
pad = key_padding_to_attention_mask(padding_mask(torch.tensor([4]), max_len=6))[0, 0]
panels = {
    "padding (4 real keys of 6)": pad.expand(6, 6),
    "causal": causal_mask(6),
    "padding AND causal": combine_masks(pad, causal_mask(6)),
    "causal, 3 queries, 6 keys": causal_mask(3, 6),
}
fig, axes = new_figure(ncols=4, width=8.0, height=2.4)
for ax, (title, mask) in zip(axes, panels.items(), strict=True):
    ax.imshow(mask.int(), cmap="Blues", vmin=-0.3, vmax=1.2)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("key position $j$")
    ax.set_xticks(range(mask.shape[1]))
    ax.set_yticks(range(mask.shape[0]))
    ax.grid(False)
axes[0].set_ylabel("query position $i$")
BookFigure(
    fig,
    "ch02-masks",
    alt=(
        "Four boolean masks drawn as grids, dark where attention is allowed: a padding mask whose "
        "last two key columns are blocked, a lower-triangular causal mask, their combination, and "
        "a causal mask with 3 queries and 6 keys whose allowed region ends at the bottom-right."
    ),
    caption=(
        "Figure 2.1: the book's masks (dark = may attend). With fewer queries than keys, the "
        "causal mask is aligned to the bottom-right corner."
    ),
)

# %% [markdown]
# ## Measuring time and memory
#
# `measure_attention_cost` runs self-attention on random `(batch, heads, n, d)` inputs. Time is
# the median of several calls after a warm-up call; peak memory is the largest number of bytes
# PyTorch's CPU allocator held during one call, read from the profiler's allocation records.
# One CPU thread keeps the timings steady when other work shares the machine.

# %%
LENGTHS = [128, 256, 512, 768, 1024, 1536, 2048]
results = measure_attention_cost(LENGTHS, d=64, batch=1, heads=2, repeats=7, warmup=1, threads=1)

MIB = 2**20
print(f"{'n':>5}  {'method':>8}  {'time (ms)':>10}  {'peak (MiB)':>10}  {'weights (MiB)':>13}  peak/weights")
for r in results:
    print(
        f"{r.n:>5}  {r.method:>8}  {1e3 * r.seconds:>10.2f}  {r.peak_bytes / MIB:>10.2f}  "
        f"{r.weights_bytes / MIB:>13.2f}  {r.peak_bytes / r.weights_bytes:>12.3f}"
    )

# %% [markdown]
# The exponent $p$ in $\text{cost} \propto n^p$ is the slope of a straight line through the
# points on log-log axes. For time we fit only $n \geq 512$: for short sequences a fixed cost per
# call (Python, dispatch, allocation) hides the $n^2$ term.

# %%
FIT_FROM = 512
slopes = {}
for method in ("explicit", "fused"):
    rows = [r for r in results if r.method == method]
    long_rows = [r for r in rows if r.n >= FIT_FROM]
    slopes[method] = fit_loglog_slope([r.n for r in long_rows], [r.seconds for r in long_rows])
    memory_slope = fit_loglog_slope([r.n for r in rows], [r.peak_bytes for r in rows])
    print(
        f"{method:>8}: time grows like n^{slopes[method]:.2f} (n >= {FIT_FROM}), "
        f"peak memory like n^{memory_slope:.2f}"
    )

# %%
fig, (ax_time, ax_mem) = new_figure(ncols=2, width=8.0, height=3.4)
styles = {
    "explicit": (PALETTE[0], "o", "explicit (book_code)"),
    "fused": (PALETTE[1], "s", "fused (PyTorch)"),
}
for method, (colour, marker, label) in styles.items():
    rows = [r for r in results if r.method == method]
    ns = [r.n for r in rows]
    ax_time.plot(ns, [1e3 * r.seconds for r in rows], marker=marker, color=colour,
                 label=f"{label}, fitted slope {slopes[method]:.2f}")
    ax_mem.plot(ns, [r.peak_bytes / MIB for r in rows], marker=marker, color=colour, label=label)

# A slope-2 reference through the explicit path's last point: y = c n^2.
last = [r for r in results if r.method == "explicit"][-1]
reference = [1e3 * last.seconds * (n / last.n) ** 2 for n in LENGTHS]
ax_time.plot(LENGTHS, reference, linestyle="--", color=PALETTE[7], label="slope 2 (reference)")
weights = [r.weights_bytes / MIB for r in results if r.method == "explicit"]
ax_mem.plot(LENGTHS, weights, linestyle="--", color=PALETTE[7], label="one weight matrix (computed)")

for ax in (ax_time, ax_mem):
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length $n$ (tokens)")
    ax.legend(fontsize=8)
ax_time.set_ylabel("median wall time per call (ms)")
ax_mem.set_ylabel("peak allocated memory (MiB)")
ax_time.set_title("time", fontsize=10)
ax_mem.set_title("memory", fontsize=10)
BookFigure(
    fig,
    "ch02-cost",
    alt=(
        "Two log-log plots against sequence length from 128 to 2048. Left: median wall time per "
        "call of the explicit and the fused attention, with a dashed reference line of slope 2. "
        "Right: peak allocated memory of both, with a dashed line for the size of one n-by-n "
        "weight matrix; the explicit path lies above that line, the fused kernel far below it."
    ),
    caption=(
        "Figure 2.2: cost of self-attention on this machine's CPU (batch 1, 2 heads, d = 64, "
        "float32, one thread). Left: time; right: peak memory held by PyTorch's allocator."
    ),
)
