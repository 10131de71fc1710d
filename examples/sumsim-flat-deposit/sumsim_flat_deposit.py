"""Deposit-Refund-Take with a flat deposit: every contribution stakes the same amount.

The original mechanism prices a contribution at ``w * 3600 / isqrt(dt)``, so a burst of adds is
dear and a lone add after a quiet spell is cheap.  Here the price is one constant ``deposit``,
whatever the timing; the question is what the time-dependent price buys against an attacker
who can wait.

- ``add_data`` keeps ``deposit`` (the excess is returned); less reverts.
- ``refund`` by the author once ``refund_wait_s`` has passed, if the model agrees: the whole
  deposit; it counts as good data for the author.
- ``report`` by an address with good data, once ``refund_wait_s`` has passed, while the model
  disagrees: the whole remaining deposit (one reporter takes all); after
  ``any_address_claim_wait_s`` anyone takes what is left.

Uses only :mod:`sumsim.plugin`.  ``tests/test_flat_deposit.py`` property-tests it with
:mod:`sumsim.testing`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sumsim.plugin import (
    Contribution,
    Ether,
    FieldError,
    IncentiveMechanism,
    MechanismConfig,
    Plugin,
    Revert,
)

TOO_LITTLE = "Didn't pay the flat deposit."
NOT_AUTHOR = "Only the author can refund a contribution."
TOO_SOON = "Not enough time has passed."
DISAGREES = "The model doesn't agree with your contribution."
AGREES = "The model should not agree with the contribution."
NOTHING = "There is no reward left to claim."
NO_GOOD_DATA = "Only addresses with refunded good data can report."
OWN = "Can't report your own contribution before the any-address wait."


class FlatDepositConfig(MechanismConfig):
    kind: Literal["flat_deposit"]
    deposit: Ether = Field("1", description="The stake of every contribution (ether).")
    refund_wait_s: float = Field(86_400, ge=0, description="When claims open.")
    any_address_claim_wait_s: float = Field(777_600, ge=0, description="When anyone may take "
                                            "what is left.")

    @model_validator(mode="after")
    def _order(self) -> FlatDepositConfig:
        if self.refund_wait_s > self.any_address_claim_wait_s:
            raise FieldError("must not exceed any_address_claim_wait_s", "refund_wait_s")
        return self


class FlatDeposit(IncentiveMechanism):
    """Deposit-Refund-Take with one flat deposit per contribution."""

    kind = "flat_deposit"

    def __init__(self, deposit: int, refund_wait_s: float, any_address_claim_wait_s: float):
        self.deposit = deposit
        self.t_r = refund_wait_s
        self.t_a = any_address_claim_wait_s
        self.good: dict[str, int] = {}

    @classmethod
    def from_config(cls, config: FlatDepositConfig) -> FlatDeposit:
        return cls(config.deposit, config.refund_wait_s, config.any_address_claim_wait_s)

    def required_deposit(self, now: float) -> int:
        return self.deposit

    def check_add(self, now: float, value: int) -> int:
        if value < self.deposit:
            raise Revert(TOO_LITTLE)
        return self.deposit

    def on_add(self, now: float) -> None:
        pass

    def check_refund(self, rec: Contribution, sender: str, now: float, agrees: bool) -> int:
        if sender != rec.author:
            raise Revert(NOT_AUTHOR)
        if rec.claimable <= 0:
            raise Revert(NOTHING)
        if now - rec.added_time < self.t_r:
            raise Revert(TOO_SOON)
        if not agrees:
            raise Revert(DISAGREES)
        return rec.claimable

    def on_refund(self, rec: Contribution, sender: str, amount: int) -> None:
        self.good[sender] = self.good.get(sender, 0) + 1

    def check_report(self, rec: Contribution, reporter: str, now: float, agrees: bool,
                     owner: str) -> int:
        if rec.claimable <= 0:
            raise Revert(NOTHING)
        age = now - rec.added_time
        if age >= self.t_a:
            return rec.claimable
        if reporter == rec.author:
            raise Revert(OWN)
        if age < self.t_r:
            raise Revert(TOO_SOON)
        if agrees:
            raise Revert(AGREES)
        if not self.good.get(reporter):
            raise Revert(NO_GOOD_DATA)
        return rec.claimable

    def claim_times(self, rec: Contribution) -> tuple[float, float]:
        return rec.added_time + self.t_r, rec.added_time + self.t_a

    def summary(self) -> dict[str, Any]:
        return {"deposit_wei": self.deposit, "good_data": dict(sorted(self.good.items()))}


plugin = Plugin(FlatDepositConfig, FlatDeposit)
