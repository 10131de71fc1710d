"""The takeover: flood flipped labels until the model agrees with them, then stop paying.

A flipper that adds often enough outweighs the honest contributors: the model comes to agree
with its wrong labels, so after ``t_r`` its deposits come back as refunds and the attack costs
little more than gas (the regime where DRT's bound on damage per ether fails).  Flooding is
not free, though: the deposit rises as the gap between adds shrinks, and once the model agrees
with the attacker's labels accuracy stops falling while deposits keep going out.

So the takeover measures its marginal damage from public information only: after each turn it
notes its outlay (deposits and fees sent for adds, refunds not subtracted) and the accuracy on
the public dashboard.  When the last ``window_eth`` of outlay (and at least ``window_s``, so the
dashboard has published meanwhile) bought fewer than ``min_damage_per_eth`` points of accuracy
lost per ether, it stops contributing (it still claims its refunds).  Its rate is its
``interval_s`` (short, to flood).
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any, Literal

from pydantic import Field

from sumsim.agents.base import Attacker, AttackerConfig
from sumsim.chain import Receipt, Tx
from sumsim.config import Ether
from sumsim.registry import Plugin
from sumsim.units import WEI_PER_ETHER


class TakeoverConfig(AttackerConfig):
    kind: Literal["takeover"]
    min_damage_per_eth: float = Field(
        0.1, ge=0, description="Stop when the last window of outlay removed fewer points of "
        "public accuracy than this per ether (points: 1 = one percentage point).")
    window_eth: Ether = Field(
        50, gt=0, description="Outlay (deposits plus fees, ether) over which the marginal "
        "damage is measured; no stop before this much has been spent.")
    window_s: float = Field(
        86_400, ge=0, description="The window also spans at least this long, so that the "
        "dashboard (which publishes periodically) has published within it.")


class Takeover(Attacker):
    """Floods flipped labels; stops when marginal damage per ether falls below a floor."""

    config: TakeoverConfig
    summary_key = "takeover"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        #: Wei sent for mined adds: deposits net of change, plus fees.
        self.outlay = 0
        #: Time, outlay and public accuracy at each turn, oldest first (none decreases).
        self.times: list[float] = []
        self.outlays: list[int] = []
        self.accuracies: list[float] = []
        self.stopped_at: float | None = None
        self.stop_rate: float | None = None

    def on_receipt(self, tx: Tx, receipt: Receipt) -> None:
        if tx.method == "add_data":
            change = sum(a for to, a, memo in receipt.payments
                         if to == self.name and memo == "change")
            self.outlay += receipt.fee + (tx.value - change if receipt.ok else 0)

    def marginal_damage(self) -> float | None:
        """Points of public accuracy lost per ether over the last ``window_eth`` of outlay
        and ``window_s`` of time (None until both have passed)."""
        cfg = self.config
        now_out, now_acc = self.outlays[-1], self.accuracies[-1]
        # the latest turn at least a window of outlay and a window of time before this one
        j = min(bisect_right(self.outlays, now_out - cfg.window_eth),
                bisect_right(self.times, self.times[-1] - cfg.window_s)) - 1
        if j < 0 or self.outlays[j] == now_out:
            return None
        return 100 * (self.accuracies[j] - now_acc) / ((now_out - self.outlays[j]) / WEI_PER_ETHER)

    def contribute(self) -> None:
        acc = self.world.public_accuracy
        if acc == acc:
            self.times.append(self.world.env.now)
            self.outlays.append(self.outlay)
            self.accuracies.append(acc)
            rate = self.marginal_damage()
            if rate is not None and rate < self.config.min_damage_per_eth:
                self.stopped = True
                self.stopped_at = self.world.env.now
                self.stop_rate = rate
                return
        self.add_from_pool(flip=True)

    def summary_section(self) -> dict[str, Any]:
        return {"stopped_by_rule": self.stopped_at is not None, "stopped_at_s": self.stopped_at,
                "damage_per_eth_at_stop": self.stop_rate, "outlay_wei": self.outlay}


plugin = Plugin(
    TakeoverConfig, Takeover,
    "Floods flipped labels until the model agrees; stops when damage per ether falls.")
