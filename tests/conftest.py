"""Shared test fixtures."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

# The labelled IMDB archive lives next to the project, never inside it (or where SUMSIM_IMDB
# says, as for sumsim itself, when it names an archive).
IMDB_ARCHIVE = Path(__file__).parents[2] / "shared/data/aclImdb_v1-labelled.tar.gz"
if not IMDB_ARCHIVE.is_file() and os.environ.get("SUMSIM_IMDB", "").endswith(".tar.gz"):
    IMDB_ARCHIVE = Path(os.environ["SUMSIM_IMDB"])


@pytest.fixture(autouse=True)
def _no_archive_from_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests name the archive they use (IMDB_ARCHIVE): one a shell exports in SUMSIM_IMDB
    must not reach runs that expect none (an IMDB path of their own, a missing archive)."""
    monkeypatch.delenv("SUMSIM_IMDB", raising=False)


def require_imdb_archive() -> Path:
    """The real IMDB archive, or skip the calling test with the reason."""
    if not IMDB_ARCHIVE.is_file():
        pytest.skip(f"IMDB archive not found at {IMDB_ARCHIVE} (needed by tests marked 'imdb')")
    return IMDB_ARCHIVE


@pytest.fixture(scope="session")
def imdb_real_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, float]:
    """Load the real IMDB archive once per session into a fresh cache.

    Returns ``(archive, cache_dir, seconds of that first, uncached load)``.
    """
    from sumsim.data.imdb import load_imdb

    archive = require_imdb_archive()
    cache_dir = tmp_path_factory.mktemp("imdb-cache")
    start = time.perf_counter()
    load_imdb(archive, cache_dir=cache_dir)
    return archive, cache_dir, time.perf_counter() - start


@pytest.fixture(scope="session")
def imdb_real(imdb_real_cache: tuple[Path, Path, float]):
    """The real IMDB dataset (1000 words), loaded from the session cache."""
    from sumsim.data.imdb import load_imdb

    archive, cache_dir, _ = imdb_real_cache
    return load_imdb(archive, cache_dir=cache_dir)
