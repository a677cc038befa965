"""The vocabulary: a fixed, reproducible mapping between tokens and integer ids.

A model sees token ids, not words. `Vocabulary.build` counts the tokens of the *training* texts
only (counting the dev or test texts too would leak information about them into the model:
which words exist there) and keeps those seen at least ``min_freq`` times, most frequent first,
ties broken alphabetically, so the same data always gives the same ids. Four ids are reserved
before the words:

| id | token | used for |
|---:|---|---|
| 0 | ``[PAD]`` | filling short sequences up to the batch's length (masked out everywhere) |
| 1 | ``[UNK]`` | any token the vocabulary does not know |
| 2 | ``[CLS]`` | the first token of a sequence whose vector the classifier reads |
| 3 | ``[MASK]`` | the token hidden in masked-token pretraining (Devlin et al., 2019) |

A vocabulary is saved as JSON next to a model's checkpoint: the ids mean nothing without it.
"""

from __future__ import annotations

# --8<-- [start:imports]
import json
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from book_code.data.tokenizer import tokenize

# --8<-- [end:imports]

__all__ = ["CLS", "MASK", "PAD", "SPECIAL_TOKENS", "UNK", "Vocabulary"]

_FORMAT = "book_code.Vocabulary"
_VERSION = 1


# --8<-- [start:vocabulary]
PAD, UNK, CLS, MASK = "[PAD]", "[UNK]", "[CLS]", "[MASK]"
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, CLS, MASK)  # ids 0, 1, 2, 3


class Vocabulary:
    """Token <-> id mapping with the reserved tokens ``[PAD]``, ``[UNK]``, ``[CLS]``, ``[MASK]``.

    Build one from training texts with `Vocabulary.build`; the constructor takes the ordinary
    tokens (without the reserved ones) in id order.

    Args:
        tokens: The ordinary tokens; token ``tokens[i]`` gets id ``len(SPECIAL_TOKENS) + i``.
        counts: Optional training-set count of each token (kept for inspection and saved).

    Raises:
        ValueError: On a duplicate, empty or whitespace-containing token, a reserved token
            among ``tokens``, or ``counts`` of the wrong length.

    >>> vocab = Vocabulary(["good", "movie"])
    >>> len(vocab), vocab["good"], vocab["unseen"], vocab.pad_id
    (6, 4, 1, 0)
    """

    def __init__(self, tokens: Sequence[str], counts: Sequence[int] | None = None) -> None:
        tokens = list(tokens)
        for token in tokens:
            if not isinstance(token, str) or not token or token != "".join(token.split()):
                raise ValueError(f"tokens must be non-empty strings without whitespace; got {token!r}")
            if token in SPECIAL_TOKENS:
                raise ValueError(f"{token} is reserved and cannot be an ordinary token")
        if len(set(tokens)) != len(tokens):
            duplicates = sorted(t for t, c in Counter(tokens).items() if c > 1)
            raise ValueError(f"tokens must be unique; duplicated: {duplicates[:10]}")
        if counts is not None and len(counts) != len(tokens):
            raise ValueError(f"counts must have one entry per token ({len(tokens)}); got {len(counts)}")
        self.itos: list[str] = [*SPECIAL_TOKENS, *tokens]  # id -> token
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}  # token -> id
        self.counts: list[int] | None = None if counts is None else [int(c) for c in counts]
# --8<-- [end:vocabulary]

    # --8<-- [start:build]
    @classmethod
    def build(
        cls,
        texts: Iterable[str | Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        tokenizer: Callable[[str], list[str]] = tokenize,
    ) -> "Vocabulary":  # noqa: UP037
        """Count the tokens of the training texts and keep the frequent ones.

        Args:
            texts: Training texts (tokenised with ``tokenizer``) or ready token lists.
            min_freq: Keep tokens seen at least this many times (at least 1).
            max_size: If given, the most ids in total, the 4 reserved ones included.
            tokenizer: Splits a text into tokens.

        Returns:
            A vocabulary ordered by decreasing count, ties alphabetically.

        Raises:
            ValueError: If ``min_freq < 1``, ``max_size`` leaves no room for an ordinary
                token, or a text contains a reserved token.

        >>> Vocabulary.build(["a good movie", "a bad movie", "a movie"], min_freq=2).itos
        ['[PAD]', '[UNK]', '[CLS]', '[MASK]', 'a', 'movie']
        """
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an integer >= 1; got {min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size <= len(SPECIAL_TOKENS)):
            raise ValueError(
                f"max_size counts the {len(SPECIAL_TOKENS)} reserved tokens too, so it must be an "
                f"integer > {len(SPECIAL_TOKENS)}; got {max_size!r}"
            )
        counter: Counter[str] = Counter()
        for text in texts:
            counter.update(tokenizer(text) if isinstance(text, str) else text)
        reserved = sorted(set(SPECIAL_TOKENS) & set(counter))
        if reserved:
            raise ValueError(f"the texts contain the reserved token(s) {reserved}")
        # Most frequent first; equal counts in alphabetical order, so the ids are reproducible.
        kept = sorted((t for t, c in counter.items() if c >= min_freq), key=lambda t: (-counter[t], t))
        if max_size is not None:
            kept = kept[: max_size - len(SPECIAL_TOKENS)]
        return cls(kept, [counter[t] for t in kept])
    # --8<-- [end:build]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        """The id of ``token``, or the ``[UNK]`` id for a token outside the vocabulary."""
        if not isinstance(token, str):
            raise TypeError(f"look up tokens (str) in a vocabulary; got {type(token).__name__} "
                            "(the token of id i is vocab.itos[i])")
        return self.stoi.get(token, self.unk_id)

    def __iter__(self) -> Iterator[str]:
        """The tokens in id order, the reserved ones first."""
        return iter(self.itos)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Vocabulary):
            return NotImplemented
        return self.itos == other.itos and self.counts == other.counts

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, first={self.itos[len(SPECIAL_TOKENS):][:5]})"

    @property
    def pad_id(self) -> int:
        """Id of ``[PAD]`` (0)."""
        return self.stoi[PAD]

    @property
    def unk_id(self) -> int:
        """Id of ``[UNK]`` (1)."""
        return self.stoi[UNK]

    @property
    def cls_id(self) -> int:
        """Id of ``[CLS]`` (2)."""
        return self.stoi[CLS]

    @property
    def mask_id(self) -> int:
        """Id of ``[MASK]`` (3)."""
        return self.stoi[MASK]

    def special_id(self, token: str) -> int:
        """The id of a reserved token such as ``"[CLS]"``.

        Raises:
            KeyError: If ``token`` is not one of `SPECIAL_TOKENS`.
        """
        if token not in SPECIAL_TOKENS:
            raise KeyError(f"unknown special token {token!r}; the reserved tokens are {list(SPECIAL_TOKENS)}")
        return self.stoi[token]

    # --8<-- [start:encode]
    def encode(
        self, text: str | Sequence[str], add_cls: bool = False, max_len: int | None = None
    ) -> list[int]:
        """Turn a text (or a token list) into ids.

        Args:
            text: A string, tokenised with `tokenize`, or a list of tokens.
            add_cls: Put the ``[CLS]`` id first (for a classifier that reads position 0).
            max_len: If given, keep only the first ``max_len`` ids, ``[CLS]`` included.

        Returns:
            The ids; unknown tokens map to ``[UNK]``.

        >>> vocab = Vocabulary(["good", "movie"])
        >>> vocab.encode("A good movie!", add_cls=True)
        [2, 1, 4, 5, 1]
        """
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1):
            raise ValueError(f"max_len must be a positive integer or None; got {max_len!r}")
        tokens = tokenize(text) if isinstance(text, str) else list(text)
        ids = [self.stoi.get(token, self.stoi[UNK]) for token in tokens]
        if add_cls:
            ids = [self.stoi[CLS], *ids]
        return ids if max_len is None else ids[:max_len]
    # --8<-- [end:encode]

    def decode(self, ids: Iterable[int], skip_special_tokens: bool = False) -> str:
        """Turn ids back into a space-separated string of tokens.

        Args:
            ids: Token ids (a list, or a 1-D tensor's ``.tolist()``).
            skip_special_tokens: Drop ``[PAD]``, ``[UNK]``, ``[CLS]`` and ``[MASK]``.

        Raises:
            ValueError: If an id lies outside ``[0, len(self))``.

        Examples:
            >>> vocab = Vocabulary(["good", "movie"])
            >>> vocab.decode([2, 4, 5, 0, 0])
            '[CLS] good movie [PAD] [PAD]'
            >>> vocab.decode([2, 4, 5, 0, 0], skip_special_tokens=True)
            'good movie'
        """
        tokens = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.itos):
                raise ValueError(f"token id {i} is outside the vocabulary's range [0, {len(self.itos)})")
            if skip_special_tokens and i < len(SPECIAL_TOKENS):
                continue
            tokens.append(self.itos[i])
        return " ".join(tokens)

    def to_dict(self) -> dict:
        """A JSON-ready description: format tag, version, reserved tokens, tokens and counts."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "special_tokens": list(SPECIAL_TOKENS),
            "tokens": self.itos[len(SPECIAL_TOKENS):],
            "counts": self.counts,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        """Rebuild a vocabulary from `to_dict`'s output, checking that it is one.

        Raises:
            ValueError: If ``data`` is not a vocabulary of this format and version, or its
                reserved tokens differ from `SPECIAL_TOKENS`.
        """
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ValueError(f"not a vocabulary: expected a JSON object with format {_FORMAT!r}")
        if data.get("version") != _VERSION:
            raise ValueError(f"unsupported vocabulary version {data.get('version')!r}; expected {_VERSION}")
        if data.get("special_tokens") != list(SPECIAL_TOKENS):
            raise ValueError(
                f"incompatible vocabulary: reserved tokens {data.get('special_tokens')!r}, "
                f"expected {list(SPECIAL_TOKENS)}"
            )
        tokens, counts = data.get("tokens"), data.get("counts")
        counts_ok = counts is None or (
            isinstance(counts, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in counts)
        )
        if not isinstance(tokens, list) or not counts_ok:
            raise ValueError("corrupt vocabulary: 'tokens' must be a list; 'counts' integers or null")
        return cls(tokens, counts)

    def save(self, path: str | os.PathLike) -> None:
        """Write the vocabulary to ``path`` as JSON, atomically.

        The JSON goes to a temporary file in the same folder, which then replaces ``path`` in
        one step (`os.replace`), so a crash never leaves a half-written vocabulary behind.
        """
        path = Path(path)
        text = json.dumps(self.to_dict(), ensure_ascii=False, indent=1)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | os.PathLike) -> Vocabulary:
        """Read a vocabulary written by `save`.

        Raises:
            FileNotFoundError: If ``path`` does not exist.
            ValueError: If the file is not valid JSON or not a compatible vocabulary.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not a vocabulary file (corrupt JSON: {err})") from err
        try:
            return cls.from_dict(data)
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from err
