"""The probation defense: newcomers' contributions are stored, but not trained on, until the
contract has refunded some of their data.

A refund under Deposit-Refund-Take means the model agreed with a contribution after the
refund wait: a track record.  An address with fewer than ``refunds_required`` refunds is on
probation: its contributions are accepted (the deposit is kept and can be refunded or taken as
usual) but the model does not learn from them.  A label flipper on probation pays deposits
without moving the model; the price is that an honest newcomer's first contributions are not
learned from either.

The gate learns of refunds from the chain's receipts, public information any node sees.  It
uses only :mod:`sumsim.plugin`.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sumsim.plugin import (
    CallContext,
    Contribution,
    DefenseConfig,
    Gate,
    Plugin,
    Receipt,
    Tx,
    Verdict,
    World,
)


class ProbationConfig(DefenseConfig):
    kind: Literal["probation"]
    refunds_required: int = Field(1, ge=0, description="Refunds an address needs before the "
                                  "model trains on its contributions (0: no probation).")


class Probation(Gate):
    """Stores contributions of addresses without refunded data untrained (probation)."""

    config: ProbationConfig

    def __init__(self, config: ProbationConfig):
        super().__init__(config)
        self.refunds: dict[str, int] = {}
        self.untrained: dict[str, int] = {}

    def wire(self, world: World) -> None:
        self.contract = world.contract
        world.chain.receipt_hooks.append(self._on_receipt)

    def _on_receipt(self, tx: Tx, receipt: Receipt) -> None:
        if receipt.ok and tx.to == self.contract and tx.method == "refund":
            self.refunds[tx.sender] = self.refunds.get(tx.sender, 0) + 1

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        if self.refunds.get(ctx.sender, 0) < self.config.refunds_required:
            return Verdict.NO_TRAIN, ""
        return Verdict.ACCEPT, ""

    def on_accepted(self, ctx: CallContext, rec: Contribution, verdict: Verdict) -> None:
        if rec.status == "untrained":
            self.untrained[ctx.sender] = self.untrained.get(ctx.sender, 0) + 1

    def metrics(self, attackers: frozenset[str]) -> dict[str, Any]:
        return {
            "untrained_attacker": sum(n for a, n in self.untrained.items() if a in attackers),
            "untrained_honest": sum(n for a, n in self.untrained.items() if a not in attackers),
        }

    def sample(self) -> dict[str, Any]:
        return {"probation_untrained": sum(self.untrained.values())}


plugin = Plugin(ProbationConfig, Probation)
