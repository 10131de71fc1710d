"""Online sparse perceptron: ``score = b + sum(w[i] for i in x)``, predict 1 when ``score >= 0``.

It trains only when wrong: ``w[i] += lr * s`` for the present features and ``b += lr * s``, with
``s = +1`` for class 1 and ``-1`` for class 0.  In fixed-point mode (the default) weights and bias
are int64 and ``lr`` an integer, as in a contract; otherwise float64.

Off-chain fit: the same rule, in data order, for ``epochs`` passes starting from zero weights,
with step ``init_learning_rate``.  A deployer who trains the initial model with a larger step
than the on-chain ``learning_rate`` gives it inertia: later contributions move it less.  This is
the integer counterpart of the decaying learning-rate schedule of an SGD perceptron (the
original SUM simulation used scikit-learn's ``learning_rate="optimal"``, whose step shrinks like
``1/t``), without which a one-update-per-hour label flipper drags a constant-step perceptron
far below its baseline.

Confidence: the logistic of the margin scaled by ``1/sqrt(max(1, |x|))`` (``|x|`` = number of
present features, or the squared L2 norm for dense input: the same for binary data) so that
long and short samples are comparable.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import sparse

from sumsim.data.base import Matrix
from sumsim.errors import FieldError
from sumsim.models.base import Model, ModelConfig, UpdatePlan, as_matrix
from sumsim.registry import Plugin

#: Largest learning rate (int64 weights stay far from overflow) and most off-chain passes.
MAX_STEP = 1e9
MAX_EPOCHS = 1000


class PerceptronConfig(ModelConfig):
    kind: Literal["perceptron"] = "perceptron"
    learning_rate: float = Field(1, gt=0, description="Step of an on-chain update.")
    init_learning_rate: float | None = Field(
        None, gt=0, description="Step of the off-chain initial training (default: "
        "learning_rate); larger gives the deployed model inertia.")
    fixed_point: bool = Field(True, description="Integer (int64) weights as in a contract.")
    epochs: int = Field(1, ge=1, description="Off-chain passes for the initial training.")

    @model_validator(mode="after")
    def _representable(self) -> PerceptronConfig:
        # int64 weights move by the step once per update: keep far from overflow; the
        # off-chain fit is `epochs` Python passes over the initial set.
        for name in ("learning_rate", "init_learning_rate"):
            lr = getattr(self, name)
            if lr is None:
                continue
            if lr > MAX_STEP:
                raise FieldError(f"at most {MAX_STEP:g}", name)
            if self.fixed_point and lr != int(lr):
                raise FieldError(f"{lr:g} is not an integer: fixed-point weights (fixed_point "
                                 "= true) move by whole steps", name)
        if self.epochs > MAX_EPOCHS:
            raise FieldError(f"at most {MAX_EPOCHS} passes", "epochs")
        return self


class Perceptron(Model):
    """Online sparse perceptron: trains only when wrong, integer weights by default."""

    kind = "perceptron"

    def __init__(self, n_features: int, n_classes: int = 2, *, sparse_input: bool = True,
                 learning_rate: float = 1, fixed_point: bool = True, epochs: int = 1,
                 init_learning_rate: float | None = None):
        super().__init__(n_features, n_classes, sparse_input=sparse_input)
        if n_classes != 2:
            raise ValueError("the perceptron is a binary classifier")
        dtype = np.int64 if fixed_point else np.float64
        self.fixed_point = fixed_point
        self.lr = int(learning_rate) if fixed_point else float(learning_rate)
        init_lr = learning_rate if init_learning_rate is None else init_learning_rate
        self.init_lr = int(init_lr) if fixed_point else float(init_lr)
        if fixed_point and (self.lr != learning_rate or self.init_lr != init_lr):
            raise ValueError("fixed-point perceptron needs integer learning rates")
        self.w = np.zeros(self.n_features, dtype=dtype)
        self.b = dtype(0)
        self.epochs = epochs

    def margin(self, x: np.ndarray) -> float:
        return float(self.b + self._dot(x, self.w))

    def scores(self, x: np.ndarray) -> np.ndarray:
        m = self.margin(x)
        return np.array([0.0, 1.0]) if m >= 0 else np.array([1.0, 0.0])

    def predict(self, x: np.ndarray) -> int:
        # The hot path of every run: kept to one gather and one reduction.
        if self.sparse_input:
            return 1 if self.b + self.w.take(x).sum() >= 0 else 0
        return 1 if self.b + self.w @ x >= 0 else 0

    def confidence(self, x: np.ndarray, label: int) -> float:
        size = len(x) if self.sparse_input else float(np.dot(x, x))
        z = self.margin(x) / np.sqrt(max(1.0, size))
        p1 = 1.0 / (1.0 + np.exp(-z))
        return float(p1 if label == 1 else 1.0 - p1)

    def confidence_many(self, x: Matrix, labels: np.ndarray) -> np.ndarray:
        mat = as_matrix(x)
        if sparse.issparse(mat):
            size = np.diff(mat.indptr).astype(np.float64)
        else:
            size = np.einsum("ij,ij->i", mat, mat)
        z = self.margins_many(mat) / np.sqrt(np.maximum(1.0, size))
        p1 = 1.0 / (1.0 + np.exp(-z))
        return np.where(np.asarray(labels) == 1, p1, 1.0 - p1)

    def read_slots(self, x: np.ndarray) -> int:
        return (len(x) if self.sparse_input else self.n_features) + 1

    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        if self.predict(x) == y:
            return UpdatePlan(0, 0, False)
        if self.sparse_input:
            touched = self.w[x]
        else:
            touched = self.w[np.flatnonzero(x)]
        new = int(np.count_nonzero(touched == 0)) + (1 if self.b == 0 else 0)
        return UpdatePlan(new, len(touched) + 1 - new, True)

    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        if not plan.trains:
            return
        step = self.lr if y == 1 else -self.lr
        if self.sparse_input:
            self.w[x] += step
        else:
            self.w += (step * x).astype(self.w.dtype)
        self.b = self.b + step

    def scores_many(self, x: Matrix) -> np.ndarray:
        m = self.margins_many(x)
        s = (m >= 0).astype(np.float64)
        return np.column_stack([1.0 - s, s])

    def margins_many(self, x: Matrix) -> np.ndarray:
        return np.asarray(as_matrix(x) @ self.w, dtype=np.float64) + float(self.b)

    def predict_many(self, x: Matrix) -> np.ndarray:
        return (self.margins_many(x) >= 0).astype(np.int64)

    def fit(self, x: Matrix, y: np.ndarray) -> Perceptron:
        """``epochs`` passes of the online rule, in data order, from zero weights."""
        on_chain_lr, self.lr = self.lr, self.init_lr
        try:
            self._fit(x, y)
        finally:
            self.lr = on_chain_lr
        return self

    def _fit(self, x: Matrix, y: np.ndarray) -> None:
        self.w[:] = 0
        self.b = self.w.dtype.type(0)  # type: ignore[assignment]
        mat = as_matrix(x)
        y = np.asarray(y)
        if not sparse.issparse(mat):
            for _ in range(self.epochs):
                for i in range(mat.shape[0]):
                    self.update(mat[i], int(y[i]))
            return
        # The same rule as `update`, inlined: this loop trains on every pool sample for the
        # all-data baseline, so it avoids per-sample plan objects.
        w, lr = self.w, self.lr
        b = self.b
        indices, ptr = mat.indices, mat.indptr.tolist()
        labels = y.tolist()
        for _ in range(self.epochs):
            for i, label in enumerate(labels):
                xi = indices[ptr[i]:ptr[i + 1]]
                if (b + w.take(xi).sum() >= 0) != (label == 1):
                    step = lr if label == 1 else -lr
                    w[xi] += step
                    b += step
        self.b = w.dtype.type(b)  # type: ignore[assignment,arg-type]


plugin = Plugin(PerceptronConfig, Perceptron)
