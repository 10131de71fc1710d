"""Builds the SimPy world a scenario describes and runs it.

Seeds: every random stream is a child of the scenario seed keyed by its purpose (data, split,
each agent by name), so removing the attackers for the counterfactual leaves the honest
agents' draws unchanged.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import simpy

from sumsim.agents.base import Agent, Pool, World
from sumsim.chain import FEE_SINK, Chain, GasSchedule, Ledger, Tx
from sumsim.chain.fees import BaseFeeProcess, ConstantFees
from sumsim.contract import CollaborativeTrainer, DepositRefundTake
from sumsim.contract.incentives.points import Points
from sumsim.contract.incentives.prediction_market import PredictionMarket, piece_hash
from sumsim.data.base import Dataset, Split, split
from sumsim.datasets import load_dataset
from sumsim.defenses.base import Gate
from sumsim.metrics import Recorder
from sumsim.models import MODELS, Model
from sumsim.scenario.registry import AGENTS, DEFENSES
from sumsim.scenario.schema import PointsSection, PredictionMarketSection, ScenarioBase

CONTRACT = "contract"
OWNER = "owner"
PROVIDER = "provider"


def stream(seed: int, purpose: str) -> np.random.Generator:
    """A generator for one purpose, derived from the scenario seed (stable across runs)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(purpose.encode())]))


def make_model(sc: ScenarioBase, ds: Dataset) -> Model:
    m = sc.model
    cls = MODELS[m.kind]
    kw: dict[str, Any] = {"sparse_input": ds.is_sparse}
    if m.kind == "perceptron":
        kw.update(learning_rate=m.learning_rate, fixed_point=m.fixed_point, epochs=m.epochs,
                  init_learning_rate=m.init_learning_rate)
    elif m.kind == "naive_bayes":
        kw.update(alpha=m.alpha)
    else:
        kw.update(fixed_point=m.fixed_point)
    return cls(ds.n_features, ds.n_classes, **kw)


def make_incentive(inc: Any) -> Any:
    """The incentive mechanism a scenario's ``[incentive]`` section describes."""
    if isinstance(inc, PointsSection):
        return Points(refund_wait_s=inc.refund_wait_s,
                      any_address_claim_wait_s=inc.any_address_claim_wait_s,
                      points_good=inc.points_good, points_bad=inc.points_bad)
    if isinstance(inc, PredictionMarketSection):
        return PredictionMarket(provider=PROVIDER, min_stake=inc.min_stake,
                                participation_s=inc.participation_s,
                                any_address_claim_wait_s=inc.any_address_claim_wait_s,
                                group_by_contributor=inc.group_by_contributor)
    t_a = inc.any_address_claim_wait_s
    return DepositRefundTake(
        refund_wait_s=inc.refund_wait_s,
        owner_claim_wait_s=t_a if inc.owner_claim_wait_s is None else inc.owner_claim_wait_s,
        any_address_claim_wait_s=t_a, cost_weight=inc.cost_weight)


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


def market_operator(inc: PredictionMarketSection, chain: Chain, sp: Split,
                    rng: np.random.Generator, gas_limit: int):  # type: ignore[no-untyped-def]
    """The bounty provider: commits the test pieces and locks the bounty at the start, reveals
    them when participation ends, then withdraws what is left of the bounty."""
    env = chain.env
    n = len(sp.y_test)
    bounds = np.linspace(0, n, inc.test_pieces + 1).astype(int)
    pieces = [(sp.x_test[a:b], sp.y_test[a:b]) for a, b in zip(bounds[:-1], bounds[1:],
                                                               strict=True)]
    salt = rng.bytes(16)
    hashes = [piece_hash(x, y, salt) for x, y in pieces]
    price = chain.gas_price_wei

    def send(method: str, args: tuple[Any, ...], value: int = 0) -> Tx:
        return chain.submit(Tx(PROVIDER, CONTRACT, method, args, value, gas_limit, price))

    tx = send("start_market", (hashes,), inc.bounty)
    yield env.timeout(chain.block_time_s)
    start = tx.receipt.timestamp if tx.receipt is not None else env.now
    yield env.timeout(max(0.0, start + inc.participation_s - env.now) + chain.block_time_s)
    reveal = list(pieces)
    if inc.reveal_wrong_piece:
        x0, y0 = reveal[-1]
        reveal[-1] = (x0, 1 - y0)
        bad = send("end_market", (reveal, salt))
        yield env.timeout(2 * chain.block_time_s)
        assert bad.receipt is not None and not bad.receipt.ok
        reveal = list(pieces)
    end = send("end_market", (reveal, salt))
    yield env.timeout(2 * chain.block_time_s)
    if end.receipt is not None and end.receipt.ok:
        yield env.timeout(inc.any_address_claim_wait_s + chain.block_time_s)
        send("collect_bounty", ())
        yield env.timeout(2 * chain.block_time_s)


def make_split(sc: ScenarioBase, ds: Dataset, seed: int) -> Split:
    d = sc.data
    sp = split(ds, d.init_train_fraction, stream(seed, "split") if d.shuffle else None)
    if d.max_pool is not None and d.max_pool < len(sp.y_pool):
        sp = Split(sp.x_init, sp.y_init, sp.x_pool[: d.max_pool], sp.y_pool[: d.max_pool],
                   sp.x_test, sp.y_test, sp.ambiguous_pool[: d.max_pool])
    if d.max_test is not None and d.max_test < len(sp.y_test):
        sp = Split(sp.x_init, sp.y_init, sp.x_pool, sp.y_pool, sp.x_test[: d.max_test],
                   sp.y_test[: d.max_test], sp.ambiguous_pool)
    return sp


@dataclass
class Wiring:
    """What a defense may connect to when the world is built."""

    env: simpy.Environment
    chain: Chain
    contract: CollaborativeTrainer
    world: World
    owner: str
    seed: int

    def rng(self, name: str) -> np.random.Generator:
        return stream(self.seed, "defense:" + name)

    def truth(self, cid: int) -> int | None:
        """The true label of a contribution's sample (simulation knowledge, for reviewers)."""
        pi = self.world.pool_index.get(cid)
        return None if pi is None else int(self.world.pool.y[pi])


@dataclass
class RunResult:
    scenario: ScenarioBase
    seed: int
    chain: Chain
    contract: CollaborativeTrainer
    agents: list[Agent]
    world: World
    recorder: Recorder
    split: Split
    dataset: Dataset
    baseline_accuracy: float | None
    end_time: float
    gates: list[Gate] = field(default_factory=list)
    counterfactual: RunResult | None = None


def run(sc: ScenarioBase, *, seed: int | None = None, data_path: str | None = None,
        base_dir: Path | None = None, with_attackers: bool = True,
        progress: Callable[[float, int, float], None] | None = None,
        dataset: Dataset | None = None) -> RunResult:
    """Run one scenario to completion (pool exhausted and deposits settled, or duration_s)."""
    seed = sc.scenario.seed if seed is None else seed
    ds = dataset or load_dataset(sc.data, seed, data_path, base_dir)
    sp = make_split(sc, ds, seed)

    model = make_model(sc, ds)
    if len(sp.y_init):
        model.fit(sp.x_init, sp.y_init)

    env = simpy.Environment()
    ch = sc.chain
    schedule = GasSchedule().replace(**ch.gas.model_dump(exclude_none=True))
    ledger = Ledger()
    specs: list[tuple[Any, type[Agent], float, str]] = []
    for a in sc.agents:
        if with_attackers or not _is_attacker(a.kind):
            for cfg, cls, scale in AGENTS[a.kind].impl.expand(a):
                specs.append((cfg, cls, scale, a.name))
    for cfg, *_ in specs:
        ledger.open(cfg.name, cfg.balance)
    inc = sc.incentive
    owner = getattr(inc, "owner", None) or OWNER
    if owner not in ledger.balances:
        ledger.open(owner, 0)
    if isinstance(inc, PredictionMarketSection):
        ledger.open(PROVIDER, inc.bounty + inc.provider_gas)
    chain = Chain(env, block_time_s=ch.block_time_s, block_gas_limit=ch.block_gas_limit,
                  gas_price_wei=ch.gas_price_gwei, schedule=schedule, ledger=ledger,
                  fees=make_fees(ch, seed))
    contract = CollaborativeTrainer(CONTRACT, ledger, model, make_incentive(inc), owner)
    chain.deploy(contract)

    pool = Pool(sp.x_pool, sp.y_pool, sp.ambiguous_pool)
    world = World(env, chain, CONTRACT, pool, ch.tx_gas_limit, n_classes=ds.n_classes)
    agents: list[Agent] = []
    for cfg, cls, scale, group in specs:
        agent = cls(cfg, world, stream(seed, "agent:" + cfg.name))
        agent.interval_scale = scale
        agent.group = group
        agents.append(agent)

    wiring = Wiring(env, chain, contract, world, owner, seed)
    gates: list[Gate] = []
    for d in sc.defenses:
        gate = DEFENSES[d.kind].impl(d)
        gate.wire(wiring)
        gates.append(gate)
    contract.gates = gates

    recorder = Recorder(env, chain, contract, world, agents, sp, sc.metrics.eval_every_s,
                        progress=progress, gates=gates)
    procs = [env.process(ag.process()) for ag in agents]
    if isinstance(inc, PredictionMarketSection):
        procs.append(env.process(market_operator(inc, chain, sp, stream(seed, "provider"),
                                                 ch.tx_gas_limit)))
    finished = simpy.AllOf(env, procs)
    until: simpy.Event = finished
    if sc.scenario.duration_s is not None:
        until = env.any_of([finished, env.timeout(sc.scenario.duration_s)])
    env.run(until=until)
    end = env.now
    recorder.sample()

    baseline = None
    if sc.metrics.baseline:
        bm = make_model(sc, ds)
        from scipy import sparse as sps

        stack = sps.vstack if ds.is_sparse else np.vstack
        bm.fit(stack([sp.x_init, sp.x_pool]), np.concatenate([sp.y_init, sp.y_pool]))
        baseline = bm.accuracy(sp.x_test, sp.y_test)

    result = RunResult(sc, seed, chain, contract, agents, world, recorder, sp, ds, baseline, end,
                       gates)
    if with_attackers and sc.metrics.counterfactual and any(a.is_attacker for a in agents):
        cf_sc = sc.model_copy(deep=True)
        cf_sc.metrics.counterfactual = False
        cf_sc.metrics.baseline = False
        result.counterfactual = run(cf_sc, seed=seed, dataset=ds, with_attackers=False)
    return result


def _is_attacker(kind: str) -> bool:
    impl = AGENTS[kind].impl
    return bool(getattr(impl, "is_attacker", False))


__all__ = ["CONTRACT", "FEE_SINK", "OWNER", "RunResult", "make_model", "run", "stream"]
