"""The simulated chain: mempool, block producer, execution and receipts on one SimPy clock.

Blocks are sealed on slot boundaries ``k * block_time_s``.  Nothing is scheduled while the mempool
is empty (no empty blocks are ticked); when a transaction arrives at time ``t``, the block of the
first slot strictly after ``t`` is sealed.  A slot's sealing is one plain event, not a process,
scheduled behind every other event of the same instant: whatever happens at the slot's time
(an agent's turn, a dashboard refresh) comes first, and a transaction sent at that instant
waits for the next block.  Pending transactions are ordered by gas price
(highest first) then arrival, so a higher bid is included first: front-running is possible and
visible.  A block holds at most ``block_gas_limit`` gas (counted by the transactions' gas limits,
as a block builder must before executing them).

Time: a block's timestamp is its slot time floored to whole seconds, as on Ethereum.  The slot
time ``k * block_time_s`` is taken with the block time as written (2.3 s is 23/10 s, not the
binary double just below it), so slot 50 of 2.3 s slots is stamped 115, not 114.  Contract
code only ever sees integer timestamps, so deposits and waits are whole-second arithmetic even
when ``block_time_s`` is fractional (with 0.5 s slots two consecutive blocks may share a
timestamp, which the contract treats as it treats two transactions in one block).

Gas: the chain runs one fork's price list (:class:`sumsim.chain.evm_gas.Fork`); contract code
prices what a call did through the fork's :class:`~sumsim.chain.evm_gas.Pricer`
(``CallContext.gas``) and charges it before writing anything.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Protocol

import simpy
from simpy.events import NORMAL, EventPriority

import sumsim.chain.evm_gas as evm_gas
from sumsim.chain.evm_gas import Fork, Pricer
from sumsim.chain.fees import ConstantFees
from sumsim.chain.ledger import Ledger
from sumsim.chain.receipts import ReceiptLog
from sumsim.chain.tx import REJECTED, REVERTED, SUCCESS, OutOfGas, Receipt, Revert, Tx
from sumsim.chain.wake import Wake

FEE_SINK = "fee_sink"

#: The shortest block time (seconds).  Slot times are floats: over the longest run a scenario
#: may ask for (1e12 simulated seconds, where neighbouring doubles are about 1.2e-4 s apart) a
#: slot of a millisecond still lies strictly after the moment it follows, so the clock moves
#: from block to block.  (No chain seals blocks that fast.)
MIN_BLOCK_TIME_S = 1e-3

#: SimPy priority of a slot's sealing: after the ordinary events (``simpy.events.NORMAL``) of
#: the same instant.
SEAL_PRIORITY = EventPriority(NORMAL + 1)


class CallContext:
    """What contract code sees of the transaction executing it: sender, value, block (its whole-
    second timestamp ``now``), and the gas meter with the fork's pricer (``gas``)."""

    __slots__ = ("sender", "value", "now", "block", "gas_used", "gas_limit", "gas", "tag",
                 "payments")

    def __init__(self, sender: str, value: int, now: int, block: int, gas_limit: int,
                 gas: Pricer, tag: str = ""):
        self.sender = sender
        self.value = value
        self.now = now
        self.block = block
        self.gas_used = 0
        self.gas_limit = gas_limit
        self.gas = gas
        #: Simulation metadata of the transaction (for metrics only; contract logic ignores it).
        self.tag = tag
        #: Payments the contract made during the call (recipient, wei, memo), for the receipt.
        self.payments: list[tuple[str, int, str]] = []

    def charge(self, gas: int) -> None:
        """Consume gas; running past the limit reverts (before any state was written)."""
        if gas < 0:
            raise ValueError("negative gas")
        self.gas_used += gas
        if self.gas_used > self.gas_limit:
            self.gas_used = self.gas_limit
            raise OutOfGas()

    def charge_to(self, total: int, peak: int | None = None) -> None:
        """Bring the gas used to ``total``, the call's whole gas with its storage refund taken
        off, where ``peak`` is that gas before the refund (default: ``total``, no refund).
        The call runs out of gas (reverting) when the peak is past the limit: the EVM refunds
        only once a call has ended.  Otherwise the gas used becomes ``total``, also below the
        up-front charges when the refund outweighs the rest of the call (possible with
        overridden prices), as Ethereum hands it back."""
        if (total if peak is None or peak < total else peak) > self.gas_limit:
            self.gas_used = self.gas_limit
            raise OutOfGas()
        self.gas_used = total


class Contract(Protocol):
    address: str

    def execute(self, ctx: CallContext, method: str, args: tuple[Any, ...]) -> Any: ...


class Chain:
    """Ledger + mempool + block producer.  Contracts are registered by address."""

    def __init__(
        self,
        env: simpy.Environment,
        *,
        block_time_s: float = 12.0,
        block_gas_limit: int = 30_000_000,
        gas_price_wei: int = 4 * 10**9,
        fork: Fork | str = "prague",
        ledger: Ledger | None = None,
        fees: ConstantFees | None = None,
    ) -> None:
        if not block_time_s >= MIN_BLOCK_TIME_S:
            raise ValueError(f"block_time_s must be at least {MIN_BLOCK_TIME_S:g} s")
        self.env = env
        self.block_time_s = block_time_s
        # The block time as the decimal it was written as (the shortest repr of the double):
        # slot k's time is exactly k * num / den, floored to whole seconds by integer division.
        exact = Fraction(repr(float(block_time_s)))
        self._slot_num, self._slot_den = exact.numerator, exact.denominator
        self.block_gas_limit = block_gas_limit
        #: Gas and ether price processes; ``gas_price_wei`` is the current base fee.
        self.fees = fees or ConstantFees(gas_price_wei, 0.0)
        #: The fork whose prices every call pays, and its pricer.
        self.fork = evm_gas.fork(fork)
        self.gas = evm_gas.pricer(self.fork)
        self.ledger = ledger or Ledger()
        if FEE_SINK not in self.ledger.balances:
            self.ledger.open(FEE_SINK, 0)
        self.contracts: dict[str, Contract] = {}
        self._views: dict[tuple[str, str], Callable[..., Any]] = {}
        self.block_number = 0
        #: Timestamp of the latest block: whole seconds.
        self.block_timestamp = 0
        #: Every finished transaction, one row each (see :mod:`sumsim.chain.receipts`).
        self.receipts = ReceiptLog()
        #: Transfers made outside any transaction (e.g. a review verdict forfeiting a deposit):
        #: ``(time, from, to, wei, memo)`` each.
        self.internal_transfers: list[tuple[float, str, str, int, str]] = []
        #: Called when a block opens, before its first transaction (state snapshots, checks).
        self.block_hooks: list[Callable[[Chain], None]] = []
        #: Called with every transaction just before it executes (test harnesses observe the
        #: state each call starts from).
        self.tx_hooks: list[Callable[[Tx], None]] = []
        self._mempool: list[tuple[int, int, Tx]] = []
        self._seq = 0
        #: Whether a slot's sealing is scheduled (it is whenever the mempool is not empty).
        self._slot_scheduled = False
        #: Called with every finished transaction and its receipt (after ``on_receipt``).
        self.receipt_hooks: list[Callable[[Tx, Receipt], None]] = []
        #: Called with every transaction entering the mempool (pending-transaction feed).
        self.mempool_watchers: list[Callable[[Tx], None]] = []
        self._last_slot = 0
        #: The latest answer of `next_block_timestamp`, and the time it was for.
        self._next_block_for = -1.0
        self._next_block = 0
        self.total_gas = 0
        self.total_fees = 0

    def next_block_timestamp(self, now: float | None = None) -> int:
        """The timestamp of the first block a transaction sent at ``now`` (default: the
        current time) can be in: the next slot, floored to whole seconds."""
        t = self.env.now if now is None else now
        if t == self._next_block_for:  # (asked several times an instant: remembered)
            return self._next_block
        ts = self._next_block = self.slot_timestamp(math.floor(t / self.block_time_s) + 1)
        self._next_block_for = t
        return ts

    def slot_timestamp(self, k: int) -> int:
        """The timestamp of slot ``k``'s block: ``k * block_time_s`` (as written) floored."""
        return k * self._slot_num // self._slot_den

    @property
    def gas_price_wei(self) -> int:
        """The current base fee (a transaction must bid at least this to be included)."""
        return self.fees.base_fee

    # -- set-up -------------------------------------------------------------------------
    def deploy(self, contract: Contract, balance: int = 0) -> None:
        self.ledger.open(contract.address, balance)
        self.contracts[contract.address] = contract

    # -- submission -----------------------------------------------------------------------
    def _cannot_pay(self, tx: Tx) -> bool:
        need = tx.gas_limit * tx.gas_price + tx.value
        return self.ledger.balances.get(tx.sender, -1) < need

    def submit(self, tx: Tx) -> Tx:
        """Put ``tx`` in the mempool (or reject it at once if its sender cannot pay)."""
        tx.seq = self._seq
        self._seq += 1
        tx.submitted_at = self.env.now
        if type(tx.value) is not int or tx.value < 0:
            raise TypeError("transaction value must be a non-negative int (wei)")
        if tx.gas_limit > self.block_gas_limit:
            self._finish(tx, Receipt(REJECTED, "Gas limit exceeds the block gas limit.",
                                     0, 0, -1, self.env.now))
            return tx
        if self._cannot_pay(tx):
            self._finish(tx, Receipt(REJECTED, "Insufficient funds for gas * price + value.",
                                     0, 0, -1, self.env.now))
            return tx
        # Its place: what it offers per gas over the current base fee, the highest first, as
        # a block builder orders them (a legacy transaction its price less the base fee, an
        # EIP-1559 one its tip, at most its max fee less the base fee).
        offer = tx.gas_price - self.fees.base_fee
        tip = tx.priority_fee
        if tip is not None and tip < offer:
            offer = tip
        heapq.heappush(self._mempool, (-offer, tx.seq, tx))
        if not self._slot_scheduled:
            self._schedule_slot()
        for watch in self.mempool_watchers:
            watch(tx)
        return tx

    @property
    def pending_count(self) -> int:
        return len(self._mempool)

    @property
    def pending(self) -> list[Tx]:
        """Mempool contents in inclusion order (a public view: front-runners watch this)."""
        return [t for _, _, t in sorted(self._mempool)]

    # -- block production -----------------------------------------------------------------
    def _schedule_slot(self) -> None:
        """Schedule the sealing of the first slot strictly after now."""
        now = self.env.now
        bt = self.block_time_s
        self._slot_scheduled = True
        Wake(self.env, (math.floor(now / bt) + 1) * bt - now, self._slot_ended, SEAL_PRIORITY)

    def _slot_ended(self, _event: simpy.Event) -> None:
        self._slot_scheduled = False
        self._seal()
        if self._mempool:
            self._schedule_slot()

    def _seal(self) -> None:
        """Include what fits in this slot's block; a slot with nothing to include is no block."""
        now = self.env.now
        fees = self.fees
        if fees.moves:  # (the slots since the last one, without a block of this chain)
            slot = round(now / self.block_time_s)
            if slot - self._last_slot > 1:
                fees.pass_empty(slot - self._last_slot - 1)
        room = self.block_gas_limit
        deferred: list[tuple[int, int, Tx]] = []
        pool = self._mempool
        pop = heapq.heappop
        # Constant while the block is built: the base fee moves once the block is sealed.
        floor = fees.floor
        intrinsic = self.fork.intrinsic
        opened = False
        while pool:
            item = pop(pool)
            tx = item[2]
            if tx.submitted_at >= now or tx.gas_price < floor:
                # Sent in the same instant the slot opened (it belongs to the next block), or
                # bidding under the base fee: it waits.
                deferred.append(item)
                if tx.gas_price < floor:
                    break  # ordered by price: nobody after it bids enough either
                continue
            if tx.gas_limit > room:
                deferred.append(item)
                if room < intrinsic:
                    break
                continue
            if self._cannot_pay(tx):
                self._finish(tx, Receipt(REJECTED, "Insufficient funds for gas * price + value.",
                                         0, 0, -1, now))
                continue
            if not opened:
                opened = True
                self.block_number += 1
                # (as `next_block_timestamp` stamps it, so agents predict it exactly)
                self.block_timestamp = self.slot_timestamp(round(now / self.block_time_s))
                for hook in self.block_hooks:
                    hook(self)
            for tx_hook in self.tx_hooks:
                tx_hook(tx)
            receipt = self._execute(tx)
            room -= receipt.gas_used
            self._finish(tx, receipt)
        for item in deferred:
            heapq.heappush(pool, item)
        if fees.moves:
            fees.advance(now, (self.block_gas_limit - room) / self.block_gas_limit)
            self._last_slot = slot

    def _execute(self, tx: Tx) -> Receipt:
        ledger = self.ledger
        now = self.block_timestamp
        ctx = CallContext(tx.sender, tx.value, now, self.block_number, tx.gas_limit, self.gas,
                          tx.tag)
        contract = self.contracts.get(tx.to)
        if contract is not None and tx.value:
            ledger.transfer(tx.sender, tx.to, tx.value, now)
        try:
            ctx.charge(self.fork.intrinsic)
            if contract is None:
                raise Revert(f"No contract at {tx.to}.")
            result = contract.execute(ctx, tx.method, tx.args)
            status, reason = SUCCESS, ""
        except Revert as r:
            if contract is not None and tx.value:
                ledger.transfer(tx.to, tx.sender, tx.value, now)
            result, status, reason = None, REVERTED, r.reason
            ctx.payments.clear()
        gas = ctx.gas_used
        price = tx.gas_price
        if tx.priority_fee is not None:  # (EIP-1559: the base fee plus the tip, at most this)
            paid = self.fees.base_fee + tx.priority_fee
            if paid < price:
                price = paid
        fee = gas * price
        ledger.transfer(tx.sender, FEE_SINK, fee, now)
        self.total_gas += gas
        self.total_fees += fee
        return Receipt(status, reason, gas, fee, self.block_number, now, result,
                       tuple(ctx.payments), None if price == tx.gas_price else price)

    def _finish(self, tx: Tx, receipt: Receipt) -> None:
        tx.receipt = receipt
        self.receipts.append(tx, receipt)
        if tx.on_receipt is not None:
            tx.on_receipt(tx, receipt)
        for hook in self.receipt_hooks:
            hook(tx, receipt)

    def transfer_outside_tx(self, src: str, dst: str, amount: int, memo: str) -> None:
        """Move money outside any transaction (a trusted role's action), and log it."""
        now = self.env.now
        self.ledger.transfer(src, dst, amount, now)
        if amount:
            self.internal_transfers.append((now, src, dst, amount, memo))

    # -- free views ---------------------------------------------------------------------------
    def view(self, address: str, method: str, *args: Any) -> Any:
        """Read-only call at the latest block: no transaction, no gas, no fee."""
        fn = self._views.get((address, method))
        if fn is None:
            fn = self._views[(address, method)] = getattr(self.contracts[address], "view_" + method)
        return fn(self.block_timestamp, *args)
