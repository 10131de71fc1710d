"""What the contract needs of a model, and the pieces every model shares.

A sample is either a sorted array of present-feature indices (sparse binary data, how a contract
receives ``int64[]``) or a dense vector.  Evaluation over a whole test matrix is one sparse (CSR)
or dense matrix product, never a Python loop over samples or features.

Gas: a model reports what its contract code would do, and the fork's gas model
(:mod:`sumsim.chain.evm_gas`) prices it by the same rules for every model: the storage slots a
prediction reads (:meth:`Model.read_slots`), the slots an update writes, by kind, *before* it
mutates anything (:meth:`Model.plan_update`, so the contract can charge gas and revert on
out-of-gas with no state touched), and the interpretation gas of its loops beyond storage
(:meth:`Model.compute_gas`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from sumsim.chain.evm_gas import INTERP
from sumsim.config import PluginConfig
from sumsim.data.base import Matrix


class ModelConfig(PluginConfig):
    """Options every model has (subclasses add their own hyperparameters)."""


@dataclass(frozen=True, slots=True)
class UpdatePlan:
    """Storage an update would write: fresh (zero to non-zero), overwritten (non-zero to another
    non-zero value) and cleared (non-zero to zero, which earns a storage refund) slots; whether
    it trains."""

    new_slots: int
    updated_slots: int
    trains: bool
    cleared_slots: int = 0

    @property
    def writes(self) -> int:
        return self.new_slots + self.updated_slots + self.cleared_slots


NO_UPDATE = UpdatePlan(0, 0, False)


@dataclass(frozen=True, slots=True)
class ComputeGas:
    """Interpretation gas of a model's contract code beyond its storage accesses.

    ``predict``: one prediction; ``update``: one update as planned; ``update_rereads``: warm
    reads the update makes of slots the prediction already read (a read-modify-write reads a
    slot once more before writing it)."""

    predict: float
    update: float = 0.0
    update_rereads: int = 0


#: Interpretation gas per slot read / written by default: the original sparse perceptron's
#: fitted loop bodies (a mapping lookup and a checked addition; a ``+=``), see
#: :class:`sumsim.chain.evm_gas.Interp`.
PREDICT_PER_SLOT = INTERP.perceptron_predict_per_feature
UPDATE_PER_SLOT = INTERP.perceptron_update_per_feature
#: A checked multiplication or division in solc 0.6 without optimizer (an internal SafeMath
#: call: jump in and out, the operation, the overflow ``require``): ~130 gas, counted from the
#: opcodes (JUMPs 8-10 each, MUL/DIV 5, comparisons and stack shuffling 3 each).
CHECKED_MULDIV = 130.0


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

    def compute_gas(self, x: np.ndarray, plan: UpdatePlan) -> ComputeGas:
        """Interpretation gas of a prediction on ``x`` and of the update ``plan`` (for gas).

        Default: every slot a prediction reads costs a mapping lookup and an addition, every
        slot an update writes a read-modify-write ``+=``, at the rates fitted on the original
        perceptron's loops (:data:`PREDICT_PER_SLOT`, :data:`UPDATE_PER_SLOT`).  Models with
        heavier arithmetic per slot declare more."""
        return ComputeGas(PREDICT_PER_SLOT * self.read_slots(x), UPDATE_PER_SLOT * plan.writes,
                          plan.writes)

    @abstractmethod
    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        """The storage an update on ``(x, y)`` would write, without writing it."""

    @abstractmethod
    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        """Train on ``(x, y)`` as planned.  The contract calls it only with a plan that trains
        (``plan.trains``): a contribution stored without training (a defense's verdict, a
        mechanism that trains later) never reaches it."""

    def update(self, x: np.ndarray, y: int) -> UpdatePlan:
        plan = self.plan_update(x, y)
        self.apply_update(x, y, plan)
        return plan

    def check_data(self, x: Matrix) -> None:  # noqa: B027 - an optional hook
        """Raise ValueError when this model cannot take the samples ``x`` (checked on the whole
        dataset before a run, so a run does not fail on its first such contribution)."""

    # -- whole matrices (evaluation) ---------------------------------------------------
    @abstractmethod
    def scores_many(self, x: Matrix) -> np.ndarray:
        """Per-class scores for every row of ``x`` (shape ``(n, n_classes)``)."""

    def predict_many(self, x: Matrix) -> np.ndarray:
        scores = np.asarray(self.scores_many(x))
        n = x.shape[0]
        # (-inf is a score: a log-probability of a class never seen)
        if scores.shape != (n, self.n_classes) or np.isnan(scores).any():
            cls = type(self)
            bad = "" if scores.shape != (n, self.n_classes) else \
                f" holding {int(np.isnan(scores).sum())} NaN"
            raise ValueError(f"{cls.__name__}.scores_many ({cls.__module__}) gave an array of "
                             f"shape {scores.shape}{bad}: scores of shape (rows, classes) = "
                             f"{(n, self.n_classes)}, none NaN, are expected")
        return np.argmax(scores, axis=1)

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
