"""Near-duplicate farming: resubmit slightly perturbed copies of data the model is sure of.

Each turn it looks (free views) at up to ``candidates`` random recent public contributions,
picks the one the model is most confident about under its stored label, toggles ``k`` random
features, and submits the copy.  With the stored label the copy is almost surely refunded:
the attacker earns "good data" credit (``num_valid``) for almost nothing, which raises its share
when it takes others' deposits, and repeated copies overfit the model to a few points.  With
``mislabel = true`` the copies carry the other label instead, dragging the model.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sumsim.agents.base import Attacker, AttackerConfig
from sumsim.registry import Plugin


class NearDuplicateConfig(AttackerConfig):
    kind: Literal["near_duplicate"]
    k: int = Field(2, ge=0, description="Features toggled in each copy.")
    window: int = Field(200, ge=1, le=1_000_000,
                        description="How many recent contributions it looks at.")
    candidates: int = Field(20, ge=1, le=1_000, description="Random candidates examined per "
                            "turn (a free view each: each turn's work grows with it).")
    mislabel: bool = Field(False, description="Submit the copies under the other label.")


def perturb(x: np.ndarray, k: int, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """Toggle ``k`` distinct random features of the sorted index set ``x``."""
    if k == 0:
        return x.copy()
    flip = rng.choice(n_features, size=min(k, n_features), replace=False)
    return np.setxor1d(x, flip.astype(x.dtype)).astype(x.dtype)


class NearDuplicate(Attacker):
    config: NearDuplicateConfig

    def contribute(self) -> None:
        cfg = self.config
        n = self.view("num_contributions")
        if n == 0:
            return
        lo = max(0, n - cfg.window)
        pick = self.rng.choice(np.arange(lo, n), size=min(cfg.candidates, n - lo), replace=False)
        recs = [self.view("contribution", int(c)) for c in np.sort(pick)]
        conf = np.array([self.view("confidence", r.x, r.y) for r in recs])
        src = recs[int(np.argmax(conf))]
        info = self.view("model_info")
        if not info["sparse_input"]:
            self.stopped = True  # perturbation is defined on feature sets
            return
        x = perturb(src.x, cfg.k, info["n_features"], self.rng)
        n = info["n_classes"]
        label = (src.y + self.rng.integers(1, n)) % n if cfg.mislabel else src.y
        pool_i = self.world.pool_index.get(src.id, -1)
        self.add(pool_i, x, int(label))


plugin = Plugin(
    NearDuplicateConfig, NearDuplicate,
    "Farms refunds with k-feature perturbations of confidently classified data.")
