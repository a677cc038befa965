"""The book's code on a CUDA GPU: the same results as on the CPU, and every tensor on the device.

These tests need a CUDA device and are skipped without one (the CPU suite covers the same code).
They run the chapter-7 pipeline (masked-token pretraining, then fine-tuning in mixed precision),
attention against PyTorch's, and the chapter-8 explanations, on the GPU.
"""

from __future__ import annotations

import os

import pytest
import torch

from book_code.attention import MultiHeadAttention
from book_code.data import TextClassificationDataset, Vocabulary, make_dataloader
from book_code.encoder import TransformerClassifier
from book_code.interpret import attention_rollout, attention_weights, faithfulness, token_scores
from book_code.pretraining import MaskedLanguageModel, PretrainConfig, init_embeddings_, mask_tokens, pretrain
from book_code.training import TrainConfig, fit, predict

# BOOK_TEST_DEVICE=cpu runs the same checks on the CPU (to check the tests themselves).
DEVICE = torch.device(os.environ.get("BOOK_TEST_DEVICE", "cuda"))
pytestmark = pytest.mark.skipif(DEVICE.type == "cuda" and not torch.cuda.is_available(),
                                reason="needs a CUDA device")

TEXTS = [
    "a good film", "a bad film", "not a good film", "not a bad film", "the acting is terrific",
    "the plot is dull", "it is not dull", "the film is good but long", "a terrific cast", "dull and long",
] * 8
LABELS = [1, 0, 0, 1, 1, 0, 1, 1, 1, 0] * 8


def small_model(vocab: Vocabulary, positional: str = "rope") -> TransformerClassifier:
    torch.manual_seed(0)
    model = TransformerClassifier(len(vocab), 2, embed_dim=32, num_heads=4, num_layers=2, max_len=16,
                                  positional=positional, pooling="mean", pad_id=vocab.pad_id)
    return init_embeddings_(model, 0.02)


def test_multi_head_attention_matches_pytorch_on_the_gpu():
    torch.manual_seed(0)
    ours = MultiHeadAttention(64, 8).double()
    theirs = ours.to_torch().double().to(DEVICE)
    ours = ours.to(DEVICE)
    x = torch.randn(3, 11, 64, device=DEVICE, dtype=torch.float64)
    pad = torch.ones(3, 11, dtype=torch.bool, device=DEVICE)
    pad[1, 7:] = False
    for need_weights in (False, True):
        out, weights = ours(x, key_padding_mask=pad, need_weights=need_weights)
        ref, ref_weights = theirs(x, x, x, key_padding_mask=~pad, need_weights=need_weights,
                                  average_attn_weights=False)
        assert out.device.type == DEVICE.type
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
        if need_weights:
            torch.testing.assert_close(weights, ref_weights, rtol=1e-10, atol=1e-10)


def test_masking_draws_on_the_device_with_a_device_generator():
    ids = torch.randint(4, 50, (8, 12), device=DEVICE)
    generator = torch.Generator(device=DEVICE).manual_seed(0)
    inputs, targets = mask_tokens(ids, mask_id=3, vocab_size=50, generator=generator)
    assert inputs.device.type == targets.device.type == DEVICE.type
    chosen = targets != -100
    assert torch.equal(targets[chosen], ids[chosen]) and chosen.any()


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_pretraining_then_fine_tuning_on_the_gpu(precision):
    if DEVICE.type != "cuda" and precision != "fp32":
        pytest.skip("mixed precision is for CUDA devices")
    vocab = Vocabulary.build(TEXTS)
    dataset = TextClassificationDataset(TEXTS, LABELS, vocab, max_len=16)
    model = small_model(vocab)
    history = pretrain(MaskedLanguageModel(model), make_dataloader(dataset, 16, seed=0),
                       PretrainConfig(epochs=3, lr=3e-3, progress=False), vocab.mask_id, device=DEVICE)
    assert all(torch.isfinite(torch.tensor(h["mlm_loss"])) for h in history)
    assert history[-1]["mlm_loss"] < history[0]["mlm_loss"]
    device = DEVICE
    config = TrainConfig(epochs=15, lr=3e-3, patience=None, precision=precision, progress=False)
    loader = make_dataloader(dataset, 16, seed=0)
    dev = make_dataloader(dataset, 64, shuffle=False)
    result = fit(model, loader, dev, config, device)
    assert next(model.parameters()).device.type == DEVICE.type
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"], precision
    assert result.best_metric >= 0.8, f"{precision}: the run did not learn the training texts"
    logits, labels, _ = predict(model, dev, device)
    assert logits.dtype == torch.float32
    accuracy = (logits.argmax(-1) == labels.to(logits.device)).float().mean().item()
    assert accuracy == pytest.approx(result.best_metric)  # the kept weights are the best epoch's


def test_explanations_agree_between_gpu_and_cpu():
    vocab = Vocabulary.build(TEXTS)
    model = small_model(vocab).double().eval()
    texts = TEXTS[:10]
    encoded = [vocab.encode(t) for t in texts]
    n = max(map(len, encoded))
    ids = torch.tensor([e + [vocab.pad_id] * (n - len(e)) for e in encoded])
    mask = ids != vocab.pad_id
    cpu_weights = attention_weights(model, ids, mask)
    cpu_scores = token_scores(model, ids, mask, steps=32)
    gpu_model = model.to(DEVICE)
    gpu_ids, gpu_mask = ids.to(DEVICE), mask.to(DEVICE)
    gpu_weights = attention_weights(gpu_model, gpu_ids, gpu_mask)
    torch.testing.assert_close(gpu_weights.cpu(), cpu_weights, rtol=1e-9, atol=1e-9)
    rollout = attention_rollout(gpu_weights, gpu_mask).cpu()
    torch.testing.assert_close(rollout, attention_rollout(cpu_weights, mask), rtol=1e-9, atol=1e-9)
    gpu_scores = token_scores(gpu_model, gpu_ids, gpu_mask, steps=32)
    for method, scores in cpu_scores.items():
        torch.testing.assert_close(gpu_scores[method].cpu(), scores, rtol=1e-7, atol=1e-9, msg=method)
    result = faithfulness(gpu_model, gpu_ids, gpu_mask, gpu_scores, ks=(1, 2), random_draws=3)
    assert set(result.drops) >= set(cpu_scores) and all(
        all(torch.isfinite(torch.tensor(d)) for d in drops) for drops in result.drops.values()
    )
