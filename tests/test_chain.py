"""The simulated chain: ledger, fees, reverts, rejections, mempool order, blocks and gas."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from sumsim.chain import (
    FEE_SINK,
    REJECTED,
    REVERTED,
    SUCCESS,
    Chain,
    InsufficientFunds,
    Ledger,
    Tx,
)
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.mechanisms.drt import DepositRefundTake
from sumsim.models import Perceptron

TRAINER = "trainer"
OWNER = "owner"
W = 1_000  # cost weight (wei): a deposit is at most W * 3600
GAS = 1_000_000  # a gas limit no call in these tests reaches
FUNDS = 10**12


def make_world(
    *,
    block_time_s: float = 12,
    block_gas_limit: int = 30_000_000,
    accounts: dict[str, int] | None = None,
    w: int = W,
    keep_journal: bool = False,
) -> tuple[simpy.Environment, Chain, CollaborativeTrainer]:
    env = simpy.Environment()
    ledger = Ledger(keep_journal=keep_journal)
    chain = Chain(env, block_time_s=block_time_s, block_gas_limit=block_gas_limit,
                  gas_price_wei=1, ledger=ledger)
    for name, wei in (accounts or {"alice": FUNDS, "bob": FUNDS}).items():
        chain.ledger.open(name, wei)
    chain.ledger.open(OWNER, 0)
    im = DepositRefundTake(refund_wait_s=100, owner_claim_wait_s=200,
                           any_address_claim_wait_s=300, cost_weight=w)
    trainer = CollaborativeTrainer(TRAINER, chain.ledger, Perceptron(8), im, owner=OWNER)
    chain.deploy(trainer)
    return env, chain, trainer


def add_tx(sender: str, features: list[int], label: int, *, value: int = W * 3600,
           gas_limit: int = GAS, gas_price: int = 1) -> Tx:
    return Tx(sender, TRAINER, "add_data", (np.array(features, dtype=np.int64), label), value,
              gas_limit, gas_price)


def submit_at(env: simpy.Environment, chain: Chain, t: float, tx: Tx) -> Tx:
    """Submit ``tx`` from a process at simulated time ``t`` (not on a slot boundary)."""

    def proc():  # type: ignore[no-untyped-def]
        yield env.timeout(t - env.now)
        chain.submit(tx)

    env.process(proc())
    return tx


def mine(env: simpy.Environment, chain: Chain, tx: Tx) -> None:
    """Run the clock until ``tx`` has a receipt."""
    limit = env.now + 1000 * chain.block_time_s
    while tx.receipt is None:
        assert env.now < limit, "transaction never mined"
        env.run(until=env.now + chain.block_time_s / 2)


def state_of(chain: Chain, trainer: CollaborativeTrainer) -> dict[str, object]:
    """Everything a call could change: balances, records, mechanism and model state."""
    model = trainer.model
    assert isinstance(model, Perceptron)
    return {
        "balances": dict(chain.ledger.balances),
        "records": [
            (r.id, r.author, r.x.tobytes(), r.y, r.added_time, r.initial_deposit, r.claimable,
             frozenset(r.claimed_by), r.refunded, r.taken)
            for r in trainer.data.records
        ],
        "im": trainer.im.summary(),
        "w": model.w.tobytes(),
        "b": int(model.b),
    }


def only_fee_changed(before: dict, after: dict, sender: str, fee: int) -> None:
    expected = dict(before["balances"])
    expected[sender] -= fee
    expected[FEE_SINK] += fee
    assert after["balances"] == expected
    for key in ("records", "im", "w", "b"):
        assert after[key] == before[key], key


# -- ledger -----------------------------------------------------------------------------------

class TestLedger:
    def test_open_sets_supply_and_rejects_bad_balances(self) -> None:
        ledger = Ledger()
        ledger.open("a", 10)
        ledger.open("b", 0)
        assert ledger.supply == 10 == ledger.total()
        with pytest.raises(ValueError):
            ledger.open("a", 5)  # already exists
        for bad in (-1, 1.0, 1.5, True, np.int64(3)):
            with pytest.raises(ValueError):
                ledger.open(f"bad-{bad!r}", bad)  # type: ignore[arg-type]
        assert ledger.supply == 10 == ledger.total()
        assert ledger.balances == {"a": 10, "b": 0}

    @pytest.mark.parametrize("amount", [1.0, 2.5, np.int64(1), True, "1"])
    def test_transfer_is_integer_only(self, amount: object) -> None:
        ledger = Ledger()
        ledger.open("a", 10)
        ledger.open("b", 0)
        with pytest.raises(TypeError):
            ledger.transfer("a", "b", amount)  # type: ignore[arg-type]
        assert ledger.balances == {"a": 10, "b": 0}

    def test_no_overdraft_no_negative_no_unknown_account(self) -> None:
        ledger = Ledger(keep_journal=True)
        ledger.open("a", 10)
        ledger.open("b", 0)
        with pytest.raises(InsufficientFunds):
            ledger.transfer("a", "b", 11)
        with pytest.raises(ValueError):
            ledger.transfer("a", "b", -1)
        with pytest.raises(KeyError):
            ledger.transfer("a", "nobody", 1)
        with pytest.raises(KeyError):
            ledger.transfer("nobody", "a", 1)
        assert ledger.balances == {"a": 10, "b": 0}
        assert ledger.journal == []
        ledger.transfer("a", "b", 10, now=5.0)  # exactly everything is fine
        assert ledger.balances == {"a": 0, "b": 10}
        assert ledger.journal == [(5.0, "a", "b", 10)]

    def test_zero_transfer_is_a_no_op(self) -> None:
        ledger = Ledger(keep_journal=True)
        ledger.open("a", 0)
        ledger.open("b", 0)
        ledger.transfer("a", "b", 0)
        assert ledger.balances == {"a": 0, "b": 0}
        assert ledger.journal == []

    def test_random_transfers_keep_supply_constant(self) -> None:
        rng = np.random.default_rng(7)
        ledger = Ledger(keep_journal=True)
        names = [f"acct{i}" for i in range(6)]
        for i, name in enumerate(names):
            ledger.open(name, 10**6 * (i + 1))
        supply = ledger.supply
        failed = 0
        for _ in range(2000):
            src, dst = rng.choice(names, size=2)
            amount = int(rng.integers(0, 3 * 10**6))
            before = dict(ledger.balances)
            try:
                ledger.transfer(str(src), str(dst), amount)
            except InsufficientFunds:
                failed += 1
                assert ledger.balances == before
            assert ledger.total() == supply
            assert all(type(v) is int and v >= 0 for v in ledger.balances.values())
        assert failed > 0  # overdrafts were attempted and refused
        # the journal replays to the final balances
        replay = {name: 10**6 * (i + 1) for i, name in enumerate(names)}
        for _, src, dst, amount in ledger.journal:
            replay[src] -= amount
            replay[dst] += amount
        assert replay == ledger.balances


# -- fees, reverts, rejections ----------------------------------------------------------------

class TestFees:
    def test_fee_charged_on_success(self) -> None:
        env, chain, trainer = make_world()
        before = dict(chain.ledger.balances)
        tx = chain.submit(add_tx("alice", [1, 2], 1, gas_price=7))
        mine(env, chain, tx)
        r = tx.receipt
        assert r is not None and r.status == SUCCESS
        assert r.gas_used > 21_000
        assert r.fee == r.gas_used * 7
        deposit = trainer.data.records[0].initial_deposit
        assert deposit > 0
        after = chain.ledger.balances
        assert after["alice"] == before["alice"] - r.fee - deposit
        assert after[FEE_SINK] == before[FEE_SINK] + r.fee
        assert after[TRAINER] == deposit
        assert chain.ledger.total() == chain.ledger.supply

    def test_fee_charged_on_revert_and_nothing_else_changes(self) -> None:
        env, chain, trainer = make_world()
        first = chain.submit(add_tx("alice", [1, 2], 1))
        mine(env, chain, first)
        assert first.receipt is not None and first.receipt.ok
        before = state_of(chain, trainer)
        reverting = [
            add_tx("bob", [3], 0, value=0),  # underpays
            Tx("bob", TRAINER, "refund", (0,), 0, GAS, 5),  # not the author
            Tx("alice", TRAINER, "refund", (0,), 0, GAS, 5),  # too soon
            Tx("bob", TRAINER, "report", (0,), 0, GAS, 5),  # too soon
            Tx("bob", TRAINER, "report", (99,), 0, GAS, 5),  # no such contribution
            Tx("bob", TRAINER, "steal", (), 0, GAS, 5),  # unknown method
            add_tx("bob", [3], 7, gas_price=5),  # unknown class
        ]
        for tx in reverting:
            snapshot = state_of(chain, trainer)
            chain.submit(tx)
            mine(env, chain, tx)
            r = tx.receipt
            assert r is not None and r.status == REVERTED, (tx.method, r)
            assert r.reason
            assert r.fee == r.gas_used * tx.gas_price > 0
            only_fee_changed(snapshot, state_of(chain, trainer), tx.sender, r.fee)
        assert state_of(chain, trainer)["records"] == before["records"]

    def test_revert_returns_the_value_sent(self) -> None:
        env, chain, trainer = make_world()
        tx = chain.submit(Tx("bob", TRAINER, "refund", (0,), 12345, GAS, 3))
        snapshot = state_of(chain, trainer)
        mine(env, chain, tx)
        r = tx.receipt
        assert r is not None and r.status == REVERTED
        only_fee_changed(snapshot, state_of(chain, trainer), "bob", r.fee)
        assert chain.ledger.balance(TRAINER) == 0

    def test_call_to_an_address_without_contract_reverts_for_intrinsic_gas(self) -> None:
        env, chain, trainer = make_world()
        snapshot = state_of(chain, trainer)
        tx = chain.submit(Tx("alice", "nowhere", "anything", (), 500, GAS, 3))
        mine(env, chain, tx)
        r = tx.receipt
        assert r is not None and r.status == REVERTED
        assert r.gas_used == 21_000 and r.fee == 63_000
        only_fee_changed(snapshot, state_of(chain, trainer), "alice", 63_000)

    def test_sender_unable_to_cover_gas_and_value_is_rejected_and_never_included(self) -> None:
        need = GAS * 2 + W * 3600
        env, chain, trainer = make_world(accounts={"alice": need - 1, "bob": need})
        snapshot = state_of(chain, trainer)
        poor = chain.submit(add_tx("alice", [1], 1, gas_price=2))
        r = poor.receipt
        assert r is not None and r.status == REJECTED  # at once, at submission
        assert (r.fee, r.gas_used, r.block) == (0, 0, -1)
        assert chain.pending == []
        unknown = chain.submit(add_tx("mallory", [1], 1))
        assert unknown.receipt is not None and unknown.receipt.status == REJECTED
        env.run(until=10_000)
        assert chain.block_number == 0  # nothing was ever pending: no block
        assert state_of(chain, trainer) == snapshot
        # exactly enough is fine
        ok = chain.submit(add_tx("bob", [1], 1, gas_price=2))
        mine(env, chain, ok)
        assert ok.receipt is not None and ok.receipt.status == SUCCESS

    def test_sender_who_cannot_pay_at_inclusion_is_rejected_without_fee(self) -> None:
        need = GAS + W * 3600
        env, chain, trainer = make_world(accounts={"alice": need + 100_000})
        first = chain.submit(add_tx("alice", [1], 1, gas_price=1))
        second = chain.submit(add_tx("alice", [2], 1, gas_price=1))
        assert second.receipt is None  # each is payable on its own: both wait in the mempool
        mine(env, chain, second)
        assert first.receipt is not None and first.receipt.status == SUCCESS
        r = second.receipt
        assert r.status == REJECTED and r.fee == 0 and r.gas_used == 0
        assert chain.ledger.balance(FEE_SINK) == first.receipt.fee
        assert len(trainer.data.records) == 1
        assert chain.ledger.total() == chain.ledger.supply

    def test_out_of_gas_reverts_charges_the_whole_limit_and_changes_nothing(self) -> None:
        # Measure the exact gas of the call in an identical world first.
        env0, chain0, _ = make_world()
        probe = chain0.submit(add_tx("alice", [1, 5], 1, value=W * 3600 + 99, gas_price=3))
        mine(env0, chain0, probe)
        assert probe.receipt is not None and probe.receipt.ok
        needed = probe.receipt.gas_used

        env, chain, trainer = make_world()
        snapshot = state_of(chain, trainer)
        tx = chain.submit(add_tx("alice", [1, 5], 1, value=W * 3600 + 99, gas_limit=needed - 1,
                                 gas_price=3))
        mine(env, chain, tx)
        r = tx.receipt
        assert r is not None and r.status == REVERTED and r.reason == "Out of gas."
        assert r.gas_used == needed - 1
        assert r.fee == (needed - 1) * 3
        only_fee_changed(snapshot, state_of(chain, trainer), "alice", r.fee)

        exact = chain.submit(add_tx("alice", [1, 5], 1, value=W * 3600 + 99, gas_limit=needed,
                                    gas_price=3))
        mine(env, chain, exact)
        assert exact.receipt is not None and exact.receipt.ok
        assert exact.receipt.gas_used == needed

    def test_out_of_gas_before_intrinsic(self) -> None:
        env, chain, trainer = make_world()
        snapshot = state_of(chain, trainer)
        tx = chain.submit(add_tx("alice", [1], 1, gas_limit=20_000, gas_price=2))
        mine(env, chain, tx)
        r = tx.receipt
        assert r is not None and r.status == REVERTED and r.reason == "Out of gas."
        assert r.gas_used == 20_000 and r.fee == 40_000
        only_fee_changed(snapshot, state_of(chain, trainer), "alice", 40_000)

    def test_excess_value_is_returned(self) -> None:
        env, chain, trainer = make_world()
        before = dict(chain.ledger.balances)
        tx = chain.submit(add_tx("alice", [1, 2, 3], 0, value=W * 3600 + 123_456, gas_price=2))
        mine(env, chain, tx)
        r = tx.receipt
        assert r is not None and r.ok
        # first add at block time 12, last update at 0: dt = 12, isqrt(12) = 3
        deposit = 1_000 * 3600 // 3
        assert deposit == 1_200_000
        assert trainer.data.records[0].initial_deposit == deposit
        assert chain.ledger.balance("alice") == before["alice"] - deposit - r.fee
        assert chain.ledger.balance(TRAINER) == deposit

    def test_value_must_be_a_non_negative_int(self) -> None:
        env, chain, _ = make_world()
        for bad in (-1, 1.0, np.int64(5)):
            with pytest.raises(TypeError):
                chain.submit(add_tx("alice", [1], 1, value=bad))  # type: ignore[arg-type]
        assert chain.pending == []

    def test_views_are_free(self) -> None:
        env, chain, trainer = make_world()
        tx = chain.submit(add_tx("alice", [1], 1))
        mine(env, chain, tx)
        before = dict(chain.ledger.balances)
        receipts = len(chain.receipts)
        assert chain.view(TRAINER, "required_deposit", 12) == W * 3600  # dt = 0
        assert chain.view(TRAINER, "required_deposit", 112) == W * 3600 // 10  # dt = 100
        assert chain.view(TRAINER, "predict", np.array([1])) == 1
        assert chain.view(TRAINER, "num_contributions") == 1
        assert chain.ledger.balances == before
        assert len(chain.receipts) == receipts


# -- mempool and blocks -----------------------------------------------------------------------

class TestBlocks:
    def test_higher_gas_price_executes_first_within_a_block(self) -> None:
        env, chain, trainer = make_world()
        low = submit_at(env, chain, 3.0, add_tx("alice", [1], 1, gas_price=1))
        high = submit_at(env, chain, 5.0, add_tx("bob", [2], 0, gas_price=2))
        env.run(until=4.0)
        assert chain.pending == [low]
        env.run(until=6.0)
        assert chain.pending == [high, low]  # public view of the mempool, in inclusion order
        env.run(until=13.0)
        assert low.receipt is not None and high.receipt is not None
        assert low.receipt.block == high.receipt.block == 1
        assert [t.seq for t, _ in chain.receipts] == [high.seq, low.seq]
        # the front-runner got contribution 0 and the cheaper deposit (dt = 12 - 0 = 12)
        assert high.receipt.result == 0 and low.receipt.result == 1
        rec0, rec1 = trainer.data.records
        assert rec0.author == "bob" and rec1.author == "alice"
        assert rec0.initial_deposit == W * 3600 // 3  # isqrt(12) == 3
        assert rec1.initial_deposit == W * 3600  # same block: dt == 0

    def test_equal_gas_price_keeps_arrival_order(self) -> None:
        env, chain, _ = make_world()
        txs = [submit_at(env, chain, 1.0 + i, add_tx(s, [i], 1, gas_price=4))
               for i, s in enumerate(["bob", "alice", "bob", "alice"])]
        env.run(until=13.0)
        assert [t.seq for t, _ in chain.receipts] == [t.seq for t in txs]
        assert [t.receipt.result for t in txs] == [0, 1, 2, 3]  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("submitted", "expected"),
        [(0.0, 12.0), (0.5, 12.0), (11.999, 12.0), (12.5, 24.0), (100.0, 108.0),
         (107.25, 108.0), (119.0, 120.0)],
    )
    def test_block_timestamp_is_the_first_slot_strictly_after_submission(
        self, submitted: float, expected: float
    ) -> None:
        env, chain, _ = make_world()
        tx = submit_at(env, chain, submitted, add_tx("alice", [1], 1))
        mine(env, chain, tx)
        assert tx.submitted_at == submitted
        assert tx.receipt is not None and tx.receipt.timestamp == expected
        assert expected % chain.block_time_s == 0
        assert tx.receipt.timestamp > tx.submitted_at

    def test_submission_exactly_on_a_slot_boundary_goes_to_the_next_slot(self) -> None:
        """A tx submitted at t = 12 must be sealed at 24, whatever SimPy's event order."""
        env, chain, _ = make_world()
        on_boundary = add_tx("bob", [2], 1)

        def early_bird():  # type: ignore[no-untyped-def]
            # Scheduled at t = 0, so this wakes before the producer's slot timer for t = 12.
            yield env.timeout(12)
            chain.submit(on_boundary)

        env.process(early_bird())
        first = submit_at(env, chain, 5.0, add_tx("alice", [1], 1))
        env.run(until=50)
        assert first.receipt is not None and first.receipt.timestamp == 12
        assert on_boundary.submitted_at == 12
        assert on_boundary.receipt is not None
        assert on_boundary.receipt.timestamp == 24, (
            "a transaction submitted at t = 12 was included in the block stamped 12"
        )

    def test_blocks_on_slot_boundaries_with_fractional_block_time(self) -> None:
        """Slots at k * 2.5 s; each block's timestamp is its slot time floored to seconds."""
        env, chain, _ = make_world(block_time_s=2.5)
        txs = [submit_at(env, chain, t, add_tx("alice", [i], 1))
               for i, t in enumerate([0.1, 2.4, 2.6, 9.0, 30.1])]
        env.run(until=100)
        stamps = [t.receipt.timestamp for t in txs]  # type: ignore[union-attr]
        assert stamps == [2, 2, 5, 10, 32]  # slots 2.5, 2.5, 5.0, 10.0, 32.5
        assert all(type(s) is int for s in stamps)
        assert [t.receipt.block for t in txs] == [1, 1, 2, 3, 4]  # type: ignore[union-attr]

    def test_half_second_blocks_may_share_a_timestamp(self) -> None:
        """Slots 10.0 and 10.5 are two blocks stamped 10: the second add pays the deposit of
        dt = 0, the full w * 3600, as a second add in one block would."""
        env, chain, trainer = make_world(block_time_s=0.5)
        first = submit_at(env, chain, 9.7, add_tx("alice", [1], 1))
        second = submit_at(env, chain, 10.2, add_tx("bob", [2], 1))
        env.run(until=20)
        assert first.receipt is not None and second.receipt is not None
        assert (first.receipt.block, second.receipt.block) == (1, 2)
        assert first.receipt.timestamp == second.receipt.timestamp == 10
        assert [r.initial_deposit for r in trainer.data.records] == [W * 3600 // 3, W * 3600]
        assert chain.next_block_timestamp(10.2) == 10 and chain.next_block_timestamp(10.5) == 11

    def test_no_empty_blocks(self) -> None:
        env, chain, _ = make_world()
        env.run(until=1_000_000)
        assert chain.block_number == 0
        tx = submit_at(env, chain, 1_000_001.0, add_tx("alice", [1], 1))
        env.run(until=3_000_000)
        assert chain.block_number == 1
        assert tx.receipt is not None and tx.receipt.block == 1
        assert tx.receipt.timestamp == 1_000_008  # 83334 * 12
        assert chain.block_timestamp == 1_000_008

    def test_block_gas_limit_defers_transactions_to_later_blocks(self) -> None:
        # calls to an address without code use exactly the intrinsic 21,000 gas
        env, chain, _ = make_world(block_gas_limit=50_000)
        txs = [chain.submit(Tx("alice", "nowhere", "x", (), 0, 21_000, 10 - i)) for i in range(5)]
        env.run(until=100)
        blocks = [t.receipt.block for t in txs]  # type: ignore[union-attr]
        stamps = [t.receipt.timestamp for t in txs]  # type: ignore[union-attr]
        assert blocks == [1, 1, 2, 2, 3]
        assert stamps == [12, 12, 24, 24, 36]
        assert chain.block_number == 3

    def test_block_gas_limit_with_contract_calls(self) -> None:
        # Free deposits and samples the zero model already predicts, each a different index of
        # one byte (the same sample twice in a block would be a conflicting key): every add
        # costs the same.
        env0, chain0, _ = make_world(w=0)
        probe = chain0.submit(add_tx("alice", [1], 1, value=0))
        mine(env0, chain0, probe)
        assert probe.receipt is not None
        g = probe.receipt.gas_used
        # A block fits two of them.
        env, chain, trainer = make_world(block_gas_limit=2 * g + 100, w=0)
        txs = [chain.submit(add_tx("alice", [i], 1, value=0, gas_limit=g)) for i in range(1, 6)]
        env.run(until=1000)
        per_block: dict[int, int] = {}
        for t in txs:
            r = t.receipt
            assert r is not None and r.status == SUCCESS
            per_block[r.block] = per_block.get(r.block, 0) + r.gas_used
        assert all(v <= chain.block_gas_limit for v in per_block.values())
        assert [t.receipt.block for t in txs] == [1, 1, 2, 2, 3]  # type: ignore[union-attr]
        assert len(trainer.data.records) == 5

    def test_transaction_larger_than_a_block_does_not_tick_empty_blocks(self) -> None:
        """A tx that can never fit must not keep the producer sealing empty blocks forever."""
        env, chain, _ = make_world(block_gas_limit=100_000)
        tx = chain.submit(Tx("alice", "nowhere", "x", (), 0, 200_000, 1))
        env.run(until=12_000)
        included = {r.block for _, r in chain.receipts if r.block > 0}
        assert chain.block_number == len(included), (
            f"{chain.block_number} blocks sealed, {len(included)} with a transaction"
        )
        assert tx.receipt is not None and tx.receipt.status == REJECTED

    def test_receipts_are_recorded_in_execution_order_with_callbacks(self) -> None:
        env, chain, _ = make_world()
        seen: list[tuple[str, str]] = []

        def note(tx: Tx, receipt) -> None:  # type: ignore[no-untyped-def]
            seen.append((tx.sender, receipt.status))

        a = add_tx("alice", [1], 1, gas_price=1)
        a.on_receipt = note
        b = Tx("bob", TRAINER, "refund", (0,), 0, GAS, 9, on_receipt=note)
        chain.submit(a)
        chain.submit(b)
        env.run(until=13)
        # bob's refund bid higher, runs first (and reverts: no contribution 0 yet)
        assert seen == [("bob", REVERTED), ("alice", SUCCESS)]
        assert [(t.sender, r.status) for t, r in chain.receipts] == seen
