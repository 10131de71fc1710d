"""Points (gamification): no money changes hands; contributions earn or lose points.

The deployed points mechanism's rules: after the refund wait the author may claim points for
a contribution the model agrees with; after the refund wait (or the any-address wait, whichever
comes first) anyone else may report one the model disagrees with, which here also costs its
author points.  Each contribution is judged once (the first successful claim), and judging
never closes.  Deposits are zero (any value sent is returned), which makes this the zero-cost
baseline of attack economics.

The any-address wait ``t_a`` is never shorter than ``t_r`` here, so on-chain it changes
nothing; it is how long participants keep looking at a contribution (the agents' claim
bookkeeping stops watching it then, and one that takes what is left after ``t_a`` reports it
then if the model disagrees), which is what lets a run end.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sumsim.chain.evm_gas import POINTS_WORK, SstoreKind
from sumsim.chain.tx import Revert
from sumsim.contract.data_handler import Contribution
from sumsim.contract.mechanism import DeployedCounters, IncentiveMechanism, MechanismConfig
from sumsim.errors import FieldError
from sumsim.mechanisms.drt import MODEL_AGREES, MODEL_DISAGREES, NOT_AUTHOR, TOO_SOON
from sumsim.registry import Plugin

JUDGED = "Already claimed."
NOT_YET = "Cannot be claimed yet."
OWN = "Cannot report yourself."
#: (reached only on a record that rewrote a judged one: the claimed-by flags outlive it)
CLAIMED_BY_AUTHOR = "Already claimed by submitter."
CLAIMED_BY_REPORTER = "Already claimed by reporter."


class PointsConfig(MechanismConfig):
    kind: Literal["points"]
    refund_wait_s: int = Field(86_400, ge=0, description="When a contribution can be judged "
                               "(whole seconds).")
    any_address_claim_wait_s: int = Field(
        777_600, ge=0, description="t_a (whole seconds): anyone but the author may report from "
        "then on, as from the refund wait; agents stop looking at a contribution after it.")
    points_good: int = Field(1, ge=0, description="Points an author earns for a refunded "
                             "(agreed) contribution.")
    points_bad: int = Field(1, ge=0, description="Points an author loses for a reported "
                            "contribution.")

    @model_validator(mode="after")
    def _order(self) -> PointsConfig:
        if self.refund_wait_s > self.any_address_claim_wait_s:
            raise FieldError("must not exceed any_address_claim_wait_s", "refund_wait_s")
        return self


class Points(DeployedCounters, IncentiveMechanism):
    """No money: good contributions earn points, reported ones lose them (zero-cost baseline)."""

    kind = "points"
    gas_work = POINTS_WORK

    def __init__(self, *, refund_wait_s: int, any_address_claim_wait_s: int,
                 points_good: int = 1, points_bad: int = 1):
        if not 0 <= refund_wait_s <= any_address_claim_wait_s:
            raise ValueError("need 0 <= refund_wait_s <= any_address_claim_wait_s")
        self.t_r = refund_wait_s
        self.t_a = any_address_claim_wait_s
        self.good = points_good
        self.bad = points_bad
        self.points: dict[str, int] = {}
        self.judged: set[int] = set()
        self._init_counters()

    @classmethod
    def from_config(cls, config: PointsConfig) -> Points:
        return cls(refund_wait_s=config.refund_wait_s,
                   any_address_claim_wait_s=config.any_address_claim_wait_s,
                   points_good=config.points_good, points_bad=config.points_bad)

    def required_deposit(self, now: float) -> int:
        return 0

    def check_add(self, now: float, value: int) -> int:
        return 0

    def on_add(self, now: float) -> None:
        self._count_add()

    def add_write_kinds(self, now: int) -> tuple[SstoreKind, ...]:
        return (self._submission_write(),)

    def check_refund(self, rec: Contribution, sender: str, now: float, agrees: bool) -> int:
        if rec.author != sender:
            raise Revert(NOT_AUTHOR)
        if rec.id in self.judged:
            raise Revert(JUDGED)
        if sender in rec.claimed_by:
            raise Revert(CLAIMED_BY_AUTHOR)
        if now - rec.added_time < self.t_r:
            raise Revert(TOO_SOON)
        if not agrees:
            raise Revert(MODEL_DISAGREES)
        return 0

    def on_refund(self, rec: Contribution, sender: str, amount: int) -> None:
        self.points[sender] = self.points.get(sender, 0) + self.good
        self._count_good(sender)
        self.judged.add(rec.id)

    def check_report(self, rec: Contribution, reporter: str, now: float, agrees: bool,
                     owner: str) -> int:
        # (the deployed contract's order: time, judged, author, model)
        age = now - rec.added_time
        if age < self.t_r and age < self.t_a:
            raise Revert(NOT_YET)
        if rec.id in self.judged:
            raise Revert(JUDGED)
        if reporter == rec.author:
            raise Revert(OWN)
        if reporter in rec.claimed_by:
            raise Revert(CLAIMED_BY_REPORTER)
        if agrees:
            raise Revert(MODEL_AGREES)
        return 0

    def on_report(self, rec: Contribution, reporter: str, amount: int) -> None:
        self.points[rec.author] = self.points.get(rec.author, 0) - self.bad
        self.judged.add(rec.id)

    def is_open(self, rec: Contribution, now: float) -> bool:
        return rec.id not in self.judged

    def claim_times(self, rec: Contribution) -> tuple[float, float]:
        # Judging never closes; t_a is where participants stop looking (module docstring).
        return rec.added_time + self.t_r, rec.added_time + self.t_a

    def summary(self) -> dict[str, Any]:
        return {"points": dict(sorted(self.points.items())), "judged": len(self.judged)}


plugin = Plugin(PointsConfig, Points)
