"""The interface between the trainer and an incentive mechanism.

Each hook validates first (raising :class:`~sumsim.chain.Revert` with a reason) and only then
returns what to do; the trainer applies the state changes, so a revert leaves nothing behind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from sumsim.contract.data_handler import Contribution


class IncentiveMechanism(ABC):
    kind: str = ""
    #: Whether an accepted contribution trains the model at once (not in a market's
    #: participation phase).
    trains_on_add: bool = True
    #: Whether refunds and takes are paid from a contribution's own claimable amount (DRT,
    #: points) or from per-contributor balances the mechanism keeps (prediction market).
    per_contribution: bool = True

    def accepting(self, now: float) -> str:
        """"open", "not_yet" or "closed" (for good) to new contributions."""
        return "open"

    def on_stored(self, rec: Contribution) -> None:  # noqa: B027 - optional hook
        """A contribution was stored (after every check passed)."""

    def held(self) -> int:
        """Wei the mechanism holds outside contribution records (bounties, pooled balances)."""
        return 0

    @abstractmethod
    def required_deposit(self, now: float) -> int:
        """Wei a contribution must carry if included in a block stamped ``now``."""

    @abstractmethod
    def check_add(self, now: float, value: int) -> int:
        """Validate an add paying ``value``; return the deposit kept (the rest is returned)."""

    @abstractmethod
    def on_add(self, now: float) -> None:
        """Record a successful add."""

    @abstractmethod
    def check_refund(self, rec: Contribution, sender: str, now: float, agrees: bool) -> int:
        """Validate a refund; return the amount paid to the author."""

    @abstractmethod
    def on_refund(self, rec: Contribution, sender: str, amount: int) -> None: ...

    @abstractmethod
    def check_report(self, rec: Contribution, reporter: str, now: float, agrees: bool,
                     owner: str) -> int:
        """Validate a report; return the amount the reporter takes."""

    def on_report(self, rec: Contribution, reporter: str, amount: int) -> None:  # noqa: B027
        """Record a successful report (mechanisms that keep score)."""

    def is_open(self, rec: Contribution, now: float) -> bool:
        """Whether anything can still be claimed from ``rec``."""
        return rec.claimable > 0

    @abstractmethod
    def claim_times(self, rec: Contribution) -> tuple[float, float]:
        """(earliest time a claim can succeed, time from which anyone may take what is left;
        ``inf`` when that never comes)."""

    def state(self) -> dict[str, Any]:
        """Public state for views and invariant checks."""
        return {}
