"""A reader who copies a chapter's listings in page order gets code that runs.

Each chapter's listings are assembled exactly as the site shows them and executed in a fresh
interpreter, followed by a check that the copied code computes what ``book_code`` computes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.book.chapters import CHAPTERS, DOCS, PYTHON_LANGS, blocks, section_text, snippet_includes

# Every page with listings: the chapters and the appendix of derivations.
LISTING_PAGES = [*CHAPTERS, DOCS / "appendix" / "derivations.md"]

# What each chapter's copied code must reproduce; the names come from the chapter's listings.
CHECKS = {
    "01-attention": """
        import book_code.attention.lookup as book
        torch.manual_seed(0)
        assert soft_lookup is not book.soft_lookup
        q, K, V = torch.randn(8), torch.randn(5, 8), torch.randn(5, 3)
        for mine, theirs in zip(soft_lookup(q, K, V), book.soft_lookup(q, K, V)):
            assert torch.equal(mine, theirs)
        assert torch.equal(softmax(K), book.softmax(K))
        assert torch.equal(hard_lookup(q, K, V), book.hard_lookup(q, K, V))
        assert measure_scaling(16, True).as_dict() == book_measure(16, True).as_dict()
    """,
    "02-scaled-dot-product": """
        import book_code.attention as book
        torch.manual_seed(0)
        assert scaled_dot_product_attention is not book.scaled_dot_product_attention
        q, k, v = torch.randn(2, 4, 8), torch.randn(2, 6, 8), torch.randn(2, 6, 5)
        mask = padding_mask(torch.tensor([6, 3]), 6)[:, None, :]
        mask = combine_masks(mask, causal_mask(4, 6))
        for mine, theirs in zip(scaled_dot_product_attention(q, k, v, mask),
                                book.scaled_dot_product_attention(q, k, v, mask)):
            assert torch.equal(mine, theirs)
    """,
    "03-multi-head": """
        import book_code.attention as book
        torch.manual_seed(0)
        mine = MultiHeadAttention(16, 4)
        torch.manual_seed(0)
        theirs = book.MultiHeadAttention(16, 4)
        x = torch.randn(2, 5, 16)
        pad = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
        for need_weights in (False, True):
            a = mine(x, key_padding_mask=pad, need_weights=need_weights)
            b = theirs(x, key_padding_mask=pad, need_weights=need_weights)
            assert torch.equal(a[0], b[0])
        assert MultiHeadAttention is not book.MultiHeadAttention  # the reader's own class
        assert isinstance(MultiHeadAttention.from_torch(theirs.to_torch()), MultiHeadAttention)
    """,
    "04-position": """
        import book_code.positional as book
        import book_code.exercises.ch04 as book_ex
        from book_code.attention import MultiHeadAttention
        torch.manual_seed(0)
        assert sinusoidal_encoding.__module__ == "__main__"
        assert torch.equal(sinusoidal_encoding(50, 16), book.sinusoidal_encoding(50, 16))
        assert torch.equal(sinusoidal_shift_matrix(-3, 16), book.sinusoidal_shift_matrix(-3, 16))
        x = torch.randn(2, 7, 16)
        sinusoidal = SinusoidalPositionalEncoding(16, 32)(x)
        assert torch.equal(sinusoidal, book.SinusoidalPositionalEncoding(16, 32)(x))
        torch.manual_seed(1)
        mine = LearnedPositionalEmbedding(32, 16)
        torch.manual_seed(1)
        assert torch.equal(mine(x), book.LearnedPositionalEmbedding(32, 16)(x))
        q, k = torch.randn(2, 2, 7, 8), torch.randn(2, 2, 5, 8)
        pos = torch.arange(7) * 3 - 4
        assert torch.equal(apply_rotary(q, pos), book.apply_rotary(q, pos))
        assert torch.equal(apply_rotary_half(q, pos), book.apply_rotary_half(q, pos))
        for a, b in zip(RotaryEmbedding(8, 16)(q, k), book.RotaryEmbedding(8, 16)(q, k)):
            assert torch.equal(a, b)
        assert torch.equal(alibi_bias(alibi_slopes(4), 6), book_ex.alibi_bias(book_ex.alibi_slopes(4), 6))
        v = torch.randn(2, 2, 7, 3)
        assert torch.equal(alibi_attention(q, q, v)[0], book_ex.alibi_attention(q, q, v)[0])
        torch.manual_seed(2)
        layer = MultiHeadAttention(16, 2, rotary=RotateHalfRotary(8)).double()
        x64 = torch.randn(1, 6, 16, dtype=torch.float64)
        torch.testing.assert_close(to_paper_pairing(layer)(x64)[0], layer(x64)[0], rtol=0, atol=1e-12)
    """,
    "05-encoder": """
        import book_code.encoder as book
        torch.manual_seed(0)
        mine = TransformerClassifier(50, 3, embed_dim=16, num_heads=2, num_layers=2, pooling="mean")
        torch.manual_seed(0)
        theirs = book.TransformerClassifier(50, 3, embed_dim=16, num_heads=2, num_layers=2, pooling="mean")
        mine.eval(), theirs.eval()
        assert type(mine) is not type(theirs)  # the copied class, not the package's
        ids = torch.tensor([[1, 7, 9, 4, 2], [1, 4, 3, 0, 0]])
        assert torch.equal(mine(ids), theirs(ids))
        assert torch.equal(mine.forward_with_weights(ids)[0], theirs.forward_with_weights(ids)[0])
        reference = torch.nn.TransformerEncoderLayer(16, 4, 32, norm_first=True, batch_first=True).eval()
        x = torch.randn(2, 5, 16)
        pad = ids != 0
        a = EncoderLayer.from_torch(reference).eval()(x, key_padding_mask=pad)
        b = book.EncoderLayer.from_torch(reference).eval()(x, key_padding_mask=pad)
        assert torch.equal(a, b)
        assert torch.equal(layer_norm(x), book.layer_norm(x))
        config = ClassifierConfig(vocab_size=1000, num_classes=2)
        book_config = book.ClassifierConfig(vocab_size=1000, num_classes=2)
        assert count_parameters(config) == book.count_parameters(book_config)
        assert flops_per_forward(config, 2, 64) == book.flops_per_forward(book_config, 2, 64)
        assert bert_parameters() == book.bert_parameters()
        steps = range(9)
        assert [warmup_then_decay(t, 3, 9) for t in steps] == [book.warmup_then_decay(t, 3, 9) for t in steps]
    """,
    "06-training": """
        import random
        import tempfile
        from dataclasses import replace
        from pathlib import Path
        import book_code.data.batching as book_batching
        import book_code.data.synthetic as book_synthetic
        import book_code.data.tokenizer as book_tokenizer
        import book_code.data.vocab as book_vocab
        import book_code.training.checkpoint as book_checkpoint
        import book_code.training.debug as book_debug
        import book_code.training.distributed as book_distributed
        import book_code.training.metrics as book_metrics
        import book_code.training.sweep as book_sweep
        import book_code.training.trainer as book_trainer
        from book_code.encoder import TransformerClassifier as BookClassifier
        torch.set_num_threads(1)
        assert make_examples is not book_synthetic.make_examples and train_step is not book_trainer.train_step
        texts = []
        for seed in range(30):
            for phenomenon in PHENOMENA:
                mine = make_examples(random.Random(seed), phenomenon, seed % 2)
                assert mine == book_synthetic.make_examples(random.Random(seed), phenomenon, seed % 2)
                texts += [example.text for example in mine]
        assert [tokenize(t) for t in texts] == [book_tokenizer.tokenize(t) for t in texts]
        vocab, theirs = Vocabulary.build(texts, min_freq=2), book_vocab.Vocabulary.build(texts, min_freq=2)
        assert vocab.itos == theirs.itos
        encoded = [vocab.encode(t, add_cls=True) for t in texts]
        assert encoded == [theirs.encode(t, add_cls=True) for t in texts]
        labels = [i % 2 for i in range(len(texts))]
        dataset = TextClassificationDataset(texts, labels, vocab)
        batch, other = collate(list(dataset)[:7]), book_batching.collate(list(dataset)[:7])
        names = ("token_ids", "padding_mask", "labels")
        assert all(torch.equal(getattr(batch, n), getattr(other, n)) for n in names)
        for replicas, rank in ((1, 0), (2, 1)):
            samplers = [cls(dataset.lengths, 8, seed=3, num_replicas=replicas, rank=rank)
                        for cls in (BucketBatchSampler, book_batching.BucketBatchSampler)]
            for sampler in samplers:
                sampler.set_epoch(2)
            assert list(samplers[0]) == list(samplers[1])
        batches = [collate([dataset[i] for i in b]) for b in BucketBatchSampler(dataset.lengths, 16)]
        def tiny(seed):
            torch.manual_seed(seed)
            return BookClassifier(len(theirs), 2, embed_dim=16, num_heads=2, num_layers=1, ff_dim=32,
                                  max_len=32, positional="rope", dropout=0.0)
        a, b = tiny(0), tiny(0)
        assert [warmup_cosine_factor(s, 5, 20, 0.1) for s in range(25)] == [
            book_trainer.warmup_cosine_factor(s, 5, 20, 0.1) for s in range(25)]
        records = []
        for model, groups, schedule, step in (
                (a, parameter_groups, warmup_cosine_schedule, train_step),
                (b, book_trainer.parameter_groups, book_trainer.warmup_cosine_schedule,
                 book_trainer.train_step)):
            optimizer = torch.optim.AdamW(groups(model, 0.01), lr=1e-2)
            scheduler = schedule(optimizer, 2, 10)
            loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
            records.append([step(model, x, optimizer, scheduler, loss_fn, 0.5) for x in batches[:3]])
        assert records[0] == records[1]
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
        cpu = torch.device("cpu")
        assert evaluate(a, batches[3:], cpu) == book_trainer.evaluate(b, batches[3:], cpu)
        folder = Path(tempfile.mkdtemp())
        a, b = tiny(1), tiny(1)
        mine = fit(a, batches[:4], batches[4:], TrainConfig(epochs=3, lr=1e-2, patience=1, progress=False),
                   cpu, folder / "fit.pt", a.config.to_dict(), theirs.itos)
        book = book_trainer.fit(b, batches[:4], batches[4:],
                                book_trainer.TrainConfig(epochs=3, lr=1e-2, patience=1, progress=False), cpu)
        timing = {"time_s", "tokens_per_s"}
        assert ([{k: v for k, v in r.items() if k not in timing} for r in mine.history]
                == [{k: v for k, v in r.items() if k not in timing} for r in book.history])
        assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
        restored = book_checkpoint.load_checkpoint(folder / "fit.pt")
        assert restored.extra["epoch"] == mine.best_epoch and restored.vocab == theirs.itos
        assert all(torch.equal(restored.model_state[k], v) for k, v in a.state_dict().items())
        book_checkpoint.save_checkpoint(folder / "book.pt", b, b.config.to_dict(), theirs.itos, {"note": 1})
        model, loaded_vocab, checkpoint = load_classifier(folder / "book.pt")
        assert checkpoint.extra == {"note": 1} and loaded_vocab.itos == theirs.itos
        damaged = bytearray((folder / "book.pt").read_bytes())
        damaged[len(damaged) // 2] ^= 0xFF
        (folder / "book.pt").write_bytes(bytes(damaged))
        try:
            load_checkpoint(folder / "book.pt")
            raise AssertionError("a damaged checkpoint loaded")
        except CheckpointError:
            pass
        g = torch.Generator().manual_seed(0)
        preds, targets = torch.randint(0, 3, (50,), generator=g), torch.randint(0, 3, (50,), generator=g)
        matrix = confusion_matrix(preds, targets, 3)
        assert torch.equal(matrix, book_metrics.confusion_matrix(preds, targets, 3))
        assert macro_f1(preds, targets, 3) == book_metrics.macro_f1(preds, targets, 3)
        probs = torch.softmax(torch.randn(50, 3, generator=g), dim=-1)
        assert (expected_calibration_error(probs, targets)
                == book_metrics.expected_calibration_error(probs, targets))
        a, b = tiny(2), tiny(2)
        assert overfit_one_batch(a, batch, steps=5) == book_debug.overfit_one_batch(b, batch, steps=5)
        assert gradient_norms(a) == book_debug.gradient_norms(b)
        assert update_to_weight_ratios(tiny(3), a) == book_debug.update_to_weight_ratios(tiny(3), b)
        assert torch.equal(
            attention_entropy_per_head(a, batch.token_ids, batch.padding_mask, normalize=True),
            book_debug.attention_entropy_per_head(b, batch.token_ids, batch.padding_mask, normalize=True))
        assert (lr_range_test(tiny(4), batches[:3], num_steps=8).losses
                == book_debug.lr_range_test(tiny(4), batches[:3], num_steps=8).losses)
        assert sweep_configs(BASE_CONFIG, AXES, SEEDS) == book_sweep.sweep_configs(
            book_sweep.BASE_CONFIG, book_sweep.AXES, book_sweep.SEEDS)
        small = replace(book_sweep.PROBE_CONFIG, n_train=64, n_dev=16, embed_dim=16, ff_dim=32, epochs=1)
        axes = {"lr": [(1e-3, {"lr": 1e-3}), (small.lr, {"lr": small.lr})]}
        sweeps = [run_sweep(small, axes, seeds=(0,)), book_sweep.run_sweep(small, axes, seeds=(0,))]
        for sweep in sweeps:
            sweep.pop("total_seconds")
            for point in sweep["results"]["lr"]:
                for r in point["runs"]:
                    r.pop("train_seconds")
        assert sweeps[0] == sweeps[1]
        context = setup_distributed()
        assert (context.rank, context.world_size, context.device, context.is_main) == (0, 1, cpu, True)
        assert wrap_model(a, context) is a and sum_across_processes([1, 2.5]) == [1.0, 2.5]
        loaders = [distributed_loader(dataset, 4, context, collate, seed=1),
                   book_distributed.distributed_loader(dataset, 4, context, collate, seed=1)]
        assert [x.labels.tolist() for x in loaders[0]] == [x.labels.tolist() for x in loaders[1]]
    """,
    "07-sst2": """
        from dataclasses import asdict
        import book_code.experiments.sst2 as book
        import book_code.pretraining as book_pt
        import book_code.exercises.ch07 as book_ex
        from book_code.data import Vocabulary
        from book_code.data import fit_bow_baseline as book_fit_bow
        assert deduplicate is not book.deduplicate and mask_tokens is not book_pt.mask_tokens
        texts = ["the acting is terrific", "the acting", "is terrific", "dull", "the acting",
                 "not dull , but long"]
        labels = [1, 1, 1, 0, 0, 1]
        assert deduplicate(texts, labels) == book.deduplicate(texts, labels)
        assert whole_sentences(texts) == book.whole_sentences(texts)
        assert all(phenomenon_tags(t) == book.phenomenon_tags(t) for t in texts)
        assert asdict(SST2Config()) == asdict(book.SST2Config())
        assert [(a.name, asdict(a.config)) for a in experiment_arms(SST2Config())] == [
            (a.name, asdict(a.config)) for a in book.experiment_arms(book.SST2Config())]
        ids = torch.tensor([[2, 10, 11, 12, 13, 0], [2, 5, 6, 7, 8, 9]])
        for seed in range(3):
            mine = mask_tokens(ids, 3, 20, 0.5, generator=torch.Generator().manual_seed(seed))
            theirs = book_pt.mask_tokens(ids, 3, 20, 0.5, generator=torch.Generator().manual_seed(seed))
            assert all(torch.equal(x, y) for x, y in zip(mine, theirs))
        vocab = Vocabulary.build(texts)
        torch.manual_seed(0)
        classifier = TransformerClassifier(len(vocab), 2, 16, 2, 1, max_len=16, positional="rope",
                                           pooling="mean")
        init_embeddings_(classifier, 0.02)
        torch.manual_seed(0)
        theirs = book_pt.init_embeddings_(
            TransformerClassifier(len(vocab), 2, 16, 2, 1, max_len=16, positional="rope", pooling="mean"),
            0.02)
        assert all(torch.equal(a, b)
                   for a, b in zip(classifier.state_dict().values(), theirs.state_dict().values()))
        encoded = [vocab.encode(t, max_len=8) for t in texts]
        batch = torch.tensor([e + [vocab.pad_id] * (8 - len(e)) for e in encoded])
        mlm = MaskedLanguageModel(classifier).eval()  # no dropout: both losses see the same network
        mine = masked_lm_loss(mlm, batch, batch != 0, vocab.mask_id,
                              generator=torch.Generator().manual_seed(0))
        book_mlm = book_pt.MaskedLanguageModel(theirs)
        book_mlm.load_state_dict(mlm.state_dict())
        book_mlm.eval()
        other = book_pt.masked_lm_loss(book_mlm, batch, batch != 0, vocab.mask_id,
                                       generator=torch.Generator().manual_seed(0))
        assert torch.equal(mine[0], other[0]) and mine[1:] == other[1:]
        classifier.eval()
        assert word_order_probe(classifier, vocab, texts, labels) == book.word_order_probe(
            classifier, vocab, texts, labels)
        bow, book_bow = fit_bow_baseline(texts, labels), book_fit_bow(texts, labels)
        assert list(bow.predict(texts)) == list(book_bow.predict(texts))
        blind = without_positions(classifier)
        assert blind.config.positional == "none"
        assert shuffled_accuracy(blind, vocab, texts, labels) == book_ex.shuffled_accuracy(
            blind, vocab, texts, labels)
        assert wilson_interval(80, 100) == book_ex.wilson_interval(80, 100)
        assert mcnemar_p_value(30, 18) == book_ex.mcnemar_p_value(30, 18)
    """,
    "08-inside": """
        import book_code.interpret as book
        import book_code.exercises.ch08 as book_ex
        from book_code.encoder import TransformerClassifier
        from book_code.experiments.inside import EvalSet
        assert attention_rollout is not book.attention_rollout and faithfulness is not book.faithfulness
        torch.manual_seed(0)
        model = TransformerClassifier(30, 2, embed_dim=16, num_heads=2, num_layers=2, max_len=16).eval()
        ids = torch.tensor([[2, 5, 7, 9, 4, 6], [2, 6, 8, 11, 0, 0]])
        mask = ids != 0
        w = attention_weights(model, ids, mask)
        assert torch.equal(w, book.attention_weights(model, ids, mask))
        assert torch.equal(attention_rollout(w, mask), book.attention_rollout(w, mask))
        pairs = ((gradient_x_input(model, ids, mask), book.gradient_x_input(model, ids, mask)),
                 (integrated_gradients(model, ids, mask, steps=16),
                  book.integrated_gradients(model, ids, mask, steps=16)))
        for mine, theirs in pairs:
            assert torch.equal(mine.scores, theirs.scores)
        scores = token_scores(model, ids, mask, steps=8)
        theirs = book.token_scores(model, ids, mask, steps=8)
        assert all(torch.equal(scores[m], theirs[m]) for m in theirs)
        a = faithfulness(model, ids, mask, scores, ks=(1, 2), random_draws=3)
        b = book.faithfulness(model, ids, mask, theirs, ks=(1, 2), random_draws=3)
        assert a.drops == b.drops and str(a) == str(b)
        deleted = ids == 7
        deletions = delete_tokens(ids, mask, deleted, "pad"), book.delete_tokens(ids, mask, deleted, "pad")
        for x, y in zip(*deletions):
            assert torch.equal(x, y)
        tokens = ["[CLS]", "a", "b", "c", "d", "e"]
        assert len(attention_heatmap(w[0, 0, 0], tokens).axes) == 2
        assert len(attention_grid(w[0], tokens).axes) == 2 * 2 + 1
        assert sufficiency(model, ids, mask, scores) == book_ex.sufficiency(model, ids, mask, theirs)
        batch = EvalSet(ids, mask, torch.tensor([1, 0]), [[]] * 2, [], ["plain", "negation"])
        with ablated_heads(model, [(0, 1)]):
            ablated = model(ids, mask)
        with book_ex.ablated_heads(model, [(0, 1)]):
            assert torch.equal(ablated, model(ids, mask))
        assert head_ablation(model, batch) == book_ex.head_ablation(model, batch)
        swept = rollout_sweep(model, batch, ks=(1,)).drops
        assert swept == book_ex.rollout_sweep(model, batch, ks=(1,)).drops
        roles = [["[CLS]", "a", "not", "b", "c", "d"], ["[CLS]", "e", "n't", "f"]]
        negated = EvalSet(ids, mask, torch.tensor([1, 0]), roles, [], ["sst2"] * 2)
        assert negation_deletion(model, negated) == book_ex.negation_deletion(model, negated)
    """,
    "09-responsible": """
        import numpy as np
        import book_code.bias as book
        import book_code.footprint as book_fp
        import book_code.experiments.responsible as book_exp
        import book_code.exercises.ch09 as book_ex
        assert generate_eec.__module__ == "__main__" and audit.__module__ == "__main__"
        assert [r.sentence for r in generate_eec()] == [r.sentence for r in book.generate_eec()]
        def score(sentences):
            return [0.5 + 0.01 * len(s) % 0.3 + 0.05 * ("She " in s) for s in sentences]
        assert audit(score, n_boot=500).table() == book.audit(score, n_boot=500).table()
        for text in ("He gave her his book.", "I saw her; the idea was hers.", "My brother Jamel laughed."):
            assert substitute(text, GENDER_SUBSTITUTIONS) == book.substitute(text, book.GENDER_SUBSTITUTIONS)
            assert counterfactuals(text) == book.counterfactuals(text)
            assert gender_of(text) == book.gender_of(text)
        labels, groups, predicted = ["p"] * 6 + ["n"] * 4, list("ffffmmfmmm"), ["p"] * 5 + ["n"] * 5
        assert bias_amplification(labels, groups, predicted, groups).value == book.bias_amplification(
            labels, groups, predicted, groups).value
        splits, theirs = person_splits(0.8, 40, 20, 20), book_exp.person_splits(0.8, 40, 20, 20)
        assert splits.train_texts == theirs.train_texts and splits.test_male == theirs.test_male
        augmented = counterfactual_augmentation(splits.train_texts, splits.train_labels)
        assert augmented == book_exp.counterfactual_augmentation(theirs.train_texts, theirs.train_labels)
        values = np.arange(30.0).reshape(3, 10)
        assert crossed_bootstrap_ci(values, n_boot=300) == book_exp.crossed_bootstrap_ci(values, n_boot=300)
        assert training_flops(175e9, 300e9) == book_fp.training_flops(175e9, 300e9)
        kw = dict(hours=2.0, device_power_watts=300.0, utilisation=0.5, pue=1.2,
                  grid_intensity_g_per_kwh=400.0)
        assert estimate_footprint(**kw).as_dict() == book_fp.estimate_footprint(**kw).as_dict()
        assert gpt3_co2e_from_published_energy() == book_fp.gpt3_co2e_from_published_energy()
        assert footprint_estimate(60.0, 1, FootprintAssumptions()).as_dict() == book_exp.footprint_estimate(
            60.0, 1, book_exp.FootprintAssumptions()).as_dict()
        assert expected_amplification(0.2, 0.8) == book_ex.expected_amplification(0.2, 0.8)
        assert hardest_pair(["#0072B2", "#E69F00", "#56B4E9"], "deuteranopia") == book_ex.hardest_pair(
            ["#0072B2", "#E69F00", "#56B4E9"], "deuteranopia")
    """,
    "derivations": """
        import book_code.attention.backward as book
        from book_code.attention import causal_mask
        assert attention_with_manual_backward is not book.attention_with_manual_backward
        torch.manual_seed(0)
        q, k, v = (torch.randn(2, 3, 5, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
        mask = causal_mask(5)
        mask[2] = False
        upstream = torch.randn(2, 3, 5, 4, dtype=torch.float64)
        for recompute in (False, True):
            mine = attention_with_manual_backward(q, k, v, mask, recompute=recompute, block_size=2)
            theirs = book.attention_with_manual_backward(q, k, v, mask, recompute=recompute, block_size=2)
            assert torch.equal(mine, theirs)
            for a, b in zip(torch.autograd.grad(mine, (q, k, v), upstream),
                            torch.autograd.grad(theirs, (q, k, v), upstream)):
                assert torch.equal(a, b)
            saved = saved_tensors(attention_with_manual_backward, q, k, v, recompute=recompute)
            assert storage_bytes(saved) == book.saved_bytes(2, 3, 5, 5, 4, 8, recompute)
    """,
}
PRELUDE = {"01-attention": "from book_code.attention.scaling import measure_scaling as book_measure"}


def listing_groups(chapter) -> list[str]:
    """The chapter's listings in page order, joined where a listing continues the one before.

    A listing whose first line is indented (a method shown on its own) belongs to the class of
    the listing before it; the two are run as one piece of code.
    """
    groups: list[str] = []
    for block in blocks(chapter):
        if block.lang not in PYTHON_LANGS:
            continue
        for path, section in snippet_includes(block):
            code = section_text(path, section)
            first = next((line for line in code.splitlines() if line.strip()), "")
            if groups and first[:1].isspace():
                groups[-1] += "\n" + code
            else:
                groups.append(code)
    return groups


RUNNER = """
import json, sys
groups = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
copied = {}
for index, code in enumerate(groups):
    exec(compile(code, f"<listing {index}>", "exec"), namespace)
    # Remember what the reader's own code defined before a later import can shadow it.
    for name, value in namespace.items():
        if getattr(value, "__module__", None) == "__main__" and name not in copied:
            copied[name] = value
check_namespace = {**namespace, **copied, "__name__": "__check__"}
exec(compile(CHECK, "<check>", "exec"), check_namespace)
print("ok")
"""


@pytest.mark.slow
@pytest.mark.parametrize("chapter", LISTING_PAGES, ids=lambda p: p.stem)
def test_copied_listings_run(chapter, tmp_path):
    groups = listing_groups(chapter)
    assert groups, f"{chapter.name} shows no listings"
    check = textwrap.dedent(CHECKS.get(chapter.stem, ""))
    assert check, f"add a check of the copied code for {chapter.stem} to CHECKS"
    check = f"import torch\n{PRELUDE.get(chapter.stem, '')}\n{check}"
    script = tmp_path / "run_listings.py"
    script.write_text(f"CHECK = {check!r}\n{RUNNER}", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(script)], input=json.dumps(groups), cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), (
        f"copying the listings of {chapter.name} in page order gives code that fails:\n"
        f"{result.stderr[-3000:]}"
    )
