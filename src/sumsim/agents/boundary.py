"""Confidence-boundary poisoning: mislabel the samples the model is least sure about.

At the start it takes ``candidates`` samples from the pool (its private stock).  Each turn it
asks the model (free views) for its confidence in every remaining candidate, picks the one whose
predicted class has the lowest confidence (closest to the decision boundary) and submits it
with a wrong label.  There a single update moves the decision most, and after it the model is
likeliest to agree with the attacker, so the deposit may even come back as a refund.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sumsim.agents.base import Attacker, AttackerConfig
from sumsim.registry import Plugin


class BoundaryConfig(AttackerConfig):
    kind: Literal["boundary"]
    candidates: int = Field(500, ge=1, description="Samples reserved from the pool at start.")


class Boundary(Attacker):
    config: BoundaryConfig

    def _stock(self) -> np.ndarray:
        if not hasattr(self, "_candidates"):
            pool = self.world.pool
            taken = []
            for _ in range(self.config.candidates):
                i = pool.take()
                if i is None:
                    break
                taken.append(i)
            self._candidates = np.array(taken, dtype=np.int64)
        return self._candidates

    def pick(self) -> int | None:
        """Position (in the stock) of the candidate nearest the decision boundary."""
        stock = self._stock()
        if stock.size == 0:
            return None
        x = self.world.pool.samples(stock)
        n_classes = self.world.n_classes
        conf = np.column_stack([
            self.view("confidence_many", x, np.full(stock.size, k)) for k in range(n_classes)])
        return int(np.argmin(conf.max(axis=1)))

    def has_material(self) -> bool:
        if not hasattr(self, "_candidates"):
            return not self.world.pool.exhausted
        return self._candidates.size > 0

    def contribute(self) -> None:
        j = self.pick()
        if j is None:
            self.stopped = True
            return
        i = int(self._candidates[j])
        true = int(self.world.pool.y[i])
        label = (true + 1) % self.world.n_classes
        if self.add(i, self.world.pool.sample(i), label):
            self._candidates = np.delete(self._candidates, j)


plugin = Plugin(
    BoundaryConfig, Boundary,
    "Mislabels the candidates nearest the decision boundary (confidence poisoning).")
