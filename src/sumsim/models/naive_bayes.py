"""Multinomial naive Bayes with Laplace smoothing, over counts kept as integers.

State: per-class sample counts, per-class per-feature counts and per-class feature totals (all
int64, exactly what a contract stores).  The log-probabilities are computed from those counts on
demand in float64 (a contract would use a fixed-point log table; the ranking of classes is what
matters for predictions).  Priors are the empirical class frequencies, as scikit-learn's
``MultinomialNB(fit_prior=True)``.

Gas (:meth:`NaiveBayes.compute_gas`; not calibrated on an EVM, derived from the perceptron's
fitted loop rates): a prediction reads, per class, the count of every present feature, the
class count and the feature total; each count costs the perceptron's per-slot loop body plus a
fixed-point multiplication and division of the running probability (two checked operations,
``CHECKED_MULDIV`` each).  An update increments one count per present feature plus the class
count and total: a ``+=`` each, as the perceptron's.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy import sparse

from sumsim.data.base import Matrix
from sumsim.models.base import (
    CHECKED_MULDIV,
    PREDICT_PER_SLOT,
    UPDATE_PER_SLOT,
    ComputeGas,
    Model,
    ModelConfig,
    UpdatePlan,
    as_matrix,
)
from sumsim.registry import Plugin


class NaiveBayesConfig(ModelConfig):
    kind: Literal["naive_bayes"]
    alpha: float = Field(1.0, gt=0, description="Laplace smoothing.")


class NaiveBayes(Model):
    """Multinomial naive Bayes over integer counts, Laplace-smoothed."""

    kind = "naive_bayes"

    def __init__(self, n_features: int, n_classes: int = 2, *, sparse_input: bool = True,
                 alpha: float = 1.0):
        super().__init__(n_features, n_classes, sparse_input=sparse_input)
        if alpha <= 0:
            raise ValueError("alpha must be positive")
        self.alpha = float(alpha)
        self.class_counts = np.zeros(self.n_classes, dtype=np.int64)
        self.feature_counts = np.zeros((self.n_classes, self.n_features), dtype=np.int64)
        self.feature_totals = np.zeros(self.n_classes, dtype=np.int64)

    def _log_prior(self) -> np.ndarray:
        total = self.class_counts.sum()
        with np.errstate(divide="ignore"):
            if total == 0:
                return np.zeros(self.n_classes)
            return np.log(self.class_counts) - np.log(total)

    def _log_norm(self) -> np.ndarray:
        return np.log(self.feature_totals + self.alpha * self.n_features)

    def scores(self, x: np.ndarray) -> np.ndarray:
        if self.sparse_input:
            ll = np.log(self.feature_counts[:, x] + self.alpha).sum(axis=1)
            n: float = len(x)
        else:
            ll = np.log(self.feature_counts + self.alpha) @ x
            n = float(np.sum(x))
        return self._log_prior() + ll - n * self._log_norm()

    def confidence(self, x: np.ndarray, label: int) -> float:
        s = self.scores(x)
        s = s - np.max(s)
        p = np.exp(s)
        return float(p[label] / p.sum())

    def confidence_many(self, x: Matrix, labels: np.ndarray) -> np.ndarray:
        s = self.scores_many(x)
        s = s - s.max(axis=1, keepdims=True)
        p = np.exp(s)
        p /= p.sum(axis=1, keepdims=True)
        return p[np.arange(len(p)), np.asarray(labels)]

    def read_slots(self, x: np.ndarray) -> int:
        per_class = len(x) if self.sparse_input else self.n_features
        return self.n_classes * (per_class + 2)

    def compute_gas(self, x: np.ndarray, plan: UpdatePlan) -> ComputeGas:
        """Per count read: a lookup and addition plus a fixed-point multiply and divide; per
        count written: a ``+=`` (see the module docstring)."""
        return ComputeGas((PREDICT_PER_SLOT + 2 * CHECKED_MULDIV) * self.read_slots(x),
                          UPDATE_PER_SLOT * plan.writes, plan.writes)

    def _present(self, x: np.ndarray) -> np.ndarray:
        return x if self.sparse_input else np.flatnonzero(x)

    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        idx = self._present(x)
        new = int(np.count_nonzero(self.feature_counts[y, idx] == 0))
        new += int(self.class_counts[y] == 0) + int(self.feature_totals[y] == 0)
        return UpdatePlan(new, len(idx) + 2 - new, True)

    def check_data(self, x: Matrix) -> None:
        if not self.sparse_input and np.any(np.rint(np.asarray(x)) < 0):
            raise ValueError("naive Bayes needs non-negative feature counts; the data has "
                             "negative values")

    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        if self.sparse_input:
            self.feature_counts[y, x] += 1
            self.feature_totals[y] += len(x)
        else:
            counts = np.rint(x).astype(np.int64)
            if np.any(counts < 0):
                raise ValueError("naive Bayes needs non-negative feature counts")
            self.feature_counts[y] += counts
            self.feature_totals[y] += int(counts.sum())
        self.class_counts[y] += 1

    def scores_many(self, x: Matrix) -> np.ndarray:
        mat = as_matrix(x)
        log_fc = np.log(self.feature_counts + self.alpha)
        ll = np.asarray(mat @ log_fc.T)
        n = np.asarray(mat.sum(axis=1)).reshape(-1, 1)
        return self._log_prior() + ll - n * self._log_norm()

    def fit(self, x: Matrix, y: np.ndarray) -> NaiveBayes:
        mat = as_matrix(x)
        y = np.asarray(y)
        onehot = sparse.csr_matrix(
            (np.ones(len(y)), (np.arange(len(y)), y)), shape=(len(y), self.n_classes)
        )
        fc = np.asarray((onehot.T @ mat).todense() if sparse.issparse(mat) else onehot.T @ mat)
        self.feature_counts = np.rint(fc).astype(np.int64)
        self.feature_totals = self.feature_counts.sum(axis=1)
        self.class_counts = np.bincount(y, minlength=self.n_classes).astype(np.int64)
        return self


plugin = Plugin(NaiveBayesConfig, NaiveBayes)
