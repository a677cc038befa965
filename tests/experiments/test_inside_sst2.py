"""Chapter 8 on the SST-2 model: the head statistics on constructed weights, the example rule,
the stored results (their claims, and that they describe the stored checkpoint), a small run
of the command on real data, and its errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from book_code.data import Vocabulary
from book_code.data.datasets import sha256_file
from book_code.experiments import inside_sst2
from book_code.experiments.inside import encode_sentences
from book_code.interpret import METHODS
from tests.data.conftest import find_data_root

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / inside_sst2.RESULTS
CHECKPOINT = RESULTS / inside_sst2.CHECKPOINT_FILE


@pytest.fixture(scope="module")
def stored() -> dict:
    return json.loads((RESULTS / inside_sst2.RESULTS_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def synthetic() -> dict:
    return json.loads((RESULTS / "ch08_results.json").read_text(encoding="utf-8"))


def batch(texts: list[str], labels: list[int]):
    vocab = Vocabulary(["do", "not", "see", "this", "film", ".", "good", ",", "but", "glum", "very"])
    return encode_sentences(vocab, texts, labels, with_roles=False, add_cls=False)


# --- head statistics on constructed weights ----------------------------------------------------

def test_a_uniform_head_is_at_distance_zero_and_a_one_hot_head_is_not():
    eval_set = batch(["do not see this film .", "good film ."], [0, 1])
    mask = eval_set.padding_mask
    uniform = mask.double() / mask.sum(dim=1, keepdim=True)
    uniform = (uniform[:, None, :] * mask[:, :, None])[:, None, None]  # (batch, 1, 1, n, n)
    assert inside_sst2.distance_from_uniform(uniform, mask).item() == pytest.approx(0.0, abs=1e-12)
    one_hot = torch.zeros_like(uniform)
    one_hot[..., 0] = 1.0  # every token reads the first one
    # Sentence 1 (6 tokens): 1 - 1/6 per row; sentence 2 (3 tokens): 1 - 1/3.
    expected = (6 * (5 / 6) + 3 * (2 / 3)) / 9
    assert inside_sst2.distance_from_uniform(one_hot, mask).item() == pytest.approx(expected)


def test_word_offsets_skip_cls_only_for_cls_pooling():
    eval_set = batch(["do not see this film ."], [0])
    weights = torch.zeros(1, 1, 1, 6, 6, dtype=torch.float64)
    weights[..., 0, 0] = 1.0
    for i in range(1, 6):
        weights[..., i, i - 1] = 1.0  # a previous-token head
    mean_words = inside_sst2.word_positions(eval_set, "mean")
    cls_words = inside_sst2.word_positions(eval_set, "cls")
    assert mean_words.sum() == 6 and cls_words.sum() == 5
    assert inside_sst2.word_offsets(weights, mean_words, (-1, 0))[0, 0].tolist() == [1.0, 1 / 6]
    assert inside_sst2.word_offsets(weights, cls_words, (-1, 0))[0, 0].tolist() == [1.0, 0.0]


def test_negator_links_separate_a_detector_from_a_scope_head():
    eval_set = batch(["do not see this film ."], [0])
    words = inside_sst2.word_positions(eval_set, "mean")
    n = 6
    detector = torch.zeros(n, n, dtype=torch.float64)
    detector[:, 1] = 1.0  # every token reads "not"
    detector[1] = 0.0
    detector[1, 0] = 1.0  # and "not" reads "do"
    scope = torch.full((n, n), 1 / n, dtype=torch.float64)
    scope[1] = 0.0
    scope[1, 2:5] = 1 / 3  # "not" reads the three words after it
    links = inside_sst2.negator_links(torch.stack([detector, scope])[None, None], eval_set, words)
    assert links["negators"].item() == 1
    assert links["negator_to_following"][0].tolist() == pytest.approx([0.0, 1.0])
    assert links["next_to_negator"][0].tolist() == pytest.approx([1.0, 1 / 6])
    assert links["elsewhere_to_negator"][0].tolist() == pytest.approx([1.0, 1 / 6])  # do, this, film, .
    assert links["uniform_following"].item() == pytest.approx(3 / 6)
    assert links["uniform_elsewhere"].item() == pytest.approx(1 / 6)
    # The control, a word after another word: not->do (1 in the detector), this->see, film->this, .->film.
    assert links["word_to_previous"][0].tolist() == pytest.approx([1 / 4, (0 + 3 / 6) / 4])


def test_favoured_keys_rank_tokens_by_weight_relative_to_uniform():
    eval_set = batch(["good film ."] * 3, [1] * 3)
    weights = torch.zeros(3, 1, 1, 3, 3, dtype=torch.float64)
    weights[..., 0] = 1.0  # everyone reads "good"
    keys = inside_sst2.favoured_keys(weights, eval_set, min_count=3, top=2)
    assert keys[0][0] == [["good", 3.0], ["film", 0.0]]


def test_examples_follow_the_rule():
    eval_set = batch(["do not see this film .", "do not see this film , but good .",
                      "good film , but very glum .", "but good film , very glum ."], [0, 1, 1, 0])
    texts = [" ".join(tokens) for tokens in eval_set.tokens]
    examples = inside_sst2.pick_examples(eval_set, texts, torch.tensor([0.2, 0.9, 0.8, 0.1]))
    assert [(e["kind"], e["index"]) for e in examples] == [("negation", 0), ("contrast", 2)]
    # A wrong prediction disqualifies a sentence; without candidates the kind is left out.
    examples = inside_sst2.pick_examples(eval_set, texts, torch.tensor([0.8, 0.9, 0.3, 0.1]))
    assert [e["kind"] for e in examples] == []


def test_offset_head_and_negation_head_pick_by_their_rules():
    attention = {
        "offsets": [-2, -1, 0, 1, 2],
        "head_offsets": [[[0.2] * 5, [0.2] * 5],
                         [[0.1, 0.1, 0.6, 0.1, 0.1], [0.3, 0.4, 0.1, 0.1, 0.1]]],
        # Head (1, 0) has the largest ratio to its control (0.02 / 0.001), head (0, 1) the largest excess.
        "negator_links": {"next_to_negator": [[0.1, 0.4], [0.02, 0.1]],
                          "word_to_previous": [[0.1, 0.1], [0.001, 0.2]]},
    }
    assert inside_sst2.offset_head(attention, (-2, -1)) == (1, pytest.approx(0.7))
    assert inside_sst2.offset_head(attention, (0, 1)) == (0, pytest.approx(0.7))
    assert inside_sst2.offset_head(attention, (0,), layer=0) == (0, pytest.approx(0.2))
    assert inside_sst2.negation_head(attention) == (0, 1)


# --- the stored results -------------------------------------------------------------------------

def test_stored_results_describe_the_stored_checkpoint(stored):
    assert stored["command"] == inside_sst2.COMMAND
    assert stored["checkpoint"]["sha256"] == sha256_file(CHECKPOINT), (
        "the SST-2 checkpoint changed since the results were made: rerun " + inside_sst2.COMMAND
    )
    model, _, identity = inside_sst2.load_sst2_model(CHECKPOINT)
    assert stored["checkpoint"]["config"] == model.config.to_dict() == identity["config"]
    assert stored["data"]["sentences"] == 872 and stored["data"]["limit"] is None
    recorded = stored["checkpoint"]["recorded"]["dev_accuracy"]
    assert recorded is None or stored["model"]["dev_accuracy"] == pytest.approx(recorded, abs=0.003)


def test_stored_results_have_every_measurement(stored):
    deletion = stored["deletion"]
    assert deletion["methods"] == list(METHODS) and deletion["ig_steps"] == inside_sst2.IG_STEPS
    assert set(deletion["by_group"]) == set(inside_sst2.GROUPS)
    for name, result in deletion["by_group"].items():
        assert set(result["drops"]) == {*METHODS, "random"} and tuple(result["ks"]) == inside_sst2.KS
        assert result["random_draws"] == inside_sst2.RANDOM_DRAWS
        assert result["num_examples"] == stored["data"]["sentences" if name == "all" else name]
    layers, heads = stored["checkpoint"]["config"]["num_layers"], stored["checkpoint"]["config"]["num_heads"]
    attention = stored["attention"]
    assert torch.tensor(attention["head_offsets"]).shape == (layers, heads, len(inside_sst2.OFFSETS))
    assert torch.tensor(attention["distance_from_uniform"]).shape == (layers, heads)
    assert [e["kind"] for e in stored["examples"]] == ["negation", "contrast"]


def test_stored_examples_are_what_the_checkpoint_says(stored):
    """The notebook recomputes the examples' probabilities from the checkpoint alone."""
    model, vocab, _ = inside_sst2.load_sst2_model(CHECKPOINT)
    for example in stored["examples"]:
        encoded = encode_sentences(vocab, [example["text"]], [example["label"]], with_roles=False,
                                   add_cls=model.config.pooling == "cls")
        assert encoded.tokens[0] == example["tokens"]
        with torch.no_grad():
            p = model(encoded.token_ids, encoded.padding_mask).softmax(dim=-1)[0, 1].item()
        assert p == pytest.approx(example["p_positive"], abs=1e-4)
        assert (p >= 0.5) == (example["label"] == 1)


def test_every_claim_of_the_section_holds_on_the_stored_results(stored, synthetic):
    claims = inside_sst2.chapter_claims(stored, synthetic)
    assert stored["claims"] == claims, "the results file is stale: rerun " + inside_sst2.COMMAND
    assert all(claims.values()), [claim for claim, holds in claims.items() if not holds]
    assert set(inside_sst2.chapter_claims(stored)) < set(claims)  # the comparison needs the other file


def _claim(results: dict, start: str, synthetic: dict | None = None) -> bool:
    (holds,) = [holds for claim, holds in inside_sst2.chapter_claims(results, synthetic).items()
                if claim.startswith(start)]
    return holds


def test_the_claims_can_fail(stored, synthetic):
    """Each kind of statement turns false when the numbers it reads change the other way."""
    import copy

    changed = copy.deepcopy(stored)
    attention, deletion = changed["attention"], changed["deletion"]
    attention["head_offsets"][-1][2] = [0.2] * 5  # the previous-words head averages instead
    attention["head_offsets"][-1][0][-1] = 0.0  # a two-ahead head no longer looks two ahead
    attention["distance_from_uniform"][0][0] = 0.99
    attention["negator_links"]["elsewhere_to_negator"][0][1] = 1.0  # the negation head reads it everywhere
    attention["negator_links"]["negator_to_following"][1][0] = 10.0  # a second head reads ahead
    attention["favoured_keys"][0][1] = [["the", 2.0]] * 8
    negation = deletion["by_group"]["negation"]
    negation["mean_drop"]["integrated_gradients"] = 1.0
    negation["drops"]["attention"] = [1.0] * 5
    everything = deletion["by_group"]["all"]
    everything["drops"]["attention"][0] = 2 * everything["drops"]["random"][0]
    deletion["top_tokens"]["attention"][0][1] = 1
    deletion["completeness"]["max_abs_gap"] = deletion["completeness"]["mean_abs_change"]
    everything["mean_drop"]["attention"] = everything["mean_drop"]["integrated_gradients"]
    for start in ("in the last layer", "each other last-layer head", "every last-layer head is further",
                  "in that head the other words",
                  "that head is the only one", "at least two negation words",
                  "integrated gradients is the most", "last-layer attention is the least",
                  "on all dev sentences last-layer attention", "on the negation sentences",
                  "last-layer attention ranks", "integrated gradients has converged",
                  "relative to integrated gradients"):
        assert not _claim(changed, start, synthetic), start
    changed = copy.deepcopy(stored)
    changed["attention"]["negator_links"]["next_to_negator"][1][3] = 1.0  # the negation head moves to layer 2
    changed["attention"]["head_offsets"][0][0][1] = 0.5  # a first-layer head reads the previous word
    changed["attention"]["favoured_keys"][1][3][0][0] = "not"  # the (moved) negation head's favourite
    changed["attention"]["favoured_keys"][-1][1][0][0] = "the"  # no head's favourite is the full stop
    changed["deletion"]["by_group"]["contrast"]["mean_drop"]["rollout"] = 0.0
    for start in ("the head whose next words", "at every nonzero offset", "rollout is more faithful",
                  "at least two negation words", "last-layer attention ranks"):
        assert not _claim(changed, start), start
    changed["deletion"]["by_group"]["contrast"]["drops"]["rollout"][0] = 0.0
    assert not _claim(changed, "both gradient methods and rollout")


# --- the command --------------------------------------------------------------------------------

def test_a_small_run_on_real_data_writes_the_same_structure(stored, tmp_path):
    root = find_data_root()
    output = tmp_path / inside_sst2.RESULTS_FILE
    argv = ["--output", str(output), "--checkpoint", str(CHECKPOINT), "--data-dir", str(root),
            "--limit", "40", "--ig-steps", "4", "--random-draws", "2"]
    assert inside_sst2.main(argv) == 0
    small = json.loads(output.read_text(encoding="utf-8"))
    assert small["data"]["sentences"] == 40 and small["data"]["limit"] == 40
    assert set(small) == set(stored)
    assert set(small["attention"]) == set(stored["attention"])
    assert small["checkpoint"]["sha256"] == stored["checkpoint"]["sha256"]
    assert set(small["claims"]) == set(inside_sst2.chapter_claims(stored))  # no synthetic file beside it
    assert not list(tmp_path.glob(".*.tmp")), "the atomic write leaves no temporary file"


def test_a_missing_checkpoint_is_named_with_the_command_that_makes_it(tmp_path, capsys):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(SystemExit) as exit_info:
        inside_sst2.main(["--output", str(tmp_path / "out.json"), "--checkpoint", str(missing)])
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert str(missing) in message and "book_code.experiments.sst2" in message
    assert not (tmp_path / "out.json").exists()
    with pytest.raises(FileNotFoundError, match="no SST-2 checkpoint"):
        inside_sst2.load_sst2_model(missing)


def test_a_damaged_checkpoint_and_bad_numbers_are_refused(tmp_path, capsys):
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(CHECKPOINT.read_bytes()[:1000])
    with pytest.raises(SystemExit):
        inside_sst2.main(["--output", str(tmp_path / "out.json"), "--checkpoint", str(damaged)])
    assert "truncated" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        inside_sst2.main(["--output", str(tmp_path / "out.json"), "--limit", "0"])
    assert "--limit must be at least 1" in capsys.readouterr().err


def test_a_missing_data_folder_is_reported(tmp_path, capsys, monkeypatch):
    import book_code.data.datasets as datasets

    def offline(*args, **kwargs):
        raise datasets.DataNotFoundError("SST-2 not found in the data folder, and downloads are off")

    monkeypatch.setattr(inside_sst2, "load_sst2", offline)
    with pytest.raises(SystemExit):
        inside_sst2.main(["--output", str(tmp_path / "out.json"), "--checkpoint", str(CHECKPOINT),
                          "--data-dir", str(tmp_path)])
    assert "SST-2 not found" in capsys.readouterr().err
