"""Per-address rate limit: at most ``max_contributions`` per sliding ``window_s`` (block time)."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from sumsim.defenses.base import DefenseConfig, Gate, Verdict
from sumsim.registry import Plugin

if TYPE_CHECKING:
    from sumsim.chain.chain import CallContext
    from sumsim.contract.data_handler import Contribution

LIMITED = "Rate limit exceeded for this address."


class RateLimitConfig(DefenseConfig):
    kind: Literal["rate_limit"]
    max_contributions: int = Field(1, ge=1, description="Contributions an address may add per "
                                   "window.")
    window_s: float = Field(3600, gt=0, description="The sliding window (block time).")


class RateLimit(Gate):
    config: RateLimitConfig
    reason = LIMITED

    def __init__(self, config: RateLimitConfig):
        super().__init__(config)
        self._recent: dict[str, deque[float]] = {}

    def _window(self, sender: str, now: float) -> deque[float]:
        q = self._recent.setdefault(sender, deque())
        while q and q[0] <= now - self.config.window_s:
            q.popleft()
        return q

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        if len(self._window(ctx.sender, ctx.now)) >= self.config.max_contributions:
            return Verdict.REJECT, LIMITED
        return Verdict.ACCEPT, ""

    def on_accepted(self, ctx: CallContext, rec: Contribution, verdict: Verdict) -> None:
        self._window(ctx.sender, ctx.now).append(ctx.now)


plugin = Plugin(RateLimitConfig, RateLimit, "At most N contributions per address per time window.")
