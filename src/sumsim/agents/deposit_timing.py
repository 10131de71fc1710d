"""Deposit timing: a label flipper that adds only when the deposit is cheap.

Under Deposit-Refund-Take the deposit falls with the idle time since the last add by anyone
(``w * 3600 // isqrt(dt)``), and that time is public (the last contribution's timestamp, or the
``required_deposit`` view itself).  This attacker keeps the rate of a plain flipper (one add
owed per turn drawn from ``interval_s``), but once an add is owed it polls every ``poll_s``
and sends it only when the deposit required at the next block is at most ``target_deposit``
and/or the contract has been idle for at least ``min_gap_s``.  It asks whether timing makes an
attack cheaper per point of damage: it pays less per add, and each cheap add it makes also
restarts the clock, so the next honest contributor pays more.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sumsim.agents.base import MIN_MEAN_INTERVAL_S, Attacker, AttackerConfig
from sumsim.config import Ether
from sumsim.errors import FieldError
from sumsim.registry import Plugin


class DepositTimingConfig(AttackerConfig):
    kind: Literal["deposit_timing"]
    target_deposit: Ether | None = Field(
        None, description="Add only when the deposit required at the next block is at most "
        "this (ether).")
    min_gap_s: float | None = Field(
        None, gt=0, description="Add only when the last contribution by anyone is at least "
        "this old at the next block.")
    poll_s: float = Field(12, ge=MIN_MEAN_INTERVAL_S, description="How often it looks again "
                          "while an add is owed (one block by default; at least a second).")
    max_wait_s: float | None = Field(
        None, gt=0, description="Drop an owed add not made within this long (default: wait "
        "until the moment comes).")

    @model_validator(mode="after")
    def _threshold(self) -> DepositTimingConfig:
        if self.target_deposit is None and self.min_gap_s is None:
            raise FieldError("set target_deposit and/or min_gap_s (when to add)",
                             "target_deposit")
        return self


class DepositTiming(Attacker):
    """Flips labels, adding only at moments when the required deposit is low."""

    config: DepositTimingConfig
    summary_key = "deposit_timing"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        #: Time since which an add has been owed (None: nothing owed).
        self.owed_since: float | None = None
        #: Whether the turn just taken left an add owed (then the next turn is a poll).
        self.poll_next = False
        self.polls = 0
        self.dropped = 0

    def cheap(self, at: float) -> bool:
        """Whether an add included in the block stamped ``at`` meets the thresholds."""
        cfg = self.config
        if cfg.target_deposit is not None and \
                self.view("required_deposit", at) > cfg.target_deposit:
            return False
        if cfg.min_gap_s is not None:
            n = self.view("num_contributions")
            if n and at - self.view("contribution", n - 1).added_time < cfg.min_gap_s:
                return False
        return True

    def contribute(self) -> None:
        now = self.world.env.now
        if self.owed_since is None:
            self.owed_since = now
        else:
            self.polls += 1
            wait = self.config.max_wait_s
            if wait is not None and now - self.owed_since > wait:
                self.dropped += 1
                self.owed_since = None
                return
        if self.cheap(self.next_block_time()) and self.add_from_pool(flip=True):
            self.owed_since = None
        self.poll_next = self.owed_since is not None

    def next_turn_s(self) -> float:
        # Poll only right after a turn that contributed and left an add owed: a stopped or
        # idle attacker goes back to its ordinary schedule.
        if self.poll_next:
            self.poll_next = False
            return self.config.poll_s
        return super().next_turn_s()

    def summary_section(self) -> dict[str, Any]:
        return {"polls": self.polls, "dropped": self.dropped,
                "owed_at_end": self.owed_since is not None}


plugin = Plugin(
    DepositTimingConfig, DepositTiming,
    "Flips labels, adding only after idle gaps when the required deposit is low.")
