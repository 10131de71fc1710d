"""What the contract needs of a model, and the pieces every model shares.

A sample is either a sorted array of present-feature indices (sparse binary data, how a contract
receives ``int64[]``) or a dense vector.  Evaluation over a whole test matrix is one sparse (CSR)
or dense matrix product, never a Python loop over samples or features.

Gas: an update reports the storage it writes as ``(new_slots, updated_slots)`` *before* it
mutates anything (:meth:`Model.plan_update`), so the contract can charge gas and revert on
out-of-gas with no state touched.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from sumsim.config import PluginConfig
from sumsim.data.base import Matrix


class ModelConfig(PluginConfig):
    """Options every model has (subclasses add their own hyperparameters)."""


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """Storage an update would write: fresh (zero) and overwritten slots; whether it trains."""

    new_slots: int
    updated_slots: int
    trains: bool


class Model(ABC):
    """An online classifier as it would run in a contract."""

    kind: str = ""

    @classmethod
    def from_config(cls, config: Any, n_features: int, n_classes: int,
                    sparse_input: bool) -> Model:
        """The untrained model a scenario's ``[model]`` section describes, for data with
        ``n_features`` features (sparse index arrays or dense vectors) and ``n_classes``."""
        options = config.model_dump(exclude={"kind"})
        return cls(n_features, n_classes, sparse_input=sparse_input, **options)

    def __init__(self, n_features: int, n_classes: int = 2, *, sparse_input: bool = True):
        if n_classes < 2:
            raise ValueError("a classifier needs at least two classes")
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        self.sparse_input = sparse_input

    # -- single samples (contract calls) --------------------------------------------------
    @abstractmethod
    def scores(self, x: np.ndarray) -> np.ndarray:
        """Per-class scores of one sample; the prediction is their argmax."""

    def predict(self, x: np.ndarray) -> int:
        return int(np.argmax(self.scores(x)))

    @abstractmethod
    def confidence(self, x: np.ndarray, label: int) -> float:
        """The model's confidence in ``label`` for ``x``, in [0, 1] (defenses threshold on it)."""

    def confidence_many(self, x: Matrix, labels: np.ndarray) -> np.ndarray:
        """``confidence(x_i, labels_i)`` for every row (models override with matrix code)."""
        from sumsim.data.base import rows

        return np.array([self.confidence(xi, int(li)) for xi, li in zip(rows(x), labels,
                                                                         strict=True)])

    @abstractmethod
    def read_slots(self, x: np.ndarray) -> int:
        """Storage slots a prediction on ``x`` reads."""

    @abstractmethod
    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        """The storage an update on ``(x, y)`` would write, without writing it."""

    @abstractmethod
    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        """Train on ``(x, y)`` as planned."""

    def update(self, x: np.ndarray, y: int) -> UpdatePlan:
        plan = self.plan_update(x, y)
        self.apply_update(x, y, plan)
        return plan

    # -- whole matrices (evaluation) ---------------------------------------------------
    @abstractmethod
    def scores_many(self, x: Matrix) -> np.ndarray:
        """Per-class scores for every row of ``x`` (shape ``(n, n_classes)``)."""

    def predict_many(self, x: Matrix) -> np.ndarray:
        return np.argmax(self.scores_many(x), axis=1)

    def accuracy(self, x: Matrix, y: np.ndarray) -> float:
        if x.shape[0] == 0:
            return float("nan")
        return float(np.mean(self.predict_many(x) == y))

    @abstractmethod
    def fit(self, x: Matrix, y: np.ndarray) -> Model:
        """Off-chain training of the initial model."""

    def copy(self) -> Model:
        import copy

        return copy.deepcopy(self)

    # -- helpers ----------------------------------------------------------------------
    def _dot(self, x: np.ndarray, w: np.ndarray) -> np.ndarray | float:
        """``x . w`` for a sparse index array or a dense vector (w may be 1-D or 2-D)."""
        if self.sparse_input:
            return w[..., x].sum(axis=-1) if w.ndim > 1 else w[x].sum()
        return w @ x


def as_matrix(x: Matrix) -> Matrix:
    """CSR for sparse input, float array for dense."""
    return sparse.csr_matrix(x) if sparse.issparse(x) else np.asarray(x, dtype=np.float64)
