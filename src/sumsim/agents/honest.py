"""The honest contributor: true labels from the pool, with mistakes and optional conformity.

Participation is gated by the model's public accuracy: each turn it contributes with
probability ``min(1, accuracy + accuracy_bonus)`` (the original simulation used +0.15), so a
model wrecked by an attack loses its honest contributors.  With ``conformity > 0`` it relabels
a sample to the model's prediction when they disagree (the under-trained-model feedback loop).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sumsim.agents.base import Agent, AgentConfig
from sumsim.registry import Plugin


class HonestConfig(AgentConfig):
    kind: Literal["honest"]
    mistake_rate: float = Field(0.0, ge=0, le=1, description="Chance of a wrong label.")
    accuracy_gated: bool = Field(True, description="Contribute with probability "
                                 "min(1, public accuracy + accuracy_bonus).")
    accuracy_bonus: float = Field(0.15, ge=0, le=1, description="Added to the public "
                                  "accuracy to give the chance of contributing on a turn.")
    conformity: float = Field(0.0, ge=0, le=1, description="Chance of relabelling to the "
                              "model's prediction when it disagrees with the true label.")
    skip_ambiguous: bool = Field(False, description="Leave ambiguous samples in the pool "
                                 "(a cautious contributor).")


class Honest(Agent):
    config: HonestConfig

    def has_material(self) -> bool:
        pool = self.world.pool
        if self.config.skip_ambiguous:
            return pool.next_where(~pool.ambiguous) is not None
        return not pool.exhausted

    def contribute(self) -> None:
        cfg = self.config
        acc = self.world.public_accuracy
        gate = min(1.0, acc + cfg.accuracy_bonus)
        if cfg.accuracy_gated and acc == acc and self.rng.random() >= gate:
            return
        pool = self.world.pool
        if cfg.skip_ambiguous:
            i = pool.next_where(~pool.ambiguous)
        else:
            i = pool.peek()
        if i is None:
            return
        x = pool.sample(i)
        label = int(pool.y[i])
        if cfg.mistake_rate and self.rng.random() < cfg.mistake_rate:
            n = self.world.n_classes
            label = int((label + self.rng.integers(1, n)) % n)
        if cfg.conformity:
            predicted = self.view("predict", x)
            if predicted != label and self.rng.random() < cfg.conformity:
                label = predicted
        if self.add(i, x, label):
            pool.take(i)


plugin = Plugin(
    HonestConfig, Honest,
    "Contributes true labels from the pool; claims refunds; reports bad data.")
