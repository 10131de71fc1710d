"""What every agent shares: a wallet, a schedule, the shared pool, and the claim book; and
what every attacker adds: a budget and a stop rule.

Agents observe only public state (free view calls: predictions, required deposit, the list of
contributions; the public dashboard) and act only through transactions.  The
:class:`ClaimBook` is the bookkeeping a real participant would keep off-chain: which
contributions to look at again, and when.

A strategy is one module: a config class (subclass :class:`AgentConfig` or
:class:`AttackerConfig` with a literal ``kind``), an :class:`Agent` subclass overriding
:meth:`Agent.contribute` (and optionally :meth:`Agent.has_material`,
:meth:`Agent.on_receipt`, :meth:`Agent.summary_section`), and a ``plugin``.
"""

from __future__ import annotations

import heapq
import math
import numbers
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import simpy
from pydantic import Field, field_validator
from simpy.events import URGENT

from sumsim.chain import Receipt, Tx
from sumsim.chain.wake import Wake
from sumsim.config import Distribution, Ether, Exponential, Gwei, Normal, PluginConfig
from sumsim.world import World

#: How many times an agent tries again a claim on one contribution that reverted in its block.
CLAIM_RETRIES = 3
#: A claim's gas limit over its estimated gas, when the wallet cannot pay the fee of the full
#: ``chain.tx_gas_limit`` (a wallet's margin: the state may move a little between the estimate
#: and the block; the fee is for the gas used, not the limit).  So deposits waiting in the
#: contract are still claimed by a wallet spent down below a full limit's fee.
GAS_HEADROOM = 1.25
#: The shortest mean time between an agent's turns (seconds).
MIN_MEAN_INTERVAL_S = 1.0
#: The shortest median time between an agent's turns (seconds).  A heavy-tailed distribution
#: can have a mean of an hour while nearly every wait is a tiny fraction of a second (a
#: log-normal with sigma = 10 has its median 22 orders of magnitude below its mean): the mean
#: is then made by waits so rare they never occur, and the agent spins.  With the median at
#: least half a second, as with the mean at least a second, an agent takes a few turns a
#: simulated second at most (an exponential with a mean of 1 s has its median at 0.69 s).
MIN_MEDIAN_INTERVAL_S = 0.5


class AgentConfig(PluginConfig):
    """Options every agent has."""

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="The agent's address (unique in the scenario): 1-100 "
                      "letters, digits and _ . -.")
    kind: str
    balance: Ether = Field(description="Starting balance (ether).")
    max_deposit: Ether | None = Field(None, description="Skip a turn when the required "
                                      "deposit is above this (ether); default: no cap.")
    interval_s: Distribution = Field(
        default_factory=lambda: Exponential(dist="exponential", mean=3600),
        description="Time between the agent's turns.")
    start_s: float = Field(0, ge=0, description="First turn no earlier than this.")
    stop_s: float | None = Field(None, ge=0, description="No new contributions after this.")
    gas_tip_gwei: Gwei = Field(0, description="Priority fee (tip) per gas over the base fee: "
                               "its transactions pay the base fee plus this, and a higher tip "
                               "goes first in a block.")
    claim_refunds: bool = Field(True, description="Claim own refunds after t_r.")
    report: bool = Field(True, description="Take others' deposits when the model disagrees.")
    take_expired: bool = Field(True, description="Take what is left after t_a.")
    recheck_s: float = Field(86_400, gt=0, description="How long to wait before looking "
                             "again at a contribution that cannot be claimed yet.")

    def address_names(self) -> list[str]:
        """The addresses this configuration runs (one, its name; a strategy spread over
        several wallets names each), so that a scenario can refuse two agents sharing one."""
        return [self.name]

    @field_validator("interval_s")
    @classmethod
    def _interval(cls, v: Any) -> Any:
        # A turn is never free: with a mean below a second (constant 0, a normal around 0)
        # the clock would barely move while the agent spins.
        if v.mean_s() < MIN_MEAN_INTERVAL_S:
            raise ValueError(f"the mean time between turns is {v.mean_s():g} s; it must be "
                             f"at least {MIN_MEAN_INTERVAL_S:g} s" + (
                                 f" (the waits of a normal with mean {v.mean:g} s and sd "
                                 f"{v.sd:g} s, negative draws taken as 0)"
                                 if isinstance(v, Normal) and v.sd else ""))
        if v.median_s() < MIN_MEDIAN_INTERVAL_S:
            raise ValueError(f"the median time between turns is {v.median_s():.3g} s (half "
                             "the waits are shorter); it must be at least "
                             f"{MIN_MEDIAN_INTERVAL_S:g} s (a smaller spread, e.g. a lower "
                             "sigma)")
        return v


class ClaimBook:
    """Which contributions to examine again, and when (a heap of (due time, cid))."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []
        self.cursor = 0

    def push(self, due: float, cid: int) -> None:
        heapq.heappush(self._heap, (due, cid))

    def pop_due(self, now: float) -> list[int]:
        out = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            out.append(heapq.heappop(heap)[1])
        return out

    def ids(self) -> set[int]:
        """The contributions it holds a look at (each once)."""
        return {cid for _, cid in self._heap}

    def next_due(self) -> float:
        """When the next contribution is due for a look (inf when none is)."""
        return self._heap[0][0] if self._heap else math.inf

    def __len__(self) -> int:
        return len(self._heap)


class Agent:
    """Base agent: schedule, wallet, claim handling.  Subclasses decide what to contribute.

    Claims: every turn it looks at the contributions that are due in its :class:`ClaimBook`
    (its own, for refunds; all of them when it reports or takes), simulates the refund or
    report as a free call and sends it only when it would succeed.  One that is not possible
    yet is looked at again ``recheck_s`` later (or when the any-address wait ends); a claim
    that reverts in its block all the same (the state moved meanwhile) is tried again after
    ``recheck_s``, at most :data:`CLAIM_RETRIES` times; what a partial claim leaves is looked
    at when the any-address wait ends."""

    config: AgentConfig
    is_attacker = False
    #: The summary.json section this strategy's :meth:`summary_section` goes under (keyed by
    #: address); None: it adds none.
    summary_key: ClassVar[str | None] = None

    def __init__(self, config: AgentConfig, world: World, rng: np.random.Generator):
        self.config = config
        self.name = config.name
        self.world = world
        self.rng = rng
        self.book = ClaimBook()
        self._views: dict[str, Any] = {}
        self.inflight: set[int] = set()
        #: Claims of each contribution that reverted in their block (see _after_claim).
        self._reverted: dict[int, int] = {}
        self.pending_adds = 0
        #: Deposits plus maximum fees of adds sent but not yet mined.
        self.committed = 0
        self.initial_balance = config.balance
        self.stopped = False
        #: Multiplies every sampled interval (a sybil spreading one rate over many addresses).
        self.interval_scale = 1.0
        #: The strategy this agent belongs to when one strategy runs many addresses.
        self.group = config.name

    @classmethod
    def expand(cls, config: AgentConfig) -> list[tuple[AgentConfig, type[Agent], float]]:
        """The addresses this configuration runs: (config, class, interval scale) each."""
        return [(config, cls, 1.0)]

    # -- helpers ------------------------------------------------------------------------
    @property
    def balance(self) -> int:
        return self.world.chain.ledger.balances[self.name]

    @property
    def gas_price(self) -> int:
        """The max fee per gas its transactions bid (EIP-1559, with its tip as their priority
        fee): the base fee plus the tip while the gas price never moves; twice the base fee
        plus the tip under a moving base fee, as wallets bid.  They pay the base fee of their
        block plus the tip; the wallet must hold this times the gas limit.  (Read from the fee
        process directly: this runs for every transaction.)"""
        fees = self.world.chain.fees
        return fees.bid_base_fees * fees.base_fee + self.config.gas_tip_gwei

    def view(self, method: str, *args: Any) -> Any:
        """A free read of the contract at the latest block (what any node would answer)."""
        fn = self._views.get(method)
        if fn is None:
            fn = self._views[method] = getattr(self.contract, "view_" + method)
        return fn(self.world.chain.block_timestamp, *args)

    @cached_property
    def contract(self) -> Any:
        """The contract itself, for the base class's claim bookkeeping, which calls its
        ``view_*`` methods directly (passing the latest block's timestamp, as :meth:`view`
        does) because it runs for every contribution; strategies use :meth:`view`.  (Looked
        up once: after that a plain attribute, read tens of thousands of times a run.)"""
        return self.world.chain.contracts[self.world.contract]

    def next_block_time(self) -> int:
        """The timestamp (whole seconds) of the first block a transaction sent now can be in."""
        return self.world.chain.next_block_timestamp()

    def send(self, method: str, args: tuple[Any, ...], value: int = 0, tag: str = "",
             gas_price: int | None = None, gas_limit: int | None = None,
             tip: int | None = None) -> Tx:
        """Submit a call (gas limit: the scenario's ``chain.tx_gas_limit`` unless given), as an
        EIP-1559 transaction bidding ``gas_price`` as its max fee (default: :attr:`gas_price`)
        and ``tip`` as its priority fee (default: ``gas_tip_gwei``)."""
        tx = Tx(self.name, self.world.contract, method, args, value,
                self.world.tx_gas_limit if gas_limit is None else gas_limit,
                self.gas_price if gas_price is None else gas_price, self._on_receipt, tag,
                priority_fee=self.config.gas_tip_gwei if tip is None else tip)
        return self.world.chain.submit(tx)

    def _on_receipt(self, tx: Tx, receipt: Receipt) -> None:
        if tx.method == "add_data":
            self.pending_adds -= 1
            self.committed -= tx.value + tx.gas_limit * tx.gas_price
            pool_i = int(tx.tag) if tx.tag else -1
            if receipt.ok and pool_i >= 0:
                self.world.pool_index[receipt.result] = pool_i
        elif tx.args and type(tx.args[0]) is int and tx.args[0] in self.inflight:
            # A claim on a contribution (sent by _claim, or by a strategy that marks it in
            # flight likewise), whatever the mechanism calls the method.
            cid = tx.args[0]
            self.inflight.discard(cid)
            self._after_claim(cid, receipt)
        self.on_receipt(tx, receipt)

    def _after_claim(self, cid: int, receipt: Receipt) -> None:
        """Keep watching a contribution after a claim on it, when something is left: a claim
        that reverted (the model or the state moved between the simulated call and the block)
        is tried again after ``recheck_s``, up to :data:`CLAIM_RETRIES` times for one
        contribution (a claim that reverts every time, out of gas say, is given up rather than
        paid for until the wallet is empty); a partial one (a report taking part of a deposit
        before the any-address wait, a mechanism refunding less than all) is looked at again
        when what is left can be taken."""
        c = self.contract
        ts = self.world.chain.block_timestamp
        if not c.view_is_open(ts, cid, self.world.chain.next_block_timestamp()):
            return
        now = self.world.env.now
        _, expiry = c.view_claim_times(ts, cid)
        later = now + self.config.recheck_s
        if receipt.ok and self.config.take_expired and now < expiry < math.inf:
            self.book.push(expiry, cid)
        elif not receipt.ok:
            tries = self._reverted[cid] = self._reverted.get(cid, 0) + 1
            if tries <= CLAIM_RETRIES:
                self.book.push(expiry if now < expiry < later else later, cid)
        elif now < expiry:
            self.book.push(min(later, expiry), cid)

    def on_receipt(self, tx: Tx, receipt: Receipt) -> None:
        """Hook for strategies that learn from outcomes."""

    def summary_section(self) -> dict[str, Any] | None:
        """This address's entry in the ``summary_key`` section of summary.json."""
        return None

    def may_spend(self, deposit: int) -> bool:
        """The strategy's own spending rule (attackers: their budget)."""
        return True

    def affordable(self, value: int) -> bool:
        return self.balance >= value + self.world.tx_gas_limit * self.gas_price

    # -- contributing -------------------------------------------------------------------
    def add(self, pool_i: int, x: np.ndarray, label: int) -> bool:
        """Submit ``(x, label)`` paying the deposit required at the next block, if allowed."""
        c = self.contract
        now = self.world.chain.block_timestamp
        at = self.next_block_time()
        if c.view_accepting(now, at) != "open":
            return False
        deposit = c.view_required_deposit(now, at)
        if not self.may_spend(deposit):
            return False
        cap = self.config.max_deposit
        if (cap is not None and deposit > cap) or not self.affordable(deposit):
            return False
        price = self.gas_price
        self.pending_adds += 1
        self.committed += deposit + self.world.tx_gas_limit * price
        self.send("add_data", (x, int(label)), deposit, tag=str(pool_i), gas_price=price)
        return True

    def wants_to_contribute(self) -> bool:
        stop = self.config.stop_s
        if self.stopped or (stop is not None and self.world.env.now >= stop):
            return False
        chain = self.world.chain
        if self.contract.view_accepting(chain.block_timestamp,
                                        chain.next_block_timestamp()) == "closed":
            self.stopped = True
            return False
        return True

    def add_from_pool(self, *, flip: bool) -> bool:
        """Submit the next pool sample with its true label, or with the next class when
        ``flip`` (a wrong label); the sample leaves the pool once the add is sent."""
        pool = self.world.pool
        i = pool.peek()
        if i is None:
            return False
        label = int(pool.y[i])
        if flip:
            label = (label + 1) % self.world.n_classes
        if not self.add(i, pool.sample(i), label):
            return False
        pool.take(i)
        return True

    def contribute(self) -> None:
        """One turn's contribution; subclasses implement."""

    # -- claiming ---------------------------------------------------------------------
    def settle(self) -> None:
        """Look at new contributions, then at every contribution that is due for a look."""
        now = self.world.env.now
        cfg = self.config
        c = self.contract
        chain = self.world.chain
        ts = chain.block_timestamp
        book = self.book
        records = c.view_contributions(ts, book.cursor)
        if records:
            watch_all = cfg.report or cfg.take_expired
            name, push, claim_times = self.name, book.push, c.view_claim_times
            for rec in records:
                if watch_all or rec.author == name:
                    push(claim_times(ts, rec.id)[0], rec.id)
            book.cursor += len(records)
        due = book.pop_due(now)
        if not due:
            return
        left = len(book)
        at = chain.next_block_timestamp(now)
        is_open, contribution = c.view_is_open, c.view_contribution
        for cid in due:
            if cid in self.inflight:
                book.push(now + cfg.recheck_s, cid)
                continue
            if is_open(ts, cid, at):
                self._consider(contribution(ts, cid), now, at)
        self.world.claims_closed += len(due) - (len(book) - left)

    def _consider(self, rec: Any, now: float, at: float) -> None:
        """Refund, report or look again later, deciding by simulating the call (free) as if
        included in the block stamped ``at``."""
        cfg = self.config
        c = self.contract
        ts = self.world.chain.block_timestamp
        if self.inflight and not c.view_claims_per_contribution(ts):
            # Balances are per contributor: one claim at a time.
            self.book.push(now + cfg.recheck_s, rec.id)
            return
        _, expiry = c.view_claim_times(ts, rec.id)
        expired = now >= expiry
        mine = rec.author == self.name
        if mine and cfg.claim_refunds and \
                c.view_try(ts, "refund", rec.id, self.name, at) is not None:
            self._claim("refund", rec.id)
            return
        if ((cfg.take_expired and expired) or (self.reports_now() and not expired and not mine)) \
                and c.view_try(ts, "report", rec.id, self.name, at) is not None:
            self._claim("report", rec.id)  # (what it leaves: see _after_claim)
            return
        nxt = min(now + cfg.recheck_s, expiry)
        if nxt < expiry or (cfg.take_expired and not expired and expiry < float("inf")):
            self.book.push(nxt, rec.id)

    def reports_now(self) -> bool:
        """Whether it reports others' contributions now (a strategy may hold back for a while;
        ``report = false`` means never)."""
        return self.config.report

    def _claim(self, method: str, cid: int) -> None:
        """Send a claim on ``cid`` (a refund or a report), with ``chain.tx_gas_limit`` as its
        gas limit when the wallet can pay that limit's fee; a wallet short of it sets the
        limit as a wallet would, to the call's estimated gas (``view_claim_estimate``, as
        ``eth_estimateGas`` answers) plus :data:`GAS_HEADROOM`, and sends it if it can pay
        that."""
        limit, price = self.world.tx_gas_limit, self.gas_price
        balance = self.balance
        if balance < limit * price:
            chain = self.world.chain
            tried = self.contract.view_claim_estimate(
                chain.block_timestamp, method, cid, self.name, chain.next_block_timestamp())
            if tried is None or tried[1] is None:
                return
            limit = min(limit, math.ceil(tried[1] * GAS_HEADROOM))
            if balance < limit * price:
                return
        self.inflight.add(cid)
        self.send(method, (cid,), gas_price=price, gas_limit=limit)

    # -- the process ------------------------------------------------------------------
    def has_material(self) -> bool:
        """Whether there is anything left for this agent to contribute."""
        return not self.world.pool.exhausted

    def next_turn_s(self) -> float:
        """Seconds until the next turn (a strategy waiting for a moment may poll sooner)."""
        return self.config.interval_s.sample(self.rng) * self.interval_scale

    def done(self) -> bool:
        # Claims and adds in flight first: they are cheap to look at and usually decide.
        if self.inflight or self.pending_adds or len(self.book):
            return False
        return not self.wants_to_contribute() or not self.has_material()

    def start(self) -> simpy.Event:
        """Schedule the agent's turns (the first at ``start_s``, then every
        :meth:`next_turn_s`); the event returned succeeds once it is :meth:`done`.

        Turns are :class:`~sumsim.chain.wake.Wake` events calling :meth:`_turn`, in the order
        a SimPy process yielding timeouts would take them: the first is scheduled now at
        SimPy's urgent priority, as a process's start is."""
        env = self.world.env
        self._finished = simpy.Event(env)
        Wake(env, 0, self._begin, URGENT)
        return self._finished

    def _begin(self, _event: simpy.Event) -> None:
        if self.config.start_s:
            Wake(self.world.env, self.config.start_s, self._turn)
        else:
            self._turn(_event)

    def _whose(self) -> str:
        return f"agent {self.name!r} (kind {self.config.kind!r}, {type(self).__module__})"

    def _turn(self, _event: simpy.Event) -> None:
        try:
            self.settle()
            if self.wants_to_contribute() and self.has_material():
                try:
                    self.contribute()
                except Exception as e:  # (a strategy's own bug: say whose)
                    e.add_note(f"in the contribute() of {self._whose()}")
                    raise
            if self.done():
                # One last look at contributions that appeared meanwhile.
                self.settle()
                if self.done():
                    self._finished.succeed()
                    self.world.agents_finished += 1
                    return
            wait = self.next_turn_s()
        except Exception as e:  # (a hook of the strategy, e.g. has_material(): say whose)
            if not getattr(e, "__notes__", None):
                e.add_note(f"in a turn of {self._whose()}")
            raise
        if not (type(wait) is float or isinstance(wait, numbers.Real)) \
                or not 0 <= wait < math.inf:  # (NaN fails too)
            raise ValueError(f"{self._whose()} asked to wait {wait!r} s for its next turn: "
                             "next_turn_s() must return a finite, non-negative number of "
                             "seconds")
        Wake(self.world.env, wait, self._turn)


class AttackerConfig(AgentConfig):
    """Options every attacker has."""

    budget: Ether | None = Field(None, description="Most its wallet may be down (ether): "
                                 "starting balance minus balance, deposits not yet refunded "
                                 "included, plus adds in flight; it adds only while the next "
                                 "deposit and fee fit (refunds free room again, so a long "
                                 "refund wait makes a budget bind sooner); default: its whole "
                                 "balance.")
    stop_at_accuracy: float | None = Field(None, ge=0, le=1, description="Stop once the "
                                           "public accuracy is at or below this.")


class Attacker(Agent):
    """Budget and stop-rule handling shared by attackers.

    It never lets its spend (starting balance minus balance) plus what is committed to adds
    still in the mempool plus the next deposit and maximum fee exceed ``budget``, and it stops
    early when the public accuracy falls to ``stop_at_accuracy``."""

    config: AttackerConfig
    is_attacker = True

    @property
    def spent(self) -> int:
        return max(0, self.initial_balance - self.balance)

    def within_budget(self, value: int) -> bool:
        budget = self.config.budget
        if budget is None:
            return True
        worst = self.spent + self.committed + value + self.world.tx_gas_limit * self.gas_price
        return worst <= budget

    def wants_to_contribute(self) -> bool:
        acc = self.world.public_accuracy
        stop = self.config.stop_at_accuracy
        if stop is not None and acc == acc and acc <= stop:
            self.stopped = True
        return super().wants_to_contribute()

    def may_spend(self, deposit: int) -> bool:
        if self.within_budget(deposit):
            return True
        if self.pending_adds == 0 and self.config.budget is not None:
            self.stopped = self.spent + self.world.tx_gas_limit * self.gas_price > \
                self.config.budget or self._budget_never_covers()
        return False

    def _budget_never_covers(self) -> bool:
        """Whether it would wait for ever: nothing of its own can come back (no claim in
        flight, no contribution it watches) and even the deposit after the longest quiet
        spell the run waits for (``scenario.max_idle_s``) is more than its budget leaves."""
        world = self.world
        if self.inflight or len(self.book) or not math.isfinite(world.patience_s):
            return False
        chain = world.chain
        later = chain.next_block_timestamp() + math.ceil(world.patience_s)
        return not self.within_budget(
            self.contract.view_required_deposit(chain.block_timestamp, later))
