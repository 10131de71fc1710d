"""Transactions, receipts and the revert signal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class Revert(Exception):
    """Raised by contract code to abort a call; ``reason`` goes into the receipt.

    Agents simulate claims before sending them and most simulations revert ("not yet", "the
    model disagrees"), so this is raised tens of thousands of times a run: it keeps the
    exception's own constructor (no Python-level ``__init__``) and reads the reason from its
    arguments."""

    @property
    def reason(self) -> str:
        return str(self.args[0]) if self.args else ""


class OutOfGas(Revert):
    def __init__(self) -> None:
        super().__init__("Out of gas.")


SUCCESS = "success"
REVERTED = "reverted"
REJECTED = "rejected"  # never included: the sender could not cover gas_limit * gas_price + value


@dataclass(slots=True)
class Receipt:
    status: str
    reason: str
    gas_used: int
    fee: int
    block: int
    timestamp: float
    result: Any = None
    #: What the contract paid out during the call: ``(recipient, wei, memo)`` each.
    payments: tuple[tuple[str, int, str], ...] = ()
    #: The price paid per gas, when it is not the transaction's ``gas_price`` (an EIP-1559
    #: transaction's effective gas price: ``fee = gas_used * price``).
    price: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS


@dataclass(slots=True)
class Tx:
    """A transaction to ``to`` (a contract address) calling ``method`` with ``args``.

    ``on_receipt`` is called synchronously when the transaction is mined (or rejected); it is how
    agents learn the outcome without a SimPy event per transaction.
    """

    sender: str
    to: str
    method: str
    args: tuple[Any, ...]
    value: int
    gas_limit: int
    #: Wei per gas it bids: a legacy transaction's price, or (with ``priority_fee``) an
    #: EIP-1559 transaction's max fee per gas.
    gas_price: int
    on_receipt: Callable[[Tx, Receipt], None] | None = None
    tag: str = ""
    seq: int = -1
    submitted_at: float = 0.0
    receipt: Receipt | None = field(default=None)
    #: An EIP-1559 transaction's max priority fee (tip) per gas: it pays the base fee of its
    #: block plus this, at most ``gas_price``.  None: a legacy transaction, paying
    #: ``gas_price``.
    priority_fee: int | None = None
