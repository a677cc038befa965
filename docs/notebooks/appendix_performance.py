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
# # Appendix: performance
#
# How fast is the book's code? This page compares it with PyTorch's own modules on the
# machine that built the book: the multi-head attention layer of
# [Chapter 3](../../chapters/03-multi-head/), the explicit attention of
# [Chapter 2](../../chapters/02-scaled-dot-product/) against PyTorch's fused kernel, the
# encoder layer and the classifier of [Chapter 5](../../chapters/05-encoder/). Every number
# comes from one run of the book's benchmark command, saved as
# `docs/appendix/performance_results.json`; this page only reads that file, so building
# the book never benchmarks anything. To measure your own machine, run from the
# repository root
#
# ```bash
# python -m benchmarks --output docs/appendix/performance_results.json
# ```
#
# and rebuild the book (the run takes several minutes; `python -m benchmarks --help` lists
# the options, and `--quick` is a smoke test with tiny sizes whose numbers mean nothing).

# %%
import json
from pathlib import Path

import numpy as np
from IPython.display import Markdown, display
from matplotlib.ticker import NullLocator

import book_code
from book_code.figures import PALETTE, BookFigure, new_figure

NAME = Path("docs") / "appendix" / "performance_results.json"


def find_results() -> Path:
    """The results file of the repository this notebook belongs to."""
    candidates = [Path(book_code.__file__).resolve().parents[1], Path.cwd(), *Path.cwd().parents]
    for folder in candidates:
        if (folder / NAME).is_file():
            return folder / NAME
    raise FileNotFoundError(f"no {NAME} above {Path.cwd()}; run `python -m benchmarks --output {NAME}`")


def table(header: list[str], rows: list[list[object]]) -> Markdown:
    """A Markdown table; numbers right-aligned."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(":--" if i == 0 else "--:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


def length_axis(ax, lengths) -> None:
    """A logarithmic x axis labelled with the measured sequence lengths only."""
    ax.set_xscale("log")
    ax.set_xticks(list(lengths), [str(n) for n in lengths])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("sequence length n (tokens)")


def ms(summary: dict) -> str:
    """Median and interquartile range of a timing summary, in milliseconds."""
    return f"{1e3 * summary['median']:.3g} ({1e3 * summary['q1']:.3g}–{1e3 * summary['q3']:.3g})"


def ratio(summary: dict) -> str:
    """Median of the paired ratios, with their quartiles."""
    return f"{summary['ratio']:.3f} ({summary['q1']:.2f}–{summary['q3']:.2f})"


results = json.loads(find_results().read_text(encoding="utf-8"))
hardware, versions = results["hardware"], results["versions"]
if results["quick"]:
    display(Markdown("**Warning: these results come from a `--quick` smoke run; they measure nothing.**"))
display(
    table(
        ["", "this run"],
        [
            ["date (UTC)", results["date"]],
            ["command", f"`{results['command']}`"],
            ["CPU", f"{hardware['cpu_model']} ({', '.join(hardware['cpu_flags'])})"],
            ["logical cores", hardware["logical_cores"]],
            ["memory", f"{hardware['memory_total_bytes'] / 2**30:.1f} GiB"],
            ["PyTorch threads", f"{hardware['torch_threads']} ({hardware['torch_parallel_backend']})"],
            ["Python / PyTorch / NumPy", f"{versions['python']} / {versions['torch']} / {versions['numpy']}"],
            ["seed", results["seed"]],
            [
                "load average at start, end (1 min)",
                f"{results['load_average']['start'][0]}, {results['load_average']['end'][0]}",
            ],
            ["duration of the run", f"{results['elapsed_seconds']['total'] / 60:.1f} min"],
        ],
    )
)

# %% [markdown]
# ## How the numbers are taken
#
# * **Same function, same weights.** Each comparison builds PyTorch's module, copies its
#   weights into the book's (`from_torch`), feeds both the same input and records the
#   largest difference between their outputs (`max_abs_diff` in the results file): a timing
#   difference can then only come from *how* the two compute, not *what*.
# * **Forward and backward.** Attention layers and encoder layers are timed as in training:
#   one call is a forward pass, the sum of the output as a loss, and the backward pass,
#   with the gradients reset first. The classifier is timed by whole optimizer steps.
# * **Warm-up, then samples.** Warm-up calls of each implementation come first (the first
#   call pays for allocator growth and kernel selection); they are not samples, but the
#   last one estimates the time per call. A *sample* is the mean time of enough
#   back-to-back calls to last at least a tenth of a second; the number of samples (at
#   least five) is what fits a time budget. Python's garbage collector is off while a
#   sample is taken, as in `timeit`.
# * **Interleaved.** The two implementations take turns, in alternating order (A B, B A,
#   A B, ...), so that a burst of load from another process slows both halves of a
#   repetition alike. Each pair of samples gives a *paired ratio*. The matrix-product
#   yardstick described below is timed between the two, in every repetition.
# * **Robust summaries.** Times are summarised by their median and interquartile range
#   (IQR, the middle half of the samples), shown as *median (first quartile–third
#   quartile)*. A ratio is the median of the paired ratios, shown with their quartiles.
#   The load on a shared machine can change from one repetition to the next; it cancels
#   in each paired ratio, but not in the ratio of the two medians, which can compare a
#   sample taken before a change with one taken after it (the results file keeps that
#   ratio too, as `ratio_of_medians`). When the quartiles of the paired ratios are close,
#   the comparison is stable even if the machine was not.
# * **One thread.** The whole run uses one PyTorch thread (`--threads` changes it). On a
#   machine that other work shares, two threads that must wait for each other turn every
#   interruption of either into a stall of both; with one thread an interruption only
#   costs its own length. The matrix-multiply yardstick below uses the same thread count.
#
# ## Counting the arithmetic
#
# Let $B$ be the batch size, $n$ the sequence length, $E$ the model width, $H$ the number
# of heads and $d_h = E/H$ the head width; a multiply-add counts as two floating-point
# operations (FLOPs). For one head, $QK^\top$ multiplies an $n \times d_h$ matrix by a
# $d_h \times n$ one: $n^2$ dot products of length $d_h$, so $2n^2 d_h$ FLOPs. The weighted
# sum $PV$ multiplies $n \times n$ by $n \times d_h$: another $2n^2 d_h$. Over the batch
# and the heads the attention core costs
#
# $$ F_\text{core} = 4\,B H n^2 d_h = 4\,B n^2 E. $$
#
# The four projections $W_Q, W_K, W_V, W_O$ each map $Bn$ token vectors of width $E$ to
# width $E$, $2BnE^2$ FLOPs apiece:
#
# $$ F_\text{proj} = 8\,B n E^2, \qquad \frac{F_\text{core}}{F_\text{proj}} = \frac{n}{2E}. $$
#
# So the projections dominate short sequences and the core dominates long ones; they are
# equal at $n = 2E$, which is 256 for the width 128 measured here. Time should therefore
# grow about linearly in $n$ for short sequences and quadratically for long ones: a slope
# between 1 and 2 on a log-log plot. The backward pass computes, for every matrix product
# of the forward, the gradients with respect to both factors, two products of the same
# size; a training step costs $3(F_\text{core} + F_\text{proj})$. An encoder layer adds
# the feed-forward network, $4BnEF$ FLOPs for hidden width $F$. These counts (in
# `benchmarks/flops.py`) are checked against `torch.utils.flop_counter` in the tests.
# Softmax, layer norms, dropout and copies are not counted: they do few FLOPs, but, as
# the profiles below show, not always little time.
#
# The benchmark also times a large square float32 matrix product, which the BLAS library
# runs close to the CPU's peak: on its own at the start and at the end of the run, and
# inside every comparison, between the two implementations in every repetition. Dividing
# a case's FLOPs by its time gives its achieved rate; dividing that by the rate of the
# matrix product *in the same repetition* says how far the case is from what this machine
# could do at that moment. The median of those fractions over the repetitions is the
# case's fraction of the machine's best. Measuring the yardstick alongside matters on a
# shared machine: a burst of load that slows a case down slows its yardstick down too.

# %%
matmul = results["matmul"]
peak_gflops = matmul["gflops"]["median"]
print(
    f"{matmul['size']} x {matmul['size']} float32 matrix product: {peak_gflops:.1f} GFLOP/s "
    f"(quartiles {matmul['gflops']['q1']:.1f}-{matmul['gflops']['q3']:.1f}, "
    f"{matmul['seconds']['n']} samples, taken at the start and at the end of the run)"
)

# %% [markdown]
# ## The targets
#
# The book's fast paths should cost at most 10% more time than PyTorch's, and training
# the book's classifier should reach at least 90% of the throughput of the same model
# built from `torch.nn.TransformerEncoder`. The worst case over all measured sequence
# lengths decides; the geometric mean over the lengths is shown beside it. A ratio below 1
# means the book's code was faster.

# %%
rows = []
for name, target in results["targets"].items():
    if "met" not in target:
        rows.append([name, target["description"], "", "", "", target["status"]])
        continue
    verdict = "met" if target["met"] else "**missed**"
    rows.append(
        [
            name,
            target["description"],
            f"{target['comparison']} {target['threshold']}",
            f"{target['worst']:.3f}",
            f"{target['geometric_mean']:.3f}",
            verdict,
        ]
    )
display(table(["target", "what", "threshold", "worst case", "geometric mean", "verdict"], rows))

# %% [markdown]
# ## Multi-head attention
#
# `book_code.attention.MultiHeadAttention` against `torch.nn.MultiheadAttention` with
# the same weights, self-attention, forward and backward. *Fast path*: neither returns the
# attention weights, and both call PyTorch's fused kernel
# `torch.nn.functional.scaled_dot_product_attention`. *With weights*: both return the
# per-head weights (PyTorch with `average_attn_weights=False`, so that both return the same
# tensor), which forces both to build the $n \times n$ matrix explicitly.

# %%
mha = results["mha"]
settings = results["settings"]["mha"]
print(
    f"batch {settings['batch']}, embed_dim {settings['embed_dim']}, {settings['num_heads']} heads; "
    "times in ms per forward + backward, median (IQR)"
)
rows = []
for case in mha["cases"]:
    rows.append(
        [
            "with weights" if case["need_weights"] else "fast path",
            case["seq_len"],
            ms(case["seconds"]["book"]),
            ms(case["seconds"]["torch"]),
            ratio(case["book_over_torch"]),
            f"{case['gflops']['book']:.1f}",
            f"{case['gflops']['torch']:.1f}",
            f"{case['max_abs_diff']:.1e}",
            case["seconds"]["book"]["n"],
        ]
    )
display(
    table(
        [
            "path",
            "n",
            "book ms",
            "torch ms",
            "book / torch",
            "book GFLOP/s",
            "torch GFLOP/s",
            "largest output difference",
            "samples",
        ],
        rows,
    )
)

# %%
fig, (ax_time, ax_ratio) = new_figure(ncols=2, width=9.0, height=3.4)
for need_weights, style in ((False, "-"), (True, "--")):
    cases = [c for c in mha["cases"] if c["need_weights"] == need_weights]
    n = np.array([c["seq_len"] for c in cases])
    label = "with weights" if need_weights else "fast path"
    for name, color, marker in (("book", PALETTE[0], "o"), ("torch", PALETTE[1], "s")):
        ax_time.plot(
            n,
            [1e3 * c["seconds"][name]["median"] for c in cases],
            style,
            marker=marker,
            color=color,
            label=f"{name}, {label}",
        )
    r = np.array([c["book_over_torch"]["ratio"] for c in cases])
    low = r - np.array([c["book_over_torch"]["q1"] for c in cases])
    high = np.array([c["book_over_torch"]["q3"] for c in cases]) - r
    ax_ratio.errorbar(
        n,
        r,
        yerr=np.clip([low, high], 0, None),
        fmt=style,
        marker="o",
        capsize=3,
        color=PALETTE[2 if need_weights else 0],
        label=label,
    )
cases = [c for c in mha["cases"] if not c["need_weights"]]
n = np.array([c["seq_len"] for c in cases])
ax_time.plot(
    n,
    [1e3 * c["flops"] / (peak_gflops * 1e9) for c in cases],
    ":",
    color=PALETTE[7],
    label="FLOPs at matmul rate",
)
ax_time.set(yscale="log", ylabel="time per step (ms)")
length_axis(ax_time, n)
ax_time.legend(fontsize=7)
ax_ratio.axhline(1.10, color=PALETTE[3], linestyle=":", label="target 1.10 (fast path)")
ax_ratio.axhline(1.0, color=PALETTE[7], linewidth=0.8)
ax_ratio.set(ylabel="time ratio book / torch")
length_axis(ax_ratio, n)
ax_ratio.legend(fontsize=8)
BookFigure(
    fig,
    "appendix-mha",
    alt=(
        "Left: log-log plot of forward-plus-backward time against sequence length for the book's "
        "and PyTorch's multi-head attention, with and without returned weights, and the time the "
        "FLOP count would take at the measured matrix-multiply rate. Right: the ratio of the book's "
        "time to PyTorch's against sequence length, with interquartile bars and the 1.10 target line."
    ),
    caption=(
        "Figure A.1: multi-head attention, book against PyTorch (same weights, batch 32, width 128, "
        "4 heads). Right: median of the paired ratios, with bars spanning their quartiles."
    ),
)

# %% [markdown]
# Where does the difference come from? The profiler's operator table for the fast path at
# one length answers it. Self time is the time spent in an operator itself, not in the
# operators it calls; the rows are per training step.


# %%
def profile_table(profiles: dict, limit: int = 8) -> Markdown:
    names = list(profiles)
    header = [h for name in names for h in (f"{name}: operator", "calls", "self ms")]
    rows = []
    for i in range(limit):
        row = []
        for name in names:
            ops = profiles[name]
            if i < len(ops):
                row += [f"`{ops[i]['name'][:48]}`", f"{ops[i]['calls']:g}", f"{ops[i]['self_ms']:.2f}"]
            else:
                row += ["", "", ""]
        rows.append(row)
    return table(header, rows)


for need_weights in (False, True):
    case = next(c for c in mha["cases"] if "profile" in c and c["need_weights"] == need_weights)
    print(f"{'with weights' if need_weights else 'fast path'}, n = {case['seq_len']}:")
    display(profile_table(case["profile"]))

# %% [markdown]
# On the fast path both implementations spend most of their time in the same fused
# attention kernel and the same matrix products (`mm`, `addmm`), so they can only differ in
# what surrounds them. `torch.nn.MultiheadAttention` works internally in the
# sequence-first layout `(n, batch, E)`: with `batch_first=True` it transposes its input
# and output and makes several tensors contiguous along the way, which shows up as extra
# `copy_` and `fill_` time in its column. The book's layer splits the heads with views
# (`view` and `transpose`, no copy) and hands the strided tensors straight to the kernel.
#
# With weights, both build the $n \times n$ scores explicitly, and both multiply the
# *queries* by $1/\sqrt{d_k}$ before the product, an $n \times d_h$ tensor, rather than
# the scores after it, an $n \times n$ tensor. The scores are the same up to rounding,
# but scaling them afterwards would cost one more pass over $n/d_h$ times as many
# elements, and one more $n \times n$ tensor to allocate, in the forward pass and again in
# the backward pass: at the longer lengths that pass would show up as `mul` rows in the
# profile. What remains of the difference is the bookkeeping around the kernels.
#
# ## Explicit attention against the fused kernel
#
# The teaching version, `book_code.attention.scaled_dot_product_attention`, computes
# the scores, the softmax and the weighted sum as three separate steps and returns the
# weights. PyTorch's `torch.nn.functional.scaled_dot_product_attention` runs a fused,
# tiled kernel in the spirit of FlashAttention
# ([Dao et al., 2022](../../bibliography/#dao2022)): it walks over blocks of keys, keeps a
# running maximum and running sum for the softmax
# ([Milakov and Gimelshein, 2018](../../bibliography/#milakov2018)), and never stores the
# $n \times n$ matrix. Both are timed forward only (inference, no autograd graph) and
# forward + backward, on inputs of shape `(batch, heads, n, head_dim)`.
#
# **How memory is measured.** On a CPU there is no counter of peak memory to reset, and
# the process's resident size only ever grows. Instead, the PyTorch profiler records every
# allocation and release of its CPU allocator, with a timestamp
# (`profile_memory=True`); replaying them in order gives the bytes held at every moment,
# and the largest value above the level at the start is the call's peak. This is the
# function that Chapter 2 uses, `book_code.attention.cost.peak_allocated_bytes`. It counts
# every tensor the call allocates, including scratch buffers that a kernel frees before it
# returns, and nothing else (no Python objects, no memory the allocator keeps cached). As a
# check against theory, the table gives the peak in units of one weight matrix,
# $W = 4BHn^2$ bytes in float32. The explicit forward should hold about two of them at
# once (the scores, and the softmax's output while it is written); forward + backward
# about three (the weights kept for the backward pass, their gradient, and the gradient of
# the scores). The fused kernel's peak should be a vanishing fraction of $W$ that shrinks
# as $n$ grows: its memory grows like $n$, not $n^2$.

# %%
sdpa = results["sdpa"]
s = results["settings"]["sdpa"]
print(f"batch {s['batch']}, {s['heads']} heads, head_dim {s['head_dim']}; times in ms, median (IQR)")
rows = []
for case in sdpa["cases"]:
    for mode, label in (("forward", "forward"), ("forward_backward", "fwd + bwd")):
        m = case[mode]
        w = case["weights_bytes"]
        rows.append(
            [
                case["seq_len"],
                label,
                ms(m["seconds"]["explicit"]),
                ms(m["seconds"]["fused"]),
                ratio(m["explicit_over_fused"]),
                f"{m['peak_bytes']['explicit'] / 2**20:.1f}",
                f"{m['peak_bytes']['fused'] / 2**20:.2f}",
                f"{w / 2**20:.1f}",
                f"{m['peak_bytes']['explicit'] / w:.2f}",
                f"{m['peak_bytes']['fused'] / w:.4f}",
            ]
        )
display(
    table(
        [
            "n",
            "mode",
            "explicit ms",
            "fused ms",
            "explicit / fused",
            "explicit peak MiB",
            "fused peak MiB",
            "W MiB",
            "explicit peak / W",
            "fused peak / W",
        ],
        rows,
    )
)
print("log-log slopes against n (time ~ n^slope, memory ~ n^slope):")
for key, value in sdpa["loglog_slopes"].items():
    print(f"  {key:<36} {value:5.2f}")

# %%
fig, (ax_time, ax_mem) = new_figure(ncols=2, width=9.0, height=3.4)
n = np.array([c["seq_len"] for c in sdpa["cases"]])
for mode, style in (("forward_backward", "-"), ("forward", "--")):
    label = "fwd + bwd" if mode == "forward_backward" else "forward"
    for name, color, marker in (("explicit", PALETTE[3], "o"), ("fused", PALETTE[0], "s")):
        ax_time.plot(
            n,
            [1e3 * c[mode]["seconds"][name]["median"] for c in sdpa["cases"]],
            style,
            marker=marker,
            color=color,
            label=f"{name}, {label}",
        )
        ax_mem.plot(
            n,
            [max(c[mode]["peak_bytes"][name], 1) / 2**20 for c in sdpa["cases"]],
            style,
            marker=marker,
            color=color,
            label=f"{name}, {label}",
        )
ax_time.plot(
    n,
    [1e3 * 3 * c["forward"]["flops"] / (peak_gflops * 1e9) for c in sdpa["cases"]],
    ":",
    color=PALETTE[7],
    label="fwd + bwd FLOPs at matmul rate",
)
ax_mem.plot(
    n, [c["weights_bytes"] / 2**20 for c in sdpa["cases"]], ":", color=PALETTE[7], label="one weight matrix W"
)
for ax in (ax_time, ax_mem):
    ax.set(yscale="log")
    length_axis(ax, n)
    ax.legend(fontsize=7)
ax_time.set_ylabel("time per call (ms)")
ax_mem.set_ylabel("peak allocated memory (MiB)")
BookFigure(
    fig,
    "appendix-sdpa",
    alt=(
        "Left: log-log plot of time against sequence length for explicit and fused attention, "
        "forward only and forward plus backward, with the FLOP count at the matrix-multiply rate. "
        "Right: peak allocated memory against sequence length for the same four cases and the size "
        "of one attention-weight matrix; the explicit lines run parallel to the weight-matrix line, "
        "the fused lines lie far below it and rise more slowly."
    ),
    caption=(
        "Figure A.2: the book's explicit attention against PyTorch's fused kernel: time (left) and "
        "peak memory from the profiler's allocation records (right)."
    ),
)

# %% [markdown]
# Both paths do the same matrix products, so the gap in time is not arithmetic. The
# explicit path writes the $n \times n$ scores to memory, reads them back to scale them,
# again for the softmax, and again for the product with $V$; the backward pass reads and
# writes matrices of the same size several times more. Once $W$ no longer fits in the
# processor's caches, every one of those passes runs at the speed of main memory, while
# the fused kernel keeps each tile of scores in cache from its computation to its use. The
# printed slopes show the consequence: the explicit path's memory grows like $n^2$ (slope
# near 2) and the fused kernel's far more slowly. The teaching path is slower by design;
# it is there to be read, and to return the weights, which the book inspects and plots.
#
# ## The encoder layer and the classifier
#
# `book_code.encoder.EncoderLayer` against `torch.nn.TransformerEncoderLayer`, same
# weights (`EncoderLayer.from_torch`), PyTorch's defaults (post-LN, ReLU), forward +
# backward. Dropout is 0 here so that both use the fused attention kernel; with dropout
# on the attention weights PyTorch's CPU kernel does not apply and both fall back to an
# explicit computation, as in the training benchmark below.

# %%
layer = results["encoder_layer"]
s = results["settings"]["encoder_layer"]
print(
    f"batch {s['batch']}, embed_dim {s['embed_dim']}, {s['num_heads']} heads, ff_dim {s['ff_dim']}; "
    "times in ms per forward + backward, median (IQR)"
)
rows = [
    [
        c["seq_len"],
        ms(c["seconds"]["book"]),
        ms(c["seconds"]["torch"]),
        ratio(c["book_over_torch"]),
        f"{c['gflops']['book']:.1f}",
        f"{c['gflops']['torch']:.1f}",
        f"{c['max_abs_diff']:.1e}",
    ]
    for c in layer["cases"]
]
display(
    table(
        [
            "n",
            "book ms",
            "torch ms",
            "book / torch",
            "book GFLOP/s",
            "torch GFLOP/s",
            "largest output difference",
        ],
        rows,
    )
)
case = next(c for c in layer["cases"] if "profile" in c)
print(f"operators at n = {case['seq_len']}:")
display(profile_table(case["profile"]))

# %% [markdown]
# The training benchmark trains the small classifier of the later chapters, built twice:
# `book_code.encoder.TransformerClassifier`, and `benchmarks.reference.TorchEncoderClassifier`,
# which has the same token and position embeddings, mean pooling and linear head around a
# `torch.nn.TransformerEncoder`. The book's model receives the reference model's weights,
# both see the same padded batches in the same order, and each has its own AdamW
# optimizer. Throughput counts the real (non-padding) tokens per second of full optimizer
# steps.

# %%
train = results["training"]
s = results["settings"]["training"]
print(
    f"{s['num_layers']} layers, embed_dim {s['embed_dim']}, {s['num_heads']} heads, ff_dim {s['ff_dim']}, "
    f"dropout {s['dropout']}, norm_first {s['norm_first']}, {s['activation']}; batch {s['batch']} x "
    f"{s['seq_len']} positions, {train['real_tokens_per_step']:.0f} real tokens per step on average; "
    f"{train['parameters']['book']:,} parameters in each model"
)
rows = []
for name in ("book", "torch"):
    sec = train["seconds"][name]
    tokens = train["real_tokens_per_step"]
    rows.append(
        [
            name,
            ms(sec),
            f"{train['tokens_per_second'][name]:,.0f}",
            f"{tokens / sec['q3']:,.0f}–{tokens / sec['q1']:,.0f}",
            sec["n"],
        ]
    )
display(table(["model", "ms per step", "tokens / s", "tokens / s (IQR)", "samples"], rows))
print(f"throughput book / torch: {ratio(train['throughput_book_over_torch'])}")
display(profile_table(train["profile"]))

# %%
fig, (ax_layer, ax_train) = new_figure(ncols=2, width=9.0, height=3.2)
n = np.array([c["seq_len"] for c in layer["cases"]])
r = np.array([c["book_over_torch"]["ratio"] for c in layer["cases"]])
bars = np.clip(
    [
        r - np.array([c["book_over_torch"]["q1"] for c in layer["cases"]]),
        np.array([c["book_over_torch"]["q3"] for c in layer["cases"]]) - r,
    ],
    0,
    None,
)
ax_layer.errorbar(n, r, yerr=bars, fmt="-o", capsize=3, color=PALETTE[0], label="EncoderLayer, book / torch")
ax_layer.axhline(1.10, color=PALETTE[3], linestyle=":", label="target 1.10")
ax_layer.axhline(1.0, color=PALETTE[7], linewidth=0.8)
ax_layer.set(ylabel="time ratio book / torch")
length_axis(ax_layer, n)
ax_layer.legend(fontsize=8)
names = ["book", "torch"]
tokens = train["real_tokens_per_step"]
medians = [train["tokens_per_second"][name] for name in names]
low = [medians[i] - tokens / train["seconds"][name]["q3"] for i, name in enumerate(names)]
high = [tokens / train["seconds"][name]["q1"] - medians[i] for i, name in enumerate(names)]
ax_train.bar(names, medians, yerr=[low, high], capsize=4, color=[PALETTE[0], PALETTE[1]])
ax_train.axhline(
    0.9 * train["tokens_per_second"]["torch"], color=PALETTE[3], linestyle=":", label="target: 0.9 x torch"
)
ax_train.set(ylabel="training throughput (real tokens / s)", ylim=(0, 1.3 * max(medians)))
ax_train.legend(fontsize=8, loc="upper center")
BookFigure(
    fig,
    "appendix-encoder",
    alt=(
        "Left: ratio of the book's encoder-layer time to PyTorch's against sequence length, with "
        "interquartile bars and the 1.10 target line. Right: bars of training throughput in real "
        "tokens per second for the book's classifier and the PyTorch-encoder classifier, with "
        "interquartile error bars and a line at 90% of PyTorch's throughput."
    ),
    caption=(
        "Figure A.3: the encoder layer (left, forward + backward, same weights) and classifier "
        "training throughput (right, full AdamW steps)."
    ),
)

# %% [markdown]
# ## How far from the machine's best
#
# The table and the last figure give every case's achieved rate as a fraction of the
# matrix-product rate measured in the same repetitions (median, with the quartiles). A
# value of 1 would mean the computation runs as fast as one large, square matrix product,
# which is close to the most this processor does for any float32 work.

# %%
BOOK_TORCH, EXPLICIT_FUSED = ("book", "torch"), ("explicit", "fused")
rows = [["MHA fast path", c["seq_len"], c, BOOK_TORCH] for c in mha["cases"] if not c["need_weights"]]
rows += [["encoder layer", c["seq_len"], c, BOOK_TORCH] for c in layer["cases"]]
rows += [
    ["attention core, fwd + bwd", c["seq_len"], c["forward_backward"], EXPLICIT_FUSED] for c in sdpa["cases"]
]
rows += [["classifier training step", results["settings"]["training"]["seq_len"], train, BOOK_TORCH]]


def fraction(case: dict, name: str) -> str:
    low, high = case["fraction_of_matmul_iqr"][name]
    return f"{case['fraction_of_matmul'][name]:.0%} ({low:.0%}–{high:.0%})"


display(
    table(
        ["case", "n", "book or explicit", "torch or fused", "matmul GFLOP/s alongside"],
        [
            [label, n, fraction(c, first), fraction(c, second), f"{c['matmul_gflops']:.1f}"]
            for label, n, c, (first, second) in rows
        ],
    )
)


# %%
def fraction_curve(ax, cases: list[dict], name: str, fmt: str, color: str, label: str) -> None:
    n = np.array([c["seq_len"] for c in cases])
    parts = [c["forward_backward"] if "forward_backward" in c else c for c in cases]
    mid = np.array([p["fraction_of_matmul"][name] for p in parts])
    iqr = np.array([p["fraction_of_matmul_iqr"][name] for p in parts]).T
    ax.errorbar(
        n,
        mid,
        yerr=np.clip([mid - iqr[0], iqr[1] - mid], 0, None),
        fmt=fmt,
        color=color,
        capsize=2,
        label=label,
    )


fig, ax = new_figure(width=6.4, height=3.6)
fast = [c for c in mha["cases"] if not c["need_weights"]]
for name, color in (("book", PALETTE[0]), ("torch", PALETTE[1])):
    fraction_curve(ax, fast, name, "-o", color, f"MHA fast path, {name}")
    fraction_curve(ax, layer["cases"], name, "--s", color, f"encoder layer, {name}")
fraction_curve(ax, sdpa["cases"], "fused", ":^", PALETTE[2], "attention core, fused")
fraction_curve(ax, sdpa["cases"], "explicit", ":v", PALETTE[3], "attention core, explicit")
ax.axhline(1.0, color=PALETTE[7], linewidth=0.8)
ax.set(ylabel="achieved / matmul rate", ylim=(0, None))
ticks = sorted({c["seq_len"] for c in fast + layer["cases"] + sdpa["cases"]})
length_axis(ax, ticks)
ax.legend(fontsize=7, ncols=2)
BookFigure(
    fig,
    "appendix-efficiency",
    alt=(
        "Fraction of the matrix-multiply throughput measured alongside, against sequence length, "
        "for the multi-head attention fast path and the encoder layer (book and PyTorch) and for "
        "the fused and explicit attention cores, all forward plus backward, with interquartile bars "
        "and a line at 1 for the matrix-product rate."
    ),
    caption=(
        "Figure A.4: achieved FLOP rate as a fraction of the float32 matrix-product rate measured "
        "in the same repetitions (median and quartiles)."
    ),
)

# %% [markdown]
# Why the layers stay below the yardstick:
#
# * **Thin products.** The attention core multiplies matrices whose inner dimension is
#   the head width $d_h$ (here 32). A product $QK^\top$ does $2d_h$ FLOPs per score it
#   writes, far fewer per byte moved than a square product with a long inner dimension,
#   so it is limited by memory traffic, not by arithmetic.
# * **Uncounted work.** The exponentials of the softmax, layer norms, dropout masks,
#   biases, residual additions and layout copies take time but no counted FLOPs; the
#   profiles above show how much.
# * **Recomputation.** The fused kernel's backward pass recomputes the scores instead of
#   storing them, a deliberate trade of FLOPs for memory that the count above does not
#   credit.
# * **Small problems.** At short sequence lengths each product is small, and fixed costs
#   per operator (Python, dispatch, thread start-up) weigh more.
#
# The comparison with PyTorch is the fairer test of the book's code: on the same machine,
# with the same kernels available, the question is only whether the book's layers waste
# anything around them, and the targets above answer it for this run.
