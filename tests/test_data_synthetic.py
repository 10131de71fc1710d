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
