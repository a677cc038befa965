"""Benchmarks of the book's code against PyTorch's own modules.

Run ``python -m benchmarks --output docs/appendix/performance_results.json`` to measure, on
this machine and in one run:

* `book_code.attention.MultiHeadAttention` against ``torch.nn.MultiheadAttention``
  (forward + backward, with and without returning the attention weights);
* the explicit `book_code.attention.scaled_dot_product_attention` against PyTorch's fused
  ``torch.nn.functional.scaled_dot_product_attention`` (time and peak memory);
* `book_code.encoder.EncoderLayer` against ``torch.nn.TransformerEncoderLayer``, and the
  training throughput of `book_code.encoder.TransformerClassifier` against a classifier
  built on ``torch.nn.TransformerEncoder`` (`benchmarks.reference`);
* the machine's float32 matrix-multiply throughput, the yardstick for all of them.

Implementations are timed interleaved, after warm-up, and summarised by the median and
interquartile range of repeated runs (`benchmarks.timing`, `benchmarks.stats`). The
Performance appendix of the book reads the JSON file; it never benchmarks while the book
is built. ``--quick`` runs tiny sizes as a smoke test.
"""
