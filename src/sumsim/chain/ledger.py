"""Integer-wei balances with a constant total supply.

Every movement of money goes through :meth:`Ledger.transfer`, which refuses non-integers,
negative amounts and overdrafts.  Nothing is ever minted after genesis, so the sum of all
balances is the supply fixed when the accounts were opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class InsufficientFunds(Exception):
    """A transfer would make a balance negative."""


@dataclass
class Ledger:
    """Balances per address.  ``journal`` (when enabled) keeps every transfer, in order."""

    balances: dict[str, int] = field(default_factory=dict)
    keep_journal: bool = False
    journal: list[tuple[float, str, str, int]] = field(default_factory=list)
    _supply: int = 0

    def open(self, address: str, balance: int = 0) -> None:
        """Create an account at genesis with its starting balance (the only way to add supply)."""
        if address in self.balances:
            raise ValueError(f"account {address!r} already exists")
        if type(balance) is not int or balance < 0:
            raise ValueError(f"starting balance of {address!r} must be a non-negative int")
        self.balances[address] = balance
        self._supply += balance

    @property
    def supply(self) -> int:
        return self._supply

    def balance(self, address: str) -> int:
        return self.balances[address]

    def transfer(self, src: str, dst: str, amount: int, now: float = 0.0) -> None:
        if type(amount) is not int:
            raise TypeError(f"amounts are integer wei, got {type(amount).__name__}")
        if amount < 0:
            raise ValueError("negative transfer")
        if amount == 0:
            return
        bal = self.balances
        have = bal[src]
        if have < amount:
            raise InsufficientFunds(f"{src} has {have} wei, needs {amount}")
        if dst not in bal:
            raise KeyError(f"unknown account {dst!r}")
        bal[src] = have - amount
        bal[dst] += amount
        if self.keep_journal:
            self.journal.append((now, src, dst, amount))

    def total(self) -> int:
        return sum(self.balances.values())
