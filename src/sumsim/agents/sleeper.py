"""The sleeper: an honest contributor until it has standing, then an attacker.

Under Deposit-Refund-Take a report on bad data pays the reporter
``initial_deposit * num_valid[reporter] // total_good``, where ``num_valid`` counts the
reporter's refunded (good) contributions.  Reputation is therefore a multiplier on every
report, and honest data is how one buys it: the deposits come back.  The sleeper contributes
true labels from the pool and claims its refunds until it wakes, at ``wake_s`` or once the
``num_valid`` view says it has ``wake_num_valid`` good contributions, whichever comes first.

While asleep it does not report (each contribution can be reported once per address, so a
report made with little standing would waste that contribution's larger share later); it still
takes what is left after ``t_a`` when ``take_expired``.  Once awake, by ``mode``:

- ``flip``: its contributions carry wrong labels (reputation does not protect them from others'
  reports, but a model trained on its honest data may agree with them for a while);
- ``report``: it keeps contributing true labels and reports every contribution the model
  disagrees with, each at its grown share;
- ``both``: it flips labels *and* reports, so its own flips push the model to disagree with
  others' honest data, which it then reports at its grown share.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from sumsim.agents.base import Attacker, AttackerConfig
from sumsim.errors import FieldError
from sumsim.registry import Plugin, get


class SleeperConfig(AttackerConfig):
    kind: Literal["sleeper"]
    wake_s: float | None = Field(None, ge=0, description="Wake at this time (seconds).")
    wake_num_valid: int | None = Field(
        None, ge=1, description="Wake once the mechanism's `num_valid` view counts this many "
        "of its contributions as good (refunded).")
    mode: Literal["flip", "report", "both"] = Field(
        "both", description="Once awake: flip labels, report others' data the model "
        "disagrees with, or both.")

    @model_validator(mode="after")
    def _wake(self) -> SleeperConfig:
        if self.wake_s is None and self.wake_num_valid is None:
            raise FieldError("set wake_s and/or wake_num_valid (when to wake)", "wake_s")
        return self

    def check_scenario(self, scenario: Any, at: tuple[str | int, ...]) -> None:
        if self.wake_num_valid is None:
            return
        mechanism = get("mechanisms", scenario.incentive.kind).impl
        if not callable(getattr(mechanism, "view_num_valid", None)):
            raise FieldError(f"the {scenario.incentive.kind!r} mechanism has no num_valid view",
                             *at, "wake_num_valid")


class Sleeper(Attacker):
    """Honest data until it wakes; then flips and/or reports with its reputation."""

    config: SleeperConfig
    summary_key = "sleeper"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.woke_at: float | None = None
        self.num_valid_at_wake: int | None = None

    def check_wake(self) -> bool:
        """Whether it is awake, waking it now if its rule says so."""
        if self.woke_at is not None:
            return True
        cfg = self.config
        now = self.world.env.now
        by_time = cfg.wake_s is not None and now >= cfg.wake_s
        by_standing = cfg.wake_num_valid is not None and \
            self.view("num_valid", self.name) >= cfg.wake_num_valid
        if by_time or by_standing:
            self.wake(now)
        return self.woke_at is not None

    def wake(self, now: float) -> None:
        """Start attacking; look again at once at every contribution it held back on."""
        self.woke_at = now
        self.num_valid_at_wake = self.view("num_valid", self.name) \
            if self.config.wake_num_valid is not None else None
        if self.reports_now():
            for rec in self.view("contributions", 0)[: self.book.cursor]:
                if rec.author != self.name and rec.claimable > 0:
                    self.book.push(now, rec.id)

    def reports_now(self) -> bool:
        return self.config.report and self.woke_at is not None and \
            self.config.mode in ("report", "both")

    def settle(self) -> None:
        self.check_wake()  # before looking at claims, so a wake-up turn already reports
        super().settle()

    def contribute(self) -> None:
        flip = self.check_wake() and self.config.mode in ("flip", "both")
        self.add_from_pool(flip=flip)

    def summary_section(self) -> dict[str, Any]:
        return {"woke_at_s": self.woke_at, "num_valid_at_wake": self.num_valid_at_wake,
                "mode": self.config.mode}


plugin = Plugin(
    SleeperConfig, Sleeper,
    "Builds reputation (num_valid) with honest data, then flips labels and/or reports.")
