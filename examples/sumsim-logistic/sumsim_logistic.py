"""Integer-weight online logistic regression, as a contract could run it.

Weights and bias are int64 in fixed point (``SCALE`` = 1e6 is 1.0).  The probability of class 1
is a *hard sigmoid* of the score, ``clip(1/2 + s/4, 0, 1)``, which needs only integer adds and a
shift, unlike ``exp``.  Each update moves the weights of the present features (and the bias) by
``step * (y - p)``, rounded towards zero in integer arithmetic; when the model is already sure
and right (``p`` is exactly ``y``) nothing changes and nothing is written, so confident data is
cheap to add, and unsure data costs a write per present feature.

Gas: the contract prices what :meth:`IntLogistic.plan_update` reports (fresh and overwritten
weight slots) and :meth:`IntLogistic.read_slots` (one weight per present feature plus the
bias), like every model.

Uses only :mod:`sumsim.plugin`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from sumsim.plugin import Matrix, Model, ModelConfig, Plugin, UpdatePlan, as_matrix

SCALE = 1_000_000


class IntLogisticConfig(ModelConfig):
    kind: Literal["int_logistic"]
    step: float = Field(0.5, gt=0, le=100, description="Learning rate (real units; held as "
                        "an integer multiple of 1e-6).")
    epochs: int = Field(1, ge=1, description="Off-chain passes for the initial training "
                        "(1, like the built-ins: the initial model is one online pass).")


class IntLogistic(Model):
    """Integer-weight online logistic regression (hard sigmoid, fixed point)."""

    kind = "int_logistic"

    def __init__(self, n_features: int, n_classes: int = 2, *, sparse_input: bool = True,
                 step: float = 0.5, epochs: int = 1):
        super().__init__(n_features, n_classes, sparse_input=sparse_input)
        if n_classes != 2:
            raise ValueError("logistic regression here is binary")
        self.step = int(round(step * SCALE))
        if self.step <= 0:
            raise ValueError("step must be at least 1e-6")
        self.epochs = epochs
        self.w = np.zeros(n_features, dtype=np.int64)
        self.b = 0

    # -- the score and the probability, in fixed point ----------------------------------------
    def _score(self, x: np.ndarray) -> int:
        if self.sparse_input:
            return int(self.b + self.w.take(x).sum())
        return int(self.b + (self.w @ np.rint(x).astype(np.int64)))

    @staticmethod
    def _prob(score: np.ndarray | int) -> np.ndarray:
        """Hard sigmoid in fixed point: SCALE/2 + score/4, clipped to [0, SCALE]."""
        return np.clip(SCALE // 2 + np.asarray(score) // 4, 0, SCALE)

    def scores(self, x: np.ndarray) -> np.ndarray:
        p1 = int(self._prob(self._score(x))) / SCALE
        return np.array([1.0 - p1, p1])

    def predict(self, x: np.ndarray) -> int:
        return int(self._score(x) > 0)

    def confidence(self, x: np.ndarray, label: int) -> float:
        p1 = int(self._prob(self._score(x))) / SCALE
        return p1 if label == 1 else 1.0 - p1

    # -- evaluation over matrices -----------------------------------------------------------
    def _scores_many(self, x: Matrix) -> np.ndarray:
        mat = as_matrix(x)
        return np.asarray(mat @ self.w, dtype=np.int64) + self.b

    def scores_many(self, x: Matrix) -> np.ndarray:
        p1 = self._prob(self._scores_many(x)) / SCALE
        return np.column_stack([1.0 - p1, p1])

    def predict_many(self, x: Matrix) -> np.ndarray:
        return (self._scores_many(x) > 0).astype(np.int64)

    # -- training -----------------------------------------------------------------------
    def _delta(self, x: np.ndarray, y: int) -> int:
        """The update of every present weight: step * (y - p), rounded towards zero."""
        err = y * SCALE - int(self._prob(self._score(x)))
        magnitude = abs(self.step * err) // SCALE
        return magnitude if err >= 0 else -magnitude

    def _present(self, x: np.ndarray) -> np.ndarray:
        return x if self.sparse_input else np.flatnonzero(x)

    def read_slots(self, x: np.ndarray) -> int:
        return len(self._present(x)) + 1

    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        if self._delta(x, y) == 0:
            return UpdatePlan(0, 0, False)
        touched = self.w[self._present(x)]
        new = int(np.count_nonzero(touched == 0)) + (self.b == 0)
        return UpdatePlan(new, len(touched) + 1 - new, True)

    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        if not plan.trains:
            return
        delta = self._delta(x, y)
        self.w[self._present(x)] += delta
        self.b += delta

    def fit(self, x: Matrix, y: np.ndarray) -> IntLogistic:
        mat = as_matrix(x)
        labels = np.asarray(y).tolist()
        for _ in range(self.epochs):
            for i, label in enumerate(labels):
                xi = mat.indices[mat.indptr[i]:mat.indptr[i + 1]] if sparse.issparse(mat) \
                    else mat[i]
                self.update(xi, int(label))
        return self


plugin = Plugin(IntLogisticConfig, IntLogistic)
