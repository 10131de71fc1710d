"""The acceptance path defenses plug into.

A defense is a *gate* the contract consults in ``add_data`` after the deposit check and before
training.  It answers with a :class:`Verdict`: accept and train, accept without training, send
to human review, or reject (the call reverts with the defense's reason; the sender pays only
the fee).  Gates may keep state; they update it in :meth:`Gate.on_accepted`, which runs only once
the call can no longer revert, so a rejected call leaves no trace.

Each gate keeps a log of what it flagged (for false-rejection rates) and its own costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import Field

from sumsim.scenario.schema import Section

if TYPE_CHECKING:
    from sumsim.chain.chain import CallContext
    from sumsim.contract.data_handler import Contribution
    from sumsim.engine import Wiring


class Verdict(Enum):
    ACCEPT = "accept"
    NO_TRAIN = "accept_without_training"
    REVIEW = "review"
    REJECT = "reject"


@dataclass
class Flag:
    """One contribution a gate did not simply accept."""

    time: float
    sender: str
    label: int
    verdict: Verdict
    tag: str
    cid: int | None = None


@dataclass
class GateLog:
    flags: list[Flag] = field(default_factory=list)
    checked: int = 0
    checked_by: dict[str, int] = field(default_factory=dict)

    def count(self, sender: str) -> None:
        self.checked += 1
        self.checked_by[sender] = self.checked_by.get(sender, 0) + 1


class DefenseConfig(Section):
    kind: str
    name: str | None = Field(None, description="Label in outputs (default: the kind).")


class Gate:
    """Base class for defenses.  ``wire`` is called once the world exists."""

    config: DefenseConfig
    #: The revert reason of this gate's rejections.
    reason: str = ""

    def __init__(self, config: DefenseConfig):
        self.config = config
        self.name = config.name or config.kind
        self.log = GateLog()

    def wire(self, wiring: Wiring) -> None:
        """Hook for defenses that need the clock, the contract or other defenses."""

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        return Verdict.ACCEPT, ""

    def on_accepted(self, ctx: CallContext, rec: Contribution, verdict: Verdict) -> None:
        """State updates after a contribution is stored (never on a reverted call)."""

    def cost_wei(self) -> int:
        return 0

    def metrics(self) -> dict[str, Any]:
        return {}

    def sample(self) -> dict[str, Any]:
        """Columns this defense adds to the time series."""
        return {}
