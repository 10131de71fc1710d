"""Property tests for incentive mechanisms (and defenses): the fund-invariant state machine.

Any registered mechanism, built-in or plug-in, gets the same Hypothesis state machine: four
funded agents and an owner send random adds (exact, over- and under-paid, out of gas), refunds,
reports, claims on contributions that do not exist, honest round trips ("add what the model
predicts, wait, refund") and disputes ("add what it contradicts, wait, report"), in single blocks
or several to a block, while the clock jumps to the mechanism's own claim-time boundaries
(one block and one second either side), the model is nudged off-chain and the gas price moves.
The mechanism's actors (e.g. a bounty provider) run beside them on the same clock.

After every step it checks, for every new receipt and the whole state:

1. **Supply**: the sum of all balances never changes; every balance is a non-negative int.
2. **Records**: every contribution's ``refunded + taken + claimable + forfeited + pooled``
   equals its initial deposit, with ``claimable >= 0`` — so nothing is ever paid twice.
3. **Solvency**: the contract holds exactly what it still owes: the claimable amounts plus what
   the mechanism holds itself (``held()``).
4. **Receipts replayed**: each transaction moved exactly the money its receipt declares (value
   in, the logged payments out, the fee) and nothing else; a successful add kept the deposit the
   mechanism asked for at that block; a claim paid exactly what the mechanism's own free view
   (``try``) promised on the state the call started from, lowered that contribution's claimable
   amount (or the mechanism's own holdings) by as much, touched no other record, and came no
   earlier than the mechanism's declared earliest claim time.
5. **Reverts**: a reverted or rejected call changed nothing but the sender's fee: no balance,
   record, mechanism state or prediction.

:func:`check` runs it and also measures which lines of the mechanism's module ran, so a test can
require every payout branch to be reached.  A plug-in author tests a mechanism in a few lines::

    from sumsim.testing import check

    def test_my_mechanism():
        report = check({"kind": "flat_deposit", "deposit": "0.1"}, examples=100)
        assert report.ok, report.failure
        assert not report.missed("check_refund", "check_report")

``sumsim invariants --mechanism NAME`` runs the same from the command line.
"""

from __future__ import annotations

import copy
import dis
import inspect
import math
import sys
import traceback
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from pydantic import BaseModel, ValidationError
from scipy import sparse

import sumsim.registry as registry
from sumsim.chain import FEE_SINK, REJECTED, REVERTED, SUCCESS, Chain, Receipt, Tx
from sumsim.config import PluginConfig
from sumsim.contract.mechanism import IncentiveMechanism, MechanismConfig
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.data.base import Split
from sumsim.defenses.base import DefenseConfig, Gate
from sumsim.errors import InputError
from sumsim.models.base import Model, ModelConfig
from sumsim.scenario.loader import format_validation_error
from sumsim.world import Pool, World

CONTRACT = "contract"
OWNER = "owner"
#: The contract's own transactions (a mechanism adds others).
CORE = ("add_data", "refund", "report")
AGENTS = ("alice", "bob", "carol", "dave")
#: A mainnet block's spacing: the clock's steps around claim times and the "next" jumps.
BLOCK = 12
#: The chain's slot here: a block can be sealed in any second, so a rule off by one second
#: (a claim let through a second before its time) is reachable.
SLOT = 1
OUT_OF_GAS = "Out of gas."
#: Big enough for any deposit of the built-in mechanisms at their defaults (DRT's first add in
#: a block costs 60 ether), small enough that "dave" can run out.
FUNDS = {"alice": 10**24, "bob": 10**24, "carol": 10**22, "dave": 10**20, OWNER: 10**21}
GAS_LIMITS = st.sampled_from([3_000_000] * 12 + [60_000, 30_000, 15_000])
GAS_PRICES = st.sampled_from([0, 1, 5, 10**9, 10**10])
JUMPS = st.sampled_from([1, 11, 12, 13, 60, 600, 3600, 86_400, 7 * 86_400, 31 * 86_400])
#: How many good contributions a reporter earns first.
EARNS = st.sampled_from([0, 1, 1, 2])
#: When a claim is sent, relative to the contribution's own claim times.
WHEN = st.sampled_from(["now", "before", "second_before", "earliest", "second_after", "after",
                        "second_before_expiry", "expiry"])


# -- what the machine is built from -----------------------------------------------------------
@dataclass(frozen=True)
class Setup:
    """What one machine runs: a mechanism config, defenses, a model config and its size."""

    mechanism: MechanismConfig
    defenses: tuple[DefenseConfig, ...] = ()
    model: ModelConfig | None = None
    n_features: int = 4
    #: Replaces the mechanism class (a subclass with a planted bug, say) keeping its config.
    mechanism_class: type[IncentiveMechanism] | None = None


def _config(group: str, spec: Any) -> Any:
    """A plug-in config from a config instance, a kind name or a dict with ``kind``."""
    what = group[:-1]
    if isinstance(spec, PluginConfig):
        return spec
    if not isinstance(spec, str | Mapping):
        raise InputError(f"a {what} is given as its kind's name, a dict with 'kind' and its "
                         f"options, or its config object; got {spec!r}")
    data = {"kind": spec} if isinstance(spec, str) else dict(spec)
    if "kind" not in data:
        raise InputError(f"{what} {data!r} names no 'kind' (one of "
                         f"{sorted(registry.plugins(group))})")
    try:
        plugin = registry.get(group, str(data.get("kind")))
    except KeyError as e:
        raise InputError(str(e.args[0]), field=what) from None
    try:
        return plugin.config.model_validate(data)
    except ValidationError as e:
        # One line naming the option, as a scenario's errors do (a validator that checks
        # several options names the one at fault with FieldError).
        raise format_validation_error(e, f"{group[:-1]} {data.get('kind')!r}", data,
                                      plugin.config) from None


def make_setup(mechanism: Any, *, defenses: Iterable[Any] = (), model: Any = None,
               n_features: int = 4,
               mechanism_class: type[IncentiveMechanism] | None = None) -> Setup:
    """A :class:`Setup` from configs, kind names or dicts (``{"kind": ..., **options}``)."""
    return Setup(_config("mechanisms", mechanism),
                 tuple(_config("defenses", d) for d in defenses),
                 None if model is None else _config("models", model), n_features,
                 mechanism_class)


# -- snapshots ----------------------------------------------------------------------------------
def _record(r: Any) -> tuple[Any, ...]:
    return (r.id, r.author, r.x.tobytes(), r.y, r.added_time, r.initial_deposit, r.claimable,
            frozenset(r.claimed_by), r.refunded, r.taken, r.status, r.forfeited, r.pooled)


@dataclass(frozen=True)
class Snapshot:
    balances: dict[str, int]
    records: tuple[tuple[Any, ...], ...]
    mechanism: Any
    predictions: tuple[int, ...]
    held: int


@dataclass
class Event:
    """One transaction with the state it started from and the state it left."""

    tx: Tx
    before: Snapshot
    #: What the mechanism's free views said on ``before``: the claim amount (or None), the
    #: required deposit, the contribution's earliest claim time.
    promised: int | None
    deposit: int
    earliest: float
    #: The id of the contribution a claim acts on (the one that rewrote the id it names, if
    #: any; None for other calls and unknown ids).
    acts_on: int | None = None
    receipt: Receipt | None = None
    after: Snapshot | None = None


# -- the machine ----------------------------------------------------------------------------------
class FundInvariants(RuleBasedStateMachine):
    """The fund-invariant state machine; :func:`machine` binds it to a :class:`Setup`."""

    setup: Setup
    contributions = Bundle("contributions")

    def __init__(self) -> None:
        super().__init__()
        s = self.setup
        self.env = simpy.Environment()
        self.chain = Chain(self.env, block_time_s=SLOT, block_gas_limit=30_000_000,
                           gas_price_wei=1)
        ledger = self.chain.ledger
        for name, wei in FUNDS.items():
            ledger.open(name, wei)
        n = s.n_features
        # Every subset of the features is a sample: the pool, the test set and the probes.
        subsets = [np.flatnonzero([(i >> k) & 1 for k in range(n)]) for i in range(2**n)]
        self.probes = [np.asarray(x, dtype=np.int64) for x in subsets]
        x = sparse.csr_matrix((np.ones(sum(len(v) for v in subsets)),
                               np.concatenate(subsets).astype(np.int32),
                               np.cumsum([0] + [len(v) for v in subsets])), shape=(2**n, n))
        y = np.array([int(len(v) % 2 == 0) for v in subsets])
        mcfg: Any = s.model or registry.get("models", "perceptron").config()
        self.model: Model = registry.get("models", mcfg.kind).impl.from_config(mcfg, n, 2, True)
        cls = s.mechanism_class or registry.get("mechanisms", s.mechanism.kind).impl
        self.mech: IncentiveMechanism = cls.from_config(s.mechanism)
        for address, balance in self.mech.accounts().items():
            ledger.open(address, balance)
        self.trainer = CollaborativeTrainer(CONTRACT, ledger, self.model, self.mech, OWNER)
        self.chain.deploy(self.trainer)
        split = Split(x[:0], y[:0], x, np.arange(2**n), y, x, y, np.zeros(2**n, dtype=bool))
        self.world = World(self.env, self.chain, CONTRACT, Pool(x, y), 3_000_000, 2,
                           trainer=self.trainer, owner=OWNER, seed=7, split=split)
        self.gates: list[Gate] = []
        for d in s.defenses:
            gate = registry.get("defenses", d.kind).impl(d)
            gate.wire(self.world)
            self.gates.append(gate)
        self.trainer.gates = list(self.gates)
        for actor in self.mech.actors(self.world):
            self.env.process(actor)
        self.supply = ledger.supply
        self.gas_price = 1
        self.events: list[Event] = []
        self.pending: dict[int, Event] = {}
        self.checked = 0
        self.crashed = False
        self.chain.tx_hooks.append(self._before_tx)
        self.chain.receipt_hooks.append(self._on_receipt)
        #: What happened, for a report: (method, status, reason) -> count.
        self.outcomes: dict[tuple[str, str, str], int] = {}
        #: The mechanism's own transactions and how to draw their arguments (None: arguments
        #: the machine cannot make up; those calls are only replayed).
        self.own = {name: _argument_strategies(fn, self.probes)
                    for name, (fn, _payable) in self.mech.transactions().items()}

    # -- observation ----------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        t = self.trainer
        return Snapshot(dict(self.chain.ledger.balances),
                        tuple(_record(r) for r in t.data.records),
                        copy.deepcopy(self.mech.summary()),
                        tuple(t.model.predict(x) for x in self.probes), self.mech.held())

    def _before_tx(self, tx: Tx) -> None:
        view = self.trainer
        now = self.chain.block_timestamp
        promised, earliest, acts_on = None, -math.inf, None
        if tx.method in ("refund", "report") and tx.args:
            cid = tx.args[0]
            promised = view.view_try(now, tx.method, cid, tx.sender)
            rec = view.data.get(cid)
            if rec is not None:
                earliest = view.view_claim_times(now, cid)[0]
                acts_on = rec.id
        deposit = view.view_required_deposit(now)
        self.pending[tx.seq] = Event(tx, self.snapshot(), promised, deposit, earliest,
                                     acts_on)

    def _on_receipt(self, tx: Tx, receipt: Receipt) -> None:
        ev = self.pending.pop(tx.seq, None)
        if ev is None:  # rejected at submission or at sealing: nothing ran
            snap = self.snapshot()
            ev = Event(tx, snap, None, 0, -math.inf)
        ev.receipt, ev.after = receipt, self.snapshot()
        self.events.append(ev)
        key = (tx.method, receipt.status, receipt.reason)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1

    # -- driving ------------------------------------------------------------------------------
    def send(self, sender: str, method: str, args: tuple[Any, ...], value: int = 0,
             gas_limit: int = 3_000_000) -> Tx:
        return self.chain.submit(Tx(sender, CONTRACT, method, args, value, gas_limit,
                                    self.gas_price))

    def run(self, until: float) -> None:
        self.crashed = True  # an exception escaping the contract is the failure to report
        self.env.run(until=until)
        self.crashed = False

    def mine(self) -> None:
        """Run the clock just past the next slot boundary, until the mempool is empty."""
        for _ in range(50):
            if not self.chain.pending_count:
                return
            self.run(until=(math.floor(self.env.now / SLOT) + 1) * SLOT + 0.5)
        raise AssertionError("pending transactions are never mined")

    def next_block(self) -> int:
        return self.chain.next_block_timestamp()

    def _value(self, pay: str) -> int:
        exact = self.trainer.view_required_deposit(self.chain.block_timestamp, self.next_block())
        return {"exact": exact, "over": exact + 12_345, "double": 2 * exact,
                "under": exact // 2, "zero": 0}[pay]

    def _add(self, agent: str, x: np.ndarray, label: int, value: int, gas_limit: int
             ) -> int | None:
        tx = self.send(agent, "add_data", (x, label), value, gas_limit)
        self.mine()
        r = tx.receipt
        return int(r.result) if r is not None and r.ok else None

    def _claim(self, sender: str, method: str, cid: int, gas_limit: int = 3_000_000) -> None:
        self.send(sender, method, (cid,), 0, gas_limit)
        self.mine()

    def _advance_to(self, t: float) -> None:
        """Run the clock so that the next transaction sent lands in the first block stamped at
        or after ``t`` (never backwards)."""
        before = (math.ceil(t / SLOT) - 1) * SLOT + 0.5
        if before > self.env.now:
            self.run(until=before)

    # -- rules --------------------------------------------------------------------------------
    @initialize()
    def start(self) -> None:
        """Let the mechanism's actors make their opening moves (e.g. lock a bounty)."""
        self.run(until=3 * BLOCK + 0.5)

    @rule(target=contributions, agent=st.sampled_from(AGENTS), features=st.data(),
          label=st.integers(0, 1),
          pay=st.sampled_from(["exact", "exact", "over", "double", "under", "zero"]),
          gas_limit=GAS_LIMITS)
    def add(self, agent: str, features: st.DataObject, label: int, pay: str,
            gas_limit: int) -> Any:
        x = features.draw(st.sampled_from(self.probes), label="x")
        cid = self._add(agent, x, label, self._value(pay), gas_limit)
        return multiple() if cid is None else cid

    @rule(target=contributions, agent=st.sampled_from(AGENTS), features=st.data(),
          when=st.sampled_from(["before", "earliest", "earliest", "after"]))
    def earn_good_data(self, agent: str, features: st.DataObject, when: str) -> Any:
        """An honest round trip: add what the model predicts, wait until (about) the earliest
        claim time, refund."""
        return self._earn(agent, features, when)

    def _earn(self, agent: str, features: st.DataObject, when: str = "earliest") -> Any:
        x = features.draw(st.sampled_from(self.probes), label="x")
        y = self.trainer.view_predict(self.chain.block_timestamp, x)
        cid = self._add(agent, x, y, self._value("exact"), 3_000_000)
        if cid is None:
            return multiple()
        self._advance_to_claim_time(cid, when)
        self._claim(agent, "refund", cid)
        return cid

    @rule(target=contributions, author=st.sampled_from(AGENTS), features=st.data(),
          when=WHEN, contradict=st.sampled_from([True, True, True, False]),
          reporters=st.lists(st.tuples(st.sampled_from((*AGENTS, OWNER)), EARNS, EARNS),
                             min_size=1, max_size=3))
    def dispute(self, author: str, features: st.DataObject, when: str, contradict: bool,
                reporters: list[tuple[str, int, int]]) -> Any:
        """Reporters earn good data, then a contribution the model contradicts is added and,
        from ``when`` on, each reporter in turn reports it, having earned more good data just
        before if listed (and with the model made to disagree again if asked): takes that are
        shared, capped by what is left, refused, or all after the waits."""
        for reporter, before, _ in reporters:
            for _ in range(before if reporter in AGENTS else 0):
                self._earn(reporter, features)
        x = features.draw(st.sampled_from(self.probes), label="x")
        y = 1 - self.trainer.view_predict(self.chain.block_timestamp, x)
        cid = self._add(author, x, y, self._value("exact"), 3_000_000)
        if cid is None:
            return multiple()
        self._advance_to_claim_time(cid, when)
        for reporter, _, between in reporters:
            for _ in range(between if reporter in AGENTS else 0):
                self._earn(reporter, features)
            if contradict:
                self._make_model_disagree(cid)
            self._claim(reporter, "report", cid)
        return cid

    def _advance_to_claim_time(self, cid: int, when: str) -> None:
        """Move the clock so the next transaction executes at a claim-time boundary of
        ``cid``: one block or one second before / at / one second or one block after its
        earliest claim time, one second before its expiry or at it ("now": stay)."""
        if when == "now":
            return
        earliest, expiry = self.trainer.view_claim_times(self.env.now, cid)
        t = {"before": earliest - BLOCK, "second_before": earliest - 1, "earliest": earliest,
             "second_after": earliest + 1, "after": earliest + BLOCK,
             "second_before_expiry": expiry - 1, "expiry": expiry}[when]
        if math.isfinite(t) and t < self.env.now + 400 * 86_400:
            self._advance_to(t)

    def _make_model_disagree(self, cid: int) -> None:
        """Train the model off-chain until it disagrees with contribution ``cid`` (bounded)."""
        rec = self.trainer.data.records[cid]
        model = self.trainer.model
        for _ in range(8):
            if model.predict(rec.x) != rec.y:
                return
            model.update(rec.x, 1 - rec.y)

    @rule(cid=contributions, agent=st.sampled_from(AGENTS),
          as_author=st.sampled_from([True, True, True, False]), gas_limit=GAS_LIMITS,
          when=WHEN, agree=st.booleans())
    def refund(self, cid: int, agent: str, as_author: bool, gas_limit: int, when: str,
               agree: bool) -> None:
        """Claim a refund at a claim-time boundary (with the model made to agree, if asked)."""
        sender = self.trainer.data.records[cid].author if as_author else agent
        self._advance_to_claim_time(cid, when)
        if agree:
            rec = self.trainer.data.records[cid]
            for _ in range(8):
                if self.trainer.model.predict(rec.x) == rec.y:
                    break
                self.trainer.model.update(rec.x, rec.y)
        self._claim(sender, "refund", cid, gas_limit)

    @rule(cid=contributions, reporter=st.sampled_from((*AGENTS, OWNER)),
          as_author=st.sampled_from([False, False, False, True]), gas_limit=GAS_LIMITS,
          contradict=st.booleans(), earn_first=st.sampled_from([0, 0, 1, 2]),
          features=st.data(), when=WHEN)
    def report(self, cid: int, reporter: str, as_author: bool, gas_limit: int,
               contradict: bool, earn_first: int, features: st.DataObject, when: str) -> None:
        """Report a contribution at a claim-time boundary (the reporter having earned
        ``earn_first`` more good data first, and with the model made to disagree, if asked)."""
        sender = self.trainer.data.records[cid].author if as_author else reporter
        for _ in range(earn_first if sender in AGENTS else 0):
            self._earn(sender, features)
        self._advance_to_claim_time(cid, when)
        if contradict:
            self._make_model_disagree(cid)
        self._claim(sender, "report", cid, gas_limit)

    @rule(agent=st.sampled_from((*AGENTS, OWNER)), method=st.sampled_from(["refund", "report"]),
          beyond=st.integers(0, 2))
    def claim_unknown(self, agent: str, method: str, beyond: int) -> None:
        """A claim naming no contribution (possibly one still in the mempool)."""
        self._claim(agent, method, len(self.trainer.data.records) + beyond)

    @rule(calls=st.lists(st.tuples(st.sampled_from(AGENTS), st.sampled_from(
        ["add", "refund", "report"]), st.integers(0, 2**8 - 1), st.integers(0, 1),
        st.sampled_from([0, 1, 5, 10**10])), min_size=2, max_size=4))
    def same_block(self, calls: list[tuple[str, str, int, int, int]]) -> None:
        """Several transactions in one block, ordered by gas price (the second add of a block
        pays the full price, a claim may race another)."""
        n = len(self.trainer.data.records)
        for agent, method, pick, label, price in calls:
            self.gas_price = price
            if method == "add":
                x = self.probes[pick % len(self.probes)]
                self.send(agent, "add_data", (x, label), self._value("exact"))
            elif n:
                self.send(agent, method, (pick % n,))
        self.mine()

    @rule(target=contributions, agent=st.sampled_from(AGENTS), features=st.data(),
          label=st.integers(0, 1),
          between=st.lists(st.sampled_from((*AGENTS, OWNER)), max_size=2),
          after=st.lists(st.tuples(st.sampled_from((*AGENTS, OWNER)), st.booleans()),
                         max_size=3),
          when=WHEN, contradict=st.booleans())
    def same_key_again(self, agent: str, features: st.DataObject, label: int,
                       between: list[str], after: list[tuple[str, bool]], when: str,
                       contradict: bool) -> Any:
        """The same sender adds the same labelled sample twice in one block, with claims on
        the first in between (the author's refund, others' reports: possible in that block
        when a wait is zero).  The second add is refused while the first holds something
        claimable and rewrites its record otherwise (a zero deposit, or one claimed already);
        then the claimers in between claim again, on the second id, and others name either id
        (``after``: by whom, the second id or the first).  With
        ``contradict`` the label is one the model firmly disagrees with (trained off-chain
        first), so that reports in the block can succeed."""
        self.mine()
        x = features.draw(st.sampled_from(self.probes), label="x")
        if contradict:
            predicted = self.trainer.model.predict(x)
            for _ in range(4):
                self.trainer.model.update(x, predicted)
            label = 1 - predicted
        first = len(self.trainer.data.records)
        self.send(agent, "add_data", (x, label), self._value("exact"))
        for who in between:
            self.send(who, "refund" if who == agent else "report", (first,))
        # (the block's second add may be dearer than the first: overpaid, the change returned)
        rich = self.chain.ledger.balances[agent] // 4
        self.send(agent, "add_data", (x, label), min(rich, max(self._value("exact"), 10**20)))
        self.mine()
        added = [c for c in (first, first + 1) if c < len(self.trainer.data.records)
                 and self.trainer.data.records[c].author == agent]
        if not added:
            return multiple()
        self._advance_to_claim_time(added[0], when)
        for who, second in [(w, True) for w in between] + after:
            cid = added[-1] if second else added[0]
            self.send(who, "refund" if who == agent else "report", (cid,))
        self.mine()
        return multiple(*added)

    @rule(pick=st.integers(0, 2**16), sender=st.sampled_from((*AGENTS, OWNER, None)),
          when=st.sampled_from(["now", "next", "later"]))
    def replay_mechanism_call(self, pick: int, sender: str | None, when: str) -> None:
        """Send again a transaction the mechanism added (one its actors made), with the same
        arguments and value, from someone else or its own sender (None), now or later:
        access control and phase checks."""
        calls = [e.tx for e in self.events if e.tx.method not in CORE and e.receipt is not None
                 and e.receipt.ok]
        if not calls:
            return
        tx = calls[pick % len(calls)]
        if when != "now":
            self._advance_to(self.env.now + (BLOCK if when == "next" else 86_400))
        self.send(sender or tx.sender, tx.method, tx.args, tx.value)
        self.mine()

    @precondition(lambda self: any(v is not None for v in self.own.values()))
    @rule(data=st.data(), sender=st.sampled_from((*AGENTS, OWNER)),
          value=st.sampled_from([0, 0, 0, 1, 10**15, 10**18]))
    def mechanism_transaction(self, data: st.DataObject, sender: str, value: int) -> None:
        """One of the mechanism's own transactions (its ``@transaction`` methods), sent by
        anyone, with or without ether, with arguments drawn from its signature (contribution
        ids and other small integers, addresses, samples, bytes): whatever it does must keep
        every invariant."""
        name = data.draw(st.sampled_from(sorted(n for n, v in self.own.items()
                                                if v is not None)), label="method")
        args = tuple(data.draw(strategy, label=f"{name} argument {i}")
                     for i, strategy in enumerate(self.own[name] or ()))
        self.send(sender, name, args, value)
        self.mine()

    @rule(dt=JUMPS)
    def advance(self, dt: int) -> None:
        self._advance_to(self.env.now + dt)

    @rule(features=st.data(), label=st.integers(0, 1), times=st.integers(1, 3))
    def nudge_model(self, features: st.DataObject, label: int, times: int) -> None:
        """Train the model off-chain between blocks (as other traffic would): agreement with
        stored contributions changes."""
        x = features.draw(st.sampled_from(self.probes), label="x")
        for _ in range(times):
            self.trainer.model.update(x, label)

    @rule(price=GAS_PRICES)
    def set_gas_price(self, price: int) -> None:
        self.gas_price = price

    def teardown(self) -> None:
        if self.crashed:
            return  # the step's own exception is the report
        self.mine()
        self.supply_is_constant()
        self.records_add_up()
        self.contract_holds_what_it_owes()
        self.receipts_replay()

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def supply_is_constant(self) -> None:
        bal = self.chain.ledger.balances
        assert all(type(v) is int and v >= 0 for v in bal.values()), bal
        assert sum(bal.values()) == self.supply, "money was created or destroyed"

    @invariant()
    def records_add_up(self) -> None:
        for r in self.trainer.data.records:
            assert type(r.claimable) is int and r.claimable >= 0, f"negative claimable: {r}"
            paid = r.refunded + r.taken + r.claimable + r.forfeited + r.pooled
            assert paid == r.initial_deposit, f"contribution {r.id} pays out {paid} of " \
                f"{r.initial_deposit}: {r}"

    @invariant()
    def contract_holds_what_it_owes(self) -> None:
        owed = self.trainer.data.total_claimable() + self.mech.held()
        have = self.chain.ledger.balances[CONTRACT]
        assert have == owed, f"the contract holds {have} but owes {owed}"

    @invariant()
    def receipts_replay(self) -> None:
        while self.checked < len(self.events):
            self._check(self.events[self.checked])
            self.checked += 1

    # -- replaying one receipt -----------------------------------------------------------------
    def _check(self, ev: Event) -> None:
        tx, r, before, after = ev.tx, ev.receipt, ev.before, ev.after
        assert r is not None and after is not None
        assert type(r.fee) is int and r.fee == r.gas_used * tx.gas_price, r
        if r.status == REJECTED:
            assert r.fee == 0 and after == before, "a rejected transaction changed state"
            return
        moved = {n: after.balances.get(n, 0) - v for n, v in before.balances.items()}
        moved = {n: v for n, v in moved.items() if v}
        if r.status == REVERTED:
            expected = {tx.sender: -r.fee, FEE_SINK: r.fee}
            assert moved == {n: v for n, v in expected.items() if v}, \
                f"a reverted {tx.method} moved {moved}"
            assert (after.records, after.mechanism, after.predictions, after.held) == (
                before.records, before.mechanism, before.predictions, before.held), \
                f"a reverted {tx.method} changed state ({r.reason})"
            if tx.method in ("refund", "report") and r.reason != OUT_OF_GAS:
                assert ev.promised is None, \
                    f"{tx.method} reverted ({r.reason}) though the view promised {ev.promised}"
            return
        assert r.status == SUCCESS
        expected = {tx.sender: -r.fee - tx.value, CONTRACT: tx.value, FEE_SINK: r.fee}
        for to, amount, _memo in r.payments:
            assert type(amount) is int and amount > 0, r.payments
            expected[to] = expected.get(to, 0) + amount
            expected[CONTRACT] -= amount
        assert moved == {n: v for n, v in expected.items() if v}, \
            f"{tx.method} moved {moved}, its receipt declares {expected}"
        if tx.method == "add_data":
            self._check_add(ev)
        elif tx.method in ("refund", "report"):
            self._check_claim(ev)

    def _check_add(self, ev: Event) -> None:
        tx, r, before, after = ev.tx, ev.receipt, ev.before, ev.after
        assert r is not None and after is not None
        cid = r.result
        assert cid == len(before.records) and after.records[:cid] == before.records, \
            "an add changed other contributions"
        rec = after.records[cid]
        kept = tx.value - sum(a for to, a, _ in r.payments if to == tx.sender)
        assert rec[5] == kept == ev.deposit, \
            f"add kept {kept}, recorded {rec[5]}, the mechanism asked {ev.deposit}"

    def _check_claim(self, ev: Event) -> None:
        tx, r, before, after = ev.tx, ev.receipt, ev.before, ev.after
        assert r is not None and after is not None
        cid = ev.acts_on if ev.acts_on is not None else tx.args[0]
        paid = sum(a for to, a, _ in r.payments if to == tx.sender)
        assert r.result == paid == ev.promised, \
            f"{tx.method} paid {paid} (result {r.result}); the view promised {ev.promised}"
        assert r.timestamp >= ev.earliest, \
            f"{tx.method} succeeded at {r.timestamp}, before the earliest claim time " \
            f"{ev.earliest} the mechanism declares"
        others = [(i, a) for i, (a, b) in enumerate(zip(before.records, after.records,
                                                         strict=True)) if a != b and i != cid]
        assert not others, f"{tx.method} on {cid} changed contribution {others[0][0]}"
        b, a = before.records[cid], after.records[cid]
        if self.mech.per_contribution:
            assert b[6] - a[6] == paid, f"claimable fell by {b[6] - a[6]}, paid {paid}"
            grew = (a[8] - b[8]) + (a[9] - b[9])
            assert grew == paid, f"refunded + taken grew by {grew}, paid {paid}"
        else:
            assert before.held - after.held == paid, \
                f"the mechanism's holdings fell by {before.held - after.held}, paid {paid}"


#: Arguments of a mechanism's own transactions, by annotation: contribution ids and other small
#: integers (and a few out of range), addresses, amounts, samples, bytes.
_ARGUMENTS: dict[str, Any] = {
    "int": st.one_of(st.integers(0, 6), st.sampled_from([-1, 10**18, 2**64])),
    "bool": st.booleans(),
    "float": st.sampled_from([0.0, 0.5, 1.0, 12.0, 86_400.0, 1e12]),
    "str": st.sampled_from((*AGENTS, OWNER, CONTRACT, "nobody")),
    "bytes": st.binary(max_size=40),
}


def _argument_strategies(fn: Callable[..., Any], probes: list[np.ndarray]
                         ) -> list[Any] | None:
    """Strategies for the arguments of a mechanism transaction ``fn(contract, ctx, *args)``
    (bound), read off its annotations; None when one cannot be drawn (``Any``, a tuple, an
    unannotated parameter)."""
    params = list(inspect.signature(fn).parameters.values())[2:]
    out = []
    for prm in params:
        if prm.kind in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD):
            continue
        strategy = _strategy_for(prm.annotation, probes)
        if strategy is None:
            return None
        out.append(strategy)
    return out


def _strategy_for(annotation: Any, probes: list[np.ndarray]) -> Any:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    text = text.replace(" ", "")
    if text.startswith("list[") and text.endswith("]"):
        inner = _strategy_for(text[5:-1], probes)
        return None if inner is None else st.lists(inner, max_size=4)
    if text.endswith("ndarray"):
        return st.sampled_from(probes)
    return _ARGUMENTS.get(text)


def machine(setup: Setup, seed: int = 0) -> type[FundInvariants]:
    """A state-machine class bound to ``setup`` (run it with Hypothesis).

    ``seed`` is part of the class's name, from which a derandomized Hypothesis search derives
    its own seed: another seed, another search (0 keeps the name without it)."""
    name = f"FundInvariants_{setup.mechanism.kind}" + (f"_{seed}" if seed else "")
    return type(name, (FundInvariants,), {"setup": setup})


# -- line coverage of the mechanism ----------------------------------------------------------
class LineCoverage:
    """Which lines of the functions of one module ran (``sys.settrace``, local tracing only in
    frames of the files they are written in)."""

    def __init__(self, module: types.ModuleType, skip: Iterable[type] = ()):
        self.file = inspect.getsourcefile(module) or ""
        #: (file, line) pairs that ran.
        self.hit: set[tuple[str, int]] = set()
        #: qualname -> (file, lines of its body).
        self.where: dict[str, tuple[str, set[int]]] = {}
        for qualname, fn in _functions(module, tuple(skip)):
            self.where[qualname] = (fn.__code__.co_filename, _lines(fn.__code__))

    @property
    def functions(self) -> dict[str, set[int]]:
        """qualname -> lines of its body."""
        return {name: lines for name, (_, lines) in self.where.items()}

    @property
    def files(self) -> set[str]:
        return {self.file} | {f for f, _ in self.where.values()}

    @classmethod
    def of(cls, impl: type, replaced_by: type | None = None) -> LineCoverage:
        """Coverage of the module holding the plug-in class ``impl``, less the classes of the
        other plug-ins written in the same module (a package may keep its mechanism, model and
        agents together: only the code the machine can reach is counted).

        ``replaced_by``: a subclass of ``impl`` that runs instead (a copy with a planted bug,
        written in a test file): its own methods, and those of the classes between it and
        ``impl``, are counted instead of the methods they override (not the test file's other
        code)."""
        module = sys.modules[impl.__module__]
        others = {p.impl for g in registry.GROUPS for p in registry.plugins(g).values()
                  if p.impl.__module__ == impl.__module__ and p.impl not in impl.__mro__}
        cov = cls(module, others)
        if replaced_by is not None and replaced_by is not impl:
            cov._replace(impl, replaced_by)
        return cov

    def _replace(self, impl: type, sub: type) -> None:
        chain = sub.__mro__[:sub.__mro__.index(impl)] if impl in sub.__mro__ else (sub,)
        for c in chain:
            for name, attr in vars(c).items():
                fn = attr.__func__ if isinstance(attr, classmethod | staticmethod) else attr
                if not isinstance(fn, types.FunctionType):
                    continue
                resolved = inspect.getattr_static(sub, name, None)
                resolved = getattr(resolved, "__func__", resolved)
                if resolved is not fn:
                    continue  # (overridden further down the chain)
                for base in impl.__mro__:  # the impl's method this one replaces
                    self.where.pop(f"{base.__qualname__}.{name}", None)
                self.where[fn.__qualname__] = (fn.__code__.co_filename, _lines(fn.__code__))

    def __enter__(self) -> LineCoverage:
        self._tracing = _Tracing([self]).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._tracing.__exit__(*exc)

    def ran(self) -> tuple[int, int]:
        """(lines run, lines) over every function counted."""
        total = sum(len(v) for _, v in self.where.values())
        return total - sum(map(len, self.missed().values())), total

    def missed(self, *names: str) -> dict[str, list[int]]:
        """Lines never run, per function (all functions, or those whose name ends with one of
        ``names``: ``"check_report"`` matches ``DepositRefundTake.check_report``)."""
        out = {}
        for qualname, (file, lines) in self.where.items():
            if names and not any(qualname.split(".")[-1] == n for n in names):
                continue
            left = sorted(ln for ln in lines if (file, ln) not in self.hit)
            if left:
                out[qualname] = left
        return out


class _Tracing:
    """Traces the lines run in the files of one or more :class:`LineCoverage` (Python has one
    trace function at a time: several modules are traced by one)."""

    def __init__(self, coverages: Iterable[LineCoverage]):
        self.by_file: dict[str, list[LineCoverage]] = {}
        for c in coverages:
            for f in c.files:
                self.by_file.setdefault(f, []).append(c)

    def _tracer(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        file = frame.f_code.co_filename
        covs = self.by_file.get(file)
        if covs is None:
            return None
        if event == "line":
            for cov in covs:  # (each counts only its own functions' lines)
                cov.hit.add((file, frame.f_lineno))
        return self._tracer

    def __enter__(self) -> _Tracing:
        self._previous = sys.gettrace()
        sys.settrace(self._tracer)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(self._previous)


def _functions(module: types.ModuleType, skip: tuple[type, ...] = ()
               ) -> list[tuple[str, types.FunctionType]]:
    """Functions and methods written in ``module``'s file (not generated ones, such as a
    dataclass's ``__init__``), but not those of its config classes (pydantic models: their
    validators run when the scenario or the machine's setup is read, before any transaction,
    so the examples could never reach them) nor of the classes in ``skip``."""
    file = inspect.getsourcefile(module)
    found = []
    for obj in vars(module).values():
        candidates: list[Any] = []
        if isinstance(obj, types.FunctionType):
            candidates = [obj]
        elif isinstance(obj, type) and (issubclass(obj, BaseModel) or obj in skip):
            continue
        elif isinstance(obj, type) and obj.__module__ == module.__name__:
            candidates = [a.__func__ if isinstance(a, classmethod | staticmethod) else a
                          for a in vars(obj).values()]
        for fn in candidates:
            if isinstance(fn, types.FunctionType) and fn.__code__.co_filename == file:
                found.append((fn.__qualname__, fn))
    return found


def _lines(code: types.CodeType) -> set[int]:
    lines = {ln for _, ln in dis.findlinestarts(code) if ln is not None}
    lines.discard(code.co_firstlineno)  # the `def` line itself
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            lines |= _lines(const)
    return lines


# -- running it -----------------------------------------------------------------------------
@dataclass
class Report:
    """What :func:`check` found."""

    setup: Setup
    examples: int
    steps: int
    ok: bool
    #: The shrunk failing sequence and the assertion, when a check failed.
    failure: str = ""
    #: (method, status, revert reason) -> how often it happened.
    outcomes: dict[tuple[str, str, str], int] = field(default_factory=dict)
    coverage: LineCoverage | None = None
    #: Line coverage of each defense's code (by defense kind).
    defense_coverage: dict[str, LineCoverage] = field(default_factory=dict)

    def missed(self, *names: str) -> dict[str, list[int]]:
        """Lines of the mechanism's module never run (see :meth:`LineCoverage.missed`)."""
        return {} if self.coverage is None else self.coverage.missed(*names)

    def summary(self) -> str:
        lines = [f"mechanism {self.setup.mechanism.kind!r}"
                 + (f" with defenses {[d.kind for d in self.setup.defenses]}"
                    if self.setup.defenses else "")
                 + (f" on model {self.setup.model.kind!r}" if self.setup.model else "")
                 + f": {self.examples} examples x up to {self.steps} steps: "
                 + ("all invariants held" if self.ok else "FAILED")]
        for (method, status, reason), n in sorted(self.outcomes.items()):
            lines.append(f"  {n:>7}  {method:<16} {status:<9} {reason}")
        covered = [("mechanism", self.coverage)] if self.coverage is not None else []
        covered += [(f"defense {kind!r}", c) for kind, c in self.defense_coverage.items()]
        for what, cov in covered:
            ran, total = cov.ran()
            lines.append(f"  {what} lines run: {ran}/{total}" + (
                "" if ran == total else " (the search stopped at its first failure)"
                if not self.ok else " (the invariants were checked only where the examples "
                "went: more --examples and --steps may reach more; lines the state machine "
                "never calls, such as option checks at construction or summary methods, "
                "stay unrun)"))
            for fn, left in cov.missed().items():
                lines.append(f"    never ran: {fn} lines {left}")
        if self.failure:
            lines.append(self.failure)
        return "\n".join(lines)


def check(mechanism: Any, *, defenses: Iterable[Any] = (), model: Any = None,
          n_features: int = 4, examples: int = 100, steps: int = 40, seed: int | None = 0,
          mechanism_class: type[IncentiveMechanism] | None = None,
          coverage: bool = True, shrink: bool = True) -> Report:
    """Run the fund-invariant machine on a mechanism (a kind name, a dict with ``kind`` and
    options, or a config) with optional defenses; return a :class:`Report` (never raises on a
    failed invariant: ``report.ok`` and ``report.failure`` say what broke).

    ``seed``: a fixed seed makes the search reproducible, another seed is another search
    (None: random).  ``mechanism_class`` replaces the registered implementation (e.g. a copy
    with a planted bug).  ``shrink``: reduce a failing sequence to a short readable one
    (slower)."""
    _check_arguments(examples, steps, seed, n_features, mechanism_class)
    if isinstance(defenses, str | Mapping):  # (one defense given alone)
        defenses = [defenses]
    setup = make_setup(mechanism, defenses=defenses, model=model, n_features=n_features,
                       mechanism_class=mechanism_class)
    cls = machine(setup, seed or 0)
    outcomes: dict[tuple[str, str, str], int] = {}
    original_init = cls.__init__

    def counting_init(self: FundInvariants) -> None:
        original_init(self)
        self.outcomes = outcomes

    cls.__init__ = counting_init  # type: ignore[method-assign]
    registered = registry.get("mechanisms", setup.mechanism.kind).impl
    cov = LineCoverage.of(registered, mechanism_class) if coverage else None
    defense_cov: dict[str, LineCoverage] = {}
    if cov is not None:
        for d in setup.defenses:
            defense_cov[d.kind] = LineCoverage.of(registry.get("defenses", d.kind).impl)
    opts = settings(max_examples=examples, stateful_step_count=steps, deadline=None,
                    database=None, derandomize=seed is not None, report_multiple_bugs=False,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate]
                    + ([Phase.shrink] if shrink else []),
                    suppress_health_check=list(HealthCheck))
    failure = ""
    try:
        if cov is not None:
            with _Tracing([cov, *defense_cov.values()]):
                run_state_machine_as_test(cls, settings=opts)
        else:
            run_state_machine_as_test(cls, settings=opts)
    except InputError as e:  # (options the harness cannot run, e.g. more pieces than samples)
        raise InputError(f"{e} (the property tests' data: {2 ** n_features} samples of "
                         f"{n_features} features)") from None
    except Exception as e:  # noqa: BLE001 - a failed invariant (or crash) is the result
        # (the exception's line, then its notes: the failing sequence Hypothesis attached)
        failure = "".join(traceback.format_exception_only(type(e), e)).strip()
    return Report(setup, examples, steps, not failure, failure, outcomes, cov, defense_cov)


#: Most features of the machine's samples (every subset of them is a sample).
MAX_FEATURES = 10


def _check_arguments(examples: Any, steps: Any, seed: Any, n_features: Any,
                     mechanism_class: Any) -> None:
    """Arguments of :func:`check` as one-line input errors naming them (Hypothesis would
    raise its own, naming its settings)."""
    for name, value, low, high in (("examples", examples, 1, None), ("steps", steps, 1, None),
                                   ("n_features", n_features, 1, MAX_FEATURES)):
        if type(value) is not int or value < low or (high is not None and value > high):
            raise InputError(f"expected a whole number from {low}"
                             + (f" to {high}" if high is not None else "")
                             + f", got {value!r}", field=name)
    if seed is not None and (type(seed) is not int or seed < 0):
        raise InputError(f"expected None or a whole number >= 0, got {seed!r}", field="seed")
    if mechanism_class is not None and not (isinstance(mechanism_class, type) and
                                            issubclass(mechanism_class, IncentiveMechanism)):
        raise InputError(f"expected a subclass of sumsim.plugin.IncentiveMechanism, got "
                         f"{mechanism_class!r}", field="mechanism_class")


def fund_invariants_test(mechanism: Any, **kwargs: Any) -> Callable[[], None]:
    """A pytest test function asserting the invariants hold, e.g.
    ``test_flat = fund_invariants_test("flat_deposit", examples=200)``."""

    def test() -> None:
        report = check(mechanism, **kwargs)
        assert report.ok, report.summary()

    return test


__all__ = ["FundInvariants", "LineCoverage", "Report", "Setup", "check",
           "fund_invariants_test", "machine", "make_setup"]
