"""What the attacks and defenses do in the shipped scenarios, as measured inequalities.

Every inequality here was measured first over seeds 1-10 (``scenario.seed``, which also seeds
the synthetic data) and is asserted on seeds 1-3; the docstrings give the measured numbers,
including the seeds where an inequality does not hold.  Some expectations one might hold are
false in this model and are asserted the way they are: a confidence threshold makes boundary
poisoning *worse*, and mislabelling the samples nearest the decision boundary costs *more* per
point of accuracy than plain label flipping with the perceptron.  Unmeasured or unstable
effects (e.g. whether review lowers the accuracy damage: it does in 8 of 10 seeds) are not
asserted.

The last test runs every shipped scenario but the IMDB one, shortened, and checks that all money
is accounted for to the wei.
"""

from __future__ import annotations

import tomllib
from collections import deque
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from sumsim.engine import run
from sumsim.results.summary import summary
from sumsim.scenario.loader import load_scenario

SCENARIOS = Path(__file__).parents[1] / "scenarios"
SEEDS = (1, 2, 3)
LIMITED = "Rate limit exceeded for this address."
ETHER = 10**18


@cache
def outcome(name: str, seed: int, counterfactual: bool = False) -> dict[str, Any]:
    """Summary of one shipped scenario at ``seed``, plus per-address add_data outcomes."""
    sc = load_scenario(SCENARIOS / f"{name}.toml", {
        "scenario.seed": seed, "metrics.counterfactual": counterfactual,
        "metrics.baseline": False})
    res = run(sc)
    out = summary(res)
    adds: dict[str, dict[str, Any]] = {}
    for tx, r in res.chain.receipts:
        if tx.method != "add_data" or r.status == "rejected":
            continue
        a = adds.setdefault(tx.sender, {"attempts": 0, "accepted": 0, "limited": 0,
                                        "accepted_at": []})
        a["attempts"] += 1
        a["limited"] += r.reason == LIMITED
        if r.ok:
            a["accepted"] += 1
            a["accepted_at"].append(r.timestamp)
    out["adds"] = adds
    return out


def profit_eth(s: dict[str, Any], group: str) -> float:
    return s["groups"][group]["profit_wei"] / ETHER


def per_point(s: dict[str, Any]) -> float:
    value = s["counterfactual"]["attacker_spend_eth_per_point_lost"]
    assert value is not None, "the attack did no damage"
    return float(value)


@pytest.mark.parametrize("seed", SEEDS)
def test_label_flipper_loses_and_honest_contributor_profits(seed: int) -> None:
    """label-flip-drt, 1,000-ether budget.  Measured profit (ETH), honest / flipper:
    seed 1 +579 / -586, 2 +628 / -635, 3 +648 / -656, 4 +640 / -647, 5 +563 / -571,
    6 +661 / -668, 7 +681 / -689, 8 +650 / -657, 9 +585 / -593, 10 +516 / -523."""
    s = outcome("label-flip-drt", seed)
    assert profit_eth(s, "flipper") < -100
    assert profit_eth(s, "good") > 100
    # part of what it lost was taken by others' reports, not only left to expire
    assert s["agents"]["flipper"]["lost_to_others_wei"] > 0


@pytest.mark.parametrize("seed", SEEDS)
def test_duplicate_filter_cuts_the_near_duplicate_farmers_profit(seed: int) -> None:
    """near-duplicate vs near-duplicate-filter (radius 4, window 2,000), same seed.
    Measured farmer profit (ETH) without / with the filter, and the honest contributor's:
    seed 1 +406 / +22 (honest -419 / -29), 2 +413 / +9 (-426 / -16), 3 +356 / +38 (-367 / -45),
    4 +320 / +47, 5 +413 / +37, 6 +428 / +12, 7 +327 / +15, 8 +277 / +55, 9 +454 / +57,
    10 +321 / +27.  Without the filter the farmer always profits at the honest contributor's
    expense; with it none of its copies is accepted (0 of ~1,600 in every seed), and what it
    still earns comes from taking expired deposits."""
    plain = outcome("near-duplicate", seed)
    filtered = outcome("near-duplicate-filter", seed)
    assert profit_eth(plain, "farmer") > 200 and profit_eth(plain, "good") < -200
    assert profit_eth(filtered, "farmer") < profit_eth(plain, "farmer") / 4
    assert profit_eth(filtered, "good") > profit_eth(plain, "good")
    assert filtered["agents"]["farmer"]["contributions"] == 0
    f = filtered["defenses"]["duplicate_filter"]
    assert f["flagged"] > 1000 and f["honest_false_positive_rate"] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_review_queue_raises_the_boundary_poisoners_cost_per_point(seed: int) -> None:
    """boundary vs boundary-review (threshold 0.4 routes to one reviewer, ~30 min, 95% right).
    Measured attacker spend per point of time-averaged accuracy lost (ETH/point), without /
    with review: seed 1 108 / 197, 2 43 / 88, 3 38 / 69.  (The damage is measured against the
    same seed without the attacker but with the same defenses.)"""
    plain = outcome("boundary", seed, counterfactual=True)
    reviewed = outcome("boundary-review", seed, counterfactual=True)
    assert per_point(reviewed) > 1.2 * per_point(plain)
    assert reviewed["attacker_spend_wei"] > plain["attacker_spend_wei"]
    q = reviewed["defenses"]["review_queue"]
    assert q["reviews"] > 0 and q["cost_wei"] == q["reviews"] * ETHER // 2


@pytest.mark.parametrize("seed", SEEDS)
def test_confidence_threshold_does_not_protect_against_boundary_poisoning(seed: int) -> None:
    """boundary vs boundary-threshold (reject below 0.3): the threshold does NOT raise the
    minimum accuracy (the inequality one might expect is false here).  Boundary samples sit
    near confidence 0.5 and pass, while honest corrections the drifting model disagrees with
    are rejected.  Measured minimum accuracy without / with the threshold: seed 1
    0.529 / 0.485, 2 0.498 / 0.503, 3 0.491 / 0.484; honest false-positive rate 0.49, 0.50,
    0.25.  (Time-averaged accuracy is lower with the threshold in seeds 1-2: 0.668 / 0.490,
    0.631 / 0.507, and higher in seed 3: 0.649 / 0.725.)"""
    plain = outcome("boundary", seed, counterfactual=True)
    gated = outcome("boundary-threshold", seed)
    assert gated["accuracy"]["min"] <= plain["accuracy"]["min"] + 0.01
    t = gated["defenses"]["confidence_threshold"]
    assert t["honest_false_positive_rate"] > 0.2
    assert t["flagged_honest"] > 0.5 * t["flagged"]  # most of what it turns away is honest


def test_boundary_poisoning_costs_less_per_point_than_label_flipping() -> None:
    """boundary vs label-flip-drt, same 1,000-ether budget and rate, no defense.  Measured
    attacker spend per point of time-averaged accuracy lost (ETH/point), label flip / boundary:
    seed 1 67 / 108, 2 66 / 43, 3 56 / 38, 4 61 / 40, 5 54 / 48, 6 74 / 50, 7 69 / 49,
    8 43 / 30 -- boundary poisoning is cheaper in 7 of 8 seeds (seed 1 reverses it), and does
    more damage (time-averaged, flip / boundary: seed 2 0.097 / 0.138, 3 0.116 / 0.162)."""
    seeds = range(1, 7)
    cheaper = 0
    for seed in seeds:
        flip = outcome("label-flip-drt", seed, counterfactual=True)
        boundary = outcome("boundary", seed, counterfactual=True)
        cheaper += per_point(boundary) < per_point(flip)
    assert cheaper >= 5


def most_in_window(times: list[float], window: float) -> int:
    """Largest number of ``times`` inside any half-open window ``(t - window, t]``."""
    q: deque[float] = deque()
    most = 0
    for t in times:
        q.append(t)
        while q[0] <= t - window:
            q.popleft()
        most = max(most, len(q))
    return most


@pytest.mark.parametrize("seed", SEEDS)
def test_sybil_swarm_slips_past_the_rate_limit(seed: int) -> None:
    """sybil-rate-limit: 10 contributions per address per hour.  The lone flipper (one attempt
    a minute) and the swarm (same rate over 6 addresses).  Measured share of add_data attempts
    accepted, lone / lowest swarm address / whole swarm: seed 1 0.20 / 0.82 / 0.87,
    2 0.23 / 0.79 / 0.89, 3 0.24 / 0.62 / 0.91 (that address tried only 29 times), and
    0.19-0.25 / >= 0.62 / >= 0.86 over seeds 1-10 (whole swarm minus lone >= 0.64).  Accepted
    in total, lone / swarm: 393 / 451, 440 / 486, 459 / 459.  No address ever had more than
    10 accepted in an hour.  The limit does not protect the honest contributor: it lost 285,
    362, 279 ETH (seeds 1-3; it lost money in all ten)."""
    s = outcome("sybil-rate-limit", seed)
    adds = s["adds"]
    lone = adds["lone"]
    swarm = [adds[f"swarm-{i}"] for i in range(6)]
    lone_share = lone["accepted"] / lone["attempts"]
    assert lone_share < 0.3 and lone["limited"] > lone["attempts"] / 2
    for a in swarm:
        assert a["accepted"] / a["attempts"] > lone_share + 0.3
    swarm_share = sum(a["accepted"] for a in swarm) / sum(a["attempts"] for a in swarm)
    assert swarm_share > lone_share + 0.55
    assert sum(a["accepted"] for a in swarm) >= lone["accepted"]
    for name, a in adds.items():
        assert most_in_window(a["accepted_at"], 3600) <= 10, name
    assert profit_eth(s, "good") < 0


def shipped() -> list[Path]:
    out = []
    for p in sorted(SCENARIOS.glob("*.toml")):
        data = tomllib.loads(p.read_text(encoding="utf-8"))
        if data.get("data", {}).get("dataset") != "imdb":
            out.append(p)
    return out


def test_the_imdb_scenario_is_the_only_one_left_out() -> None:
    left_out = sorted(set(SCENARIOS.glob("*.toml")) - set(shipped()))
    assert [p.name for p in left_out] == ["paper-imdb-perceptron-drt.toml"]
    assert len(shipped()) >= 9


@pytest.mark.parametrize("path", shipped(), ids=lambda p: p.stem)
def test_every_scenario_runs_to_completion_with_every_wei_explained(path: Path) -> None:
    sc = load_scenario(path, {"metrics.counterfactual": False, "data.max_pool": 300})
    res = run(sc)
    s = summary(res)
    assert s["pool"]["size"] == 300
    assert s["end_time_s"] > 0
    if sc.scenario.duration_s is None:
        # ran until every agent was done: nothing pending, nothing left unexamined
        assert all(a.done() for a in res.agents)
        assert not res.chain.pending
    assert s["contract"]["unexplained_wei"] == 0
    # What is left is what can still be claimed, plus deposits a review forfeited to the owner,
    # which stay locked in the contract when the contract owns itself (the default).
    c = s["contract"]
    forfeited = sum(r.forfeited for r in res.contract.data.records)
    to_owner = any(getattr(d, "forfeit_to", None) == "owner" for d in sc.defenses)
    locked = to_owner and res.contract.owner == res.contract.address
    assert c["locked_wei"] == (forfeited if locked else 0)
    assert c["final_balance_wei"] == c["claimable_wei"] + c["locked_wei"]
    for name, a in s["agents"].items():
        assert a["unexplained_wei"] == 0, name
    assert s["supply"]["initial_wei"] == s["supply"]["final_total_wei"]
    assert s["supply"]["fee_sink_wei"] >= s["gas"]["fees_wei"] > 0


_BUDGET_BOUND = """
[scenario]
name = "budget-bound"
seed = 7
[data.synthetic]
n_train = 2000
n_test = 1000
[[agents]]
name = "good"
kind = "honest"
balance = 10_000
max_deposit = 50
interval_s = { dist = "exponential", mean = 600 }
[[agents]]
name = "p"
kind = "boundary"
balance = 5_000
budget = 40
candidates = 200
interval_s = { dist = "exponential", mean = 1800 }
[[defenses]]
kind = "confidence_threshold"
threshold = 0.3
action = "review"
[[defenses]]
kind = "review_queue"
capacity = 2
"""


def test_an_attacker_its_budget_can_never_carry_on_gives_up(tmp_path: Path) -> None:
    """A boundary poisoner (its own reserved samples: the pool running dry does not end it)
    left with milli-ether of budget would wait centuries for the deposit to fall that low;
    once nothing of its own can come back and even the deposit after the run's longest quiet
    spell (max_idle_s) is beyond its budget, it stops, and the run ends."""
    path = tmp_path / "budget-bound.toml"
    path.write_text(_BUDGET_BOUND, encoding="utf-8")
    sc = load_scenario(path)
    res = run(sc)
    (p,) = [a for a in res.agents if a.name == "p"]
    assert p.stopped and p.has_material()  # (samples left: it stopped on its budget)
    budget = int(sc.agents[1].budget)
    assert 0.99 * budget < p.spent <= budget  # (it spent all but what no deposit would fit)


def test_an_attacker_waiting_on_its_budget_is_named_when_a_run_stalls(tmp_path: Path) -> None:
    """While it still watches contributions it does not give up; a run that stalls on it
    says whose budget it waits on (it said only that the pool was empty)."""
    from sumsim.errors import RunCannotFinish

    path = tmp_path / "budget-bound.toml"
    path.write_text(_BUDGET_BOUND, encoding="utf-8")
    with pytest.raises(RunCannotFinish, match=r"and a fee are beyond what the budget leaves: "
                       r"p \(waiting for the deposit to fall, or for refunds\)"):
        run(load_scenario(path, {"scenario.max_idle_s": 3 * 86_400}))
