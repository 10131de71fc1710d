"""The synthetic dataset generator: documents as sets of distinct words, the same for a seed
whichever way the distinct words are found."""

from __future__ import annotations

import numpy as np
import pytest

from sumsim.data import synthetic


@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
def test_distinct_is_numpys_unique(n: int) -> None:
    rng = np.random.default_rng(n)
    for high in (1, 3, 10**6):
        keys = rng.integers(0, high, n).astype(np.int64)
        assert np.array_equal(synthetic._distinct(keys), np.unique(keys))


def test_documents_are_those_numpys_unique_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator with its own dedupe and with ``np.unique`` in its place: the same matrices
    and labels, every row sorted distinct words."""
    ours = synthetic.make_synthetic(seed=5, n_train=300, n_test=200, n_features=400)
    monkeypatch.setattr(synthetic, "_distinct", np.unique)
    reference = synthetic.make_synthetic(seed=5, n_train=300, n_test=200, n_features=400)
    for part in ("train", "test"):
        a, b = getattr(ours, f"x_{part}"), getattr(reference, f"x_{part}")
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.array_equal(getattr(ours, f"y_{part}"), getattr(reference, f"y_{part}"))
    x = ours.x_train
    for i in range(x.shape[0]):
        row = x.indices[x.indptr[i]:x.indptr[i + 1]]
        assert len(row) >= 1 and np.all(np.diff(row) > 0)


def _searchsorted_right(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    return np.searchsorted(cdf, u, side="right")


@pytest.mark.parametrize("vocab", [1, 2, 5, 1000, 5000])
@pytest.mark.parametrize("n", [0, 1, 100, 50_000])
def test_word_draws_are_a_binary_search(vocab: int, n: int) -> None:
    """The bucket table answers exactly what a binary search per draw answers, including draws
    and cdf values that sit on bucket edges, repeated cdf values and a cdf that ends at 1."""
    rng = np.random.default_rng(vocab * 7 + n)
    p = rng.random(vocab) ** 4
    p[rng.random(vocab) < 0.2] = 0.0  # (words that are never drawn: repeated cdf values)
    p[-1] += 1e-12
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    m = 1 << min(20, max(10, n.bit_length() - 2))
    # cdf values on bucket edges, and draws on and next to them
    edges = rng.integers(0, m, size=min(vocab - 1, 50)) / m
    cdf[:len(edges)] = np.sort(edges)
    cdf = np.sort(cdf)
    u = rng.random(n)
    k = min(n, 3 * len(edges))
    if k:
        on = np.repeat(edges, 3)[:k]
        u[:k] = np.concatenate([on[0::3], np.nextafter(on[1::3], 1.0),
                                np.nextafter(on[2::3], 0.0).clip(0.0)])[:k]
    assert np.array_equal(synthetic._draw_words(cdf, u), _searchsorted_right(cdf, u))


def test_documents_are_those_a_binary_search_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator with its bucket table and with a binary search per draw: the same
    dataset."""
    ours = synthetic.make_synthetic(seed=11, n_train=500, n_test=300, n_features=700)
    monkeypatch.setattr(synthetic, "_draw_words", _searchsorted_right)
    reference = synthetic.make_synthetic(seed=11, n_train=500, n_test=300, n_features=700)
    for part in ("train", "test"):
        a, b = getattr(ours, f"x_{part}"), getattr(reference, f"x_{part}")
        assert np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)
        assert np.array_equal(getattr(ours, f"y_{part}"), getattr(reference, f"y_{part}"))
