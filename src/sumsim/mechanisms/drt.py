"""Deposit, Refund and Take (self-assessment): the core SUM incentive mechanism.

- Deposit at block time ``now``: ``0`` if ``w == 0``, else ``w * 3600 // isqrt(dt)`` with
  ``dt = now - last_update_time`` (``isqrt(0)`` taken as 1).  Block times and waits are whole
  seconds, as on Ethereum, so this is integer arithmetic throughout.  A successful add sets
  ``last_update_time = now``, so a second add in the same block pays the full ``w * 3600``.
- Refund by the author after ``t_r`` if the model agrees: the whole claimable amount; counts as
  good data (``num_valid[author] += 1``, ``total_good += 1``).
- Report: after ``t_o`` for the contract owner (by default the contract itself, as deployed:
  nobody), or after ``t_a`` for anyone, take all that is claimable; otherwise, after ``t_r``,
  a non-author with good data who has not claimed this contribution, while the model disagrees
  with it, takes
  ``initial_deposit * num_valid[reporter] // total_good`` (all that is claimable when that is 0
  or more than what is left).
"""

from __future__ import annotations

from math import isqrt
from typing import Any, Literal

from pydantic import Field, model_validator

from sumsim.chain.evm_gas import SstoreKind
from sumsim.chain.tx import Revert
from sumsim.config import Ether
from sumsim.contract.data_handler import Contribution
from sumsim.contract.mechanism import DeployedCounters, IncentiveMechanism, MechanismConfig
from sumsim.errors import FieldError
from sumsim.registry import Plugin

NOT_ENOUGH_DEPOSIT = "Didn't pay enough for the deposit."
TOO_SOON = "Not enough time has passed."
MODEL_DISAGREES = "The model doesn't agree with your contribution."
MODEL_AGREES = "The model should not agree with the contribution."
NOTHING_CLAIMABLE = "There is no reward left to claim."
CLAIMED_BY_AUTHOR = "Deposit already claimed by submitter."
CLAIMED_BY_REPORTER = "Deposit already claimed by reporter."
#: A refund by anyone but the author: the original looks the record up under the sender's
#: own key (sample, label, time, sender), which names no record.
NOT_AUTHOR = "Data not found."
OWN_DATA = "Cannot take your own deposit."
NO_GOOD_DATA = "The sender has not sent any good data."


class DRTConfig(MechanismConfig):
    kind: Literal["deposit_refund_take"] = "deposit_refund_take"
    refund_wait_s: int = Field(86_400, ge=0, description="t_r (whole seconds)")
    owner_claim_wait_s: int | None = Field(
        None, ge=0, description="t_o (whole seconds); default: equal to "
        "any_address_claim_wait_s")
    any_address_claim_wait_s: int = Field(777_600, ge=0, description="t_a (whole seconds)")
    cost_weight: Ether = Field("0.016666666666666666",  # type: ignore[assignment]
                               description="w (ether): deposit = w * 3600 // isqrt(dt)")
    owner: str | None = Field(None, description="Agent name owning the contract (it may take "
                              "what is left after owner_claim_wait_s); default: the contract "
                              "itself, as deployed, so nobody can.")

    @model_validator(mode="after")
    def _order(self) -> DRTConfig:
        t_o = self.any_address_claim_wait_s if self.owner_claim_wait_s is None \
            else self.owner_claim_wait_s
        if not self.refund_wait_s <= t_o <= self.any_address_claim_wait_s:
            raise FieldError("need refund_wait_s <= owner_claim_wait_s <= "
                             f"any_address_claim_wait_s (got {self.refund_wait_s:,} s, "
                             f"{t_o:,} s, {self.any_address_claim_wait_s:,} s)",
                             "refund_wait_s")
        # Resolved (so a saved scenario states it): written without re-validation.
        self.__dict__["owner_claim_wait_s"] = t_o
        return self

    def owner_address(self) -> str | None:
        return self.owner

    def check_scenario(self, scenario: Any, at: tuple[str | int, ...]) -> None:
        names = [a.name for a in scenario.agents]
        if self.owner is not None and self.owner not in names:
            raise FieldError(f"{self.owner!r} is not an agent name", *at, "owner")


class DepositRefundTake(DeployedCounters, IncentiveMechanism):
    """Deposits of w*3600//isqrt(dt); refunds of good data; takes of bad data (the SUM core)."""

    kind = "deposit_refund_take"

    def __init__(self, *, refund_wait_s: int, owner_claim_wait_s: int,
                 any_address_claim_wait_s: int, cost_weight: int, start_time: int = 0):
        if type(cost_weight) is not int or cost_weight < 0:
            raise ValueError("cost_weight is a non-negative integer (wei)")
        for wait in (refund_wait_s, owner_claim_wait_s, any_address_claim_wait_s, start_time):
            if wait != int(wait):
                raise ValueError("waits and times are whole seconds")
        if not 0 <= refund_wait_s <= owner_claim_wait_s <= any_address_claim_wait_s:
            raise ValueError("need 0 <= refund_wait_s <= owner_claim_wait_s <= "
                             "any_address_claim_wait_s")
        self.t_r = int(refund_wait_s)
        self.t_o = int(owner_claim_wait_s)
        self.t_a = int(any_address_claim_wait_s)
        self.w = cost_weight
        self.last_update_time = int(start_time)
        self._init_counters()

    @classmethod
    def from_config(cls, config: DRTConfig) -> DepositRefundTake:
        t_a = config.any_address_claim_wait_s
        t_o = t_a if config.owner_claim_wait_s is None else config.owner_claim_wait_s
        return cls(refund_wait_s=config.refund_wait_s, owner_claim_wait_s=t_o,
                   any_address_claim_wait_s=t_a, cost_weight=config.cost_weight)

    def required_deposit(self, now: int) -> int:
        if self.w == 0:
            return 0
        dt = now - self.last_update_time
        if type(dt) is not int:
            raise TypeError("block times are whole seconds (int)")
        divisor = 1 if dt <= 0 else isqrt(dt)
        return self.w * 3600 // divisor

    def check_add(self, now: int, value: int) -> int:
        cost = self.required_deposit(now)
        if value < cost:
            raise Revert(NOT_ENOUGH_DEPOSIT)
        return cost

    def on_add(self, now: int) -> None:
        self.last_update_time = now
        self._count_add()

    def add_write_kinds(self, now: int) -> tuple[SstoreKind, ...]:
        # The last update time (never zero: the deployment's time is its first value) written
        # again in its own second changes nothing.
        return ("noop" if now == self.last_update_time else "reset", self._submission_write())

    def check_refund(self, rec: Contribution, sender: str, now: int, agrees: bool) -> int:
        if rec.author != sender:
            raise Revert(NOT_AUTHOR)
        # (the original's order: a second refund is refused as already claimed)
        if sender in rec.claimed_by:
            raise Revert(CLAIMED_BY_AUTHOR)
        if rec.claimable <= 0:
            raise Revert(NOTHING_CLAIMABLE)
        if now - rec.added_time < self.t_r:
            raise Revert(TOO_SOON)
        if not agrees:
            raise Revert(MODEL_DISAGREES)
        return rec.claimable

    def on_refund(self, rec: Contribution, sender: str, amount: int) -> None:
        self._count_good(sender)

    def check_report(self, rec: Contribution, reporter: str, now: int, agrees: bool,
                     owner: str) -> int:
        if rec.claimable <= 0:
            raise Revert(NOTHING_CLAIMABLE)
        age = now - rec.added_time
        if (age >= self.t_o and reporter == owner) or age >= self.t_a:
            return rec.claimable
        if reporter == rec.author:
            raise Revert(OWN_DATA)
        if reporter in rec.claimed_by:
            raise Revert(CLAIMED_BY_REPORTER)
        if age < self.t_r:
            raise Revert(TOO_SOON)
        if agrees:
            raise Revert(MODEL_AGREES)
        n = self.num_valid.get(reporter, 0)
        if n <= 0:
            raise Revert(NO_GOOD_DATA)
        reward = rec.initial_deposit * n // self.total_good
        if reward == 0 or reward > rec.claimable:
            reward = rec.claimable
        return reward

    def takes_without_checks(self, rec: Contribution, reporter: str, now: int,
                             owner: str) -> bool:
        age = now - rec.added_time
        return age >= self.t_a or (age >= self.t_o and reporter == owner)

    def claim_times(self, rec: Contribution) -> tuple[int, int]:
        return rec.added_time + self.t_r, rec.added_time + self.t_a

    def view_num_valid(self, now: float, address: str) -> int:
        """Good contributions of ``address`` that were refunded (its weight as a reporter)."""
        return self.num_valid.get(address, 0)

    def summary(self) -> dict[str, Any]:
        return {"last_update_time": self.last_update_time, "total_good": self.total_good,
                "num_valid": dict(self.num_valid)}


plugin = Plugin(DRTConfig, DepositRefundTake)
