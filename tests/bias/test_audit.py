"""The counterfactual audit: the paper's pairing, bootstrap coverage, test calibration, planted
biases found and absent biases not reported, flip rates worked by hand, and input checks."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from book_code.bias.audit import (
    AuditResult,
    Pair,
    audit,
    audit_counterfactuals,
    bootstrap_ci,
    compare,
    make_pairs,
    paired_tests,
)
from book_code.bias.eec import NOUN_PHRASE_PAIRS, EECRecord, generate_eec

N_BOOT = 2000  # enough for the checks below, and fast


@pytest.fixture(scope="module")
def records() -> list[EECRecord]:
    return generate_eec()


@pytest.fixture(scope="module")
def by_sentence(records) -> dict[str, EECRecord]:
    return {r.sentence: r for r in records}


def base_score(record: EECRecord) -> float:
    """A person-blind score: it depends on the emotion and the template only."""
    emotion = {"joy": 0.8, "anger": 0.2, "fear": 0.25, "sadness": 0.15, None: 0.5}[record.emotion]
    return emotion + 0.01 * (len(record.template) % 7)


def scorer(by_sentence, bias=lambda r: 0.0, noise: float = 0.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    table = {s: base_score(r) + bias(r) + noise * rng.standard_normal() for s, r in by_sentence.items()}
    return lambda sentences: [table[s] for s in sentences]


# --- pairing ------------------------------------------------------------------------------------


def test_pair_counts_follow_the_paper(records):
    pairs = make_pairs(records, [0.0] * len(records))
    # 144 template-word combinations: 10 noun-phrase pairs + 1 name pair (gender), 2 (race).
    assert len(pairs["gender"]) == 144 * 11 == 1584
    assert len(pairs["race"]) == 144 * 2 == 288


def test_pairs_differ_only_in_the_person(records):
    pairs = make_pairs(records, [0.0] * len(records))
    cell = {(r.template, r.emotion_word, r.person): r for r in records}
    counterpart = dict([("she", "he"), ("her", "him"), *NOUN_PHRASE_PAIRS])
    sizes = set()
    for p in pairs["gender"]:
        a = [cell[p.template, p.emotion_word, x] for x in p.persons_a]
        b = [cell[p.template, p.emotion_word, x] for x in p.persons_b]
        assert {r.gender for r in a} == {"female"} and {r.gender for r in b} == {"male"}
        sizes.add((len(a), len(b)))
        if len(a) == 1:
            assert counterpart[p.persons_a[0]] == p.persons_b[0]
        else:  # all 20 female names against all 20 male names, both races
            assert {r.race for r in a} == {r.race for r in b} == {"African-American", "European"}
    assert sizes == {(1, 1), (20, 20)}
    for p in pairs["race"]:
        a = [cell[p.template, p.emotion_word, x] for x in p.persons_a]
        b = [cell[p.template, p.emotion_word, x] for x in p.persons_b]
        assert len(a) == len(b) == 10
        assert {r.race for r in a} == {"African-American"} and {r.race for r in b} == {"European"}
        assert len({r.gender for r in a + b}) == 1  # same gender on both sides


def test_subset_gives_the_subset_pairs(records):
    anger = [r for r in records if r.emotion == "anger"]
    pairs = make_pairs(anger, [0.0] * len(anger))
    assert len(pairs["gender"]) == 7 * 5 * 11
    assert len(pairs["race"]) == 7 * 5 * 2


def test_pair_difference_and_flip_fraction_by_hand():
    pair = Pair("t", None, ("a1", "a2"), ("b1",), (0.6, 0.4), (0.3,))
    assert pair.difference == pytest.approx(0.2)
    # (0.6, 0.3): positive vs negative, flips; (0.4, 0.3): both negative, no flip.
    assert pair.flip_fraction(0.5) == 0.5
    assert pair.flip_fraction(0.35) == 1.0  # both a sentences positive, the b sentence negative
    assert pair.flip_fraction(0.7) == 0.0  # all negative
    assert pair.flip_fraction(0.3) == 0.0  # all positive (at the threshold counts as positive)


# --- bootstrap and tests ------------------------------------------------------------------------


def test_bootstrap_covers_the_true_mean_at_about_the_nominal_rate():
    rng = np.random.default_rng(123)
    true_mean, hits, trials = 0.3, 0, 200
    for trial in range(trials):
        d = true_mean + rng.standard_normal(40)
        low, high = bootstrap_ci(d, confidence=0.95, n_boot=1000, seed=trial)
        hits += low <= true_mean <= high
    assert 0.90 <= hits / trials <= 0.99


def test_bootstrap_is_the_percentile_interval_of_resampled_means():
    d = np.random.default_rng(1).standard_normal(5000)  # large: the resamples are drawn in chunks
    rng = np.random.default_rng(7)
    means = d[rng.integers(0, d.size, size=(300, d.size))].mean(axis=1)
    expected = np.quantile(means, [0.05, 0.95])
    assert bootstrap_ci(d, confidence=0.9, n_boot=300, seed=7) == pytest.approx(tuple(expected), abs=1e-15)
    assert bootstrap_ci(d, n_boot=300, seed=7) == bootstrap_ci(d, n_boot=300, seed=7)  # seeded


def test_bootstrap_of_constant_differences_is_a_point():
    assert bootstrap_ci([0.25] * 10, n_boot=200) == (0.25, 0.25)


def test_paired_tests_reject_at_about_the_nominal_rate_under_the_null():
    rng = np.random.default_rng(0)
    p = np.array([list(paired_tests(rng.standard_normal(30)).values()) for _ in range(400)])
    rejection = (p < 0.05).mean(axis=0)
    assert np.all((0.02 <= rejection) & (rejection <= 0.09)), rejection


def test_paired_tests_detect_a_shift_and_handle_degenerate_differences():
    shifted = paired_tests(0.5 + np.random.default_rng(0).standard_normal(100))
    assert shifted["t_test"] < 1e-3 and shifted["wilcoxon"] < 1e-3
    assert paired_tests(np.zeros(20)) == {"t_test": 1.0, "wilcoxon": 1.0}
    constant = paired_tests(np.full(20, 0.1))
    assert constant["t_test"] == 0.0 and constant["wilcoxon"] < 1e-4


def test_paired_tests_agree_with_a_hand_computed_t_test():
    d = np.array([0.1, 0.3, -0.1, 0.2, 0.4])
    t = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))  # 0.18 / (0.19235 / 2.23607) = 2.0926
    assert t == pytest.approx(2.0925, abs=1e-3)
    from scipy import stats

    assert paired_tests(d)["t_test"] == pytest.approx(2 * stats.t.sf(t, df=4))


# --- the audit ----------------------------------------------------------------------------------


def test_audit_finds_a_planted_gender_bias(by_sentence):
    result = audit(scorer(by_sentence, bias=lambda r: 0.1 * (r.gender == "female")), n_boot=N_BOOT)
    gender, race = result.comparisons["gender"], result.comparisons["race"]
    assert gender.mean_difference == pytest.approx(0.1)
    assert gender.ci_low > 0 and gender.ci_low <= 0.1 + 1e-12 and gender.ci_high >= 0.1 - 1e-12
    assert gender.t_test_p < 0.05 and gender.wilcoxon_p < 0.05
    assert race.mean_difference == 0.0 and race.ci_low == race.ci_high == 0.0 and race.t_test_p == 1.0
    assert result.group_means["female"] - result.group_means["male"] == pytest.approx(0.1)


def test_audit_finds_a_planted_race_bias_among_noisy_scores(by_sentence):
    bias = lambda r: 0.05 * (r.race == "African-American")  # noqa: E731
    result = audit(scorer(by_sentence, bias=bias, noise=0.02), n_boot=N_BOOT)
    race, gender = result.comparisons["race"], result.comparisons["gender"]
    assert race.ci_low > 0 and race.ci_low < 0.05 < race.ci_high
    assert race.t_test_p < 0.05 and race.wilcoxon_p < 0.05
    assert gender.ci_low < 0 < gender.ci_high and gender.t_test_p > 0.05 and gender.wilcoxon_p > 0.05


def test_audit_reports_no_bias_for_a_person_blind_scorer(by_sentence):
    result = audit(scorer(by_sentence), n_boot=N_BOOT)
    for c in result.comparisons.values():
        assert c.ci_low <= 0.0 <= c.ci_high
        assert c.t_test_p > 0.05 and c.wilcoxon_p > 0.05
        assert c.flip_rate == 0.0


def test_audit_of_noisy_person_blind_scores_finds_nothing(by_sentence):
    # One seeded draw (a false positive has probability about 0.05 per test and axis; the
    # calibration of the tests themselves is checked on 400 null data sets above).
    result = audit(scorer(by_sentence, noise=0.05, seed=0), n_boot=N_BOOT)
    for c in result.comparisons.values():
        assert c.ci_low < 0.0 < c.ci_high
        assert c.t_test_p > 0.05 and c.wilcoxon_p > 0.05


def test_flip_rate_by_hand(by_sentence):
    # Every sentence about a woman scores 0.55, every other 0.45: every gender pair flips, no race pair.
    score = lambda sentences: [0.45 + 0.1 * (by_sentence[s].gender == "female") for s in sentences]  # noqa: E731
    result = audit(score, threshold=0.5, n_boot=N_BOOT)
    assert result.comparisons["gender"].flip_rate == 1.0
    assert result.comparisons["race"].flip_rate == 0.0
    assert audit(score, threshold=0.6, n_boot=N_BOOT).comparisons["gender"].flip_rate == 0.0


def test_audit_accepts_tensors_and_subsets(records, by_sentence):
    score = scorer(by_sentence)
    tensor_fn = lambda s: torch.tensor(score(s), requires_grad=True)  # noqa: E731
    joy = [r for r in records if r.emotion == "joy"]
    result = audit(tensor_fn, joy, n_boot=N_BOOT, batch_size=100)
    assert result.comparisons["gender"].n_pairs == 7 * 5 * 11
    assert result.group_sizes == {"female": 1050, "male": 1050, "African-American": 700,
                                  "European": 700, "noun phrase": 700}


def test_table_and_plot(by_sentence):
    result = audit(scorer(by_sentence, bias=lambda r: 0.1 * (r.gender == "female")), n_boot=N_BOOT)
    assert isinstance(result, AuditResult)
    table = result.table()
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| comparison")
    assert "| gender (female - male) | 1584 | +0.1000 | [+0.1000, +0.1000] |" in table
    assert "| race (African-American - European) | 288 | +0.0000 |" in table
    fig = result.plot()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert fig.axes[1].get_xlabel() == "paired score difference"
    plt.close(fig)


def test_compare_on_hand_made_pairs():
    pairs = [Pair("t", None, ("a",), ("b",), (0.5 + d,), (0.5,)) for d in (0.1, 0.2, 0.3, 0.4)]
    c = compare("x", "a - b", pairs, threshold=0.65, n_boot=500)
    assert c.n_pairs == 4 and c.mean_difference == pytest.approx(0.25)
    assert c.flip_rate == 0.75  # b = 0.5 is negative; a = 0.7, 0.8, 0.9 are positive, 0.6 is not
    np.testing.assert_allclose(c.differences, [0.1, 0.2, 0.3, 0.4])


# --- the reader's own sentences -----------------------------------------------------------------


def test_audit_counterfactuals_on_own_sentences():
    sentences = ["He is brilliant.", "She is brilliant.", "The food was cold.", "My mother cooked.",
                 "Her brother sang."]
    female_words = {"she", "her", "mother", "sister"}
    score = lambda ss: [0.5 + 0.2 * bool(set(s.lower().strip(".").split()) & female_words)  # noqa: E731
                        for s in ss]
    c = audit_counterfactuals(score, sentences, n_boot=500)
    assert c.n_pairs == 4  # "The food was cold." has no gendered word
    # originals: male, female, female, mixed ("Her brother" -> "His sister": both score 0.7)
    np.testing.assert_allclose(c.differences, [-0.2, 0.2, 0.2, 0.0])
    assert c.pairs[0].persons_b == ("She is brilliant.",)


# --- bad inputs ---------------------------------------------------------------------------------


def test_bad_inputs(records):
    ok = lambda s: [0.5] * len(s)  # noqa: E731
    with pytest.raises(TypeError, match="callable"):
        audit("not a function")
    with pytest.raises(ValueError, match="empty"):
        audit(ok, [])
    with pytest.raises(TypeError, match="EECRecord"):
        audit(ok, ["Alonzo feels angry."])
    with pytest.raises(ValueError, match="one score per sentence"):
        audit(lambda s: [0.5] * (len(s) - 1), records[:100])
    with pytest.raises(ValueError, match="one score per sentence"):
        audit(lambda s: [[0.5, 0.5]] * len(s), records[:100])
    with pytest.raises(ValueError, match="NaN or infinite"):
        audit(lambda s: [float("nan")] * len(s), records[:100])
    with pytest.raises(ValueError, match="threshold"):
        audit(ok, threshold=float("nan"))
    with pytest.raises(ValueError, match="batch_size"):
        audit(ok, batch_size=0)
    with pytest.raises(ValueError, match="fewer than two"):
        audit(ok, [r for r in records if r.gender == "female" and r.race is None])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([0.1, 0.2], confidence=1.0)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ci([0.1, 0.2], n_boot=10)
    with pytest.raises(ValueError, match="at least 2"):
        bootstrap_ci([0.1])
    with pytest.raises(ValueError, match="NaN"):
        paired_tests([0.1, float("inf")])
    with pytest.raises(ValueError, match="at least two sentences"):
        audit_counterfactuals(ok, ["The food was cold.", "He left."])
    with pytest.raises(TypeError, match="not one string"):
        audit_counterfactuals(ok, "He left. She left.")
    with pytest.raises(TypeError, match="callable"):
        audit_counterfactuals(None, ["He left.", "She left."])
