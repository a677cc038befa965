"""The vocabulary: reserved ids, reproducible order, encode/decode, and safe save/load."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from book_code.data.vocab import SPECIAL_TOKENS, Vocabulary

TEXTS = ["the film is good", "the film is bad", "a good , good cast", "zebra"]


def test_reserved_ids():
    vocab = Vocabulary(["word"])
    assert vocab.itos[:4] == ["[PAD]", "[UNK]", "[CLS]", "[MASK]"] == list(SPECIAL_TOKENS)
    assert (vocab.pad_id, vocab.unk_id, vocab.cls_id, vocab.mask_id) == (0, 1, 2, 3)
    assert [vocab.special_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3]
    assert vocab["word"] == 4 and "word" in vocab and "other" not in vocab


def test_iteration_and_lookup_by_token_only():
    vocab = Vocabulary(["a", "b"])
    assert list(vocab) == vocab.itos == ["[PAD]", "[UNK]", "[CLS]", "[MASK]", "a", "b"]
    with pytest.raises(TypeError, match=r"vocab\.itos\[i\]"):
        vocab[4]


def test_unknown_special_token_is_an_error():
    with pytest.raises(KeyError, match=r"unknown special token '\[SEP\]'"):
        Vocabulary([]).special_id("[SEP]")


def test_build_orders_by_count_then_alphabetically():
    vocab = Vocabulary.build(TEXTS)
    # good: 3; film, is, the: 2 each (alphabetical); then the words seen once, alphabetically.
    assert vocab.itos[4:] == ["good", "film", "is", "the", ",", "a", "bad", "cast", "zebra"]
    assert vocab.counts == [3, 2, 2, 2, 1, 1, 1, 1, 1]


def test_build_does_not_depend_on_text_order():
    assert Vocabulary.build(TEXTS) == Vocabulary.build(TEXTS[::-1])


def test_min_freq_and_max_size():
    assert Vocabulary.build(TEXTS, min_freq=2).itos[4:] == ["good", "film", "is", "the"]
    vocab = Vocabulary.build(TEXTS, max_size=6)
    assert len(vocab) == 6 and vocab.itos[4:] == ["good", "film"]


def test_build_from_token_lists_skips_the_tokenizer():
    vocab = Vocabulary.build([["Keep", "As-Is"], ["Keep"]])
    assert vocab.itos[4:] == ["Keep", "As-Is"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"min_freq": 0}, "min_freq must be an integer >= 1"), ({"min_freq": 1.5}, "min_freq"),
     ({"max_size": 4}, "max_size counts the 4 reserved tokens"), ({"max_size": 2}, "max_size")],
)
def test_build_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary.build(TEXTS, **kwargs)


def test_build_rejects_reserved_tokens_in_the_data():
    with pytest.raises(ValueError, match=r"reserved token\(s\) \['\[CLS\]'\]"):
        Vocabulary.build([["a", "[CLS]"]])


@pytest.mark.parametrize(
    ("tokens", "message"),
    [(["a", "b", "a"], "duplicated: \\['a'\\]"), (["a", "[PAD]"], "reserved"), (["a b"], "whitespace"),
     ([""], "non-empty")],
)
def test_constructor_rejects_bad_tokens(tokens, message):
    with pytest.raises(ValueError, match=message):
        Vocabulary(tokens)


def test_encode():
    vocab = Vocabulary(["good", "movie", "not"])
    assert vocab.encode("Not a good movie.") == [6, 1, 4, 5, 1]
    assert vocab.encode("Not a good movie.", add_cls=True) == [2, 6, 1, 4, 5, 1]
    assert vocab.encode("Not a good movie.", add_cls=True, max_len=3) == [2, 6, 1]  # [CLS] counts
    assert vocab.encode(["good", "Good"]) == [4, 1]  # a token list is not lower-cased
    assert vocab.encode("") == [] and vocab.encode("", add_cls=True) == [2]
    with pytest.raises(ValueError, match="max_len must be a positive integer"):
        vocab.encode("good", max_len=0)


def test_decode():
    vocab = Vocabulary(["good", "movie"])
    assert vocab.decode([2, 4, 1, 5, 0]) == "[CLS] good [UNK] movie [PAD]"
    assert vocab.decode([2, 4, 1, 5, 0], skip_special_tokens=True) == "good movie"
    with pytest.raises(ValueError, match=r"token id 6 is outside the vocabulary's range \[0, 6\)"):
        vocab.decode([4, 6])
    with pytest.raises(ValueError, match="outside"):
        vocab.decode([-1])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["good", "bad", "n't", "well-made", "...", ","]), max_size=12))
def test_decode_inverts_encode_for_known_tokens(tokens):
    vocab = Vocabulary(["good", "bad", "n't", "well-made", "...", ","])
    assert vocab.decode(vocab.encode(tokens)) == " ".join(tokens)


def test_save_and_load_round_trip(tmp_path):
    vocab = Vocabulary.build([*TEXTS, "clichés à la mode"])
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocabulary.load(tmp_path / "vocab.json")
    assert loaded == vocab and loaded.itos == vocab.itos and loaded.counts == vocab.counts
    assert json.loads((tmp_path / "vocab.json").read_text(encoding="utf-8"))["tokens"][0] == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]  # no temporary file left


def test_failed_save_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "vocab.json"
    Vocabulary(["old"]).save(path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        Vocabulary(["new"]).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["vocab.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"format": "book_code.Vocabulary", "version": 1, "tok', "corrupt JSON"),
        ("\xff\xfe", "corrupt JSON"),
        ('["a", "b"]', "not a vocabulary"),
        ('{"format": "something else"}', "not a vocabulary"),
        ('{"format": "book_code.Vocabulary", "version": 99}', "unsupported vocabulary version 99"),
        ('{"format": "book_code.Vocabulary", "version": 1, "special_tokens": ["<pad>", "<unk>"], '
         '"tokens": [], "counts": null}', "incompatible vocabulary: reserved tokens"),
        ('{"format": "book_code.Vocabulary", "version": 1, "special_tokens": ["[PAD]", "[UNK]", "[CLS]", '
         '"[MASK]"], "tokens": "abc", "counts": null}', "corrupt vocabulary"),
        ('{"format": "book_code.Vocabulary", "version": 1, "special_tokens": ["[PAD]", "[UNK]", "[CLS]", '
         '"[MASK]"], "tokens": ["a", "a"], "counts": null}', "unique"),
    ],
)
def test_load_rejects_corrupt_or_incompatible_files(tmp_path, content, message):
    path = tmp_path / "vocab.json"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(ValueError, match=message) as info:
        Vocabulary.load(path)
    assert str(path) in str(info.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Vocabulary.load(tmp_path / "missing.json")
