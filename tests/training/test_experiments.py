"""The chapter 6 experiment code, on tiny settings, and the committed results file."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from book_code.training.experiments import (
    CHAPTER_CONFIG,
    TorchEncoderClassifier,
    book_copy,
    bow_baselines,
    compare_throughput,
)

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "chapters" / "results" / "ch06_results.json"
TINY = replace(
    CHAPTER_CONFIG, n_train=96, n_dev=16, n_test=48, embed_dim=16, num_heads=2, ff_dim=32, batch_size=8
)


def test_book_model_computes_what_the_torch_reference_computes():
    torch.manual_seed(0)
    sizes = dict(embed_dim=16, num_heads=2, num_layers=2, ff_dim=32, max_len=12, dropout=0.0, pad_id=0)
    reference = TorchEncoderClassifier(30, 3, **sizes).eval()
    book = book_copy(reference, dict(vocab_size=30, num_classes=3, positional="learned", pooling="cls",
                                     norm_first=True, activation="gelu", **sizes)).eval()
    ids = torch.randint(1, 30, (4, 12))
    mask = torch.arange(12) < torch.tensor([[12], [7], [3], [10]])
    ids[~mask] = 0
    assert torch.allclose(book(ids, mask), reference(ids, mask), atol=1e-5)


def test_compare_throughput_reports_both_models():
    result = compare_throughput(TINY, num_batches=3, repeats=1)
    assert result["tokens_per_s_book"] > 0 and result["tokens_per_s_torch"] > 0
    ratio = result["tokens_per_s_book"] / result["tokens_per_s_torch"]
    assert result["ratio_book_to_torch"] == pytest.approx(ratio)
    assert result["max_abs_logit_difference"] < 1e-5  # the two models really are the same function


def test_unigram_bag_of_words_is_at_chance_on_word_order_phenomena():
    pytest.importorskip("sklearn")
    results = bow_baselines(TINY)
    by_phenomenon = results["bow_unigram"]["by_phenomenon"]
    # Twin sentences share their words and differ in label: counts get exactly one of each right.
    assert by_phenomenon["negation"] == 0.5 and by_phenomenon["contrast"] == 0.5
    assert set(results) == {"bow_unigram", "bow_bigram"}


@pytest.mark.skipif(not RESULTS.exists(), reason="results not generated yet")
def test_results_file_is_current_and_meets_the_targets():
    results = json.loads(RESULTS.read_text())
    config = {**asdict(CHAPTER_CONFIG), "threads": results["config"]["threads"]}
    assert results["config"] == config, "rerun: python -m book_code.training.experiments"
    assert all(results["targets_met"].values()), results["targets_met"]
    assert {"bow_unigram", "bow_bigram"} <= set(results["baselines"])
