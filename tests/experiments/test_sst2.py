"""Tests of chapter 7's SST-2 experiment (book_code.experiments.sst2).

The helpers are tested on small made-up inputs. The command's smoke mode runs the whole
pipeline on a few hundred SST-2 rows and checks the structure of the results file and the
checkpoint; it needs the data, found as the data tests find it (``tests/data/conftest.py``):
``BOOK_DATA_DIR`` (CI sets it to ``../shared/data``) must hold it when set; otherwise it is
downloaded once, and the tests skip with a message only when that fails. The committed
results file is checked against what the chapter's notebook reads.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from book_code.data import Vocabulary
from book_code.encoder import TransformerClassifier
from book_code.experiments.sst2 import (
    CONTRAST_WORDS,
    NEGATION_WORDS,
    SST2Config,
    chapter_claims,
    confident_mistakes,
    deduplicate,
    group_accuracy,
    main,
    phenomenon_tags,
    summary,
    whole_sentences,
    word_order_probe,
)
from book_code.interpret import attention_weights
from book_code.training import load_classifier
from tests.data.conftest import find_data_root

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "docs" / "chapters" / "results" / "sst2_results.json"
CHECKPOINT = ROOT / "docs" / "chapters" / "results" / "sst2_model.pt"
BASELINES = ["majority class", "bag of words", "bag of words and word pairs"]
ARMS = [
    "N(0, 1) embeddings",
    "fine-tuning only",
    "fine-tuning only, no positions",
    "transformer (chapter recipe)",
]
RECIPE = ARMS[-1]
ENSEMBLE = "ensemble of the recipe's seeds"
ROW_NAMES = BASELINES + ARMS + [ENSEMBLE]


def sst2_root() -> Path:
    """The data root holding sst2/: fails if BOOK_DATA_DIR is set and incomplete, otherwise
    downloads once into the cache, and skips only when that is impossible (see tests/data)."""
    return find_data_root()


def test_deduplicate_keeps_first_occurrences_and_counts_conflicts():
    texts, labels, counts = deduplicate(["a", "b", "a", "c", "b", "a"], [1, 0, 1, 1, 1, 0])
    assert texts == ["a", "b", "c"] and labels == [1, 0, 1]
    assert counts == {"removed": 3, "conflicting": 2}


def test_whole_sentences_drops_contained_phrases_only():
    texts = ["the film is good", "the film", "film is", "is good", "good", "dull", "a film"]
    # "a film" is not a contiguous span of "the film is good": it stays.
    assert whole_sentences(texts) == ["the film is good", "dull", "a film"]
    # Matching is by whole words: "film" is not a span of "filmmaker".
    assert whole_sentences(["filmmaker", "film"]) == ["filmmaker", "film"]
    assert whole_sentences(["same", "same"]) == ["same"]


def test_phenomenon_tags_match_whole_tokens():
    assert phenomenon_tags("it is n't good") == {"negation": True, "contrast": False}
    assert phenomenon_tags("nothingness but art") == {"negation": False, "contrast": True}
    assert phenomenon_tags("knot butter") == {"negation": False, "contrast": False}
    assert {"not", "n't", "no", "never", "nothing"} <= NEGATION_WORDS
    assert CONTRAST_WORDS == {"but", "although", "though", "yet", "however"}


def test_group_accuracy_splits_by_tag():
    tags = [phenomenon_tags(t) for t in ("not good", "good", "but bad", "bad")]
    result = group_accuracy([1, 1, 0, 1], [0, 1, 0, 0], tags)
    assert result["negation"] == {"with": 0.0, "without": 2 / 3, "n_with": 1, "n_without": 3}
    assert result["contrast"] == {"with": 1.0, "without": 1 / 3, "n_with": 1, "n_without": 3}


def test_confident_mistakes_are_wrong_and_sorted():
    rows = confident_mistakes(["a", "b", "c", "d"], [1, 0, 1, 0], [0.9, 0.95, 0.2, 0.4], k=5)
    assert [r["text"] for r in rows] == ["b", "c"]  # confidence 0.95, then 0.8; "a" and "d" are right
    assert rows[0]["confidence"] == pytest.approx(0.95)


def test_summary_uses_the_sample_standard_deviation():
    result = summary([0.8, 0.82, 0.84])
    assert result["mean"] == pytest.approx(0.82) and result["std"] == pytest.approx(0.02)
    assert summary([0.5])["std"] == 0.0


def test_word_order_probe_sees_nothing_in_an_order_blind_model():
    words = [f"w{i}" for i in range(20)]
    vocab = Vocabulary(words)
    generator = torch.Generator().manual_seed(0)
    texts = [
        " ".join(words[j] for j in torch.randint(0, 20, (7,), generator=generator).tolist())
        for _ in range(40)
    ]
    labels = torch.randint(0, 2, (40,), generator=generator).tolist()
    torch.manual_seed(0)
    blind = TransformerClassifier(
        len(vocab), 2, 16, 2, 1, max_len=8, positional="none", pooling="mean"
    ).double()
    probe = word_order_probe(blind, vocab, texts, labels)
    assert probe["changed"] == 0.0 and probe["accuracy"] == probe["shuffled_accuracy"]
    aware = TransformerClassifier(len(vocab), 2, 16, 2, 1, max_len=8, positional="learned", pooling="mean")
    with torch.no_grad():
        aware.position.embedding.weight.mul_(50)  # make position matter at initialisation
    assert word_order_probe(aware, vocab, texts, labels)["changed"] > 0.0


def test_smoke_run_writes_the_results_structure(tmp_path):
    root = sst2_root()
    output = tmp_path / "results.json"
    checkpoint = tmp_path / "model.pt"
    assert (
        main(
            [
                "--smoke",
                "--output",
                str(output),
                "--checkpoint",
                str(checkpoint),
                "--seeds",
                "0",
                "1",
                "--threads",
                "1",
                "--data-dir",
                str(root),
            ]
        )
        == 0
    )
    results = json.loads(output.read_text())
    check_structure(results, seeds=2)
    assert results["smoke"] is True
    # The checkpoint is the first seed's model, in half precision, and loads as a classifier.
    model, vocab, stored = load_classifier(checkpoint)
    assert stored.extra["seed"] == 0 and stored.extra["dtype"] == "float16"
    assert model.config.embed_dim == 16 and len(vocab) == results["data"]["vocab_size"]
    assert results["checkpoint"]["bytes"] == checkpoint.stat().st_size


def check_structure(results: dict, seeds: int) -> None:
    """The keys and value ranges that the chapter's notebook and chapter 9 read."""
    assert [row["name"] for row in results["rows"]] == ROW_NAMES
    for row in results["rows"]:
        assert {"description", "seeds", "dev_accuracy", "wall_seconds", "cpu_seconds", "hardware"} <= set(row)
        accuracy = row["dev_accuracy"]
        assert 0.0 <= accuracy["min"] <= accuracy["mean"] <= accuracy["max"] <= 1.0
        assert len(accuracy["values"]) == row["seeds"]
        assert row["wall_seconds"]["mean"] >= 0 and row["cpu_seconds"]["mean"] >= 0
    for row in results["rows"][3:-1]:
        assert row["seeds"] == seeds
    ensemble = results["rows"][-1]
    assert ensemble["members"] == seeds and ensemble["seeds"] == 1
    recipe_row = results["rows"][-2]
    assert ensemble["wall_seconds"]["mean"] == pytest.approx(sum(recipe_row["wall_seconds"]["values"]))
    runs = results["runs"]
    assert list(runs) == ARMS
    for record in runs[RECIPE]:
        assert record["pretrain_history"] and record["history"]
        assert all(math.isfinite(h["mlm_loss"]) for h in record["pretrain_history"])
    assert all(not r["pretrain_history"] for name in ARMS if name != RECIPE for r in runs[name])
    # A ladder: each rung changes exactly the fields its place says.
    configs = {row["name"]: row["config"] for row in results["rows"] if "config" in row}

    def changed(a: str, b: str) -> list[str]:
        return [k for k in configs[a] if configs[a][k] != configs[b][k]]

    assert changed("N(0, 1) embeddings", "fine-tuning only") == ["embedding_std"]
    assert changed("fine-tuning only, no positions", "fine-tuning only") == ["positional"]
    assert changed("fine-tuning only", RECIPE) == ["pretrain_epochs"]
    data = results["data"]
    assert data["train_distinct"] == data["train_rows"] - data["duplicates_removed"]
    assert 0 < data["train_sentences"] <= data["train_distinct"]
    for histogram in data["lengths"].values():
        assert len(histogram["counts"]) == len(data["length_bin_edges"]) - 1
    # GLUE's own files hide the test labels: then the results have no test row.
    assert results["test"] is None or set(results["test"]) == {RECIPE, ENSEMBLE, *BASELINES}
    assert {p["key"] for p in results["published"]} == {"kim2014", "devlin2019"}
    analysis = results["error_analysis"]
    assert set(analysis["by_model"]) == set(ROW_NAMES[1:-1])
    for groups in analysis["by_model"].values():
        for phenomenon in ("negation", "contrast"):
            assert groups[phenomenon]["n_with"] + groups[phenomenon]["n_without"] == data["dev"]
    for mistake in analysis["confident_mistakes"]:
        assert (mistake["p_positive"] >= 0.5) != bool(mistake["label"])
    assert list(analysis["word_order"]) == ARMS
    for probe in analysis["word_order"].values():
        assert {"accuracy", "shuffled_accuracy", "changed"} <= set(probe)
        assert all(0.0 <= v <= 1.0 for summary_ in probe.values() for v in summary_["values"])
    agreement = analysis["agreement_with_bag_of_words"]
    assert sum(agreement.values()) == data["dev"]
    footprint = results["footprint"]
    assert footprint["train_seconds"] > 0 and footprint["train_flops"] > 0 and footprint["parameters"] > 0
    target = results["target"]
    assert target["accuracy_met"] == (target["dev_accuracy_mean"] >= target["dev_accuracy"])
    assert {"load_average_start", "load_average_end", "threads", "cpu_model"} <= set(results["environment"])


def test_committed_results_file_matches_the_code():
    """The file the chapter reads: made by the full command with the current configuration."""
    if not RESULTS.is_file():
        pytest.fail(f"{RESULTS.relative_to(ROOT)} is missing; regenerate it with the command in the chapter")
    results = json.loads(RESULTS.read_text())
    assert results["smoke"] is False, "the committed results come from a smoke run"
    assert results["config"] == asdict(SST2Config()), (
        "the committed results were made with another configuration than SST2Config(); rerun the command"
    )
    assert len(results["seeds"]) >= 3
    check_structure(results, seeds=len(results["seeds"]))
    assert results["data"]["dev"] == 872 and results["data"]["test"] == 1821
    # Without positions, mean pooling makes the model blind to word order: shuffling changes nothing.
    assert results["error_analysis"]["word_order"]["fine-tuning only, no positions"]["changed"]["max"] == 0.0
    assert CHECKPOINT.is_file() and CHECKPOINT.stat().st_size < 5 * 2**20


def test_the_chapters_claims_hold_on_the_committed_results():
    """Every qualitative statement chapter 7 makes about its results (see `chapter_claims`)."""
    claims = chapter_claims(json.loads(RESULTS.read_text()))
    assert claims and all(isinstance(value, bool) for value in claims.values())
    failed = [claim for claim, holds in claims.items() if not holds]
    assert not failed, f"chapter 7 says things the results no longer support: {failed}"


def test_claims_can_fail():
    results = json.loads(RESULTS.read_text())
    recipe = next(row for row in results["rows"] if row["name"] == RECIPE)
    recipe["dev_accuracy"]["min"] = 0.5  # a seed that did badly
    results["target"]["accuracy_met"] = True
    claims = chapter_claims(results)
    assert not claims["every recipe seed beats every fine-tuning-only seed on dev"]
    assert not claims["the recipe misses the target, by less than one point"]


def test_the_attention_of_figure_7_5_is_as_the_chapter_describes():
    """Section 7.7 describes the attention of the shortest of the five most confident mistakes."""
    results = json.loads(RESULTS.read_text())
    example = min(results["error_analysis"]["confident_mistakes"][:5], key=lambda m: len(m["text"].split()))
    assert example["text"] == "hilariously inept and ridiculous ." and example["label"] == 1
    model, vocab, _ = load_classifier(CHECKPOINT)
    ids = torch.tensor(vocab.encode(example["text"]))
    weights = attention_weights(model.float().eval(), ids).squeeze(0)  # (layers, heads, n, n)
    received = weights.mean(dim=(1, 2))  # the mean weight each token receives, per layer
    tokens = example["text"].split()
    first, second = (dict(zip(tokens, received[i].tolist(), strict=True)) for i in (0, 1))
    assert first["inept"] + first["ridiculous"] > 0.5 and first["hilariously"] < 0.3
    assert max(second, key=second.get) == "."
