"""The other incentive mechanisms (prediction market, points) and the fee market around them.

1. Prediction-market reward arithmetic: ``compute_rewards`` on hand-worked examples.  A stub model
   whose test-set predictions are set by the contributions it was updated with makes every
   contributor's score (the change in the number of correctly classified test samples) known
   exactly; every round's price, balance moves and remainder are worked out from the rule in
   the module docstring, never read back from the code under test.
2. The same market through the chain: start, stakes, a rejected reveal, settlement, collection.
3. Hypothesis state machines extending the fund invariants (DESIGN section 11) to points and the
   prediction market.
4. Points: hand-worked totals through the chain.
5. Front-running: a mempool watcher outbids a reporter; a bid under a moving base fee waits.
6. The mechanism-comparison and front-running scenarios run with every wei explained.
"""

from __future__ import annotations

import copy
import math
import time
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

from stubs import FlipModel, Logged, ReceiptLog, VerdictModel
from sumsim.agents.front_runner import FrontRunner, FrontRunnerConfig
from sumsim.chain import FEE_SINK, REJECTED, REVERTED, SUCCESS, Chain, Receipt, Tx
from sumsim.chain.fees import BaseFeeProcess
from sumsim.contract.gates import GateLog, Verdict
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.data.base import Matrix
from sumsim.engine import make_fees, run
from sumsim.mechanisms.drt import DepositRefundTake
from sumsim.mechanisms.points import Points
from sumsim.mechanisms.prediction_market import (
    PROVIDER,
    Entry,
    MarketRules,
    PredictionMarket,
    PredictionMarketConfig,
    RewardResult,
    compute_rewards,
    piece_hash,
)
from sumsim.models.base import Model, UpdatePlan
from sumsim.results.summary import summary
from sumsim.scenario.loader import load_scenario
from sumsim.world import Pool, World

ROOT = Path(__file__).parents[1]
TRAINER = "trainer"
OWNER = "owner"
GWEI = 10**9
ETHER = 10**18

NOT_OPEN = "The market is not accepting contributions."
UNDERSTAKED = "Didn't pay enough for the stake."
BAD_REVEAL = "Test data doesn't match the committed hash."
NOT_PROVIDER = "Only the bounty provider can do this."
WRONG_PHASE = "Not possible in this phase of the market."
TOO_EARLY = "The participation phase has not ended."
NOTHING = "There is no reward left to claim."
NOT_YOURS = "Only the contributor can collect its balance before the wait."
UNDER_REVIEW = "Contribution is under review."
TOO_SOON = "Not enough time has passed."
JUDGED = "Already claimed."
NOT_YET = "Cannot be claimed yet."
OWN = "Cannot report yourself."
NOT_AUTHOR = "Data not found."  # (the original looks a refund up under the sender's key)
CONFLICT = "Conflicting data key. The data may have already been added."
MODEL_AGREES = "The model should not agree with the contribution."
MODEL_DISAGREES = "The model doesn't agree with your contribution."


# -- a model whose test-set predictions the contributions set ---------------------------------

#: Test samples per test piece.  A test row holds one number; the model reads it modulo M, so
#: every piece of the test set is a copy of the same M samples (with distinct rows, so distinct
#: hashes).  All labels are 0.
M = 20
Y_EVAL = np.zeros(M, dtype=np.int64)
#: Initial predictions: samples 10..15 are classified correctly, the rest wrongly.
INITIAL = np.array([0 if 10 <= j <= 15 else 1 for j in range(M)], dtype=np.int64)
#: What updating on contribution ``[k]`` does: {test sample: new prediction}.
EFFECTS: dict[int, dict[int, int]] = {
    1: {0: 0, 1: 0, 2: 0},  # fixes 3 samples: +3
    2: {10: 1, 11: 1, 12: 1, 13: 1},  # breaks 4 samples: -4
    3: {3: 0, 4: 0},  # +2
    4: {5: 0},  # +1
    5: {14: 1, 15: 1},  # -2
    6: {6: 0},  # +1
}


class EffectModel(Model):
    """Stub model: its predictions on the test samples start at ``initial``; an update on
    ``[k]`` applies ``effects[k]`` (other keys change nothing).  Copies share the effects and
    the counter of test-set evaluations."""

    kind = "effects"

    def __init__(self, effects: dict[int, dict[int, int]] | None = None,
                 initial: np.ndarray = INITIAL, m: int = M) -> None:
        super().__init__(64, 2)
        self.effects = EFFECTS if effects is None else effects
        self.m = m
        self.pred = np.array(initial, dtype=np.int64)
        self.trained: list[int] = []
        self.evaluations = [0]

    def copy(self) -> EffectModel:
        other = copy.copy(self)
        other.pred = self.pred.copy()
        other.trained = list(self.trained)
        return other

    def predict(self, x: np.ndarray) -> int:
        return 0

    def scores(self, x: np.ndarray) -> np.ndarray:
        return np.array([1.0, 0.0])

    def confidence(self, x: np.ndarray, label: int) -> float:
        return float(label == 0)

    def read_slots(self, x: np.ndarray) -> int:
        return 1

    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        return UpdatePlan(0, 1, True)

    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        if not plan.trains:
            return
        key = int(x[0])
        self.trained.append(key)
        for sample, p in self.effects.get(key, {}).items():
            self.pred[sample] = p

    def predict_many(self, x: Matrix) -> np.ndarray:
        self.evaluations[0] += 1
        return self.pred[np.asarray(x)[:, 0].astype(np.int64) % self.m]

    def scores_many(self, x: Matrix) -> np.ndarray:
        return np.eye(2)[self.predict_many(x)]

    def fit(self, x: Matrix, y: np.ndarray) -> EffectModel:
        return self


def key(k: int) -> np.ndarray:
    return np.array([k], dtype=np.int64)


def eval_piece(k: int = 0, m: int = M) -> tuple[np.ndarray, np.ndarray]:
    """Piece ``k`` of the test set: rows ``k*m .. k*m + m - 1`` (samples 0..m-1), labels 0."""
    return np.arange(k * m, (k + 1) * m, dtype=np.float64).reshape(-1, 1), np.zeros(m, np.int64)


X_EVAL, _ = eval_piece()


def entries(items: list[tuple[str, int]], stake: int) -> list[Entry]:
    return [Entry(author, key(k), 0, stake) for author, k in items]


def market(items: list[tuple[str, int]], stake: int, bounty: int, rules: MarketRules,
           model: EffectModel | None = None) -> RewardResult:
    """The reward phase on ``items`` (author, effect key), every contribution staking
    ``stake``, with the money invariants every result must keep."""
    res = compute_rewards(entries(items, stake), model or EffectModel(), X_EVAL, Y_EVAL,
                          bounty, rules)
    assert all(type(v) is int and v >= 0 for v in res.balances.values())
    assert type(res.bounty_left) is int and res.bounty_left >= 0
    # every round conserves money exactly: bounty + stakes == balances + bounty left
    assert stake * len(items) + bounty == sum(res.balances.values()) + res.bounty_left
    assert sum(res.stakes.values()) == stake * len(items)
    return res


def rounds(res: Any) -> list[tuple[dict[Any, int], Any, int, int, list[Any]]]:
    return [(r.scores, r.worst, r.price, r.bounty_left, r.removed) for r in res.rounds]


# -- 1. reward arithmetic ---------------------------------------------------------------------
#
# Every case scores on the M = 20 test samples, so n_eval = 20: a round's price is at most
# rounds_left // 20, and a round at price p spends 20 * p of rounds_left (which starts at the
# bounty).  The caps are written "rounds", "balance" (balance[w] // -score[w], when the worst w
# scores negative) and "solvency" (the largest p with p * gains <= bounty left + losses
# collected at p).  Per contribution, participants are the contributions' indices (0, 1, ...);
# per contributor, addresses.  F = 10**15 wei (a thousandth of an ether).

F = 10**15
E = 1000 * F
#: Two more keys: one breaks every test sample, one fixes every one.
BREAK_ALL, FIX_ALL = 9, 10
ALL_EFFECTS = {**EFFECTS, BREAK_ALL: {j: 1 for j in range(M)}, FIX_ALL: {j: 0 for j in range(M)}}
#: The issue's example: alice +3, mallory -4, eve -2, bob +2.
ISSUE = [("alice", 1), ("mallory", 2), ("eve", 5), ("bob", 3)]
#: One address, a helpful (+3) and a harmful (-2) contribution; bob +2 after them.
MIXED = [("alice", 1), ("alice", 5), ("bob", 3)]
DEFAULT = MarketRules()
#: The original's other configuration (per contributor, retraining every round).
GROUPED_FRESH = MarketRules(scoring="per_contributor", replay="fresh")

#: case id -> (items, stake, bounty, rules, model effects or None, rounds, balances,
#:             bounty left, kept contribution indices)
CASES: dict[str, tuple[Any, ...]] = {
    # Round 1: 0 +3, 1 -4, 2 -2, 3 +2; caps rounds 100E // 20 = 5E, balance 1E // 4 = 250F,
    # solvency 1E (5 * p <= 100E + 4p): price 250F; rounds left 100E - 5E = 95E; 0 -> 1750F,
    # 1 -> 0, 2 -> 500F, 3 -> 1500F; left 100E - 1250F + 1500F = 100_250F.  Removed: the
    # worst (1) and every contribution below its 1E stake: 2 (eve, a non-worst negative
    # scorer, keeps her 500F, as in the original).
    # Round 2, cached: 0 scores 9 - 6 = +3; 3 scores its cached 5 (6+3-4-2+2) against 0's 9:
    # -4 (bob carries the removed contributions' damage: the paper's cached replay).  Caps
    # rounds 95E // 20 = 4750F, balance 1500F // 4 = 375F: price 375F; rounds left 95E -
    # 7500F = 87_500F; 0 -> 2875F, 3 -> 0; left 100_250F - 1125F + 1500F = 100_625F; 3 removed.
    # Round 3: 0 alone, +3; price 87_500F // 20 = 4375F; 0 -> 2875F + 13_125F = 16_000F; left
    # 100_625F - 13_125F = 87_500F.  Check: 4E + 100E == 16E + 0.5E + 87.5E.
    "issue, default (per contribution, below stake, stop, cached)": (
        ISSUE, E, 100 * E, DEFAULT, None,
        [({0: 3, 1: -4, 2: -2, 3: 2}, 1, 250 * F, 100_250 * F, [1, 2]),
         ({0: 3, 3: -4}, 3, 375 * F, 100_625 * F, [3]),
         ({0: 3}, None, 4375 * F, 87_500 * F, [])],
        {0: 16_000 * F, 1: 0, 2: 500 * F, 3: 0}, 87_500 * F, [0]),
    # Round 1 as above.  Round 2 retrains: 0 (6 -> 9) +3, 3 (9 -> 11) +2, nobody negative:
    # price 95E // 20 = 4750F; 0 +14_250F -> 16_000F, 3 +9500F -> 11_000F; left 100_250F -
    # 23_750F = 76_500F.
    "issue, fresh replay": (
        ISSUE, E, 100 * E, MarketRules(replay="fresh"), None,
        [({0: 3, 1: -4, 2: -2, 3: 2}, 1, 250 * F, 100_250 * F, [1, 2]),
         ({0: 3, 3: 2}, None, 4750 * F, 76_500 * F, [])],
        {0: 16_000 * F, 1: 0, 2: 500 * F, 3: 11_000 * F}, 76_500 * F, [0, 3]),
    # Worst only: round 1 as above but only 1 goes; eve (500F) stays.  Round 2 (fresh: 6 -> 9
    # -> 7 -> 9): 0 +3, 2 -2, 3 +2; caps rounds 4750F, balance 500F // 2 = 250F: price 250F;
    # rounds left 95E - 5E = 90E; 0 -> 2500F, 2 -> 0, 3 -> 2000F; left 100_250F - 1250F +
    # 500F = 99_500F; 2 removed.  Round 3: 0 +3, 3 +2; price 90E // 20 = 4500F; 0 -> 16_000F,
    # 3 -> 11_000F; left 99_500F - 22_500F = 77_000F: eve ends at 0 and the bounty keeps
    # 500F more than under below-stake removal.
    "issue, worst only, fresh": (
        ISSUE, E, 100 * E, MarketRules(removal="worst", replay="fresh"), None,
        [({0: 3, 1: -4, 2: -2, 3: 2}, 1, 250 * F, 100_250 * F, [1]),
         ({0: 3, 2: -2, 3: 2}, 2, 250 * F, 99_500 * F, [2]),
         ({0: 3, 3: 2}, None, 4500 * F, 77_000 * F, [])],
        {0: 16_000 * F, 1: 0, 2: 0, 3: 11_000 * F}, 77_000 * F, [0, 3]),
    # Bounty 5E: round 1's rounds cap 5E // 20 = 250F equals the balance cap; rounds left 0:
    # the phase stops there (nobody removed; the product keeps everything).  Left 5E - 1250F
    # + 1500F = 5250F.
    "issue, rounds run out: stop": (
        ISSUE, E, 5 * E, DEFAULT, None,
        [({0: 3, 1: -4, 2: -2, 3: 2}, 1, 250 * F, 5250 * F, [])],
        {0: 1750 * F, 1: 0, 2: 500 * F, 3: 1500 * F}, 5250 * F, [0, 1, 2, 3]),
    # The same, continuing at price 0: 1 and 2 go; round 2 (cached) 0 +3, 3 -4: price 0, 3
    # goes; round 3: 0 +3 at price 0.  Same money, a different product.
    "issue, rounds run out: continue": (
        ISSUE, E, 5 * E, MarketRules(after_rounds="continue"), None,
        [({0: 3, 1: -4, 2: -2, 3: 2}, 1, 250 * F, 5250 * F, [1, 2]),
         ({0: 3, 3: -4}, 3, 0, 5250 * F, [3]),
         ({0: 3}, None, 0, 5250 * F, [])],
        {0: 1750 * F, 1: 0, 2: 500 * F, 3: 1500 * F}, 5250 * F, [0]),
    # Per contribution: 0 +3, 1 -2 (alice's harmful one), 2 +2 (bob).  Caps rounds 5E,
    # balance 1E // 2 = 500F: price 500F; rounds left 90E; 0 -> 2500F, 1 -> 0, 2 -> 2000F;
    # left 100E - 2500F + 1000F = 98_500F; 1 removed on its own.  Round 2 (cached): 0 +3,
    # 2 scores its cached 9 against 0's 9: 0.  Price 90E // 20 = 4500F; 0 -> 16_000F; left
    # 98_500F - 13_500F = 85_000F.  alice collects 16E + 0, bob 2E.
    "mixed, per contribution": (
        MIXED, E, 100 * E, DEFAULT, None,
        [({0: 3, 1: -2, 2: 2}, 1, 500 * F, 98_500 * F, [1]),
         ({0: 3, 2: 0}, None, 4500 * F, 85_000 * F, [])],
        {0: 16_000 * F, 1: 0, 2: 2000 * F}, 85_000 * F, [0, 2]),
    # Per contributor: alice's run (6 -> 9 -> 7) nets +1, bob +2; nobody negative: price
    # 100E // 20 = 5E; alice 2E + 5E = 7E, bob 1E + 10E = 11E; left 100E - 15E = 85E.
    "mixed, per contributor": (
        MIXED, E, 100 * E, MarketRules(scoring="per_contributor"), None,
        [({"alice": 1, "bob": 2}, None, 5 * E, 85 * E, [])],
        {"alice": 7 * E, "bob": 11 * E}, 85 * E, [0, 1, 2]),
    # Round 1 as per contribution; round 2 retrains: 0 +3, 2 +2: price 4500F; 0 -> 16E, 2 ->
    # 2E + 9E = 11E; left 98_500F - 22_500F = 76_000F.
    "mixed, per contribution, fresh": (
        MIXED, E, 100 * E, MarketRules(replay="fresh"), None,
        [({0: 3, 1: -2, 2: 2}, 1, 500 * F, 98_500 * F, [1]),
         ({0: 3, 2: 2}, None, 4500 * F, 76_000 * F, [])],
        {0: 16_000 * F, 1: 0, 2: 11_000 * F}, 76_000 * F, [0, 2]),
    # alice +3 (6 -> 9), mallory breaks all (-9), bob fixes all (+20); stakes 1000, bounty
    # 1001.  Caps rounds 1001 // 20 = 50, balance 1000 // 9 = 111, solvency 71 (23p <= 1001 +
    # 9p: 14 * 71 = 994 <= 1001 < 14 * 72): price 50 (a cap of the bounty alone, 1001 // 23
    # = 43, would have paid bob 860, not 1000).  alice +150, bob +1000, mallory -450; left
    # 1001 - 1150 + 450 = 301; rounds left 1 < 20: stop.
    "gainers' cap counts the round's losses": (
        [("alice", 1), ("mallory", BREAK_ALL), ("bob", FIX_ALL)], 1000, 1001, DEFAULT,
        ALL_EFFECTS,
        [({0: 3, 1: -9, 2: 20}, 1, 50, 301, [])],
        {0: 1150, 1: 550, 2: 2000}, 301, [0, 1, 2]),
}

#: Case C: a non-worst negative scorer keeps a balance at or above its stake and stays.
#: alice +3 (6 -> 9), mallory -6 (-> 3), carol +4 (-> 7), eve -5 (-> 2), bob +1 (-> 3).
STAYS = {1: {0: 0, 1: 0, 2: 0}, 20: {j: 1 for j in range(10, 16)}, 21: {3: 0, 4: 0, 5: 0, 6: 0},
         22: {0: 1, 1: 1, 2: 1, 3: 1, 4: 1}, 23: {7: 0}}
# Stakes 1200, bounty 100_000.  Round 1: caps rounds 5000, balance 1200 // 6 = 200: price
# 200; rounds left 96_000; 0 -> 1800, 1 -> 0, 2 -> 2000, 3 -> 200, 4 -> 1400; left 100_000 -
# 1600 + 2200 = 100_600; 1 and 3 go (3 keeps 200).  Round 2 (cached): 0 +3, carol 7 - 9 = -2,
# bob 3 - 7 = -4: worst bob; caps rounds 4800, balance 1400 // 4 = 350: price 350; rounds
# left 89_000; 0 -> 2850, carol 2000 - 700 = 1300 (negative but not the worst, and still at
# least her 1200 stake: she stays), bob -> 0; left 100_600 - 1050 + 2100 = 101_650.  Round 3:
# 0 +3, carol -2: caps rounds 4450, balance 1300 // 2 = 650: price 650; rounds left 76_000;
# 0 -> 4800, carol -> 0; left 101_650 - 1950 + 1300 = 101_000.  Round 4: 0 +3 at 76_000 // 20
# = 3800: 0 -> 16_200; left 89_600.
CASES["a non-worst negative scorer stays"] = (
    [("alice", 1), ("mallory", 20), ("carol", 21), ("eve", 22), ("bob", 23)], 1200, 100_000,
    DEFAULT, STAYS,
    [({0: 3, 1: -6, 2: 4, 3: -5, 4: 1}, 1, 200, 100_600, [1, 3]),
     ({0: 3, 2: -2, 4: -4}, 4, 350, 101_650, [4]),
     ({0: 3, 2: -2}, 2, 650, 101_000, [2]),
     ({0: 3}, None, 3800, 89_600, [])],
    {0: 16_200, 1: 0, 2: 0, 3: 200, 4: 0}, 89_600, [0])

#: Ties: dave (nothing, then -2) and eve (-2) end level; eve got there first.  alice +4.
TIE = {99: {}, 98: {}, 5: {14: 1, 15: 1}, 8: {10: 1, 11: 1}, 7: {16: 0, 17: 0, 18: 0, 19: 0}}
TIE_ITEMS = [("dave", 99), ("eve", 5), ("dave", 8), ("alice", 7)]
# Per contributor, fresh, stakes 1000 a contribution (dave 2000), bounty 100_000.  The replay
# scores dave 0 (worst so far), eve -2 (the new worst), dave -2 (not below -2: eve stays the
# worst), alice +4.  First reached: eve; caps rounds 5000, balance 1000 // 2 = 500: price
# 500; rounds left 90_000; alice +2000, eve -1000, dave -1000 (1000 left, below his 2000);
# left 100_000.  Both go.  Round 2: alice alone (6 -> 10) +4 at 90_000 // 20 = 4500: +18_000;
# left 82_000.
CASES["tie reached at different times: first reached"] = (
    TIE_ITEMS, 1000, 100_000, GROUPED_FRESH, TIE,
    [({"dave": -2, "eve": -2, "alice": 4}, "eve", 500, 100_000, ["dave", "eve"]),
     ({"alice": 4}, None, 4500, 82_000, [])],
    {"dave": 1000, "eve": 0, "alice": 21_000}, 82_000, [3])
# First listed: dave; balance 2000 // 2 = 1000: price 1000; rounds left 80_000; alice +4000,
# dave -2000, eve loses her whole 1000 (not 2000); left 100_000 - 4000 + 3000 = 99_000.  Round
# 2: alice +4 at 4000: +16_000; left 83_000.
CASES["tie reached at different times: first listed"] = (
    TIE_ITEMS, 1000, 100_000, MarketRules(scoring="per_contributor", replay="fresh",
                                          tie_break="first_listed"), TIE,
    [({"dave": -2, "eve": -2, "alice": 4}, "dave", 1000, 99_000, ["dave", "eve"]),
     ({"alice": 4}, None, 4000, 83_000, [])],
    {"dave": 0, "eve": 0, "alice": 21_000}, 83_000, [3])
# As the original tracks it: bob 0 (worst), alice -2 (worst), bob -2 (not below), alice again
# at -2 (the worst scored again without dropping: the lowest so far, first in order of
# appearance, takes its place: bob), carol +4.  Per contributor, cached, stakes 1000 (bob and
# alice 2000 each), bounty 100_000.  Caps rounds 5000, balance 2000 // 2 = 1000: price 1000;
# bob and alice lose 2000 each, carol +4000; left 100_000; rounds left 80_000.  Round 2
# (cached): carol's 6 against the initial 6: 0; price 4000, nothing to pay.
CASES["worst scored again without dropping"] = (
    [("bob", 99), ("alice", 5), ("bob", 8), ("alice", 98), ("carol", 7)], 1000, 100_000,
    MarketRules(scoring="per_contributor"), TIE,
    [({"bob": -2, "alice": -2, "carol": 4}, "bob", 1000, 100_000, ["bob", "alice"]),
     ({"carol": 0}, None, 4000, 100_000, [])],
    {"bob": 0, "alice": 0, "carol": 5000}, 100_000, [4])

#: Solvency binding: losses a balance cannot cover are not collected.  The initial model gets
#: every sample wrong; alice fixes 0..9 (+10), eve breaks them (-10), bob fixes all (+20),
#: mallory breaks 0..5 then 6..11 (one run, -12), carol fixes 0..11 (+12).
UNCOVERED = {30: {j: 0 for j in range(10)}, 31: {j: 1 for j in range(10)},
             32: {j: 0 for j in range(M)}, 33: {j: 1 for j in range(6)},
             34: {j: 1 for j in range(6, 12)}, 35: {j: 0 for j in range(12)}}
# Per contributor, stakes 1000 a contribution (mallory 2000), bounty 3340.  Round 1: worst
# mallory -12; caps rounds 3340 // 20 = 167, balance 2000 // 12 = 166, solvency: gains 42p,
# collected 12p + min(10p, 1000) (eve holds 1000): 42 * 144 = 6048 <= 3340 + 1728 + 1000 =
# 6068, 42 * 145 = 6090 > 3340 + 1740 + 1000 = 6080: price 144.  alice +1440, eve -1000 (of
# 1440), bob +2880, mallory -1728 (272 left), carol +1728; left 3340 - 6048 + 2728 = 20;
# rounds left 460.  eve and mallory go.  Round 2 (cached): alice +10, bob 20 - 10 = +10,
# carol 0; caps rounds 23, solvency 20p <= 20: price 1; left 0.
CASES["solvency binds on losses a balance cannot cover"] = (
    [("alice", 30), ("eve", 31), ("bob", 32), ("mallory", 33), ("mallory", 34),
     ("carol", 35)], 1000, 3340, MarketRules(scoring="per_contributor"), UNCOVERED,
    [({"alice": 10, "eve": -10, "bob": 20, "mallory": -12, "carol": 12}, "mallory", 144, 20,
      ["eve", "mallory"]),
     ({"alice": 10, "bob": 10, "carol": 0}, None, 1, 0, [])],
    {"alice": 2450, "eve": 0, "bob": 3890, "mallory": 272, "carol": 2728}, 0, [0, 2, 5])


class TestRewardArithmetic:
    def test_the_stub_scores(self) -> None:
        m = EffectModel()
        assert int(np.sum(m.predict_many(X_EVAL) == Y_EVAL)) == 6
        for k, gain in [(1, 3), (2, -4), (3, 2), (4, 1), (5, -2)]:
            before = int(np.sum(m.predict_many(X_EVAL) == Y_EVAL))
            m.update(key(k), 0)
            assert int(np.sum(m.predict_many(X_EVAL) == Y_EVAL)) - before == gain

    @pytest.mark.parametrize("case", list(CASES))
    def test_hand_worked(self, case: str) -> None:
        items, stake, bounty, rules, effects, want_rounds, balances, left, kept = CASES[case]
        initial = np.ones(M, np.int64) if effects is UNCOVERED else INITIAL
        model = EffectModel(effects, initial) if effects is not None else EffectModel()
        res = market(items, stake, bounty, rules, model)
        assert rounds(res) == want_rounds
        assert res.balances == balances
        assert res.bounty_left == left
        assert res.removed == [u for r in want_rounds for u in r[4]]
        assert res.kept == kept
        # the market's product: the initial model trained on what survived, in order
        assert res.model is not None and res.model.trained == [items[i][1] for i in kept]

    def test_the_paper_setting_is_the_default(self) -> None:
        cfg = PredictionMarketConfig(kind="prediction_market")
        assert cfg.rules() == MarketRules() == MarketRules(
            "per_contribution", "below_stake", "stop", "cached", "first_reached")

    def test_everyone_removed_leaves_the_initial_model(self) -> None:
        """mallory alone, -4: caps rounds 100_000 // 20 = 5000, balance 1000 // 4 = 250: price
        250; she loses her 1000; left 101_000; removed, nothing survives: the product is the
        initial model."""
        res = market([("mallory", 2)], 1000, 100_000, DEFAULT)
        assert rounds(res) == [({0: -4}, 0, 250, 101_000, [0])]
        assert res.kept == [] and res.model is not None and res.model.trained == []
        assert list(res.model.pred) == list(INITIAL)

    def test_evaluations(self) -> None:
        """Cached: the initial model and once after each contribution, whatever the rounds
        (issue, default: 1 + 4).  Fresh per contributor: at each run's end, every round
        (MIXED: runs [a a][b] -> 1 + 2, one round)."""
        m = EffectModel()
        market(ISSUE, E, 100 * E, DEFAULT, m)
        assert m.evaluations[0] == 5
        m = EffectModel()
        market(MIXED, E, 100 * E, GROUPED_FRESH, m)
        assert m.evaluations[0] == 3


# -- 2. the market through the chain ------------------------------------------------------------

STAKE = 1000
BOUNTY = 1001
PARTICIPATION = 100
WAIT = 500
GP = 3
FUNDS = 10**12
PM_GAS = 2_000_000


#: The rules the market had before it followed the original's: per contributor, retraining
#: every round, removing the worst only and going on at price 0 when the rounds run out.
WORST_FRESH = MarketRules(scoring="per_contributor", removal="worst", after_rounds="continue",
                          replay="fresh")


class ReviewGate:
    """Sends the contributions whose key is in ``keys`` to review (the review queue's role on
    the acceptance path); the test resolves them with ``CollaborativeTrainer.resolve_review``."""

    def __init__(self, keys: set[int]) -> None:
        self.keys = keys
        self.log = GateLog()
        self.pending: list[int] = []

    def check(self, ctx: Any, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        return (Verdict.REVIEW if int(x[0]) in self.keys else Verdict.ACCEPT), ""

    def on_accepted(self, ctx: Any, rec: Any, verdict: Verdict) -> None:
        pass

    def enqueue(self, rec: Any) -> None:
        self.pending.append(rec.id)


class PMWorld:
    """Chain + prediction-market trainer, 1-second blocks; a call sent half a second before
    the block stamped ``at`` executes with ``now == at``."""

    def __init__(self, pieces: int = 2, rules: MarketRules = WORST_FRESH,
                 review: set[int] | None = None) -> None:
        self.env = simpy.Environment()
        self.chain = Chain(self.env, block_time_s=1, gas_price_wei=GP)
        self.ledger = self.chain.ledger
        for a in (PROVIDER, "alice", "bob", "mallory", "dave", OWNER):
            self.ledger.open(a, FUNDS)
        self.model = EffectModel()
        self.im = PredictionMarket(provider=PROVIDER, min_stake=STAKE,
                                   participation_s=PARTICIPATION, any_address_claim_wait_s=WAIT,
                                   rules=rules)
        self.trainer = CollaborativeTrainer(TRAINER, self.ledger, self.model, self.im, OWNER)
        self.gate = ReviewGate(review or set())
        self.trainer.gates.append(self.gate)
        self.trainer.reviewer = self.gate
        self.chain.deploy(self.trainer)
        self.supply = self.ledger.supply
        self.pieces = [eval_piece(k) for k in range(pieces)]
        self.salt = b"provider salt"
        self.hashes = [piece_hash(x, y, self.salt) for x, y in self.pieces]
        self.paid_out = 0
        self.fees: dict[str, int] = {}

    def call(self, at: int, sender: str, method: str, args: tuple[Any, ...],
             value: int = 0) -> Receipt:
        assert at - 0.5 >= self.env.now and not self.chain.pending
        if at - 0.5 > self.env.now:
            self.env.run(until=at - 0.5)
        tx = self.chain.submit(Tx(sender, TRAINER, method, args, value, PM_GAS, GP))
        self.env.run(until=at + 0.5)
        r = tx.receipt
        assert r is not None and r.timestamp == at and r.fee == r.gas_used * GP
        self.fees[sender] = self.fees.get(sender, 0) + r.fee
        if r.ok and method in ("refund", "report", "collect_bounty"):
            self.paid_out += r.result
        self.check_funds()
        return r

    def bal(self, who: str) -> int:
        return self.ledger.balances[who]

    def check_funds(self) -> None:
        bal = self.ledger.balances
        assert all(type(v) is int and v >= 0 for v in bal.values())
        assert sum(bal.values()) == self.supply
        contract = bal[TRAINER]
        recs = self.trainer.data.records
        assert contract == self.trainer.data.total_claimable() + self.im.held()
        forfeited = sum(r.forfeited for r in recs)
        # every wei in is paid out (claims, the bounty's rest, review forfeits) or still held
        assert self.im.bounty + sum(r.initial_deposit for r in recs) == \
            self.paid_out + forfeited + contract
        if self.im.phase != "settled":  # the market holds the stakes review did not forfeit
            assert sum(self.im.stakes.values()) == sum(r.initial_deposit for r in recs) - \
                forfeited

    def resolve(self, cid: int, approved: bool) -> None:
        """A reviewer's verdict on ``cid``, given between blocks (outside any transaction)."""
        self.gate.pending.remove(cid)
        self.trainer.resolve_review(cid, approved, OWNER, self.chain.transfer_outside_tx)
        self.check_funds()

    def state(self) -> tuple[Any, ...]:
        recs = tuple((r.id, r.author, r.claimable, r.pooled, frozenset(r.claimed_by))
                     for r in self.trainer.data.records)
        return (dict(self.ledger.balances), recs, copy.deepcopy(self.im.summary()),
                dict(self.im.balances), tuple(self.trainer.model.trained),
                tuple(self.trainer.model.pred))

    def reverted_with_fee_only(self, at: int, sender: str, method: str, args: tuple[Any, ...],
                               reason: str, value: int = 0) -> Receipt:
        before = self.state()
        r = self.call(at, sender, method, args, value)
        assert r.status == REVERTED and r.reason == reason, r
        after = self.state()
        expected = dict(before[0])
        expected[sender] -= r.fee
        expected[FEE_SINK] += r.fee
        assert after[0] == expected
        assert after[1:] == before[1:]
        return r


def test_prediction_market_through_the_chain() -> None:
    w = PMWorld()
    start = 5
    # nothing is accepted before the market starts, and only the provider starts it
    w.reverted_with_fee_only(1, "alice", "add_data", (key(1), 0), NOT_OPEN, STAKE)
    w.reverted_with_fee_only(2, "dave", "start_market", (w.hashes,), NOT_PROVIDER, BOUNTY)
    w.reverted_with_fee_only(3, PROVIDER, "collect_bounty", (), WRONG_PHASE)
    r = w.call(start, PROVIDER, "start_market", (w.hashes,), BOUNTY)
    assert r.ok and r.result == w.im.revealed_index in (0, 1)
    assert w.bal(TRAINER) == BOUNTY and w.im.held() == BOUNTY and w.im.hashes == w.hashes
    w.reverted_with_fee_only(6, PROVIDER, "start_market", (w.hashes,), WRONG_PHASE, BOUNTY)
    # stakes: underpaying reverts; excess comes back; the model is not trained meanwhile
    w.reverted_with_fee_only(7, "alice", "add_data", (key(1), 0), UNDERSTAKED, STAKE - 1)
    cids = {}
    for at, who, k, value in [(8, "alice", 1, STAKE), (9, "mallory", 2, STAKE + 500),
                              (10, "bob", 3, STAKE), (11, "alice", 4, STAKE)]:
        before = w.bal(who)
        r = w.call(at, who, "add_data", (key(k), 0), value)
        assert r.ok, r
        assert w.bal(who) == before - STAKE - r.fee
        cids[k] = r.result
    assert w.im.stakes == {"alice": 2000, "mallory": 1000, "bob": 1000}
    assert w.bal(TRAINER) == BOUNTY + 4 * STAKE
    assert w.trainer.model.trained == []
    # nothing can be collected during participation
    w.reverted_with_fee_only(12, "alice", "refund", (cids[1],), WRONG_PHASE)
    w.reverted_with_fee_only(13, "dave", "report", (cids[2],), WRONG_PHASE)
    assert w.chain.view(TRAINER, "try", "refund", cids[1], "alice") is None
    # participation ends at start + 100: ending earlier is too early, adding then is too late
    end = start + PARTICIPATION
    w.reverted_with_fee_only(end - 1, PROVIDER, "end_market", (w.pieces, w.salt), TOO_EARLY)
    w.reverted_with_fee_only(end, "dave", "add_data", (key(6), 0), NOT_OPEN, STAKE)
    # a wrong reveal (one label flipped; a wrong salt; a piece missing) is rejected
    x1, y1 = w.pieces[1]
    tampered = [w.pieces[0], (x1, 1 - y1)]
    w.reverted_with_fee_only(end + 1, PROVIDER, "end_market", (tampered, w.salt), BAD_REVEAL)
    w.reverted_with_fee_only(end + 2, PROVIDER, "end_market", (w.pieces, b"other"), BAD_REVEAL)
    w.reverted_with_fee_only(end + 3, PROVIDER, "end_market", (w.pieces[:1], w.salt),
                             BAD_REVEAL)
    w.reverted_with_fee_only(end + 4, "dave", "end_market", (w.pieces, w.salt), NOT_PROVIDER)
    # the right reveal settles as worked out by hand (one piece hidden = the M samples once,
    # n_eval = 20; per contributor, retraining, worst only, going on at price 0): round 1
    # scores alice 3 + 1, mallory -4, bob +2 at the rounds' price 1001 // 20 = 50 (balance
    # 1000 // 4 = 250, solvency 6p <= 1001 + 4p: 500): alice +200, bob +100, mallory -200,
    # left 1001 - 300 + 200 = 901, rounds left 1; round 2 at 1 // 20 = 0 removes mallory
    settle_at = end + 5
    r = w.call(settle_at, PROVIDER, "end_market", (w.pieces, w.salt))
    assert r.ok and r.result == 2  # rounds
    assert w.im.balances == {"alice": 2200, "mallory": 800, "bob": 1100}
    assert w.im.bounty_left == 901
    assert w.trainer.data.total_claimable() == 0
    assert sum(rec.pooled for rec in w.trainer.data.records) == 4 * STAKE
    assert w.trainer.model.trained == [1, 3, 4]  # the product: mallory's data left out
    w.reverted_with_fee_only(settle_at + 1, PROVIDER, "end_market", (w.pieces, w.salt),
                             WRONG_PHASE)
    w.reverted_with_fee_only(settle_at + 2, "dave", "add_data", (key(6), 0), NOT_OPEN, STAKE)
    # contributors collect exactly their balances (any of their contributions names them)
    assert w.chain.view(TRAINER, "try", "refund", cids[4], "alice") == 2200
    for at, who, cid, amount in [(settle_at + 3, "alice", cids[4], 2200),
                                 (settle_at + 4, "mallory", cids[2], 800)]:
        before = w.bal(who)
        r = w.call(at, who, "refund", (cid,))
        assert r.ok and r.result == amount
        assert w.bal(who) == before + amount - r.fee
    w.reverted_with_fee_only(settle_at + 5, "alice", "refund", (cids[1],), NOTHING)
    w.reverted_with_fee_only(settle_at + 6, "alice", "refund", (cids[4],), NOTHING)
    w.reverted_with_fee_only(settle_at + 7, "alice", "refund", (cids[3],), NOT_YOURS)
    # bob does not collect: anyone may take his balance, but only after the wait
    w.reverted_with_fee_only(settle_at + 8, "dave", "report", (cids[3],), NOT_YOURS)
    w.reverted_with_fee_only(settle_at + WAIT - 1, "dave", "report", (cids[3],), NOT_YOURS)
    assert w.chain.view(TRAINER, "try", "report", cids[3], "dave",
                        int(settle_at + WAIT)) == 1100
    before = w.bal("dave")
    r = w.call(settle_at + WAIT, "dave", "report", (cids[3],))
    assert r.ok and r.result == 1100 and w.bal("dave") == before + 1100 - r.fee
    w.reverted_with_fee_only(settle_at + WAIT + 1, "bob", "refund", (cids[3],), NOTHING)
    w.reverted_with_fee_only(settle_at + WAIT + 2, "dave", "report", (cids[2],), NOTHING)
    # the provider collects what is left of the bounty, once
    w.reverted_with_fee_only(settle_at + WAIT + 3, "dave", "collect_bounty", (), NOT_PROVIDER)
    before = w.bal(PROVIDER)
    r = w.call(settle_at + WAIT + 4, PROVIDER, "collect_bounty", ())
    assert r.ok and r.result == 901 and w.bal(PROVIDER) == before + 901 - r.fee
    w.reverted_with_fee_only(settle_at + WAIT + 5, PROVIDER, "collect_bounty", (), NOTHING)
    # everything paid out: bounty + stakes == 2200 + 800 + 1100 + 901
    assert w.bal(TRAINER) == 0 and w.im.held() == 0
    assert w.paid_out == BOUNTY + 4 * STAKE == 2200 + 800 + 1100 + 901
    # every address ends at its start, minus its fees, minus what it put in, plus what it got
    got = {PROVIDER: 901 - BOUNTY, "alice": 2200 - 2 * STAKE, "mallory": 800 - STAKE,
           "bob": -STAKE, "dave": 1100}
    for who, delta in got.items():
        assert w.bal(who) == FUNDS + delta - w.fees[who], who
    assert w.bal(FEE_SINK) == sum(w.fees.values())


def test_per_contribution_market_with_review_forfeits_paid_once() -> None:
    """The default (per contribution) market through the chain, with contributions under
    review: a deposit forfeited during participation leaves the market (it used to stay in
    the stakes and be paid out a second time), an approval does not train the frozen model,
    and a contribution still under review at the end takes part.  Stakes 1000, bounty 1001,
    n_eval 20.

    Records: 0 alice [1] +3; 1 mallory [2] (review, rejected during participation: her 1000
    goes to the owner); 2 bob [3] (review, approved during participation: no training); 3
    alice [4] +1; 4 dave [5] (review, still pending at the end).  Replay (cached) of 0, 2, 3,
    4: 6 -> 9 -> 11 -> 12 -> 10: +3, +2, +1, -2.  Worst 4; caps rounds 1001 // 20 = 50,
    balance 1000 // 2 = 500, solvency 6p <= 1001 + 2p: 250; price 50; rounds left 1: stop.
    0 -> 1150, 2 -> 1100, 3 -> 1050, 4 -> 900; left 1001 - 300 + 100 = 801.  By address:
    alice 2200, bob 1100, dave 900.  dave's record, rejected after the market, holds nothing
    (its stake is in his balance): no money moves.  4000 + 1001 == 2200 + 1100 + 900 + 801,
    and the contract ends at 0."""
    w = PMWorld(rules=MarketRules(), review={2, 3, 5})
    start = 5
    assert w.call(start, PROVIDER, "start_market", (w.hashes,), BOUNTY).ok
    for at, who, k in [(8, "alice", 1), (9, "mallory", 2), (10, "bob", 3), (11, "alice", 4),
                       (12, "dave", 5)]:
        r = w.call(at, who, "add_data", (key(k), 0), STAKE)
        assert r.ok, r
    assert w.gate.pending == [1, 2, 4]
    owner_before = w.bal(OWNER)
    w.resolve(1, approved=False)
    assert w.bal(OWNER) == owner_before + STAKE
    assert w.im.stakes == {"alice": 2000, "mallory": 0, "bob": 1000, "dave": 1000}
    w.resolve(2, approved=True)
    assert w.trainer.model.trained == []  # the market's model stays frozen
    end = start + PARTICIPATION
    r = w.call(end, PROVIDER, "end_market", (w.pieces, w.salt))
    assert r.ok and r.result == 1
    res = w.im.result
    assert res is not None and res.balances == {0: 1150, 1: 1100, 2: 1050, 3: 900}
    assert w.im.entered == [0, 2, 3, 4]
    recs = w.trainer.data.records
    assert [rec.claimable for rec in recs] == [0, 0, 0, 0, 0]
    assert [rec.pooled for rec in recs] == [1000, 0, 1000, 1000, 1000]
    assert w.im.balances == {"alice": 2200, "bob": 1100, "dave": 900}
    assert w.im.bounty_left == 801 and w.im.held() == 5001
    assert w.trainer.model.trained == [1, 3, 4, 5]
    # dave's record cannot be collected while under review; rejected, it forfeits nothing
    w.reverted_with_fee_only(end + 1, "dave", "refund", (4,), UNDER_REVIEW)
    w.resolve(4, approved=False)
    assert w.bal(OWNER) == owner_before + STAKE and recs[4].forfeited == 0
    # each address collects its balance once, through any of its contributions
    for at, who, cid, amount in [(end + 2, "alice", 3, 2200), (end + 3, "bob", 2, 1100),
                                 (end + 4, "dave", 4, 900)]:
        before = w.bal(who)
        r = w.call(at, who, "refund", (cid,))
        assert r.ok and r.result == amount and w.bal(who) == before + amount - r.fee
    w.reverted_with_fee_only(end + 5, "alice", "refund", (0,), NOTHING)
    w.reverted_with_fee_only(end + 6, "mallory", "refund", (1,), NOTHING)
    r = w.call(end + WAIT + 1, PROVIDER, "collect_bounty", ())
    assert r.ok and r.result == 801
    assert w.bal(TRAINER) == 0 and w.paid_out == 2200 + 1100 + 900 + 801


# -- 3. fund invariants for points and the prediction market --------------------------------------

SM_BLOCK = 12
SM_AGENTS = ("alice", "bob", "carol")
SM_FUNDS = 10**12
SM_GAS = 1_000_000
SM_T_R, SM_T_A = 60, 360
SM_STAKE = 10**6
SM_PARTICIPATION = 480
SM_WAIT = 360
SM_M = 6
SM_ADVANCES = st.sampled_from([1, 11, 12, 13, 48, 59, 60, 61, 120, 239, 240, 241, 300, 359, 360,
                               361, 720])
SM_SETTINGS: dict[str, Any] = dict(stateful_step_count=35, deadline=None,
                                   suppress_health_check=[HealthCheck.too_slow])


class MechanismMachine(ReceiptLog[tuple[Any, ...]], RuleBasedStateMachine):
    """Chain + trainer under random use; every receipt is logged with the state just before and
    just after it.  Subclasses choose the mechanism and check the receipts against its rules."""

    senders: tuple[str, ...] = (*SM_AGENTS, OWNER)

    def make(self) -> tuple[Model, Any]:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.env = simpy.Environment()
        self.chain = Chain(self.env, block_time_s=SM_BLOCK, gas_price_wei=1)
        self.ledger = self.chain.ledger
        for a in self.senders:
            self.ledger.open(a, SM_FUNDS)
        self.model, self.im = self.make()
        self.trainer = CollaborativeTrainer(TRAINER, self.ledger, self.model, self.im, OWNER)
        self.chain.deploy(self.trainer)
        self.supply = self.ledger.supply
        self.gas_price = 1
        self.log: list[Logged[tuple[Any, ...]]] = []
        self.checked = 0
        #: (sender, label, block time, sample bytes) -> the latest record stored under it (a
        #: second add with the same key reverts while that record holds a claimable amount,
        #: and rewrites it otherwise).
        self.keys: dict[tuple[str, int, int, bytes], int] = {}
        #: A rewritten record's id -> the id of the record that rewrote it (what a claim
        #: naming the old id acts on), and the addresses that claimed from each record (a
        #: rewrite keeps them).
        self.live: dict[int, int] = {}
        self.claimers: dict[int, set[str]] = {}
        self.snap = self.snapshot()
        self.chain.block_hooks.append(self._on_block)

    # -- observation ------------------------------------------------------------------------
    def snapshot(self) -> tuple[Any, ...]:
        recs = tuple((r.id, r.author, r.y, r.added_time, r.initial_deposit, r.claimable,
                      r.pooled, frozenset(r.claimed_by), r.status)
                     for r in self.trainer.data.records)
        return (dict(self.ledger.balances), recs, copy.deepcopy(self.im.summary()),
                copy.deepcopy(getattr(self.im, "balances", None)))

    def submit(self, sender: str, method: str, args: tuple[Any, ...], value: int = 0,
               mine: bool = True) -> None:
        self.snap = self.snapshot()
        self.chain.submit(Tx(sender, TRAINER, method, args, value, SM_GAS, self.gas_price,
                             on_receipt=self._on_receipt))
        if mine:
            self.mine()

    def mine(self) -> None:
        while self.chain.pending:
            self.env.run(until=(math.floor(self.env.now / SM_BLOCK) + 1) * SM_BLOCK + 0.5)

    def run_to_slot(self, t: float) -> None:
        """Run the clock so that the next transaction sent executes in the block stamped ``t``
        (or the next one, when that slot has passed)."""
        self.mine()
        target = t - SM_BLOCK / 2
        if target > self.env.now:
            self.env.run(until=target)

    def n(self) -> int:
        return len(self.trainer.data.records)

    def has_contributions(self) -> bool:
        return self.n() > 0

    def pick(self, cid: int, sender: str, as_author: bool) -> tuple[int, str]:
        cid %= self.n()
        return cid, (self.trainer.data.records[cid].author if as_author else sender)

    # -- common rules -------------------------------------------------------------------------
    @rule(dt=SM_ADVANCES)
    def advance(self, dt: int) -> None:
        target = self.env.now + dt
        if target % SM_BLOCK == 0:
            target += 0.5
        self.env.run(until=target)

    @rule(price=st.sampled_from([0, 1, 7, 1000]))
    def set_gas_price(self, price: int) -> None:
        self.gas_price = price

    @precondition(has_contributions)
    @rule(sender=st.sampled_from((*SM_AGENTS, OWNER)), cid=st.integers(0, 40),
          as_author=st.booleans(), mine=st.booleans())
    def refund(self, sender: str, cid: int, as_author: bool, mine: bool) -> None:
        cid, sender = self.pick(cid, sender, as_author)
        self.submit(sender, "refund", (cid,), mine=mine)

    @precondition(has_contributions)
    @rule(sender=st.sampled_from((*SM_AGENTS, OWNER)), cid=st.integers(0, 40),
          as_author=st.sampled_from([True, False, False]), mine=st.booleans())
    def report(self, sender: str, cid: int, as_author: bool, mine: bool) -> None:
        cid, sender = self.pick(cid, sender, as_author)
        self.submit(sender, "report", (cid,), mine=mine)

    def teardown(self) -> None:
        self.mine()
        self.funds()
        self.receipts_follow_the_rules()

    # -- invariants ---------------------------------------------------------------------------
    @invariant()
    def funds(self) -> None:
        bal = self.ledger.balances
        assert all(type(v) is int and v >= 0 for v in bal.values()), bal
        assert sum(bal.values()) == self.supply == self.ledger.supply
        assert bal[TRAINER] == self.trainer.data.total_claimable() + self.im.held()
        for r in self.trainer.data.records:
            assert type(r.claimable) is int and r.claimable >= 0

    @invariant()
    def receipts_follow_the_rules(self) -> None:
        while self.checked < len(self.log):
            ev = self.log[self.checked]
            r = ev.receipt
            assert r.fee == r.gas_used * ev.tx.gas_price
            if r.status == REVERTED:
                self.assert_only_fee(ev, 0)
                assert ev.after[1:] == ev.before[1:], r
            if ev.tx.method == "add_data" and r.status != REJECTED:
                key = (ev.tx.sender, int(ev.tx.args[1]), r.timestamp,
                       np.asarray(ev.tx.args[0], dtype=np.int64).tobytes())
                held = self.keys.get(key)
                if r.reason == CONFLICT:
                    assert held is not None and ev.before[1][held][5] > 0
                    self.checked += 1
                    continue
                if r.ok:
                    # (a record with nothing left is rewritten, its claimers kept)
                    if held is not None:
                        old, new = ev.before[1][held], ev.after[1][r.result]
                        assert old[5] == 0 and new[7] == old[7]
                        for k, v in self.live.items():
                            if v == held:
                                self.live[k] = r.result
                        self.live[held] = r.result
                        self.claimers[r.result] = set(self.claimers.get(held, ()))
                    self.keys[key] = r.result
            self.check(ev)
            self.checked += 1

    def assert_only_fee(self, ev: Logged[tuple[Any, ...]], to_sender: int) -> None:
        """The sender got ``to_sender`` (from the contract) and paid its fee; nothing else moved."""
        before, after = ev.before[0], ev.after[0]
        moved = {a: after[a] - before[a] for a in after if after[a] != before[a]}
        expected = {ev.tx.sender: to_sender - ev.receipt.fee, TRAINER: -to_sender,
                    FEE_SINK: ev.receipt.fee}
        assert moved == {a: v for a, v in expected.items() if v}, (ev.tx.method, moved)

    def check(self, ev: Logged[tuple[Any, ...]]) -> None:
        raise NotImplementedError


class PointsMachine(MechanismMachine):
    GOOD, BAD = 2, 3

    def make(self) -> tuple[Model, Any]:
        self.judged: dict[int, tuple[str, float]] = {}
        self.points: dict[str, int] = {}
        return FlipModel(), Points(refund_wait_s=SM_T_R, any_address_claim_wait_s=SM_T_A,
                                   points_good=self.GOOD, points_bad=self.BAD)

    @rule(sender=st.sampled_from(SM_AGENTS),
          features=st.lists(st.integers(0, 3), max_size=3, unique=True),
          label=st.integers(0, 1), value=st.sampled_from([0, 0, 1, 10**9]), mine=st.booleans())
    def add(self, sender: str, features: list[int], label: int, value: int, mine: bool) -> None:
        self.submit(sender, "add_data", (np.array(sorted(features), dtype=np.int64), label),
                    value, mine)

    @rule(author=st.sampled_from(SM_AGENTS), other=st.sampled_from((*SM_AGENTS, OWNER)),
          features=st.lists(st.integers(0, 3), max_size=3, unique=True), good=st.booleans(),
          age=st.sampled_from([48, 60, 72, 180, 348, 360, 372]), by_author=st.booleans(),
          again=st.booleans())
    def judge(self, author: str, other: str, features: list[int], good: bool, age: int,
              by_author: bool, again: bool) -> None:
        """Add data the model agrees with (or not), then claim it at a chosen age: the author
        refunds or another address reports (and maybe the other one tries too)."""
        self.mine()
        x = np.array(sorted(features), dtype=np.int64)
        y = self.model.predict(x) if good else 1 - self.model.predict(x)
        self.submit(author, "add_data", (x, y))
        cid = self.n() - 1
        self.run_to_slot(self.trainer.data.records[cid].added_time + age)
        claims = [(author, "refund"), (other, "report")]
        if not by_author:
            claims.reverse()
        for sender, method in claims[: 1 + again]:
            self.submit(sender, method, (cid,))

    @rule(v=st.integers(0, 1))
    def change_model(self, v: int) -> None:
        self.model.bit = v  # type: ignore[attr-defined]
        self.snap = self.snapshot()

    @invariant()
    def points_match(self) -> None:
        self.receipts_follow_the_rules()
        assert self.im.points == self.points
        assert self.im.judged == set(self.judged)

    def check(self, ev: Logged[tuple[Any, ...]]) -> None:
        tx, r = ev.tx, ev.receipt
        if tx.method == "add_data":
            # no deposit: any value sent comes straight back
            assert r.ok
            self.assert_only_fee(ev, 0)
            return
        cid = self.live.get(tx.args[0], tx.args[0])
        rec = self.trainer.data.records[cid]
        age = r.timestamp - rec.added_time
        # judged once; judging never closes; a report from t_r or t_a, whichever is first;
        # nobody claims twice from a record (its claimers outlive a rewrite)
        fresh = cid not in self.judged and tx.sender not in self.claimers.get(cid, ())
        if tx.method == "refund":
            allowed = tx.sender == rec.author and fresh and age >= SM_T_R and ev.agrees
        else:
            allowed = tx.sender != rec.author and fresh and min(SM_T_R, SM_T_A) <= age \
                and not ev.agrees
        assert r.ok == bool(allowed), (tx.method, tx.sender, rec.author, age, ev.agrees, r)
        if not r.ok:
            return
        assert r.result == 0
        self.assert_only_fee(ev, 0)  # no money moves, only the fee
        self.judged[cid] = (tx.method, r.timestamp)
        self.claimers.setdefault(cid, set()).add(tx.sender)
        if tx.method == "refund":
            self.points[tx.sender] = self.points.get(tx.sender, 0) + self.GOOD
        else:
            self.points[rec.author] = self.points.get(rec.author, 0) - self.BAD

    @invariant()
    def no_money_moves_but_fees(self) -> None:
        self.receipts_follow_the_rules()
        assert self.ledger.balances[TRAINER] == 0
        fees: dict[str, int] = {}
        for ev in self.log[: self.checked]:
            fees[ev.tx.sender] = fees.get(ev.tx.sender, 0) + ev.receipt.fee
        for a in self.senders:
            assert self.ledger.balances[a] == SM_FUNDS - fees.get(a, 0)


SM_PIECES = [eval_piece(k, SM_M) for k in range(3)]
SM_SALT = b"salt"
SM_HASHES = [piece_hash(x, y, SM_SALT) for x, y in SM_PIECES]
#: Contribution [k] sets sample k % 6 to (k // 6) % 2 and sample (5k + 1) % 6 to k % 2.
SM_EFFECTS = {k: {k % SM_M: (k // SM_M) % 2, (5 * k + 1) % SM_M: k % 2} for k in range(12)}
#: Contributions of these keys go to review.
SM_REVIEW = {1, 2, 5, 7, 10, 11}


class MarketMachine(MechanismMachine):
    """The market under random use, with a review queue: contributions of keys in
    ``SM_REVIEW`` wait for a verdict, given at any time (before, during or after the reward
    phase).  A rejection forfeits what the record holds to the owner; that money must never be
    paid out again (the contract's balance always covers what the records and the market
    owe)."""

    senders = (*SM_AGENTS, OWNER, PROVIDER)
    market_rules = MarketRules()

    def make(self) -> tuple[Model, Any]:
        self.collected: dict[str, int] = {}  # author -> collected from its balance
        self.bounty_collected = 0
        self.paid_out = 0
        self.settled: Any = None
        self.stakes_at_settlement = 0
        model = EffectModel(SM_EFFECTS, np.array([0, 1, 1, 0, 1, 0]), SM_M)
        self.gate = ReviewGate(SM_REVIEW)
        return model, PredictionMarket(provider=PROVIDER, min_stake=SM_STAKE,
                                       participation_s=SM_PARTICIPATION,
                                       any_address_claim_wait_s=SM_WAIT,
                                       rules=self.market_rules)

    @initialize(bounty=st.sampled_from([0, 1, 999_999, 5 * 10**6 + 7]), early=st.booleans())
    def open_market(self, bounty: int, early: bool) -> None:
        self.trainer.gates.append(self.gate)
        self.trainer.reviewer = self.gate
        if early:  # otherwise the start rule may open it later (or never)
            self.submit(PROVIDER, "start_market", (SM_HASHES,), bounty)

    @rule(sender=st.sampled_from([PROVIDER, "alice"]),
          bounty=st.sampled_from([0, 1, 999_999, 5 * 10**6 + 7]))
    def start(self, sender: str, bounty: int) -> None:
        self.submit(sender, "start_market", (SM_HASHES,), bounty)

    def participating(self) -> bool:
        return self.im.phase == "participation"

    def settled_market(self) -> bool:
        return self.im.phase == "settled"

    @precondition(participating)
    @rule(how=st.sampled_from(["right", "right", "label"]), late=st.sampled_from([-12, 0, 0, 12]))
    def finish(self, how: str, late: int) -> None:
        """The provider reveals at the end of participation (give or take a block)."""
        end = math.ceil((self.im.start_time + SM_PARTICIPATION) / SM_BLOCK) * SM_BLOCK
        self.run_to_slot(end + late)
        self.end(PROVIDER, how)

    @precondition(settled_market)
    @rule(late=st.sampled_from([-12, 0, 12]))
    def wait_for_the_claim_window(self, late: int) -> None:
        self.run_to_slot(self.im.reward_end + SM_WAIT + late)

    @rule(adds=st.lists(st.tuples(st.sampled_from(SM_AGENTS), st.integers(0, 11),
                                  st.sampled_from(["exact", "exact", "over", "under"])),
                        min_size=1, max_size=4), mine=st.booleans())
    def add(self, adds: list[tuple[str, int, str]], mine: bool) -> None:
        """One or several stakes sent for the same block."""
        for sender, k, pay in adds:
            value = {"exact": SM_STAKE, "over": SM_STAKE + 12_345, "under": SM_STAKE - 1}[pay]
            self.submit(sender, "add_data", (key(k), k % 2), value, mine=False)
        if mine:
            self.mine()

    @precondition(lambda self: bool(self.gate.pending))
    @rule(pick=st.integers(0, 40), approve=st.sampled_from([False, False, True]))
    def review(self, pick: int, approve: bool) -> None:
        """A reviewer's verdict, between blocks."""
        self.mine()
        cid = self.gate.pending.pop(pick % len(self.gate.pending))
        rec = self.trainer.data.records[cid]
        owner_before, holds = self.ledger.balances[OWNER], rec.claimable
        trained = list(self.model.trained)
        self.trainer.resolve_review(cid, approve, OWNER, self.chain.transfer_outside_tx)
        assert self.model.trained == trained  # never trains the market's frozen model
        if approve:
            assert rec.status == "accepted" and rec.forfeited == 0
        else:
            # the owner gets exactly what the record held, once
            assert rec.status == "rejected" and rec.claimable == 0 and rec.forfeited == holds
            assert self.ledger.balances[OWNER] == owner_before + holds
        self.snap = self.snapshot()
        self.funds()

    @precondition(lambda self: self.im.phase == "settled")
    @rule(cid=st.integers(0, 40), sender=st.sampled_from((*SM_AGENTS, OWNER, PROVIDER)),
          as_author=st.sampled_from([True, True, False]))
    def collect(self, cid: int, sender: str, as_author: bool) -> None:
        """After settlement: a contributor collects its balance (or another address tries)."""
        if self.n():
            cid, sender = self.pick(cid, sender, as_author)
            self.submit(sender, "refund" if sender == self.trainer.data.records[cid].author
                        else "report", (cid,))

    @rule(sender=st.sampled_from([PROVIDER, PROVIDER, "bob"]),
          how=st.sampled_from(["right", "right", "label", "salt", "short"]))
    def end(self, sender: str, how: str) -> None:
        pieces, salt = list(SM_PIECES), SM_SALT
        if how == "label":
            x, y = pieces[0]
            pieces[0] = (x, 1 - y)
        elif how == "salt":
            salt = b"pepper"
        elif how == "short":
            pieces = pieces[:2]
        self.submit(sender, "end_market", (pieces, salt))

    @rule(sender=st.sampled_from([PROVIDER, PROVIDER, "carol"]))
    def collect_bounty(self, sender: str) -> None:
        self.submit(sender, "collect_bounty", ())

    @invariant()
    def money_in_equals_money_out_plus_held(self) -> None:
        self.receipts_follow_the_rules()
        recs = self.trainer.data.records
        deposits = sum(r.initial_deposit for r in recs)
        forfeited = sum(r.forfeited for r in recs)
        # every wei in is paid out once (claims, the bounty's rest, forfeits) or still held
        assert self.im.bounty + deposits == self.paid_out + forfeited + \
            self.ledger.balances[TRAINER]
        if self.settled is None:
            assert sum(self.im.stakes.values()) == deposits - forfeited
        else:
            res = self.settled
            assert sum(res.balances.values()) + res.bounty_left == \
                self.im.bounty + self.stakes_at_settlement
            by_author: dict[str, int] = {}
            for u, b in res.balances.items():
                a = self.trainer.data.records[self.im.entered[u]].author \
                    if isinstance(u, int) else u
                by_author[a] = by_author.get(a, 0) + b
            for a, got in self.collected.items():
                assert got == by_author[a] and self.im.balances[a] == 0
            assert self.bounty_collected in (0, res.bounty_left)

    def check(self, ev: Logged[tuple[Any, ...]]) -> None:
        tx, r = ev.tx, ev.receipt
        phase_before = ev.before[2]["phase"]
        if tx.method == "start_market":
            assert r.ok == (tx.sender == PROVIDER and phase_before == "init"), r
            if r.ok:
                assert self.ledger.balances[TRAINER] >= tx.value
                self.assert_only_fee(ev, -tx.value)
        elif tx.method == "add_data":
            open_ = phase_before == "participation" and \
                r.timestamp < self.im.start_time + SM_PARTICIPATION
            assert r.ok == (open_ and tx.value >= SM_STAKE), r
            if r.ok:
                self.assert_only_fee(ev, -SM_STAKE)  # the excess came back
        elif tx.method == "end_market":
            pieces, salt = tx.args
            right = salt == SM_SALT and len(pieces) == 3 and all(
                np.array_equal(p[1], q[1]) for p, q in zip(pieces, SM_PIECES, strict=True))
            due = r.timestamp >= self.im.start_time + SM_PARTICIPATION
            assert r.ok == (tx.sender == PROVIDER and phase_before == "participation" and due
                            and right), r
            if r.ok:
                self.assert_only_fee(ev, 0)
                assert self.im.result is not None
                self.settled = self.im.result
                # the stakes are what the records still held: forfeited deposits are out
                entered = [rec for rec in ev.before[1] if rec[8] != "rejected"]
                assert self.im.entered == [rec[0] for rec in entered]
                self.stakes_at_settlement = sum(rec[5] for rec in entered)
                assert sum(self.settled.stakes.values()) == self.stakes_at_settlement
                # only contributions that survived trained the product
                removed = set(self.settled.removed)
                kept = [int(self.trainer.data.records[cid].x[0])
                        for i, cid in enumerate(self.im.entered)
                        if (i if self.market_rules.scoring == "per_contribution"
                            else self.trainer.data.records[cid].author) not in removed]
                assert self.trainer.model.trained == kept
        elif tx.method == "collect_bounty":
            left = ev.before[2]["bounty_left_wei"]
            assert r.ok == (tx.sender == PROVIDER and phase_before == "settled" and left > 0), r
            if r.ok:
                assert r.result == left and self.bounty_collected == 0
                self.bounty_collected = r.result
                self.paid_out += r.result
                self.assert_only_fee(ev, r.result)
        else:
            cid = tx.args[0]
            rec = self.trainer.data.records[cid]
            status = ev.before[1][cid][8]
            # the author's balance, through any of its records
            owed = (ev.before[3] or {}).get(rec.author, 0) if phase_before == "settled" else 0
            ready = phase_before == "settled" and status != "in_review" and owed > 0
            if tx.method == "refund":
                allowed = ready and tx.sender == rec.author
            else:
                allowed = ready and r.timestamp >= self.im.reward_end + SM_WAIT
            assert r.ok == allowed, (tx.method, tx.sender, rec.author, owed, r)
            if r.ok:
                assert r.result == owed and rec.author not in self.collected
                self.collected[rec.author] = r.result
                self.paid_out += r.result
                self.assert_only_fee(ev, r.result)


class GroupedMarketMachine(MarketMachine):
    """The market per contributor, retraining, removing the worst only, going on at price 0."""

    market_rules = WORST_FRESH


@pytest.mark.parametrize("machine", [PointsMachine, MarketMachine, GroupedMarketMachine],
                         ids=["points", "market", "market-per-contributor"])
def test_fund_invariants(machine: type[MechanismMachine]) -> None:
    run_state_machine_as_test(machine, settings=settings(max_examples=150, **SM_SETTINGS))


# -- 4. points ----------------------------------------------------------------------------------

P_T_R, P_T_A = 100, 300


def test_points_hand_worked() -> None:
    env = simpy.Environment()
    chain = Chain(env, block_time_s=1, gas_price_wei=GP)
    people = ("alice", "bob", "carol", "dave", "mallory")
    for a in people:
        chain.ledger.open(a, FUNDS)
    model = VerdictModel(8)  # (samples name features 1 to 4)
    im = Points(refund_wait_s=P_T_R, any_address_claim_wait_s=P_T_A, points_good=2,
                points_bad=3)
    trainer = CollaborativeTrainer(TRAINER, chain.ledger, model, im, OWNER)
    chain.deploy(trainer)
    fees: dict[str, int] = {}

    def call(at: int, sender: str, method: str, args: tuple[Any, ...],
             value: int = 0) -> Receipt:
        assert at - 0.5 >= env.now
        if at - 0.5 > env.now:
            env.run(until=at - 0.5)
        tx = chain.submit(Tx(sender, TRAINER, method, args, value, PM_GAS, GP))
        env.run(until=at + 0.5)
        assert tx.receipt is not None and tx.receipt.timestamp == at
        fees[sender] = fees.get(sender, 0) + tx.receipt.fee
        return tx.receipt

    def ok(r: Receipt) -> None:
        assert r.status == SUCCESS, r

    def reverted(r: Receipt, reason: str) -> None:
        assert r.status == REVERTED and r.reason == reason, r

    def add(at: int, who: str, k: int, agreed: bool, value: int = 0) -> int:
        x = key(k)
        model.verdicts[x.tobytes()] = 1 if agreed else 0
        r = call(at, who, "add_data", (x, 1), value)
        ok(r)
        return int(r.result)

    c_alice = add(10, "alice", 1, True, value=5000)  # any value sent comes back
    c_mal = add(20, "mallory", 2, False)
    c_carol = add(30, "carol", 3, True)
    c_dave = add(40, "dave", 4, True)
    assert chain.ledger.balances[TRAINER] == 0
    assert chain.view(TRAINER, "claim_times", c_alice) == (10 + P_T_R, 10 + P_T_A)

    # alice: too soon at t_r - 1; +2 at t_r; judged once
    reverted(call(10 + P_T_R - 1, "alice", "refund", (c_alice,)), TOO_SOON)
    reverted(call(10 + P_T_R, "bob", "refund", (c_alice,)), NOT_AUTHOR)
    ok(call(10 + P_T_R + 1, "alice", "refund", (c_alice,)))
    assert im.points == {"alice": 2}
    assert not chain.view(TRAINER, "is_open", c_alice)
    reverted(call(10 + P_T_R + 2, "alice", "refund", (c_alice,)), JUDGED)
    reverted(call(10 + P_T_R + 3, "bob", "report", (c_alice,)), JUDGED)

    # mallory's contribution: the model disagrees; her refund fails, her own report too;
    # bob's report costs her 3 points; then it is judged
    reverted(call(20 + P_T_R - 1, "bob", "report", (c_mal,)), NOT_YET)
    reverted(call(20 + P_T_R, "mallory", "refund", (c_mal,)), MODEL_DISAGREES)
    reverted(call(20 + P_T_R + 1, "mallory", "report", (c_mal,)), OWN)
    ok(call(20 + P_T_R + 2, "bob", "report", (c_mal,)))
    assert im.points == {"alice": 2, "mallory": -3}
    reverted(call(20 + P_T_R + 3, "carol", "report", (c_mal,)), JUDGED)
    model.verdicts[key(2).tobytes()] = 1  # the model comes round: still judged
    reverted(call(20 + P_T_R + 4, "mallory", "refund", (c_mal,)), JUDGED)

    # carol's agrees: a report fails, even after t_a (anyone may report then, as from t_r);
    # judging never closes: her refund long after t_a earns her points
    reverted(call(30 + P_T_R + 10, "bob", "report", (c_carol,)), MODEL_AGREES)
    reverted(call(30 + P_T_A, "bob", "report", (c_carol,)), MODEL_AGREES)
    assert chain.view(TRAINER, "is_open", c_carol, int(30 + 10 * P_T_A))
    ok(call(30 + 10 * P_T_A, "carol", "refund", (c_carol,)))

    # dave's: the model turns against it after t_a; his own report is refused, bob's costs
    # him 3 points
    model.verdicts[key(4).tobytes()] = 0
    reverted(call(40 + 10 * P_T_A + 1, "dave", "refund", (c_dave,)), MODEL_DISAGREES)
    reverted(call(40 + 10 * P_T_A + 2, "dave", "report", (c_dave,)), OWN)
    ok(call(40 + 10 * P_T_A + 3, "bob", "report", (c_dave,)))
    assert not chain.view(TRAINER, "is_open", c_dave)

    assert im.points == {"alice": 2, "mallory": -3, "carol": 2, "dave": -3}
    assert im.summary() == {"points": {"alice": 2, "carol": 2, "dave": -3, "mallory": -3},
                            "judged": 4}
    assert "bob" not in im.points
    # no money moved but fees
    assert chain.ledger.balances[TRAINER] == 0
    for a in people:
        assert chain.ledger.balances[a] == FUNDS - fees.get(a, 0), a
    assert chain.ledger.balances[FEE_SINK] == sum(fees.values())


# -- 5. front-running and the base fee ------------------------------------------------------------

FR_T_R, FR_T_A = 600, 3600
FR_GAS = 1_000_000
P = 4 * GWEI


def front_running_world(**fees: Any) -> tuple[simpy.Environment, Chain, CollaborativeTrainer,
                                              FrontRunner]:
    env = simpy.Environment()
    chain = Chain(env, block_time_s=12, gas_price_wei=P, **fees)
    for a in ("alice", "victor", "bob", OWNER):
        chain.ledger.open(a, ETHER)
    chain.ledger.open("searcher", ETHER)
    im = DepositRefundTake(refund_wait_s=FR_T_R, owner_claim_wait_s=FR_T_A,
                           any_address_claim_wait_s=FR_T_A, cost_weight=10**9)
    model = VerdictModel(8)  # (samples name features 1 to 4)
    trainer = CollaborativeTrainer("contract", chain.ledger, model, im, OWNER)
    chain.deploy(trainer)
    pool = Pool(np.zeros((1, 4)), np.zeros(1, dtype=np.int64))
    world = World(env, chain, "contract", pool, FR_GAS)
    cfg = FrontRunnerConfig.model_validate({"name": "searcher", "kind": "front_runner",
                                            "balance": 1, "outbid_gwei": 1})
    searcher = FrontRunner(cfg, world, np.random.default_rng(0))
    return env, chain, trainer, searcher


def send(chain: Chain, sender: str, method: str, args: tuple[Any, ...], value: int = 0,
         price: int = P) -> Tx:
    return chain.submit(Tx(sender, "contract", method, args, value, FR_GAS, price))


def test_front_runner_outbids_a_report_in_the_same_block() -> None:
    env, chain, trainer, searcher = front_running_world()
    bal = chain.ledger.balances
    add = send(chain, "alice", "add_data", (key(1), 1), 3600 * 10**9)
    env.run(until=12.5)
    assert add.receipt is not None and add.receipt.ok
    d = trainer.data.records[0].initial_deposit
    assert d == 10**9 * 3600 // math.isqrt(12)  # first add, dt = 12 s
    # after t_a anyone may take it all: both the victim and the searcher could
    env.run(until=12 + FR_T_A + 6)
    victor0, searcher0 = bal["victor"], bal["searcher"]
    victim = send(chain, "victor", "report", (0,))
    # the watcher saw it in the mempool and outbid it at once
    assert len(searcher.races) == 1
    own = searcher.races[0].own_tx
    assert own.gas_price == P + GWEI and own.sender == "searcher"
    assert [t.sender for t in chain.pending] == ["searcher", "victor"]
    env.run(until=12 + FR_T_A + 12.5)
    v, o = victim.receipt, own.receipt
    assert v is not None and o is not None
    assert v.block == o.block and v.timestamp == o.timestamp == 12 + FR_T_A + 12
    # the searcher's copy executed first and took the deposit
    order = [tx.seq for tx, _ in chain.receipts]
    assert order.index(own.seq) < order.index(victim.seq)
    assert o.ok and o.result == d
    assert v.status == REVERTED and v.reason == NOTHING
    assert v.fee == v.gas_used * P and o.fee == o.gas_used * (P + GWEI)
    assert bal["victor"] == victor0 - v.fee
    assert bal["searcher"] == searcher0 + d - o.fee
    assert trainer.data.records[0].claimable == 0 and bal["contract"] == 0
    assert searcher.summary_section() == {"races": 1, "won": 1, "lost": 0, "victim_reverted": 1,
                                       "victim_loss_wei": d + v.fee}


def test_front_runner_leaves_reports_it_cannot_take() -> None:
    """Before t_a only reporters with refunded good data may take: the searcher has none, so
    it does not race bob's report."""
    env, chain, trainer, searcher = front_running_world()
    model = trainer.model
    assert isinstance(model, VerdictModel)
    send(chain, "bob", "add_data", (key(1), 1), 3600 * 10**9)  # bob's good data
    env.run(until=12.5)
    send(chain, "alice", "add_data", (key(2), 0), 3600 * 10**9)  # the model says 1: bad
    env.run(until=24.5)
    env.run(until=12 + FR_T_R + 6)
    refund = send(chain, "bob", "refund", (0,))
    env.run(until=12 + FR_T_R + 12.5)
    assert refund.receipt is not None and refund.receipt.ok
    assert trainer.im.num_valid == {"bob": 1}
    env.run(until=24 + FR_T_R + 30)
    assert chain.view("contract", "try", "report", 1, "searcher") is None
    report = send(chain, "bob", "report", (1,))
    env.run(until=env.now + 12)
    assert searcher.races == []
    assert report.receipt is not None and report.receipt.ok
    assert report.receipt.result == trainer.data.records[1].initial_deposit


def test_a_bid_under_the_base_fee_waits_until_the_fee_drops() -> None:
    """No background demand: every slot the base fee falls by 1/8 (fullness 0, target 0.5):
    100 -> 87.5 -> 76.56 -> 66.99 -> 58.62 -> 51.29 -> 44.88 gwei.  A 50-gwei bid sent at
    t = 5 is deferred at the slots 12 .. 72 and included at 84, paying its own bid."""
    fees = BaseFeeProcess(100 * GWEI, 373.0, np.random.default_rng(3), min_wei=10 * GWEI,
                          max_wei=200 * GWEI, background=0.0, background_sd=0.0)
    env, chain, trainer, _ = front_running_world(fees=fees)
    env.run(until=5)
    tx = send(chain, "alice", "add_data", (key(1), 1), 3600 * 10**9, price=50 * GWEI)
    for k in range(1, 7):
        env.run(until=12 * k + 0.5)
        assert tx.receipt is None and chain.pending == [tx], k
        assert chain.gas_price_wei == pytest.approx(100 * GWEI * 0.875**k, abs=10)
        assert chain.gas_price_wei > 50 * GWEI or k == 6
    env.run(until=84.5)
    r = tx.receipt
    assert r is not None and r.ok and r.timestamp == 84 and r.block == 1
    assert r.fee == r.gas_used * 50 * GWEI
    # the including block was (almost) empty: fullness gas_used / block gas limit
    full = r.gas_used / chain.block_gas_limit
    assert chain.gas_price_wei == pytest.approx(100 * GWEI * 0.875**6 * (0.875 + full / 4),
                                                abs=10)
    # much later, a 10-gwei bid, while the last block's fee (39.3 gwei) is the latest known:
    # the thousands of empty slots since are applied before the next slot is priced (the fee
    # at its minimum then), so that slot includes it, as EIP-1559 prices a block by the ones
    # before it
    env.run(until=100_000)
    assert chain.gas_price_wei > 39 * GWEI
    late = send(chain, "alice", "add_data", (key(2), 1), 3600 * 10**9, price=10 * GWEI)
    env.run(until=100_008.5)
    assert late.receipt is not None and late.receipt.ok and late.receipt.timestamp == 100_008
    assert late.receipt.fee == late.receipt.gas_used * 10 * GWEI
    assert chain.gas_price_wei == 10 * GWEI


def test_under_a_moving_base_fee_blocks_pay_the_fee_the_slots_before_them_left(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """EIP-1559: a block's base fee comes from the slots before it, the empty ones included
    (one slot moves it by at most an eighth without shocks, however long the quiet before);
    a transaction pays that base fee plus its tip, at most its max fee (wallets bid twice
    the base fee they know plus the tip); the prediction market's provider pays the base fee
    alone."""
    executed: list[tuple[Tx, int, Receipt]] = []
    real = Chain._execute

    def execute(chain: Chain, tx: Tx) -> Receipt:
        base = chain.fees.base_fee
        r = real(chain, tx)
        executed.append((tx, base, r))
        return r

    monkeypatch.setattr(Chain, "_execute", execute)
    sc = load_scenario(None, {"data.max_pool": 300, "metrics.counterfactual": False,
                              "chain.gas_price_model": "base_fee", "agents[0].gas_tip_gwei": 2})
    res = run(sc)
    assert isinstance(res.chain.fees, BaseFeeProcess) and not res.chain.fees.shock_sd
    base_of: dict[int, int] = {}
    for tx, base, r in executed:
        assert base_of.setdefault(r.block, base) == base  # (one base fee a block)
        assert tx.priority_fee == (2 * GWEI if tx.sender == "good" else 0)
        price = min(tx.gas_price, base + tx.priority_fee)
        assert r.fee == r.gas_used * price
    assert sum(tx.gas_price > base + tx.priority_fee for tx, base, _ in executed) > 100
    log = res.chain.receipts
    assert [log.gas_price[i] * log.gas_used[i] for i in range(len(log))] == \
        [r.fee for _, r in log]  # (the table's price is the one paid)
    slot = {r.block: round(r.timestamp / 12) for _, _, r in executed}
    steps = [(base_of[b + 1] / base_of[b], slot[b + 1] - slot[b])
             for b in base_of if b + 1 in base_of]
    after_one = [ratio for ratio, gap in steps if gap == 1]
    assert after_one and all(0.875 - 1e-9 <= x <= 1.125 + 1e-9 for x in after_one)
    assert any(gap > 100 for _, gap in steps)  # (long quiet spells were crossed)
    executed.clear()
    pm = load_scenario(ROOT / "scenarios/mechanisms-prediction-market.toml",
                       {"data.max_pool": 100, "chain.gas_price_model": "base_fee"})
    run(pm)
    provider = [(tx, base, r) for tx, base, r in executed if tx.sender == "provider"]
    assert provider
    for tx, base, r in provider:
        assert tx.priority_fee == 0 and tx.gas_price >= base
        assert r.fee == r.gas_used * base


@pytest.mark.parametrize(("background", "sd"), [(0.5, 0.15), (0.9, 0.3), (0.05, 0.4),
                                                (0.3, 0.0)])
def test_an_empty_slots_moments_match_slot_by_slot_draws(background: float, sd: float) -> None:
    """Long gaps are drawn as one sum from one slot's mean and variance: those agree with a
    million slot-by-slot draws (clipping at 0 and 1 included)."""
    fees = BaseFeeProcess(20 * GWEI, 373.0, np.random.default_rng(1), min_wei=GWEI,
                          max_wei=200 * GWEI, background=background, background_sd=sd)
    mean, var = fees._slot_moments()
    sample = fees._log_factors(np.random.default_rng(2).normal(background, sd, 1_000_000))
    assert mean == pytest.approx(sample.mean(), abs=4 * sample.std() / 1000 + 1e-12)
    assert var == pytest.approx(sample.var(), rel=0.01, abs=1e-15)


def test_a_gap_of_a_billion_slots_is_one_bounded_step() -> None:
    """Millisecond slots over days: the gap's moves are one draw, not a billion (no memory or
    time growing with it), and a drift or shock that would overflow ends at a bound."""
    def fees(background: float, shock_sd: float, seed: int) -> BaseFeeProcess:
        return BaseFeeProcess(20 * GWEI, 373.0, np.random.default_rng(seed), min_wei=GWEI,
                              max_wei=200 * GWEI, background=background, background_sd=0.1,
                              shock_sd=shock_sd, eth_usd_volatility=10)

    start = time.perf_counter()
    busy, quiet, shaken = fees(0.95, 0.0, 1), fees(0.05, 0.0, 1), fees(0.5, 0.4, 1)
    busy.pass_empty(10**9 - 1)
    busy.advance(1e6, 1.0)
    quiet.pass_empty(10**9 - 1)
    quiet.advance(1e6, 0.0)
    shaken.pass_empty(10**9 - 1)
    shaken.advance(1e6, 0.5)
    assert time.perf_counter() - start < 1
    assert busy.base_fee == 200 * GWEI and quiet.base_fee == GWEI
    assert GWEI <= shaken.base_fee <= 200 * GWEI
    again = fees(0.5, 0.4, 1)
    again.pass_empty(10**9 - 1)
    again.advance(1e6, 0.5)
    assert (again.base_fee, again.eth_usd) == (shaken.base_fee, shaken.eth_usd)
    assert all(math.isfinite(f.eth_usd) and f.eth_usd >= 0 for f in (busy, quiet, shaken))


def drive(fees: BaseFeeProcess, seed: int) -> list[tuple[int, float]]:
    """Advance ``fees`` along a fixed random path of gaps and fullness levels."""
    rng = np.random.default_rng(seed)
    now, out = 0.0, []
    for _ in range(1500):
        slots = int(rng.choice([1, 1, 1, 2, 5, 40]))
        now += 12 * slots
        if slots > 1:
            fees.pass_empty(slots - 1)
        fees.advance(now, float(rng.random()))
        out.append((fees.base_fee, fees.eth_usd))
    return out


def test_base_fee_is_bounded_and_reproducible() -> None:
    def process(seed: int) -> BaseFeeProcess:
        return BaseFeeProcess(20 * GWEI, 373.0, np.random.default_rng(seed), min_wei=GWEI,
                              max_wei=200 * GWEI, background=0.5, background_sd=0.3,
                              shock_sd=0.4, eth_usd_volatility=0.1)

    a, b, c = drive(process(7), 0), drive(process(7), 0), drive(process(8), 0)
    assert a == b
    assert a != c
    for path in (a, c):
        fees = [f for f, _ in path]
        assert all(type(f) is int and GWEI <= f <= 200 * GWEI for f in fees)
        assert min(fees) == GWEI and max(fees) == 200 * GWEI  # both bounds are reached
        assert all(e > 0 for _, e in path)
    # the scenario's fee process: the same seed gives the same path
    sc = load_scenario(ROOT / "scenarios/front-running.toml")
    f1, f2, f3 = (make_fees(sc.chain, s) for s in (1, 1, 2))
    assert isinstance(f1, BaseFeeProcess)
    assert (f1.min_wei, f1.max_wei, f1.base_fee) == (GWEI, 200 * GWEI, 4 * GWEI)
    p1, p2, p3 = drive(f1, 5), drive(f2, 5), drive(f3, 5)
    assert p1 == p2 and p1 != p3
    assert all(GWEI <= f <= 200 * GWEI for f, _ in p1 + p3)


# -- 6. the comparison scenarios ---------------------------------------------------------------


def short_run(name: str, **overrides: Any):  # type: ignore[no-untyped-def]
    sc = load_scenario(ROOT / "scenarios" / f"{name}.toml",
                       {"metrics.counterfactual": False, "metrics.baseline": False,
                        "data.max_pool": 300, **overrides})
    res = run(sc)
    return res, summary(res)


def assert_every_wei_explained(res: Any, s: dict[str, Any]) -> None:
    c = s["contract"]
    assert c["unexplained_wei"] == 0
    assert c["final_balance_wei"] == c["claimable_wei"] + c["held_by_mechanism_wei"]
    for name, a in s["agents"].items():
        assert a["unexplained_wei"] == 0, name
    assert s["supply"]["initial_wei"] == s["supply"]["final_total_wei"]
    assert s["supply"]["fee_sink_wei"] == s["gas"]["fees_wei"] > 0
    assert not res.chain.pending
    assert all(a.done() for a in res.agents)


@pytest.mark.parametrize("name", ["mechanisms-drt", "mechanisms-prediction-market",
                                  "mechanisms-points", "front-running"])
def test_comparison_scenarios_explain_every_wei(name: str) -> None:
    res, s = short_run(name)
    assert_every_wei_explained(res, s)
    assert s["pool"]["size"] == 300
    inc = s["incentive"]
    if name == "mechanisms-points":
        # no money at stake: every address ends at its start minus its fees
        assert s["contract"]["final_balance_wei"] == 0
        for a in s["agents"].values():
            assert a["final_wei"] == a["start_wei"] - a["fees_wei"]
            assert a["deposits_wei"] == a["refunds_wei"] == a["takes_wei"] == 0
        assert inc["judged"] > 0 and inc["points"]
    elif name == "mechanisms-prediction-market":
        assert inc["phase"] == "settled"
        stakes = sum(inc["stakes_wei"].values())
        bounty = inc["bounty_wei"]
        after = inc["balances_after_rewards_wei"]
        assert sum(after.values()) + inc["rounds"][-1]["bounty_left_wei"] == bounty + stakes
        # everything was collected: contributors their balances, the provider the rest
        assert s["contract"]["final_balance_wei"] == 0
        collected = sum(a["refunds_wei"] + a["takes_wei"] for a in s["agents"].values())
        assert collected == sum(after.values())
        provider_fees = sum(r.fee for tx, r in res.chain.receipts if tx.sender == PROVIDER)
        start = res.scenario.incentive.bounty + res.scenario.incentive.provider_gas
        left = inc["rounds"][-1]["bounty_left_wei"]
        assert res.chain.ledger.balances[PROVIDER] == start - bounty - provider_fees + left
        # what the provider took back is in the summary (it is in no agent's account)
        assert inc["bounty_returned_wei"] == left > 0 and inc["bounty_left_wei"] == 0
    elif name == "front-running":
        fr = s["front_running"]["searcher"]
        assert fr["races"] > 0 and fr["won"] > 0 and fr["victim_reverted"] > 0
        assert fr["victim_loss_wei"] > 0
        assert s["agents"]["searcher"]["profit_wei"] > 0


def test_prediction_market_scenario_rejects_a_wrong_reveal() -> None:
    res, s = short_run("mechanisms-prediction-market",
                       **{"incentive.reveal_wrong_piece": True})
    assert_every_wei_explained(res, s)
    assert s["transactions"]["revert_reasons"].get(BAD_REVEAL) == 1
    assert s["incentive"]["phase"] == "settled"


def test_the_market_provider_gets_its_phases_mined_under_a_moving_base_fee() -> None:
    """Under a moving base fee the provider's transactions are mined and the bounty left is
    collected (it bid the base fee of the market's start: once the fee had risen, its
    end_market waited past the two slots it allowed, and the bounty stayed in the
    contract)."""
    import sumsim

    res = sumsim.run("mechanisms-prediction-market", seed=3, overrides={
        "chain.gas_price_model": "base_fee", "chain.base_fee.shock_sd": 0.2,
        "chain.block_time_s": 12, "data.max_pool": 300, "metrics.counterfactual": False})
    tx = res.transactions
    phases = tx.filter(tx["method"].is_in(["end_market", "collect_bounty"]))
    assert phases["status"].to_list() == ["success", "success"]
    assert res.summary["incentive"]["bounty_left_wei"] == 0
    assert res.summary["contract"]["final_balance_wei"] == 0


def test_a_run_stopped_by_the_idle_guard_names_a_rejected_last_transaction() -> None:
    """When the base fee has climbed past what the provider can pay, its end_market is
    rejected and the market can never end: the idle guard's message says so."""
    import sumsim
    from sumsim.errors import RunCannotFinish

    # (blocks nine-tenths full all the time: the fee climbs by a tenth a slot to its ceiling)
    with pytest.raises(RunCannotFinish, match=r"the last transaction, provider's end_market at "
                       r"day 14\.0, was rejected: Insufficient funds"):
        sumsim.run("mechanisms-prediction-market", seed=1, overrides={
            "chain.gas_price_model": "base_fee", "chain.base_fee.background": 0.9,
            "chain.base_fee.background_sd": 0.0, "chain.base_fee.max_gwei": 5000,
            "chain.block_time_s": 12, "data.max_pool": 300, "metrics.counterfactual": False})
