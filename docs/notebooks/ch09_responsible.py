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
# # Chapter 9 notebook: audits, amplification, footprint
#
# This notebook shows the measurements of chapter 9. The training runs behind them were run
# once by one documented command, which writes every score and every timing to a results file:
#
# `python -m book_code.experiments.responsible --output docs/chapters/results/responsible_results.json`
#
# Here we re-run the audit of `book_code.bias` on the stored scores of the 8,640 sentences of
# the Equity Evaluation Corpus, tabulate the amplification experiment with its confidence
# intervals, and turn the measured wall times into energy and emissions under assumptions that
# are printed in full. It runs in a few seconds.

# %%
import json
from pathlib import Path

import numpy as np

import book_code
from book_code.bias import audit, generate_eec
from book_code.experiments.responsible import (
    FootprintAssumptions,
    audit_claims,
    female_male_words,
    footprint_estimates,
    score_lookup,
)
from book_code.figures import PALETTE, BookFigure, new_figure
from book_code.footprint import (
    GPT3_PATTERSON_2021,
    gpt3_co2e_from_published_energy,
    gpt3_footprint_from_published_hardware,
)

RESULTS = Path("docs") / "chapters" / "results"


def find(name: str) -> Path:
    """A file under docs/chapters/results of the repository this notebook belongs to."""
    for folder in [Path(book_code.__file__).resolve().parents[1], Path.cwd(), *Path.cwd().parents]:
        if (folder / RESULTS / name).exists():
            return folder / RESULTS / name
    raise FileNotFoundError(f"no {RESULTS / name}; run the command named at the top of this notebook")


results = json.loads(find("responsible_results.json").read_text(encoding="utf-8"))
machine = results["machine"]
print(f"measured on: {machine['cpu_model']}, {machine['cpu_count']} cores (shared), "
      f"load average at start {machine['load_average_at_start'][0]:.1f}; torch {machine['torch']}")

# %% [markdown]
# ## 1. The EEC audit of SST-2 classifiers
#
# Two models trained on SST-2's training split: the chapter-7 Transformer, loaded from the
# checkpoint that chapter 7's command saved (its SHA-256 is printed below), and the
# bag-of-words logistic regression, chapter 7's baseline. The command scored every EEC
# sentence with each model; the audit pairs sentences that differ only in the person they
# mention and reports the mean paired difference of the positive-class score (female minus
# male, African-American minus European) with a 95% percentile-bootstrap interval (10,000
# resamples of the pairs), the p-values of the paired t-test and of the Wilcoxon signed-rank
# test, and the flip rate: how often the predicted label (score at or above 0.5) changes
# within a pair.

# %%
records = generate_eec()
sentences = [r.sentence for r in records]
audits = {}
for model in results["audit"]["models"]:
    audits[model["key"]] = audit(score_lookup(sentences, model["scores"]), records)
    # Re-auditing the stored scores reproduces the command's numbers exactly.
    stored = model["summary"]["comparisons"]["gender"]["mean_difference"]
    assert audits[model["key"]].comparisons["gender"].mean_difference == stored
    print(f"### {model['label']}: SST-2 dev accuracy {model['dev_accuracy']:.3f}")
    print(f"    ({model['description']})")
    print(audits[model["key"]].table())
    means = audits[model["key"]].group_means
    print("mean score by group: " + ", ".join(f"{g} {m:.4f}" for g, m in means.items()) + "\n")
checkpoint = results["audit"]["checkpoint"]
recorded = checkpoint["dev_accuracy"]
print(f"chapter-7 checkpoint: {checkpoint['path']}, {checkpoint['bytes']:,} bytes, "
      f"SHA-256 {checkpoint['sha256']}")
print("dev accuracy recorded at training: " + ("not recorded" if recorded is None else f"{recorded:.3f}"))

# %% [markdown]
# A word-level model knows only the words of its training data; any other word becomes the
# unknown token (or, for the bag-of-words model, is ignored). Which of the EEC's first names
# occur in SST-2's training text at all?

# %%
for group, names in results["audit"]["names_in_sst2_train"].items():
    print(f"{group:<28} {len(names):>2} of 10 in SST-2 train: {', '.join(names) or '-'}")

# %% [markdown]
# The bag-of-words model is a sum of word weights, so its gender differences can be read off
# its weights: the log-odds of "positive" that one occurrence of each word adds. Words it never
# saw in training have no weight ("unseen") and do not change its score.

# %%
bow = next(m for m in results["audit"]["models"] if m["key"] == "bow")
weights = bow["person_word_weights"]
female_male = female_male_words()  # pronouns and the last word of each noun phrase of the EEC


def weight(word: str) -> str:
    return "unseen" if weights[word] is None else f"{weights[word]:+.3f}"


for female, male in female_male:
    print(f"{female:>11} {weight(female):>8}   {male:>9} {weight(male):>8}")

# %%
models = results["audit"]["models"]
fig, (left, right) = new_figure(ncols=2, width=9.0, height=3.4)
axes_labels = {"gender": "female − male", "race": "African-American − European"}
offsets = np.linspace(-0.15, 0.15, len(models))
for k, model in enumerate(models):
    result = audits[model["key"]]
    for row, axis in enumerate(("gender", "race")):
        c = result.comparisons[axis]
        left.errorbar(c.mean_difference, row + offsets[k], xerr=[[c.mean_difference - c.ci_low],
                      [c.ci_high - c.mean_difference]], fmt="os"[k % 2], color=PALETTE[k], capsize=3,
                      label=model["label"] if row == 0 else None)
    names = list(result.group_means)
    right.plot([result.group_means[g] for g in names], np.arange(len(names)) + offsets[k], "os"[k % 2],
               color=PALETTE[k], label=model["label"])
left.axvline(0.0, color="grey", linewidth=1)
left.set_yticks([0, 1], [axes_labels["gender"], axes_labels["race"]])
left.set_ylim(1.5, -0.5)
left.set_xlabel("mean paired score difference (95% CI)")
left.set_title("Paired differences")
left.legend(loc="center left", fontsize=8)
right.set_yticks(range(len(names)), names)
right.set_ylim(len(names) - 0.5, -0.5)
right.set_xlabel("mean positive-class score")
right.set_title("Mean score by group")
BookFigure(
    fig,
    "ch09-eec-audit",
    alt=(
        "Left: for each SST-2 model, the mean difference in positive-class score between EEC sentences "
        "that differ only in the person, with 95% bootstrap intervals, for gender (female minus male) "
        "and race (African-American minus European names), against a vertical line at zero. Right: the "
        "mean score of each group of sentences for each model."
    ),
    caption=(
        "Figure 9.1: audit of SST-2 classifiers on the 8,640 sentences of the Equity Evaluation Corpus: "
        "mean paired differences with 95% percentile-bootstrap intervals (left) and mean scores by "
        "group (right)."
    ),
)

# %% [markdown]
# The chapter's statements about this audit, each evaluated on the stored results by
# `audit_claims` (a test requires every one to hold):

# %%
for claim, holds in audit_claims(results).items():
    print(f"{'holds' if holds else 'FAILS'}  {claim}")

# %% [markdown]
# ## 2. Amplification and counterfactual data augmentation
#
# The chapter-6 task with a person in every sentence. In training (and dev), 80% of the
# positive sentences mention a woman and 80% of the negative ones a man; a fifth of the
# sentences are neutral, with no word that bears on the label. The same chapter-6 model and
# recipe is trained with each seed twice: on this data ("baseline") and on the data plus the
# gender-swapped copy of every sentence ("CDA"). Test sentences come in both versions, female
# and male. We report:
#
# * the counterfactual **gap**: positive-class probability of the female version minus that
#   of the male version of the same sentence, and the **flip rate** of the predicted label;
# * **accuracy** on the balanced test (both versions of every sentence, so gender carries no
#   information) and on a *skewed* test (one version per sentence, chosen with the training
#   skew, the setting in which the biased data would be evaluated in practice);
# * Zhao et al.'s **bias amplification** on the skewed test: how much the share of the
#   associated gender among the predictions exceeds its share in the training data.
#
# Intervals are 95% percentile-bootstrap intervals that resample seeds and test sentences
# independently (2,000 resamples).

# %%
amp = results["amplification"]
data = amp["data"]
print(f"training sentences: {data['train_sentences']} ({data['train_sentences_with_cda']} with CDA), "
      f"neutral share {data['neutral_share']:.2f}, seeds {data['seeds']}")
print(f"training bias scores: b*(positive, female) = {data['train_bias_positive_female']:.3f}, "
      f"b*(negative, male) = {data['train_bias_negative_male']:.3f}")
print("examples:", *data["examples"]["train"][:3], sep="\n  ")


def interval(entry: dict, sign: str = "+", digits: int = 3) -> str:
    """Mean and 95% interval of a results entry, e.g. '+0.012 [+0.004, +0.020]'."""
    return (f"{entry['mean']:{sign}.{digits}f} [{entry['ci_low']:{sign}.{digits}f}, "
            f"{entry['ci_high']:{sign}.{digits}f}]")


header = f"{'model':<9}{'sentences':<11}{'gap f-m':>26}{'flip rate':>26}{'amplification':>26}"
print("\n" + header)
for name in ("baseline", "cda"):
    for subset in ("sentiment", "neutral", "all"):
        r = amp[name][subset]
        print(f"{name:<9}{subset:<11}{interval(r['gap']):>26}{interval(r['flip_rate']):>26}"
              f"{interval(r['amplification']):>26}")
print(f"\n{'model':<9}{'sentences':<11}{'balanced test accuracy':>26}{'skewed test accuracy':>26}")
for name in ("baseline", "cda"):
    for subset in ("sentiment", "neutral", "all"):
        r = amp[name][subset]
        print(f"{name:<9}{subset:<11}{interval(r['balanced_accuracy'], '-'):>26}"
              f"{interval(r['skewed_accuracy'], '-'):>26}")

# %% [markdown]
# The predicted bias scores behind the amplification, pooled over seeds, and the paired
# differences CDA minus baseline (same seeds, same test sentences):

# %%
for name in ("baseline", "cda"):
    for subset in ("sentiment", "neutral"):
        a = amp[name][subset]["amplification"]
        pos, neg = a["predicted_shares"]
        print(f"{name:<9}{subset:<10} b~(positive, female) = {pos:.3f}, b~(negative, male) = {neg:.3f} "
              f"(training: {a['train_shares'][0]:.3f}, {a['train_shares'][1]:.3f})")
print()
for subset in ("sentiment", "neutral", "all"):
    d = amp["cda_minus_baseline"][subset]
    print(f"CDA - baseline, {subset:<9}: gap {interval(d['gap'])}, balanced accuracy "
          f"{interval(d['balanced_accuracy'])}, skewed accuracy {interval(d['skewed_accuracy'])}")
for name in ("baseline", "cda"):
    seconds = [r["seconds"] for r in results["footprint"]["runs"]
               if r["experiment"] == "amplification" and f", {name}," in r["name"]]
    print(f"{name}: mean training time {np.mean(seconds):.0f} s per seed (one thread)")

# %%
fig, axes = new_figure(ncols=3, width=10.0, height=3.4)
subsets = ("sentiment", "neutral")
styles = {"baseline": (PALETTE[3], "o", "no augmentation"), "cda": (PALETTE[0], "s", "with CDA")}
for k, (name, (colour, marker, label)) in enumerate(styles.items()):
    x = np.arange(len(subsets)) + (k - 0.5) * 0.25
    for ax, key in zip(axes[:2], ("gap", "amplification"), strict=True):
        entries = [amp[name][s][key] for s in subsets]
        means = np.array([e["mean"] for e in entries])
        errors = [means - [e["ci_low"] for e in entries], [e["ci_high"] for e in entries] - means]
        ax.errorbar(x, means, yerr=errors, fmt=marker, color=colour, capsize=3, label=label)
    for j, key in enumerate(("balanced_accuracy", "skewed_accuracy")):
        e = amp[name]["all"][key]
        axes[2].errorbar(j + (k - 0.5) * 0.25, e["mean"], yerr=[[e["mean"] - e["ci_low"]],
                         [e["ci_high"] - e["mean"]]], fmt=marker, color=colour, capsize=3,
                         label=label if j == 0 else None)
for ax in axes[:2]:
    ax.axhline(0.0, color="grey", linewidth=1)
    ax.set_xticks(range(len(subsets)), ["with sentiment words", "neutral"])
    ax.set_xlim(-0.6, len(subsets) - 0.4)
axes[0].set_ylabel("P(positive | she) − P(positive | he)")
axes[0].set_title("Counterfactual gap (balanced test)")
axes[1].set_ylabel("mean bias amplification")
axes[1].set_title("Zhao et al. amplification (skewed test)")
axes[2].set_xticks([0, 1], ["balanced test", "skewed test"])
axes[2].set_xlim(-0.6, 1.6)
axes[2].set_ylabel("accuracy, all test sentences")
axes[2].set_title("Accuracy")
axes[0].legend(loc="upper left", fontsize=8)
BookFigure(
    fig,
    "ch09-amplification",
    alt=(
        "Three panels comparing the chapter-6 model trained on gender-skewed data without augmentation "
        "and with counterfactual data augmentation, with 95% intervals. Left: the difference in "
        "positive-class probability between the female and male version of the same test sentence, for "
        "sentences with sentiment words and for neutral sentences. Middle: Zhao et al.'s bias "
        "amplification on a test set with the training skew. Right: accuracy on a balanced and on a "
        "skewed test set."
    ),
    caption=(
        "Figure 9.2: a model trained on data in which 80% of positive sentences mention a woman, without "
        "and with counterfactual data augmentation (CDA): counterfactual gap, bias amplification and "
        "accuracy, means over seeds and test sentences with 95% bootstrap intervals."
    ),
)

# %% [markdown]
# ## 3. The footprint of the book's training runs
#
# Every run's wall time and, where recorded, its CPU time were measured; its FLOPs are the
# analytic count of chapter 5 (matrix products only, padding not counted). On a shared machine
# the wall time also counts the time other processes held the cores, so the energy estimate uses
# the *busy core-seconds*: the CPU time where it was measured, otherwise wall time times
# threads. Energy and emissions follow from the assumptions below, none of which was measured:
# the machine is a shared virtual machine without access to power counters. Each estimate is
# proportional to each assumption, so a reader who knows better values can rescale the numbers
# directly.

# %%
assumptions = FootprintAssumptions()
for name, value in vars(assumptions).items():
    print(f"{name:<26} = {value:g}")
print("(sources and reasons: see the docstring of FootprintAssumptions and the chapter)")
rows = footprint_estimates(results["footprint"]["runs"], assumptions)
print(f"\n{'run':<56}{'wall s':>8}{'core s':>8}{'train FLOPs':>12}{'GFLOP/core s':>13}{'Wh':>8}{'g CO2e':>8}")
for row in rows:
    flops = row["train_flops"]
    rate = f"{flops / row['core_seconds'] / 1e9:13.2f}" if flops else f"{'-':>13}"
    flops_text = f"{flops:12.3g}" if flops else f"{'-':>12}"
    print(f"{row['name'][:55]:<56}{row['seconds']:>8.1f}{row['core_seconds']:>8.1f}{flops_text}{rate}"
          f"{1000 * row['energy_kwh']:>8.3f}{1000 * row['co2e_kg']:>8.3f}")
total_kwh = sum(r["energy_kwh"] for r in rows)
total_kg = sum(r["co2e_kg"] for r in rows)
wall, core = sum(r["seconds"] for r in rows), sum(r["core_seconds"] for r in rows)
print(f"{'all runs above':<56}{wall:>8.0f}{core:>8.0f}{'':>25}"
      f"{1000 * total_kwh:>8.2f}{1000 * total_kg:>8.2f}")

# %% [markdown]
# For comparison, GPT-3 as published by Patterson et al. (2021, Table 4), and the same figure
# recomputed from the published energy and grid intensity, and bottom-up from the published
# processor count, average power, training days and PUE:

# %%
gpt3 = GPT3_PATTERSON_2021
bottom_up = gpt3_footprint_from_published_hardware()
print(f"{gpt3.model}: {gpt3.energy_mwh:,.0f} MWh, {gpt3.co2e_tonnes:,.0f} t CO2e, {gpt3.flops:.3g} FLOPs "
      f"({gpt3.source})")
print(f"  recomputed from energy x grid intensity: {gpt3_co2e_from_published_energy():,.1f} t CO2e")
print(f"  bottom-up from hardware: {bottom_up.energy_kwh / 1000:,.0f} MWh, {bottom_up.co2e_kg / 1000:,.0f} t")
gpt3_kwh = gpt3.energy_mwh * 1000
print(f"\nGPT-3's training used {gpt3_kwh / total_kwh:.2g} times the estimated energy of all runs above.")
amp_rows = [r for r in rows if r["experiment"] == "amplification"]
joules_per_flop = sum(r["energy_kwh"] for r in amp_rows) * 3.6e6 / sum(r["train_flops"] for r in amp_rows)
print(f"energy per training FLOP: chapter-6 model on one CPU core {joules_per_flop:.3g} J, "
      f"GPT-3 on V100 GPUs {gpt3_kwh * 3.6e6 / gpt3.flops:.3g} J")

# %%
groups = {}
for row in rows:
    label = {"chapter 6": "chapter 6 model (one run)", "chapter 7": "chapter 7 SST-2 model",
             "amplification": "amplification experiment (all runs)",
             "audit": "SST-2 audit models (this chapter)"}[row["experiment"]]
    groups[label] = groups.get(label, 0.0) + row["energy_kwh"]
groups["all of the above"] = total_kwh
groups["GPT-3 (Patterson et al., 2021)"] = gpt3_kwh
fig, ax = new_figure(width=7.5, height=3.2)
names = list(groups)
colours = [PALETTE[0]] * (len(names) - 2) + [PALETTE[2], PALETTE[3]]
ax.barh(range(len(names)), list(groups.values()), color=colours)
ax.set_xscale("log")
ax.set_yticks(range(len(names)), names)
ax.invert_yaxis()
ax.set_xlabel("energy (kWh, log scale)")
ax.set_title(f"Estimated energy ({assumptions.watts_per_core:g} W per core, PUE {assumptions.pue:g}) "
             "vs. published GPT-3")
for i, value in enumerate(groups.values()):
    ax.text(value * 1.3, i, f"{value:.2g} kWh", va="center", fontsize=8)
ax.set_xlim(right=max(groups.values()) * 200)
BookFigure(
    fig,
    "ch09-footprint",
    alt=(
        "A horizontal bar chart on a logarithmic energy axis: the estimated energy of the book's own "
        "training runs (chapter 6, chapter 7, this chapter's experiments, and their "
        "total) next to the published energy of training GPT-3, whose bar reaches many orders of "
        "magnitude further along the axis."
    ),
    caption=(
        "Figure 9.3: estimated energy of the book's training runs (measured busy core time × assumed "
        "power per core × PUE) and the published energy of training GPT-3 (Patterson et al., 2021), "
        "on a log scale."
    ),
)
