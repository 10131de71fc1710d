"""The chain's record of finished transactions, kept as columns.

A run of a million contributions finishes a few million transactions; keeping each one's
:class:`~sumsim.chain.tx.Tx` and :class:`~sumsim.chain.tx.Receipt` objects alive (with their
arguments, payment tuples and boxed integers) would cost kilobytes per contribution.  The log
keeps instead one row per transaction in typed columns (names and reasons as small codes, money
as exact Python ints) holding what the outputs read: sender, method, the first argument when it
is an integer (a contribution id), recipient, value, the gas price paid (an EIP-1559
transaction's effective price: the base fee plus its tip, at most its max fee), submission and
inclusion times, status, reason, gas, result and the payments the contract made (a fee is gas
times price).  The
transaction objects themselves are dropped once their sender has seen the receipt.

Reading: the columns directly (the results tables), or row by row as ``(LoggedTx, Receipt)``
pairs rebuilt on demand (``for tx, r in chain.receipts``), which is how tests and small tools
look at a few transactions.
"""

from __future__ import annotations

import operator
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, overload

from sumsim.chain.tx import Receipt, Tx


@dataclass(frozen=True, slots=True)
class LoggedTx:
    """A finished transaction as the log keeps it: ``args`` holds only its first argument, and
    only when that is an integer (a contribution id); samples are not kept."""

    seq: int
    sender: str
    to: str
    method: str
    args: tuple[int, ...]
    value: int
    #: The price paid per gas (an EIP-1559 transaction's effective gas price).
    gas_price: int
    submitted_at: float


class _Codes:
    """Strings as small integer codes (there are only a few distinct senders, methods and
    reasons).  ``on_wide`` is called once, before the first code that needs more than 16
    bits is handed out."""

    def __init__(self, on_wide: Callable[[], None]) -> None:
        self.names: list[str] = []
        #: name -> code, for names seen so far.
        self.known: dict[str, int] = {}
        self._on_wide: Callable[[], None] | None = on_wide

    def code(self, name: str) -> int:
        c = self.known.get(name)
        if c is None:
            c = len(self.names)
            if c == _NARROW_CODES and self._on_wide is not None:
                self._on_wide()
                self._on_wide = None
            self.known[name] = c
            self.names.append(name)
        return c

    def find(self, name: str) -> int:
        """The code of ``name``, or -1 when no row holds it."""
        return self.known.get(name, -1)

    def decode(self, codes: array[int]) -> list[str]:
        names = self.names
        return [names[c] for c in codes]


#: Code columns hold 16-bit codes while there are at most this many distinct strings (a
#: run names a few addresses, methods and reasons; thousands of sybil addresses still fit).
_NARROW_CODES = 2**15
#: The columns holding string codes (widened to 32 bits together, when needed).
_CODE_COLUMNS = ("sender", "to", "method", "status", "reason", "pay_to", "pay_memo")


class ReceiptLog:
    """One row per finished transaction, in columns (see the module docstring)."""

    def __init__(self) -> None:
        self.strings = _Codes(self._widen)
        # Sequence numbers, block numbers and payment offsets are 32-bit: each is at most the
        # number of transactions or payments logged, and 2**31 of those would take hundreds
        # of gigabytes (an overflow raises rather than wraps).
        self.seq = array("i")
        self.sender = array("h")
        self.to = array("h")
        self.method = array("h")
        #: The first argument when it is an int, else None.
        self.arg0: list[int | None] = []
        self.value: list[int] = []
        self.gas_price: list[int] = []
        self.submitted_at = array("d")
        self.status = array("h")
        self.reason = array("h")
        self.gas_used = array("q")
        self._price = -1
        self.block = array("i")
        self.timestamp = array("d")
        self.result: list[Any] = []
        #: Payments: row ``i``'s are ``pay_*[pay_start[i]:pay_start[i + 1]]``.
        self.pay_start = array("i", [0])
        self.pay_to = array("h")
        self.pay_amount: list[int] = []
        self.pay_memo = array("h")

    def _widen(self) -> None:
        """Make every code column 32-bit (more distinct strings than 16 bits can number)."""
        for name in _CODE_COLUMNS:
            setattr(self, name, array("i", getattr(self, name)))

    def append(self, tx: Tx, r: Receipt) -> None:
        code = self.strings.code
        # Every new string is coded before anything is appended (a new code may widen the
        # code columns).
        try:
            known = self.strings.known
            sender, to, method = known[tx.sender], known[tx.to], known[tx.method]
            status, reason = known[r.status], known[r.reason]
        except KeyError:
            sender, to, method = code(tx.sender), code(tx.to), code(tx.method)
            status, reason = code(r.status), code(r.reason)
        self.seq.append(tx.seq)
        self.sender.append(sender)
        self.to.append(to)
        self.method.append(method)
        args = tx.args
        self.arg0.append(args[0] if args and type(args[0]) is int else None)
        self.value.append(tx.value)
        price = tx.gas_price if r.price is None else r.price
        if price == self._price:  # one int object per distinct price, not per row
            price = self._price
        else:
            self._price = price
        self.gas_price.append(price)
        self.submitted_at.append(tx.submitted_at)
        self.status.append(status)
        self.reason.append(reason)
        self.gas_used.append(r.gas_used)
        if r.fee != r.gas_used * price:
            raise ValueError("a receipt's fee is its gas times the price paid")
        self.block.append(r.block)
        self.timestamp.append(r.timestamp)
        self.result.append(r.result)
        if r.payments:
            for recipient, amount, memo in r.payments:
                to, memo_code = code(recipient), code(memo)
                self.pay_to.append(to)
                self.pay_amount.append(amount)
                self.pay_memo.append(memo_code)
        self.pay_start.append(len(self.pay_to))

    def __len__(self) -> int:
        return len(self.seq)

    def fee(self, i: int) -> int:
        """Row ``i``'s fee (wei): gas used times gas price (what the chain charged; not
        stored)."""
        return self.gas_used[i] * self.gas_price[i]

    def fees(self, lo: int = 0, hi: int | None = None) -> list[int]:
        """:meth:`fee` of rows ``lo`` to ``hi - 1`` (default: every row)."""
        return list(map(operator.mul, self.gas_used[lo:hi], self.gas_price[lo:hi]))

    def column(self, name: str) -> list[Any]:
        """A string column (``sender``, ``method``, ``status``, ``reason``) decoded."""
        codes: array[int] = getattr(self, name)
        return self.strings.decode(codes)

    def paid_to_sender(self, memo: str, lo: int = 0,
                       hi: int | None = None) -> tuple[list[int], list[int]]:
        """Per row from ``lo`` to ``hi`` (default: every row): everything the contract paid the
        transaction's sender, and the part of it paid with ``memo``."""
        hi = len(self) if hi is None else hi
        everything, part = [0] * (hi - lo), [0] * (hi - lo)
        mark = self.strings.find(memo)
        start, to, amount, memos, sender = (self.pay_start, self.pay_to, self.pay_amount,
                                            self.pay_memo, self.sender)
        for i in range(lo, hi):
            first, last = start[i], start[i + 1]
            if first != last:
                who = sender[i]
                for k in range(first, last):
                    if to[k] == who:
                        everything[i - lo] += amount[k]
                        if memos[k] == mark:
                            part[i - lo] += amount[k]
        return everything, part

    def payments(self, i: int) -> tuple[tuple[str, int, str], ...]:
        """Row ``i``'s payments: ``(recipient, wei, memo)`` each."""
        names = self.strings.names
        lo, hi = self.pay_start[i], self.pay_start[i + 1]
        return tuple((names[self.pay_to[k]], self.pay_amount[k], names[self.pay_memo[k]])
                     for k in range(lo, hi))

    def row(self, i: int) -> tuple[LoggedTx, Receipt]:
        """Row ``i`` rebuilt as a transaction and its receipt."""
        names = self.strings.names
        a0 = self.arg0[i]
        tx = LoggedTx(self.seq[i], names[self.sender[i]], names[self.to[i]],
                      names[self.method[i]], () if a0 is None else (a0,), self.value[i],
                      self.gas_price[i], self.submitted_at[i])
        ts = self.timestamp[i]
        gas = self.gas_used[i]
        return tx, Receipt(names[self.status[i]], names[self.reason[i]], gas,
                           gas * self.gas_price[i], self.block[i],
                           int(ts) if ts.is_integer() else ts, self.result[i], self.payments(i))

    @overload
    def __getitem__(self, i: int) -> tuple[LoggedTx, Receipt]: ...

    @overload
    def __getitem__(self, i: slice) -> list[tuple[LoggedTx, Receipt]]: ...

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            return [self.row(k) for k in range(len(self))[i]]
        n = len(self)
        if not -n <= i < n:
            raise IndexError("receipt index out of range")
        return self.row(i % n)

    def __iter__(self) -> Iterator[tuple[LoggedTx, Receipt]]:
        for i in range(len(self)):
            yield self.row(i)
