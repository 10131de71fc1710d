"""The mirror attacker: answers each new honest contribution with its mirror image.

Each turn it reads the public list of contributions (a free view), picks the newest one by
someone else that it has not mirrored yet, and submits the same features with the other label.
A perceptron that trained on the honest sample is pulled straight back, so every mirrored pair
cancels out, at the price of one deposit.  Under Deposit-Refund-Take the mirror's deposit comes
back only if the model ends up agreeing with the flipped label, and honest reporters may take
it; the question it asks is how much it costs to stall learning entirely.

Uses only :mod:`sumsim.plugin`, the surface promised to plug-in authors.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sumsim.plugin import Attacker, AttackerConfig, Plugin


class MirrorConfig(AttackerConfig):
    kind: Literal["mirror"]
    lag: int = Field(0, ge=0, description="Skip this many of the newest contributions (a "
                     "delay, so the honest sample has been trained on for a while).")


class Mirror(Attacker):
    """Submits each new honest contribution again with the other label."""

    config: MirrorConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen = 0

    def has_material(self) -> bool:
        return not self.world.pool.exhausted  # honest agents still have data to contribute

    def contribute(self) -> None:
        newest = self.view("num_contributions") - self.config.lag
        for rec in reversed(self.view("contributions", self._seen)[: max(0, newest - self._seen)]):
            if rec.author == self.name:
                continue
            label = (rec.y + 1) % self.world.n_classes
            if self.add(-1, rec.x, label):
                self._seen = rec.id + 1
            return
        self._seen = max(self._seen, newest)


plugin = Plugin(MirrorConfig, Mirror)
