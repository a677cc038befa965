"""Real-data loaders: counts and balance, checksums, the lookup order, the offline error and an
atomic, verified download (with the network replaced by a fake; tests never download)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import tarfile
import urllib.request
import zipfile
from collections import Counter
from pathlib import Path

import pytest

from book_code.data import datasets
from book_code.data.datasets import (
    RT_POLARITY_URL,
    SST2_URL,
    ChecksumError,
    DataNotFoundError,
    load_rt_polarity,
    load_sst2,
)
from tests.data.conftest import find_data_root

# --- SST-2 from the data folder --------------------------------------------------------------


def test_sst2_counts_and_balance(data_root):
    train, dev = load_sst2("train", data_dir=data_root), load_sst2("dev", data_dir=data_root)
    assert len(train.texts) == len(train.labels) == 67_349
    assert Counter(train.labels) == {1: 37_569, 0: 29_780}
    assert len(dev.texts) == len(dev.labels) == 872
    assert Counter(dev.labels) == {1: 444, 0: 428}


def test_sst2_text_is_clean(data_root):
    train = load_sst2("train", data_dir=data_root)
    assert train.texts[0] == "hide new secretions from the parental units"
    assert all(text == text.strip() and text for text in train.texts)
    assert any('"' in text or "``" in text for text in train.texts)  # quotes survive QUOTE_NONE


def test_sst2_labelled_test(data_root):
    if not (data_root / "sst2" / "test_labeled.tsv").is_file():
        pytest.skip("no test_labeled.tsv beside the GLUE files")
    test = load_sst2("test", data_dir=data_root)
    assert len(test.texts) == 1_821 and Counter(test.labels) == {0: 912, 1: 909}


def test_sst2_unlabelled_test(data_root, tmp_path):
    shutil.copy(data_root / "sst2" / "test.tsv", tmp_path)
    test = load_sst2("test", data_dir=tmp_path)
    assert test.labels is None and len(test.texts) == 1_821
    assert test.texts[0] == "uneasy mishmash of styles and genres ."


def test_sst2_rejects_an_unknown_split():
    with pytest.raises(ValueError, match="split must be one of"):
        load_sst2("validation")


# --- lookup order ----------------------------------------------------------------------------


@pytest.fixture
def dev_copy(data_root, tmp_path):
    """A data root in tmp_path holding sst2/dev.tsv only."""
    (tmp_path / "copy" / "sst2").mkdir(parents=True)
    shutil.copy(data_root / "sst2" / "dev.tsv", tmp_path / "copy" / "sst2")
    return tmp_path / "copy"


def test_data_dir_may_be_the_folder_or_the_root(dev_copy, empty_environment, no_network):
    assert len(load_sst2("dev", data_dir=dev_copy).texts) == 872
    assert len(load_sst2("dev", data_dir=dev_copy / "sst2").texts) == 872
    assert no_network == []


def test_environment_variable(dev_copy, empty_environment, no_network, monkeypatch):
    monkeypatch.setenv("BOOK_DATA_DIR", str(dev_copy))
    assert len(load_sst2("dev").texts) == 872
    assert no_network == []


def test_cache(dev_copy, empty_environment, no_network):
    shutil.copytree(dev_copy / "sst2", empty_environment / "sst2")
    assert len(load_sst2("dev").texts) == 872
    assert no_network == []


def test_data_dir_comes_before_the_environment(dev_copy, empty_environment, monkeypatch, tmp_path):
    monkeypatch.setenv("BOOK_DATA_DIR", str(tmp_path / "nowhere"))
    assert len(load_sst2("dev", data_dir=dev_copy).texts) == 872


def test_a_named_folder_without_the_file_is_an_error(dev_copy, empty_environment, no_network, monkeypatch):
    with pytest.raises(DataNotFoundError, match=r"data_dir=.* is set, but none of \['train.tsv'\]"):
        load_sst2("train", data_dir=dev_copy)
    monkeypatch.setenv("BOOK_DATA_DIR", str(dev_copy))
    with pytest.raises(DataNotFoundError, match=r"BOOK_DATA_DIR=.* is set, but none of"):
        load_sst2("train")
    assert no_network == []  # an explicit folder never falls back to a download


# --- checksums -------------------------------------------------------------------------------


def _tamper(path: Path, offset: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01  # one bit of one byte
    path.write_bytes(bytes(data))


def test_a_tampered_file_is_rejected(dev_copy):
    _tamper(dev_copy / "sst2" / "dev.tsv")
    with pytest.raises(ChecksumError, match=r"checksum mismatch for .*dev\.tsv: expected SHA-256 54a9c12c"):
        load_sst2("dev", data_dir=dev_copy)
    assert len(load_sst2("dev", data_dir=dev_copy, verify=False).texts) == 872  # at your own risk


def test_a_tampered_train_file_is_rejected(data_root, tmp_path):
    shutil.copy(data_root / "sst2" / "train.tsv", tmp_path)
    _tamper(tmp_path / "train.tsv", offset=3_000_000)
    with pytest.raises(ChecksumError):
        load_sst2("train", data_dir=tmp_path)


def test_a_malformed_file_is_an_error(tmp_path):
    (tmp_path / "dev.tsv").write_text("text\tlabel\nfine\t1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="expected the header"):
        load_sst2("dev", data_dir=tmp_path, verify=False)
    (tmp_path / "dev.tsv").write_text("sentence\tlabel\nfine \t1\nbroken\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3: expected two tab-separated fields"):
        load_sst2("dev", data_dir=tmp_path, verify=False)


# --- offline ---------------------------------------------------------------------------------


def test_offline_error_says_where_to_put_the_files(empty_environment, no_network):
    with pytest.raises(DataNotFoundError) as info:
        load_sst2("train")
    message = str(info.value)
    assert no_network == [SST2_URL]
    for needed in (SST2_URL, "Temporary failure in name resolution", "data_dir=", "BOOK_DATA_DIR",
                   "sst2/", str(empty_environment / "sst2"), "BOOK_CACHE_DIR", "train.tsv"):
        assert needed in message
    assert list(empty_environment.iterdir()) == []  # nothing left behind


def test_no_download_when_not_allowed(empty_environment, no_network):
    with pytest.raises(DataNotFoundError, match=r"download=False.*BOOK_DATA_DIR"):
        load_sst2("dev", download=False)
    assert no_network == []


def test_default_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("BOOK_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert datasets.cache_dir() == tmp_path / ".cache" / "book_code"


# --- download (the network replaced by a fake) -----------------------------------------------


class FakeServer:
    """Stands in for ``urllib.request.urlopen``: serves ``payload`` and records each request.
    While the body is read, it checks that nothing has appeared under the final cache name."""

    def __init__(self, payload: bytes, final: Path):
        self.payload, self.final, self.requests = payload, final, []

    def __call__(self, url, timeout=None):
        self.requests.append(url)
        server = self

        class Response(io.BytesIO):
            def __init__(self, data: bytes):
                super().__init__(data)
                self.headers = {"Content-Length": str(len(data))}

            def read(self, *args):
                assert not server.final.exists(), "the final cache folder appeared before verification"
                return super().read(*args)

        return Response(self.payload)


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def glue_files(data_root):
    """The members of the GLUE SST-2.zip, from the data folder."""
    return {f"SST-2/{name}": (data_root / "sst2" / name).read_bytes() for name in ("train.tsv", "dev.tsv",
                                                                                   "test.tsv")}


def _serve(monkeypatch, payload: bytes, final: Path) -> FakeServer:
    server = FakeServer(payload, final)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    return server


def test_download_fills_the_cache_atomically(glue_files, empty_environment, monkeypatch):
    cache = empty_environment
    server = _serve(monkeypatch, _zip({**glue_files, "SST-2/original/README.txt": b"x"}), cache / "sst2")
    renames = []
    real_replace = os.replace

    def spy(src, dst):
        renames.append((Path(src), Path(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    dev = load_sst2("dev")
    assert len(dev.texts) == 872 and server.requests == [SST2_URL]
    # One rename, from a temporary folder in the cache root to the final name.
    assert len(renames) == 1 and renames[0][1] == cache / "sst2" and renames[0][0].parent == cache
    assert sorted(p.name for p in cache.iterdir()) == ["sst2"]  # no temporary file left
    assert sorted(p.name for p in (cache / "sst2").iterdir()) == ["dev.tsv", "test.tsv", "train.tsv"]
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        assert hashlib.sha256((cache / "sst2" / name).read_bytes()).hexdigest() == datasets.SST2_SHA256[name]
    assert len(load_sst2("train").texts) == 67_349
    assert load_sst2("test").labels is None
    assert server.requests == [SST2_URL]  # served from the cache afterwards


def test_download_replaces_a_stale_cache_folder(glue_files, empty_environment, monkeypatch):
    (empty_environment / "sst2").mkdir(parents=True)
    (empty_environment / "sst2" / "partial.tsv").write_text("left over")
    _serve(monkeypatch, _zip(glue_files), empty_environment / "missing")
    assert len(load_sst2("dev").texts) == 872
    assert sorted(p.name for p in (empty_environment / "sst2").iterdir()) == ["dev.tsv", "test.tsv",
                                                                               "train.tsv"]
    assert sorted(p.name for p in empty_environment.iterdir()) == ["sst2"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [("tamper", "checksum mismatch for .*dev.tsv"), ("drop", "has no member test.tsv"),
     ("html", "cannot be read")],
)
def test_a_bad_download_leaves_nothing_in_the_cache(glue_files, empty_environment, monkeypatch, damage,
                                                    message):
    if damage == "tamper":
        dev = bytearray(glue_files["SST-2/dev.tsv"])
        dev[500] ^= 0x01
        payload = _zip({**glue_files, "SST-2/dev.tsv": bytes(dev)})
    elif damage == "drop":
        payload = _zip({k: v for k, v in glue_files.items() if not k.endswith("test.tsv")})
    else:
        payload = b"<html><body>503 Service Unavailable</body></html>"
    _serve(monkeypatch, payload, empty_environment / "sst2")
    with pytest.raises(ChecksumError, match=message):
        load_sst2("dev")
    assert list(empty_environment.iterdir()) == []


# --- the sentence polarity dataset -----------------------------------------------------------


def test_rt_polarity_counts(data_root):
    everything = load_rt_polarity("all", data_dir=data_root)
    assert len(everything.texts) == 10_662
    assert Counter(everything.labels) == {1: 5_331, 0: 5_331}
    assert everything.texts[0].startswith("the rock is destined to be the 21st century's new")


def test_rt_polarity_is_decoded_as_windows_1252(data_root):
    raw = (data_root / "rt-polarity" / "rt-polarity.pos").read_bytes().split(b"\n")
    line = next(line for line in raw if b"\x97" in line)  # an em dash in Windows-1252
    decoded = line.decode("cp1252").strip()
    assert "\u2014" in decoded and "slew of songs \u2014 a few potential hits" in decoded
    texts = load_rt_polarity("all", data_dir=data_root).texts
    assert decoded in texts
    assert any("\u2026" in text for text in texts)  # byte 0x85, an ellipsis
    assert not any("\x85" in text or "\ufffd" in text for text in texts)


def test_rt_polarity_split(data_root):
    splits = {name: load_rt_polarity(name, data_dir=data_root, seed=0) for name in ("train", "dev", "test")}
    sizes = {name: Counter(split.labels) for name, split in splits.items()}
    assert sizes == {"train": {1: 4_265, 0: 4_265}, "dev": {1: 533, 0: 533}, "test": {1: 533, 0: 533}}
    pairs = {name: Counter(zip(s.texts, s.labels, strict=True)) for name, s in splits.items()}
    everything = load_rt_polarity("all", data_dir=data_root)
    assert pairs["train"] + pairs["dev"] + pairs["test"] == Counter(zip(everything.texts, everything.labels,
                                                                        strict=True))
    assert load_rt_polarity("test", data_dir=data_root, seed=0) == splits["test"]  # deterministic
    other = load_rt_polarity("test", data_dir=data_root, seed=1)
    assert set(other.texts) != set(splits["test"].texts)
    assert splits["train"].labels[:20] != sorted(splits["train"].labels[:20])  # shuffled


def test_rt_polarity_checksum(data_root, tmp_path):
    shutil.copytree(data_root / "rt-polarity", tmp_path / "rt-polarity")
    (tmp_path / "rt-polarity" / "rt-polarity.neg").chmod(0o644)
    _tamper(tmp_path / "rt-polarity" / "rt-polarity.neg")
    with pytest.raises(ChecksumError, match=r"rt-polarity\.neg"):
        load_rt_polarity("train", data_dir=tmp_path)


def test_rt_polarity_offline(empty_environment, no_network):
    with pytest.raises(DataNotFoundError, match=r"rt-polarity.*BOOK_DATA_DIR"):
        load_rt_polarity("train")
    assert no_network == [RT_POLARITY_URL]
    with pytest.raises(ValueError, match="split must be one of"):
        load_rt_polarity("validation")


def _tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_rt_polarity_download(data_root, empty_environment, monkeypatch):
    payload = _tar_gz({f"rt-polaritydata/{name}": (data_root / "rt-polarity" / name).read_bytes()
                       for name in ("rt-polarity.pos", "rt-polarity.neg")})
    server = _serve(monkeypatch, payload, empty_environment / "rt-polarity")
    # Our rebuilt archive is not byte-identical to Cornell's, so its own hash differs ...
    with pytest.raises(ChecksumError, match="a05befe5"):
        load_rt_polarity("dev")
    assert list(empty_environment.iterdir()) == []
    # ... but with that hash accepted, the members are unpacked, verified and cached.
    fake = dataclasses.replace(datasets._RT_POLARITY, archive_sha256=hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(datasets, "_RT_POLARITY", fake)
    assert Counter(load_rt_polarity("dev").labels) == {1: 533, 0: 533}
    assert sorted(p.name for p in (empty_environment / "rt-polarity").iterdir()) == ["rt-polarity.neg",
                                                                                      "rt-polarity.pos"]
    assert server.requests == [RT_POLARITY_URL, RT_POLARITY_URL]


# --- the fixture's own rule ------------------------------------------------------------------


def test_data_fixture_fails_when_the_configured_folder_is_empty(monkeypatch, tmp_path):
    monkeypatch.setenv("BOOK_DATA_DIR", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match=r"BOOK_DATA_DIR=.* is set but lacks"):
        find_data_root()


def test_data_fixture_tries_a_download_then_skips_offline(empty_environment, no_network):
    expected = r"could not be downloaded.*BOOK_DATA_DIR=\.\./shared/data"
    with pytest.raises(pytest.skip.Exception, match=expected):
        find_data_root()
    assert no_network == [SST2_URL]  # one attempt, then the skip
    assert not any(empty_environment.iterdir()), "a failed download left something in the cache"


def test_data_fixture_downloads_once_on_a_readers_machine(glue_files, data_root, empty_environment,
                                                          monkeypatch):
    rt_payload = _tar_gz({f"rt-polaritydata/{name}": (data_root / "rt-polarity" / name).read_bytes()
                          for name in ("rt-polarity.pos", "rt-polarity.neg")})
    fake = dataclasses.replace(datasets._RT_POLARITY, archive_sha256=hashlib.sha256(rt_payload).hexdigest())
    monkeypatch.setattr(datasets, "_RT_POLARITY", fake)
    servers = {SST2_URL: FakeServer(_zip(glue_files), empty_environment / "sst2"),
               RT_POLARITY_URL: FakeServer(rt_payload, empty_environment / "rt-polarity")}
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: servers[url](url, timeout))
    assert find_data_root() == empty_environment
    assert find_data_root() == empty_environment  # the second time, from the cache
    assert [server.requests for server in servers.values()] == [[SST2_URL], [RT_POLARITY_URL]]
