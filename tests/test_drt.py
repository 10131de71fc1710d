"""Deposit, Refund and Take: hand-worked figures from the DESIGN formulas, through the chain.

All worlds use ``block_time_s = 1`` and submit half a second before the wanted block, so a call
executes with ``now`` exactly the time the test names.  Expected amounts are written out from the
formulas (``deposit = w * 3600 // isqrt(dt)``, ``reward = initial * num_valid // total_good``),
never read back from the code under test.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import simpy

from stubs import VerdictModel
from sumsim.chain import FEE_SINK, REVERTED, SUCCESS, Chain, Receipt, Tx
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.mechanisms.drt import CLAIMED_BY_AUTHOR, CLAIMED_BY_REPORTER, DepositRefundTake

TRAINER = "trainer"
OWNER = "owner"
T_R, T_O, T_A = 100, 200, 300
GAS = 2_000_000
GAS_PRICE = 3
FUNDS = 10**15
W = 1_000

NOT_ENOUGH = "Didn't pay enough for the deposit."
TOO_SOON = "Not enough time has passed."


class World:
    """A chain with one DRT trainer whose model the test controls; 1-second blocks."""

    def __init__(self, *, w: int = W, agents: tuple[str, ...] = ("alice", "bob", "carol", "dave",
                                                                  "erin", "mallory")) -> None:
        self.env = simpy.Environment()
        self.chain = Chain(self.env, block_time_s=1, gas_price_wei=GAS_PRICE)
        for a in agents:
            self.chain.ledger.open(a, FUNDS)
        self.chain.ledger.open(OWNER, FUNDS)
        self.model = VerdictModel(16)
        self.im = DepositRefundTake(refund_wait_s=T_R, owner_claim_wait_s=T_O,
                                    any_address_claim_wait_s=T_A, cost_weight=w)
        self.trainer = CollaborativeTrainer(TRAINER, self.chain.ledger, self.model, self.im,
                                            owner=OWNER)
        self.chain.deploy(self.trainer)
        self._next_feature = 0

    # -- driving the chain ---------------------------------------------------------------
    def block(self, at: int, calls: list[tuple[str, str, tuple[Any, ...], int]]) -> list[Receipt]:
        """Put ``calls`` (sender, method, args, value) in the block stamped ``at``."""
        env = self.env
        assert not self.chain.pending
        assert at - 0.5 >= env.now, f"time {at} is in the past (now {env.now})"
        if at - 0.5 > env.now:
            env.run(until=at - 0.5)
        txs = [self.chain.submit(Tx(s, TRAINER, m, a, v, GAS, GAS_PRICE)) for s, m, a, v in calls]
        env.run(until=at + 0.5)
        out = []
        for tx in txs:
            assert tx.receipt is not None and tx.receipt.timestamp == at
            assert tx.receipt.fee == tx.receipt.gas_used * GAS_PRICE
            out.append(tx.receipt)
        return out

    def call(self, at: int, sender: str, method: str, args: tuple[Any, ...],
             value: int = 0) -> Receipt:
        return self.block(at, [(sender, method, args, value)])[0]

    def fresh_x(self) -> np.ndarray:
        self._next_feature += 1
        return np.array([self._next_feature], dtype=np.int64)

    def add(self, at: int, sender: str, *, y: int = 1, value: int | None = None,
            agreed: bool = True) -> int:
        """A successful add of a fresh sample; the model agrees with it unless told otherwise."""
        x = self.fresh_x()
        self.model.say(x, y if agreed else 1 - y)
        r = self.call(at, sender, "add_data", (x, y), W * 3600 if value is None else value)
        assert r.status == SUCCESS, r
        return int(r.result)

    def refund(self, at: int, sender: str, cid: int) -> Receipt:
        return self.call(at, sender, "refund", (cid,))

    def report(self, at: int, sender: str, cid: int) -> Receipt:
        return self.call(at, sender, "report", (cid,))

    def agree(self, cid: int, agrees: bool) -> None:
        rec = self.trainer.data.records[cid]
        self.model.say(rec.x, rec.y if agrees else 1 - rec.y)

    # -- reading -------------------------------------------------------------------------
    def bal(self, who: str) -> int:
        return self.chain.ledger.balance(who)

    def rec(self, cid: int):  # type: ignore[no-untyped-def]
        return self.trainer.data.records[cid]

    def state(self) -> dict[str, Any]:
        return {
            "balances": dict(self.chain.ledger.balances),
            "records": [(r.id, r.author, r.x.tobytes(), r.y, r.added_time, r.initial_deposit,
                         r.claimable, frozenset(r.claimed_by), r.refunded, r.taken)
                        for r in self.trainer.data.records],
            "im": self.im.summary(),
        }

    def good_data(self, at: int, counts: dict[str, int]) -> int:
        """Give each address ``counts[a]`` refunded good contributions; returns the next free time.

        Adds are at ``at, at+1, ...``; refunds ``T_R`` later.
        """
        cids: list[tuple[str, int]] = []
        t = at
        for who, n in counts.items():
            for _ in range(n):
                cids.append((who, self.add(t, who)))
                t += 1
        t = max(t, at + T_R)
        for who, cid in cids:
            r = self.refund(t, who, cid)
            assert r.status == SUCCESS, r
            t += 1
        return t

    def assert_reverted_with_fee_only(self, before: dict[str, Any], r: Receipt, sender: str,
                                      reason: str | None = None) -> None:
        assert r.status == REVERTED, r
        if reason is not None:
            assert r.reason == reason
        expected = dict(before["balances"])
        expected[sender] -= r.fee
        expected[FEE_SINK] += r.fee
        after = self.state()
        assert after["balances"] == expected
        assert after["records"] == before["records"]
        assert after["im"] == before["im"]


def drt_deposit(w: int, dt: int) -> int:
    """The DESIGN formula, written out."""
    if w == 0:
        return 0
    return w * 3600 // (1 if dt == 0 else math.isqrt(dt))


# -- deposits ---------------------------------------------------------------------------------

class TestDeposit:
    def test_formula_figures(self) -> None:
        # w = 1000: w * 3600 = 3_600_000
        assert drt_deposit(W, 0) == 3_600_000
        assert drt_deposit(W, 1) == 3_600_000  # isqrt(1) = 1
        assert drt_deposit(W, 3) == 3_600_000  # isqrt(3) = 1
        assert drt_deposit(W, 4) == 1_800_000  # isqrt(4) = 2
        assert drt_deposit(W, 99) == 400_000  # isqrt(99) = 9
        assert drt_deposit(W, 100) == 360_000  # isqrt(100) = 10
        assert drt_deposit(W, 86_400) == 12_286  # isqrt(86400) = 293; 3_600_000 // 293

    def test_deposits_at_several_gaps(self) -> None:
        world = World()
        # (block time, expected deposit, gap since the previous successful add)
        plan = [
            (10, 3_600_000 // 3, 10),  # first add: last update at start_time 0, isqrt(10) = 3
            (11, 3_600_000, 1),
            (14, 3_600_000, 3),
            (18, 1_800_000, 4),
            (117, 400_000, 99),
            (217, 360_000, 100),
            (86_617, 12_286, 86_400),
        ]
        prev = 0
        for at, expected, dt in plan:
            assert at - prev == dt
            assert expected == drt_deposit(W, dt)
            # the free view, asked for the coming block time, agrees
            assert world.chain.view(TRAINER, "required_deposit", int(at)) == expected
            before = world.bal("alice")
            pay = 3_600_000 + 777
            cid = world.add(at, "alice", value=pay)
            fee = world.chain.receipts[-1][1].fee
            rec = world.rec(cid)
            assert rec.initial_deposit == rec.claimable == expected
            assert rec.added_time == at
            # only the deposit (and the fee) left the sender: the excess came back
            assert world.bal("alice") == before - expected - fee
            prev = at
        assert world.bal(TRAINER) == sum(e for _, e, _ in plan)

    def test_two_adds_in_one_block_second_pays_full(self) -> None:
        world = World()
        xa, xb = world.fresh_x(), world.fresh_x()
        ra, rb = world.block(100, [("alice", "add_data", (xa, 1), 3_600_000),
                                   ("bob", "add_data", (xb, 0), 3_600_000)])
        assert ra.ok and rb.ok
        assert world.rec(0).initial_deposit == 360_000  # dt = 100
        assert world.rec(1).initial_deposit == 3_600_000  # dt = 0 -> divisor 1
        # underpaying the second add of a block reverts even at the first add's price
        world2 = World()
        ra, rb = world2.block(100, [("alice", "add_data", (xa, 1), 360_000),
                                    ("bob", "add_data", (xb, 0), 360_000)])
        assert ra.ok and rb.status == REVERTED and rb.reason == NOT_ENOUGH

    def test_zero_weight_means_free_contributions(self) -> None:
        world = World(w=0)
        assert world.chain.view(TRAINER, "required_deposit", 1.0) == 0
        before = world.bal("alice")
        cid = world.add(1, "alice", value=0)
        fee1 = world.chain.receipts[-1][1].fee
        cid2 = world.add(1 + 1, "alice", value=5_000)  # any value is returned in full
        fee2 = world.chain.receipts[-1][1].fee
        assert world.rec(cid).initial_deposit == world.rec(cid2).initial_deposit == 0
        assert world.bal("alice") == before - fee1 - fee2
        assert world.bal(TRAINER) == 0
        # nothing to refund or take
        r = world.refund(1 + T_R, "alice", cid)
        assert r.status == REVERTED and r.reason == "There is no reward left to claim."
        r = world.report(1 + T_A, OWNER, cid)
        assert r.status == REVERTED and r.reason == "There is no reward left to claim."

    def test_underpaying_reverts_and_charges_only_the_fee(self) -> None:
        world = World()
        world.add(10, "alice")
        x = world.fresh_x()
        need = drt_deposit(W, 99)
        assert need == 400_000
        before = world.state()
        r = world.call(109, "bob", "add_data", (x, 1), need - 1)
        world.assert_reverted_with_fee_only(before, r, "bob", NOT_ENOUGH)
        # the failed add did not move last_update_time: an add one second later sees dt = 100
        r = world.call(110, "bob", "add_data", (x, 1), 360_000)
        assert r.ok and world.rec(1).initial_deposit == 360_000


# -- refunds ----------------------------------------------------------------------------------

class TestRefund:
    def test_refund_at_exactly_t_r(self) -> None:
        world = World()
        cid = world.add(50, "alice")
        deposit = world.rec(cid).initial_deposit
        assert deposit == drt_deposit(W, 50) == 3_600_000 // 7
        before = world.state()
        r = world.refund(50 + T_R - 1, "alice", cid)
        world.assert_reverted_with_fee_only(before, r, "alice", TOO_SOON)
        bal = world.bal("alice")
        r = world.refund(50 + T_R, "alice", cid)
        assert r.ok and r.result == deposit
        assert world.bal("alice") == bal + deposit - r.fee
        rec = world.rec(cid)
        assert (rec.claimable, rec.refunded, rec.taken) == (0, deposit, 0)
        assert rec.claimed_by == ("alice",)
        assert world.im.num_valid == {"alice": 1} and world.im.total_good == 1
        assert world.bal(TRAINER) == 0

    def test_refund_when_model_disagrees_reverts(self) -> None:
        world = World()
        cid = world.add(10, "alice", agreed=False)
        before = world.state()
        r = world.refund(10 + T_R, "alice", cid)
        world.assert_reverted_with_fee_only(
            before, r, "alice", "The model doesn't agree with your contribution.")
        world.agree(cid, True)  # the model comes round
        assert world.refund(10 + T_R + 1, "alice", cid).ok

    def test_refund_by_non_author_reverts(self) -> None:
        world = World()
        cid = world.add(10, "alice")
        for who in ("bob", OWNER):
            before = world.state()
            r = world.refund(10 + T_A + (who == OWNER), who, cid)
            world.assert_reverted_with_fee_only(
                before, r, who, "Data not found.")

    def test_second_refund_reverts(self) -> None:
        world = World()
        cid = world.add(10, "alice")
        assert world.refund(10 + T_R, "alice", cid).ok
        before = world.state()
        r = world.refund(10 + T_R + 1, "alice", cid)
        world.assert_reverted_with_fee_only(before, r, "alice")
        # (the original checks the author's claim before the amount left)
        assert r.reason == CLAIMED_BY_AUTHOR
        assert world.im.num_valid == {"alice": 1} and world.im.total_good == 1

    def test_refund_of_what_is_left_after_a_take(self) -> None:
        world = World()
        t = world.good_data(1, {"bob": 1, "carol": 1})  # total_good = 2
        cid = world.add(t, "alice", agreed=False)
        d = world.rec(cid).initial_deposit
        r = world.report(t + T_R, "bob", cid)
        assert r.ok and r.result == d * 1 // 2
        world.agree(cid, True)
        r = world.refund(t + T_R + 1, "alice", cid)
        assert r.ok and r.result == d - d // 2
        rec = world.rec(cid)
        assert rec.refunded + rec.taken == d and rec.claimable == 0


# -- reports ----------------------------------------------------------------------------------

class TestReport:
    def test_rewards_split_by_num_valid(self) -> None:
        world = World()
        t = world.good_data(1, {"bob": 1, "carol": 3})  # num_valid 1 and 3, total_good 4
        assert world.im.num_valid == {"bob": 1, "carol": 3} and world.im.total_good == 4
        start = t
        cid = world.add(start, "mallory", agreed=False)
        dt = start - 4  # the last good add was at time 4
        d = drt_deposit(W, dt)
        assert world.rec(cid).initial_deposit == d
        before = world.state()
        r = world.report(start + T_R - 1, "bob", cid)
        world.assert_reverted_with_fee_only(before, r, "bob", TOO_SOON)
        bob, carol = world.bal("bob"), world.bal("carol")
        r1 = world.report(start + T_R, "bob", cid)
        r3 = world.report(start + T_R + 1, "carol", cid)
        assert r1.ok and r3.ok
        assert r1.result == d * 1 // 4
        assert r3.result == d * 3 // 4
        assert world.bal("bob") == bob + d * 1 // 4 - r1.fee
        assert world.bal("carol") == carol + d * 3 // 4 - r3.fee
        rec = world.rec(cid)
        assert rec.taken == d // 4 + 3 * d // 4
        assert rec.claimable == d - d // 4 - 3 * d // 4
        assert set(rec.claimed_by) == {"bob", "carol"}

    def test_floor_leaves_a_remainder_for_the_owner(self) -> None:
        world = World()
        t = world.good_data(1, {"bob": 1, "carol": 3})
        # pick an add time whose deposit is not divisible by 4
        at = t
        while drt_deposit(W, at - 4) % 4 == 0:
            at += 1
        d = drt_deposit(W, at - 4)
        assert d % 4 != 0
        cid = world.add(at, "mallory", agreed=False)
        assert world.rec(cid).initial_deposit == d
        assert world.report(at + T_R, "bob", cid).result == d // 4
        assert world.report(at + T_R + 1, "carol", cid).result == d * 3 // 4
        left = d - d // 4 - d * 3 // 4
        assert left == world.rec(cid).claimable > 0
        before = world.state()
        r = world.report(at + T_O - 1, OWNER, cid)  # owner without good data, too early
        world.assert_reverted_with_fee_only(before, r, OWNER)
        r = world.report(at + T_O, OWNER, cid)
        assert r.ok and r.result == left
        assert world.rec(cid).claimable == 0

    def test_worked_figures_with_round_numbers(self) -> None:
        """d = 300_000 (dt = 144): 1/4 -> 75_000, 3/4 -> 225_000, nothing left."""
        world = World()
        t = world.good_data(1, {"bob": 1, "carol": 3})  # last good add at time 4
        at = 4 + 144
        assert t <= at
        cid = world.add(at, "mallory", agreed=False)
        assert world.rec(cid).initial_deposit == 300_000
        assert world.report(at + T_R, "carol", cid).result == 225_000
        assert world.report(at + T_R + 5, "bob", cid).result == 75_000
        assert world.rec(cid).claimable == 0
        r = world.report(at + T_A, OWNER, cid)
        assert r.status == REVERTED and r.reason == "There is no reward left to claim."

    def test_reward_larger_than_what_is_left_takes_the_remainder(self) -> None:
        world = World()
        t = world.good_data(1, {"bob": 1, "carol": 1})  # total_good = 2
        cid = world.add(t, "mallory", agreed=False)
        d = world.rec(cid).initial_deposit
        r = world.report(t + T_R, "bob", cid)
        assert r.ok and r.result == d * 1 // 2
        # carol gets two more good contributions: num_valid 3, total_good 4
        t2 = world.good_data(t + T_R + 1, {"carol": 2})
        assert world.im.num_valid["carol"] == 3 and world.im.total_good == 4
        assert t2 < t + T_A
        share = d * 3 // 4
        left = d - d // 2
        assert share > left
        r = world.report(t2, "carol", cid)
        assert r.ok and r.result == left
        assert world.rec(cid).claimable == 0

    def test_zero_reward_takes_all_that_is_claimable(self) -> None:
        world = World(w=1)
        t = world.good_data(1, {"bob": 1, "carol": 1})  # total_good = 2
        last_add = 2  # bob's at 1, carol's at 2
        at = last_add + 2000 * 2000  # dt = 4_000_000, isqrt = 2000
        d = drt_deposit(1, at - last_add)
        assert d == 3600 // 2000 == 1
        assert at > t
        cid = world.add(at, "mallory", value=3600, agreed=False)
        assert world.rec(cid).initial_deposit == 1
        assert 1 * 1 // 2 == 0  # bob's formula share rounds to nothing
        r = world.report(at + T_R, "bob", cid)
        assert r.ok and r.result == 1
        assert world.rec(cid).claimable == 0
        r = world.report(at + T_R + 1, "carol", cid)
        assert r.status == REVERTED and r.reason == "There is no reward left to claim."

    def test_reporter_without_good_data_reverts(self) -> None:
        world = World()
        world.good_data(1, {"bob": 1})
        cid = world.add(200, "mallory", agreed=False)
        before = world.state()
        r = world.report(200 + T_R, "dave", cid)
        world.assert_reverted_with_fee_only(
            before, r, "dave", "The sender has not sent any good data.")

    def test_author_cannot_report_own_data_before_t_a(self) -> None:
        world = World()
        world.good_data(1, {"alice": 2})  # the author even has good data
        cid = world.add(300, "alice", agreed=False)
        d = world.rec(cid).initial_deposit
        own = "Cannot take your own deposit."
        for at in (300 + T_R, 300 + T_O, 300 + T_A - 1):
            before = world.state()
            r = world.report(at, "alice", cid)
            world.assert_reverted_with_fee_only(before, r, "alice", own)
        r = world.report(300 + T_A, "alice", cid)
        assert r.ok and r.result == d

    def test_reporting_twice_reverts(self) -> None:
        world = World()
        t = world.good_data(1, {"bob": 1, "carol": 3})
        cid = world.add(t, "mallory", agreed=False)
        assert world.report(t + T_R, "bob", cid).ok
        before = world.state()
        r = world.report(t + T_R + 1, "bob", cid)
        world.assert_reverted_with_fee_only(before, r, "bob", CLAIMED_BY_REPORTER)

    def test_report_when_model_agrees_reverts_before_t_a(self) -> None:
        world = World()
        t = world.good_data(1, {"bob": 1})
        cid = world.add(t, "mallory", agreed=True)
        d = world.rec(cid).initial_deposit
        for at in (t + T_R, t + T_O, t + T_A - 1):
            before = world.state()
            r = world.report(at, "bob", cid)
            world.assert_reverted_with_fee_only(
                before, r, "bob", "The model should not agree with the contribution.")
        r = world.report(t + T_A, "bob", cid)  # anyone takes all after t_a, agreeing or not
        assert r.ok and r.result == d

    def test_owner_takes_all_after_t_o(self) -> None:
        world = World()
        cid = world.add(10, "alice", agreed=True)
        d = world.rec(cid).initial_deposit
        before = world.state()
        r = world.report(10 + T_O - 1, OWNER, cid)
        world.assert_reverted_with_fee_only(before, r, OWNER)
        # at t_o, in one block: a non-owner is still in the shared-reward regime (and the
        # model agrees), the owner takes everything
        bal, bob = world.bal(OWNER), world.bal("bob")
        rb, r = world.block(10 + T_O, [("bob", "report", (cid,), 0),
                                       (OWNER, "report", (cid,), 0)])
        assert rb.status == REVERTED
        assert rb.reason == "The model should not agree with the contribution."
        assert world.bal("bob") == bob - rb.fee
        assert r.ok and r.result == d
        assert world.bal(OWNER) == bal + d - r.fee
        # the author comes too late
        r = world.refund(10 + T_O + 1, "alice", cid)
        assert r.status == REVERTED and r.reason == "There is no reward left to claim."

    def test_anyone_takes_all_after_t_a(self) -> None:
        world = World()
        cid = world.add(10, "alice", agreed=True)
        d = world.rec(cid).initial_deposit
        before = world.state()
        r = world.report(10 + T_A - 1, "dave", cid)
        world.assert_reverted_with_fee_only(before, r, "dave")
        bal = world.bal("dave")
        r = world.report(10 + T_A, "dave", cid)
        assert r.ok and r.result == d
        assert world.bal("dave") == bal + d - r.fee
        assert world.bal(TRAINER) == 0

    def test_after_t_a_a_reporter_who_took_a_share_takes_the_rest(self) -> None:
        world = World()
        t = world.good_data(1, {"bob": 1, "carol": 1})
        cid = world.add(t, "mallory", agreed=False)
        d = world.rec(cid).initial_deposit
        assert world.report(t + T_R, "bob", cid).result == d // 2
        r = world.report(t + T_A, "bob", cid)
        assert r.ok and r.result == d - d // 2

    def test_unknown_contribution_reverts(self) -> None:
        world = World()
        before = world.state()
        r = world.report(5, "bob", 0)
        world.assert_reverted_with_fee_only(before, r, "bob", "Data not found.")
        r = world.refund(6, "bob", -1)
        assert r.status == REVERTED and r.reason == "Data not found."

    @pytest.mark.parametrize("excess", [1, 999_999])
    def test_excess_value_is_returned(self, excess: int) -> None:
        world = World()
        bal = world.bal("alice")
        d = drt_deposit(W, 16)
        assert d == 900_000  # isqrt(16) = 4
        cid = world.add(16, "alice", value=d + excess)
        fee = world.chain.receipts[-1][1].fee
        assert world.rec(cid).initial_deposit == d
        assert world.bal("alice") == bal - d - fee
        assert world.bal(TRAINER) == d


class TestNonPayable:
    """Only ``add_data`` is payable: ether sent along with a refund or report must not vanish."""

    @pytest.mark.parametrize("method", ["refund", "report"])
    def test_value_sent_with_a_claim_is_not_kept_by_the_contract(self, method: str) -> None:
        world = World()
        cid = world.add(10, "alice", agreed=True)
        d = world.rec(cid).initial_deposit
        sender, at = ("alice", 10 + T_R) if method == "refund" else ("bob", 10 + T_A)
        bal = world.bal(sender)
        r = world.call(at, sender, method, (cid,), 777)
        paid_out = r.result if r.ok else 0
        # Either the call reverts (value returned) or it succeeds and returns the value; the
        # 777 wei must not stay in the contract, where nothing can ever claim it.
        assert world.bal(TRAINER) == world.trainer.data.total_claimable(), (
            f"{method} with value: the contract holds {world.bal(TRAINER)} wei but only "
            f"{world.trainer.data.total_claimable()} is claimable"
        )
        assert world.bal(sender) == bal + paid_out - r.fee
        assert paid_out in (0, d)


class _Greedy(DepositRefundTake):
    """Broken: a report takes twice what is left; an add keeps more than was sent."""

    keep_extra = False

    def check_report(self, rec: Any, reporter: str, now: int, agrees: bool, owner: str) -> int:
        return 2 * super().check_report(rec, reporter, now, agrees, owner)

    def check_add(self, now: int, value: int) -> int:
        return super().check_add(now, value) + (value + 1 if self.keep_extra else 0)


def test_a_mechanism_paying_more_than_is_claimable_is_named() -> None:
    """A mechanism whose claim pays more than its contribution holds is a bug in it: the
    contract names the mechanism and method (not a ledger error at the payment, which could
    also pay the extra from other contributions' deposits unnoticed)."""
    world = World()
    world.im.__class__ = _Greedy
    cid = world.add(10, "alice", agreed=False)
    with pytest.raises(RuntimeError, match=r"_Greedy\.check_report \(test_drt\) gave \d+ wei "
                       r"for contribution 0, which holds \d+ wei claimable"):
        world.report(10 + T_A, "bob", cid)
    world.im.keep_extra = True  # type: ignore[attr-defined]
    with pytest.raises(RuntimeError, match=r"_Greedy\.check_add \(test_drt\) kept \d+ wei of "
                       r"the \d+ wei sent"):
        world.add(10 + T_A + 5, "carol")


@pytest.mark.parametrize(("x", "reason"), [
    ([-1, 2], "Not all indices are >= 0."),
    ([3, 10], "Feature index out of range."),
    ([1, 1, 2], "Feature indices must not repeat."),
    ([5, 2, 5], "Feature indices must not repeat."),
    ([0.5, 2.0], "Feature indices must be integers."),
])
def test_a_sparse_sample_names_each_feature_once_within_the_vocabulary(
        x: list[Any], reason: str) -> None:
    """A strategy's sample the model cannot take is refused as the contract would refuse it
    (a negative index, as the original does), not a crash inside the model; the model and
    the sender's wallet, but for the fee, are as they were."""
    import simpy

    from sumsim.chain import Chain, Tx
    from sumsim.contract.trainer import CollaborativeTrainer
    from sumsim.mechanisms.drt import DRTConfig
    from sumsim.models import Perceptron

    env = simpy.Environment()
    chain = Chain(env, block_time_s=12, gas_price_wei=1)
    chain.ledger.open("a", 10**24)
    model = Perceptron(10)
    trainer = CollaborativeTrainer("contract", chain.ledger, model,
                                   DepositRefundTake.from_config(DRTConfig()))
    chain.deploy(trainer)
    tx = chain.submit(Tx("a", "contract", "add_data", (x, 1), 10**21, 3_000_000, 1))
    env.run(until=13)
    assert tx.receipt is not None and tx.receipt.reason == reason
    assert chain.ledger.balances["a"] == 10**24 - tx.receipt.fee
    assert not trainer.data.records and not model.w.any()
