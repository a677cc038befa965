"""The Chapter 8 solutions solve their exercises: sufficiency keeps exactly the top tokens,
ablating a head removes exactly its contribution (and no single head of the stored model is
indispensable), and the rollout sweep scores what attention rollout says for each residual
weight. The claims the solutions make about the stored model are checked on part of its test
split."""

from __future__ import annotations

import pytest
import torch

from book_code.encoder import TransformerClassifier
from book_code.exercises.ch08 import (
    ablated_heads,
    accuracy_by_phenomenon,
    head_ablation,
    negation_deletion,
    rollout_sweep,
    sufficiency,
)
from book_code.experiments import inside
from book_code.interpret import attention_rollout, attention_weights, faithfulness, token_scores
from book_code.training import load_classifier

IDS = torch.tensor([[2, 5, 7, 9, 4, 6], [2, 8, 3, 5, 0, 0]])
MASK = IDS != 0


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return TransformerClassifier(12, 2, embed_dim=16, num_heads=2, num_layers=2, max_len=8).eval()


@pytest.fixture(scope="module")
def stored():
    """The stored chapter model and the first 400 sentences of its test split."""
    model, vocab, _ = load_classifier(inside.find_results() / inside.MODEL_FILE)
    return model, inside.synthetic_eval_set(vocab).subset(range(400))


# --- exercise 2: sufficiency --------------------------------------------------------------------

def test_keeping_every_token_loses_nothing(tiny):
    scores = {"any": torch.rand(IDS.shape, generator=torch.Generator().manual_seed(1))}
    assert sufficiency(tiny, IDS, MASK, scores, ks=(5, 9)) == {"any": (0.0, 0.0)}


def test_sufficiency_keeps_exactly_the_top_tokens(tiny):
    scores = torch.tensor([[9.0, 1.0, 5.0, 3.0, 4.0, 2.0], [9.0, 2.0, 1.0, 3.0, 8.0, 8.0]])
    result = sufficiency(tiny, IDS, MASK, {"mine": scores}, ks=(1, 2))["mine"]
    with torch.no_grad():
        full = tiny(IDS, MASK).softmax(dim=-1)
        predicted = full.argmax(dim=-1)
        for k, keep in ((1, [[0, 2], [0, 3]]), (2, [[0, 2, 4], [0, 1, 3]])):  # [CLS] always stays
            mask = torch.zeros_like(MASK)
            for row, columns in enumerate(keep):
                mask[row, columns] = True
            after = tiny(IDS, mask).softmax(dim=-1)
            expected = (full - after).gather(1, predicted[:, None]).mean().item()
            assert result[k - 1] == pytest.approx(expected, abs=1e-6)


def test_the_top_attention_token_suffices_on_the_stored_model(stored):
    model, part = stored
    scores = token_scores(model, part.token_ids, part.padding_mask, methods=("attention", "grad_x_input"))
    scores["random"] = torch.rand(part.token_ids.shape, generator=torch.Generator().manual_seed(0))
    result = sufficiency(model, part.token_ids, part.padding_mask, scores, ks=(1,))
    assert result["attention"][0] < 0.05  # the decisive adjective alone keeps the prediction
    assert result["grad_x_input"][0] > result["attention"][0] + 0.05
    assert result["random"][0] > result["grad_x_input"][0]


# --- exercise 3: head ablation ------------------------------------------------------------------

def test_an_ablated_head_contributes_nothing(tiny):
    model = TransformerClassifier(12, 2, embed_dim=16, num_heads=2, num_layers=2, max_len=8).eval()
    model.load_state_dict(tiny.state_dict())
    attention = model.encoder.layers[0].self_attn
    head_value_rows = slice(2 * 16 + 8, 2 * 16 + 16)  # W_V of head 1 in the fused in_proj
    # Random, not constant: a constant added to every weight of a row meets layer-normed input,
    # whose features sum to zero, and would change nothing.
    change = torch.randn(8, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = model(IDS, MASK)
        with ablated_heads(model, [(0, 1)]):
            ablated = model(IDS, MASK)
            attention.in_proj.weight[head_value_rows] += change
            assert torch.allclose(model(IDS, MASK), ablated, atol=1e-6)  # head 1's values do not matter
        assert not torch.allclose(model(IDS, MASK), before, atol=1e-3)  # they do once the hook is gone
        attention.in_proj.weight[head_value_rows] -= change
        assert torch.allclose(model(IDS, MASK), before, atol=1e-6)
    assert not attention.out_proj._forward_pre_hooks


def test_ablation_rejects_a_head_that_does_not_exist(tiny):
    with pytest.raises(ValueError, match="heads 0 to 1"), ablated_heads(tiny, [(1, 2)]):
        pass
    assert not tiny.encoder.layers[1].self_attn.out_proj._forward_pre_hooks


def test_no_single_head_of_the_stored_model_is_indispensable(stored):
    model, part = stored
    results = head_ablation(model, part)
    assert results[None] == accuracy_by_phenomenon(model, part)
    assert len(results) == 1 + model.config.num_layers * model.config.num_heads
    assert all(accuracy["all"] >= 0.95 for accuracy in results.values())
    links = inside.negation_links(
        attention_weights(model, part.token_ids, part.padding_mask).double(), part
    )["adjective_to_negator"]
    negation_head = divmod(int(links.argmax()), model.config.num_heads)
    assert results[negation_head]["negation"] >= 0.9  # removing the "negation head" costs little


# --- exercise 4: rollout's residual weight ------------------------------------------------------

def test_rollout_sweep_scores_the_rollout_of_each_residual_weight(tiny):
    ids = torch.tensor([[2, 5, 7, 9, 4, 6], [2, 8, 3, 5, 11, 0]])
    mask = ids != 0
    batch = inside.EvalSet(ids, mask, torch.tensor([1, 0]), [[]] * 2, [], ["plain"] * 2)
    result = rollout_sweep(tiny, batch, residual_weights=(0.0, 0.5), ks=(1, 2), random_draws=2)
    reference = faithfulness(tiny, ids, mask, token_scores(tiny, ids, mask, methods=("rollout",)),
                             ks=(1, 2), random_draws=2)
    assert result.drops["r=0.5"] == reference.drops["rollout"]  # the paper's r is token_scores' default
    weights = attention_weights(tiny, ids, mask)
    product = weights[:, 1].mean(dim=1) @ weights[:, 0].mean(dim=1)  # r = 0: the plain product
    real = mask[:, :, None] & mask[:, None, :]  # rollout zeroes the rows and columns of padding
    assert torch.allclose(attention_rollout(weights, mask, residual_weight=0.0), product * real, atol=1e-6)
    mean_pooled = TransformerClassifier(12, 2, embed_dim=16, num_heads=2, pooling="mean")
    with pytest.raises(ValueError, match="CLS"):
        rollout_sweep(mean_pooled, batch)


def test_on_the_stored_model_r_zero_is_the_least_faithful_below_one(stored):
    model, part = stored
    result = rollout_sweep(model, part, residual_weights=(0.0, 0.5, 1.0), random_draws=3)
    assert result.mean_drop("r=0") < result.mean_drop("r=0.5")
    assert result.mean_drop("r=1") < result.mean_drop("random")  # r = 1 deletes by position


# --- exercise 5: deleting the negation words of SST-2 sentences ---------------------------------

def test_negation_deletion_deletes_exactly_the_negation_words(tiny):
    from book_code.data import Vocabulary

    vocab = Vocabulary(["do", "not", "see", "this", "film", "good", "n't"])
    part = inside.encode_sentences(vocab, ["do not see this film", "good film", "do n't see this"],
                                   [0, 1, 1], with_roles=False, add_cls=False)
    torch.manual_seed(0)
    model = TransformerClassifier(len(vocab), 2, embed_dim=16, num_heads=2, num_layers=1, pooling="mean")
    model.eval()
    result = negation_deletion(model, part)
    # "good film" has no negation word: one sentence of each label remains.
    assert result["positive"]["sentences"] == 1 and result["negative"]["sentences"] == 1
    with torch.no_grad():
        before = model(part.token_ids, part.padding_mask).softmax(dim=-1)[:, 1]
        kept = part.padding_mask & ~torch.isin(part.token_ids, torch.tensor([vocab["not"], vocab["n't"]]))
        after = model(part.token_ids, kept).softmax(dim=-1)[:, 1]
    assert result["negative"]["negators"] == pytest.approx((after - before)[0].item(), abs=1e-6)
    assert result["positive"]["negators"] == pytest.approx((after - before)[2].item(), abs=1e-6)


@pytest.fixture(scope="module")
def sst2_dev():
    from book_code.experiments import inside_sst2
    from tests.data.conftest import find_data_root

    root = find_data_root()
    model, vocab, _ = inside_sst2.load_sst2_model(inside.find_results() / inside_sst2.CHECKPOINT_FILE)
    return model, inside_sst2.dev_set(vocab, model, data_dir=root)[0]


def test_the_sst2_model_reads_not_as_a_negative_word(sst2_dev):
    """The solution's finding: deleting "not" raises p(positive) in positive and negative
    sentences alike, far more than deleting as many random words."""
    model, dev = sst2_dev
    result = negation_deletion(model, dev)
    for group in ("positive", "negative"):
        assert result[group]["sentences"] >= 20
        assert result[group]["negators"] > 0.05
        assert result[group]["negators"] > abs(result[group]["random"]) + 0.05
