"""The base of every defense: a gate on the contract's acceptance path.

A defense is one module: a config class (subclass :class:`DefenseConfig` with a literal
``kind``), a :class:`Gate` subclass, and a ``plugin``.  The contract consults gates in
``add_data`` (see :mod:`sumsim.contract.gates` for the verdicts and their order of precedence).
Each gate keeps a log of what it flagged (for false-rejection rates) and reports its own costs,
time-series columns and summary entries through the hooks below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from pydantic import Field

from sumsim.config import PluginConfig
from sumsim.contract.gates import Flag, GateLog, Verdict

if TYPE_CHECKING:
    from sumsim.chain.chain import CallContext
    from sumsim.contract.data_handler import Contribution
    from sumsim.world import World

__all__ = ["DefenseConfig", "Flag", "Gate", "GateLog", "Verdict"]


class DefenseConfig(PluginConfig):
    """Options every defense has."""

    name: str | None = Field(None, description="Label in outputs (default: the kind); two "
                             "defenses of one scenario need different names.")
    #: Services this defense offers other defenses (e.g. ``"review"``: it takes contributions
    #: sent to human review).
    provides: ClassVar[frozenset[str]] = frozenset()


class Gate:
    """Base class for defenses.  :meth:`wire` is called once the world exists."""

    config: DefenseConfig
    #: The revert reason of this gate's rejections.
    reason: str = ""

    def __init__(self, config: DefenseConfig):
        self.config = config
        self.name = config.name or config.kind
        self.log = GateLog()

    def wire(self, world: World) -> None:
        """Hook for defenses that need the clock, the contract or simulation knowledge."""

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        return Verdict.ACCEPT, ""

    def on_accepted(self, ctx: CallContext, rec: Contribution, verdict: Verdict) -> None:
        """State updates after a contribution is stored (never on a reverted call)."""

    def cost_wei(self) -> int:
        """What running the defense cost so far (off-chain labour, in wei)."""
        return 0

    def metrics(self, attackers: frozenset[str]) -> dict[str, Any]:
        """Entries this defense adds to its summary section (``attackers``: the addresses of
        attacking agents, simulation knowledge for measuring false positives)."""
        return {}

    def sample(self) -> dict[str, Any]:
        """Columns this defense adds to the time series."""
        return {}
