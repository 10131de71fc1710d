"""IMDB loader: hand-checked features on a tiny fake archive, caching, sources and errors."""

from __future__ import annotations

import functools
import http.server
import io
import shutil
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from sumsim.data import imdb
from sumsim.data import text as text_features
from sumsim.data.base import Dataset, rows
from sumsim.errors import DataError, InputError

# <id>_<rating>.txt -> text.  train/unsup and the extra files must be ignored.
FAKE_REVIEWS = {
    "train/pos/1_9.txt": "Great movie.<br /><br />Great acting!",
    "train/pos/0_8.txt": "A great film, don't miss it.",
    "train/pos/10_7.txt": "good",
    "train/neg/2_1.txt": "Bad movie. BAD acting.",
    "train/neg/3_2.txt": "'Terrible' film; bad. Boring, boring, boring, boring!",
    "train/unsup/5_0.txt": "zebra zebra zebra zebra zebra zebra unsup unsup",
    "train/unsup/6_0.txt": "zebra unsup",
    "test/pos/4_10.txt": "Great great zebra!",
    "test/neg/5_3.txt": "Awful.<br />Bad.",
    "imdb.vocab": "zebra\nunsup\n",
    "README": "fake dataset",
    "train/labeledBow.feat": "0 0:1\n",
}

# Training counts (total occurrences): boring 4, bad 3, great 3, acting 2, film 2, movie 2,
# then a, don't, good, it, miss, terrible once each.  Ties are broken alphabetically.
ALL_WORDS = (
    "boring", "bad", "great", "acting", "film", "movie",
    "a", "don't", "good", "it", "miss", "terrible",
)  # fmt: skip


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` under ``root/aclImdb`` and return ``root/aclImdb``."""
    base = root / "aclImdb"
    for rel, text in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return base


def write_archive(path: Path, files: dict[str, str], *, dirs: tuple[str, ...] = ()) -> Path:
    """A gzip tar with members ``aclImdb/<rel>`` in the given order (plus directory entries)."""
    with tarfile.open(path, "w:gz") as tf:
        for d in dirs:
            info = tarfile.TarInfo(f"aclImdb/{d}")
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tf.addfile(info)
        for rel, text in files.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"aclImdb/{rel}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def fake_archive(tmp_path: Path) -> Path:
    return write_archive(tmp_path / "aclImdb_v1.tar.gz", FAKE_REVIEWS)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def as_lists(ds: Dataset) -> tuple[list[list[int]], list[list[int]]]:
    return (
        [r.tolist() for r in rows(ds.x_train)],
        [r.tolist() for r in rows(ds.x_test)],
    )


def assert_same(a: Dataset, b: Dataset) -> None:
    assert a.feature_names == b.feature_names
    assert a.class_names == b.class_names
    for part in ("train", "test"):
        xa, xb = getattr(a, f"x_{part}"), getattr(b, f"x_{part}")
        assert xa.shape == xb.shape
        np.testing.assert_array_equal(xa.indptr, xb.indptr)
        np.testing.assert_array_equal(xa.indices, xb.indices)
        np.testing.assert_array_equal(xa.data, xb.data)
        np.testing.assert_array_equal(getattr(a, f"y_{part}"), getattr(b, f"y_{part}"))


# --------------------------------------------------------------------------- tokenizer


def test_tokenize_rule() -> None:
    text = "Don't 'quoted' actors' rock_n_roll Café<br/>X<br />y<BR>z 10/10 it\u2019s -- ''"
    assert text_features.tokenize(text) == [
        "don't", "quoted", "actors", "rock", "n", "roll", "café",
        "x", "y", "z", "10", "10", "it's",
    ]  # fmt: skip


def test_tokenize_removes_line_breaks_without_gluing_words() -> None:
    assert text_features.tokenize("end.<br /><br />Next") == ["end", "next"]
    assert text_features.tokenize("end<br />next") == ["end", "next"]
    assert "br" not in text_features.tokenize("a<br />b<br/>c")


# --------------------------------------------------------------------------- features


def test_features_by_hand(fake_archive: Path, cache: Path) -> None:
    ds = imdb.load_imdb(fake_archive, num_words=5, cache_dir=cache)
    assert ds.name == "imdb"
    assert ds.feature_names == ("boring", "bad", "great", "acting", "film")
    assert ds.class_names == ("negative", "positive")
    assert ds.is_sparse and ds.x_train.shape == (5, 5) and ds.x_test.shape == (2, 5)
    # Order: neg before pos, numeric id within (0 < 1 < 10, not "0" < "10" < "1").
    #   neg 2_1 "bad movie bad acting"         -> bad, acting
    #   neg 3_2 "terrible film bad boring x4"   -> boring, bad, film
    #   pos 0_8 "a great film don't miss it"    -> great, film
    #   pos 1_9 "great movie great acting"      -> great, acting
    #   pos 10_7 "good"                         -> (nothing)
    train, test = as_lists(ds)
    assert train == [[1, 3], [0, 1, 4], [2, 4], [2, 3], []]
    np.testing.assert_array_equal(ds.y_train, [0, 0, 1, 1, 1])
    # test neg 5_3 "awful bad" -> bad; test pos 4_10 "great great zebra" -> great
    assert test == [[1], [2]]
    np.testing.assert_array_equal(ds.y_test, [0, 1])
    assert ds.x_train.indices.dtype == np.int32
    assert set(ds.x_train.data.tolist()) == {1.0}


def test_vocabulary_is_training_words_only(fake_archive: Path, cache: Path) -> None:
    ds = imdb.load_imdb(fake_archive, num_words=100, cache_dir=cache)
    # Fewer distinct training words than num_words: all of them, ranked.
    assert ds.feature_names == ALL_WORDS
    # train/unsup ("zebra", "unsup"), test-only words ("awful") and "<br />" never count.
    for word in ("zebra", "unsup", "awful", "br"):
        assert word not in ds.feature_names
    assert ds.x_train.shape[0] == 5 and ds.x_test.shape[0] == 2


def test_order_does_not_depend_on_member_order(tmp_path: Path, cache: Path) -> None:
    forward = write_archive(tmp_path / "a.tar.gz", FAKE_REVIEWS)
    backward = write_archive(tmp_path / "b.tar.gz", dict(reversed(list(FAKE_REVIEWS.items()))))
    assert_same(
        imdb.load_imdb(forward, num_words=7, cache_dir=cache),
        imdb.load_imdb(backward, num_words=7, cache_dir=cache),
    )


def test_folder_source_equals_archive(fake_archive: Path, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "extracted", FAKE_REVIEWS)
    from_archive = imdb.load_imdb(fake_archive, num_words=6, cache_dir=tmp_path / "c1")
    from_parent = imdb.load_imdb(root.parent, num_words=6, cache_dir=tmp_path / "c2")
    from_root = imdb.load_imdb(str(root), num_words=6, cache_dir=tmp_path / "c3")
    assert_same(from_archive, from_parent)
    assert_same(from_archive, from_root)


def test_progress_bars_do_not_change_the_result(fake_archive: Path, tmp_path: Path) -> None:
    root = write_tree(tmp_path / "extracted", FAKE_REVIEWS)
    plain = imdb.load_imdb(fake_archive, num_words=5, cache_dir=tmp_path / "c1")
    assert_same(
        plain, imdb.load_imdb(fake_archive, num_words=5, cache_dir=tmp_path / "c2", progress=True)
    )
    assert_same(plain, imdb.load_imdb(root, num_words=5, cache_dir=tmp_path / "c3", progress=True))


# --------------------------------------------------------------------------- cache


def test_cache_hit_returns_equal_arrays(
    fake_archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = imdb.load_imdb(fake_archive, num_words=5, cache_dir=cache)
    files = sorted(cache.glob("*.npz"))
    assert len(files) == 1
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp files left

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached load must not featurize again")

    monkeypatch.setattr(imdb, "_featurize", fail)
    monkeypatch.setattr(imdb, "_read_archive", fail)
    second = imdb.load_imdb(fake_archive, num_words=5, cache_dir=cache)
    assert_same(first, second)
    assert second.x_train.indices.dtype == np.int32


def test_num_words_changes_the_cache_key(fake_archive: Path, cache: Path) -> None:
    a = imdb.load_imdb(fake_archive, num_words=5, cache_dir=cache)
    b = imdb.load_imdb(fake_archive, num_words=3, cache_dir=cache)
    assert len(list(cache.glob("*.npz"))) == 2
    assert a.n_features == 5 and b.n_features == 3
    assert b.feature_names == a.feature_names[:3]


def test_changed_archive_changes_the_cache_key(tmp_path: Path, cache: Path) -> None:
    path = tmp_path / "a.tar.gz"
    write_archive(path, FAKE_REVIEWS)
    before = imdb.load_imdb(path, num_words=100, cache_dir=cache)
    write_archive(path, {**FAKE_REVIEWS, "train/pos/11_9.txt": "zebra zebra zebra zebra zebra"})
    after = imdb.load_imdb(path, num_words=100, cache_dir=cache)
    assert "zebra" not in before.feature_names
    assert after.feature_names[0] == "zebra"


def test_unreadable_cache_is_rebuilt(fake_archive: Path, cache: Path) -> None:
    first = imdb.load_imdb(fake_archive, num_words=5, cache_dir=cache)
    (cached,) = cache.glob("*.npz")
    cached.write_bytes(b"garbage")
    assert_same(first, imdb.load_imdb(fake_archive, num_words=5, cache_dir=cache))
    assert cached.stat().st_size > len(b"garbage")


def test_default_cache_dir_from_env(
    fake_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUMSIM_CACHE", str(tmp_path / "envcache"))
    assert imdb.default_cache_dir() == tmp_path / "envcache"
    imdb.load_imdb(fake_archive, num_words=5)
    assert len(list((tmp_path / "envcache").glob("*.npz"))) == 1
    monkeypatch.delenv("SUMSIM_CACHE")
    assert imdb.default_cache_dir() == Path.home() / ".cache" / "sumsim"


# --------------------------------------------------------------------------- source=None


def test_source_from_env(fake_archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUMSIM_IMDB", str(fake_archive))
    ds = imdb.load_imdb(num_words=5, cache_dir=cache)
    assert ds.feature_names == ALL_WORDS[:5]


def test_source_from_cached_archive(
    fake_archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUMSIM_IMDB", raising=False)
    monkeypatch.setattr(imdb, "IMDB_URL", "http://127.0.0.1:9/never-used.tar.gz")
    cache.mkdir()
    shutil.copy(fake_archive, cache / imdb.ARCHIVE_NAME)
    ds = imdb.load_imdb(num_words=5, cache_dir=cache)
    assert ds.feature_names == ALL_WORDS[:5]


def test_env_source_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUMSIM_IMDB", str(tmp_path / "nowhere.tar.gz"))
    with pytest.raises(DataError, match=r"SUMSIM_IMDB.*nowhere\.tar\.gz.*does not exist"):
        imdb.load_imdb(cache_dir=tmp_path / "cache")


def test_download_into_cache(
    fake_archive: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(fake_archive.parent)
    )
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{fake_archive.name}"
        monkeypatch.delenv("SUMSIM_IMDB", raising=False)
        monkeypatch.setattr(imdb, "IMDB_URL", url)
        ds = imdb.load_imdb(num_words=5, cache_dir=cache, progress=True)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert (cache / imdb.ARCHIVE_NAME).read_bytes() == fake_archive.read_bytes()
    assert_same(ds, imdb.load_imdb(fake_archive, num_words=5, cache_dir=cache))


def test_download_failure_says_where_to_put_the_archive(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SUMSIM_IMDB", raising=False)
    # Port 9 (discard) on localhost: the connection is refused at once, no network needed.
    monkeypatch.setattr(imdb, "IMDB_URL", "http://127.0.0.1:9/aclImdb_v1.tar.gz")
    with pytest.raises(DataError) as info:
        imdb.load_imdb(cache_dir=cache)
    message = str(info.value)
    assert "could not download" in message
    assert str(cache / imdb.ARCHIVE_NAME) in message
    assert "SUMSIM_IMDB" in message
    assert not (cache / imdb.ARCHIVE_NAME).exists()
    assert list(cache.iterdir()) == []  # no partial download left behind


# --------------------------------------------------------------------------- errors


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.tar\.gz.*no such file or folder"):
        imdb.load_imdb(tmp_path / "missing.tar.gz", cache_dir=tmp_path / "c")


def test_not_a_tar_gz(tmp_path: Path) -> None:
    path = tmp_path / "reviews.tar.gz"
    path.write_text("just some text, not an archive")
    with pytest.raises(DataError, match=r"reviews\.tar\.gz.*not a readable \.tar\.gz"):
        imdb.load_imdb(path, cache_dir=tmp_path / "c")


def test_corrupt_archive(fake_archive: Path, tmp_path: Path) -> None:
    data = fake_archive.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"truncated\.tar\.gz.*not a readable \.tar\.gz"):
        imdb.load_imdb(truncated, cache_dir=tmp_path / "c")


def test_archive_without_acl_imdb(tmp_path: Path) -> None:
    path = tmp_path / "other.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("reviews/train/pos/1_9.txt")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"good"))
    with pytest.raises(DataError, match=r"other\.tar\.gz.*no aclImdb/ folder"):
        imdb.load_imdb(path, cache_dir=tmp_path / "c")


def test_wrong_layout_names_what_is_missing(tmp_path: Path) -> None:
    files = {k: v for k, v in FAKE_REVIEWS.items() if not k.startswith("test/neg")}
    path = write_archive(tmp_path / "partial.tar.gz", files)
    with pytest.raises(DataError, match=r"wrong layout: missing aclImdb/test/neg") as info:
        imdb.load_imdb(path, cache_dir=tmp_path / "c")
    assert "aclImdb/train/pos" not in str(info.value).split("(")[0]


def test_only_unsup_is_wrong_layout(tmp_path: Path) -> None:
    files = {k: v for k, v in FAKE_REVIEWS.items() if "unsup" in k}
    path = write_archive(tmp_path / "unsup.tar.gz", files)
    with pytest.raises(DataError, match="wrong layout") as info:
        imdb.load_imdb(path, cache_dir=tmp_path / "c")
    for d in ("train/pos", "train/neg", "test/pos", "test/neg"):
        assert f"aclImdb/{d}" in str(info.value)


def test_empty_split(tmp_path: Path) -> None:
    files = {k: v for k, v in FAKE_REVIEWS.items() if not k.startswith("test/pos")}
    path = write_archive(tmp_path / "empty.tar.gz", files, dirs=("test", "test/pos"))
    with pytest.raises(DataError, match=r"empty split.*aclImdb/test/pos"):
        imdb.load_imdb(path, cache_dir=tmp_path / "c")


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no aclImdb/ subfolder"):
        imdb.load_imdb(tmp_path, cache_dir=tmp_path / "c")
    files = {k: v for k, v in FAKE_REVIEWS.items() if not k.startswith("train/neg")}
    root = write_tree(tmp_path / "partial", files)
    with pytest.raises(DataError, match=r"wrong layout: missing aclImdb/train/neg"):
        imdb.load_imdb(root.parent, cache_dir=tmp_path / "c")
    (root / "train" / "neg").mkdir()
    with pytest.raises(DataError, match=r"empty split.*aclImdb/train/neg"):
        imdb.load_imdb(root, cache_dir=tmp_path / "c")


@pytest.mark.parametrize("bad", [0, -5, 2.5, "1000", True])
def test_bad_num_words(fake_archive: Path, tmp_path: Path, bad: object) -> None:
    with pytest.raises(InputError, match="num_words"):
        imdb.load_imdb(fake_archive, num_words=bad, cache_dir=tmp_path / "c")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- real archive


@pytest.mark.imdb
def test_real_archive_shape(imdb_real: Dataset) -> None:
    ds = imdb_real
    assert ds.x_train.shape == (25_000, 1000)
    assert ds.x_test.shape == (25_000, 1000)
    assert ds.n_features == 1000 and len(ds.feature_names) == 1000
    assert np.bincount(ds.y_train).tolist() == [12_500, 12_500]
    assert np.bincount(ds.y_test).tolist() == [12_500, 12_500]
    assert ds.feature_names[:3] == ("the", "and", "a")
    assert "br" not in ds.feature_names


@pytest.mark.imdb
def test_real_archive_cached_load(
    imdb_real: Dataset, imdb_real_cache: tuple[Path, Path, float]
) -> None:
    archive, cache_dir, first_seconds = imdb_real_cache
    start = time.perf_counter()
    again = imdb.load_imdb(archive, cache_dir=cache_dir)
    cached_seconds = time.perf_counter() - start
    assert_same(imdb_real, again)
    assert cached_seconds < 1.0
    assert cached_seconds * 10 <= first_seconds
