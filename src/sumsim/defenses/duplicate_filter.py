"""Duplicate filter: reject contributions within a Hamming radius of a recent one.

Feature sets are compared exactly: for binary samples ``A`` and ``B`` the Hamming distance is
``|A| + |B| - 2 |A & B|``.  The last ``window`` stored contributions are kept as rows of a dense
0/1 matrix, so the overlap with every one of them is one gather and one row sum (no Python loop
over candidates).  ``radius = 0`` catches exact copies only.  With ``same_label_only`` a copy
under the other label is not a duplicate (it is a disagreement, for other defenses to judge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from sumsim.defenses.base import DefenseConfig, Gate, Verdict
from sumsim.errors import FieldError, InputError
from sumsim.registry import Plugin

if TYPE_CHECKING:
    from sumsim.chain.chain import CallContext
    from sumsim.contract.data_handler import Contribution
    from sumsim.world import World

DUPLICATE = "Rejected: duplicate of a recent contribution."


#: Most cells of the window matrix (int16: 1 GB).
MAX_CELLS = 500_000_000


class DuplicateFilterConfig(DefenseConfig):
    kind: Literal["duplicate_filter"]
    radius: int = Field(4, ge=0, description="Largest Hamming distance counted as a duplicate.")
    window: int = Field(2000, ge=1, le=1_000_000,
                        description="How many recent contributions to compare.")
    same_label_only: bool = Field(False, description="Count only near copies submitted with "
                                  "the same label.")

    def check_scenario(self, scenario: Any, at: tuple[str | int, ...]) -> None:
        data = scenario.data
        n = data.synthetic.n_features if data.dataset == "synthetic" else \
            data.num_words if data.dataset == "imdb" or data.text_column else None
        if n is not None and self.window * n > MAX_CELLS:
            raise FieldError(f"a window of {self.window:,} contributions x {n:,} features "
                             f"needs {2 * self.window * n / 1e9:.1f} GB; at most "
                             f"{2 * MAX_CELLS / 1e9:g} GB", *at, "window")


class DuplicateFilter(Gate):
    config: DuplicateFilterConfig
    reason = DUPLICATE

    def wire(self, world: World) -> None:
        n = world.trainer.model.n_features
        w = self.config.window
        if w * n > MAX_CELLS:  # the window is a dense (window x features) int16 matrix
            raise InputError(f"a window of {w:,} contributions x {n:,} features needs "
                             f"{2 * w * n / 1e9:.1f} GB; at most {2 * MAX_CELLS / 1e9:g} GB",
                             field=f"defenses ({self.name}).window")
        self._rows = np.zeros((w, n), dtype=np.int16)
        self._sizes = np.zeros(w, dtype=np.int64)
        self._labels = np.zeros(w, dtype=np.int64)
        self._next = 0
        #: Slots filled so far (the window fills from slot 0; a check looks at these only, so
        #: a large window costs nothing until contributions fill it).
        self._filled = 0
        self.sparse = world.trainer.model.sparse_input

    def _present(self, x: np.ndarray) -> np.ndarray:
        return x if self.sparse else np.flatnonzero(x)

    def nearest(self, x: np.ndarray, y: int) -> int:
        """Smallest Hamming distance to a remembered contribution (a large number if none)."""
        idx = self._present(x)
        k = self._filled
        if not k:
            return 1 << 30
        sizes = self._sizes[:k]
        overlap = self._rows[:k, idx].sum(axis=1, dtype=np.int64)
        dist = sizes + len(idx) - 2 * overlap
        if self.config.same_label_only:
            dist = dist[self._labels[:k] == y]
            if not len(dist):
                return 1 << 30
        return int(dist.min())

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        if self.nearest(x, y) <= self.config.radius:
            return Verdict.REJECT, DUPLICATE
        return Verdict.ACCEPT, ""

    def on_accepted(self, ctx: CallContext, rec: Contribution, verdict: Verdict) -> None:
        slot = self._next
        self._rows[slot] = 0
        idx = self._present(rec.x)
        self._rows[slot, idx] = 1
        self._sizes[slot] = len(idx)
        self._labels[slot] = rec.y
        self._next = (slot + 1) % self.config.window
        self._filled = max(self._filled, slot + 1)


plugin = Plugin(
    DuplicateFilterConfig, DuplicateFilter,
    "Reject contributions within a Hamming radius of a recent one.")
