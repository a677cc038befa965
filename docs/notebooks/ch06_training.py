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
# # Chapter 6 notebook: training and debugging
#
# This notebook shows the measurements of chapter 6. The expensive parts were run once by
# documented commands and are read from their results files: the chapter's training runs,
# the bag-of-words baselines and the throughput comparison
# (`python -m book_code.training.experiments --output docs/chapters/results/ch06_results.json`),
# the hyperparameter sweep
# (`python -m book_code.training.sweep --output docs/chapters/results/ch06_sweep.json`), and the
# trained model itself
# (`python -m book_code.train --patience 0 --threads 1 --no-progress
# --output docs/chapters/results/ch06_model`).
# Everything else runs here, in well under a minute on one CPU thread: the evaluation of the
# saved model, and the four debugging tools on fresh and trained models.

# %%
import itertools
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

import book_code
from book_code.data import fit_bow_baseline, make_dataloader, make_synthetic_sentiment
from book_code.data.synthetic import columns
from book_code.encoder import TransformerClassifier
from book_code.figures import PALETTE, BookFigure, new_figure
from book_code.train import MODEL_FIELDS, synthetic_datasets
from book_code.training import (
    calibration_bins,
    classification_metrics,
    expected_calibration_error,
    load_classifier,
    parameter_groups,
    predict,
    warmup_cosine_schedule,
)
from book_code.training.debug import (
    attention_entropy_per_head,
    gradient_norms,
    lr_range_test,
    overfit_one_batch,
    parameter_snapshot,
    update_to_weight_ratios,
)
from book_code.training.experiments import CHAPTER_CONFIG
from book_code.training.sweep import summarise
from book_code.visualization import training_curves

# The model is tiny: one thread is faster than several competing for the cores.
torch.set_num_threads(1)
torch.manual_seed(0)
RESULTS = Path("docs") / "chapters" / "results"


def find(name: str) -> Path:
    """A file under docs/chapters/results of the repository this notebook belongs to."""
    for folder in [Path(book_code.__file__).resolve().parents[1], Path.cwd(), *Path.cwd().parents]:
        if (folder / RESULTS / name).exists():
            return folder / RESULTS / name
    raise FileNotFoundError(f"no {RESULTS / name}; run the command named at the top of this notebook")


results = json.loads(find("ch06_results.json").read_text(encoding="utf-8"))
sweep = json.loads(find("ch06_sweep.json").read_text(encoding="utf-8"))
model, vocab, checkpoint = load_classifier(find("ch06_model") / "checkpoint.pt")
config = CHAPTER_CONFIG
vocab_check, datasets = synthetic_datasets(config)
assert vocab_check.itos == vocab.itos, "the checkpoint's vocabulary is not the task's"

# %% [markdown]
# ## The chapter's training run
#
# The chapter's model (two pre-LN layers, width 64, 4 heads, rotary positions, `[CLS]`
# pooling) trained for 8 epochs with AdamW at a peak learning rate of 3e-3, 10% warm-up and
# cosine decay. The table gives the test results of the run with seed 0 and, for the spread,
# of two more seeds; the figure shows seed 0's history.

# %%
transformer = results["transformer"]
print(f"parameters: {transformer['parameters']:,}; best epoch (by dev accuracy): {transformer['best_epoch']}")
print(f"test accuracy {transformer['test_accuracy']:.3f}, macro F1 {transformer['test_macro_f1']:.3f}, "
      f"ECE {transformer['test_ece']:.4f}")
print(f"{'seed':>4} {'dev acc':>8} {'test acc':>9} {'negation':>9} {'contrast':>9} {'train s':>8}")
for run in results["seed_runs"]:
    print(f"{run['seed']:>4} {run['dev_accuracy']:>8.3f} {run['test_accuracy']:>9.3f} "
          f"{run['by_phenomenon']['negation']:>9.3f} {run['by_phenomenon']['contrast']:>9.3f} "
          f"{run['train_seconds']:>8.1f}")
print("steps clipped per epoch:", [f"{h['clipped_fraction']:.0%}" for h in transformer["history"]])

# %%
fig = training_curves(transformer["history"], loss_keys=["train_loss", "dev_loss"],
                      metric_keys=["dev_accuracy", "dev_macro_f1"])
for ax, label in zip(fig.axes, ("cross-entropy loss (nats)", "dev metric"), strict=True):
    ax.set_ylabel(label)
BookFigure(
    fig,
    "ch06-curves",
    alt=(
        "Two line plots over the 8 training epochs. Left: training loss and dev loss both "
        "fall steadily from about 0.6 to a few hundredths. Right: dev accuracy and dev macro "
        "F1 rise together from below 0.8 to nearly 1. A dotted vertical line marks the epoch "
        "with the best dev accuracy."
    ),
    caption=(
        "Figure 6.1: training history of the chapter's model (seed 0): mean training loss per "
        "epoch, dev loss, dev accuracy and dev macro F1. The dotted line marks the best epoch, "
        "whose weights are kept."
    ),
)

# %% [markdown]
# ## Evaluating the saved model
#
# The checkpoint holds the weights of the best epoch of the seed-0 run; reloaded, it must
# reproduce that run's test numbers exactly.

# %%
test_loader = make_dataloader(datasets["test"], 256, shuffle=False)
logits, labels, meta = predict(model, test_loader, torch.device("cpu"))
metrics = classification_metrics(logits, labels)
print(f"reloaded checkpoint (epoch {checkpoint.extra['epoch']}): test accuracy {metrics['accuracy']:.3f}, "
      f"macro F1 {metrics['macro_f1']:.3f}, ECE {metrics['ece']:.4f}")
assert metrics["accuracy"] == transformer["test_accuracy"], "checkpoint and results file disagree"
print("confusion matrix (rows: true negative, positive; columns: predicted):", metrics["confusion_matrix"])

# %%
matrix = np.array(metrics["confusion_matrix"])
fig, ax = new_figure(width=3.6, height=3.2)
ax.imshow(matrix, cmap="Blues")
ax.grid(False)
for (i, j), count in np.ndenumerate(matrix):
    colour = "white" if count > matrix.max() / 2 else "black"  # readable on dark and light cells
    ax.text(j, i, str(count), ha="center", va="center", color=colour)
ax.set_xticks([0, 1], ["negative", "positive"])
ax.set_yticks([0, 1], ["negative", "positive"])
ax.set_xlabel("predicted label")
ax.set_ylabel("true label")
BookFigure(
    fig,
    "ch06-confusion",
    alt=(
        "A two-by-two confusion matrix of the test set, true labels in rows and predicted "
        "labels in columns. Almost all sentences lie on the diagonal; the few errors are "
        "written in the off-diagonal cells."
    ),
    caption="Figure 6.2: confusion matrix of the chapter's model on the 1,000 test sentences.",
)

# %% [markdown]
# ## Calibration
#
# A reliability diagram groups the test predictions into 10 equal-width bins of confidence
# (the largest class probability) and plots each bin's accuracy against its mean confidence;
# a calibrated model lies on the diagonal. We compare the Transformer with the unigram bag of
# words, whose probabilities come from the same logistic regression as above.

# %%
task = make_synthetic_sentiment(config.n_train, config.n_dev, config.n_test, seed=config.data_seed)
bow = fit_bow_baseline(*columns(task.train)[:2])
test_texts, test_labels, _ = columns(task.test)
assert test_labels == labels.tolist()
probabilities = {
    "Transformer": torch.softmax(logits.double(), dim=-1),
    "bag of words (unigrams)": torch.as_tensor(bow.predict_proba(test_texts), dtype=torch.float64),
}
fig, (ax, ax_count) = new_figure(ncols=2, width=8.4, height=3.6)
ax.plot([0.5, 1], [0.5, 1], color="black", linestyle=":", linewidth=1, label="perfect calibration")
edges = np.linspace(0, 1, 11)
for k, (name, probs) in enumerate(probabilities.items()):
    bins = calibration_bins(probs, labels, num_bins=10)
    used = bins["count"] > 0
    ece = expected_calibration_error(probs, labels)
    print(f"{name:<26} ECE {ece:.4f}; examples per bin: {bins['count'].int().tolist()}")
    # Marker area grows with the number of examples in the bin: a bin of 2 says little.
    sizes = 20 + 200 * bins["count"][used] / len(labels)
    ax.scatter(bins["confidence"][used], bins["accuracy"][used], s=sizes, marker="os"[k], color=PALETTE[k],
               alpha=0.8, zorder=3, label=f"{name} (ECE {ece:.3f})")
    ax_count.bar(edges[:-1] + 0.05 * k, bins["count"], width=0.045, align="edge", color=PALETTE[k],
                 hatch=("", "//")[k], edgecolor="white", label=name)
ax.set_xlabel("mean confidence in the bin")
ax.set_ylabel("accuracy in the bin")
ax.set_xlim(0.48, 1.02)
ax.set_ylim(0.0, 1.05)
ax.legend(fontsize=8, loc="lower right")
ax_count.set_yscale("log")
ax_count.set_xlim(0.5, 1.0)
ax_count.set_xlabel("confidence bin")
ax_count.set_ylabel("test sentences in the bin")
ax_count.legend(fontsize=8, loc="upper left")
BookFigure(
    fig,
    "ch06-calibration",
    alt=(
        "Left: reliability diagram, accuracy against mean confidence for the non-empty "
        "confidence bins of two models, markers sized by the number of sentences in the bin, "
        "with the diagonal for perfect calibration. Right: the number of test sentences per "
        "bin on a logarithmic axis. Almost all of the Transformer's predictions are in the "
        "highest bin, on the diagonal; its few other predictions fill bins so sparsely that "
        "their accuracies scatter. The bag of words has two groups, both near the diagonal: "
        "confident, correct predictions in the highest bin, and predictions near 0.5 "
        "confidence that are right half of the time."
    ),
    caption=(
        "Figure 6.3: reliability diagram on the test set, 10 equal-width confidence bins "
        "(empty bins left out), with each model's expected calibration error (left), and the "
        "number of sentences in each bin (right)."
    ),
)

# %% [markdown]
# ## Bag-of-words against the Transformer, by phenomenon
#
# Logistic regression on word counts (unigrams), on counts of words and word pairs
# (bigrams), and the Transformer, on the same test sentences.

# %%
models = {
    "bag of words (unigrams)": results["baselines"]["bow_unigram"],
    "bag of words (1-2-grams)": results["baselines"]["bow_bigram"],
    "Transformer": {"accuracy": transformer["test_accuracy"], "by_phenomenon": transformer["by_phenomenon"]},
}
phenomena = ["plain", "intensifier", "negation", "contrast"]
print(f"{'model':<26}" + "".join(f"{p:>12}" for p in [*phenomena, "all"]))
for name, scores in models.items():
    row = [scores["by_phenomenon"][p] for p in phenomena] + [scores["accuracy"]]
    print(f"{name:<26}" + "".join(f"{v:>12.3f}" for v in row))

# %%
fig, ax = new_figure(width=6.4, height=3.2)
width = 0.26
for k, (name, scores) in enumerate(models.items()):
    x = np.arange(len(phenomena)) + (k - 1) * width
    ax.bar(x, [scores["by_phenomenon"][p] for p in phenomena], width, color=PALETTE[k],
           hatch=("", "//", "..")[k], edgecolor="white", label=name)
ax.axhline(0.5, color="black", linestyle=":", linewidth=1, label="chance (0.5)")
ax.set_xticks(range(len(phenomena)), phenomena)
ax.set_xlabel("phenomenon (test sentences)")
ax.set_ylabel("test accuracy")
ax.set_ylim(0.4, 1.02)
ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2)
BookFigure(
    fig,
    "ch06-phenomena",
    alt=(
        "Grouped bar chart of test accuracy for four phenomena and three models. On plain and "
        "intensifier sentences all three models are near 1. On negation and contrast the "
        "unigram bag of words sits exactly at chance, 0.5; adding bigrams lifts negation to "
        "nearly 1 and contrast part of the way; the Transformer is near 1 on all four."
    ),
    caption=(
        "Figure 6.4: test accuracy by phenomenon of the bag-of-words baselines and the "
        "Transformer (seed 0). The dotted line is chance."
    ),
)

# %% [markdown]
# ## Debugging tool 1: overfit one batch
#
# A fresh model without dropout should memorise a single batch of 32 sentences. If its loss
# does not approach zero, the bug is in the model, the loss or the optimizer step, not in the
# hyperparameters.

# %%
model_fields = {name: getattr(config, name) for name in MODEL_FIELDS}


def fresh_model(seed: int = 0, **overrides) -> TransformerClassifier:
    torch.manual_seed(seed)
    return TransformerClassifier(len(vocab), 2, pad_id=vocab.pad_id, **{**model_fields, **overrides})


train_loader = make_dataloader(datasets["train"], config.batch_size, shuffle=True, seed=0)
batch = next(iter(train_loader))
losses = overfit_one_batch(fresh_model(dropout=0.0), batch, steps=100, lr=1e-3)
print("loss after steps 1, 10, 25, 50, 100:", [round(losses[i - 1], 4) for i in (1, 10, 25, 50, 100)])

# %% [markdown]
# ## Debugging tool 2: gradient norms and update-to-weight ratios
#
# We train a fresh model for its first 250 steps (two epochs) with the chapter's recipe and,
# every step, record the norm of each weight matrix's gradient (before clipping) and how far
# the optimizer step moved it relative to its size. The loop is `train_step` spelled out, so
# that the gradients can be read between the backward pass and the clipping.

# %%
probe = fresh_model(seed=0)
optimizer = torch.optim.AdamW(parameter_groups(probe, config.weight_decay), lr=config.lr)
total_steps = config.epochs * len(train_loader)
scheduler = warmup_cosine_schedule(optimizer, round(config.warmup_ratio * total_steps), total_steps)
tracked = {
    "token embedding": "token_embedding.weight",
    "layer 1 attention in-proj": "encoder.layers.0.self_attn.in_proj.weight",
    "layer 1 FFN W1": "encoder.layers.0.feed_forward.linear1.weight",
    "layer 2 attention in-proj": "encoder.layers.1.self_attn.in_proj.weight",
    "layer 2 FFN W1": "encoder.layers.1.feed_forward.linear1.weight",
    "head": "head.weight",
}
trace = {"lr": [], "norm": {k: [] for k in tracked}, "ratio": {k: [] for k in tracked}}
steps = itertools.islice(itertools.chain.from_iterable(train_loader for _ in range(2)), 250)
probe.train()
for batch in steps:
    loss = F.cross_entropy(probe(batch.token_ids, batch.padding_mask), batch.labels)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norms = gradient_norms(probe)  # before clipping
    nn.utils.clip_grad_norm_(probe.parameters(), config.max_grad_norm)
    before = parameter_snapshot(probe)
    trace["lr"].append(optimizer.param_groups[0]["lr"])
    optimizer.step()
    scheduler.step()
    ratios = update_to_weight_ratios(before, probe)
    for label, name in tracked.items():
        trace["norm"][label].append(norms[name])
        trace["ratio"][label].append(ratios[name])
print(f"{'parameter':<26}{'grad norm, step 1':>18}{'step 250':>10}"
      f"{'update/weight, step 1':>23}{'step 250':>10}")
for label in tracked:
    print(f"{label:<26}{trace['norm'][label][0]:>18.4f}{trace['norm'][label][-1]:>10.4f}"
          f"{trace['ratio'][label][0]:>23.2e}{trace['ratio'][label][-1]:>10.2e}")


# %%
def smooth(values, width=10):
    """Moving average over the last ``width`` steps."""
    values = np.asarray(values)
    return np.array([values[max(0, i - width + 1): i + 1].mean() for i in range(len(values))])


fig, (ax_norm, ax_ratio) = new_figure(ncols=2, width=8.6, height=3.6)
steps_axis = np.arange(1, len(trace["lr"]) + 1)
for k, label in enumerate(tracked):
    style = dict(color=PALETTE[k], linestyle=("-", "--", "-.", ":", "-", "--")[k], label=label)
    ax_norm.plot(steps_axis, smooth(trace["norm"][label]), **style)
    ax_ratio.plot(steps_axis, smooth(trace["ratio"][label]), **style)
ax_ratio.axhline(1e-3, color="black", linewidth=1, linestyle=":", label="1e-3 rule of thumb")
for ax in (ax_norm, ax_ratio):
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
ax_norm.set_ylabel("gradient norm (10-step mean)")
ax_ratio.set_ylabel("update / weight norm (10-step mean)")
ax_ratio.legend(fontsize=7, loc="lower left")
BookFigure(
    fig,
    "ch06-grad-norms",
    alt=(
        "Two log-scale line plots over the first 250 optimizer steps of training, for six "
        "weight matrices: the embedding, the attention input projection and first "
        "feed-forward matrix of each of the two layers, and the head. Left: gradient norms. "
        "Right: the norm of each step's update divided by the norm of the weights, with a "
        "dotted line at the 1e-3 rule of thumb; the ratios rise during warm-up and then fall "
        "as the learning rate decays."
    ),
    caption=(
        "Figure 6.5: per-matrix gradient norms (left) and update-to-weight ratios (right) in "
        "the first two epochs of training, both averaged over 10 steps."
    ),
)

# %% [markdown]
# ## Debugging tool 3: attention entropy per head
#
# The mean entropy of each head's attention, divided by its maximum $\log n$: 1 means the
# head spreads its attention uniformly over the real tokens, 0 that it looks at one token.
# Measured on the first 256 test sentences, for a freshly initialised model and the trained
# one.

# %%
entropy_batch = next(iter(test_loader))
for name, net in (("fresh", fresh_model(seed=0)), ("trained", model)):
    entropy = attention_entropy_per_head(net, entropy_batch.token_ids, entropy_batch.padding_mask,
                                         normalize=True)
    for layer, row in enumerate(entropy.tolist(), start=1):
        print(f"{name:<8} layer {layer}: " + "  ".join(f"head {h + 1}: {v:.2f}" for h, v in enumerate(row)))

# %% [markdown]
# ## Debugging tool 4: the learning-rate range test
#
# Smith's test trains a fresh model for at most 300 steps while the learning rate grows
# exponentially from 1e-5 to 1, and records the smoothed training loss. It stops when the
# loss exceeds four times its minimum. The suggestion is a tenth of the rate at the minimum.

# %%
range_test = lr_range_test(fresh_model(seed=0), train_loader, min_lr=1e-5, max_lr=1.0, num_steps=300)
print(f"steps run: {len(range_test.lrs)}; lowest smoothed loss at lr {range_test.lr_at_min_loss:.2e}; "
      f"suggested lr {range_test.suggested_lr:.2e}; the chapter's peak lr {config.lr:.0e}")

# %%
fig, ax = new_figure(width=6.0, height=3.4)
ax.plot(range_test.lrs, range_test.raw_losses, color=PALETTE[5], linewidth=1, label="loss of each step")
ax.plot(range_test.lrs, range_test.losses, color=PALETTE[0], linewidth=2, label="smoothed loss")
ax.axvline(range_test.lr_at_min_loss, color=PALETTE[3], linestyle="--", label="lowest smoothed loss")
ax.axvline(range_test.suggested_lr, color=PALETTE[2], linestyle="-.", label="suggestion (a tenth)")
ax.axvline(config.lr, color="black", linestyle=":", label="chapter's peak lr")
ax.set_xscale("log")
ax.set_ylim(0.3, 1.6)  # the last steps' losses shoot far above the top
ax.set_xlabel("learning rate")
ax.set_ylabel("training loss (nats)")
ax.legend(fontsize=8)
BookFigure(
    fig,
    "ch06-lr-range",
    alt=(
        "Training loss against a learning rate that grows exponentially from 1e-5, on a "
        "logarithmic axis. The loss stays flat near 0.7 at small rates, dips once the rate is "
        "large enough to learn, rises again and finally shoots up out of the plot, where the "
        "test stops. "
        "Vertical lines mark the minimum of the smoothed loss, the suggested rate a tenth of "
        "it, and the chapter's rate between the two."
    ),
    caption=(
        "Figure 6.6: learning-rate range test (Smith, 2017) on a fresh copy of the chapter's "
        "model: raw and smoothed training loss against the learning rate of each step."
    ),
)

# %% [markdown]
# ## Throughput against `nn.TransformerEncoder`
#
# Real (non-padding) tokens per second of full training steps (forward, backward, AdamW) on
# the same 40 batches, for the book's classifier and the same architecture built from
# PyTorch's `nn.TransformerEncoder`, both with learned positions and identical weights. The
# two were timed in alternation; the ratio uses each model's best repeat.

# %%
throughput = results["throughput"]
print(f"book:  best {throughput['tokens_per_s_book']:,.0f} tokens/s, "
      f"median {throughput['median_tokens_per_s_book']:,.0f}")
print(f"torch: best {throughput['tokens_per_s_torch']:,.0f} tokens/s, "
      f"median {throughput['median_tokens_per_s_torch']:,.0f}")
print(f"ratio book / torch: {throughput['ratio_book_to_torch']:.2f}; "
      f"largest logit difference {throughput['max_abs_logit_difference']:.1e}; "
      f"{results['machine']['cpu_threads']} CPU thread, torch {results['machine']['torch']}")

# %% [markdown]
# ## The hyperparameter sweep
#
# One hyperparameter at a time around the chapter's recipe, each setting trained with two
# seeds for 4 epochs (half the chapter's budget); dev accuracy of the best epoch. "word
# order" is the mean dev accuracy on the negation and contrast sentences. Times are
# seconds per run on a shared machine, so only their rough size means something.

# %%
table = summarise(sweep)
print(f"{'axis':<13}{'value':>8}{'':>3}{'mean':>7}{'min':>7}{'max':>7}{'word order':>12}"
      f"{'parameters':>12}{'seconds':>9}")
for axis, rows in table.items():
    for row, point in zip(rows, sweep["results"][axis], strict=True):
        mark = " * " if row["is_base"] else "   "
        params = point["runs"][0].get("parameters", 0)
        print(f"{axis:<13}{row['value']:>8g}{mark}{row['mean']:>7.3f}{row['min']:>7.3f}{row['max']:>7.3f}"
              f"{row['word_order_mean']:>12.3f}{params:>12,}{row['seconds']:>9.1f}")
print("* the chapter's value;", sweep["runs"], "runs in", round(sweep["total_seconds"]), "s")

# %%
titles = {"lr": "peak learning rate", "warmup_ratio": "warm-up fraction", "num_layers": "layers",
          "width": "width E (F = 2E)", "dropout": "dropout"}
fig, axes = new_figure(ncols=5, width=11.0, height=3.0)
for ax, (axis, rows) in zip(axes, table.items(), strict=True):
    values = [row["value"] for row in rows]
    for point in sweep["results"][axis]:  # every seed
        for run in point["runs"]:
            accuracy = 0.5 if run["diverged"] else run["dev_accuracy"]
            ax.scatter(point["value"], accuracy, color=PALETTE[0], s=12, alpha=0.6, zorder=3)
    ax.plot(values, [row["mean"] for row in rows], color=PALETTE[0], marker="o", label="all (mean of seeds)")
    ax.plot(values, [row["word_order_mean"] for row in rows], color=PALETTE[3], marker="s",
            linestyle="--", label="negation + contrast")
    base = next(row["value"] for row in rows if row["is_base"])
    ax.axvline(base, color="black", linestyle=":", linewidth=1)
    if axis in ("lr", "width"):
        ax.set_xscale("log")
    if axis == "width":
        ax.set_xticks(values, [str(v) for v in values])
        ax.minorticks_off()
    ax.set_xlabel(titles[axis])
    ax.set_ylim(0.5, 1.01)
axes[0].set_ylabel("dev accuracy")
axes[0].legend(fontsize=7, loc="lower left")
BookFigure(
    fig,
    "ch06-sweep",
    alt=(
        "Five panels, one per hyperparameter: peak learning rate, warm-up fraction, number of "
        "layers, width and dropout. Each shows the dev accuracy after 4 epochs, the mean of "
        "two seeds as a line with the single seeds as dots, and the accuracy on negation and "
        "contrast sentences as a dashed line; a dotted vertical line marks the chapter's "
        "value. Accuracy peaks sharply at the chapter's learning rate, hardly depends on the "
        "warm-up, rises with depth and width, and falls with more dropout."
    ),
    caption=(
        "Figure 6.7: one-axis-at-a-time sweep around the chapter's recipe (4 epochs, 2 "
        "seeds per setting): dev accuracy overall (solid; dots are single seeds) and on the "
        "negation and contrast sentences (dashed). The dotted line marks the chapter's value."
    ),
)
