"""Nearest centroid: one running mean per class, predict the class of the nearest (Euclidean).

Fixed-point mode stores centroids as int64 scaled by ``SCALE`` and updates them with floor
division, ``c <- (c * n + x * SCALE) // (n + 1)``, as integer contract code would; otherwise
float64.  Squared distances use ``|x|^2 - 2 x.c + |c|^2`` so one sparse dot product per class
suffices.  Confidence is relative distance: ``(1/d_label) / sum_k (1/d_k)``.

An update rewrites every centroid coordinate that changes (a dense write), which is why this
model is the expensive one to train on-chain.

Gas (:meth:`NearestCentroid.compute_gas`; not calibrated on an EVM, derived from the
perceptron's fitted loop rates): a prediction reads every coordinate of every centroid and
each class's count; per coordinate the perceptron's per-slot loop body plus one checked
multiplication (the squared difference).  An update recomputes every coordinate of the
label's centroid, ``(c * n + x) // (n + 1)``: the perceptron's ``+=`` body plus a checked
multiplication and division per coordinate, and writes those that change.
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

SCALE = 10**9
_INT64_MAX = 2**63 - 1


def _overflow(value: float, n: int) -> str:
    return (f"the fixed-point nearest centroid (model.fixed_point = true) updates a centroid "
            f"as (c * n + x * 1e9) // (n + 1) in int64: feature values up to {value:.4g} with up "
            f"to {n:,} samples in a class pass 2**63 (the arithmetic would wrap around); scale "
            f"the features below {_INT64_MAX / SCALE / (n + 1):.4g} or set "
            "model.fixed_point = false")


class NearestCentroidConfig(ModelConfig):
    kind: Literal["nearest_centroid"]
    fixed_point: bool = Field(True, description="Integer (int64, x1e9) centroids as in a "
                              "contract.")


class NearestCentroid(Model):
    """One running mean per class; predicts the class of the nearest centroid."""

    kind = "nearest_centroid"

    def __init__(self, n_features: int, n_classes: int = 2, *, sparse_input: bool = True,
                 fixed_point: bool = False):
        super().__init__(n_features, n_classes, sparse_input=sparse_input)
        self.fixed_point = fixed_point
        self.scale = SCALE if fixed_point else 1
        self.centroids = np.zeros((self.n_classes, self.n_features),
                                  dtype=np.int64 if fixed_point else np.float64)
        self.counts = np.zeros(self.n_classes, dtype=np.int64)
        self._sq = np.zeros(self.n_classes)

    def _real(self) -> np.ndarray:
        return self.centroids / self.scale if self.fixed_point else self.centroids

    def _refresh(self) -> None:
        c = self._real()
        self._sq = np.einsum("ij,ij->i", c, c)

    def _sq_dist(self, x: np.ndarray) -> np.ndarray:
        c = self._real()
        if self.sparse_input:
            return len(x) - 2.0 * c[:, x].sum(axis=1) + self._sq
        return float(x @ x) - 2.0 * (c @ x) + self._sq

    def scores(self, x: np.ndarray) -> np.ndarray:
        d = self._sq_dist(x)
        return np.where(self.counts > 0, -d, -np.inf)

    def confidence(self, x: np.ndarray, label: int) -> float:
        trained = self.counts > 0
        if not trained.any():
            return 1.0 / self.n_classes
        if not trained[label]:
            return 0.0
        d = np.where(trained, np.sqrt(np.maximum(self._sq_dist(x), 0.0)), np.inf)
        if np.any(d == 0):
            return float(d[label] == 0) / float(np.count_nonzero(d == 0))
        inv = 1.0 / d
        return float(inv[label] / inv.sum())

    def read_slots(self, x: np.ndarray) -> int:
        return self.n_classes * (self.n_features + 1)

    def _new_centroid(self, x: np.ndarray, y: int) -> np.ndarray:
        n = int(self.counts[y])
        dense = np.zeros(self.n_features, dtype=self.centroids.dtype)
        if self.sparse_input:
            dense[x] = self.scale
        else:
            dense[:] = x * self.scale if not self.fixed_point else np.rint(x * self.scale)
        if self.fixed_point:
            # c * n + x in int64: checked, as contract code would (numpy wraps around)
            big = int(np.abs(self.centroids[y]).max(initial=0)) * n + \
                int(np.abs(dense).max(initial=0))
            if big > _INT64_MAX:
                raise ValueError(_overflow(big / self.scale / max(n, 1), n))
            return (self.centroids[y] * n + dense) // (n + 1)
        return (self.centroids[y] * n + dense) / (n + 1)

    def check_data(self, x: Matrix) -> None:
        """Fixed point: a centroid (up to the largest feature value x 1e9) times its count
        (up to every sample) must fit int64 in the update ``(c * n + x) // (n + 1)``."""
        if not self.fixed_point or self.sparse_input:
            return  # (sparse samples are indicators: centroids stay within 1e9)
        mat = as_matrix(x)
        values = mat.data if sparse.issparse(mat) else mat
        big = float(np.max(np.abs(values))) if np.size(values) else 0.0
        n = mat.shape[0]
        if big * self.scale * (n + 1) > _INT64_MAX:
            raise ValueError(_overflow(big, n))

    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        old = self.centroids[y]
        new = self._new_centroid(x, y)
        changed = old != new
        fresh = int(np.count_nonzero(changed & (old == 0))) + int(self.counts[y] == 0)
        cleared = int(np.count_nonzero(changed & (new == 0)))
        return UpdatePlan(fresh, int(np.count_nonzero(changed)) + 1 - fresh - cleared, True,
                          cleared)

    def compute_gas(self, x: np.ndarray, plan: UpdatePlan) -> ComputeGas:
        """Per coordinate read: a lookup and addition plus a checked multiplication; an update
        loops over every coordinate of one centroid (see the module docstring)."""
        update = (UPDATE_PER_SLOT + 2 * CHECKED_MULDIV) * (self.n_features + 1) \
            if plan.trains else 0.0
        return ComputeGas((PREDICT_PER_SLOT + CHECKED_MULDIV) * self.read_slots(x), update,
                          plan.writes)

    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        self.centroids[y] = self._new_centroid(x, y)
        self.counts[y] += 1
        self._refresh()

    def scores_many(self, x: Matrix) -> np.ndarray:
        mat = as_matrix(x)
        c = self._real()
        xc = np.asarray(mat @ c.T)
        xx = np.asarray(mat.multiply(mat).sum(axis=1)).reshape(-1, 1) if hasattr(mat, "multiply") \
            else np.einsum("ij,ij->i", mat, mat).reshape(-1, 1)
        d = xx - 2.0 * xc + self._sq
        return np.where(self.counts > 0, -d, -np.inf)

    def fit(self, x: Matrix, y: np.ndarray) -> NearestCentroid:
        mat = as_matrix(x)
        y = np.asarray(y)
        for k in range(self.n_classes):
            sel = y == k
            n = int(sel.sum())
            self.counts[k] = n
            if n:
                mean = np.asarray(mat[sel].mean(axis=0)).ravel()
                self.centroids[k] = np.floor(mean * SCALE) if self.fixed_point else mean
        self._refresh()
        return self


plugin = Plugin(NearestCentroidConfig, NearestCentroid)
