"""Chapter 9's experiment code: the person task, CDA, the bootstrap, the amplification formula,
the audit of stored scores and of the chapter-7 model, the claims of section 9.4, the footprint
records, the command and its results file."""

from __future__ import annotations

import copy
import hashlib
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from book_code.bias import audit, bias_amplification, gender_of, generate_eec, substitute
from book_code.bias.counterfactual import GENDER_SUBSTITUTIONS
from book_code.data.datasets import sha256_file
from book_code.data.synthetic import NEGATIVE, POSITIVE
from book_code.data.vocab import Vocabulary
from book_code.encoder import ClassifierConfig, TransformerClassifier
from book_code.experiments import responsible as r
from book_code.experiments.sst2 import COMMAND as SST2_COMMAND
from book_code.footprint import classifier_flops, estimate_footprint
from book_code.training.checkpoint import save_checkpoint

ROOT = Path(__file__).resolve().parents[2]
RESULTS_FILE = ROOT / "docs" / "chapters" / "results" / "responsible_results.json"
SST2_CHECKPOINT = ROOT / "docs" / "chapters" / "results" / "sst2_model.pt"
TINY = replace(r.PERSON_CONFIG, embed_dim=16, num_heads=2, num_layers=1, ff_dim=32, epochs=1)


# --- the person task --------------------------------------------------------------------------

@pytest.mark.parametrize("frame", r.PERSON_FRAMES)
def test_every_frame_names_one_gender_and_swaps_cleanly(frame):
    female = r.with_person("The plot is not dull, it is clever.", "female", frame)
    male = r.with_person("The plot is not dull, it is clever.", "male", frame)
    assert gender_of(female) == "female" and gender_of(male) == "male"
    assert substitute(male, GENDER_SUBSTITUTIONS) == female  # swapping back restores the sentence
    assert female.endswith("the plot is not dull, it is clever.") and female[0].isupper()


def test_with_person_rejects_other_genders():
    with pytest.raises(ValueError, match="gender"):
        r.with_person("Good.", "other", r.PERSON_FRAMES[0])


@pytest.mark.parametrize("share", [0.5, 0.8, 0.95, 0.2])
def test_skewed_genders_has_exact_shares(share):
    labels = [1] * 100 + [0] * 60
    genders = r.skewed_genders(labels, share, random.Random(0))
    assert r.training_shares(labels, genders) == (pytest.approx(share), pytest.approx(share))


def test_skewed_genders_rejects_a_share_outside_0_1():
    with pytest.raises(ValueError, match="share"):
        r.skewed_genders([1, 0], 1.5, random.Random(0))


def test_neutral_examples_are_distinct_balanced_and_without_sentiment_words():
    exclude = {"The film was a remake."}
    examples = r.neutral_examples(200, random.Random(1), exclude)
    texts = [e.text for e in examples]
    assert len(set(texts)) == 200 and "The film was a remake." not in texts
    assert sum(e.label for e in examples) == 100
    words = {w.strip(".,") for t in texts for w in t.lower().split()}
    assert not words & (set(POSITIVE) | set(NEGATIVE))
    assert set(texts) <= exclude  # they are added to the exclusion set


def test_person_splits_skew_train_and_pair_the_test_sentences():
    splits = r.person_splits(0.8, 80, 40, 40, neutral_share=0.2)
    assert len(splits.train_texts) == 100 and len(splits.test_female) == 50
    assert r.training_shares(splits.train_labels, splits.train_genders) == (0.8, 0.8)
    assert [gender_of(t) for t in splits.train_texts] == splits.train_genders
    for female, male in zip(splits.test_female, splits.test_male, strict=True):
        assert gender_of(female) == "female" and substitute(female, GENDER_SUBSTITUTIONS) == male
    assert r.training_shares(splits.test_labels, splits.test_skewed_gender) == (0.8, 0.8)
    assert splits.test_phenomena.count("neutral") == 10
    neutral = np.array(splits.test_phenomena) == "neutral"
    labels, genders = np.array(splits.test_labels), np.array(splits.test_skewed_gender)
    for kind in (neutral, ~neutral):  # exact for each kind of sentence, not only for their union
        assert r.training_shares(labels[kind], genders[kind]) == (0.8, 0.8)
    bodies = {t.split(" ", 2)[-1] for t in splits.train_texts}
    assert not bodies & {t.split(" ", 2)[-1] for t in splits.test_female}  # no test sentence in training


def test_counterfactual_augmentation_balances_gender_within_each_label():
    splits = r.person_splits(0.8, 40, 20, 20)
    texts, labels = r.counterfactual_augmentation(splits.train_texts, splits.train_labels)
    n = len(splits.train_texts)
    assert len(texts) == 2 * n and labels[:n] == splits.train_labels
    genders = [gender_of(t) for t in texts]
    assert r.training_shares(labels, genders) == (0.5, 0.5)
    assert set(texts[n:]) == {substitute(t, GENDER_SUBSTITUTIONS) for t in splits.train_texts}


# --- amplification and the bootstrap ----------------------------------------------------------

@pytest.mark.parametrize("seed", range(5))
def test_binary_amplification_equals_zhao_et_al(seed):
    rng = np.random.default_rng(seed)
    train_labels = rng.integers(0, 2, 300)
    skew = rng.uniform(0.1, 0.9)
    train_female = np.where(train_labels == 1, rng.random(300) < skew, rng.random(300) > skew)
    predicted = rng.integers(0, 2, 200)
    female = rng.random(200) < 0.5
    as_gender = lambda f: ["female" if x else "male" for x in f]  # noqa: E731
    book = bias_amplification(train_labels.tolist(), as_gender(train_female), predicted.tolist(),
                              as_gender(female)).value
    shares = r.training_shares(train_labels, as_gender(train_female))
    assert r.binary_amplification(predicted, female, shares) == pytest.approx(book, abs=1e-12)


def test_binary_amplification_weights_are_repetitions_and_rows_are_pooled():
    rng = np.random.default_rng(0)
    predicted, female = rng.integers(0, 2, (3, 50)), rng.random(50) < 0.4
    weights = rng.integers(0, 4, 50)
    repeated = np.repeat(predicted, weights, axis=1)
    a = r.binary_amplification(predicted, female, (0.8, 0.7), weights)
    assert a == pytest.approx(r.binary_amplification(repeated, np.repeat(female, weights), (0.8, 0.7)))
    pooled = r.binary_amplification(predicted.reshape(1, -1), np.tile(female, 3), (0.8, 0.7))
    assert r.binary_amplification(predicted, female, (0.8, 0.7)) == pytest.approx(pooled)
    assert np.isnan(r.binary_amplification(np.ones(5), np.ones(5, bool), (0.8, 0.8)))


def test_predicted_shares_by_hand():
    assert r.predicted_shares(np.array([1, 1, 0, 0]), np.array([True, False, False, True])) == (0.5, 0.5)
    assert r.predicted_shares(np.array([[1, 0], [1, 1]]), np.array([True, False])) == (2 / 3, 1.0)


def test_crossed_bootstrap_covers_the_mean_and_grows_with_seed_variation():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (5, 400))
    same_seeds = noise + 0.3
    different_seeds = noise + 0.3 + np.array([[-1.0], [-0.5], [0.0], [0.5], [1.0]])
    low, high = r.crossed_bootstrap_ci(same_seeds)
    assert low < same_seeds.mean() < high and high - low < 0.2
    low2, high2 = r.crossed_bootstrap_ci(different_seeds)
    assert high2 - low2 > 3 * (high - low)  # seed-to-seed spread widens the interval
    assert r.crossed_bootstrap_ci(np.ones((3, 5))) == (1.0, 1.0)
    with pytest.raises(ValueError, match="shape"):
        r.crossed_bootstrap_ci(np.ones(5))


def test_amplification_interval_contains_the_estimate():
    rng = np.random.default_rng(1)
    female = rng.random(300) < 0.5
    predicted = (rng.random((3, 300)) < np.where(female, 0.7, 0.3)).astype(int)
    estimate = r.binary_amplification(predicted, female, (0.6, 0.6))
    low, high = r.amplification_ci(predicted, female, (0.6, 0.6), n_boot=500)
    assert low < estimate < high


# --- training, scores and audits --------------------------------------------------------------

def test_train_classifier_and_scores_on_a_tiny_task():
    splits = r.person_splits(0.8, 60, 20, 20)
    trained = r.train_classifier(splits.train_texts, splits.train_labels, splits.dev_texts,
                                 splits.dev_labels, TINY, seed=0)
    scores = r.classifier_score_fn(trained["model"], trained["vocab"])(splits.test_female)
    assert scores.shape == (25,) and np.all((scores >= 0) & (scores <= 1))
    assert trained["epochs"] == 1 and len(trained["train_lengths"]) == 75
    record = r._run_record("tiny", trained, 1, "amplification")
    config = trained["model"].config
    expected = sum(classifier_flops(config, 1, n, training=True) for n in trained["train_lengths"])
    expected += sum(classifier_flops(config, 1, n) for n in trained["dev_lengths"])
    assert record["train_flops"] == expected and record["seconds"] > 0


def test_positive_scores_are_the_softmax_of_the_logits():
    torch.manual_seed(0)
    splits = r.person_splits(0.8, 20, 10, 10)
    trained = r.train_classifier(splits.train_texts, splits.train_labels, splits.dev_texts,
                                 splits.dev_labels, TINY, seed=0)
    model, vocab = trained["model"], trained["vocab"]
    ids = torch.tensor([vocab.encode(splits.test_male[0], add_cls=True)])
    expected = torch.softmax(model(ids, torch.ones_like(ids, dtype=torch.bool)), -1)[0, 1].item()
    assert r.positive_scores(model, vocab, splits.test_male[:1])[0] == pytest.approx(expected, abs=1e-6)


def test_audit_of_stored_scores_reproduces_the_audit():
    records = generate_eec()
    score = lambda s: [0.5 + 0.05 * ("She" in x or "her" in x) for x in s]  # noqa: E731
    stored = r.audit_scores(score)
    direct = audit(score, records)
    assert stored["summary"]["table"] == direct.table()
    assert len(stored["scores"]) == 8640
    again = audit(r.score_lookup([x.sentence for x in records], stored["scores"]), records)
    assert again.table() == direct.table()


def test_score_lookup_rejects_duplicates_and_unknown_sentences():
    with pytest.raises(ValueError, match="distinct"):
        r.score_lookup(["a", "a"], [0.1, 0.2])
    with pytest.raises(KeyError):
        r.score_lookup(["a"], [0.1])(["b"])


# --- the chapter-7 model that the audit needs ----------------------------------------------------

def tiny_sst2_checkpoint(folder: Path, smoke: bool | None = False, extra: dict | None = None) -> Path:
    """An untrained tiny classifier saved like chapter 7's model, with chapter 7's results file beside
    it (``smoke=None``: without the results file)."""
    torch.manual_seed(0)
    vocab = Vocabulary.build(["a good film", "a bad film about my sister"])
    model = TransformerClassifier(vocab_size=len(vocab), num_classes=2, embed_dim=8, num_heads=2,
                                  num_layers=1, ff_dim=16, max_len=64, pooling="mean", pad_id=vocab.pad_id)
    path = save_checkpoint(folder / "sst2_model.pt", model.half(), model.config.to_dict(), vocab.itos,
                           {"seed": 3, "dev_accuracy": 0.5} if extra is None else extra)
    if smoke is not None:
        (folder / "sst2_results.json").write_text(json.dumps({"command": SST2_COMMAND, "smoke": smoke}))
    return path


def test_a_missing_checkpoint_is_refused_with_what_was_expected_and_the_command(tmp_path):
    with pytest.raises(r.SST2ModelError) as error:
        r.require_chapter7_model(tmp_path / "sst2_model.pt")
    message = str(error.value)
    assert str(tmp_path / "sst2_model.pt") in message and "there is no file" in message
    assert SST2_COMMAND in message


def test_a_smoke_checkpoint_is_refused(tmp_path):
    path = tiny_sst2_checkpoint(tmp_path, smoke=True)
    with pytest.raises(r.SST2ModelError, match="smoke run") as error:
        r.require_chapter7_model(path)
    assert SST2_COMMAND in str(error.value)


def test_a_checkpoint_without_chapter_7_results_is_refused(tmp_path):
    path = tiny_sst2_checkpoint(tmp_path, smoke=None)
    with pytest.raises(r.SST2ModelError, match=r"sst2_results\.json"):
        r.require_chapter7_model(path)


def test_a_full_run_checkpoint_is_accepted(tmp_path):
    path = tiny_sst2_checkpoint(tmp_path, smoke=False)
    assert r.require_chapter7_model(path) == tmp_path / "sst2_results.json"


def test_the_command_stops_without_the_chapter_7_model(tmp_path, capsys):
    out = tmp_path / "results.json"
    code = r.main(["--sst2-checkpoint", str(tmp_path / "missing.pt"), "--output", str(out), "--quiet"])
    assert code != 0 and not out.exists()
    error = capsys.readouterr().err
    assert str(tmp_path / "missing.pt") in error and SST2_COMMAND in error


def test_checkpoint_identity_is_the_file_hash_and_the_stored_metadata(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"not really a model")
    identity = r.checkpoint_identity(path, {"dev_accuracy": 0.81, "seed": 0, "dtype": "float16"})
    assert identity["sha256"] == hashlib.sha256(b"not really a model").hexdigest() == sha256_file(path)
    assert (identity["dev_accuracy"], identity["seed"], identity["bytes"]) == (0.81, 0, 18)
    assert r.checkpoint_identity(path, {})["dev_accuracy"] is None  # an older checkpoint without it


def test_sst2_audits_audit_the_given_checkpoint_and_record_its_identity(tmp_path):
    from tests.data.conftest import find_data_root

    torch.set_num_threads(1)
    path = tiny_sst2_checkpoint(tmp_path, extra={"seed": 3})
    audited, runs = r.sst2_audits(path, str(find_data_root()))
    assert [m["key"] for m in audited["models"]] == ["bow", "chapter7"]
    assert audited["checkpoint"] == {"path": str(path), "sha256": sha256_file(path),
                                     "bytes": path.stat().st_size, "dev_accuracy": None, "seed": 3}
    assert [run["experiment"] for run in runs] == ["audit"]  # only the baseline is fitted here
    records = generate_eec()
    for model in audited["models"]:
        again = audit(r.score_lookup([x.sentence for x in records], model["scores"]), records)
        assert again.table() == model["summary"]["table"]
    assert set(r.audit_claims({"audit": audited})) == set(CLAIMS)  # the claims can be evaluated


def test_names_in_vocabulary():
    found = r.names_in_vocabulary({"adam", "ebony", "film"})
    assert found["male, European"] == ["Adam"] and found["female, African-American"] == ["Ebony"]
    assert found["female, European"] == []


# --- footprint ---------------------------------------------------------------------------------

def test_run_flops_counts_every_sequence_and_epoch():
    config = ClassifierConfig(vocab_size=50, num_classes=2, embed_dim=16, num_heads=2, num_layers=1,
                              ff_dim=32)
    flops = r.run_flops(config, [5, 7, 5], [3], epochs=2)
    per_epoch = 2 * classifier_flops(config, 1, 5, True) + classifier_flops(config, 1, 7, True)
    assert flops == 2 * (per_epoch + classifier_flops(config, 1, 3))


def test_footprint_estimates_follow_the_formula():
    assumptions = r.FootprintAssumptions(watts_per_core=12.0, pue=1.5, grid_intensity_g_per_kwh=400.0)
    rows = r.footprint_estimates([{"name": "x", "seconds": 3600.0, "threads": 2}], assumptions)
    assert rows[0]["energy_kwh"] == pytest.approx(2 * 12.0 * 1.5 / 1000)
    assert rows[0]["co2e_kg"] == pytest.approx(rows[0]["energy_kwh"] * 0.4)
    direct = estimate_footprint(hours=1.0, device_power_watts=12.0, utilisation=1.0, pue=1.5,
                                grid_intensity_g_per_kwh=400.0, num_devices=2)
    assert rows[0]["energy_kwh"] == pytest.approx(direct.energy_kwh)


def test_default_assumptions_are_the_documented_ones():
    a = r.FootprintAssumptions()
    assert (a.pue, a.grid_intensity_g_per_kwh, a.utilisation) == (1.58, 429.0, 1.0)
    assert a.watts_per_core > 0


def test_chapter7_run_reads_the_footprint_record(tmp_path):
    path = tmp_path / "sst2_results.json"
    assert r.chapter7_run(path) is None
    path.write_text(json.dumps({"command": "x", "footprint": {"train_seconds": 12.5, "threads": 2,
                                                             "train_flops": 1e12, "parameters": 100}}))
    run = r.chapter7_run(path)
    assert (run["seconds"], run["threads"], run["train_flops"]) == (12.5, 2, 1e12)
    path.write_text(json.dumps({"rows": []}))
    assert r.chapter7_run(path) is None
    path.write_text(json.dumps({"smoke": True, "footprint": {"train_seconds": 3.0}}))
    assert r.chapter7_run(path) is None  # a smoke test is not the chapter's run


def test_finite_or_none():
    assert r.finite_or_none({"a": [1.0, float("nan")], "b": (float("inf"), "x")}) == {"a": [1.0, None],
                                                                                        "b": [None, "x"]}


# --- the command --------------------------------------------------------------------------------

def test_command_writes_a_complete_results_file(tmp_path):
    out = tmp_path / "results.json"
    assert r.main(["--skip-audit", "--seeds", "0", "--sizes", "40", "20", "20", "--n-boot", "200",
                   "--sst2-checkpoint", str(tmp_path / "not-needed.pt"), "--output", str(out),
                   "--quiet"]) == 0
    results = json.loads(out.read_text())
    amp = results["amplification"]
    for name in ("baseline", "cda"):
        for subset in ("all", "sentiment", "neutral"):
            assert {"gap", "flip_rate", "balanced_accuracy", "skewed_accuracy", "amplification"} <= set(
                amp[name][subset])
    assert amp["data"]["zhao_equals_book_code"] is True
    assert [run["experiment"] for run in results["footprint"]["runs"]].count("amplification") == 2


# --- the committed results file -------------------------------------------------------------------

@pytest.fixture(scope="module")
def results():
    if not RESULTS_FILE.exists():
        pytest.fail(f"{RESULTS_FILE} is missing; run: {r.COMMAND}")
    return json.loads(RESULTS_FILE.read_text(encoding="utf-8"))


def test_results_file_holds_the_chapter_experiments(results):
    assert results["command"] == r.COMMAND
    data = results["amplification"]["data"]
    assert len(data["seeds"]) >= 3 and data["zhao_equals_book_code"] is True
    assert data["train_bias_positive_female"] == data["train_bias_negative_male"] == 0.8
    assert data["gold_amplification_skewed_test"] == 0.0
    for name in ("baseline", "cda"):  # the skew is exact in each kind of test sentence too
        for subset in ("all", "sentiment", "neutral"):
            assert results["amplification"][name][subset]["gold_amplification"] == pytest.approx(0, abs=1e-12)
    for name in ("baseline", "cda"):
        for subset in ("all", "sentiment", "neutral"):
            for entry in results["amplification"][name][subset].values():
                if isinstance(entry, dict):
                    assert entry["ci_low"] <= entry["mean"] <= entry["ci_high"]
                    assert len(entry["per_seed"]) == len(data["seeds"])
    kinds = {run["experiment"] for run in results["footprint"]["runs"]}
    assert {"amplification", "audit"} <= kinds
    assert all(run["seconds"] > 0 for run in results["footprint"]["runs"])


def test_results_file_audits_reproduce_from_the_stored_scores(results):
    audited = results["audit"]
    assert audited["n_sentences"] == 8640 and len(audited["models"]) >= 2
    records = generate_eec()
    sentences = [x.sentence for x in records]
    for model in audited["models"]:
        assert len(model["scores"]) == 8640
        again = audit(r.score_lookup(sentences, model["scores"]), records)
        assert again.table() == model["summary"]["table"], model["key"]
    assert [m["key"] for m in audited["models"]] == ["bow", "chapter7"]
    recorded = audited["checkpoint"]["dev_accuracy"]
    measured = audited["models"][1]["dev_accuracy"]  # the stored model in half precision, scored again
    assert recorded is None or abs(recorded - measured) < 0.01


def test_results_file_audit_was_computed_from_the_committed_checkpoint(results):
    """Fails when chapter 7's model changed after the audit ran: then run
    ``python -m book_code.experiments.responsible --audit-only`` (seconds)."""
    if not SST2_CHECKPOINT.is_file():
        pytest.fail(f"{SST2_CHECKPOINT} is missing; run: {SST2_COMMAND}")
    assert results["audit"]["checkpoint"]["sha256"] == sha256_file(SST2_CHECKPOINT), (
        f"the audit in {RESULTS_FILE.name} was computed from another checkpoint than {SST2_CHECKPOINT.name}; "
        f"run: {r.COMMAND} --audit-only"
    )


# --- the claims of section 9.4 --------------------------------------------------------------------

CLAIMS = (
    "gender: both models score sentences about women lower (paired difference < 0)",
    "race: both models score sentences with African-American names lower (paired difference < 0)",
    "every 95% interval lies below zero (both models, both comparisons)",
    "both paired tests give p < 0.001 (both models, both comparisons)",
    "the predicted label flips in some pairs (both models, both comparisons)",
    "the Transformer's paired differences are larger than the bag-of-words model's, for gender and race",
    "bag of words: its group means of women and men differ by less than a tenth of its paired gender "
    "difference",
    "Transformer: its group mean of women is above that of men, against its paired gender difference",
    "both models: women's names score above men's names on average, female noun phrases below male ones",
    "bag of words: some female word outweighs its male counterpart and some is outweighed by it",
    "bag of words: some words of the gendered pairs never occur in SST-2's training split",
    "fewer of the African-American first names than of the European ones occur in SST-2 train",
)


def test_every_claim_of_section_9_4_holds_on_the_committed_results(results):
    claims = r.audit_claims(results)
    assert tuple(claims) == CLAIMS  # a new or renamed claim must be read against the prose
    false = [claim for claim, holds in claims.items() if not holds]
    assert not false, f"section 9.4 says what these results no longer show: {false}"


def _comparison(results, key, axis):
    model = next(m for m in results["audit"]["models"] if m["key"] == key)
    return model["summary"]["comparisons"][axis]


def test_claims_turn_false_when_the_results_change(results):
    changed = copy.deepcopy(results)
    _comparison(changed, "chapter7", "race")["mean_difference"] = 0.0
    _comparison(changed, "bow", "gender")["ci_high"] = 0.001
    claims = r.audit_claims(changed)
    assert not claims[CLAIMS[1]] and not claims[CLAIMS[2]] and not claims[CLAIMS[5]]
    assert claims[CLAIMS[0]] == r.audit_claims(results)[CLAIMS[0]]  # the others are untouched
    changed = copy.deepcopy(results)
    bow = next(m for m in changed["audit"]["models"] if m["key"] == "bow")
    bow["person_word_weights"] = {w: 0.5 for w in bow["person_word_weights"]}
    changed["audit"]["names_in_sst2_train"] = {g: ["x"] for g in results["audit"]["names_in_sst2_train"]}
    claims = r.audit_claims(changed)
    assert not claims[CLAIMS[9]] and not claims[CLAIMS[10]] and not claims[CLAIMS[11]]
