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
# # Chapter 7 notebook: SST-2 from scratch
#
# This notebook reads the results of the chapter's experiment and draws its tables and figures.
# The experiment itself takes far longer than a notebook should: it trains a Transformer from
# scratch on SST-2 with several seeds, with and without self-pretraining, and fits the
# baselines. One documented command regenerates its results file and the small checkpoint that
# this notebook loads for the attention maps:
#
# ```bash
# python -m book_code.experiments.sst2 --output docs/chapters/results/sst2_results.json
# ```
#
# Nothing here trains a model, so the notebook runs in seconds.

# %%
import json
import math
from pathlib import Path

import numpy as np
import torch

import book_code
from book_code.encoder import count_parameters
from book_code.figures import PALETTE, BookFigure, new_figure
from book_code.interpret import attention_weights
from book_code.training import load_classifier
from book_code.visualization import attention_grid

torch.set_num_threads(1)
torch.manual_seed(0)


def find(name: str) -> Path:
    """A file under docs/chapters/results of the repository this notebook belongs to."""
    for folder in [Path(book_code.__file__).resolve().parents[1], Path.cwd(), *Path.cwd().parents]:
        path = folder / "docs" / "chapters" / "results" / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"docs/chapters/results/{name} not found; run the command above")


results = json.loads(find("sst2_results.json").read_text(encoding="utf-8"))
env = results["environment"]
print(
    f"measured on: {env['cpu_model']}, {env['cpu_count']} cores, {env['threads']} PyTorch thread(s), "
    f"torch {env['torch']}, OMP_WAIT_POLICY={env['omp_wait_policy']}"
)
print(
    f"load average (1, 5, 15 min) at start {env['load_average_start']}, at end {env['load_average_end']}; "
    f"whole command: {env['total_wall_seconds'] / 60:.0f} min"
)

# %% [markdown]
# ## The data
#
# SST-2's training file holds phrases as well as sentences; dev and test hold whole sentences.
# The experiment removes the repeated training rows and finds the whole sentences among the
# training texts (the texts that no other training text contains).

# %%
data = results["data"]
print(
    f"training rows {data['train_rows']:,}, distinct {data['train_distinct']:,} "
    f"({data['duplicates_removed']} repeats removed, "
    f"{data['conflicting_duplicates']} with conflicting labels)"
)
print(f"whole training sentences {data['train_sentences']:,}; dev {data['dev']:,}; test {data['test']:,}")
print(
    f"positive fraction: train {data['train_positive_fraction']:.3f}, "
    f"dev {data['dev_positive_fraction']:.3f}, test {data['test_positive_fraction'] or float('nan'):.3f}"
)
print(f"vocabulary (training texts, reserved tokens included): {data['vocab_size']:,} tokens")
print(
    f"tokens in the training texts {data['train_tokens']:,}; "
    f"in the whole sentences {data['sentence_tokens']:,}"
)
print(
    f"distinct words of the whole sentences: {data['words_in_sentences']:,}, of which "
    f"{data['words_in_one_sentence']:,} ({data['words_in_one_sentence'] / data['words_in_sentences']:.0%}) "
    "occur in one sentence only"
)
print(
    f"dev tokens outside the vocabulary: {data['dev_unknown_token_rate']:.1%}; "
    f"test: {data['test_unknown_token_rate']:.1%}"
)
for name, summary in data["lengths"].items():
    print(
        f"{name:>16}: mean length {summary['mean']:.1f} tokens, median {summary['median']:.0f}, "
        f"longest {summary['max']}"
    )

# %%
edges = np.array(data["length_bin_edges"])
fig, ax = new_figure(width=6.4, height=3.0)
styles = {
    "train phrases": (PALETTE[1], "-"),
    "train sentences": (PALETTE[2], "--"),
    "dev sentences": (PALETTE[0], "-"),
}
for name, summary in data["lengths"].items():
    counts = np.array(summary["counts"], dtype=float)
    colour, line = styles[name]
    ax.step(edges[:-1], counts / counts.sum(), where="post", color=colour, linestyle=line, label=name)
ax.set_xlabel("length (tokens)")
ax.set_ylabel("fraction of texts")
ax.set_xlim(0, edges[-1])
ax.legend()
BookFigure(
    fig,
    "ch07-lengths",
    alt=(
        "Step plots of the length distribution of SST-2's training phrases, its whole training sentences and "
        "its dev sentences. The training phrases pile up at a few tokens; the whole sentences and the dev "
        "sentences spread over about 5 to 40 tokens with similar shapes."
    ),
    caption=(
        "Figure 7.1: Lengths of SST-2's texts in tokens. Most labelled training texts are short phrases; "
        "the dev set, like the test set, holds whole sentences."
    ),
)

# %% [markdown]
# ## Where the parameters are
#
# The vocabulary is large and the encoder is small, so most of the model's parameters are
# token embeddings: one vector per word, learned from the training text alone.

# %%
model, vocab, checkpoint = load_classifier(find("sst2_model.pt"))
counts = count_parameters(model.config)
for part, count in counts.items():
    print(f"{part:>18}: {count:>9,} ({count / counts['total']:.1%})")

# %% [markdown]
# ## Dev accuracy: baselines and the Transformer
#
# Every row is trained on the same deduplicated training texts and evaluated on the 872 dev
# sentences. Rows with several seeds give the mean, the sample standard deviation and the
# range over the seeds. A Transformer keeps the weights of its best epoch on dev (chapter 6's
# loop); the "last epoch" column gives the mean dev accuracy of the final epoch instead, which
# involves no choice made on dev. The times are per seed, everything included: wall-clock
# seconds, and CPU seconds summed over the threads (`time.process_time`). The machine was shared
# with other jobs; the load averages above say how busy it was.


# %%
def percent(summary: dict) -> str:
    if len(summary["values"]) == 1:
        return f"{100 * summary['mean']:.1f}"
    mean, std, low, high = (100 * summary[key] for key in ("mean", "std", "min", "max"))
    return f"{mean:.1f} ± {std:.1f} ({low:.1f}-{high:.1f})"


def last_epoch(name: str) -> str:
    """Mean dev accuracy of the last fine-tuning epoch, for rows trained with several epochs."""
    if name not in results["runs"]:
        return ""
    return f"{100 * np.mean([r['history'][-1]['dev_accuracy'] for r in results['runs'][name]]):.1f}"


print(f"{'model':<30} {'seeds':>5} {'dev accuracy (%)':>24} {'last epoch':>10} {'wall s':>7} {'CPU s':>7}")
for row in results["rows"]:
    print(
        f"{row['name']:<30} {row['seeds']:>5} {percent(row['dev_accuracy']):>24} "
        f"{last_epoch(row['name']):>10} "
        f"{row['wall_seconds']['mean']:>7.0f} {row['cpu_seconds']['mean']:>7.0f}"
    )
print("hardware:")
for hardware in dict.fromkeys(row["hardware"] for row in results["rows"]):
    print(f"  {hardware}")
target = results["target"]
print(
    f"\ntarget: dev accuracy >= {target['dev_accuracy']:.0%} "
    f"within {target['seconds_per_seed'] / 60:.0f} min per seed"
)
print(
    f"{target['row']}: mean {target['dev_accuracy_mean']:.2%}, "
    f"{'met' if target['accuracy_met'] else 'missed'} by {100 * abs(target['accuracy_gap']):.1f} points; "
    f"slowest seed under the limit: wall {target['wall_met']}, CPU {target['cpu_met']}"
)

# %%
fig, ax = new_figure(width=6.4, height=3.2)
rows = results["rows"]
for y, row in enumerate(rows):
    values = 100 * np.array(row["dev_accuracy"]["values"])
    ax.scatter(
        values,
        np.full(len(values), y),
        color=PALETTE[0],
        s=22,
        zorder=3,
        label="dev, one seed" if y == len(rows) - 1 else None,
    )
    ax.plot(
        [100 * row["dev_accuracy"]["mean"]] * 2,
        [y - 0.3, y + 0.3],
        color=PALETTE[3],
        linewidth=2,
        label="dev, mean" if y == len(rows) - 1 else None,
    )
for published, style in zip(results["published"], (":", "--"), strict=True):
    ax.axvline(
        100 * published["accuracy"],
        color=PALETTE[7],
        linestyle=style,
        linewidth=1,
        label=f"{published['citation'].split(',')[0]}, test",
    )
ax.axvline(100 * target["dev_accuracy"], color=PALETTE[2], linewidth=1, label="target (dev)")
ax.set_yticks(range(len(rows)), [row["name"] for row in rows])
ax.set_xlabel("accuracy (%)")
ax.set_xlim(45, 100)
ax.legend(fontsize=7, loc="upper left")  # the left of the plot is empty above the majority class
BookFigure(
    fig,
    "ch07-results",
    alt=(
        "Dot plot of dev accuracy for each model: the majority class near 50%, the bag-of-words models, and "
        "four Transformer rows, from PyTorch's default embeddings to the self-pretrained recipe, one dot per "
        "seed and a bar at the mean. Vertical "
        "lines mark the 83% target and the published test accuracies of a CNN with random word vectors and "
        "of BERT-base."
    ),
    caption=(
        "Figure 7.2: Dev accuracy on SST-2, one dot per seed. The vertical lines are the target and two "
        "published test-set figures (Kim, 2014; Devlin et al., 2019), which are on a different split."
    ),
)

# %% [markdown]
# ## Training curves
#
# Left: the masked-token loss during self-pretraining (the mean over each epoch, one line per
# seed), with $\ln V$, the loss of a uniform guess, and the entropy of the training sentences'
# word frequencies, the loss of a model that ignores the context and predicts every hidden word
# by its frequency alone. Right: dev accuracy after every fine-tuning epoch, the mean over the
# seeds of each row with its range shaded.

# %%
print(f"{'model':<30} {'training loss by epoch':>26} {'dev accuracy (%) by epoch':>28}")
for name, records in results["runs"].items():
    losses = np.mean([[h["train_loss"] for h in r["history"]] for r in records], axis=0)
    accuracies = 100 * np.mean([[h["dev_accuracy"] for h in r["history"]] for r in records], axis=0)
    print(
        f"{name:<30} {' '.join(f'{v:7.3f}' for v in losses):>26} "
        f"{' '.join(f'{v:8.1f}' for v in accuracies):>28}"
    )
print(
    "\nbest epoch of each seed: "
    + "; ".join(f"{name}: {[r['best_epoch'] for r in records]}" for name, records in results["runs"].items())
)
RECIPE = "transformer (chapter recipe)"
pretraining = results["runs"][RECIPE]
print(
    f"masked-token loss after the last pretraining epoch: "
    f"{np.mean([r['pretrain_history'][-1]['mlm_loss'] for r in pretraining]):.2f} nats; "
    f"ln V = {math.log(data['vocab_size']):.2f}; "
    f"word frequencies alone: {data['sentence_unigram_entropy']:.2f}"
)

# %%
fig, (left, right) = new_figure(ncols=2, width=8.0, height=4.0)
runs = results["runs"]
for i, run in enumerate(runs[RECIPE]):
    history = run["pretrain_history"]
    left.plot(
        [h["epoch"] for h in history],
        [h["mlm_loss"] for h in history],
        color=PALETTE[0],
        label="masked-token loss" if i == 0 else None,
    )
left.axhline(math.log(data["vocab_size"]), color=PALETTE[7], linestyle=":", label=r"$\ln V$ (uniform guess)")
left.axhline(
    data["sentence_unigram_entropy"], color=PALETTE[3], linestyle="--", label="word frequencies only"
)
left.set_xlabel("pretraining epoch")
left.set_ylabel("cross-entropy (nats)")
left.legend(fontsize=7)
for (name, records), colour in zip(runs.items(), PALETTE, strict=False):
    curves = 100 * np.array([[h["dev_accuracy"] for h in r["history"]] for r in records])
    epochs = np.arange(1, curves.shape[1] + 1)
    right.plot(epochs, curves.mean(axis=0), color=colour, marker="o", markersize=3, label=name)
    right.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), color=colour, alpha=0.15)
right.axhline(100 * target["dev_accuracy"], color=PALETTE[7], linewidth=1, linestyle=":", label="target")
right.set_xlabel("fine-tuning epoch")
right.set_ylabel("dev accuracy (%)")
right.set_xticks(epochs)
right.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=2)
BookFigure(
    fig,
    "ch07-curves",
    alt=(
        "Left: the masked-token pretraining loss per epoch for three seeds, falling from near the log of the "
        "vocabulary size towards and below the loss of predicting words by frequency alone. Right: mean dev "
        "accuracy after each fine-tuning epoch for every Transformer row of the table, with the range over "
        "seeds shaded, and the 83% target."
    ),
    caption="Figure 7.3: Self-pretraining loss (left) and dev accuracy during fine-tuning (right).",
)

# %% [markdown]
# ## The test set, once
#
# The labelled SST-2 test set (1,821 sentences) is used exactly once, for the final
# configuration, after every choice was made on dev. Beside it, the two published test-set
# figures the chapter quotes.

# %%
print(f"{'model':<50} {'test accuracy (%)':>24}")
if results["test"] is None:  # made from GLUE's files alone, whose test labels are hidden
    print("(no labelled test set was available to the command)")
for name, summary in (results["test"] or {}).items():
    print(f"{name + ' (this book)':<50} {percent(summary):>24}")
for published in results["published"]:
    name = f"{published['model']} ({published['citation']})"
    print(f"{name:<50} {100 * published['accuracy']:>24.1f}")

# %% [markdown]
# ## Negation and contrast
#
# Dev accuracy on the sentences that contain a negation word (or a contrast word) and on those
# that do not, for each model; the Transformer rows average the seeds. The error bars are one
# binomial standard error, $\sqrt{p(1-p)/n}$: with a hundred or two sentences in a group,
# differences of a few points are within the noise.

# %%
analysis = results["error_analysis"]
print("negation words:", ", ".join(analysis["negation_words"]))
print("contrast words:", ", ".join(analysis["contrast_words"]))
print(f"\n{'model':<30} {'negation: with / without':>26} {'contrast: with / without':>26}")
for name, groups in analysis["by_model"].items():
    cells = [
        f"{100 * groups[p]['with']:.1f} / {100 * groups[p]['without']:.1f}" for p in ("negation", "contrast")
    ]
    print(f"{name:<30} {cells[0]:>26} {cells[1]:>26}")
for p in ("negation", "contrast"):
    any_model = next(iter(analysis["by_model"].values()))[p]
    print(f"{p}: {any_model['n_with']} dev sentences with, {any_model['n_without']} without")
agreement = analysis["agreement_with_bag_of_words"]
print(f"\n{analysis['mistakes_from']} against the bag of words, sentence by sentence: {agreement}")

# %%
fig, axes = new_figure(ncols=2, width=8.0, height=3.9)
names = [
    "bag of words",
    "bag of words and word pairs",
    "fine-tuning only",
    "fine-tuning only, no positions",
    "transformer (chapter recipe)",
]
for ax, phenomenon in zip(axes, ("negation", "contrast"), strict=True):
    for kind, offset, colour in (("with", -0.2, PALETTE[3]), ("without", 0.2, PALETTE[0])):
        accuracies = np.array([analysis["by_model"][n][phenomenon][kind] for n in names])
        sizes = np.array([analysis["by_model"][n][phenomenon][f"n_{kind}"] for n in names])
        errors = np.sqrt(accuracies * (1 - accuracies) / sizes)
        ax.barh(
            np.arange(len(names)) + offset,
            100 * accuracies,
            height=0.4,
            xerr=100 * errors,
            color=colour,
            label=f"{kind} a {phenomenon} word",
        )
    ax.set_yticks(range(len(names)), names if phenomenon == "negation" else [""] * len(names))
    ax.set_xlim(50, 100)
    ax.set_xlabel("dev accuracy (%)")
    ax.set_title(phenomenon)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.28))
BookFigure(
    fig,
    "ch07-phenomena",
    alt=(
        "Two horizontal bar charts, negation and contrast, with one pair of bars per model (the two "
        "bag-of-words models and three Transformer rows): dev accuracy on sentences with the phenomenon "
        "and without it, with standard-error bars."
    ),
    caption=(
        "Figure 7.4: Dev accuracy with and without negation words (left) and contrast words (right). "
        "Error bars: one binomial standard error."
    ),
)

# %% [markdown]
# ## Word order
#
# How much does each model use the order of the words? The experiment shuffles the words of
# every dev sentence (the same shuffle for every model) and compares: dev accuracy as it is,
# dev accuracy on the shuffled sentences, and the fraction of predictions the shuffle changed
# (means over the seeds). A bag of words would change nothing, by construction; so does the
# Transformer without position embeddings, whose mean pooling makes it blind to order.

# %%
print(f"{'model':<30} {'dev accuracy':>13} {'shuffled':>9} {'changed':>8}")
for name, probe in analysis["word_order"].items():
    print(
        f"{name:<30} {100 * probe['accuracy']['mean']:>12.1f}% "
        f"{100 * probe['shuffled_accuracy']['mean']:>8.1f}% "
        f"{100 * probe['changed']['mean']:>7.1f}%"
    )

# %% [markdown]
# ## The most confident mistakes
#
# The dev sentences that the first seed of the chapter's recipe gets wrong with the highest
# confidence. `p(positive)` is the model's probability of the positive class; the label is
# the treebank's.

# %%
mistakes = analysis["confident_mistakes"]
for m in mistakes:
    tags = [name for name in ("negation", "contrast") if m[name]]
    print(
        f"label {'positive' if m['label'] else 'negative'}, p(positive) = {m['p_positive']:.3f}"
        f"{' [' + ', '.join(tags) + ']' if tags else ''}\n    {m['text']}"
    )

# %% [markdown]
# The checkpoint is that same model, stored in half precision. Loading it and recomputing the
# probabilities checks that the file and the results agree (up to the rounding of the weights).


# %%
def p_positive(text: str) -> float:
    ids = torch.tensor([vocab.encode(text, add_cls=model.config.pooling == "cls")])
    with torch.no_grad():
        return torch.softmax(model(ids), dim=-1)[0, 1].item()


differences = [abs(p_positive(m["text"]) - m["p_positive"]) for m in mistakes]
print(f"largest difference from the results file: {max(differences):.4f}")
assert max(differences) < 0.05, "the checkpoint does not match the results file"

# %% [markdown]
# The attention of every head in both layers for the shortest of the five most confident
# mistakes. The model averages its last layer's outputs (mean pooling), so no single row
# decides; the maps show which words each word gathers information from.

# %%
example = min(mistakes[:5], key=lambda m: len(m["text"].split()))
tokens = example["text"].split()
ids = torch.tensor(vocab.encode(example["text"], add_cls=model.config.pooling == "cls"))
shown = [
    vocab.itos[i] if vocab.itos[i] == t else f"{t} [UNK]" for i, t in zip(ids.tolist(), tokens, strict=True)
]
weights = attention_weights(model, ids)
print(
    f"label {'positive' if example['label'] else 'negative'}, p(positive) = {example['p_positive']:.3f}: "
    f"{example['text']}"
)
fig = attention_grid(weights, shown)
BookFigure(
    fig,
    "ch07-mistake-attention",
    alt=(
        "A grid of attention heatmaps, one per head and layer, for one dev sentence the model misclassifies "
        "with high confidence; rows are the attending words, columns the attended words."
    ),
    caption="Figure 7.5: Attention maps of every head for one of the model's most confident mistakes.",
)

# %% [markdown]
# ## The chapter's statements, checked
#
# Every qualitative statement that the chapter makes about these results is a named claim of
# `chapter_claims`; the book's tests require all of them to hold.

# %%
from book_code.experiments.sst2 import chapter_claims

for claim, holds in chapter_claims(results).items():
    print(f"{'holds' if holds else 'FAILS'}  {claim}")
