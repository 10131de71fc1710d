"""Defenses on the contract's acceptance path, on hand-built worlds with hand-worked outcomes.

Worlds use 12 s blocks; a transaction meant for the block at time ``t`` is sent at ``t - 6``,
so the call executes with ``now == t``.  Confidences are computed from the perceptron docstring's
formula (logistic of the margin over ``sqrt(max(1, |x|))``), Hamming distances from the feature
sets, and deposits from ``w * 3600 // isqrt(dt)``.

The last part is a Hypothesis state machine over a contract with all four defenses active (in a
random order), checking the fund invariants of DESIGN section 11 after every step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import simpy
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from stubs import BLOCK, GAS_LIMIT, GAS_PRICE, T_A, SmallWorld, csr, perceptron_confidence
from sumsim.chain import FEE_SINK, REVERTED, SUCCESS, Chain, Ledger, Receipt, Tx
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.defenses.base import Gate, Verdict
from sumsim.defenses.confidence_threshold import ConfidenceThreshold, ConfidenceThresholdConfig
from sumsim.defenses.duplicate_filter import DuplicateFilter, DuplicateFilterConfig
from sumsim.defenses.rate_limit import RateLimit, RateLimitConfig
from sumsim.defenses.review_queue import ReviewQueue, ReviewQueueConfig
from sumsim.engine import run
from sumsim.mechanisms.drt import DepositRefundTake
from sumsim.models import Perceptron
from sumsim.results.summary import summary
from sumsim.scenario.loader import load_scenario
from sumsim.world import Pool, World

ROOT = Path(__file__).parents[1]
FUNDS = 10**15
W = 10**6  # cost weight: deposits of 3.6e9 // isqrt(dt) wei
ETHER = 10**18

LOW_CONFIDENCE = "Rejected: the model's confidence in this label is below the threshold."
DUPLICATE = "Rejected: duplicate of a recent contribution."
LIMITED = "Rate limit exceeded for this address."
UNDER_REVIEW = "Contribution is under review."


def deposit(dt: int) -> int:
    return W * 3600 // (1 if dt == 0 else math.isqrt(dt))


@dataclass
class Sim(SmallWorld):
    gates: list[Gate] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.world.trainer = self.contract
        self.world.owner = "owner"
        self.world.seed = 11

    def install(self, *configs: Any) -> list[Gate]:
        kinds = {"confidence_threshold": ConfidenceThreshold, "review_queue": ReviewQueue,
                 "duplicate_filter": DuplicateFilter, "rate_limit": RateLimit}
        self.gates = [kinds[c.kind](c) for c in configs]
        for g in self.gates:
            g.wire(self.world)
        self.contract.gates = self.gates
        return self.gates

    def send(self, sender: str, method: str, args: tuple[Any, ...], value: int = 0,
             tag: str = "") -> Tx:
        def on_receipt(tx: Tx, r: Receipt) -> None:
            if tx.method == "add_data" and r.ok and tx.tag:
                self.world.pool_index[r.result] = int(tx.tag)

        return self.chain.submit(Tx(sender, "contract", method, args, value, GAS_LIMIT,
                                    GAS_PRICE, on_receipt, tag))

    def block(self, t: int, *calls: tuple[Any, ...]) -> list[Tx]:
        """Send ``calls`` (sender, method, args[, value[, tag]]) so they execute at time ``t``."""
        assert t % BLOCK == 0 and self.env.now <= t - BLOCK / 2
        self.env.run(until=t - BLOCK / 2)
        txs = [self.send(*c) for c in calls]
        self.env.run(until=t + 0.5)
        for tx in txs:
            assert tx.receipt is not None and tx.receipt.timestamp == t
        return txs

    def add(self, t: int, sender: str, x: list[int], y: int, tag: str = "") -> Tx:
        (tx,) = self.block(t, (sender, "add_data", (np.array(x), y), W * 3600, tag))
        return tx

    def balance(self, name: str) -> int:
        return self.ledger.balances[name]


def make_sim(n_features: int = 10, w: list[int] | None = None, b: int = 0,
             pool: tuple[list[list[int]], list[int]] = ([[0]], [1]),
             senders: tuple[str, ...] = ("alice", "bob", "carol", "dave")) -> Sim:
    return Sim.build(pool[0], pool[1], n_features, w=w, b=b, cost_weight=W, funded=senders,
                     funds=FUNDS)


# -- confidence threshold -------------------------------------------------------------------

CT_W = [1, -1, 2, 0, 1, -2, 0, 1, 0, 0]
# each labelled against the model's prediction (so training on it would move the model)
CT_SAMPLES = [([0, 2], 0), ([1, 5], 1), ([0, 1, 4, 7], 0), ([5, 6, 8], 1)]


def threshold(value: float, action: str = "reject") -> ConfidenceThresholdConfig:
    return ConfidenceThresholdConfig(kind="confidence_threshold", threshold=value, action=action)


def test_samples_are_uncertain_and_mislabelled() -> None:
    for x, y in CT_SAMPLES:
        # the model disagrees, and is not certain
        assert 0 < perceptron_confidence(CT_W, 0, x, y) < 0.5
        assert perceptron_confidence(CT_W, 0, x, 1 - y) < 1


def test_threshold_one_rejects_everything_uncertain_and_charges_only_the_fee() -> None:
    sim = make_sim(w=CT_W)
    (gate,) = sim.install(threshold(1.0))
    for j, (x, y) in enumerate(CT_SAMPLES):
        before = sim.balance("alice")
        tx = sim.add(BLOCK * (j + 1), "alice", x, y)
        r = tx.receipt
        assert r.status == REVERTED and r.reason == LOW_CONFIDENCE == gate.reason
        assert sim.balance("alice") == before - r.fee and r.fee == r.gas_used * GAS_PRICE
    assert sim.contract.data.records == [] and sim.balance("contract") == 0
    assert sim.model.w.tolist() == CT_W and int(sim.model.b) == 0
    assert sim.contract.im.last_update_time == 0  # a rejected add did not reset the deposit
    assert [f.verdict for f in gate.log.flags] == [Verdict.REJECT] * 4
    assert gate.log.checked == 4 and all(f.cid is None for f in gate.log.flags)


def test_threshold_zero_accepts_everything() -> None:
    sim = make_sim(w=CT_W)
    (gate,) = sim.install(threshold(0.0))
    for j, (x, y) in enumerate(CT_SAMPLES):
        assert sim.add(BLOCK * (j + 1), "alice", x, y).receipt.status == SUCCESS
    assert [r.status for r in sim.contract.data.records] == ["accepted"] * 4
    assert gate.log.flags == [] and sim.model.w.tolist() != CT_W


@pytest.mark.parametrize(("value", "accepted"), [(0.5, True), (0.5000001, False)])
def test_threshold_is_inclusive(value: float, accepted: bool) -> None:
    """Margin 0 gives confidence exactly 1/2 in either label."""
    sim = make_sim(w=CT_W)
    sim.install(threshold(value))
    x = [0, 1]  # 1 - 1 = 0
    assert perceptron_confidence(CT_W, 0, x, 0) == 0.5
    tx = sim.add(BLOCK, "alice", x, 0)
    assert (tx.receipt.status == SUCCESS) is accepted


def test_accept_without_training_stores_the_deposit_and_leaves_the_model() -> None:
    sim = make_sim(w=CT_W)
    (gate,) = sim.install(threshold(1.0, "accept_without_training"))
    paid = []
    for j, (x, y) in enumerate(CT_SAMPLES):
        t = BLOCK * (j + 1)
        before = sim.balance("alice")
        r = sim.add(t, "alice", x, y).receipt
        assert r.status == SUCCESS
        paid.append(deposit(BLOCK))  # each block follows the previous add by 12 s
        assert sim.balance("alice") == before - paid[-1] - r.fee
    recs = sim.contract.data.records
    assert [r.status for r in recs] == ["untrained"] * 4
    assert [r.initial_deposit for r in recs] == [r.claimable for r in recs] == paid
    assert sim.balance("contract") == sum(paid)
    assert sim.model.w.tolist() == CT_W and int(sim.model.b) == 0
    assert [(f.verdict, f.cid) for f in gate.log.flags] == [(Verdict.NO_TRAIN, i)
                                                            for i in range(4)]


# -- review queue ---------------------------------------------------------------------------


def review(capacity: int = 1, service: float = 100, accuracy: float = 1.0,
           forfeit_to: str = "owner", **kw: Any) -> ReviewQueueConfig:
    return ReviewQueueConfig(kind="review_queue", capacity=capacity,
                             service_s={"dist": "constant", "value": service},
                             accuracy=accuracy, cost_per_review="0.5", forfeit_to=forfeit_to,
                             **kw)


def watch_reviews(sim: Sim) -> list[tuple[int, bool, float]]:
    """Record (cid, approved, time) of every reviewer verdict."""
    seen: list[tuple[int, bool, float]] = []
    resolve = sim.contract.resolve_review

    def spy(cid: int, approved: bool, recipient: str, transfer: Any) -> None:
        seen.append((cid, approved, sim.env.now))
        resolve(cid, approved, recipient, transfer)

    sim.contract.resolve_review = spy  # type: ignore[method-assign]
    return seen


@pytest.mark.parametrize(("capacity", "k"), [(1, 1), (1, 4), (2, 5)])
def test_review_queue_serves_in_order(capacity: int, k: int) -> None:
    """k contributions flagged in the block at t0 = 12; service S = 100 s each."""
    t0, s = BLOCK, 100
    senders = tuple(f"s{i}" for i in range(k))
    sim = make_sim(w=CT_W, senders=senders)
    _, queue = sim.install(threshold(1.0, "review"), review(capacity, s))
    seen = watch_reviews(sim)
    x, y = CT_SAMPLES[0]
    txs = sim.block(t0, *[(n, "add_data", (np.array(x), y), W * 3600) for n in senders])
    assert all(tx.receipt.status == SUCCESS for tx in txs)
    assert [r.status for r in sim.contract.data.records] == ["in_review"] * k
    assert queue.sample()["review_queue"] == k  # in service + waiting
    sim.env.run()
    # the j-th (from 1) finishes at t0 + ceil(j / capacity) * S
    expected = [t0 + math.ceil(j / capacity) * s for j in range(1, k + 1)]
    assert [cid for cid, _, _ in seen] == list(range(k))
    assert [t for _, _, t in seen] == expected
    assert queue.waits == [(j // capacity) * s for j in range(k)]
    m = queue.metrics(frozenset())
    assert m["reviews"] == k and m["still_queued"] == 0
    assert m["wait_max_s"] == max(queue.waits)
    assert m["wait_mean_s"] == pytest.approx(sum(queue.waits) / k)
    assert queue.cost_wei() == m["cost_wei"] == k * ETHER // 2


# the model predicts 0 for everything (w = 0, b = -1)
GOOD = ([0, 1], 1)  # true label 1, submitted 1: the model is wrong, so approving it trains
BAD = ([2, 3], 0)   # true label 1, submitted 0


@pytest.mark.parametrize("forfeit_to", ["owner", "fee_sink"])
def test_accurate_reviewers_approve_good_and_forfeit_bad(forfeit_to: str) -> None:
    s = 100
    sim = make_sim(w=[0] * 10, b=-1, pool=([GOOD[0], BAD[0]], [1, 1]))
    sim.install(threshold(1.0, "review"), review(1, s, accuracy=1.0, forfeit_to=forfeit_to))
    seen = watch_reviews(sim)
    good, bad = sim.block(BLOCK, ("alice", "add_data", (np.array(GOOD[0]), GOOD[1]), W * 3600,
                                  "0"),
                          ("bob", "add_data", (np.array(BAD[0]), BAD[1]), W * 3600, "1"))
    d_good, d_bad = deposit(BLOCK), W * 3600  # the second add in a block pays the full w*3600
    recs = sim.contract.data.records
    assert [r.initial_deposit for r in recs] == [d_good, d_bad]
    fees = good.receipt.fee + bad.receipt.fee

    sim.env.run(until=BLOCK + s - 1)
    assert [r.status for r in recs] == ["in_review"] * 2
    assert sim.model.w.tolist() == [0] * 10 and int(sim.model.b) == -1  # not trained yet

    sim.env.run(until=BLOCK + s + 1)
    assert seen == [(0, True, BLOCK + s)]
    assert recs[0].status == "accepted"
    assert sim.model.w.tolist() == [1, 1] + [0] * 8 and int(sim.model.b) == 0  # trained now

    sim.env.run(until=BLOCK + 2 * s + 1)
    assert seen[1] == (1, False, BLOCK + 2 * s)
    assert recs[1].status == "rejected"
    assert (recs[1].claimable, recs[1].forfeited, recs[1].refunded, recs[1].taken) == \
        (0, d_bad, 0, 0)
    assert sim.model.w.tolist() == [1, 1] + [0] * 8 and int(sim.model.b) == 0
    assert sim.balance("contract") == d_good
    if forfeit_to == "owner":
        assert sim.balance("owner") == d_bad and sim.balance(FEE_SINK) == fees
    else:
        assert sim.balance("owner") == 0 and sim.balance(FEE_SINK) == fees + d_bad


def test_always_wrong_reviewers_invert_the_verdicts() -> None:
    sim = make_sim(w=[0] * 10, b=-1, pool=([GOOD[0], BAD[0]], [1, 1]))
    _, queue = sim.install(threshold(1.0, "review"), review(1, 50, accuracy=0.0))
    sim.block(BLOCK, ("alice", "add_data", (np.array(GOOD[0]), GOOD[1]), W * 3600, "0"),
              ("bob", "add_data", (np.array(BAD[0]), BAD[1]), W * 3600, "1"))
    sim.env.run()
    assert [r.status for r in sim.contract.data.records] == ["rejected", "accepted"]
    assert sim.model.w.tolist() == [0] * 10  # approving BAD (label 0) did not move it
    assert queue.wrong_verdicts == 2 and queue.approved == 1 and queue.rejected == 1


def test_contribution_under_review_cannot_be_claimed() -> None:
    s = 1000
    sim = make_sim(w=[0] * 10, b=-1, pool=([GOOD[0]], [1]))
    sim.install(threshold(1.0, "review"), review(1, s))
    sim.add(BLOCK, "alice", *GOOD, tag="0")
    d = sim.contract.data.records[0].initial_deposit
    t = BLOCK + T_A  # past t_r and even t_a: still under review
    before = {n: sim.balance(n) for n in ("alice", "bob")}
    txs = sim.block(t, ("alice", "refund", (0,)), ("bob", "report", (0,)),
                    ("alice", "report", (0,)))
    for tx in txs:
        assert tx.receipt.status == REVERTED and tx.receipt.reason == UNDER_REVIEW
    assert sim.balance("alice") == before["alice"] - txs[0].receipt.fee - txs[2].receipt.fee
    assert sim.balance("bob") == before["bob"] - txs[1].receipt.fee
    assert sim.contract.data.records[0].claimable == d == sim.balance("contract")
    # once approved (and the model trained on it, so it agrees), the author is refunded
    (tx,) = sim.block(BLOCK * math.ceil((BLOCK + s + 1) / BLOCK), ("alice", "refund", (0,)))
    assert tx.receipt.status == SUCCESS and tx.receipt.result == d


# -- duplicate filter -----------------------------------------------------------------------

BASE = [0, 1, 2, 3, 4, 5]


def dup(radius: int, window: int = 100, same_label_only: bool = False) -> DuplicateFilterConfig:
    return DuplicateFilterConfig(kind="duplicate_filter", radius=radius, window=window,
                                 same_label_only=same_label_only)


@pytest.mark.parametrize(("radius", "candidate", "distance"), [
    (0, BASE, 0),
    (0, [0, 1, 2, 3, 4], 1),
    (2, [0, 1, 2, 3, 4, 6], 2),
    (2, [0, 1, 2, 3, 4, 6, 7], 3),
    (2, [0, 1, 2, 3], 2),
    (2, [0, 1, 2], 3),
    (5, [1, 2, 3, 4, 5, 6, 7, 8, 9], 5),
    (5, [2, 3, 4, 5, 6, 7, 8, 9], 6),
])
def test_duplicate_filter_hamming_radius(radius: int, candidate: list[int],
                                         distance: int) -> None:
    assert len(set(BASE) ^ set(candidate)) == distance
    sim = make_sim()
    (gate,) = sim.install(dup(radius))
    assert sim.add(BLOCK, "alice", BASE, 1).receipt.status == SUCCESS
    r = sim.add(2 * BLOCK, "bob", candidate, 1).receipt
    if distance <= radius:
        assert r.status == REVERTED and r.reason == DUPLICATE
        assert len(sim.contract.data.records) == 1
    else:
        assert r.status == SUCCESS
    assert gate.nearest(np.array(candidate), 1) == (distance if distance <= radius else
                                                    0)  # accepted: it now remembers itself


FAR = [[10, 11, 12, 13], [20, 21, 22, 23], [30, 31, 32, 33]]


@pytest.mark.parametrize(("fillers", "rejected"), [(2, True), (3, False)])
def test_duplicate_filter_forgets_after_window(fillers: int, rejected: bool) -> None:
    """Window 3: the original is remembered while fewer than 3 newer contributions exist."""
    sim = make_sim(n_features=40)
    sim.install(dup(0, window=3))
    sim.add(BLOCK, "alice", BASE, 1)
    t = 2 * BLOCK
    # a rejected copy leaves no trace: it does not take a slot in the window
    assert sim.add(t, "bob", BASE, 1).receipt.reason == DUPLICATE
    for x in FAR[:fillers]:
        t += BLOCK
        assert sim.add(t, "bob", x, 0).receipt.status == SUCCESS
    r = sim.add(t + BLOCK, "carol", BASE, 1).receipt
    assert (r.status == REVERTED and r.reason == DUPLICATE) is rejected
    assert r.status == (REVERTED if rejected else SUCCESS)


@pytest.mark.parametrize(("same_label_only", "status"), [(True, SUCCESS), (False, REVERTED)])
def test_duplicate_filter_same_label_only(same_label_only: bool, status: str) -> None:
    sim = make_sim()
    sim.install(dup(1, same_label_only=same_label_only))
    sim.add(BLOCK, "alice", BASE, 1)
    assert sim.add(2 * BLOCK, "bob", BASE, 0).receipt.status == status
    # under the same label it is a duplicate either way
    assert sim.add(3 * BLOCK, "bob", BASE[:-1], 1).receipt.reason == DUPLICATE


def test_duplicate_filter_false_positive_rate_is_reported() -> None:
    """On honest synthetic data with a wide radius (60) some honest data is turned away; the
    rate reported by `defense_summary` is the share of honest checks the filter rejected."""
    for radius, positive in ((4, False), (60, True)):
        sc = load_scenario(ROOT / "scenarios" / "near-duplicate-filter.toml", {
            "metrics.counterfactual": False, "metrics.baseline": False, "data.max_pool": 200,
            "defenses[0].radius": radius})
        res = run(sc)
        d = summary(res)["defenses"]["duplicate_filter"]
        rate = d["honest_false_positive_rate"]
        assert isinstance(rate, float) and 0 <= rate <= 1
        honest = [r for tx, r in res.chain.receipts if tx.sender == "good"
                  and tx.method == "add_data" and r.status != "rejected"]
        hits = sum(r.reason == DUPLICATE for r in honest)
        checked = sum(r.status == SUCCESS for r in honest) + hits
        assert d["flagged_honest"] == hits and d["honest_checked"] == checked
        assert rate == pytest.approx(hits / checked)
        assert (rate > 0) is positive


# -- rate limit -----------------------------------------------------------------------------


def test_rate_limit_per_address_sliding_window() -> None:
    """At most 2 per 96 s per address; the window is (now - 96, now]."""
    sim = make_sim(n_features=40)
    (gate,) = sim.install(RateLimitConfig(kind="rate_limit", max_contributions=2, window_s=96))
    plan = [  # (time, [(sender, accepted?), ...])
        (12, [("alice", True)]),
        (24, [("alice", True)]),
        (36, [("alice", False), ("bob", True)]),
        (48, [("bob", True), ("carol", True)]),
        (72, [("bob", False)]),
        (96, [("alice", False)]),   # 12 is still inside (0, 96]
        (108, [("alice", True)]),   # 12 slid out of (12, 108]
        (120, [("alice", True)]),   # 24 slid out of (24, 120]
        (132, [("alice", False)]),  # 108 and 120 are inside
        (144, [("bob", True), ("bob", True), ("bob", False)]),  # 36, 48 out of (48, 144]
    ]
    j = 0
    for t, calls in plan:
        txs = sim.block(t, *[(sender, "add_data", (np.array([j + k]), 1), W * 3600)
                             for k, (sender, _) in enumerate(calls)])
        j += len(calls)
        for tx, (sender, ok) in zip(txs, calls, strict=True):
            r = tx.receipt
            assert (r.status == SUCCESS) is ok, (t, sender)
            if not ok:
                assert r.reason == LIMITED
    rejected = [(t, s) for t, calls in plan for s, ok in calls if not ok]
    assert [(f.time, f.sender) for f in gate.log.flags] == rejected


def test_later_gates_still_reject_a_contribution_flagged_for_review() -> None:
    """Three identical contributions from one address within a minute, against a rate limit of
    one an hour and an exact-duplicate filter: only the first may be stored, whatever the
    order of the gates."""
    sim = make_sim(w=CT_W)
    sim.install(threshold(1.0, "review"), review(1, 5), dup(0, window=10),
                RateLimitConfig(kind="rate_limit", max_contributions=1, window_s=3600))
    x, y = CT_SAMPLES[0]
    statuses = [sim.add(BLOCK * (j + 1), "alice", x, y).receipt.status for j in range(3)]
    assert statuses == [SUCCESS, REVERTED, REVERTED]


# -- fund invariants with every defense active ----------------------------------------------

TRAINER = "contract"
OWNER = "owner"
AGENTS = ("alice", "bob", "carol")
SM_FUNDS = {"alice": 10**12, "bob": 10**12, "carol": 3 * 10**10, OWNER: 10**9}
SM_T_R, SM_T_O, SM_T_A = 60, 180, 360
N = 4
REVIEW_COST = ETHER // 2
# every feature set over N features is a pool sample, labelled 1 iff it contains feature 0
SUBSETS = [[i for i in range(N) if mask >> i & 1] for mask in range(2**N)]


class DefendedContract(RuleBasedStateMachine):
    """Chain + contract with a confidence threshold routing to a review queue, a duplicate
    filter and a rate limit, under random adds, refunds, reports, clock advances and model
    changes.  Reviews finish as the clock advances."""

    trainer_cls: type[CollaborativeTrainer] = CollaborativeTrainer

    def __init__(self) -> None:
        super().__init__()
        self.env = simpy.Environment()
        self.ledger = Ledger()
        for name, funds in SM_FUNDS.items():
            self.ledger.open(name, funds)
        self.chain = Chain(self.env, block_time_s=BLOCK, gas_price_wei=1, ledger=self.ledger)
        self.model = Perceptron(N)
        im = DepositRefundTake(refund_wait_s=SM_T_R, owner_claim_wait_s=SM_T_O,
                               any_address_claim_wait_s=SM_T_A, cost_weight=W)
        self.trainer = self.trainer_cls(TRAINER, self.ledger, self.model, im, OWNER)
        self.chain.deploy(self.trainer)
        pool = Pool(csr(SUBSETS, N), np.array([int(0 in s) for s in SUBSETS]))
        self.world = World(self.env, self.chain, TRAINER, pool, GAS_LIMIT, trainer=self.trainer,
                           owner=OWNER, seed=5)
        self.supply = self.ledger.supply
        self.txs: list[Tx] = []
        self.queue: ReviewQueue | None = None

    @initialize(order=st.permutations(range(4)),
                level=st.sampled_from([0.3, 0.5, 0.7, 1.0]),
                accuracy=st.sampled_from([0.0, 0.5, 1.0]),
                share=st.sampled_from([0.0, 0.3]),
                forfeit_to=st.sampled_from(["owner", "fee_sink"]),
                radius=st.integers(0, 1), limit=st.integers(1, 3))
    def install(self, order: list[int], level: float, accuracy: float, share: float,
                forfeit_to: str, radius: int, limit: int) -> None:
        self.forfeit_to = forfeit_to
        configs = [
            threshold(level, "review"),
            review(1, 30, accuracy=accuracy, forfeit_to=forfeit_to, sample_share=share),
            dup(radius, window=5),
            RateLimitConfig(kind="rate_limit", max_contributions=limit, window_s=120),
        ]
        kinds = {"confidence_threshold": ConfidenceThreshold, "review_queue": ReviewQueue,
                 "duplicate_filter": DuplicateFilter, "rate_limit": RateLimit}
        gates = [kinds[configs[i].kind](configs[i]) for i in order]
        for g in gates:
            g.wire(self.world)
        self.trainer.gates = gates
        self.queue = next(g for g in gates if isinstance(g, ReviewQueue))

    # -- helpers --------------------------------------------------------------------------
    def submit(self, sender: str, method: str, args: tuple[Any, ...], value: int = 0,
               tag: str = "") -> None:
        def on_receipt(tx: Tx, r: Receipt) -> None:
            if tx.method == "add_data" and r.ok:
                self.world.pool_index[r.result] = int(tx.tag)

        tx = Tx(sender, TRAINER, method, args, value, GAS_LIMIT, 1, on_receipt, tag)
        self.txs.append(tx)
        self.chain.submit(tx)

    def mine(self) -> None:
        target = (math.floor(self.env.now / BLOCK) + 1) * BLOCK + 0.5
        self.env.run(until=target)

    def n(self) -> int:
        return len(self.trainer.data.records)

    def _has_contributions(self) -> bool:
        return self.n() > 0

    # -- rules ------------------------------------------------------------------------------
    @rule(agent=st.sampled_from(AGENTS), mask=st.integers(0, 2**N - 1), label=st.integers(0, 1),
          pay=st.sampled_from(["exact", "max", "max", "under"]), mine=st.booleans())
    def add(self, agent: str, mask: int, label: int, pay: str, mine: bool) -> None:
        x = np.array(SUBSETS[mask], dtype=np.int64)
        slot = (math.floor(self.env.now / BLOCK) + 1) * BLOCK
        exact = self.chain.view(TRAINER, "required_deposit", int(slot))
        value = {"exact": exact, "max": W * 3600, "under": exact // 2}[pay]
        self.submit(agent, "add_data", (x, label), value, str(mask))
        if mine:
            self.mine()

    @rule(masks=st.lists(st.integers(0, 2**N - 1), min_size=2, max_size=4),
          label=st.integers(0, 1))
    def burst(self, masks: list[int], label: int) -> None:
        """Several adds in one block (they queue up for review together)."""
        for j, mask in enumerate(masks):
            self.submit(AGENTS[j % len(AGENTS)], "add_data",
                        (np.array(SUBSETS[mask], dtype=np.int64), label), W * 3600, str(mask))
        self.mine()

    @rule(agent=st.sampled_from(AGENTS), mask=st.integers(0, 2**N - 1))
    def earn_good_data(self, agent: str, mask: int) -> None:
        """Add what the model predicts, wait t_r (and any review), claim the refund."""
        x = np.array(SUBSETS[mask], dtype=np.int64)
        self.submit(agent, "add_data", (x, self.chain.view(TRAINER, "predict", x)), W * 3600,
                    str(mask))
        self.mine()
        self.env.run(until=self.env.now + SM_T_R)
        self.submit(agent, "refund", (self.n() - 1,))
        self.mine()

    @precondition(_has_contributions)
    @rule(agent=st.sampled_from(AGENTS), cid=st.integers(0, 50), as_author=st.booleans())
    def refund(self, agent: str, cid: int, as_author: bool) -> None:
        cid %= self.n()
        sender = self.trainer.data.records[cid].author if as_author else agent
        self.submit(sender, "refund", (cid,))

    @precondition(_has_contributions)
    @rule(agent=st.sampled_from((*AGENTS, OWNER)), cid=st.integers(0, 50))
    def report(self, agent: str, cid: int) -> None:
        self.submit(agent, "report", (cid % self.n(),))

    @rule(dt=st.sampled_from([1, 12, 30, 31, 60, 90, 121, 180, 360, 1000]))
    def advance(self, dt: int) -> None:
        target = self.env.now + dt
        if target % BLOCK == 0:
            target += 0.5
        self.env.run(until=target)

    @rule(v=st.integers(-3, 3))
    def set_bias(self, v: int) -> None:
        self.model.b = np.int64(v)

    def teardown(self) -> None:
        self.env.run(until=self.env.now + 10_000)  # seal what is pending, finish every review
        self.funds_are_conserved()
        self.contributions_add_up()
        self.contract_holds_exactly_the_claimable()
        self.owner_and_fee_sink_reconcile()
        assert self.queue is not None and self.queue.metrics(frozenset())["still_queued"] == 0

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def funds_are_conserved(self) -> None:
        bal = self.ledger.balances
        assert all(type(v) is int and v >= 0 for v in bal.values()), bal
        assert sum(bal.values()) == self.supply == self.ledger.supply

    @invariant()
    def contributions_add_up(self) -> None:
        for r in self.trainer.data.records:
            parts = (r.refunded, r.taken, r.claimable, r.forfeited)
            assert all(type(p) is int and p >= 0 for p in parts), r
            assert sum(parts) == r.initial_deposit, r
            if r.status == "in_review":
                assert r.claimable == r.initial_deposit and not r.claimed_by, r
            if r.forfeited:
                assert r.status == "rejected" and r.forfeited == r.initial_deposit, r

    @invariant()
    def contract_holds_exactly_the_claimable(self) -> None:
        total = sum(r.claimable for r in self.trainer.data.records)
        assert self.ledger.balances[TRAINER] == total

    @invariant()
    def owner_and_fee_sink_reconcile(self) -> None:
        fees = sum(tx.receipt.fee for tx in self.txs if tx.receipt is not None)
        owner_fees = sum(tx.receipt.fee for tx in self.txs
                         if tx.receipt is not None and tx.sender == OWNER)
        owner_takes = sum(tx.receipt.result for tx in self.txs if tx.receipt is not None
                          and tx.receipt.ok and tx.sender == OWNER)
        forfeited = sum(r.forfeited for r in self.trainer.data.records)
        to_owner = forfeited if self.forfeit_to == "owner" else 0
        assert self.ledger.balances[FEE_SINK] == fees + forfeited - to_owner
        assert self.ledger.balances[OWNER] == SM_FUNDS[OWNER] - owner_fees + owner_takes + \
            to_owner
        q = self.queue
        assert q is not None
        assert q.reviews == q.approved + q.rejected
        assert q.cost_wei() == q.reviews * REVIEW_COST
        assert q.rejected == sum(r.status == "rejected" for r in self.trainer.data.records)


SM_SETTINGS: dict[str, Any] = dict(stateful_step_count=40, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])


def test_fund_invariants_with_every_defense_active() -> None:
    run_state_machine_as_test(DefendedContract, settings=settings(max_examples=150,
                                                                  **SM_SETTINGS))


# -- planted bugs: the same machine must catch each of them ---------------------------------


class LeakyForfeit(CollaborativeTrainer):
    """Broken: a rejected contribution's deposit leaves the contract but stays claimable."""

    def resolve_review(self, cid: int, approved: bool, recipient: str, transfer: Any) -> None:
        rec = self.data.records[cid]
        if approved:
            super().resolve_review(cid, approved, recipient, transfer)
            return
        rec.status = "rejected"
        rec.forfeited += rec.claimable
        transfer(self.address, recipient, rec.claimable, "forfeit")


class ClaimDuringReview(CollaborativeTrainer):
    """Broken: refunds and reports go through while a contribution is under review."""

    def _record(self, ctx: Any, cid: int) -> Any:
        rec = self.data.get(cid)
        status = None if rec is None else rec.status
        if rec is not None:
            rec.status = "accepted"
        try:
            return super()._record(ctx, cid)
        finally:
            if rec is not None and status is not None:
                rec.status = status


@pytest.mark.parametrize("broken", [LeakyForfeit, ClaimDuringReview])
def test_machine_catches_a_broken_contract(broken: type[CollaborativeTrainer]) -> None:
    from hypothesis import Phase

    machine = type(f"Defended_{broken.__name__}", (DefendedContract,), {"trainer_cls": broken})
    with pytest.raises(AssertionError):
        run_state_machine_as_test(machine, settings=settings(
            max_examples=300, derandomize=True, database=None, phases=[Phase.generate],
            report_multiple_bugs=False, **SM_SETTINGS))
