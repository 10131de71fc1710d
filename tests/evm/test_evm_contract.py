"""Hand-worked tests of the project's Vyper DRT contract (``drt_perceptron.vy``) on py-evm.

Every expected number here is worked out by hand from the rules in DESIGN.md section 3 and
the original perceptron's semantics, not computed by sumsim, so these tests pin the EVM side
of later differential tests on their own.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from evm_drt import INSUFFICIENT_FUNDS, EvmDRT
from sumsim_drt import SumsimDRT

DAY = 86_400
T_R = DAY
T_O = 5 * DAY
T_A = 9 * DAY
T0 = 1_000_000
W = 10**12  # cost_weight: a full deposit is 3600 * W = 3.6e15 wei
FULL = 3600 * W
RICH = 10**21
N_FEATURES = 50

# Features 0..9 weigh +10 (score > 0: predicts 1), features 10..19 weigh -10, the rest 0.
WEIGHTS = [10] * 10 + [-10] * 10 + [0] * (N_FEATURES - 20)

NO_DEPOSIT = "Didn't pay enough for the deposit."
TOO_SOON = "Not enough time has passed."
MODEL_DISAGREES = "The model doesn't agree with your contribution."
MODEL_AGREES = "The model should not agree with the contribution."
NOTHING_CLAIMABLE = "There is no reward left to claim."
CLAIMED_BY_AUTHOR = "Deposit already claimed by submitter."
CLAIMED_BY_REPORTER = "Deposit already claimed by reporter."
NOT_AUTHOR = "Data not found."  # (the original looks a refund up under the sender's key)
OWN_DATA = "Cannot take your own deposit."
NO_GOOD_DATA = "The sender has not sent any good data."
CONFLICT = "Conflicting data key. The data may have already been added."


def make(*, owner: str | None = None, cost_weight: int = W, weights: list[int] | None = None,
         intercept: int = 0, learning_rate: int = 1) -> EvmDRT:
    return EvmDRT(WEIGHTS if weights is None else weights, intercept=intercept,
                  learning_rate=learning_rate, cost_weight=cost_weight, refund_wait_s=T_R,
                  owner_claim_wait_s=T_O, any_address_claim_wait_s=T_A,
                  wallets={"a": RICH, "b": RICH, "c": RICH, "o": RICH}, owner=owner,
                  start_time=T0)


def pay(d: EvmDRT, sender: str, x: list[int], y: int, t: int) -> int:
    """Add paying the exact deposit; return the contribution id."""
    res = d.add(sender, x, y, d.required_deposit(t), t)
    assert res.ok, res.reason
    assert res.value is not None
    return res.value


def claimable(d: EvmDRT, cid: int) -> int:
    return d.state().claimable[cid]


# -- deposit ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("dt", "deposit"), [
    (0, FULL),                  # divisor 1 when no time has passed
    (1, FULL),                  # isqrt(1) = 1
    (3, FULL),                  # isqrt(3) = 1
    (4, FULL // 2),             # isqrt(4) = 2
    (99, FULL // 9),            # isqrt(99) = 9
    (100, FULL // 10),          # isqrt(100) = 10
    (86_400, 12_286_689_419_795),  # isqrt(86400) = 293; 3.6e15 // 293
])
def test_deposit_after_dt(dt: int, deposit: int) -> None:
    d = make()
    assert d.required_deposit(T0 + dt) == deposit
    short = d.add("a", [0], 1, deposit - 1, T0 + dt)
    assert (short.ok, short.reason) == (False, NO_DEPOSIT)
    res = d.add("a", [0], 1, deposit, T0 + dt)
    assert res.ok and res.value == 0 and res.received == 0
    assert d.balance("a") == RICH - deposit
    st = d.state()
    assert st.claimable == [deposit] and st.contract_balance == deposit
    assert st.last_update_time == T0 + dt


def test_deposit_divisor_matches_isqrt() -> None:
    d = make()
    rng = random.Random(7)
    for dt in [*range(0, 300), *(rng.randrange(10**9) for _ in range(50))]:
        assert d.required_deposit(T0 + dt) == FULL // max(1, math.isqrt(dt))


def test_second_add_in_a_block_pays_full_and_dt_counts_from_last_add() -> None:
    d = make()
    assert d.add("a", [0], 1, FULL // 10, T0 + 100).ok
    assert d.required_deposit() == FULL
    assert d.add("b", [1], 1, FULL - 1, T0 + 100).reason == NO_DEPOSIT
    assert d.add("b", [1], 1, FULL, T0 + 100).ok
    assert d.required_deposit(T0 + 104) == FULL // 2


def test_zero_cost_weight_needs_no_deposit() -> None:
    d = make(cost_weight=0)
    assert d.required_deposit(T0 + 5) == 0
    res = d.add("a", [0], 1, 0, T0 + 5)
    assert res.ok and d.state().claimable == [0]


def test_overpayment_is_returned() -> None:
    d = make()
    res = d.add("a", [0], 1, FULL // 10 + 12_345, T0 + 100)
    assert res.ok and res.received == 12_345
    assert d.balance("a") == RICH - FULL // 10
    assert d.state().contract_balance == FULL // 10


def test_add_checks() -> None:
    d = make()
    assert d.add("a", [0], 2, FULL, T0).reason == "Unknown class."
    assert d.add("a", [N_FEATURES], 1, FULL, T0).reason == "Feature index out of range."
    poor = d.add("a", [0], 1, RICH + 1, T0)
    assert poor.rejected and poor.reason == INSUFFICIENT_FUNDS and poor.gas == 0
    assert d.num_contributions() == 0 and d.balance("a") == RICH


def test_conflicting_data_key() -> None:
    d = make()
    assert d.add("a", [0, 3], 1, FULL, T0).ok
    assert d.add("a", [0, 3], 1, FULL, T0).reason == CONFLICT
    # Any part of the key differing is a new record.
    assert d.add("b", [0, 3], 1, FULL, T0).ok       # sender
    assert d.add("a", [0, 3], 0, FULL, T0).ok       # label
    assert d.add("a", [0, 4], 1, FULL, T0).ok       # data
    assert d.add("a", [0, 3], 1, FULL, T0 + 1).ok   # time
    assert d.num_contributions() == 5


@pytest.mark.parametrize("driver", [EvmDRT, SumsimDRT])
def test_same_key_rewrites_a_record_with_nothing_left(driver: type[Any]) -> None:
    """The original rewrites the record under a key when nothing is left to claim from it: a
    zero deposit, or one refunded in its own block (t_r = 0).  The new add is a contribution
    of its own; both ids then name the rewritten record, whose claimed flags stay.  (Both
    the EVM contract and sumsim's.)"""
    d = driver(WEIGHTS, cost_weight=W, refund_wait_s=0, owner_claim_wait_s=T_O,
               any_address_claim_wait_s=T_A, wallets={"a": RICH, "b": RICH}, start_time=T0)
    t = T0 + 100_000_000                                   # isqrt(dt) = 10,000
    first = pay(d, "a", [0, 1], 1, t)                      # predicted 1 already: no update
    assert claimable(d, first) == FULL // 10_000
    assert d.add("a", [0, 1], 1, FULL, t).reason == CONFLICT
    assert d.refund("a", first, t).value == FULL // 10_000  # t_r = 0: in the same block
    second = pay(d, "a", [0, 1], 1, t)                     # the record is rewritten
    assert (first, second) == (0, 1) and d.state().num_contributions == 2
    assert claimable(d, first) == claimable(d, second) == FULL  # the block's second add
    # a's flag survives the rewrite: its refund of either id is refused, anyone may take it
    # after t_a, and then nothing is left under either id.
    assert d.refund("a", second, t).reason == CLAIMED_BY_AUTHOR
    assert d.refund("a", first, t).reason == CLAIMED_BY_AUTHOR
    assert d.report("b", first, t + T_A).value == FULL
    assert claimable(d, first) == claimable(d, second) == 0
    assert d.report("b", second, t + T_A).reason == NOTHING_CLAIMABLE
    assert d.state().contract_balance == 0


@pytest.mark.parametrize("driver", [EvmDRT, SumsimDRT])
def test_zero_deposits_rewrite_their_record(driver: type[Any]) -> None:
    d = driver(WEIGHTS, cost_weight=0, refund_wait_s=T_R, owner_claim_wait_s=T_O,
               any_address_claim_wait_s=T_A, wallets={"a": RICH}, start_time=T0)
    first = pay(d, "a", [0], 1, T0 + 5)
    second = pay(d, "a", [0], 1, T0 + 5)                   # nothing claimable: rewritten
    assert (first, second) == (0, 1)
    assert d.refund("a", second, T0 + 5 + T_R).reason == NOTHING_CLAIMABLE


def test_time_cannot_go_back() -> None:
    d = make()
    assert d.add("a", [0], 1, FULL, T0 + 10).ok
    with pytest.raises(ValueError, match="goes back"):
        d.add("a", [1], 1, FULL, T0 + 9)


# -- model ------------------------------------------------------------------------------------
def test_predict_zero_score_is_class_zero() -> None:
    d = make(weights=[5, -3, 2, 0], intercept=-2)
    assert d.predict([0, 1]) == 0      # -2 + 5 - 3 = 0
    assert d.predict([0]) == 1         # 3
    assert d.predict([0, 1, 2]) == 1   # 2
    assert d.predict([]) == 0          # -2
    assert d.predict([3]) == 0         # -2
    assert make(weights=[0, 0], intercept=0).predict([0, 1]) == 0


def test_update_only_when_wrong_and_intercept_fixed() -> None:
    d = make(weights=[5, -3, 2, 0], intercept=-2, learning_rate=7)
    pay(d, "a", [0], 1, T0)                   # predicts 1: no update
    assert d.weights() == [5, -3, 2, 0]
    pay(d, "a", [0, 1], 1, T0 + 1)            # score 0 predicts 0: +7 on 0 and 1
    assert d.weights() == [12, 4, 2, 0]
    pay(d, "a", [1, 2, 3], 0, T0 + 2)         # score 4 predicts 1: -7 on 1, 2, 3
    assert d.weights() == [12, -3, -5, -7]
    pay(d, "a", [3], 0, T0 + 3)               # score -9 predicts 0: no update
    assert d.weights() == [12, -3, -5, -7]
    assert d.intercept() == -2


# -- refund -----------------------------------------------------------------------------------
def test_refund_waits_t_r_and_pays_everything() -> None:
    d = make()
    cid = pay(d, "a", [0, 1], 1, T0 + 100)
    deposit = FULL // 10
    early = d.refund("a", cid, T0 + 100 + T_R - 1)
    assert (early.ok, early.reason, early.received) == (False, TOO_SOON, 0)
    assert d.refund("b", cid, T0 + 100 + T_R).reason == NOT_AUTHOR
    res = d.refund("a", cid, T0 + 100 + T_R)
    assert res.ok and res.value == deposit and res.received == deposit
    assert d.balance("a") == RICH
    st = d.state()
    assert st.claimable == [0] and st.num_valid["a"] == 1 and st.total_good == 1
    assert d.refund("a", cid, T0 + 100 + T_R).reason == CLAIMED_BY_AUTHOR


def test_refund_needs_the_model_to_agree() -> None:
    d = make()
    cid = pay(d, "a", [0], 0, T0)     # w0 = 10 predicts 1; update to 9, still predicts 1
    assert d.refund("a", cid, T0 + T_R).reason == MODEL_DISAGREES


def test_refund_and_report_check_id_data_and_value() -> None:
    d = make()
    cid = pay(d, "a", [0, 1], 1, T0)
    t = T0 + T_R
    assert d.refund("a", 5, t).reason == "Data not found."
    assert d.refund("a", cid, t, x=[0]).reason == "Data does not match the contribution."
    assert d.report("b", cid, t, x=[1, 0]).reason == "Data does not match the contribution."
    for method in (d.refund, d.report):
        res = method("a", cid, t, value=1)
        assert (res.ok, res.reason) == (False, "This method does not accept ether.")
    assert d.balance("a") == RICH - FULL


# -- report -----------------------------------------------------------------------------------
def good_data(d: EvmDRT, counts: dict[str, int], t: int) -> int:
    """Give each wallet ``counts[wallet]`` good contributions, added at ``t`` and refunded at
    ``t + T_R``; return ``t + T_R``."""
    cids = [(w, pay(d, w, [k], 1, t)) for w, n in counts.items() for k in range(n)]
    t += T_R
    for w, cid in cids:
        assert d.refund(w, cid, t).ok
    return t


def test_report_takes_a_share_proportional_to_good_data() -> None:
    d = make()
    good_data(d, {"a": 1, "b": 3}, T0)                     # total_good = 4
    t = T0 + 300**2                                        # isqrt(dt) = 300
    bad = pay(d, "c", [2], 0, t)                           # predicts 1 before and after
    deposit = FULL // 300
    assert claimable(d, bad) == deposit == 12 * 10**12
    assert d.report("a", bad, t + T_R - 1).reason == TOO_SOON
    t += T_R
    assert d.report("o", bad, t).reason == NO_GOOD_DATA
    assert d.report("c", bad, t).reason == OWN_DATA
    res = d.report("a", bad, t)
    assert res.ok and res.value == res.received == deposit * 1 // 4
    assert d.report("a", bad, t).reason == CLAIMED_BY_REPORTER
    res = d.report("b", bad, t)
    assert res.ok and res.value == deposit * 3 // 4 == 9 * 10**12
    assert d.state().claimable[bad] == 0
    assert d.report("a", bad, t + T_A).reason == NOTHING_CLAIMABLE


def test_report_share_of_three() -> None:
    d = make()
    good_data(d, {"a": 1, "b": 2}, T0)                     # total_good = 3
    t = T0 + 300**2
    bad = pay(d, "c", [2], 0, t)                           # deposit 12e12
    t += T_R
    a = d.report("a", bad, t)
    b = d.report("b", bad, t)
    assert (a.value, b.value) == (4 * 10**12, 8 * 10**12)
    assert claimable(d, bad) == 0


def test_report_needs_the_model_to_disagree() -> None:
    d = make()
    t = good_data(d, {"a": 1}, T0)
    fine = pay(d, "c", [3], 1, t)
    assert d.report("a", fine, t + T_R).reason == MODEL_AGREES


def test_report_reward_capped_by_claimable() -> None:
    d = make()
    t = good_data(d, {"a": 1, "b": 1}, T0)                 # total_good = 2
    bad = pay(d, "c", [2], 0, t)
    deposit = claimable(d, bad)
    assert deposit == FULL // 293                          # dt = T_R
    t += T_R
    assert d.report("a", bad, t).value == deposit // 2     # 1 of 2
    # b refunds two more good contributions: 3 of 4 would be more than what is left.
    t = good_data(d, {"b": 2}, t)
    assert d.state().total_good == 4 and deposit * 3 // 4 > deposit - deposit // 2
    res = d.report("b", bad, t)
    assert res.value == deposit - deposit // 2 and claimable(d, bad) == 0


def test_report_zero_share_takes_everything() -> None:
    d = make(cost_weight=1)
    good_data(d, {"a": 1, "b": 1}, T0)
    t = T0 + 3600**2                                       # isqrt = 3600: deposit 1 wei
    bad = pay(d, "c", [2], 0, t)
    assert claimable(d, bad) == 1
    res = d.report("a", bad, t + T_R)                      # 1 * 1 // 2 == 0
    assert res.ok and res.value == 1


def test_owner_takes_after_owner_wait_only_if_a_wallet() -> None:
    d = make(owner="o")
    bad = pay(d, "c", [2], 0, T0)
    assert d.report("o", bad, T0 + T_O - 1).reason == NO_GOOD_DATA
    res = d.report("o", bad, T0 + T_O)
    assert res.ok and res.value == FULL and d.balance("o") == RICH + FULL
    # The owner path needs no disagreement either: a good contribution can be taken.
    good = pay(d, "a", [3], 1, T0 + T_O)
    assert claimable(d, good) == FULL // 657               # isqrt(5 days) = 657
    assert d.report("o", good, T0 + 2 * T_O).value == FULL // 657

    # With the zero address as owner nobody can use the owner path.
    d = make(owner=None)
    bad = pay(d, "c", [2], 0, T0)
    assert d.report("o", bad, T0 + T_O).reason == NO_GOOD_DATA
    assert d.report("o", bad, T0 + T_A - 1).reason == NO_GOOD_DATA


def test_any_address_takes_everything_after_t_a() -> None:
    d = make()
    t = good_data(d, {"a": 1}, T0)
    bad = pay(d, "c", [2], 0, t)
    assert d.report("c", bad, t + T_A - 1).reason == OWN_DATA
    res = d.report("c", bad, t + T_A)                      # the author, after t_a
    assert res.ok and res.value == FULL // 293
    # Nor does a previous claim matter after t_a: b takes 1 of 2 early, then the rest.
    t = good_data(d, {"b": 1}, t + T_A)                    # total_good = 2
    bad = pay(d, "c", [4], 0, t)
    deposit = claimable(d, bad)
    assert d.report("b", bad, t + T_R).value == deposit // 2
    assert d.report("b", bad, t + T_R).reason == CLAIMED_BY_REPORTER
    assert d.report("b", bad, t + T_A).value == deposit - deposit // 2
    # A good contribution is no safer: anyone takes it after t_a.
    good = pay(d, "a", [6], 1, t + T_A)
    deposit = claimable(d, good)
    assert d.report("o", good, t + 2 * T_A).value == deposit > 0


def _later_claims(driver: type[Any]) -> tuple[int, int]:
    """Gas saved by a record's claim counter already being non-zero (a's report after b's,
    against a's as the first) and by the claimer's flag already being set (b taking the rest
    after t_a having reported before, against b taking it after a's report)."""
    def setup(first: str | None) -> tuple[Any, int, int]:
        d = driver(WEIGHTS, cost_weight=W, refund_wait_s=T_R, owner_claim_wait_s=T_O,
                   any_address_claim_wait_s=T_A, wallets={w: RICH for w in "abco"},
                   start_time=T0)
        t = good_data(d, {"a": 1, "b": 1, "o": 1}, T0)     # total_good = 3
        bad = pay(d, "c", [2, 3], 0, t)
        if first is not None:
            res = d.report(first, bad, t + T_R)
            assert res.ok and 0 < res.value < claimable(d, bad) + res.value, res
        return d, bad, t

    d, bad, t = setup(None)
    first = d.report("a", bad, t + T_R)
    d, bad, t = setup("b")
    second = d.report("a", bad, t + T_R)
    d, bad, t = setup("a")
    fresh_flag = d.report("b", bad, t + T_A)
    d, bad, t = setup("b")
    same_flag = d.report("b", bad, t + T_A)
    for res in (first, second, fresh_flag, same_flag):
        assert res.ok, res
    assert claimable(d, bad) == 0
    return first.gas - second.gas, fresh_flag.gas - same_flag.gas


def test_a_later_claim_costs_what_the_evm_charges() -> None:
    """The data handler counts a record's claims and marks each claimer: the counter is a new
    slot on the first claim and an update after it, and a claimer's flag is rewritten
    unchanged when it claimed before.  sumsim's gas for such claims differs from a first claim
    by exactly what the EVM charges the contract for the same pairs of calls."""
    evm = _later_claims(EvmDRT)
    assert evm[0] > 0 and evm[1] > 0  # (the EVM side: an update and a no-op are cheaper)
    assert _later_claims(SumsimDRT) == evm


def test_money_is_conserved() -> None:
    d = make(owner="o")
    t = good_data(d, {"a": 2, "b": 1}, T0)
    pay(d, "c", [2], 0, t)
    d.report("a", 3, t + T_R)
    d.add("c", [1], 1, 10**18, t + T_R + 7)
    st = d.state()
    assert sum(st.balances.values()) + st.contract_balance == 4 * RICH
    assert st.contract_balance == sum(st.claimable)


# -- gas --------------------------------------------------------------------------------------
GAS_SIZES = (10, 50, 100)


def measure_gas(n: int, driver: type[Any] = EvmDRT) -> dict[str, int]:
    """Gas of each transaction kind with ``n`` present features (1000-word vocabulary, all
    weights 2: label 1 is learnt already, label 0 moves each weight 2 -> 1 without changing
    the prediction).  Deposits are paid exactly, 600 s apart, as in ../shared/evm-gas.md.
    ``driver``: the EVM contract, or sumsim's (``sumsim_drt.SumsimDRT``, whose gas is sumsim's
    structural model of the original contracts on the Prague fork)."""
    d = driver([2] * 1000, cost_weight=W, refund_wait_s=T_R, owner_claim_wait_s=T_A,
               any_address_claim_wait_s=T_A, wallets={"a": RICH, "b": RICH, "c": RICH},
               start_time=T0)
    x = list(range(0, 2 * n, 2))
    odd = [i + 1 for i in x]
    t = T0 + 600
    warm_up = pay(d, "a", odd, 1, t)
    gas = {}
    t += 600
    res = d.add("a", x, 1, d.required_deposit(t), t)
    assert res.ok, res.reason
    gas["add_data, no update"] = res.gas
    t += 600
    res = d.add("b", x, 0, d.required_deposit(t), t)
    assert res.ok and d.weights()[x[0]] == 1, res.reason
    gas["add_data, update"] = res.gas
    t += 600
    assert d.add("b", odd, 0, d.required_deposit(t), t).ok
    t += T_R
    res = d.refund("a", warm_up, t)
    assert res.ok, res.reason
    gas["refund (first)"] = res.gas
    res = d.refund("a", 1, t)
    assert res.ok, res.reason
    gas["refund"] = res.gas
    res = d.report("a", 2, t)
    assert res.ok, res.reason
    gas["report"] = res.gas
    res = d.report("c", 3, t - T_R + T_A)
    assert res.ok, res.reason
    gas["take after t_a"] = res.gas
    return gas


def test_gas_grows_with_features() -> None:
    table = {n: measure_gas(n) for n in GAS_SIZES}
    for kind in table[GAS_SIZES[0]]:
        row = [table[n][kind] for n in GAS_SIZES]
        print(f"{kind}: {row}")
        assert row[0] > 21_000
        assert row == sorted(row) and row[0] < row[-1]


if __name__ == "__main__":  # print the README's gas table
    measured = {n: measure_gas(n) for n in GAS_SIZES}
    modelled = {n: measure_gas(n, SumsimDRT) for n in GAS_SIZES}
    print("| transaction | " + " | ".join(f"n = {n}: EVM / sumsim" for n in GAS_SIZES) + " |")
    print("|---|" + "---|" * len(GAS_SIZES))
    for kind in measured[GAS_SIZES[0]]:
        print(f"| {kind} | " + " | ".join(f"{measured[n][kind]:,} / {modelled[n][kind]:,}"
                                          for n in GAS_SIZES) + " |")
