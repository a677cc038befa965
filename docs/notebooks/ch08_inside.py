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
# # Chapter 8 notebook: attention maps and faithfulness
#
# This notebook draws every figure of chapter 8. It loads the chapter-6 classifier that
# `python -m book_code.experiments.inside --output docs/chapters/results/` trained on the
# synthetic sentiment task and stored as `ch08_model.pt`, reads its attention maps for one
# sentence and for the whole test split, computes four explanations of one prediction, and
# shows the deletion test that the same command ran on the test split (`ch08_results.json`).
# It takes seconds: the slow part, integrated gradients for a thousand sentences, is in the
# results file.

# %%
import json

import numpy as np
import torch
from IPython.display import Markdown, display

from book_code.experiments.inside import (
    MODEL_FILE,
    RESULTS_FILE,
    ROLES,
    chapter_claims,
    cls_attention_by_role,
    encode_sentences,
    find_results,
    head_offsets,
    negation_links,
    result_from_dict,
    synthetic_eval_set,
    uniform_weights,
)
from book_code.figures import PALETTE, BookFigure, new_figure
from book_code.interpret import (
    attention_rollout,
    attention_weights,
    gradient_x_input,
    integrated_gradients,
    plot_faithfulness,
    replaced_output,
)
from book_code.training import load_classifier
from book_code.visualization import HeadView, attention_grid, attention_heatmap

torch.set_num_threads(1)  # a small model: one thread is faster than two competing ones
torch.manual_seed(0)

folder = find_results()
results = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
model, vocab, checkpoint = load_classifier(folder / MODEL_FILE)
config = model.config


def table(header: list[str], rows: list[list[object]]) -> Markdown:
    """A Markdown table; the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(":--" if i == 0 else "--:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return Markdown("\n".join(lines))


accuracy = results["model"]
print(f"model: {config.num_layers} layers x {config.num_heads} heads, E = {config.embed_dim}, "
      f"{config.positional} positions, {config.pooling} pooling, {accuracy['parameters']:,} parameters")
print(f"test accuracy {accuracy['test_accuracy']:.3f}; by phenomenon: "
      + ", ".join(f"{p} {a:.3f}" for p, a in accuracy["by_phenomenon"].items()))

# %% [markdown]
# ## One sentence, every head
#
# A negation sentence and its twin (the same words, the adjectives swapped, the opposite
# label). The model must read the order of the words to tell them apart.

# %%
SENTENCES = ["The plot is not dull, it is clever.", "The plot is not clever, it is dull."]
pair = encode_sentences(vocab, SENTENCES, labels=[1, 0], max_len=config.max_len)
with torch.no_grad():
    probabilities = model(pair.token_ids, pair.padding_mask).softmax(dim=-1)
for text, p in zip(SENTENCES, probabilities, strict=True):
    print(f"p(positive) = {p[1]:.3f}   {text}")
tokens = pair.tokens[0]
weights = attention_weights(model, pair.token_ids[:1], pair.padding_mask[:1])[0]  # (layers, heads, n, n)
print("weights:", tuple(weights.shape), "(layers, heads, queries, keys)")

# %% [markdown]
# Which head to look at first? Over the whole test split (next sections), one head stands
# out: the head in which negated adjectives attend most to their negator.

# %%
test = synthetic_eval_set(vocab)
test_weights = attention_weights(model, test.token_ids, test.padding_mask).double()
links = negation_links(test_weights, test)
NEG_LAYER, NEG_HEAD = divmod(int(links["adjective_to_negator"].argmax()), config.num_heads)
print(f"{len(test)} test sentences; the negation head is layer {NEG_LAYER + 1}, head {NEG_HEAD + 1}")

# %%
fig = attention_heatmap(weights[NEG_LAYER, NEG_HEAD], tokens, annotate=True,
                        title=f"layer {NEG_LAYER + 1}, head {NEG_HEAD + 1}")
BookFigure(
    fig,
    "ch08-heatmap",
    alt=(
        f"A heatmap of the attention weights of layer {NEG_LAYER + 1}, head {NEG_HEAD + 1}, for the "
        f"sentence '{SENTENCES[0]}': one row per query token, one column per key token, each cell "
        "printed with its weight to two decimals; lighter cells are larger weights."
    ),
    caption=(
        f"Figure 8.1: attention weights of layer {NEG_LAYER + 1}, head {NEG_HEAD + 1} for "
        f"\u201c{SENTENCES[0]}\u201d. Row i is the distribution of query token i over the keys "
        "and sums to 1."
    ),
)

# %%
fig = attention_grid(weights, tokens)
BookFigure(
    fig,
    "ch08-grid",
    alt=(
        f"A grid of {config.num_layers} by {config.num_heads} heatmaps, one per layer and head, "
        f"for the sentence '{SENTENCES[0]}', on one shared colour scale; token labels on the "
        "left column and the bottom row."
    ),
    caption=(
        f"Figure 8.2: every head of the model ({config.num_layers} layers down, "
        f"{config.num_heads} heads across) for \u201c{SENTENCES[0]}\u201d, on one colour scale."
    ),
)

# %% [markdown]
# The interactive view shows one head at a time as lines from each token (left) to the
# tokens it attends to (right). Hover over a token, or move to it with Tab and the arrow
# keys, to keep only its lines and read its largest weights; the two menus choose the
# layer and the head. On paper, and without JavaScript, a static drawing of the negation
# head replaces it.

# %%
HeadView(
    tokens, weights, layer=NEG_LAYER, head=NEG_HEAD, name="ch08-head-view",
    caption=(
        f"Figure 8.3: interactive head view of \u201c{SENTENCES[0]}\u201d, opened at layer "
        f"{NEG_LAYER + 1}, head {NEG_HEAD + 1}; line width and darkness grow with the weight."
    ),
)

# %% [markdown]
# ## What the heads do on the test split
#
# **Position.** For each head, the mean weight from a word to the word $k$ places away
# (`[CLS]` excluded), next to what a head that spreads its weight evenly would give.

# %%
OFFSETS = (-2, -1, 0, 1, 2)
offsets = head_offsets(test_weights, test.padding_mask, OFFSETS)
uniform = head_offsets(uniform_weights(test.padding_mask), test.padding_mask, OFFSETS)[0, 0]
heads = [f"layer {layer + 1}, head {head + 1}" for layer in range(config.num_layers)
         for head in range(config.num_heads)]
display(table(["head", *[f"k = {k:+d}" if k else "k = 0 (itself)" for k in OFFSETS]],
              [[name, *[f"{v:.3f}" for v in row]] for name, row in zip(heads, offsets.flatten(0, 1).tolist(),
                                                                           strict=True)]
              + [["uniform head", *[f"{v:.3f}" for v in uniform.tolist()]]]))


# %%
def annotated_image(ax, matrix: np.ndarray, rows: list[str], columns: list[str], vmax: float):
    """An image of ``matrix`` with every value printed in its cell, dark ink on light cells."""
    image = ax.imshow(matrix, cmap="cividis", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(columns)), columns, fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.tick_params(length=0)
    ax.grid(False)
    for (i, j), value in np.ndenumerate(matrix):
        r, g, b, _ = image.cmap(image.norm(value))
        ink = "black" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5 else "white"
        ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=ink)
    return image


matrix = np.vstack([offsets.flatten(0, 1).numpy(), uniform.numpy()[None]])
fig, ax = new_figure(width=5.6, height=3.6)
image = annotated_image(ax, matrix, [*heads, "uniform head"], [f"{k:+d}" if k else "0" for k in OFFSETS],
                        vmax=max(0.5, float(matrix.max())))
ax.axhline(len(heads) - 0.5, color="white", linewidth=2)
ax.set_xlabel("offset k of the key from the query (words)")
fig.colorbar(image, ax=ax, label="mean attention weight")
BookFigure(
    fig,
    "ch08-offsets",
    alt=(
        "A table-like heatmap: one row per head plus a last row for a uniform head, one column per "
        "offset from -2 to +2 words; each cell gives the mean weight a word puts on the word at that "
        "offset, over the test split."
    ),
    caption=(
        "Figure 8.4: mean attention from a word to the word k places away, per head, over the "
        "test split; the last row is a head that attends evenly to every token. A previous-token "
        "head would show a value near 1 in column \u22121."
    ),
)

# %% [markdown]
# **What `[CLS]` reads.** The classifier reads only the final vector of `[CLS]`, so its row of
# every attention map says where the information that decides the class can come from. The
# total weight of `[CLS]` on each role of token, per head, averaged over the negation and the
# contrast sentences of the test split:

# %%
SHOWN = ["decisive", "opposite", "negator", "connective", "neutral", "punctuation", "[CLS]", "other"]
by_role = {}
for phenomenon in ("negation", "contrast"):
    part = test.of_phenomenon(phenomenon)
    keep = torch.tensor([p == phenomenon for p in test.phenomena])
    part_weights = test_weights[keep][..., : part.token_ids.shape[1], : part.token_ids.shape[1]]
    by_role[phenomenon] = cls_attention_by_role(part_weights, part.roles)
columns = [ROLES.index(role) for role in SHOWN]
fig, axes = new_figure(ncols=2, width=9.6, height=3.6)
for ax, (phenomenon, shares) in zip(axes, by_role.items(), strict=True):
    image = annotated_image(ax, shares.flatten(0, 1)[:, columns].numpy(), heads, SHOWN, vmax=1.0)
    ax.set_title(f"{phenomenon} sentences", fontsize=10)
    ax.set_xticks(range(len(SHOWN)), SHOWN, rotation=35, ha="right", fontsize=8)
    ax.axhline(config.num_heads - 0.5, color="white", linewidth=2)
axes[1].tick_params(labelleft=False)
fig.colorbar(image, ax=list(axes), label="share of [CLS]'s attention", shrink=0.9)
BookFigure(
    fig,
    "ch08-cls-roles",
    alt=(
        "Two heatmaps, for negation and for contrast sentences: one row per head, one column per "
        "role of token (decisive adjective, opposite adjective, negator, connective, neutral word, "
        "punctuation, [CLS], other); each cell is the share of [CLS]'s attention on that role."
    ),
    caption=(
        "Figure 8.5: where [CLS] attends, by role of the token, per head, averaged over the "
        "negation (left) and contrast (right) sentences of the test split. 'decisive' is the "
        "adjective whose polarity is the label, 'opposite' the negated or conceded one."
    ),
)

# %% [markdown]
# **Negation.** Does the negator attend to the adjective it negates, or the adjective to the
# negator? The control is a plain sentence's adjective and the word just before it: a head
# that merely looks one word back gives the control the same weight.

# %%
link_names = ["adjective_to_negator", "negator_to_adjective", "adjective_to_previous"]
per_head = torch.stack([links[name] for name in link_names], dim=-1).flatten(0, 1).tolist()
display(table(
    ["head", "negated adjective \u2192 negator", "negator \u2192 negated adjective",
     "control: adjective \u2192 previous word"],
    [[name, *[f"{v:.3f}" for v in values]] for name, values in zip(heads, per_head, strict=True)],
))

# %% [markdown]
# ## Four explanations of one prediction
#
# For the first sentence: the `[CLS]` row of each layer's attention (the mean over its heads),
# attention rollout, gradient $\times$ input and integrated gradients of the predicted
# class's logit, with 128 and with 1024 steps. Gradient scores are signed: positive speaks
# for the class.

# %%
one_ids, one_mask = pair.token_ids[:1], pair.padding_mask[:1]
rollout = attention_rollout(weights, one_mask[0])
grad_x_input = gradient_x_input(model, one_ids, one_mask)
ig = {steps: integrated_gradients(model, one_ids, one_mask, steps=steps) for steps in (128, 1024)}
for steps, attribution in ig.items():
    change = (attribution.output_at_input - attribution.output_at_baseline).item()
    print(f"integrated gradients, {steps:>4} steps: sum of scores {attribution.scores.sum().item():+8.3f}, "
          f"f(x) - f(baseline) {change:+.3f}, completeness gap {attribution.completeness_gap().item():+.4f}")
print(f"gradient x input: sum of scores {grad_x_input.scores.sum().item():+.3f} (no completeness to expect)")

# %%
rows = [(f"attention, layer {layer + 1}\n([CLS] row, mean of heads)", weights[layer].mean(dim=0)[0])
        for layer in range(config.num_layers)]
rows += [("attention rollout\n([CLS] row)", rollout[0]),
         ("gradient \u00d7 input", grad_x_input.scores[0])]
rows += [(f"integrated gradients\n({steps} steps)", attribution.scores[0])
         for steps, attribution in ig.items()]
fig, axes = new_figure(nrows=len(rows), width=7.2, height=1.2 * len(rows) + 0.6)
positions = np.arange(len(tokens))
for ax, (label, values) in zip(axes, rows, strict=True):
    values = values.detach().double().numpy()
    colours = [PALETTE[0] if v >= 0 else PALETTE[3] for v in values]
    bars = ax.bar(positions, values, color=colours, width=0.7)
    for bar, v in zip(bars, values, strict=True):
        if v < 0:
            bar.set_hatch("///")  # negative scores differ in texture as well as colour
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    ax.set_xticks(positions, tokens if ax is axes[-1] else [""] * len(tokens), fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="x", visible=False)
BookFigure(
    fig,
    "ch08-attributions",
    alt=(
        f"Six bar charts over the tokens of '{SENTENCES[0]}': the [CLS] attention of each layer, "
        "attention rollout, gradient times input, and integrated gradients with 128 and with 1024 "
        "steps. Negative gradient scores are drawn in a second colour with hatching."
    ),
    caption=(
        f"Figure 8.6: four explanations of the prediction for \u201c{SENTENCES[0]}\u201d. "
        "Attention rows are non-negative and sum to 1; gradient scores are signed (hatched bars "
        "are negative). Integrated gradients with 128 steps has not converged: compare its scores "
        "with those of 1024 steps."
    ),
)

# %% [markdown]
# **Why integrated gradients needs so many steps here.** The baseline is the `[PAD]`
# embedding, the zero vector, and the model adds no position vectors (its positions are
# rotary), so along the path every token enters the first layer norm as $\alpha e_i$. Layer
# norm scales it to full size once $\alpha \sigma_i$ exceeds $\sqrt{\epsilon}$, where
# $\sigma_i$ is the standard deviation of $e_i$'s features: the shaded band is where the
# output grows from 10% to 90% of its full size, for the words of the sentence. The class
# logit changes almost entirely at such tiny $\alpha$. The ticks at the bottom are where
# the 128-step quadratic grid evaluates the gradient.

# %%
embedding = model.token_embedding
target = int(probabilities[0].argmax())
inputs = embedding(one_ids).detach()
reference = embedding.weight[vocab.pad_id].detach()
alphas = np.geomspace(1e-5, 1.0, 121)
with torch.no_grad():
    path = []
    for alpha in [0.0, *alphas]:
        with replaced_output(embedding, reference + alpha * (inputs - reference)):
            path.append(model(one_ids, one_mask)[0, target].item())
eps = model.encoder.layers[0].norm1.eps
sigma = (inputs - reference)[0].std(dim=-1, correction=0)[1:]  # the words ([CLS] excluded)
knee = (eps**0.5 / sigma).numpy()
fig, ax = new_figure(width=8.4, height=3.0)
ax.plot(alphas, path[1:], color=PALETTE[0], label="class logit along the path")
ax.axhline(path[0], color="grey", linestyle=":", linewidth=1, label="at the baseline (\u03b1 = 0)")
# Layer norm's output is alpha*sigma / sqrt(alpha^2 sigma^2 + eps) of the full normalised token:
# 10% of it at alpha = 0.1005 * knee, 90% at alpha = 2.065 * knee (solve g / sqrt(1 - g^2) = alpha / knee).
low, high = (g / (1 - g**2) ** 0.5 for g in (0.1, 0.9))
ax.axvspan(low * knee.min(), high * knee.max(), color=PALETTE[1], alpha=0.25,
           label="layer norm output from 10% to 90%\nof full size (the sentence's words)")
grid = (np.arange(1, 129) / 128) ** 2
ax.plot(grid, np.full_like(grid, min(path)), "|", color="black", markersize=8, label="128-step grid")
ax.set_xscale("log")
ax.set_xlabel("\u03b1 (position on the path from baseline to input, log scale)")
ax.set_ylabel("logit of the predicted class")
ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
BookFigure(
    fig,
    "ch08-ig-path",
    alt=(
        "Line plot of the predicted class's logit along the straight path from the [PAD] baseline to "
        "the input, against alpha on a logarithmic axis from 0.00001 to 1. The logit changes almost "
        "entirely in a narrow band of small alpha, shaded, where few points of the 128-step grid fall."
    ),
    caption=(
        f"Figure 8.7: the class logit f(b + \u03b1(x \u2212 b)) for \u201c{SENTENCES[0]}\u201d. "
        "Most of the change happens where the first layer norm scales the tiny embeddings up to "
        "full size (shaded), which the 128-step grid (ticks) samples sparsely."
    ),
)

# %% [markdown]
# **Completeness against the number of steps**, measured by the command on the first test
# sentences: the mean and the largest gap $|\sum_i s_i - (f(x) - f(b))|$, next to the typical
# size of $f(x) - f(b)$, and how often the top token agrees with the one at the most steps.

# %%
gap_rows = results["completeness"]
display(table(
    ["steps", "mean |gap|", "largest |gap|", "mean |f(x) \u2212 f(b)|", "top token as with the most steps"],
    [[r["steps"], f"{r['mean_abs_gap']:.4f}", f"{r['max_abs_gap']:.4f}", f"{r['mean_abs_change']:.3f}",
      f"{r['top_token_agreement']:.0%}"] for r in gap_rows],
))
print(f"{results['completeness_examples']} test sentences; the deletion test uses "
      f"{results['deletion']['ig_steps']} steps")

# %% [markdown]
# ## The deletion test
#
# For every test sentence, each method ranks the tokens (`[CLS]` is never deleted); we delete
# the top $k$ by masking them out of the attention and measure the drop of the predicted
# class's probability, averaged over the sentences. Random orders give the chance level.

# %%
deletion = results["deletion"]
mask_result = result_from_dict(deletion["mask"])
print(mask_result)
display(Markdown(mask_result.to_markdown()))

# %%
fig = plot_faithfulness(mask_result)
BookFigure(
    fig,
    "ch08-faithfulness",
    alt=(
        "Line plot of the mean drop in the predicted class's probability against the number of "
        "deleted tokens, 1 to 5, for last-layer attention, attention rollout, gradient times input, "
        "integrated gradients and random deletion (dashed, with a band of one standard deviation)."
    ),
    caption=(
        f"Figure 8.8: the deletion test on the {mask_result.num_examples} sentences of the test "
        "split: mean drop of the predicted class's probability after deleting each method's top k "
        f"tokens, against random deletion ({mask_result.random_draws} random orders)."
    ),
)

# %% [markdown]
# **How the tokens are deleted.** Masking removes a token from every attention; replacing it
# by `[PAD]` keeps a token the model never saw in the middle of a sentence. Mean drop over
# $k = 1, \dots, 5$:

# %%
pad_result = result_from_dict(deletion["pad"])
display(table(["method", "masked", "replaced by [PAD]"],
              [[name, f"{mask_result.mean_drop(m):.3f}", f"{pad_result.mean_drop(m):.3f}"]
               for m, name in zip(mask_result.drops, [r[0] for r in mask_result.rows()[1:]], strict=True)]))

# %% [markdown]
# **Deleting words that carry nothing.** Subject, opener and closer words are drawn
# independently of the label, so deleting them removes no evidence; whatever the prediction
# loses is the cost of the deletion itself.

# %%
neutral = results["neutral_deletion"]
display(table(["k", "neutral words deleted", "random tokens deleted"],
              [[k, f"{n:.3f}", f"{r:.3f}"]
               for k, n, r in zip(neutral["ks"], neutral["neutral"], neutral["random"], strict=True)]))
print(f"{neutral['num_examples']} sentences")

# %% [markdown]
# **By phenomenon**, mean drop over $k = 1, \dots, 5$, and **agreement with the known
# rationale**: how often each method's top token is the decisive adjective.

# %%
names = dict(zip(mask_result.drops, [r[0] for r in mask_result.rows()[1:]], strict=True))
phenomena = list(deletion["by_phenomenon"])
display(table(["method", *phenomena],
              [[names[m], *[f"{deletion['by_phenomenon'][p]['mean_drop'][m]:.3f}" for p in phenomena]]
               for m in mask_result.drops]))
agreement = deletion["top_token_is_decisive"]
display(table(["method", "all", *phenomena],
              [[names[m], *[f"{agreement[m][p]:.0%}" for p in ["all", *phenomena]]] for m in agreement]))

# %% [markdown]
# ## Real sentences: the SST-2 model
#
# The chapter-7 classifier, trained on SST-2, read with the same tools. The slow measurements
# on the 872 dev sentences come from
# `python -m book_code.experiments.inside_sst2 --output docs/chapters/results/ch08_sst2_results.json`;
# this notebook needs only that file and the checkpoint, not the SST-2 files. The results
# file records the SHA-256 of the checkpoint it measured, and the next cell refuses a stale one.

# %%
from book_code.experiments import inside_sst2

sst2_folder = inside_sst2.find_results()
sst2 = json.loads((sst2_folder / inside_sst2.RESULTS_FILE).read_text(encoding="utf-8"))
sst2_model, sst2_vocab, sst2_identity = inside_sst2.load_sst2_model(sst2_folder / inside_sst2.CHECKPOINT_FILE)
assert sst2["checkpoint"]["sha256"] == sst2_identity["sha256"], f"stale results: run `{inside_sst2.COMMAND}`"
sst2_config = sst2_model.config
print(f"SST-2 model: {sst2_config.num_layers} layers x {sst2_config.num_heads} heads, "
      f"E = {sst2_config.embed_dim}, "
      f"{sst2_config.positional} positions, {sst2_config.pooling} pooling; dev accuracy "
      f"{sst2['model']['dev_accuracy']:.3f} on {sst2['data']['sentences']} sentences "
      f"({sst2['data']['negation']} with a negation word, {sst2['data']['contrast']} with a contrast word)")
sst2_heads = [f"layer {layer + 1}, head {head + 1}" for layer in range(sst2_config.num_layers)
              for head in range(sst2_config.num_heads)]

# %% [markdown]
# **Position and spread.** The mean weight from a word to the word $k$ places away, next to a
# uniform head, and how far each head's rows are from uniform (total-variation distance: 0 for
# a head that averages, near 1 for one that reads a single token).

# %%
stats = sst2["attention"]
sst2_offsets = torch.tensor(stats["head_offsets"]).flatten(0, 1).tolist()
sst2_distance = torch.tensor(stats["distance_from_uniform"]).flatten().tolist()
offset_names = [f"k = {k:+d}" if k else "k = 0 (itself)" for k in stats["offsets"]]
display(table(["head", *offset_names, "distance from uniform"],
              [[name, *[f"{v:.3f}" for v in row], f"{d:.2f}"]
               for name, row, d in zip(sst2_heads, sst2_offsets, sst2_distance, strict=True)]
              + [["uniform head", *[f"{v:.3f}" for v in stats["uniform_offsets"]], "0.00"]]))

# %% [markdown]
# **Negation words.** Does a negation word attend to the words it negates (the next
# three)? Does the word after it attend back to it, and is that more than the other words of
# the sentence do? Each measurement sits next to its control.

# %%
sst2_links = {name: torch.tensor(value) for name, value in stats["negator_links"].items()}
columns = ["negator_to_following", "word_to_following", "next_to_negator", "word_to_previous",
           "elsewhere_to_negator"]
link_rows = torch.stack([sst2_links[c] for c in columns], dim=-1).flatten(0, 1).tolist()
display(table(
    ["head", f"negator \u2192 next {stats['window']} words", "control: any word \u2192 next words",
     "next word \u2192 negator", "control: any word \u2192 previous word", "other words \u2192 negator"],
    [[name, *[f"{v:.3f}" for v in values]]
     for name, values in zip(sst2_heads, link_rows, strict=True)]
    + [["uniform head", f"{sst2_links['uniform_following'].item():.3f}", "", "", "",
        f"{sst2_links['uniform_elsewhere'].item():.3f}"]],
))
SST2_LAYER, SST2_HEAD = inside_sst2.negation_head(stats)
print(f"{int(sst2_links['negators'])} negation words; the head whose next words read the negator most "
      f"above the control (next word \u2192 negator minus any word \u2192 previous word): "
      f"layer {SST2_LAYER + 1}, head {SST2_HEAD + 1}")
BEHIND_HEAD, behind_share = inside_sst2.offset_head(stats, (-2, -1))
AHEAD_HEAD, ahead_share = inside_sst2.offset_head(stats, (0, 1))
last = sst2_config.num_layers
print(f"positional heads of the last layer: layer {last}, head {BEHIND_HEAD + 1} puts {behind_share:.2f} "
      f"of its weight on the two previous words; layer {last}, head {AHEAD_HEAD + 1} puts {ahead_share:.2f} "
      "on itself and the next word")
print("the tokens each head reads most, as a multiple of a uniform head's weight:")
for name, keys in zip(sst2_heads, [k for layer in stats["favoured_keys"] for k in layer], strict=True):
    print(f"  {name}: " + ", ".join(f"{token} {r:.1f}" for token, r in keys))

# %% [markdown]
# **One sentence, every head.** The first example sentence, chosen by a rule in the command
# (the shortest correctly classified dev sentence with *not* or *n't*, no contrast word and
# no unknown word).

# %%
examples = {e["kind"]: e for e in sst2["examples"]}


def encode_example(example: dict) -> tuple[list[str], torch.Tensor, float]:
    """The tokens, the attention weights (layers, heads, n, n) and p(positive) of a stored example."""
    encoded = encode_sentences(sst2_vocab, [example["text"]], [example["label"]], with_roles=False,
                               add_cls=sst2_config.pooling == "cls", max_len=sst2_config.max_len)
    with torch.no_grad():
        p = sst2_model(encoded.token_ids, encoded.padding_mask).softmax(dim=-1)[0, 1].item()
    return encoded.tokens[0], attention_weights(sst2_model, encoded.token_ids, encoded.padding_mask)[0], p


for example in examples.values():
    print(f"{example['kind']:>9}: p(positive) = {example['p_positive']:.3f}, label {example['label']}   "
          f"{example['text']}")
negation_tokens, negation_weights, _ = encode_example(examples["negation"])
fig = attention_grid(negation_weights, negation_tokens)
BookFigure(
    fig,
    "ch08-sst2-grid",
    alt=(
        f"A grid of {sst2_config.num_layers} by {sst2_config.num_heads} heatmaps of the SST-2 model's "
        f"attention, one per layer and head, for the dev sentence '{examples['negation']['text']}', on one "
        "shared colour scale."
    ),
    caption=(
        "Figure 8.9: every head of the SST-2 model for the dev sentence "
        f"\u201c{examples['negation']['text']}\u201d "
        f"({sst2_config.num_layers} layers down, {sst2_config.num_heads} heads across), on one colour scale."
    ),
)

# %% [markdown]
# The head view of the second example (the shortest correctly classified dev sentence with
# *but* after its first word and no negation word), opened at the last-layer head that reads
# the two previous words; the menus switch to the other heads.

# %%
contrast_tokens, contrast_weights, _ = encode_example(examples["contrast"])
HeadView(
    contrast_tokens, contrast_weights, layer=last - 1, head=BEHIND_HEAD, name="ch08-sst2-head-view",
    caption=(
        "Figure 8.10: interactive head view of the SST-2 model for "
        f"\u201c{examples['contrast']['text']}\u201d, opened at layer {last}, "
        f"head {BEHIND_HEAD + 1}, the head that reads the two previous words; "
        "line width and darkness grow with the weight."
    ),
)

# %% [markdown]
# **The deletion test on SST-2**: all dev sentences, and those with a negation word and with
# a contrast word (a sentence can be in both). Mean drop of the predicted class's
# probability; the table of each group, then the figure for all sentences.

# %%
sst2_deletion = {group: result_from_dict(value) for group, value in sst2["deletion"]["by_group"].items()}
for group, result in sst2_deletion.items():
    print(f"{group}:")
    print(result, end="\n\n")
completeness = sst2["deletion"]["completeness"]
print(f"integrated gradients with {completeness['steps']} steps: "
      f"mean |gap| {completeness['mean_abs_gap']:.2e}, "
      f"largest {completeness['max_abs_gap']:.2e}, mean |f(x) - f(b)| {completeness['mean_abs_change']:.3f}")

# %%
fig = plot_faithfulness(sst2_deletion["all"])
BookFigure(
    fig,
    "ch08-sst2-faithfulness",
    alt=(
        "Line plot of the mean drop in the predicted class's probability against the number of deleted "
        "tokens, 1 to 5, on the SST-2 dev sentences, for last-layer attention, attention rollout, gradient "
        "times input, integrated gradients and random deletion (dashed, with a band of one standard "
        "deviation)."
    ),
    caption=(
        f"Figure 8.11: the deletion test of the SST-2 model on the {sst2_deletion['all'].num_examples} dev "
        "sentences: mean drop of the predicted class's probability after deleting each method's top k "
        "tokens, "
        f"against random deletion ({sst2_deletion['all'].random_draws} random orders)."
    ),
)

# %% [markdown]
# **The two models side by side**: the mean drop over $k = 1, \dots, 5$ on the synthetic test
# split and on SST-2 dev, and as a fraction of integrated gradients' drop. Then the tokens
# each method most often ranks first on SST-2.

# %%
display(table(
    ["method", "synthetic task", "SST-2", "synthetic, share of IG", "SST-2, share of IG"],
    [[names[m], f"{mask_result.mean_drop(m):.3f}", f"{sst2_deletion['all'].mean_drop(m):.3f}",
      f"{mask_result.mean_drop(m) / mask_result.mean_drop('integrated_gradients'):.2f}",
      f"{sst2_deletion['all'].mean_drop(m) / sst2_deletion['all'].mean_drop('integrated_gradients'):.2f}"]
     for m in mask_result.drops],
))
display(table(["method", "most frequent top tokens (count)"],
              [[names[m], ", ".join(f"{token} ({count})" for token, count in tokens)]
               for m, tokens in sst2["deletion"]["top_tokens"].items()]))

# %% [markdown]
# **The statements section 8.9 makes**, checked on these results (a test checks them too):

# %%
for claim, holds in inside_sst2.chapter_claims(sst2, results).items():
    print(f"{'yes' if holds else 'NO '}  {claim}")

# %% [markdown]
# **The statements the chapter makes**, checked on these results (a test checks them too):

# %%
for claim, holds in chapter_claims(results).items():
    print(f"{'yes' if holds else 'NO '}  {claim}")
