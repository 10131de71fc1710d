"""The label-flipping attacker: pool samples submitted with a wrong label.

With ``target_class`` set it only takes samples of another class and labels them as the
target (pushing the model towards one class); otherwise every sample it takes is flipped.
It has a finite budget: it never lets its spend (starting balance minus balance) plus the next
deposit and maximum fee exceed ``budget``.  It stops early when the public accuracy falls to
``stop_at_accuracy``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from sumsim.agents.base import Agent, AgentConfig
from sumsim.scenario.units import Ether


class AttackerConfig(AgentConfig):
    """Options every attacker has."""

    budget: Ether | None = Field(None, description="Most it will spend (ether); default: "
                                 "its whole balance.")
    stop_at_accuracy: float | None = Field(None, ge=0, le=1, description="Stop once the "
                                           "public accuracy is at or below this.")


class LabelFlipConfig(AttackerConfig):
    kind: Literal["label_flip"]
    target_class: int | None = Field(None, ge=0, description="Only submit this label.")


class Attacker(Agent):
    """Budget and stop-rule handling shared by attackers."""

    config: AttackerConfig
    is_attacker = True

    @property
    def spent(self) -> int:
        return max(0, self.initial_balance - self.balance)

    def within_budget(self, value: int) -> bool:
        budget = self.config.budget
        if budget is None:
            return True
        worst = self.spent + self.committed + value + self.world.tx_gas_limit * self.gas_price
        return worst <= budget

    def wants_to_contribute(self) -> bool:
        acc = self.world.public_accuracy
        stop = self.config.stop_at_accuracy
        if stop is not None and acc == acc and acc <= stop:
            self.stopped = True
        return super().wants_to_contribute()

    def may_spend(self, deposit: int) -> bool:
        if self.within_budget(deposit):
            return True
        if self.pending_adds == 0 and self.config.budget is not None:
            self.stopped = self.spent + self.world.tx_gas_limit * self.gas_price > \
                self.config.budget
        return False


class LabelFlip(Attacker):
    config: LabelFlipConfig

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
