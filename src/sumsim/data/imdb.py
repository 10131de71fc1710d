"""The IMDB Large Movie Review Dataset (Maas et al., ACL 2011) as binary bag-of-words features.

`load_imdb` reads the official ``aclImdb_v1.tar.gz`` archive (streaming, nothing is extracted to
disk) or an extracted ``aclImdb/`` folder, and turns every labelled review into the set of its
words among the ``num_words`` most frequent training words -- the preprocessing of the Keras IMDB
loader used by the Sharing Updatable Models papers.  The featurized result is cached as one
``.npz`` file, so only the first load pays for reading and tokenizing the 50,000 reviews.

The tokenizer (`tokenize`) and the vocabulary/encoding helpers are shared with
`sumsim.data.tabular`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
import warnings
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from sumsim.data.base import Dataset
from sumsim.data.text import (
    check_num_words,
    presence_csr,
    rank_vocabulary,
    tokenize,
    vocabulary_index,
)
from sumsim.errors import DataError

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ARCHIVE_NAME = "aclImdb_v1.tar.gz"
CLASS_NAMES = ("negative", "positive")

#: Bump whenever tokenization, ranking or encoding changes: it is part of the cache key.
PREPROCESSING_VERSION = "imdb-bow-v1"

SPLITS = ("train", "test")
LABEL_DIRS = ("neg", "pos")  # index = class label
_FINGERPRINT_BYTES = 1 << 20

_REVIEW_NAME = re.compile(r"(\d+)(?:_\d+)?\.txt$")


# --------------------------------------------------------------------------- sources


def default_cache_dir() -> Path:
    """``$SUMSIM_CACHE`` when set, else ``~/.cache/sumsim``."""
    env = os.environ.get("SUMSIM_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sumsim"


def _resolve_source(source: str | Path | None, cache_dir: Path) -> Path:
    """An existing archive or folder: the argument, ``$SUMSIM_IMDB``, the cache, or a download."""
    from sumsim.io import probe  # (a path that cannot be looked at is named, not a traceback)

    if source is not None:
        path = Path(source).expanduser()
        if probe(path, source=str(path), error=DataError) is None:
            raise DataError(
                "no such file or folder (expected an aclImdb_v1.tar.gz archive or an extracted "
                "aclImdb/ folder)",
                source=str(path),
            )
        return path
    env = os.environ.get("SUMSIM_IMDB")
    if env:
        path = Path(env).expanduser()
        if probe(path, source="SUMSIM_IMDB", error=DataError) is None:
            raise DataError(
                f"SUMSIM_IMDB points to {str(path)!r}, which does not exist (expected an "
                "aclImdb_v1.tar.gz archive or an extracted aclImdb/ folder)",
                source="SUMSIM_IMDB",
            )
        return path
    cached = cache_dir / ARCHIVE_NAME
    if not cached.exists():
        download(IMDB_URL, cached)
    return cached


def download(url: str, dest: Path) -> None:
    """Fetch ``url`` into ``dest`` (atomically) with a progress bar on stderr."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    hint = (
        f"download it by hand and save it as {dest}, or set SUMSIM_IMDB to the path of an "
        "aclImdb_v1.tar.gz archive or extracted aclImdb/ folder, or give its path: "
        "`sumsim run ... --data-path PATH` (sweeps and searches too), data.path in the "
        "scenario, or load_imdb(path) from Python"
    )
    tmp: str | None = None
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)  # (a file there: an OSError below)
        with urllib.request.urlopen(url, timeout=30) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".download-", suffix=".part")
            columns = (
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
            )
            with (
                os.fdopen(fd, "wb") as out,
                Progress(*columns, console=Console(stderr=True), transient=True) as bar,
            ):
                task = bar.add_task(f"Downloading {dest.name}", total=total)
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    bar.advance(task, len(chunk))
        os.replace(tmp, dest)
        tmp = None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"could not download the IMDB archive from {url} ({reason}); {hint}",
            source=str(dest),
        ) from exc
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _folder_root(path: Path) -> Path:
    """The ``aclImdb`` folder: ``path/aclImdb`` or ``path`` itself."""
    if (path / "aclImdb").is_dir():
        return path / "aclImdb"
    if path.name == "aclImdb" or any((path / s).is_dir() for s in SPLITS):
        return path
    raise DataError(
        "folder has no aclImdb/ subfolder and is not an aclImdb/ folder itself (expected "
        "aclImdb/train/pos, aclImdb/train/neg, aclImdb/test/pos, aclImdb/test/neg)",
        source=str(path),
    )


def _review_key(name: str) -> tuple[int, int, str]:
    """Sort key of a review file name ``<id>_<rating>.txt``: numeric id first."""
    m = _REVIEW_NAME.match(name)
    return (0, int(m.group(1)), name) if m else (1, 0, name)


def _fingerprint(path: Path) -> str:
    """Cheap identity of a source: archive size + sha256 of its ends; folder path + file count."""
    if path.is_dir():
        root = _folder_root(path)
        count = 0
        for split in SPLITS:
            for label in LABEL_DIRS:
                d = root / split / label
                if d.is_dir():
                    count += sum(1 for e in os.scandir(d) if e.name.endswith(".txt"))
        return f"folder:{root.resolve()}:{count}"
    size = path.stat().st_size
    h = hashlib.sha256()
    with path.open("rb") as f:
        h.update(f.read(_FINGERPRINT_BYTES))
        f.seek(max(0, size - _FINGERPRINT_BYTES))
        h.update(f.read(_FINGERPRINT_BYTES))
    return f"archive:{size}:{h.hexdigest()}"


# --------------------------------------------------------------------------- readers

Reviews = dict[tuple[str, int], list[tuple[tuple[int, int, str], str]]]


@contextmanager
def _progress_bar(enabled: bool, description: str, total: float | None) -> Iterator:
    if not enabled:
        yield lambda completed: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda completed: bar.update(task, completed=completed)


def _locate(name: str) -> tuple[str, int, str] | None:
    """``(split, label, file name)`` when ``name`` is ``.../aclImdb/<split>/<pos|neg>/<f>.txt``."""
    parts = name.split("/")
    if len(parts) < 4 or parts[-4] != "aclImdb" or not parts[-1].endswith(".txt"):
        return None
    split, label = parts[-3], parts[-2]
    if split not in SPLITS or label not in LABEL_DIRS:
        return None
    return split, LABEL_DIRS.index(label), parts[-1]


def _seen_dir(name: str) -> tuple[str, int] | None:
    parts = name.rstrip("/").split("/")
    if (
        len(parts) >= 3
        and parts[-3] == "aclImdb"
        and parts[-2] in SPLITS
        and parts[-1] in LABEL_DIRS
    ):
        return parts[-2], LABEL_DIRS.index(parts[-1])
    return None


def _read_archive(path: Path, progress: bool) -> tuple[Reviews, set[tuple[str, int]]]:
    reviews: Reviews = {(s, k): [] for s in SPLITS for k in range(len(LABEL_DIRS))}
    seen: set[tuple[str, int]] = set()
    has_root = False
    size = path.stat().st_size
    try:
        with (
            path.open("rb") as raw,
            tarfile.open(fileobj=raw, mode="r:gz") as tf,
            _progress_bar(progress, "Reading IMDB reviews", size) as advance,
        ):
            for i, member in enumerate(tf):
                if i % 1000 == 0:
                    advance(raw.tell())
                if not has_root:
                    has_root = "aclImdb" in member.name.split("/")
                if member.isdir():
                    where = _seen_dir(member.name)
                    if where:
                        seen.add(where)
                    continue
                if not member.isfile():
                    continue
                loc = _locate(member.name)
                if loc is None:
                    continue
                split, label, fname = loc
                seen.add((split, label))
                f = tf.extractfile(member)
                if f is None:  # pragma: no cover - isfile() members always have data
                    continue
                text = f.read().decode("utf-8", errors="replace")
                reviews[(split, label)].append((_review_key(fname), text))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(
            f"not a readable .tar.gz archive ({type(exc).__name__}: {exc}); expected the "
            "aclImdb_v1.tar.gz archive or an extracted aclImdb/ folder",
            source=str(path),
        ) from exc
    if not has_root:
        raise DataError(
            "archive has no aclImdb/ folder (expected the "
            "aclImdb_v1.tar.gz layout: aclImdb/train/pos, aclImdb/train/neg, aclImdb/test/pos, "
            "aclImdb/test/neg)",
            source=str(path),
        )
    return reviews, seen


def _read_folder(path: Path, progress: bool) -> tuple[Reviews, set[tuple[str, int]]]:
    root = _folder_root(path)
    reviews: Reviews = {(s, k): [] for s in SPLITS for k in range(len(LABEL_DIRS))}
    seen: set[tuple[str, int]] = set()
    with _progress_bar(progress, "Reading IMDB reviews", 4) as advance:
        for s in SPLITS:
            for k, label in enumerate(LABEL_DIRS):
                d = root / s / label
                if not d.is_dir():
                    continue
                seen.add((s, k))
                bucket = reviews[(s, k)]
                for entry in os.scandir(d):
                    if entry.name.endswith(".txt") and entry.is_file():
                        with open(entry.path, encoding="utf-8", errors="replace") as f:
                            bucket.append((_review_key(entry.name), f.read()))
                advance(len(seen))
    return reviews, seen


def _check_layout(reviews: Reviews, seen: set[tuple[str, int]], path: Path) -> None:
    missing = [
        f"aclImdb/{s}/{LABEL_DIRS[k]}" for s in SPLITS for k in range(2) if (s, k) not in seen
    ]
    if missing:
        raise DataError(
            f"wrong layout: missing {', '.join(missing)} (expected the aclImdb_v1.tar.gz layout "
            "with aclImdb/train/pos, aclImdb/train/neg, aclImdb/test/pos, aclImdb/test/neg)",
            source=str(path),
        )
    empty = [f"aclImdb/{s}/{LABEL_DIRS[k]}" for (s, k), docs in reviews.items() if not docs]
    if empty:
        raise DataError(
            f"empty split: no reviews (*.txt) in {', '.join(sorted(empty))}", source=str(path)
        )


# --------------------------------------------------------------------------- cache


def _cache_file(cache_dir: Path, num_words: int, fingerprint: str) -> tuple[Path, str]:
    key = hashlib.sha256(f"{num_words}|{PREPROCESSING_VERSION}|{fingerprint}".encode()).hexdigest()
    return cache_dir / f"imdb-{num_words}w-{key[:24]}.npz", key


def _save(path: Path, key: str, ds: Dataset) -> None:
    arrays: dict[str, Any] = {"key": np.array(key)}
    for part in ("train", "test"):
        x = getattr(ds, f"x_{part}")
        arrays[f"x_{part}_indptr"] = x.indptr
        arrays[f"x_{part}_indices"] = x.indices
        arrays[f"x_{part}_shape"] = np.array(x.shape, dtype=np.int64)
        arrays[f"y_{part}"] = getattr(ds, f"y_{part}")
    arrays["feature_names"] = np.array(ds.feature_names, dtype=np.str_)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".imdb-", suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        warnings.warn(f"could not write the IMDB cache {path}: {exc}", stacklevel=3)
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def _csr(indptr: np.ndarray, indices: np.ndarray, shape: np.ndarray) -> sparse.csr_matrix:
    data = np.ones(len(indices), dtype=np.float64)
    m = sparse.csr_matrix((data, indices, indptr), shape=(int(shape[0]), int(shape[1])))
    m.indices = m.indices.astype(np.int32, copy=False)
    m.has_sorted_indices = True
    return m


def _load_cached(path: Path, key: str) -> Dataset | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key:
                return None
            xs = {
                p: _csr(z[f"x_{p}_indptr"], z[f"x_{p}_indices"], z[f"x_{p}_shape"])
                for p in ("train", "test")
            }
            return Dataset(
                name="imdb",
                x_train=xs["train"],
                y_train=z["y_train"],
                x_test=xs["test"],
                y_test=z["y_test"],
                feature_names=tuple(z["feature_names"].tolist()),
                class_names=CLASS_NAMES,
            )
    except (OSError, ValueError, KeyError, zlib.error, EOFError):
        return None  # unreadable or foreign cache file: rebuild it


# --------------------------------------------------------------------------- featurization


def _ordered(reviews: Reviews, split: str) -> tuple[list[str], np.ndarray]:
    texts: list[str] = []
    labels: list[int] = []
    for k in range(len(LABEL_DIRS)):
        docs = sorted(reviews[(split, k)], key=lambda d: d[0])
        texts.extend(text for _, text in docs)
        labels.extend([k] * len(docs))
    return texts, np.asarray(labels, dtype=np.int64)


def _featurize(reviews: Reviews, num_words: int, progress: bool) -> Dataset:
    train_texts, y_train = _ordered(reviews, "train")
    test_texts, y_test = _ordered(reviews, "test")
    reviews.clear()
    n_total = 2 * len(train_texts) + len(test_texts)
    with _progress_bar(progress, "Tokenizing IMDB reviews", n_total) as advance:
        counts: Counter[str] = Counter()
        for i, text in enumerate(train_texts):
            counts.update(tokenize(text))
            if i % 1000 == 0:
                advance(i)
        words = rank_vocabulary(counts, num_words)
        index = vocabulary_index(words)
        done = len(train_texts)

        def tokens(texts: list[str]) -> Iterator[list[str]]:
            nonlocal done
            for text in texts:
                yield tokenize(text)
                done += 1
                if done % 1000 == 0:
                    advance(done)

        x_train = presence_csr(tokens(train_texts), index, len(words))
        x_test = presence_csr(tokens(test_texts), index, len(words))
    return Dataset(
        name="imdb",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        feature_names=tuple(words),
        class_names=CLASS_NAMES,
    )


# --------------------------------------------------------------------------- public entry


def load_imdb(
    source: str | Path | None = None,
    *,
    num_words: int = 1000,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> Dataset:
    """Load the labelled IMDB reviews as binary bag-of-words features.

    Parameters
    ----------
    source
        An ``aclImdb_v1.tar.gz``-layout archive, or an extracted folder (containing ``aclImdb/``
        or being ``aclImdb/`` itself).  When None: ``$SUMSIM_IMDB``, else
        ``<cache_dir>/aclImdb_v1.tar.gz``, else that archive is downloaded from `IMDB_URL`
        (with a progress bar on stderr).
    num_words
        Size of the vocabulary: the ``num_words`` words most frequent over the *training*
        reviews (total occurrences, ties broken alphabetically).  The number of features is
        ``min(num_words, number of distinct training words)``.
    cache_dir
        Where the downloaded archive and the featurized ``.npz`` cache live; default
        ``$SUMSIM_CACHE``, else ``~/.cache/sumsim``.
    progress
        Show progress bars (stderr) while reading and tokenizing the reviews.

    Only ``train/pos``, ``train/neg``, ``test/pos`` and ``test/neg`` are read (``train/unsup`` and
    everything else is ignored).  Labels: ``neg`` = 0 (``"negative"``), ``pos`` = 1
    (``"positive"``).  Rows are ordered by label, then numeric review id, within each split.
    Each review becomes the set of its vocabulary words (see `tokenize` for the tokenizer);
    ``feature_names`` are the ranked words, most frequent first.

    The result is cached under ``cache_dir``, keyed by ``num_words``, `PREPROCESSING_VERSION` and
    a fingerprint of the source (archive: size and sha256 of its first and last MiB; folder:
    path and review-file count).

    Raises `DataError` when the source is missing, is not a readable tar.gz archive, lacks one
    of the four labelled folders, or has a folder without reviews.
    """
    num_words = check_num_words(num_words, source="load_imdb")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = _resolve_source(source, cache)
    if not path.is_dir() and not path.is_file():
        raise DataError("not a regular file or folder", source=str(path))
    try:
        fingerprint = _fingerprint(path)
    except OSError as exc:
        raise DataError(f"cannot read: {exc}", source=str(path)) from exc
    cache_path, key = _cache_file(cache, num_words, fingerprint)
    if cache_path.is_file():
        ds = _load_cached(cache_path, key)
        if ds is not None:
            return ds
    reader = _read_folder if path.is_dir() else _read_archive
    reviews, seen = reader(path, progress)
    _check_layout(reviews, seen, path)
    ds = _featurize(reviews, num_words, progress)
    _save(cache_path, key, ds)
    return ds
