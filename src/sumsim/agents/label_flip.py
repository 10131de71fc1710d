"""The label-flipping attacker: pool samples submitted with a wrong label.

With ``target_class`` set it only takes samples of another class and labels them as the
target (pushing the model towards one class); otherwise every sample it takes is flipped.
It has a finite budget: it never lets its spend (starting balance minus balance) plus the next
deposit and maximum fee exceed ``budget``.  It stops early when the public accuracy falls to
``stop_at_accuracy``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sumsim.agents.base import Attacker, AttackerConfig
from sumsim.errors import InputError
from sumsim.registry import Plugin
from sumsim.world import World


class LabelFlipConfig(AttackerConfig):
    kind: Literal["label_flip"]
    target_class: int | None = Field(None, ge=0, description="Only submit this label.")


class LabelFlip(Attacker):
    """Submits pool samples with flipped labels within a finite budget."""

    config: LabelFlipConfig

    def __init__(self, config: LabelFlipConfig, world: World, rng: np.random.Generator):
        super().__init__(config, world, rng)
        target, n = config.target_class, world.n_classes
        if target is not None and target >= n:  # (every add would revert "Unknown class.")
            raise InputError(f"{target} is not a class of the dataset (0 to {n - 1}); agent "
                             f"{config.name!r}", field="target_class")

    def contribute(self) -> None:
        pool = self.world.pool
        target = self.config.target_class
        if target is None:
            i = pool.peek()
        else:
            i = pool.next_where(pool.y != target)
        if i is None:
            if target is not None:
                self.stopped = True
            return
        true = int(pool.y[i])
        label = target if target is not None else 1 - true if self.world.n_classes == 2 \
            else int((true + 1) % self.world.n_classes)
        if self.add(i, pool.sample(i), label):
            pool.take(i)


plugin = Plugin(LabelFlipConfig, LabelFlip)
