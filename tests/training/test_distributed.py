"""Data parallelism: two CPU processes under torchrun train like one process on the whole batch.

Two processes (gloo backend) train with 8 examples each per step; one process trains with 16.
The runs see the same examples in every step: `distributed_loader` uses a `DistributedSampler`
whose permutation depends only on the seed and the epoch, and rank ``r`` takes positions
``r, r + 2, r + 4, ...`` of it, so the ``b``-th batches of the two ranks together are positions
``16 b .. 16 b + 15``, exactly the ``b``-th batch of the single process (which uses the same
sampler with one replica). Each rank's loss is the mean over its 8 examples and DDP averages
the two gradients, which is the gradient of the mean over all 16; clipping and AdamW then act
on identical gradients. Dropout is off, so nothing else is random.

What remains is rounding: the sums of a mean over 16 examples and of an average of two means
over 8 are added in different orders, which changes float32 results in the last bits (about
1e-7 relative). Twelve AdamW steps of size lr = 3e-3 can carry such differences forward but not
amplify them much, so a tolerance of 1e-5 on every weight (two orders above the rounding,
far below a single update of 3e-3) separates "same computation, different rounding" from
"different computation". The two ranks themselves must agree exactly: DDP gives both the same
averaged gradient.

One slice is exempt: the key bias b_K of the attention. It adds q . b_K to every score of a
query's row, and softmax ignores a constant added to a row, so its true gradient is zero; what
backpropagation computes is rounding noise of order 1e-9. Adam divides the gradient by its own
running magnitude, so it turns that noise into steps of up to lr, in directions that depend on
the rounding. The test checks that this gradient really is noise, and leaves the slice out of
the comparison.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

from tests.training import ddp_worker

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
        f"--master_port={free_port()}", "-m", "tests.training.ddp_worker", str(tmp_path / "ddp"), "8",
    ]
    (tmp_path / "ddp").mkdir()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    rank0, rank1 = (torch.load(tmp_path / "ddp" / f"rank{r}.pt", weights_only=True) for r in (0, 1))

    (tmp_path / "single").mkdir()
    ddp_worker.train_replica(tmp_path / "single", 16)
    single = torch.load(tmp_path / "single" / "rank0.pt", weights_only=True)

    start = ddp_worker.tiny_classifier(seed=0).state_dict()
    embed_dim = start["encoder.layers.0.self_attn.in_proj.bias"].shape[0] // 3
    for name, weight in single.items():
        assert torch.equal(rank0[name], rank1[name]), f"ranks disagree on {name}"
        ddp_weight = rank0[name]
        if name.endswith("self_attn.in_proj.bias"):  # [b_Q, b_K, b_V]: leave out b_K (see above)
            keep = torch.ones_like(weight, dtype=torch.bool)
            keep[embed_dim : 2 * embed_dim] = False
            ddp_weight, weight = ddp_weight[keep], weight[keep]
        assert torch.allclose(ddp_weight, weight, rtol=0, atol=1e-5), (
            f"{name}: max difference {(ddp_weight - weight).abs().max().item():.2e}"
        )
    # The runs did train: the weights moved by far more than the tolerance.
    assert max((single[name] - start[name]).abs().max().item() for name in start) > 1e-2


def test_the_key_bias_gets_no_gradient():
    model = ddp_worker.tiny_classifier(seed=0)
    batch = ddp_worker.marker_batches(16, 16)[0]
    loss = torch.nn.functional.cross_entropy(model(batch.token_ids, batch.padding_mask), batch.labels)
    loss.backward()
    bias_grad = model.encoder.layers[0].self_attn.in_proj.bias.grad.reshape(3, -1)  # b_Q, b_K, b_V
    assert bias_grad[1].abs().max() < 1e-6 * bias_grad[2].abs().max()
