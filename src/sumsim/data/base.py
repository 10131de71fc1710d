"""The dataset container shared by every loader, and the train/pool/test split.

Sparse data are *binary presence* features: a sample is the sorted array of the indices of its
present features, exactly how a contract receives it (`int64[]`).  They are held as a CSR matrix
whose rows are those index arrays.  Dense data are float matrices (numeric CSV columns).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

import numpy as np
from scipy import sparse

#: A sample matrix: binary CSR (sparse) or a float array (dense).
Matrix: TypeAlias = Any


@dataclass(frozen=True)
class Dataset:
    """Training and test data with their names.

    Labels are integer class indices ``0..n_classes-1``; ``class_names[k]`` names class ``k``.
    ``ambiguous_train`` optionally flags training samples that a generator made deliberately
    ambiguous (used by agents that contribute such samples).
    """

    name: str
    x_train: Matrix
    y_train: np.ndarray
    x_test: Matrix
    y_test: np.ndarray
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    ambiguous_train: np.ndarray | None = field(default=None)

    @property
    def is_sparse(self) -> bool:
        return sparse.issparse(self.x_train)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def row(x: Matrix, i: int) -> np.ndarray:
    """Sample ``i`` as the contract sees it: sorted feature indices (sparse) or a dense vector."""
    if sparse.issparse(x):
        return x.indices[x.indptr[i] : x.indptr[i + 1]]
    return x[i]


def rows(x: Matrix) -> list[np.ndarray]:
    """All samples of ``x`` as contract inputs (index arrays or dense rows)."""
    if sparse.issparse(x):
        return np.split(x.indices, x.indptr[1:-1])
    return list(x)


def to_binary_csr(x: sparse.spmatrix) -> sparse.csr_matrix:
    """Canonical sparse form: CSR, sorted int32 indices, all stored values 1."""
    m = sparse.csr_matrix(x, dtype=np.float64)
    m.sum_duplicates()
    m.sort_indices()
    m.data = np.ones_like(m.data)
    m.eliminate_zeros()
    m.indices = m.indices.astype(np.int32, copy=False)
    return m


@dataclass(frozen=True)
class Split:
    """The three parts of a run's data: initial training, the contribution pool, the test set.

    The pool's samples are not copied out of the training matrix (the pool is most of it, and
    a copy would double the memory a large dataset takes): pool sample ``i`` is row
    ``pool_rows[i]`` of ``x_train``, and :attr:`x_pool` gathers them when asked."""

    x_init: Matrix
    y_init: np.ndarray
    #: The matrix the pool's samples are rows of (the dataset's training matrix, shared).
    x_train: Matrix
    #: The row of ``x_train`` of each pool sample, in pool order.
    pool_rows: np.ndarray
    y_pool: np.ndarray
    x_test: Matrix
    y_test: np.ndarray
    ambiguous_pool: np.ndarray

    @property
    def x_pool(self) -> Matrix:
        """The pool's samples as one matrix, in pool order (a copy, built on each call)."""
        return self.x_train[self.pool_rows]


def split(ds: Dataset, init_train_fraction: float, rng: np.random.Generator | None) -> Split:
    """Shuffle the training data (when ``rng`` is given) and cut it into initial set and pool.

    The pool keeps its (shuffled) order: agents draw from it in order without replacement.
    """
    n = int(ds.x_train.shape[0])
    order = rng.permutation(n) if rng is not None else np.arange(n)
    n_init = int(round(init_train_fraction * n))
    init, pool = order[:n_init], order[n_init:]
    amb = ds.ambiguous_train if ds.ambiguous_train is not None else np.zeros(n, dtype=bool)
    return Split(
        x_init=ds.x_train[init],
        y_init=ds.y_train[init],
        x_train=ds.x_train,
        pool_rows=pool,
        y_pool=ds.y_train[pool],
        x_test=ds.x_test,
        y_test=ds.y_test,
        ambiguous_pool=amb[pool],
    )
