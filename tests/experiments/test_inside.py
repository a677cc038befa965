"""Chapter 8's measurements: token roles, the attention statistics on constructed weights,
the results file and the stored model it describes, and a tiny re-run of the command."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from book_code.data import Vocabulary
from book_code.data.synthetic import NEGATIVE, PHENOMENA, POSITIVE, make_synthetic_sentiment
from book_code.data.tokenizer import tokenize
from book_code.experiments import inside
from book_code.interpret import METHODS, FaithfulnessResult, integrated_gradients
from book_code.training import load_classifier
from book_code.training.experiments import CHAPTER_CONFIG

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / inside.RESULTS
SENTENCE = "The plot is not dull, it is clever."


@pytest.fixture(scope="module")
def stored():
    """The stored results, model and vocabulary, and the test split encoded with it."""
    results = json.loads((RESULTS / inside.RESULTS_FILE).read_text(encoding="utf-8"))
    model, vocab, _ = load_classifier(RESULTS / inside.MODEL_FILE)
    return results, model, vocab, inside.synthetic_eval_set(vocab)


# --- roles ------------------------------------------------------------------------------------

def test_roles_of_a_contrast_sentence():
    tokens = ["[CLS]", *tokenize("Frankly, the plot is dull, but the acting is very clever.")]
    roles = inside.token_roles(tokens, label=1)
    assert dict(zip(tokens, roles, strict=True)) | {"the": "neutral"} == {
        "[CLS]": "[CLS]", "frankly": "neutral", ",": "punctuation", "the": "neutral", "plot": "neutral",
        "is": "other", "dull": "opposite", "but": "connective", "acting": "neutral",
        "very": "intensifier", "clever": "decisive", ".": "punctuation",
    }
    assert inside.token_roles(tokens, label=0)[tokens.index("dull")] == "decisive"


def test_neutral_words_are_no_sentiment_or_template_words():
    assert not inside.NEUTRAL_WORDS & {*POSITIVE, *NEGATIVE, *inside.NEGATORS, *inside.CONNECTIVES}
    assert {"the", "movie", "frankly", "opinion", "finish"} <= inside.NEUTRAL_WORDS


def test_every_synthetic_sentence_has_the_roles_its_phenomenon_needs():
    task = make_synthetic_sentiment(400, 0, 0, seed=3)
    for example in task.train:
        roles = inside.token_roles(["[CLS]", *tokenize(example.text)], example.label)
        assert set(roles) <= set(inside.ROLES)
        assert roles.count("decisive") >= 1 and roles.count("neutral") >= 2  # a subject, always
        if example.phenomenon == "negation":
            assert roles.count("negator") == 1 and roles.count("opposite") == 1
            assert roles.index("negator") < roles.index("opposite")  # the negator comes first
        if example.phenomenon == "contrast":
            assert roles.count("connective") == 1 and roles.count("opposite") == 1
        if example.phenomenon in ("plain", "intensifier"):
            assert "opposite" not in roles and "negator" not in roles


def test_neutral_words_carry_no_information_about_the_label():
    task = make_synthetic_sentiment(4000, 0, 0, seed=0)
    for word in ("frankly", "movie", "opinion", "the"):
        labels = [e.label for e in task.train if word in tokenize(e.text)]
        assert len(labels) > 100 and abs(sum(labels) / len(labels) - 0.5) < 0.1


# --- the eval set -----------------------------------------------------------------------------

def test_encode_sentences_and_subsets():
    vocab = Vocabulary(["the", "plot", "is", "not", "dull", ",", "it", "clever", "."])
    batch = inside.encode_sentences(vocab, [SENTENCE, "The plot is clever."], labels=[1, 1],
                                    phenomena=["negation", "plain"])
    assert batch.tokens[1] == ["[CLS]", "the", "plot", "is", "clever", "."]
    assert batch.padding_mask.sum(dim=1).tolist() == [11, 6]
    assert batch.role_mask("decisive")[0].nonzero().squeeze(1).tolist() == [9]
    plain = batch.of_phenomenon("plain")
    assert plain.token_ids.shape == (1, 6) and plain.tokens == [batch.tokens[1]]
    assert torch.equal(plain.token_ids[0], batch.token_ids[1, :6])
    with pytest.raises(ValueError, match="role"):
        batch.role_mask("adjective")


# --- attention statistics on constructed weights ------------------------------------------------

def previous_token_weights(padding_mask: torch.Tensor) -> torch.Tensor:
    """One layer, one head: [CLS] and the first word attend to [CLS], every later word to the
    word before it."""
    batch, n = padding_mask.shape
    weights = torch.zeros(batch, 1, 1, n, n, dtype=torch.float64)
    weights[..., :2, 0] = 1.0
    for i in range(2, n):
        weights[..., i, i - 1] = 1.0
    return weights


def test_head_offsets_finds_a_previous_token_head_and_ignores_padding():
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    offsets = inside.head_offsets(previous_token_weights(mask), mask, offsets=(-2, -1, 0, 1))
    assert offsets.shape == (1, 1, 4)
    assert offsets[0, 0].tolist() == [0.0, 1.0, 0.0, 0.0]
    uniform = inside.head_offsets(inside.uniform_weights(mask), mask, offsets=(-1, 0, 1))[0, 0]
    # Sentence 1 has 6 tokens (4 word pairs at each offset +-1), sentence 2 has 4 (2 pairs).
    expected = (4 / 6 + 2 / 4) / 6
    assert torch.allclose(uniform[[0, 2]], torch.tensor([expected, expected], dtype=torch.float64))
    assert torch.allclose(uniform[1], torch.tensor((5 / 6 + 3 / 4) / 8, dtype=torch.float64))


def test_cls_attention_by_role_splits_each_row_of_weight():
    roles = [["[CLS]", "neutral", "decisive", "punctuation"], ["[CLS]", "decisive", "opposite", "other"]]
    weights = torch.softmax(torch.randn(2, 2, 3, 4, 4, dtype=torch.float64), dim=-1)
    shares = inside.cls_attention_by_role(weights, roles)
    assert shares.shape == (2, 3, len(inside.ROLES))
    assert torch.allclose(shares.sum(dim=-1), torch.ones(2, 3, dtype=torch.float64))
    weights = torch.zeros(2, 1, 1, 4, 4, dtype=torch.float64)
    weights[0, ..., 0, 2] = weights[1, ..., 0, 1] = 1.0  # [CLS] reads the decisive adjective
    assert inside.cls_attention_by_role(weights, roles)[0, 0, inside.ROLES.index("decisive")] == 1.0


def test_negation_links_tell_a_negation_head_from_a_previous_token_head():
    vocab = Vocabulary(["the", "plot", "is", "not", "dull", ",", "it", "clever", "."])
    batch = inside.encode_sentences(vocab, [SENTENCE, "The plot is clever."], labels=[1, 1],
                                    phenomena=["negation", "plain"])
    previous = previous_token_weights(batch.padding_mask)
    negation = inside.uniform_weights(batch.padding_mask).clone()
    negation[0, ..., 5, :] = 0.0
    negation[0, ..., 5, 4] = 1.0  # "dull" reads "not", and nothing else does anything special
    links = inside.negation_links(torch.cat([previous, negation], dim=2), batch)
    assert links["adjective_to_negator"].tolist() == [[1.0, 1.0]]
    assert links["adjective_to_previous"][0, 0] == 1.0  # the positional head: same as the control
    assert links["adjective_to_previous"][0, 1] == pytest.approx(1 / 6)  # uniform over 6 tokens
    assert links["negator_to_adjective"][0, 0] == 0.0


def test_top_token_is_decisive_counts_hits_per_phenomenon():
    vocab = Vocabulary(["the", "plot", "is", "not", "dull", ",", "it", "clever", "."])
    batch = inside.encode_sentences(vocab, [SENTENCE, "The plot is clever."], labels=[1, 1],
                                    phenomena=["negation", "plain"])
    on_clever = (batch.token_ids == vocab["clever"]).double()
    on_dull = (batch.token_ids == vocab["dull"]).double() + 0.5 * on_clever
    result = inside.top_token_is_decisive({"good": on_clever, "bad": on_dull}, batch)
    assert result["good"] == {"all": 1.0, "negation": 1.0, "plain": 1.0}
    assert result["bad"] == {"all": 0.5, "negation": 0.0, "plain": 1.0}


def test_faithfulness_result_round_trips_through_json():
    result = FaithfulnessResult((1, 2), {"attention": (0.5, 0.6), "random": (0.1, 0.2)}, (0.01, 0.02),
                                0.9, 10, 3, "mask")
    data = json.loads(json.dumps(inside.result_to_dict(result)))
    assert data["mean_drop"]["attention"] == pytest.approx(0.55)
    assert inside.result_from_dict(data) == result


# --- the results file and the stored model -------------------------------------------------------

def keys(value, depth: int = 3):
    """The nested key structure of a JSON value (dictionary keys, down to ``depth``)."""
    if isinstance(value, dict) and depth:
        return {k: keys(v, depth - 1) for k, v in value.items()}
    return type(value).__name__


def test_stored_results_describe_the_chapter_run(stored):
    results, _, _, test = stored
    assert results["command"] == inside.COMMAND
    assert results["config"] == asdict(replace(CHAPTER_CONFIG, threads=1))
    deletion = results["deletion"]
    assert deletion["methods"] == list(METHODS) and deletion["ig_steps"] == inside.IG_STEPS
    assert deletion["num_examples"] == len(test) == CHAPTER_CONFIG.n_test
    for mode in ("mask", "pad"):
        result = inside.result_from_dict(deletion[mode])
        assert result.ks == inside.KS and result.mode == mode
        assert set(result.drops) == {*METHODS, "random"} and result.random_draws == inside.RANDOM_DRAWS
    assert set(deletion["by_phenomenon"]) == set(PHENOMENA)
    assert [row["steps"] for row in results["completeness"]] == list(inside.GAP_STEPS)


def test_every_claim_of_the_chapter_holds_on_the_stored_results(stored):
    results = stored[0]
    claims = inside.chapter_claims(results)
    assert results["claims"] == claims, "the results file is stale: rerun the command"
    assert all(claims.values()), [claim for claim, holds in claims.items() if not holds]


def test_stored_model_is_the_model_the_results_describe(stored):
    results, model, _, test = stored
    with torch.no_grad():
        predictions = model(test.token_ids, test.padding_mask).argmax(dim=-1)
    accuracy = (predictions == test.labels).double().mean().item()
    # The run evaluated in batches of another length: allow a float-noise flip or two.
    assert accuracy == pytest.approx(results["model"]["test_accuracy"], abs=0.002)
    # The notebook recomputes the attention statistics from the model: they must be the stored ones.
    summary = inside.attention_summary(model, test)
    for name in ("head_offsets", "uniform_offsets"):
        stored_values = torch.tensor(results["attention"][name])
        assert torch.allclose(torch.tensor(summary[name]), stored_values, atol=1e-6)
    for phenomenon, shares in summary["cls_by_role"].items():
        stored_shares = torch.tensor(results["attention"]["cls_by_role"][phenomenon])
        assert torch.allclose(torch.tensor(shares), stored_shares, atol=1e-6)


def test_integrated_gradients_credit_a_word_that_carries_nothing(stored):
    """Section 8.6: on the way from the all-[PAD] baseline, even "the" earns a sizeable score."""
    _, model, vocab, _ = stored
    batch = inside.encode_sentences(vocab, [SENTENCE], labels=[1])
    ig = integrated_gradients(model, batch.token_ids, batch.padding_mask, steps=1024)
    change = ig.output_at_input - ig.output_at_baseline
    assert ig.completeness_gap().abs().item() < 0.01 * change.abs().item()
    scores = ig.scores[0]
    assert scores[batch.tokens[0].index("the")].abs() >= 0.25 * scores.abs().max()


def test_a_tiny_rerun_of_the_command_writes_the_same_structure(stored, tmp_path):
    argv = ["--output", str(tmp_path), "--n-train", "200", "--n-dev", "40", "--n-test", "40",
            "--epochs", "1", "--ig-steps", "4", "--random-draws", "2", "--gap-steps", "2", "4",
            "--gap-examples", "4"]
    assert inside.main(argv) == 0
    tiny = json.loads((tmp_path / inside.RESULTS_FILE).read_text(encoding="utf-8"))
    assert keys(tiny) == keys(stored[0])
    assert set(tiny["claims"]) == set(stored[0]["claims"])
    model, vocab, _ = load_classifier(tmp_path / inside.MODEL_FILE)
    assert model.config.to_dict() == {**stored[1].config.to_dict(), "vocab_size": len(vocab)}
    assert not list(tmp_path.glob("tmp*")), "the temporary training folder must be removed"
