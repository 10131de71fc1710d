"""Online sparse perceptron: ``score = b + sum(w[i] for i in x)``.

Two variants:

- ``standard``: predict 1 when ``score >= 0``; train only when wrong, ``w[i] += lr * s`` for the
  present features and ``b += lr * s``, with ``s = +1`` for class 1 and ``-1`` for class 0.
- ``original``: the deployed SUM contract's SparsePerceptron: predict 1 only when
  ``score > 0`` (a score of exactly 0 is class 0), and an on-chain update moves the present
  weights only: the intercept ``b`` never changes after deployment.  The off-chain initial
  training still fits ``b`` (as the deployer's scikit-learn perceptron did, which also predicts
  1 only above 0).

In fixed-point mode (the default) weights and bias are int64 and ``lr`` an integer, as in a
contract; otherwise float64.  Only the ratio of the step to the weights matters (the decision is
``score > 0`` or ``>= 0``, unchanged when every weight, the intercept and the step are scaled
alike), so the deployed IMDB model, whose ``int80`` weights are fixed point at 1e9 and move by
``0.5 x 1e9``, is ``learning_rate = 1`` with weights counted in units of that step: multiply
every weight and the intercept by 5e8 to read them as the deployed contract's values.

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

Gas (:meth:`Perceptron.compute_gas`): the original contract's loops, with the constants fitted
on its measured gas (:class:`sumsim.chain.evm_gas.Interp`): per present feature ~430 gas to
predict (bounds check, ``require``, mapping key hash, checked signed addition) beyond the
weight's read, ~405 to update it beyond its write, which reads the learning rate, the weight
and the packed slot again (three warm reads).  A weight that becomes zero is a cleared slot
(a storage refund), one that leaves zero a new slot.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field, model_validator
from scipy import sparse

from sumsim.chain.evm_gas import INTERP
from sumsim.data.base import Matrix
from sumsim.errors import FieldError
from sumsim.models.base import NO_UPDATE, ComputeGas, Model, ModelConfig, UpdatePlan, as_matrix
from sumsim.registry import Plugin

#: Largest learning rate (int64 weights stay far from overflow) and most off-chain passes.
MAX_STEP = 1e9
MAX_EPOCHS = 1000
#: ``ndarray.sum`` without its Python-level wrapper (the per-sample sums are the hot path).
_sum = np.add.reduce


class PerceptronConfig(ModelConfig):
    kind: Literal["perceptron"] = "perceptron"
    variant: Literal["standard", "original"] = Field(
        "standard", description="'original': the deployed SUM perceptron (predicts 1 only "
        "when the score is above 0; on-chain updates never change the intercept).")
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
                 init_learning_rate: float | None = None, variant: str = "standard"):
        super().__init__(n_features, n_classes, sparse_input=sparse_input)
        if variant not in ("standard", "original"):
            raise ValueError(f"unknown perceptron variant {variant!r}")
        self.variant = variant
        #: The original predicts 1 only above 0 and never moves the intercept on-chain.
        self.strict = variant == "original"
        self._train_bias = not self.strict
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

    def _positive(self, m: float) -> bool:
        return m > 0 if self.strict else m >= 0

    def scores(self, x: np.ndarray) -> np.ndarray:
        return np.array([0.0, 1.0]) if self._positive(self.margin(x)) else np.array([1.0, 0.0])

    def predict(self, x: np.ndarray) -> int:
        # The hot path of every run: kept to one gather and one reduction.
        if self.sparse_input:
            m = self.b + _sum(self.w.take(x))
        else:
            m = self.b + self.w @ x
        return 1 if (m > 0 if self.strict else m >= 0) else 0

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

    def check_data(self, x: Matrix) -> None:
        """Fixed-point weights move by ``learning_rate x feature`` in whole units: a dense
        feature with a fractional part would move a weight by its whole part only (0.5: not
        at all), so the model would silently learn nothing from it."""
        if self.sparse_input or not self.fixed_point:
            return
        values = np.asarray(x.data if sparse.issparse(x) else x, dtype=np.float64)
        # A weight moves by at most step x |feature| per update, and there are at most
        # (epochs + 1) updates per sample (the initial fit's passes, one on chain): beyond
        # 2**63 the int64 weights would wrap around and the model learn garbage.
        big = float(np.max(np.abs(values))) if values.size else 0.0
        step = max(abs(self.lr), abs(self.init_lr))
        reach = big * step * x.shape[0] * (self.epochs + 1)
        if reach >= 2**63:
            raise ValueError(
                f"the fixed-point perceptron (model.fixed_point = true) moves a weight by "
                f"learning_rate x the feature in int64: with features up to {big:g} and a "
                f"step of {step:g}, {x.shape[0]:,} samples could move one by {reach:.3g}, "
                "beyond 2**63 (the weights would wrap around); scale the features down, lower "
                "the learning rates, or set model.fixed_point = false")
        fractional = values != np.trunc(values)
        if fractional.any():
            example = float(values[fractional].flat[0])
            raise ValueError(
                f"the fixed-point perceptron (model.fixed_point = true) moves a weight by "
                f"learning_rate x the feature in whole units, and {int(fractional.sum()):,} "
                f"feature values have fractions (e.g. {example:g}), which would move it by "
                "their whole part only; scale the features to whole numbers, or set "
                "model.fixed_point = false")

    def read_slots(self, x: np.ndarray) -> int:
        return (len(x) if self.sparse_input else self.n_features) + 1

    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        """Slots written: each present weight (and the bias, in the standard variant), as a
        new slot when it was zero, a cleared one when it becomes zero."""
        if self.sparse_input:
            # One gather serves the prediction and the plan (this runs for every add).
            before = self.w.take(x)
            if (1 if self._positive(self.b + _sum(before)) else 0) == y:
                return NO_UPDATE
            step = self.lr if y == 1 else -self.lr
            after = before + step
        else:
            if self.predict(x) == y:
                return NO_UPDATE
            step = self.lr if y == 1 else -self.lr
            nz = np.flatnonzero(x)
            before = self.w[nz]
            after = before + (step * x[nz]).astype(self.w.dtype)
        new = int(np.count_nonzero(before == 0))
        cleared = int(np.count_nonzero(after == 0))
        updated = len(before) - new - cleared
        if self._train_bias:
            b_after = self.b + step
            new += self.b == 0
            cleared += b_after == 0
            updated += self.b != 0 and b_after != 0
        return UpdatePlan(int(new), int(updated), True, int(cleared))

    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        if not plan.trains:
            return
        step = self.lr if y == 1 else -self.lr
        if self.sparse_input:
            self.w[x] += step
        else:
            self.w += (step * x).astype(self.w.dtype)
        if self._train_bias:
            self.b = self.b + step

    def compute_gas(self, x: np.ndarray, plan: UpdatePlan) -> ComputeGas:
        """The original SparsePerceptron's loops (see the module docstring): per present
        feature, not per slot (the intercept's read is outside the loop)."""
        n = len(x)  # present indices, or every element of a dense vector
        return ComputeGas(INTERP.perceptron_predict_per_feature * n,
                          INTERP.perceptron_update_per_feature * plan.writes,
                          3 * plan.writes)

    def scores_many(self, x: Matrix) -> np.ndarray:
        m = self.margins_many(x)
        s = (m > 0 if self.strict else m >= 0).astype(np.float64)
        return np.column_stack([1.0 - s, s])

    def margins_many(self, x: Matrix) -> np.ndarray:
        return np.asarray(as_matrix(x) @ self.w, dtype=np.float64) + float(self.b)

    def predict_many(self, x: Matrix) -> np.ndarray:
        m = self.margins_many(x)
        return (m > 0 if self.strict else m >= 0).astype(np.int64)

    def fit(self, x: Matrix, y: np.ndarray) -> Perceptron:
        """``epochs`` passes of the online rule, in data order, from zero weights.  Off-chain
        training always fits the intercept too (the original's deployer did)."""
        on_chain_lr, self.lr = self.lr, self.init_lr
        self._train_bias = True
        try:
            self._fit(x, y)
        finally:
            self.lr = on_chain_lr
            self._train_bias = not self.strict
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
        # intp indices: a gather or scatter with int32 ones converts them on every call
        indices: np.ndarray = np.asarray(mat.indices, dtype=np.intp)
        ptr = mat.indptr.tolist()
        labels = y.tolist()
        strict = self.strict
        for _ in range(self.epochs):
            for i, label in enumerate(labels):
                xi = indices[ptr[i]:ptr[i + 1]]
                m = b + _sum(w.take(xi))
                if (m > 0 if strict else m >= 0) != (label == 1):
                    step = lr if label == 1 else -lr
                    w[xi] += step
                    b += step
        self.b = w.dtype.type(b)  # type: ignore[assignment,arg-type]


plugin = Plugin(PerceptronConfig, Perceptron)
