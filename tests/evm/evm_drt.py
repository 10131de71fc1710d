"""Python driver for the project's Vyper DRT contract (``drt_perceptron.vy``) on py-evm.

It exists so that tests can run the same sequence of actions against sumsim's Python contract
and against a real EVM, and compare outcomes (revert reasons, payouts, balances, the model).

Design choices, and why:

- **One private ``boa.Env`` per driver.**  titanoboa's pytest plugin wraps every test, fixture
  and Hypothesis example in a snapshot ("anchor") of the global ``boa.env``.  Measuring gas
  per transaction needs ``state.lock_changes()`` between calls (see below), which would
  invalidate those snapshots; a private environment keeps both working and isolates drivers
  from one another.  Create a fresh driver per test or per Hypothesis example.
- **Gas price 0, gas not charged.**  boa executes a call as a bare message, without the
  transaction envelope: no fee is deducted.  So wallet balances move *exactly* by the value
  sent and the value the contract pays back, which is what a differential test compares.
  Gas is reported separately (``TxResult.gas``) rather than charged.
- **Transaction-equivalent gas.**  Before each call the driver ends the previous
  "transaction" (``lock_changes``: storage original values become the current ones and
  warm/cold access sets are cleared) and warms the sender and the contract as a real
  transaction would.  ``TxResult.gas`` = 21,000 + calldata (4 per zero byte, 16 per non-zero
  byte) + execution gas - refund (capped at 1/5), floored by EIP-7623 (Prague):
  what a receipt's ``gasUsed`` would say under boa's default fork.
- **Whole-second block time.**  Every action takes the block timestamp ``t``; it may repeat
  (several transactions in one block) but never go back.
- **The caller keeps the data.**  The contract stores only the keccak of a sample, so the
  driver remembers each contribution's features and passes them back to refund/report.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import boa
from boa.contracts.vyper.vyper_contract import VyperContract, VyperDeployer
from boa.environment import Env
from eth_abi.abi import decode as abi_decode

CONTRACT_PATH = Path(__file__).with_name("drt_perceptron.vy")
ZERO_ADDRESS = "0x" + "00" * 20
#: ``Error(string)`` selector: how ``assert cond, "reason"`` reverts.
_ERROR_SELECTOR = bytes.fromhex("08c379a0")
#: Reason used when a sender cannot fund the call's value (mirrors sumsim's chain, which
#: rejects such a transaction before execution).
INSUFFICIENT_FUNDS = "Insufficient funds for gas * price + value."

# Gas of the transaction envelope (Istanbul+ calldata prices; EIP-7623 floor from Prague).
TX_BASE_GAS = 21_000
CALLDATA_ZERO_GAS = 4
CALLDATA_NONZERO_GAS = 16
FLOOR_PER_TOKEN = 10
NONZERO_TOKENS = 4
REFUND_QUOTIENT = 5


@cache
def deployer() -> VyperDeployer:
    """The compiled contract (compiled once per process: compiling takes ~0.2 s)."""
    return boa.load_partial(str(CONTRACT_PATH))


def tx_gas(calldata: bytes, exec_gas: int, refund: int) -> int:
    """``gasUsed`` of a transaction carrying ``calldata`` whose call used ``exec_gas``."""
    zeros = calldata.count(0)
    nonzeros = len(calldata) - zeros
    used = TX_BASE_GAS + CALLDATA_ZERO_GAS * zeros + CALLDATA_NONZERO_GAS * nonzeros + exec_gas
    used -= min(refund, used // REFUND_QUOTIENT)
    floor = TX_BASE_GAS + FLOOR_PER_TOKEN * (zeros + NONZERO_TOKENS * nonzeros)
    return max(used, floor)


def revert_reason(output: bytes) -> str:
    """The ``Error(string)`` message of a revert; ``""`` for a bare revert (or out of gas);
    the raw output in hex for anything else."""
    if output[:4] == _ERROR_SELECTOR:
        (reason,) = abi_decode(["string"], output[4:])
        return str(reason)
    return output.hex()


@dataclass(frozen=True, slots=True)
class TxResult:
    """Outcome of one transaction."""

    ok: bool
    #: Revert reason; None on success.
    reason: str | None
    #: Returned value: the contribution id (add) or the amount paid (refund/report).
    value: int | None
    #: Net wei the sender received from the contract (excess deposit, refund or take).
    received: int
    #: Transaction-equivalent gas (see the module docstring); 0 when rejected.
    gas: int
    #: Gas of the call's execution alone (no intrinsic cost, no refund).
    exec_gas: int
    #: True if the transaction never executed (the sender could not fund ``value``).
    rejected: bool = False


@dataclass(frozen=True, slots=True)
class EvmState:
    """Public state of the chain and the contract at the latest block."""

    time: int
    balances: dict[str, int]
    contract_balance: int
    claimable: list[int]
    num_valid: dict[str, int]
    total_good: int
    last_update_time: int
    num_contributions: int


class EvmDRT:
    """The DRT contract deployed on a private py-evm chain, with named wallets.

    ``owner`` names the wallet that may take deposits after ``owner_claim_wait_s``; None
    makes the owner the zero address, so that early path is unreachable (as in the deployed
    original, whose mechanism is owned by the trainer contract).
    """

    def __init__(
        self,
        weights: list[int],
        *,
        intercept: int = 0,
        learning_rate: int = 1,
        cost_weight: int = 0,
        refund_wait_s: int = 0,
        owner_claim_wait_s: int = 0,
        any_address_claim_wait_s: int = 0,
        wallets: dict[str, int] | None = None,
        owner: str | None = None,
        start_time: int = 0,
    ) -> None:
        self.env = Env()
        self.env.timestamp = int(start_time)
        self.time = int(start_time)
        self.addresses: dict[str, Any] = {}
        for name, balance in (wallets or {}).items():
            self.add_wallet(name, balance)
        if owner is not None and owner not in self.addresses:
            raise KeyError(f"owner {owner!r} is not a wallet")
        owner_address = ZERO_ADDRESS if owner is None else self.addresses[owner]
        self.contract: VyperContract = deployer().deploy(
            [int(w) for w in weights], int(intercept), int(learning_rate), int(cost_weight),
            int(refund_wait_s), int(owner_claim_wait_s), int(any_address_claim_wait_s),
            owner_address, env=self.env)
        #: Features of each stored contribution, by id: passed back to refund/report.
        self.data: list[list[int]] = []

    # -- wallets and time ---------------------------------------------------------------
    def add_wallet(self, name: str, balance: int) -> None:
        """Create a named externally-owned account holding ``balance`` wei."""
        if name in self.addresses:
            raise ValueError(f"wallet {name!r} already exists")
        address = self.env.generate_address(name)
        self.env.set_balance(address, int(balance))
        self.addresses[name] = address

    def balance(self, name: str) -> int:
        return int(self.env.get_balance(self.addresses[name]))

    def _at(self, t: int) -> None:
        t = int(t)
        if t < self.time:
            raise ValueError(f"block time goes back: {t} < {self.time}")
        if t > self.time:
            self.env.evm.patch.block_number += 1
        self.env.timestamp = t
        self.time = t

    # -- transactions ---------------------------------------------------------------------
    def _transact(self, sender: str, method: str, args: tuple[Any, ...], value: int,
                  t: int) -> TxResult:
        self._at(t)
        address = self.addresses[sender]
        if self.env.get_balance(address) < value:
            return TxResult(False, INSUFFICIENT_FUNDS, None, 0, 0, 0, rejected=True)
        calldata = getattr(self.contract, method).prepare_calldata(*args)
        state = self.env.evm.vm.state
        # A new transaction: fresh original storage values and access sets, with the
        # sender and the callee warm (EIP-2929).
        state.lock_changes()
        state.mark_address_warm(address.canonical_address)
        state.mark_address_warm(self.contract.address.canonical_address)
        before = self.env.get_balance(address)
        computation = self.env.execute_code(
            to_address=self.contract.address, sender=address, data=calldata, value=int(value),
            contract=self.contract)
        exec_gas = int(computation.get_gas_used())
        if computation.is_error:
            # A revert undoes the value transfer too: nothing moved.
            gas = tx_gas(calldata, exec_gas, 0)
            return TxResult(False, revert_reason(computation.output), None, 0, gas, exec_gas)
        received = int(self.env.get_balance(address) - before + value)
        (ret,) = abi_decode(["uint256"], computation.output)
        gas = tx_gas(calldata, exec_gas, int(computation.get_gas_refund()))
        return TxResult(True, None, int(ret), received, gas, exec_gas)

    def add(self, sender: str, x: list[int], y: int, value: int, t: int) -> TxResult:
        """``add_data(x, y)`` paying ``value``; on success ``value`` is the new id."""
        features = [int(i) for i in x]
        res = self._transact(sender, "add_data", (features, int(y)), int(value), t)
        if res.ok:
            assert res.value == len(self.data), "contribution ids are sequential"
            self.data.append(features)
        return res

    def _claim(self, method: str, sender: str, cid: int, t: int, x: list[int] | None,
               value: int) -> TxResult:
        if x is None:
            x = self.data[cid] if 0 <= cid < len(self.data) else []
        return self._transact(sender, method, (int(cid), [int(i) for i in x]), int(value), t)

    def refund(self, sender: str, cid: int, t: int, *, x: list[int] | None = None,
               value: int = 0) -> TxResult:
        """``refund(cid, x)``; ``x`` defaults to the stored contribution's features
        (pass another to test the data check, ``value`` to test non-payability)."""
        return self._claim("refund", sender, cid, t, x, value)

    def report(self, sender: str, cid: int, t: int, *, x: list[int] | None = None,
               value: int = 0) -> TxResult:
        """``report(cid, x)``; same conventions as `refund`."""
        return self._claim("report", sender, cid, t, x, value)

    # -- free views -----------------------------------------------------------------------
    def predict(self, x: list[int]) -> int:
        return int(self.contract.predict([int(i) for i in x]))

    def required_deposit(self, t: int | None = None) -> int:
        """The deposit an add in a block stamped ``t`` (default: the latest) must pay.
        Does not move the clock."""
        if t is None:
            return int(self.contract.required_deposit())
        if int(t) < self.time:
            raise ValueError(f"block time goes back: {t} < {self.time}")
        try:
            self.env.timestamp = int(t)
            return int(self.contract.required_deposit())
        finally:
            self.env.timestamp = self.time

    def contract_balance(self) -> int:
        return int(self.env.get_balance(self.contract.address))

    def claimable(self, cid: int) -> int:
        return int(self.contract.claimable(int(cid)))

    def weights(self) -> list[int]:
        n = int(self.contract.n_features())
        return [int(self.contract.weights(i)) for i in range(n)]

    def intercept(self) -> int:
        return int(self.contract.intercept())

    def num_contributions(self) -> int:
        return int(self.contract.num_contributions())

    def state(self) -> EvmState:
        c = self.contract
        n = int(c.num_contributions())
        return EvmState(
            time=self.time,
            balances={name: self.balance(name) for name in self.addresses},
            contract_balance=int(self.env.get_balance(c.address)),
            claimable=[int(c.claimable(i)) for i in range(n)],
            num_valid={name: int(c.num_valid(a)) for name, a in self.addresses.items()},
            total_good=int(c.total_good()),
            last_update_time=int(c.last_update_time()),
            num_contributions=n,
        )
