"""Masked-token self-pretraining: learn from the task's own text before learning its labels.

A classifier trained from scratch on SST-2 must learn what words mean and how they combine
from 67,349 labelled phrases alone. Masked-token pretraining (Devlin et al., 2019) gives it a
second, label-free task on the same text first: hide some tokens and predict them from their
context. Amos et al. (2024) call this *self-pretraining* when the text is the downstream
task's own training data, with no external corpus, and show that it closes much of the gap
between randomly initialised and pretrained models.

The pieces, in the order the chapter shows them:

* `mask_tokens` chooses about 15% of the ordinary tokens of a batch and corrupts them by
  BERT's 80/10/10 rule; it never touches ``[PAD]``, ``[UNK]``, ``[CLS]`` or ``[MASK]``.
* `MaskedLanguageModel` puts a prediction head on a `TransformerClassifier`'s embeddings
  and encoder; its output matrix *is* the token embedding matrix (tied weights).
* `pretrain` runs the masked-token objective over a loader of `Batch` objects (their labels
  are ignored) and returns the history. Afterwards the classifier inside holds the
  pretrained embeddings and encoder, and its own classification head is still untrained:
  fine-tune it with `book_code.training.fit` as usual.
"""

from __future__ import annotations

# --8<-- [start:imports]
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from book_code.data.vocab import SPECIAL_TOKENS
from book_code.encoder import TransformerClassifier
from book_code.training.trainer import parameter_groups, warmup_cosine_schedule

# --8<-- [end:imports]

__all__ = [
    "IGNORE_INDEX",
    "MaskedLanguageModel",
    "PretrainConfig",
    "mask_tokens",
    "masked_lm_loss",
    "pretrain",
]


# --8<-- [start:mask_tokens]
IGNORE_INDEX = -100  # F.cross_entropy skips targets with this value


def mask_tokens(
    token_ids: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    mask_prob: float = 0.15,
    num_special: int = len(SPECIAL_TOKENS),
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt a batch for masked-token prediction, as BERT does (Devlin et al., 2019).

    Every ordinary token (id ``>= num_special``) is chosen independently with probability
    ``mask_prob``. A chosen token is replaced by ``[MASK]`` with probability 0.8, by a random
    ordinary token with probability 0.1, and left unchanged with probability 0.1; the model
    must predict the original token at every chosen position. Reserved tokens (``[PAD]``,
    ``[UNK]``, ``[CLS]``, ``[MASK]``, ids ``< num_special``) are never chosen.

    Args:
        token_ids: ``(batch, seq_len)`` integer ids.
        mask_id: the id of ``[MASK]``.
        vocab_size: number of ids; random replacements are drawn from
            ``[num_special, vocab_size)``.
        mask_prob: probability of choosing an ordinary token.
        num_special: ids below this are reserved tokens (the vocabulary puts them first).
        generator: random generator, for reproducible masks.

    Returns:
        ``(inputs, targets)``: the corrupted ids, and the original ids at the chosen
        positions with `IGNORE_INDEX` everywhere else.

    >>> ids = torch.tensor([[2, 10, 11, 12, 13, 0]])  # [CLS] four words [PAD]
    >>> inputs, targets = mask_tokens(ids, mask_id=3, vocab_size=20, mask_prob=0.5,
    ...                               generator=torch.Generator().manual_seed(4))
    >>> inputs  # 11 and 13 became [MASK] (id 3); 12 was chosen but kept
    tensor([[ 2, 10,  3, 12,  3,  0]])
    >>> targets  # predict the originals at the three chosen positions
    tensor([[-100, -100,   11,   12,   13, -100]])
    """
    if not 0.0 < mask_prob < 1.0:
        raise ValueError(f"mask_prob must lie in (0, 1); got {mask_prob}")
    if vocab_size <= num_special:
        raise ValueError(
            f"vocab_size ({vocab_size}) leaves no ordinary token above the {num_special} reserved ids"
        )
    if token_ids.dtype not in (torch.int64, torch.int32) or token_ids.dim() != 2:
        raise ValueError(
            f"token_ids must be a (batch, seq_len) integer tensor; got {token_ids.dtype} "
            f"of shape {tuple(token_ids.shape)}"
        )
    device = token_ids.device

    def uniform() -> torch.Tensor:  # one U(0, 1) draw per position
        return torch.rand(token_ids.shape, generator=generator, device=device)

    maskable = token_ids >= num_special
    chosen = maskable & (uniform() < mask_prob)
    # One more draw decides the fate of each chosen token: [0, 0.8) mask, [0.8, 0.9) random.
    fate = uniform()
    to_mask = chosen & (fate < 0.8)
    to_random = chosen & (fate >= 0.8) & (fate < 0.9)
    random_ids = torch.randint(num_special, vocab_size, token_ids.shape, generator=generator, device=device)
    inputs = torch.where(to_mask, torch.full_like(token_ids, mask_id), token_ids)
    inputs = torch.where(to_random, random_ids.to(token_ids.dtype), inputs)
    targets = torch.where(chosen, token_ids, torch.full_like(token_ids, IGNORE_INDEX))
    return inputs, targets
# --8<-- [end:mask_tokens]


# --8<-- [start:init_embeddings]
def init_embeddings_(classifier: TransformerClassifier, std: float = 0.02) -> TransformerClassifier:
    """Draw the token embeddings from ``N(0, std^2)``, as BERT does, and zero the ``[PAD]`` row.

    ``nn.Embedding`` starts from ``N(0, 1)``: rows of length about ``sqrt(E)``. With tied
    weights the masked-token scores are dot products of such rows with normalised hidden
    vectors, so they start with a standard deviation of about ``sqrt(E)`` (11 for ``E = 128``)
    and the first loss is several times ``ln V``. BERT's ``std = 0.02`` starts the scores near
    zero, the loss near ``ln V``, and puts the tokens on the scale of the learned position
    embeddings (also ``std = 0.02``), so that position is not drowned out.
    """
    with torch.no_grad():
        nn.init.normal_(classifier.token_embedding.weight, std=std)
        classifier.token_embedding.weight[classifier.config.pad_id].zero_()
    return classifier
# --8<-- [end:init_embeddings]


# --8<-- [start:mlm_model]
class MaskedLanguageModel(nn.Module):
    """A masked-token prediction head on a `TransformerClassifier`'s embeddings and encoder.

    The head transforms each hidden vector (linear map, GELU, layer norm, as in BERT) and
    scores it against every token embedding: the output matrix is the input embedding
    matrix, transposed (tied weights; Press & Wolf, 2017). Tying saves ``V x E`` parameters
    and, more to the point here, every prediction trains the embeddings that the classifier
    will read. The classifier's own head is not used.

    Args:
        classifier: the model to pretrain; it is shared, not copied.

    >>> classifier = TransformerClassifier(vocab_size=30, num_classes=2, embed_dim=16, num_heads=2)
    >>> mlm = MaskedLanguageModel(classifier)
    >>> mlm(torch.tensor([[2, 5, 3, 7]])).shape  # a score for every token id at every position
    torch.Size([1, 4, 30])
    """

    def __init__(self, classifier: TransformerClassifier):
        super().__init__()
        self.classifier = classifier
        embed_dim = classifier.config.embed_dim
        self.transform = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.GELU(), nn.LayerNorm(embed_dim))
        self.output_bias = nn.Parameter(torch.zeros(classifier.config.vocab_size))

    def forward(
        self,
        token_ids: torch.Tensor,
        padding_mask: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Scores over the vocabulary: ``(batch, seq_len, vocab_size)``, or
        ``(n, vocab_size)`` at the ``n`` positions where the bool mask ``positions`` is True.

        Scoring only the masked positions saves most of the work: the output layer is the
        largest matrix product of the model (``vocab_size`` is about 100 times ``embed_dim``).
        """
        classifier = self.classifier
        padding_mask = classifier._check_inputs(token_ids, padding_mask)
        hidden = classifier.encoder(classifier.embed(token_ids), key_padding_mask=padding_mask)
        if positions is not None:
            hidden = hidden[positions]
        return self.transform(hidden) @ classifier.token_embedding.weight.T + self.output_bias
# --8<-- [end:mlm_model]


# --8<-- [start:mlm_loss]
def masked_lm_loss(
    model: MaskedLanguageModel,
    token_ids: torch.Tensor,
    padding_mask: torch.Tensor,
    mask_id: int,
    mask_prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, int, int]:
    """Mask a batch, predict the hidden tokens, return ``(loss, correct, count)``.

    The loss is the mean cross-entropy over the chosen positions; ``correct`` counts the
    positions whose top-scoring token is the original one, of ``count`` chosen positions.
    """
    inputs, targets = mask_tokens(
        token_ids, mask_id, model.classifier.config.vocab_size, mask_prob, generator=generator
    )
    chosen = targets != IGNORE_INDEX
    count = int(chosen.sum())
    if count == 0:  # a batch of very short phrases can draw no mask at all
        return token_ids.new_zeros((), dtype=torch.float32), 0, 0
    logits = model(inputs, padding_mask, positions=chosen)
    loss = F.cross_entropy(logits, targets[chosen])
    correct = int((logits.argmax(dim=-1) == targets[chosen]).sum())
    return loss, correct, count
# --8<-- [end:mlm_loss]


# --8<-- [start:pretrain]
@dataclass
class PretrainConfig:
    """Hyperparameters of `pretrain`."""

    epochs: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    max_grad_norm: float | None = 1.0
    mask_prob: float = 0.15
    seed: int = 0
    progress: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def pretrain(
    model: MaskedLanguageModel,
    loader: Iterable,
    config: PretrainConfig,
    mask_id: int,
    device: torch.device | str = "cpu",
) -> list[dict[str, float]]:
    """Train ``model`` on masked-token prediction; return one record per epoch.

    The loader yields `Batch` objects whose labels are ignored. Masks are drawn afresh for
    every batch of every epoch ("dynamic masking", as in RoBERTa, Liu et al., 2019), so each
    epoch poses new questions about the same sentences. AdamW, the warm-up + cosine
    schedule and gradient clipping are those of the fine-tuning loop (chapter 6).
    """
    device = torch.device(device)
    model.to(device)
    optimizer = torch.optim.AdamW(parameter_groups(model, config.weight_decay), lr=config.lr)
    total_steps = config.epochs * len(loader)
    scheduler = warmup_cosine_schedule(optimizer, round(config.warmup_ratio * total_steps), total_steps)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    clip = config.max_grad_norm if config.max_grad_norm is not None else math.inf
    history = []
    for epoch in range(1, config.epochs + 1):
        for sampler in (getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
        model.train()
        start, loss_sum, correct, count, steps = time.perf_counter(), 0.0, 0, 0, 0
        for batch in tqdm(
            loader, desc=f"pretrain {epoch}/{config.epochs}", disable=not config.progress, leave=False
        ):
            batch = batch.to(device)
            loss, batch_correct, batch_count = masked_lm_loss(
                model, batch.token_ids, batch.padding_mask, mask_id, config.mask_prob, generator
            )
            if batch_count == 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            scheduler.step()
            # Weight each batch's loss by its number of predictions: the epoch's mean per token.
            loss_sum += loss.item() * batch_count
            correct, count, steps = correct + batch_correct, count + batch_count, steps + 1
        history.append(
            {
                "epoch": epoch,
                "mlm_loss": loss_sum / max(count, 1),
                "mlm_accuracy": correct / max(count, 1),
                "predictions": count,
                "steps": steps,
                "time_s": time.perf_counter() - start,
            }
        )
    return history
# --8<-- [end:pretrain]
