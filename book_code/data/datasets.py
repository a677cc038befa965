"""Loaders for the real sentiment datasets of chapter 7: SST-2 and the sentence polarity data.

Both loaders find their files the same way (``_locate``), first match wins:

1. the ``data_dir`` argument: a folder holding the files, or a data root holding a
   ``sst2/`` (``rt-polarity/``) subfolder;
2. the environment variable ``BOOK_DATA_DIR``: a data root with that subfolder;
3. the cache, ``~/.cache/book_code/<subfolder>`` (``BOOK_CACHE_DIR`` replaces
   ``~/.cache/book_code``);
4. a download of the official archive into the cache (unless ``download=False``).

A folder named explicitly (1 or 2) that lacks the file is an error, not a reason to look
elsewhere: a typo should not silently trigger a download. Every file is checked against the
SHA-256 recorded when the book was written (a mismatch raises `ChecksumError`), and a download
reaches its final place in the cache only once complete and verified: it is written to a
temporary file, extracted into a temporary folder, checked, and then moved into place with one
`os.replace`, so an interrupted or corrupt download never leaves a file under its final name.
Without the files and without a network, `DataNotFoundError` says where to put them.

Sources: SST-2 (Socher et al., 2013) in the GLUE release (Wang et al., 2019), whose test labels
are hidden; ``test_labeled.tsv``, if present beside the GLUE files, gives them (derived from the
Stanford Sentiment Treebank's trees; it is not part of the GLUE archive). The sentence polarity
dataset v1.0 (Pang and Lee, 2005) has no official split; `load_rt_polarity` makes a seeded,
stratified 80/10/10 one.
"""

from __future__ import annotations

# --8<-- [start:imports]
import csv
import hashlib
import http.client
import os
import random
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple

from tqdm import tqdm

# --8<-- [end:imports]

__all__ = [
    "RT_POLARITY_SHA256",
    "RT_POLARITY_URL",
    "SST2_SHA256",
    "SST2_URL",
    "ChecksumError",
    "DataNotFoundError",
    "LabeledTexts",
    "cache_dir",
    "load_rt_polarity",
    "load_sst2",
    "sha256_file",
]

#: The SST-2 archive of the GLUE benchmark.
SST2_URL = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
#: SHA-256 of the files, as recorded in shared/data/sst2/SOURCE.txt when the book was written.
#: train, dev and test are the members of the GLUE archive, unchanged; test_labeled.tsv is not
#: in the archive (see the module docstring).
SST2_SHA256 = {
    "train.tsv": "5c47819a1d04cfabc7afcc79a919c97b0b367101ad42d3ff148d67bf501384c2",
    "dev.tsv": "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0",
    "test.tsv": "69a938605609b3e6663b4487918fe1565eb293734e6e520d0366d1d412fd2a13",
    "test_labeled.tsv": "4c395e34c8ae196d76abc3724c42336f2e17ad6dab6977be7a690f4c36b140ca",
}
#: The sentence polarity dataset v1.0 at Cornell (Pang and Lee, 2005).
RT_POLARITY_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
#: SHA-256 of the archive and its members, from shared/data/rt-polarity/SOURCE.txt (the archive's
#: hash equals the one TensorFlow Datasets and Hugging Face record for it).
RT_POLARITY_ARCHIVE_SHA256 = "a05befe52aafda71d458d188a1c54506a998b1308613ba76bbda2e5029409ce9"
RT_POLARITY_SHA256 = {
    "rt-polarity.pos": "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4",
    "rt-polarity.neg": "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc",
}

DATA_DIR_ENV = "BOOK_DATA_DIR"
CACHE_DIR_ENV = "BOOK_CACHE_DIR"
SPLITS = ("train", "dev", "test")


# --8<-- [start:types]
class ChecksumError(ValueError):
    """A file (or a downloaded archive) is not the one the book was written with."""


class DataNotFoundError(FileNotFoundError):
    """A dataset is neither on disk nor downloadable; the message says where to put it."""


class LabeledTexts(NamedTuple):
    """Sentences and their labels (``None`` for a test set whose labels are hidden)."""

    texts: list[str]
    labels: list[int] | None


@dataclass(frozen=True)
class _Source:
    """Where a dataset comes from and what its files must hash to."""

    title: str
    folder: str  # subfolder of a data root or of the cache
    url: str
    archive_sha256: str | None  # None: no published hash of the archive itself
    sha256: dict[str, str]  # member file name -> hash; these are extracted into the cache
# --8<-- [end:types]


_SST2 = _Source("SST-2", "sst2", SST2_URL, None,
                {k: v for k, v in SST2_SHA256.items() if k != "test_labeled.tsv"})
_RT_POLARITY = _Source("the sentence polarity dataset (rt-polarity)", "rt-polarity", RT_POLARITY_URL,
                       RT_POLARITY_ARCHIVE_SHA256, RT_POLARITY_SHA256)


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as 64 hexadecimal digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"checksum mismatch for {path}: expected SHA-256 {expected}, got {actual}. The file is "
            "damaged or a different version; delete it and fetch it again, or pass verify=False "
            "if you know this version is right."
        )


def cache_dir() -> Path:
    """The cache root: ``$BOOK_CACHE_DIR`` if set, otherwise ``~/.cache/book_code``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "book_code"


def _instructions(source: _Source) -> str:
    return (
        f"To use {source.title} without a download, put its files ({', '.join(source.sha256)}) "
        f"in a folder and pass data_dir=<that folder>, or set the environment variable {DATA_DIR_ENV} "
        f"to a folder that contains {source.folder}/, or put them in {cache_dir() / source.folder} "
        f"(the cache; the environment variable {CACHE_DIR_ENV} moves it)."
    )


# --8<-- [start:lookup]
def _locate(
    source: _Source, names: Sequence[str], data_dir: str | os.PathLike | None = None, download: bool = True
) -> Path:
    """The path of the first of ``names`` found, looking in the order the module docstring gives.

    Args:
        source: The dataset (``_SST2`` or ``_RT_POLARITY``).
        names: Acceptable file names, preferred first (``test_labeled.tsv``, ``test.tsv``).
        data_dir: A folder with the files, or a data root with ``source.folder`` in it.
        download: Download into the cache when no local copy exists.

    Raises:
        DataNotFoundError: If the files are in none of these places and cannot be downloaded.
    """
    if data_dir is not None:
        folders = [Path(data_dir), Path(data_dir) / source.folder]
        where = f"data_dir={data_dir}"
    elif os.environ.get(DATA_DIR_ENV):
        folders = [Path(os.environ[DATA_DIR_ENV]) / source.folder]
        where = f"{DATA_DIR_ENV}={os.environ[DATA_DIR_ENV]}"
    else:
        folders, where = [], ""
    for folder in folders:  # a folder named explicitly must hold the file
        for name in names:
            if (folder / name).is_file():
                return folder / name
    if folders:
        raise DataNotFoundError(
            f"{where} is set, but none of {list(names)} is in {' or '.join(map(str, folders))}. "
            + _instructions(source)
        )
    for name in names:  # a previous download?
        if (cache_dir() / source.folder / name).is_file():
            return cache_dir() / source.folder / name
    if not download:
        raise DataNotFoundError(f"{source.title} is not on this computer (download=False). "
                                + _instructions(source))
    folder = _download_to_cache(source)
    for name in names:
        if (folder / name).is_file():
            return folder / name
    raise DataNotFoundError(f"the {source.title} archive holds none of {list(names)}")
# --8<-- [end:lookup]


def _fetch(url: str, destination: BinaryIO, timeout: float = 60.0) -> None:
    """Stream ``url`` into an open file, with a progress bar on a terminal."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        size = getattr(response, "headers", {}).get("Content-Length")
        with tqdm(total=int(size) if size else None, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
                  disable=None, leave=False) as bar:
            for block in iter(lambda: response.read(1 << 20), b""):
                destination.write(block)
                bar.update(len(block))


def _extract(archive: Path, names: Sequence[str], folder: Path) -> None:
    """Copy the members called ``names`` (top level or one folder down) from a zip or tar.gz."""
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = {i.filename: zf.open for i in zf.infolist() if not i.is_dir()}
                _copy_members(members, names, folder)
        else:
            with tarfile.open(archive, "r:gz") as tf:
                members = {m.name: tf.extractfile for m in tf.getmembers() if m.isfile()}
                _copy_members(members, names, folder)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as err:
        raise ChecksumError(f"the downloaded archive cannot be read ({err})") from err


def _copy_members(members: dict[str, Callable], names: Sequence[str], folder: Path) -> None:
    for name in names:
        # Only the expected names are written, so a hostile archive cannot place files elsewhere.
        found = [m for m in members if PurePosixPath(m).name == name and len(PurePosixPath(m).parts) <= 2]
        if not found:
            raise ChecksumError(f"the downloaded archive has no member {name}")
        with members[found[0]](found[0]) as src, open(folder / name, "wb") as dst:
            shutil.copyfileobj(src, dst)


def _download_to_cache(source: _Source) -> Path:
    """Download, verify and unpack ``source`` into ``cache_dir() / source.folder``, atomically."""
    root = cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / source.folder
    # Temporary names start with a dot and live in the cache root (same file system, so that
    # os.replace is one atomic rename).
    fd, archive_name = tempfile.mkstemp(dir=root, prefix=f".{source.folder}-", suffix=".download")
    archive, staging = Path(archive_name), None
    try:
        try:
            with os.fdopen(fd, "wb") as f:
                _fetch(source.url, f)
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            raise DataNotFoundError(
                f"{source.title} is not on this computer and downloading {source.url} failed ({err}). "
                + _instructions(source)
            ) from err
        if source.archive_sha256 is not None:
            _verify(archive, source.archive_sha256)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{source.folder}-"))
        _extract(archive, list(source.sha256), staging)
        for name, digest in source.sha256.items():
            _verify(staging / name, digest)
        _move_into_place(staging, final)
    finally:
        archive.unlink(missing_ok=True)
        if staging is not None and staging.exists():
            shutil.rmtree(staging)
    return final


def _move_into_place(staging: Path, final: Path) -> None:
    """Rename the verified folder to its final name, replacing a stale or partial one."""
    try:
        os.replace(staging, final)
    except OSError:  # final exists and is not empty: move it aside first
        aside = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}-old-"))
        os.replace(final, aside / final.name)
        os.replace(staging, final)
        shutil.rmtree(aside)


def _read_glue_tsv(path: Path) -> LabeledTexts:
    """Read a GLUE SST-2 file: ``sentence<TAB>label`` rows, or ``index<TAB>sentence`` (test)."""
    with open(path, encoding="utf-8", newline="") as f:
        # QUOTE_NONE: the sentences contain quote characters that are not CSV quoting.
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header not in (["sentence", "label"], ["index", "sentence"]):
            raise ValueError(f"{path}: expected the header 'sentence<TAB>label' or 'index<TAB>sentence'; "
                             f"got {header}")
        labelled = header[1] == "label"
        texts, labels = [], []
        for line, row in enumerate(reader, start=2):
            if len(row) != 2 or (labelled and row[1] not in ("0", "1")):
                raise ValueError(f"{path}, line {line}: expected two tab-separated fields; got {row}")
            texts.append((row[0] if labelled else row[1]).strip())  # train/dev end with a space
            if labelled:
                labels.append(int(row[1]))
    return LabeledTexts(texts, labels if labelled else None)


# --8<-- [start:load_sst2]
def load_sst2(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    verify: bool = True,
) -> LabeledTexts:
    """Load a split of SST-2: lower-cased, tokenised movie-review sentences, 1 = positive.

    Args:
        split: ``"train"`` (67,349 phrases and sentences), ``"dev"`` (872 sentences) or
            ``"test"`` (1,821 sentences; labelled if ``test_labeled.tsv`` is found, otherwise
            the GLUE file with ``labels=None``).
        data_dir: Folder with the GLUE files, or a data root with an ``sst2/`` subfolder.
        download: Download the GLUE archive into the cache if no local copy is found.
        verify: Check the file's SHA-256 (recommended).

    Returns:
        The texts, without the trailing space of the GLUE files, and the labels.

    Raises:
        DataNotFoundError: If the data is not found and cannot be downloaded.
        ChecksumError: If the file is not the published one.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
    names = ["test_labeled.tsv", "test.tsv"] if split == "test" else [f"{split}.tsv"]
    path = _locate(_SST2, names, data_dir, download)
    if verify:
        _verify(path, SST2_SHA256[path.name])
    return _read_glue_tsv(path)
# --8<-- [end:load_sst2]


# --8<-- [start:load_rt_polarity]
def load_rt_polarity(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    seed: int = 0,
    verify: bool = True,
) -> LabeledTexts:
    """Load the sentence polarity dataset v1.0 (5,331 positive and 5,331 negative snippets).

    The data has no official split, so we make one: for each class separately, a shuffle
    seeded by ``seed`` puts 10% (rounded) of the sentences into test, the next 10% into dev
    and the rest into train (4,265 + 533 + 533 per class); each split is then shuffled.

    Args:
        split: ``"train"``, ``"dev"``, ``"test"``, or ``"all"`` (positive lines, then
            negative lines, in file order).
        data_dir: Folder with ``rt-polarity.pos`` and ``.neg``, or a data root with an
            ``rt-polarity/`` subfolder.
        download: Download the archive from Cornell into the cache if no local copy is found.
        seed: Seed of the split.
        verify: Check the files' SHA-256 (recommended).

    Returns:
        The texts (one snippet per line; label 1 for ``.pos``, 0 for ``.neg``).
    """
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {(*SPLITS, 'all')}; got {split!r}")
    classes = []
    for label, name in ((1, "rt-polarity.pos"), (0, "rt-polarity.neg")):
        path = _locate(_RT_POLARITY, [name], data_dir, download)
        if verify:
            _verify(path, RT_POLARITY_SHA256[name])
        # Windows-1252, not UTF-8; and split on "\n" only: str.splitlines() would also split
        # at characters such as U+0085, which other decodings produce from byte 0x85.
        lines = path.read_bytes().decode("cp1252").split("\n")
        classes.append([(line.strip(), label) for line in lines if line.strip()])
    if split == "all":
        examples = classes[0] + classes[1]
    else:
        rng = random.Random(seed)
        examples = []
        for members in classes:
            order = list(range(len(members)))
            rng.shuffle(order)
            n_held_out = round(0.1 * len(members))
            start, stop = {"test": (0, n_held_out), "dev": (n_held_out, 2 * n_held_out),
                           "train": (2 * n_held_out, len(members))}[split]
            examples += [members[i] for i in order[start:stop]]
        rng.shuffle(examples)
    return LabeledTexts([text for text, _ in examples], [label for _, label in examples])
# --8<-- [end:load_rt_polarity]
