"""Agent strategies on small hand-built worlds whose outcome is worked out by hand.

Each world is a SimPy clock, a chain, a `CollaborativeTrainer` around a perceptron whose weights
the test sets, a pool of a few sparse samples and the agents under test, wired the way
`sumsim.engine.run` wires them.  Expected choices are computed in the test from the formulas in
the DESIGN and in the perceptron's docstring (confidence = logistic of the margin scaled by
``1/sqrt(max(1, |x|))``), never by asking the model.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stubs import (
    BLOCK,
    GAS_LIMIT,
    GAS_PRICE,
    T_A,
    T_R,
    FlipModel,
    SmallWorld,
    perceptron_confidence,
)
from sumsim.agents.base import Agent
from sumsim.agents.boundary import Boundary, BoundaryConfig
from sumsim.agents.honest import Honest, HonestConfig
from sumsim.agents.label_flip import LabelFlip, LabelFlipConfig
from sumsim.agents.near_duplicate import NearDuplicate, NearDuplicateConfig, perturb
from sumsim.agents.sybil import Sybil
from sumsim.chain import Tx
from sumsim.engine import run
from sumsim.errors import InputError
from sumsim.mechanisms.drt import DepositRefundTake
from sumsim.models import NaiveBayes, Perceptron
from sumsim.scenario.loader import parse_scenario


def wei(n: int) -> str:
    """An exact wei amount written in ether, as scenario files write amounts."""
    return f"{n}e-18"


class Sim(SmallWorld):
    def add_agent(self, cls: type[Agent], config_cls: Any, seed: int = 0,
                  **opts: Any) -> Any:
        cfg = config_cls.model_validate(opts)
        self.ledger.open(cfg.name, cfg.balance)
        return cls(cfg, self.world, np.random.default_rng(seed))

    def start(self, *agents: Agent) -> None:
        for a in agents:
            a.start()

    def records_by(self, name: str) -> list[Any]:
        return [r for r in self.contract.data.records if r.author == name]

    def truth(self, rec: Any) -> int:
        return int(self.pool.y[self.world.pool_index[rec.id]])


def make_world(samples: list[list[int]], labels: list[int], n_features: int, *,
               w: list[int] | None = None, b: int = 0, cost_weight: int = 0,
               tx_gas_limit: int = GAS_LIMIT, model: Any = None,
               journal: bool = False, fork: Any = "prague") -> Sim:
    return Sim.build(samples, labels, n_features, w=w, b=b, model=model,
                     cost_weight=cost_weight, tx_gas_limit=tx_gas_limit, journal=journal,
                     fork=fork)


def constant(s: float) -> dict[str, Any]:
    return {"dist": "constant", "value": s}


# -- boundary ---------------------------------------------------------------------------------

# weights and candidates chosen so that the smallest *raw* margin is not the smallest *scaled*
# margin: candidate 2 (margin -1 over 6 features, |z| = 0.41) beats candidates 0 and 4 (|margin|
# 1 over 2 and 1 features) only through the 1/sqrt(|x|) scaling.
B_W = [3, -2, 1, 0, 5, -4, 2, 1, -1, 0]
B_SAMPLES = [[4, 5], [0, 1, 2, 3, 6, 7, 8, 9], [0, 1, 2, 5, 6, 8], [5], [2]]
B_LABELS = [1, 1, 0, 0, 1]
#: a sixth pool sample, left to others, so the shared pool is not exhausted by the reservation
SPARE = ([3], 1)


def boundary_world(candidates: int = 5, spare: bool = True) -> tuple[Sim, Boundary]:
    samples, labels = list(B_SAMPLES), list(B_LABELS)
    if spare:
        samples.append(SPARE[0])
        labels.append(SPARE[1])
    sim = make_world(samples, labels, 10, w=B_W)
    agent = sim.add_agent(Boundary, BoundaryConfig, name="poisoner", kind="boundary",
                          balance=wei(10**12), candidates=candidates,
                          interval_s=constant(100))
    return sim, agent


def lowest_confidence(w: np.ndarray, b: int, stock: list[int]) -> int:
    """Position in ``stock`` of the candidate minimising max_k confidence(x, k)."""
    best = [max(perceptron_confidence(w, b, B_SAMPLES[i], k) for k in (0, 1)) for i in stock]
    return int(np.argmin(best))


def test_boundary_picks_the_lowest_confidence_candidate() -> None:
    sim, agent = boundary_world()
    w = np.array(B_W)
    scaled = [abs(sum(w[i] for i in s)) / math.sqrt(len(s)) for s in B_SAMPLES]
    assert lowest_confidence(w, 0, [0, 1, 2, 3, 4]) == 2 == int(np.argmin(scaled))
    assert agent.pick() == 2
    # the first five pool samples became the private stock, in pool order
    assert agent._candidates.tolist() == [0, 1, 2, 3, 4]
    assert sim.pool.remaining == 1 and sim.pool.peek() == 5

    agent.contribute()
    (tx,) = sim.chain.pending
    x, label = tx.args
    assert x.tolist() == B_SAMPLES[2]
    assert label == 1 - B_LABELS[2] == 1  # the wrong label
    assert tx.tag == "2"
    # the submitted candidate left the stock; the next nearest (not yet mined) is candidate 0
    assert agent._candidates.tolist() == [0, 1, 3, 4]
    assert agent.pick() == lowest_confidence(w, 0, [0, 1, 3, 4]) == 0


def test_boundary_reserves_only_its_candidates() -> None:
    sim, agent = boundary_world(candidates=3)
    assert agent.pick() == lowest_confidence(np.array(B_W), 0, [0, 1, 2]) == 2
    assert agent._candidates.tolist() == [0, 1, 2]
    assert sim.pool.remaining == 3 and sim.pool.peek() == 3


def test_boundary_takes_at_most_the_pool() -> None:
    sim, agent = boundary_world(candidates=50, spare=False)
    assert agent.pick() == 2
    assert agent._candidates.tolist() == [0, 1, 2, 3, 4] and sim.pool.exhausted


def test_boundary_run_submits_greedy_sequence_with_wrong_labels() -> None:
    """Run to the end: every candidate is submitted mislabelled, each time the one nearest the
    boundary of the model *as trained by the previous ones* (replayed here by hand)."""
    sim, agent = boundary_world()
    sim.start(agent)
    sim.env.run()
    recs = sim.records_by("poisoner")
    assert len(recs) == 5 and not agent.has_material()
    for r in recs:
        assert r.y == 1 - sim.truth(r)

    w, b = np.array(B_W), 0
    stock, expected = [0, 1, 2, 3, 4], []
    while stock:
        j = lowest_confidence(w, b, stock)
        i = stock.pop(j)
        expected.append(i)
        label = 1 - B_LABELS[i]
        predicted = int(b + sum(w[f] for f in B_SAMPLES[i]) >= 0)
        if predicted != label:  # perceptron rule: learn only when wrong
            step = 1 if label == 1 else -1
            w[B_SAMPLES[i]] += step
            b += step
    assert [sim.world.pool_index[r.id] for r in recs] == expected
    assert sim.model.w.tolist() == w.tolist() and int(sim.model.b) == b
    assert sim.pool.remaining == 1  # the spare sample was never the attacker's


def test_boundary_keeps_using_its_stock_after_the_shared_pool_runs_out() -> None:
    sim, agent = boundary_world(candidates=50, spare=False)
    sim.start(agent)
    sim.env.run()
    assert len(sim.records_by("poisoner")) == 5


# -- near-duplicate -----------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n_features=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_perturb_toggles_exactly_k_features(data: st.DataObject, n_features: int,
                                            seed: int) -> None:
    x = np.array(sorted(data.draw(st.sets(st.integers(0, n_features - 1)))), dtype=np.int32)
    k = data.draw(st.integers(0, n_features))
    out = perturb(x, k, n_features, np.random.default_rng(seed))
    assert out.dtype == x.dtype
    assert out.tolist() == sorted(set(out.tolist()))  # sorted, unique
    assert all(0 <= i < n_features for i in out.tolist())
    assert len(set(x.tolist()) ^ set(out.tolist())) == k  # Hamming distance k
    if k == 0:
        assert out is not x and out.tolist() == x.tolist()


# four stored contributions on disjoint feature sets of size 4 (so a 1-feature copy of one is
# at distance >= 7 from every other); confidences under the stored labels, by hand:
#   S0 label 1, margin +8  -> z = 4.0   (the most confident)
#   S1 label 1, margin +1  -> z = 0.5
#   S2 label 0, margin -6  -> z = -3.0  (second)
#   S3 label 0, margin -1  -> z = -0.5
# (every stored label agrees with the model, so storing them did not train it)
ND_SOURCES = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
ND_LABELS = [1, 1, 0, 0]
ND_W = [2, 2, 2, 2, 1, 0, 0, 0, -2, -2, -1, -1, -1, 0, 0, 0] + [0] * 24


def near_duplicate_world(mislabel: bool, window: int) -> tuple[Sim, NearDuplicate]:
    sim = make_world([[30]], [1], 40, w=ND_W)
    sim.ledger.open("author", 10**12)
    for x, y in zip(ND_SOURCES, ND_LABELS, strict=True):
        sim.chain.submit(Tx("author", "contract", "add_data", (np.array(x), y), 0, GAS_LIMIT,
                            GAS_PRICE))
    sim.env.run(until=BLOCK + 1)
    assert [r.x.tolist() for r in sim.contract.data.records] == ND_SOURCES
    assert sim.model.w.tolist() == ND_W  # every stored label agreed with the model
    agent = sim.add_agent(NearDuplicate, NearDuplicateConfig, seed=3, name="farmer",
                          kind="near_duplicate", balance=wei(10**12), k=1, window=window,
                          candidates=10, mislabel=mislabel)
    return sim, agent


@pytest.mark.parametrize("mislabel", [False, True])
@pytest.mark.parametrize(("window", "source"), [(10, 0), (4, 0), (2, 2)])
def test_near_duplicate_copies_the_most_confident_recent_contribution(
        mislabel: bool, window: int, source: int) -> None:
    w = np.array(ND_W)
    conf = [perceptron_confidence(w, 0, x, y) for x, y in zip(ND_SOURCES, ND_LABELS, strict=True)]
    recent = range(max(0, 4 - window), 4)
    assert max(recent, key=lambda i: conf[i]) == source

    sim, agent = near_duplicate_world(mislabel, window)
    agent.contribute()
    (tx,) = sim.chain.pending
    x, label = tx.args
    distances = [len(set(x.tolist()) ^ set(s)) for s in ND_SOURCES]
    assert distances[source] == 1 and min(d for i, d in enumerate(distances) if i != source) >= 7
    assert x.tolist() == sorted(set(x.tolist()))
    assert label == (1 - ND_LABELS[source] if mislabel else ND_LABELS[source])


def test_near_duplicate_mislabel_is_a_valid_other_class_with_three_classes() -> None:
    model = NaiveBayes(8, 3)
    sim = make_world([[7]], [0], 8, model=model)
    sim.ledger.open("author", 10**12)
    sim.chain.submit(Tx("author", "contract", "add_data", (np.array([0, 1, 2]), 2), 0,
                        GAS_LIMIT, GAS_PRICE))
    sim.env.run(until=BLOCK + 1)
    agent = sim.add_agent(NearDuplicate, NearDuplicateConfig, name="farmer",
                          kind="near_duplicate", balance=wei(10**12), k=1, mislabel=True)
    agent.contribute()
    (tx,) = sim.chain.pending
    assert tx.args[1] in (0, 1)


# -- sybil -----------------------------------------------------------------------------------

BALANCE_WEI = 100 * 10**18 + 4   # = 2 (mod 3)
BUDGET_WEI = 10 * 10**18 + 3     # = 1 (mod 3)


def sybil_scenario(strategy: dict[str, Any], scale_interval: bool = True,
                   addresses: int = 3) -> dict[str, Any]:
    return {
        "scenario": {"name": "sybil-unit", "duration_s": 1},
        "data": {"dataset": "synthetic", "synthetic": {"n_train": 60, "n_test": 20,
                                                       "n_features": 30}},
        "metrics": {"baseline": False},
        "agents": [
            {"name": "good", "kind": "honest", "balance": 1},
            {"name": "swarm", "kind": "sybil", "balance": wei(BALANCE_WEI),
             "addresses": addresses, "scale_interval": scale_interval, "strategy": strategy},
        ],
    }


FLIP = {"kind": "label_flip", "budget": wei(BUDGET_WEI), "target_class": 1,
        "interval_s": constant(60)}


@pytest.mark.parametrize("scale_interval", [True, False])
def test_sybil_splits_balance_and_budget_exactly(scale_interval: bool) -> None:
    sc = parse_scenario(sybil_scenario(FLIP, scale_interval))
    parts = Sybil.expand(sc.agents[1])
    assert [c.name for c, _, _ in parts] == ["swarm-0", "swarm-1", "swarm-2"]
    assert all(cls is LabelFlip for _, cls, _ in parts)
    assert {s for _, _, s in parts} == {3.0 if scale_interval else 1.0}
    assert BALANCE_WEI % 3 == 2 and BUDGET_WEI % 3 == 1
    balances = [c.balance for c, _, _ in parts]
    budgets = [c.budget for c, _, _ in parts]
    assert sum(balances) == BALANCE_WEI and sum(budgets) == BUDGET_WEI
    assert balances == [BALANCE_WEI // 3 + 2] + [BALANCE_WEI // 3] * 2
    assert budgets == [BUDGET_WEI // 3 + 1] + [BUDGET_WEI // 3] * 2
    # the wrapped strategy's own options pass through
    assert all(c.target_class == 1 and c.interval_s.sample(None) == 60 for c, _, _ in parts)

    res = run(sc)
    swarm = [a for a in res.agents if a.group == "swarm"]
    assert [a.name for a in swarm] == ["swarm-0", "swarm-1", "swarm-2"]
    assert all(a.interval_scale == (3.0 if scale_interval else 1.0) for a in swarm)
    assert all(isinstance(a, LabelFlip) for a in swarm)
    assert sum(a.initial_balance for a in swarm) == BALANCE_WEI
    assert res.chain.ledger.supply == BALANCE_WEI + 10**18


def test_sybil_without_budget_leaves_each_address_unbudgeted() -> None:
    sc = parse_scenario(sybil_scenario({"kind": "label_flip"}, addresses=1))
    (part,) = Sybil.expand(sc.agents[1])
    assert part[0].budget is None and part[0].balance == BALANCE_WEI and part[2] == 1.0


@pytest.mark.parametrize(("kind", "message"), [
    ("honest", "not an attacker"),
    ("sybil", "not a registered strategy"),
    ("no_such_strategy", "not a registered strategy"),
])
def test_sybil_rejects_a_strategy_it_cannot_wrap(kind: str, message: str) -> None:
    with pytest.raises(InputError) as err:
        parse_scenario(sybil_scenario({"kind": kind}))
    assert "agents[1].strategy.kind" in str(err.value)
    assert message in str(err.value)


def test_sybil_names_a_bad_option_inside_the_strategy() -> None:
    with pytest.raises(InputError, match=r"agents\[1\]\.strategy\.target_class"):
        parse_scenario(sybil_scenario({"kind": "label_flip", "target_class": -1}))
    with pytest.raises(InputError, match=r"agents\[1\]\.strategy\.budget: must not be neg"):
        parse_scenario(sybil_scenario({"kind": "label_flip", "budget": -5}))


def test_sybil_names_a_malformed_budget() -> None:
    with pytest.raises(InputError, match=r"agents\[1\]\.strategy\.budget"):
        parse_scenario(sybil_scenario({"kind": "label_flip", "budget": "abc"}))


def test_a_sybils_address_another_agent_takes_is_refused() -> None:
    """A sybil named ``bad`` runs ``bad-0``, ``bad-1``...: an agent already called ``bad-1``
    would share a wallet with it (the run failed opening the account twice)."""
    data = sybil_scenario({"kind": "label_flip"})
    data["agents"].append({"name": f"{data['agents'][1]['name']}-1", "kind": "honest",
                           "balance": 10})
    with pytest.raises(InputError, match=r"agents\[2\]\.name: address '.*-1' would be both "
                       r"agents\[1\] .* and agents\[2\]"):
        parse_scenario(data)


@pytest.mark.parametrize("option", [{"balance": 5}, {"name": "x"}])
def test_sybil_rejects_options_it_would_overwrite(option: dict[str, Any]) -> None:
    with pytest.raises(InputError, match=r"agents\[1\]\.strategy\."):
        parse_scenario(sybil_scenario({"kind": "label_flip", **option}))


@pytest.mark.parametrize("option", [{"interval_s": constant(86_400)}, {"max_deposit": 1},
                                    {"start_s": 1000}, {"gas_tip_gwei": 3}, {"report": False}])
def test_an_agent_option_set_on_the_sybil_itself_is_refused(option: dict[str, Any]) -> None:
    """Its addresses run the wrapped strategy with the strategy's options: one set beside it
    would do nothing, so it is refused, naming where it belongs; a scenario written back
    (every option at its default) still loads."""
    from sumsim.scenario.loader import dump_scenario, parse_toml

    data = sybil_scenario({"kind": "label_flip"})
    (key,) = option
    data["agents"][1].update(option)
    with pytest.raises(InputError, match=rf"agents\[1\]\.{key}: a sybil's addresses take their "
                       rf"options from its strategy: set {key} inside it \(strategy\.{key}\)"):
        parse_scenario(data)
    sc = parse_scenario(sybil_scenario({"kind": "label_flip", **option}))
    again = parse_scenario(parse_toml(dump_scenario(sc), "written back"))
    assert again.agents[1] == sc.agents[1]


# -- label flip -------------------------------------------------------------------------------

LF_LABELS = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 1]
LF_SAMPLES = [[i % 6, 6 + i % 4] for i in range(len(LF_LABELS))]


@pytest.mark.parametrize("target", [0, 1])
def test_label_flip_with_target_class_submits_only_that_label(target: int) -> None:
    sim = make_world(LF_SAMPLES, LF_LABELS, 10)
    agent = sim.add_agent(LabelFlip, LabelFlipConfig, name="flip", kind="label_flip",
                          balance=wei(10**12), target_class=target, interval_s=constant(30))
    sim.start(agent)
    sim.env.run()
    recs = sim.records_by("flip")
    others = [i for i, y in enumerate(LF_LABELS) if y != target]
    assert sorted(sim.world.pool_index[r.id] for r in recs) == others
    assert all(r.y == target and sim.truth(r) != target for r in recs)
    # samples of the target class are left in the pool
    assert sim.pool.remaining == len(LF_LABELS) - len(others) and agent.stopped


def test_label_flip_without_target_flips_every_sample() -> None:
    sim = make_world(LF_SAMPLES, LF_LABELS, 10)
    agent = sim.add_agent(LabelFlip, LabelFlipConfig, name="flip", kind="label_flip",
                          balance=wei(10**12), interval_s=constant(30))
    sim.start(agent)
    sim.env.run()
    recs = sim.records_by("flip")
    assert len(recs) == len(LF_LABELS) and sim.pool.exhausted
    assert all(r.y == 1 - sim.truth(r) for r in recs)


def max_spend(sim: Sim, name: str, start: int) -> int:
    """Largest ``start - balance`` the ledger journal ever shows for ``name``."""
    bal, worst = start, 0
    for _, src, dst, amount in sim.ledger.journal:
        if src == name:
            bal -= amount
        elif dst == name:
            bal += amount
        worst = max(worst, start - bal)
    assert bal == sim.ledger.balances[name]
    return worst


W_DEPOSIT = 10**9  # deposits of 3.6e12 // isqrt(dt) wei
LONG_POOL = [[i % 9, 9 + i % 7] for i in range(60)]


def test_label_flip_never_spends_beyond_its_budget() -> None:
    """One turn every 100 s (each add is mined before the next): the budget binds and the spend
    never exceeded it at any moment (replayed from the ledger journal)."""
    budget = 10**12
    sim = make_world(LONG_POOL, [i % 2 for i in range(60)], 16, cost_weight=W_DEPOSIT,
                     tx_gas_limit=300_000, journal=True)
    start = 10**15
    agent = sim.add_agent(LabelFlip, LabelFlipConfig, name="flip", kind="label_flip",
                          balance=wei(start), budget=wei(budget), interval_s=constant(100),
                          claim_refunds=False, report=False, take_expired=False)
    sim.start(agent)
    end = 20_000
    sim.env.run(until=end)
    recs = sim.records_by("flip")
    assert len(recs) >= 3 and not sim.pool.exhausted
    worst = max_spend(sim, "flip", start)
    assert worst <= budget
    # it went as far as it could: what is left of the budget does not cover even the cheapest
    # deposit on offer at the end (w * 3600 // isqrt(dt) since its last add) plus the fee
    # allowance (gas limit x gas price)
    cheapest = W_DEPOSIT * 3600 // math.isqrt(end - int(recs[-1].added_time))
    assert budget - worst < cheapest + 300_000 * GAS_PRICE


def test_label_flip_budget_counts_transactions_not_yet_mined() -> None:
    """Deposits are 0 (w = 0), so only fees are spent; one turn per second, 12 s blocks."""
    budget = 3 * 300_000 * GAS_PRICE
    sim = make_world(LONG_POOL, [i % 2 for i in range(60)], 16, tx_gas_limit=300_000,
                     journal=True)
    start = 10**12
    agent = sim.add_agent(LabelFlip, LabelFlipConfig, name="flip", kind="label_flip",
                          balance=wei(start), budget=wei(budget), interval_s=constant(1))
    sim.start(agent)
    sim.env.run(until=2_000)
    assert max_spend(sim, "flip", start) <= budget


# -- honest ---------------------------------------------------------------------------------

# the model predicts 1 exactly for samples containing feature 0 (w[0] = 5, bias -1)
H_W = [5, 0, 0, 0, 0, 0, 0, 0]
H_SAMPLES = [[0, 1], [1, 2], [0, 3], [4], [0, 5, 6], [2, 7], [0], [3, 5]]
H_LABELS = [0, 0, 1, 1, 0, 1, 1, 0]


def honest_world(**opts: Any) -> tuple[Sim, Honest]:
    sim = make_world(H_SAMPLES, H_LABELS, 8, w=H_W, b=-1)
    agent = sim.add_agent(Honest, HonestConfig, seed=5, name="good", kind="honest",
                          balance=wei(10**12), interval_s=constant(30), **opts)
    return sim, agent


def test_honest_conformity_one_relabels_to_the_prediction() -> None:
    sim, agent = honest_world(conformity=1.0, accuracy_gated=False)
    sim.start(agent)
    sim.env.run()
    recs = sim.records_by("good")
    assert len(recs) == len(H_SAMPLES)
    predicted = [int(0 in s) for s in H_SAMPLES]
    assert [r.y for r in recs] == predicted != H_LABELS
    # it agreed with the model every time, so the model never moved
    assert sim.model.w.tolist() == H_W and int(sim.model.b) == -1


def test_honest_without_conformity_keeps_true_labels() -> None:
    sim, agent = honest_world(accuracy_gated=False)
    sim.start(agent)
    sim.env.run()
    assert [r.y for r in sim.records_by("good")] == H_LABELS


def test_honest_mistake_rate_one_flips_every_label() -> None:
    sim, agent = honest_world(mistake_rate=1.0, accuracy_gated=False)
    sim.start(agent)
    sim.env.run()
    recs = sim.records_by("good")
    assert len(recs) == len(H_SAMPLES)
    assert all(r.y == 1 - sim.truth(r) for r in recs)


@pytest.mark.parametrize(("accuracy", "bonus", "contributes"), [
    (0.0, 0.0, False), (0.0, 1.0, True), (1.0, 0.0, True), (float("nan"), 0.0, True)])
def test_honest_accuracy_gate(accuracy: float, bonus: float, contributes: bool) -> None:
    sim, agent = honest_world(accuracy_bonus=bonus)
    sim.world.public_accuracy = accuracy
    sim.start(agent)
    sim.env.run(until=30 * 20)
    if contributes:
        assert len(sim.records_by("good")) == len(H_SAMPLES) and sim.pool.exhausted
    else:
        assert len(sim.chain.receipts) == 0 and sim.pool.remaining == len(H_SAMPLES)
        assert agent.balance == 10**12


def test_cautious_honest_leaves_ambiguous_samples_in_the_pool() -> None:
    sim, agent = honest_world(skip_ambiguous=True, accuracy_gated=False)
    sim.pool.ambiguous = np.array([False, True] * 4)
    sim.start(agent)
    sim.env.run(until=10_000)
    recs = sim.records_by("good")
    assert [sim.world.pool_index[r.id] for r in recs] == [0, 2, 4, 6]
    assert sim.pool.remaining == 4 and not sim.pool.used[1::2].any()


def test_cautious_honest_finishes_when_only_ambiguous_samples_are_left() -> None:
    sim, agent = honest_world(skip_ambiguous=True, accuracy_gated=False)
    sim.pool.ambiguous = np.array([False, True] * 4)
    proc = agent.start()
    sim.env.run(until=10**6)
    assert proc.processed


def test_label_flip_stops_at_the_target_accuracy() -> None:
    sim = make_world(LF_SAMPLES, LF_LABELS, 10)
    agent = sim.add_agent(LabelFlip, LabelFlipConfig, name="flip", kind="label_flip",
                          balance=wei(10**12), stop_at_accuracy=0.5, interval_s=constant(30))
    sim.world.public_accuracy = 0.6
    sim.start(agent)
    sim.env.run(until=100)  # turns at 0, 30, 60, 90: four contributions
    assert len(sim.records_by("flip")) == 4 and not agent.stopped
    sim.world.public_accuracy = 0.5
    sim.env.run()
    assert agent.stopped and len(sim.records_by("flip")) == 4
    assert sim.pool.remaining == len(LF_LABELS) - 4


def test_near_duplicate_stops_on_a_dense_model() -> None:
    sim = make_world([[0]], [1], 4, model=Perceptron(4, sparse_input=False))
    sim.ledger.open("author", 10**12)
    sim.chain.submit(Tx("author", "contract", "add_data", (np.array([1.0, 0.0, 1.0, 0.0]), 1),
                        0, GAS_LIMIT, GAS_PRICE))
    sim.env.run(until=BLOCK + 1)
    agent = sim.add_agent(NearDuplicate, NearDuplicateConfig, name="farmer",
                          kind="near_duplicate", balance=wei(10**12))
    agent.contribute()
    assert agent.stopped and sim.chain.pending == []


# -- claims that revert in their block, or leave something ----------------------------------

def test_a_refund_that_reverts_in_its_block_is_tried_again_after_recheck_s() -> None:
    """The simulated refund succeeds, but the model disagrees by the time the block runs it
    (as when another add in the block moved it): the author looks again ``recheck_s`` later
    and gets its deposit back."""
    model = FlipModel(8)
    model.bit = 1  # predicts 1 for a two-feature sample: the label below
    sim = make_world([[0, 1]], [1], 8, model=model, cost_weight=10**15)
    agent = sim.add_agent(Honest, HonestConfig, name="good", kind="honest",
                          balance=wei(10**20), interval_s=constant(30), report=False,
                          take_expired=False, recheck_s=200, accuracy_gated=False)
    refunds_run = 0

    def disagree_while_the_first_refund_runs(tx: Tx) -> None:
        nonlocal refunds_run
        if tx.method == "refund":
            refunds_run += 1
            model.bit = 0 if refunds_run == 1 else 1

    sim.chain.tx_hooks.append(disagree_while_the_first_refund_runs)
    sim.chain.receipt_hooks.append(lambda tx, r: setattr(model, "bit", 1))
    sim.start(agent)
    sim.env.run()
    claims = [(tx, r) for tx, r in sim.chain.receipts if tx.method != "add_data"]
    assert [(tx.method, r.status) for tx, r in claims] == [("refund", "reverted"),
                                                           ("refund", "success")]
    (_, first), (again, _) = claims
    # sent on the first turn (every 30 s) at least recheck_s after the reverted block
    assert first.timestamp + 200 <= again.submitted_at < first.timestamp + 200 + 30
    rec = sim.records_by("good")[0]
    assert rec.claimable == 0 and rec.refunded == rec.initial_deposit > 0
    assert sim.ledger.balances["contract"] == 0


def test_a_claim_that_reverts_in_every_block_is_given_up_after_claim_retries() -> None:
    """The model disagrees whenever the refund runs (as a claim out of gas would revert every
    time): the author tries CLAIM_RETRIES more times, recheck_s apart, then gives up, and the
    run ends rather than paying fees until the wallet is empty."""
    from sumsim.agents.base import CLAIM_RETRIES

    model = FlipModel(8)
    model.bit = 1
    sim = make_world([[0, 1]], [1], 8, model=model, cost_weight=10**15)
    agent = sim.add_agent(Honest, HonestConfig, name="good", kind="honest",
                          balance=wei(10**20), interval_s=constant(30), report=False,
                          take_expired=False, recheck_s=50, accuracy_gated=False)
    sim.chain.tx_hooks.append(lambda tx: setattr(model, "bit", 0 if tx.method == "refund" else 1))
    sim.chain.receipt_hooks.append(lambda tx, r: setattr(model, "bit", 1))
    sim.start(agent)
    sim.env.run()
    claims = [(tx, r) for tx, r in sim.chain.receipts if tx.method != "add_data"]
    assert [r.status for _, r in claims] == ["reverted"] * (1 + CLAIM_RETRIES)
    assert all(b.submitted_at - a.timestamp >= 50
               for (_, a), (b, _) in zip(claims, claims[1:], strict=False))
    assert not agent.book and not agent.inflight


class HalfRefund(DepositRefundTake):
    """Refunds half of what is left (a haircut); the rest is anyone's after the wait."""

    def check_refund(self, rec: Any, sender: str, now: int, agrees: bool) -> int:
        return super().check_refund(rec, sender, now, agrees) // 2


def test_what_a_partial_refund_leaves_is_taken_when_the_any_address_wait_ends() -> None:
    model = FlipModel(8)
    model.bit = 1  # predicts 1 for a two-feature sample: the label below
    sim = make_world([[0, 1]], [1], 8, model=model, cost_weight=10**15)
    sim.contract.im = HalfRefund(refund_wait_s=T_R, owner_claim_wait_s=T_A,
                                 any_address_claim_wait_s=T_A, cost_weight=10**15)
    author = sim.add_agent(Honest, HonestConfig, name="author", kind="honest",
                           balance=wei(10**20), interval_s=constant(30), recheck_s=10**6,
                           accuracy_gated=False)
    sim.start(author)
    sim.env.run()
    rec = sim.records_by("author")[0]
    claims = [(tx, r) for tx, r in sim.chain.receipts if tx.method != "add_data"]
    assert [(tx.method, r.ok) for tx, r in claims] == [("refund", True), ("report", True)]
    assert rec.refunded == rec.initial_deposit // 2 > 0
    assert rec.taken == rec.initial_deposit - rec.initial_deposit // 2
    assert rec.claimable == 0 and sim.ledger.balances["contract"] == 0
    # the take is sent on the first turn at or after the any-address wait (turns every 30 s),
    # not recheck_s (far longer) after the refund
    take = claims[1][0]
    assert rec.added_time + T_A <= take.submitted_at < rec.added_time + T_A + 30


def test_a_claim_through_a_mechanisms_own_method_leaves_flight_on_its_receipt() -> None:
    """``_claim`` takes any method name (a mechanism may call its claim ``withdraw``): its
    receipt takes the contribution out of flight as a refund's does, so the agent can finish;
    a transaction whose first argument is not a contribution id (a sample) is left alone."""
    from sumsim.chain.tx import REVERTED, Receipt

    sim = make_world([[0, 1]], [1], 8, model=FlipModel(8))
    agent = sim.add_agent(Honest, HonestConfig, name="good", kind="honest",
                          balance=wei(10**20), interval_s=constant(30))
    agent.inflight.add(7)
    tx = Tx("good", "contract", "withdraw", (7,), 0, GAS_LIMIT, GAS_PRICE)
    agent._on_receipt(tx, Receipt(REVERTED, "No.", 21_000, 21_000 * GAS_PRICE, 1, 12))
    assert agent.inflight == set()
    sample = Tx("good", "contract", "vote", (np.array([1, 2]),), 0, GAS_LIMIT, GAS_PRICE)
    agent._on_receipt(sample, Receipt(REVERTED, "No.", 21_000, 21_000 * GAS_PRICE, 1, 12))


# -- gas limits of claims ---------------------------------------------------------------------

def test_a_claim_estimate_is_the_gas_the_claim_needs_before_its_storage_refund() -> None:
    """``view_claim_estimate`` answers as ``eth_estimateGas`` would: asked as each refund is
    about to run in its block, it gives the amount and the gas the refund needs before the
    storage refund its cleared claimable amount earns (the first refund also sets the
    author's and the total good-data counters from zero, so the two differ); the refund then
    uses that less the refund; a claim that would revert has no estimate."""
    model = FlipModel(8)
    model.bit = 1
    sim = make_world([[0, 1], [2, 3, 4, 5]], [1, 1], 8, model=model, cost_weight=10**15)
    agent = sim.add_agent(Honest, HonestConfig, name="good", kind="honest",
                          balance=wei(10**20), interval_s=constant(30), report=False,
                          take_expired=False, accuracy_gated=False)
    view = sim.contract.view_claim_estimate
    estimates: list[tuple[int, int | None] | None] = []
    sim.chain.tx_hooks.append(lambda tx: estimates.append(view(
        sim.chain.block_timestamp, "refund", tx.args[0], tx.sender))
        if tx.method == "refund" else None)
    sim.start(agent)
    sim.env.run()
    refunds = [r for tx, r in sim.chain.receipts if tx.method == "refund"]
    assert len(refunds) == 2 and all(r.ok for r in refunds)
    # Prague: clearing the claimable amount refunds 4,800 (a fifth of the gas at most)
    assert [(r.result, r.gas_used + 4_800) for r in refunds] == estimates
    assert refunds[0].gas_used != refunds[1].gas_used
    now = sim.chain.block_timestamp
    assert view(now, "refund", 0, "good") is None  # (claimed)
    assert view(now, "refund", 1, "someone else") is None
    assert view(now, "report", 1, "good") is None  # (its own)


@pytest.mark.parametrize("short", [0, 1])
def test_a_claim_sent_with_its_estimate_succeeds_and_one_gas_less_runs_out(short: int) -> None:
    """The gas limit is held against the call's gas before its storage refund, as on the EVM
    (which refunds once the call has ended): the estimate is the least limit that succeeds,
    and a limit one gas below it runs out, though the refund brings the gas the call would
    use below that limit."""
    model = FlipModel(8)
    model.bit = 1
    sim = make_world([[0, 1]], [1], 8, model=model, cost_weight=10**15)
    agent = sim.add_agent(Honest, HonestConfig, name="good", kind="honest",
                          balance=wei(10**20), interval_s=constant(30), claim_refunds=False,
                          report=False, take_expired=False, accuracy_gated=False)
    sim.start(agent)
    sim.env.run()
    rec, = sim.records_by("good")
    if sim.env.now < rec.added_time + T_R:
        sim.env.run(until=rec.added_time + T_R)
    at = sim.chain.next_block_timestamp()
    amount, estimate = sim.contract.view_claim_estimate(sim.chain.block_timestamp, "refund",
                                                       rec.id, "good", at)
    tx = sim.chain.submit(Tx("good", "contract", "refund", (rec.id,), 0, estimate - short,
                             GAS_PRICE))
    sim.env.run()
    r = tx.receipt
    assert r is not None
    if short:
        assert (r.status, r.reason, r.gas_used) == ("reverted", "Out of gas.", estimate - 1)
        assert rec.claimable == rec.initial_deposit
    else:
        assert r.ok and r.result == amount == rec.initial_deposit
        assert r.gas_used == estimate - 4_800  # (Prague's refund for the cleared amount)


def test_a_wallet_too_low_for_the_default_gas_limit_still_claims_its_deposits() -> None:
    """Once its deposit is in the contract the wallet holds less than a transaction at
    ``chain.tx_gas_limit`` needs for its fee: it still claims the deposit back, the claim
    carrying the estimated gas plus GAS_HEADROOM as its limit (as a wallet sets it)."""
    from sumsim.agents.base import GAS_HEADROOM

    model = FlipModel(8)
    model.bit = 1
    gas_limit = 10_000_000
    sim = make_world([[0, 1]], [1], 8, model=model, cost_weight=10**15,
                     tx_gas_limit=gas_limit)
    deposit = sim.contract.view_required_deposit(0, sim.chain.next_block_timestamp(0))
    balance = deposit + gas_limit * GAS_PRICE  # the add just fits; its fee leaves less
    agent = sim.add_agent(Honest, HonestConfig, name="good", kind="honest",
                          balance=wei(balance), interval_s=constant(30), report=False,
                          take_expired=False, accuracy_gated=False)
    before_refund: list[tuple[int, int]] = []
    sim.chain.tx_hooks.append(lambda tx: before_refund.append(
        (sim.ledger.balances["good"], tx.gas_limit)) if tx.method == "refund" else None)
    sim.start(agent)
    sim.env.run()
    receipts = [(tx.method, r) for tx, r in sim.chain.receipts]
    assert [(m, r.ok) for m, r in receipts] == [("add_data", True), ("refund", True)]
    (held, limit), = before_refund
    assert held < gas_limit * GAS_PRICE
    # (the estimate: the refund's gas before Prague's 4,800 for the cleared amount)
    assert limit == math.ceil((receipts[1][1].gas_used + 4_800) * GAS_HEADROOM) < gas_limit
    assert sim.ledger.balances["contract"] == 0
    fees = sum(r.fee for _, r in receipts)
    assert sim.ledger.balances["good"] == balance - fees


def test_a_claim_estimate_holds_the_gas_before_a_refund_that_outweighs_the_rest() -> None:
    """With prices overridden so that clearing the claimable amount refunds more than the
    whole call costs (a refund quotient of 1: capped at all of it), the call's gas less its
    refund is nothing: the estimate is still the gas the call needs while it runs (more than
    what the transaction pays up front, its base and calldata), so the short wallet's refund,
    sent with it plus a quarter, succeeds, and ends having used no gas."""
    from dataclasses import replace

    from sumsim.chain.evm_gas import fork

    generous = replace(fork("petersburg"), clear_refund=10**9, refund_quotient=1)
    model = FlipModel(8)
    model.bit = 1
    gas_limit = 10_000_000
    sim = make_world([[0, 1]], [1], 8, model=model, cost_weight=10**15,
                     tx_gas_limit=gas_limit, fork=generous)
    deposit = sim.contract.view_required_deposit(0, sim.chain.next_block_timestamp(0))
    balance = deposit + gas_limit * GAS_PRICE
    agent = sim.add_agent(Honest, HonestConfig, name="good", kind="honest",
                          balance=wei(balance), interval_s=constant(30), report=False,
                          take_expired=False, accuracy_gated=False)
    estimates: list[Any] = []
    view = sim.contract.view_claim_estimate
    sim.chain.tx_hooks.append(lambda tx: estimates.append(view(
        sim.chain.block_timestamp, "refund", tx.args[0], tx.sender))
        if tx.method == "refund" else None)
    sim.start(agent)
    sim.env.run()
    assert [(tx.method, r.ok) for tx, r in sim.chain.receipts] == [("add_data", True),
                                                                  ("refund", True)]
    # 21,000 + the calldata of refund(int64[2], uint64, uint) on Petersburg: the selector,
    # three head words (the array's offset, the label, the time), the length and two
    # elements: 4 + 32 x 6 bytes, of which 4 + 1 + 1 + 4 (a timestamp's) + 1 + 1 (index 1)
    # are non-zero
    total, nonzero = 4 + 32 * 6, 4 + 1 + 1 + 4 + 1 + 1
    upfront = 21_000 + 68 * nonzero + 4 * (total - nonzero)
    (amount, estimate), = estimates
    assert amount == deposit and estimate > upfront
    refund = sim.chain.receipts[1][1]
    assert refund.gas_used == 0 and refund.result == deposit

