"""Builds the SimPy world a scenario describes and runs it.

The engine looks every kind up in the plug-in registry and never branches on one: the model,
the incentive mechanism (with its transactions, accounts and actors), the agents and the
defenses are all built through their plug-ins' uniform hooks.

Seeds: every random stream is a child of the scenario seed keyed by its purpose (data, split,
each agent by name), so removing the attackers for the counterfactual leaves the honest
agents' draws unchanged.

Guards: every run ends.  A run that has not ended by ``scenario.max_duration_s`` (simulated),
or in which nothing happens (no transaction sent, no pool sample taken, no claim closed by
an agent: :attr:`~sumsim.world.World.claims_closed`, no agent ended) for
``scenario.max_idle_s`` (simulated), stops with :class:`~sumsim.errors.RunCannotFinish`
naming the field; so does one whose clock stops (a plug-in scheduling itself again and again
at one instant, which neither simulated-time guard would see); ``max_wall_s`` bounds the
wall-clock time of the whole call (:class:`~sumsim.errors.WallClockExceeded`).  All but the
wall clock are functions of the scenario, so a guarded run is as reproducible as any other.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import simpy

import sumsim.chain.evm_gas as evm_gas
from sumsim.agents.base import Agent, Attacker
from sumsim.chain import FEE_SINK, REJECTED, Chain, Ledger
from sumsim.chain.fees import BaseFeeProcess, ConstantFees
from sumsim.contract.mechanism import IncentiveMechanism
from sumsim.contract.trainer import DENSE_DECIMALS, MAX_DENSE_VALUE, CollaborativeTrainer
from sumsim.data.base import Dataset, Split, split
from sumsim.data.load import load_dataset, scenario_data_file
from sumsim.defenses.base import Gate
from sumsim.errors import InputError, RunCannotFinish, WallClockExceeded
from sumsim.models.base import Model
from sumsim.recorder import Recorder
from sumsim.registry import get, names_plugins
from sumsim.rng import stream
from sumsim.scenario.schema import ScenarioBase
from sumsim.world import Dashboard, Pool, World

CONTRACT = "contract"


def make_model(sc: ScenarioBase, ds: Dataset) -> Model:
    """The untrained model of the scenario's ``[model]`` section, sized for ``ds``."""
    impl = get("models", sc.model.kind).impl
    try:
        return impl.from_config(sc.model, ds.n_features,  # type: ignore[no-any-return]
                                ds.n_classes, ds.is_sparse)
    except ValueError as e:  # the model cannot take this data (e.g. binary only, 3 classes)
        raise _unfit(e, ds) from None


def _unfit(e: ValueError, ds: Dataset) -> InputError:
    names = ", ".join(repr(n) for n in ds.class_names[:MAX_CLASSES_SHOWN])
    more = ", ..." if ds.n_classes > MAX_CLASSES_SHOWN else ""
    return InputError(f"{e} (the dataset has {ds.n_classes} classes: {names}{more}; "
                      f"{ds.n_features} feature{'' if ds.n_features == 1 else 's'})", field="model")


#: Class names an error about the dataset's classes spells out.
MAX_CLASSES_SHOWN = 5


def check_dataset(model: Model, ds: Dataset) -> None:
    """Refuse, before a run, samples its model or its contract cannot take (rather than failing
    or going wrong at the first such contribution).  The contract's own limit first: it
    holds for every model."""
    if not ds.is_sparse:
        # The contract holds a dense sample as int64 fixed point (9 decimals): larger values
        # would wrap around and every prediction on chain would be garbage.
        for x in (ds.x_train, ds.x_test):
            big = float(np.max(np.abs(x))) if np.size(x) else 0.0
            if big > MAX_DENSE_VALUE:
                raise InputError(f"a feature value of {big:g} is beyond what the contract holds "
                                 f"(+-{MAX_DENSE_VALUE:.4g}: int64 with {DENSE_DECIMALS} "
                                 "decimals); scale the features", field="data")
    try:
        model.check_data(ds.x_train)
        model.check_data(ds.x_test)
    except ValueError as e:
        raise _unfit(e, ds) from None


def checked_model(sc: ScenarioBase, ds: Dataset) -> Model:
    """The scenario's untrained model for ``ds``, the data checked against it and the contract
    (:func:`check_dataset`): what a run starts from, and what ``validate`` and ``gas`` check."""
    model = make_model(sc, ds)
    check_dataset(model, ds)
    return model


def make_mechanism(sc: ScenarioBase) -> IncentiveMechanism:
    """The incentive mechanism of the scenario's ``[incentive]`` section."""
    return get("mechanisms", sc.incentive.kind).impl.from_config(  # type: ignore[no-any-return]
        sc.incentive)


def make_fees(ch: Any, seed: int) -> ConstantFees:
    if ch.gas_price_model == "constant" and not ch.eth_usd_volatility:
        return ConstantFees(ch.gas_price_gwei, ch.eth_usd)
    bf = ch.base_fee
    if ch.gas_price_model == "constant":  # a constant gas price, a moving ether price
        bf = bf.model_copy(update={"min_gwei": ch.gas_price_gwei, "max_gwei": ch.gas_price_gwei})
    return BaseFeeProcess(ch.gas_price_gwei, ch.eth_usd, stream(seed, "fees"),
                          min_wei=bf.min_gwei, max_wei=bf.max_gwei, target=bf.target,
                          adjust=bf.adjust, background=bf.background,
                          background_sd=bf.background_sd, shock_sd=bf.shock_sd,
                          eth_usd_volatility=ch.eth_usd_volatility)


def make_fork(ch: Any, name: str | None = None) -> evm_gas.Fork:
    """The ``[chain]`` section's fork preset (or the preset ``name``) with the section's
    ``[chain.gas]`` primitive overrides applied."""
    base = evm_gas.fork(name or ch.fork)
    overrides = ch.gas.primitives()
    return replace(base, **overrides) if overrides else base


#: Most test rows a run may evaluate over its horizon (accuracy samples x test samples): a
#: billion is minutes of sparse products; beyond, a run would be mostly evaluation.
MAX_EVALUATED_ROWS = 10**9


def check_evaluation(sc: ScenarioBase, sp: Split) -> None:
    """Refuse an accuracy sampling that would evaluate more than ``MAX_EVALUATED_ROWS`` test
    rows by the run's horizon (the schema bounds the number of samples; this bounds their
    cost, which depends on the test set)."""
    horizon, every, n_test = sc.scenario.horizon_s, sc.metrics.eval_every_s, len(sp.y_test)
    samples = math.floor(horizon / every) + 1
    if samples * n_test > MAX_EVALUATED_ROWS:
        which = "duration_s" if sc.scenario.duration_s is not None else "max_duration_s"
        raise InputError(
            f"{every!r} s would evaluate up to {samples * n_test:,} test rows ({samples:,} "
            f"accuracy samples by scenario.{which} x {n_test:,} test samples); at most "
            f"{MAX_EVALUATED_ROWS:,}: use at least "
            f"{math.ceil(horizon / (MAX_EVALUATED_ROWS / n_test - 1)):,} s, fewer test samples "
            f"(data.max_test) or a shorter scenario.{which}",
            field="metrics.eval_every_s")


def make_split(sc: ScenarioBase, ds: Dataset, seed: int) -> Split:
    d = sc.data
    sp = split(ds, d.init_train_fraction, stream(seed, "split") if d.shuffle else None)
    if d.max_pool is not None and d.max_pool < len(sp.y_pool):
        sp = replace(sp, pool_rows=sp.pool_rows[: d.max_pool], y_pool=sp.y_pool[: d.max_pool],
                     ambiguous_pool=sp.ambiguous_pool[: d.max_pool])
    if d.max_test is not None and d.max_test < len(sp.y_test):
        sp = replace(sp, x_test=sp.x_test[: d.max_test], y_test=sp.y_test[: d.max_test])
    return sp


#: Baseline accuracies already computed, per live dataset (``id``) and what else they depend
#: on; a dataset's entries go when it is garbage-collected.
_BASELINES: dict[tuple[int, int | None, str, str], float] = {}
#: The datasets (``id``) whose collection is watched.
_WATCHED: set[int] = set()


def baseline_accuracy(sc: ScenarioBase, ds: Dataset, sp: Split, seed: int) -> float:
    """Test accuracy of the scenario's model fitted off-chain on all the training data it
    sees (initial set plus pool): what sharing every sample would reach.

    It depends only on the dataset, the split and the model, not on agents, mechanism or
    chain, so a sweep over those fits it once per dataset and seed (the fit can cost as much
    as a small run): remembered while the dataset object lives."""
    d = sc.data
    key = (id(ds), seed if d.shuffle else None,
           d.model_dump_json(include={"init_train_fraction", "shuffle", "max_pool",
                                      "max_test"}),
           sc.model.model_dump_json())
    hit = _BASELINES.get(key)
    if hit is not None:
        return hit
    bm = make_model(sc, ds)
    from scipy import sparse as sps

    stack = sps.vstack if ds.is_sparse else np.vstack
    bm.fit(stack([sp.x_init, sp.x_pool]), np.concatenate([sp.y_init, sp.y_pool]))
    acc = _BASELINES[key] = bm.accuracy(sp.x_test, sp.y_test)
    if id(ds) not in _WATCHED:
        _WATCHED.add(id(ds))
        weakref.finalize(ds, _forget_baselines, id(ds))
    return acc


def _forget_baselines(dataset_id: int) -> None:
    _WATCHED.discard(dataset_id)
    for k in [k for k in _BASELINES if k[0] == dataset_id]:
        del _BASELINES[k]


@dataclass(repr=False)
class RunResult:
    """Everything a finished run holds (the tables and summary are computed from it)."""

    scenario: ScenarioBase
    seed: int
    chain: Chain
    contract: CollaborativeTrainer
    agents: list[Agent]
    world: World
    recorder: Recorder
    split: Split
    baseline_accuracy: float | None
    end_time: float
    gates: list[Gate] = field(default_factory=list)
    #: The same seed without the attackers, when the scenario asked for it and it ran here.
    counterfactual: RunResult | None = None
    #: The counterfactual's timeseries rows (what the summary and the figure compare with).
    counterfactual_rows: list[dict[str, Any]] | None = None
    #: Why the counterfactual asked for could not finish (its guard's message), when it could
    #: not: the run itself is kept, its counterfactual metrics are null.
    counterfactual_error: str | None = None
    #: The scenario's ``data.path`` made absolute (a relative one is relative to the scenario
    #: file): what the run's resolved scenario records, so that it runs again from anywhere.
    data_file: str | None = None

    def __repr__(self) -> str:
        # (the generated one would print every array of the world and the split)
        return (f"<RunResult {self.scenario.scenario.name} seed={self.seed}: "
                f"{len(self.contract.data.records)} contributions, "
                f"{len(self.chain.receipts)} transactions, ended at {self.end_time:,.0f} s>")


#: Simulation steps between two looks at the wall clock.
_WALL_CHECK_STEPS = 1024
#: Events at one simulated instant after which a run is stopped as stuck there.  The busiest
#: instant of a real scenario (thousands of addresses starting together, a full block) takes
#: tens of thousands.
MAX_EVENTS_AT_ONE_INSTANT = 1_000_000


def _days(t: float) -> str:
    return f"day {t / 86_400:.1f}"


def _span(s: float) -> str:
    return f"{s:,.0f} s ({s / 86_400:g} days)"


def _drive(env: simpy.Environment, until: simpy.Event, sc: ScenarioBase, world: World,
           agents: list[Agent], deadline: float | None, label: str) -> None:
    """``env.run(until=until)``, stepping itself so the guards can stop it (see the module
    docstring).  Event order is exactly ``env.run``'s."""
    chain, pool = world.chain, world.pool
    cap = sc.scenario.max_duration_s
    idle_s = sc.scenario.max_idle_s
    marker = (0, pool.remaining, world.claims_closed, world.agents_finished)
    last_progress = env.now
    steps = 0
    instant, instant_from = env.now, 0
    step, peek = env.step, env.peek
    while not until.processed:
        nxt = peek()
        if nxt > cap:
            raise RunCannotFinish(
                f"{label}did not end within {_span(cap)} of simulated time "
                f"({_stuck(world, agents, last_progress)}); raise max_duration_s or set "
                "duration_s", field="scenario.max_duration_s")
        try:
            step()
        except Exception as e:  # (a plug-in's bug, say: when it happened in the run)
            e.add_note(f"{label}at simulated {_days(env.now)} ({env.now:,.0f} s), after "
                       f"block {chain.block_number:,}")
            raise
        steps += 1
        if steps & 63 == 0:
            if env.now != instant:
                instant, instant_from = env.now, steps
            elif steps - instant_from > MAX_EVENTS_AT_ONE_INSTANT:
                raise RunCannotFinish(
                    f"{label or 'the run '}is stuck at simulated {_days(instant)} "
                    f"({instant:,.3f} s): {steps - instant_from:,} events there without the "
                    "clock moving (an agent, defense or mechanism that schedules itself again "
                    f"without waiting{_waking_now(env, agents)})",
                    field="agents")
            now_marker = (len(chain.receipts) + chain.pending_count, pool.remaining,
                          world.claims_closed, world.agents_finished)
            if now_marker != marker:
                marker, last_progress = now_marker, env.now
            elif env.now - last_progress > idle_s:
                raise RunCannotFinish(
                    f"{label}made no progress for {_span(idle_s)} of simulated time (no "
                    "transaction sent, no pool sample taken, no claim closed, no agent ended "
                    f"since {_days(last_progress)}; "
                    f"{_stuck(world, agents, last_progress)}); raise max_idle_s if agents "
                    "wait longer on purpose", field="scenario.max_idle_s")
            if deadline is not None and steps % _WALL_CHECK_STEPS == 0 and \
                    time.monotonic() > deadline:
                raise WallClockExceeded(f"{label}stopped at simulated {_days(env.now)}: "
                                        "the wall-clock allowance is used up")


def _queued_turns(env: simpy.Environment, agents: list[Agent]) -> list[tuple[float, Agent]]:
    """The turns of ``agents`` queued in SimPy's queue (time, priority, id, event), in queue
    order, with their times (for the guards' messages)."""
    mine = {id(a): a for a in agents}
    return [(t, mine[id(owner)]) for t, _, _, event in getattr(env, "_queue", ())
            for cb in getattr(event, "callbacks", None) or ()
            if id(owner := getattr(cb, "__self__", None)) in mine]


def _waking_now(env: simpy.Environment, agents: list[Agent]) -> str:
    """Which agents have a turn queued at the current instant (for the stuck-clock message)."""
    now = env.now
    names: list[str] = []
    for t, agent in _queued_turns(env, agents):
        if t == now and agent.name not in names:
            names.append(agent.name)
    if not names:
        return ""
    shown = ", ".join(repr(n) for n in names[:5]) + (" and more" if len(names) > 5 else "")
    return f"; turns waiting at that instant: agent {shown}"


#: Why agents may take long to end (the idle guard's messages).
_FAR_APART = ("(turns far apart: long intervals, or a sybil's addresses each acting "
              "`addresses` times less often; see scale_interval)")


def _names(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _stuck(world: World, agents: list[Agent], last_progress: float) -> str:
    """Why a run may be stuck, in a few words (for the guards' messages)."""
    broke = [a.name for a in agents if not a.affordable(0)]
    parts = [f"{world.pool.remaining} of {world.pool.n} pool samples left"]
    if broke:
        parts.append(f"cannot pay for one more transaction: {_names(broke)}")
    chain = world.chain
    now = world.env.now
    late = sorted({(a.config.start_s, a.group) for a in agents if a.config.start_s > now})
    if late:
        parts.append("not started yet (start_s): " + _names(
            [f"{g} (day {t / 86_400:.1f})" for t, g in late]))
    contract = world.trainer
    ts, at = chain.block_timestamp, chain.next_block_timestamp()
    state = contract.view_accepting(ts, at)
    if state != "open":
        parts.append(f"the contract does not accept contributions ({state!r}: the "
                     f"incentive mechanism's phase)")
    else:
        deposit = contract.view_required_deposit(ts, at)
        held = [a for a in agents if a.name not in broke and a.config.start_s <= now
                and not a.stopped and a.has_material()]
        capped = [a.name for a in held
                  if a.config.max_deposit is not None and deposit > a.config.max_deposit]
        short = [a.name for a in held if a.name not in capped and not a.affordable(deposit)]
        bound = [a.name for a in held if a.name not in capped and a.name not in short
                 and isinstance(a, Attacker) and not a.within_budget(deposit)]
        if capped:
            parts.append(f"the deposit ({deposit / 1e18:.4g} ether) is above what "
                         f"max_deposit lets them pay: {_names(capped)}")
        if short:
            parts.append(f"cannot pay the deposit ({deposit / 1e18:.4g} ether): "
                         f"{_names(short)}")
        if bound:
            parts.append(f"the deposit ({deposit / 1e18:.4g} ether) and a fee are beyond what "
                         f"the budget leaves: {_names(bound)} (waiting for the deposit to "
                         "fall, or for refunds)")
    log = chain.receipts
    if len(log) and log.status[-1] == log.strings.find(REJECTED):
        tx, r = log[-1]
        parts.append(f"the last transaction, {tx.sender}'s {tx.method} at "
                     f"{_days(r.timestamp)}, was rejected: {r.reason}")
    booked = {cid for a in agents for cid in a.book.ids()}
    watched = sum(contract.view_is_open(ts, cid, at) for cid in booked)
    if booked and not watched:  # (each agent drops a closed one at its own next turn)
        turns = [t for t, _ in _queued_turns(world.env, [a for a in agents if len(a.book)])]
        parts.append(f"agents have yet to drop {len(booked)} contribution(s) closed meanwhile, "
                     "which they do at their next turns" + (
                         f", the last of them at {_days(max(turns))} {_FAR_APART}"
                         if turns else ""))
    if watched:
        nxt = min(a.book.next_due() for a in agents if len(a.book))
        # (a look again comes at most recheck_s later; one due later still waits for a claim
        # to open)
        if nxt > world.env.now + max(a.config.recheck_s for a in agents):
            parts.append(f"agents wait to look at {watched} contribution(s) still open to a "
                         f"claim, the next at {_days(nxt)}, when a claim may open "
                         "(waits longer than scenario.max_idle_s: raise it, or shorten the "
                         "incentive's waits)")
        else:
            parts.append(f"agents still look again and again at {watched} contribution(s) "
                         "still open to a claim (a claim window that never closes "
                         "keeps them looking: set scenario.duration_s to end the run at a "
                         "fixed time)")
    if not booked and world.pool.exhausted:  # (nothing to look at, nothing to add)
        waiting = [a for a in agents if not a.inflight and not a.pending_adds
                   and not a.has_material()]
        turns = [t for t, _ in _queued_turns(world.env, waiting)]
        if turns:
            parts.append(f"{len(turns)} agent(s) with nothing left to do end at their next "
                         f"turns, the last at {_days(max(turns))} {_FAR_APART}")
    floor = chain.fees.floor
    low = [t for t in chain.pending if t.gas_price < floor]
    if low:
        senders = sorted({t.sender for t in low})
        parts.append(f"{len(low)} transaction(s) waiting in the mempool, bidding under the base "
                     f"fee of {floor / 1e9:.4g} gwei (sent by {', '.join(senders[:5])}"
                     f"{' and more' if len(senders) > 5 else ''})")
    return "; ".join(parts)


@names_plugins
def run(sc: ScenarioBase, *, seed: int | None = None, data_path: str | None = None,
        base_dir: Path | None = None, with_attackers: bool = True,
        progress: Callable[[float, int, float], None] | None = None,
        dataset: Dataset | None = None, max_wall_s: float | None = None,
        deadline: float | None = None,
        baseline: Callable[[], float | None] | None = None,
        counterfactual: Callable[[], list[dict[str, Any]] | None] | None = None) -> RunResult:
    """Run one scenario to completion (pool exhausted and deposits settled, or duration_s).

    ``max_wall_s`` bounds the wall-clock time of the whole call (counterfactual included);
    ``deadline`` is the same as a :func:`time.monotonic` instant.  See the module docstring
    for the guards that stop a run which cannot finish.

    ``baseline`` and ``counterfactual``: where the all-data baseline and the counterfactual's
    recorded timeseries were computed meanwhile (``sumsim run``'s sidecar process); when one
    gives None, the work is done here.  (A counterfactual run here is kept whole in
    :attr:`RunResult.counterfactual`; one done elsewhere leaves only its timeseries.)

    A failure in a plug-in's code carries a note naming the plug-in
    (:func:`~sumsim.registry.names_plugins`)."""
    if max_wall_s is not None:
        limit = time.monotonic() + max_wall_s
        deadline = limit if deadline is None else min(deadline, limit)
    seed = sc.scenario.seed if seed is None else seed
    ds = dataset or load_dataset(sc.data, seed, data_path, base_dir)
    sp = make_split(sc, ds, seed)
    check_evaluation(sc, sp)

    model = checked_model(sc, ds)
    if len(sp.y_init):
        model.fit(sp.x_init, sp.y_init)

    env = simpy.Environment()
    ch = sc.chain
    ledger = Ledger()
    specs: list[tuple[Any, type[Agent], float, str, str]] = []
    for i, a in enumerate(sc.agents):
        impl = get("agents", a.kind).impl
        if with_attackers or not impl.is_attacker:
            for cfg, cls, scale in impl.expand(a):
                # (where its options are written: a wrapped strategy's are in `strategy`)
                at = f"agents[{i}]" if cfg is a else f"agents[{i}].strategy"
                specs.append((cfg, cls, scale, a.name, at))
    for cfg, *_ in specs:
        ledger.open(cfg.name, cfg.balance)
    # The owner as deployed: the contract itself, unless the mechanism names an agent.
    owner = sc.incentive.owner_address() or CONTRACT
    mechanism = make_mechanism(sc)
    for address, balance in mechanism.accounts().items():
        ledger.open(address, balance)
    chain = Chain(env, block_time_s=ch.block_time_s, block_gas_limit=ch.block_gas_limit,
                  gas_price_wei=ch.gas_price_gwei, fork=make_fork(ch), ledger=ledger,
                  fees=make_fees(ch, seed))
    contract = CollaborativeTrainer(CONTRACT, ledger, model, mechanism, owner, gas=chain.gas)
    chain.deploy(contract)

    pool = Pool(sp.x_train, sp.y_pool, sp.ambiguous_pool, rows=sp.pool_rows)
    world = World(env, chain, CONTRACT, pool, ch.tx_gas_limit, n_classes=ds.n_classes,
                  trainer=contract, owner=owner, seed=seed, split=sp,
                  patience_s=sc.scenario.max_idle_s)
    agents: list[Agent] = []
    for cfg, cls, scale, group, at in specs:
        try:
            agent = cls(cfg, world, stream(seed, "agent:" + cfg.name))
        except InputError as e:  # (an option only the world can check: name where it is)
            if e.field and not e.field.startswith("agents["):
                raise InputError(e.message, source=e.source, field=f"{at}.{e.field}") from None
            raise
        agent.interval_scale = scale
        agent.group = group
        agents.append(agent)

    gates: list[Gate] = []
    for d in sc.defenses:
        gate = get("defenses", d.kind).impl(d)
        gate.wire(world)
        gates.append(gate)
    contract.gates = list(gates)

    dashboard = Dashboard(world, sp.x_test, sp.y_test, sc.metrics.eval_every_s)
    recorder = Recorder(world, agents, gates, progress)
    dashboard.subscribers.append(recorder.on_publish)
    dashboard.start()
    procs = [ag.start() for ag in agents]
    procs += [env.process(actor) for actor in mechanism.actors(world)]
    finished = simpy.AllOf(env, procs)
    until: simpy.Event = finished
    if sc.scenario.duration_s is not None:
        until = env.any_of([finished, env.timeout(sc.scenario.duration_s)])
    _drive(env, until, sc, world, agents, deadline,
           "" if with_attackers else "the counterfactual run (attackers removed) ")
    end = env.now
    dashboard.refresh()

    base_acc = None
    if sc.metrics.baseline:
        base_acc = baseline() if baseline is not None else None
        if base_acc is None:
            base_acc = baseline_accuracy(sc, ds, sp, seed)

    result = RunResult(sc, seed, chain, contract, agents, world, recorder, sp, base_acc, end,
                       gates, data_file=scenario_data_file(sc.data, base_dir))
    if with_attackers and wants_counterfactual(sc):
        rows = counterfactual() if counterfactual is not None else None
        if rows is None:
            try:
                result.counterfactual = counterfactual_run(sc, seed, ds, deadline)
                rows = result.counterfactual.recorder.rows
            except RunCannotFinish as e:  # (the run itself finished: it is not thrown away)
                result.counterfactual_error = str(e)
        result.counterfactual_rows = rows
    return result


def wants_counterfactual(sc: ScenarioBase) -> bool:
    """Whether a run of ``sc`` is compared with the same seed without its attackers (asked
    for, and there are attackers to remove)."""
    return sc.metrics.counterfactual and any(
        cls.is_attacker for a in sc.agents for _, cls, _ in get("agents", a.kind).impl.expand(a))


def counterfactual_run(sc: ScenarioBase, seed: int, ds: Dataset,
                       deadline: float | None = None) -> RunResult:
    """The run of ``sc`` with the same seed and its attackers removed."""
    cf_sc = sc.model_copy(deep=True)
    cf_sc.metrics.counterfactual = False
    cf_sc.metrics.baseline = False
    return run(cf_sc, seed=seed, dataset=ds, with_attackers=False, deadline=deadline)


__all__ = ["CONTRACT", "FEE_SINK", "RunResult", "make_model", "run", "stream"]
