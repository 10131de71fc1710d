"""sumsim's Python contract behind the same interface as the EVM driver (``evm_drt.EvmDRT``).

``CollaborativeTrainer`` + ``DepositRefundTake`` + the original perceptron variant, executed
call by call at chosen whole-second block timestamps, as the chain executes a transaction:
the value moves to the contract, the call runs on a :class:`~sumsim.chain.CallContext` (the
fork's gas charged, intrinsic first), and a revert sends the value back.  Gas price 0, as the
EVM driver's, so balances move exactly by the values sent and paid back.

Refund and report take a contribution id in sumsim (the EVM contract takes the sample back and
checks its hash); the driver passes the id of the same contribution, which has the same index
on both sides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from evm_drt import EvmState, TxResult

from sumsim.chain import CallContext, Ledger, Revert
from sumsim.chain.evm_gas import pricer
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.mechanisms.drt import DepositRefundTake
from sumsim.models import Perceptron

CONTRACT = "contract"
GAS_LIMIT = 10**9


@dataclass
class Call:
    """What a call left behind, for classifying outcomes."""

    method: str
    sender: str
    time: int
    result: TxResult


class SumsimDRT:
    """The DRT contract of sumsim with named wallets, driven like :class:`evm_drt.EvmDRT`."""

    def __init__(self, weights: list[int], *, intercept: int = 0, learning_rate: int = 1,
                 cost_weight: int = 0, refund_wait_s: int = 0, owner_claim_wait_s: int = 0,
                 any_address_claim_wait_s: int = 0, wallets: dict[str, int] | None = None,
                 owner: str | None = None, start_time: int = 0, fork: str = "prague") -> None:
        self.ledger = Ledger()
        self.wallets = dict(wallets or {})
        for name, balance in self.wallets.items():
            self.ledger.open(name, balance)
        self.ledger.open(CONTRACT, 0)
        model = Perceptron(len(weights), variant="original", learning_rate=learning_rate)
        model.w[:] = np.asarray(weights, dtype=np.int64)
        model.b = np.int64(intercept)
        self.model = model
        self.im = DepositRefundTake(refund_wait_s=refund_wait_s,
                                    owner_claim_wait_s=owner_claim_wait_s,
                                    any_address_claim_wait_s=any_address_claim_wait_s,
                                    cost_weight=cost_weight, start_time=start_time)
        self.contract = CollaborativeTrainer(CONTRACT, self.ledger, model, self.im, owner)
        self.gas = pricer(fork)
        self.time = start_time
        self.block = 0

    def _transact(self, sender: str, method: str, args: tuple[Any, ...], value: int,
                  t: int) -> TxResult:
        if t < self.time:
            raise ValueError(f"block time goes back: {t} < {self.time}")
        if t > self.time:
            self.block += 1
        self.time = t
        ledger = self.ledger
        ctx = CallContext(sender, value, t, self.block, GAS_LIMIT, self.gas)
        ledger.transfer(sender, CONTRACT, value, t)
        try:
            ctx.charge(self.gas.fork.intrinsic)
            ret = self.contract.execute(ctx, method, args)
        except Revert as r:
            ledger.transfer(CONTRACT, sender, value, t)
            return TxResult(False, r.reason, None, 0, ctx.gas_used, ctx.gas_used)
        received = sum(a for to, a, _ in ctx.payments if to == sender)
        return TxResult(True, None, int(ret), received, ctx.gas_used, ctx.gas_used)

    def add(self, sender: str, x: list[int], y: int, value: int, t: int) -> TxResult:
        return self._transact(sender, "add_data", (np.array(x, dtype=np.int64), y), value, t)

    def refund(self, sender: str, cid: int, t: int, *, value: int = 0) -> TxResult:
        return self._transact(sender, "refund", (cid,), value, t)

    def report(self, sender: str, cid: int, t: int, *, value: int = 0) -> TxResult:
        return self._transact(sender, "report", (cid,), value, t)

    # -- views ----------------------------------------------------------------------------
    def predict(self, x: list[int]) -> int:
        return self.model.predict(np.array(x, dtype=np.int64))

    def required_deposit(self, t: int | None = None) -> int:
        return self.im.required_deposit(self.time if t is None else t)

    def weights(self) -> list[int]:
        return [int(w) for w in self.model.w]

    def intercept(self) -> int:
        return int(self.model.b)

    def balance(self, name: str) -> int:
        return self.ledger.balances[name]

    def claimable(self, cid: int) -> int:
        """What is left under the record ``cid`` names (the one that rewrote it, if any)."""
        rec = self.contract.data.get(cid)
        assert rec is not None
        return rec.claimable

    def state(self) -> EvmState:
        recs = self.contract.data.records
        return EvmState(
            time=self.time,
            balances={n: self.ledger.balances[n] for n in self.wallets},
            contract_balance=self.ledger.balances[CONTRACT],
            claimable=[self.claimable(r.id) for r in recs],
            num_valid={n: self.im.num_valid.get(n, 0) for n in self.wallets},
            total_good=self.im.total_good,
            last_update_time=self.im.last_update_time,
            num_contributions=len(recs),
        )
