"""Same seed, same chain history: ledger journal and receipts are identical, byte for byte."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import simpy

from sumsim.chain import REJECTED, REVERTED, SUCCESS, Chain, Ledger, Tx
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.mechanisms.drt import DepositRefundTake
from sumsim.models import Perceptron

TRAINER = "trainer"
OWNER = "owner"
AGENTS = ("alice", "bob", "carol", "dave", "erin")
N_FEATURES = 16
HORIZON = 30_000.0


def run_random_history(seed: int) -> dict[str, Any]:
    """A random mix of adds, refunds and reports, all decided by one numpy Generator."""
    rng = np.random.default_rng(seed)
    env = simpy.Environment()
    ledger = Ledger(keep_journal=True)
    chain = Chain(env, block_time_s=12, block_gas_limit=1_500_000, gas_price_wei=1,
                  ledger=ledger)
    for i, a in enumerate(AGENTS):
        ledger.open(a, 10**10 * (i + 1) if i < 4 else 10**7)  # erin is nearly broke
    ledger.open(OWNER, 10**9)
    im = DepositRefundTake(refund_wait_s=600, owner_claim_wait_s=3_000,
                           any_address_claim_wait_s=6_000, cost_weight=10**5)
    trainer = CollaborativeTrainer(TRAINER, ledger, Perceptron(N_FEATURES), im, owner=OWNER)
    chain.deploy(trainer)

    def traffic():  # type: ignore[no-untyped-def]
        while True:
            yield env.timeout(float(rng.exponential(40.0)))
            sender = str(rng.choice(AGENTS + (OWNER,)))
            price = int(rng.choice([1, 2, 3, 50]))
            gas_limit = int(rng.choice([400_000, 400_000, 400_000, 50_000]))
            n = len(trainer.data.records)
            kind = rng.random()
            if kind < 0.5 or n == 0:
                k = int(rng.integers(1, 5))
                x = np.sort(rng.choice(N_FEATURES, size=k, replace=False)).astype(np.int64)
                y = int(rng.integers(0, 2))
                at = (math.floor(env.now / 12) + 1) * 12
                need = chain.view(TRAINER, "required_deposit", int(at))
                value = need * int(rng.choice([1, 2, 2, 4])) // 2  # half, exact or double
                tx = Tx(sender, TRAINER, "add_data", (x, y), value, gas_limit, price)
            else:
                cid = int(rng.integers(0, n))
                if kind < 0.75:
                    author = trainer.data.records[cid].author
                    tx = Tx(author, TRAINER, "refund", (cid,), 0, gas_limit, price)
                else:
                    tx = Tx(sender, TRAINER, "report", (cid,), 0, gas_limit, price)
            chain.submit(tx)

    env.process(traffic())
    env.run(until=HORIZON)

    receipts = [
        (tx.seq, tx.sender, tx.method,
         tuple(a.tolist() if isinstance(a, np.ndarray) else a for a in tx.args),
         tx.value, tx.gas_price, tx.submitted_at,
         r.status, r.reason, r.gas_used, r.fee, r.block, r.timestamp, r.result)
        for tx, r in chain.receipts
    ]
    model = trainer.model
    assert isinstance(model, Perceptron)
    return {
        "journal": list(ledger.journal),
        "receipts": receipts,
        "balances": dict(ledger.balances),
        "records": [(r.id, r.author, r.x.tolist(), r.y, r.added_time, r.initial_deposit,
                     r.claimable, sorted(r.claimed_by), r.refunded, r.taken)
                    for r in trainer.data.records],
        "model": (model.w.tolist(), int(model.b)),
        "blocks": chain.block_number,
    }


def test_history_is_rich_enough_to_mean_something() -> None:
    out = run_random_history(1)
    statuses = {(r[2], r[7]) for r in out["receipts"]}
    for want in [("add_data", SUCCESS), ("add_data", REVERTED), ("refund", SUCCESS),
                 ("refund", REVERTED), ("report", SUCCESS), ("report", REVERTED)]:
        assert want in statuses, want
    assert any(r[7] == REJECTED for r in out["receipts"])
    assert len(out["journal"]) > 100
    assert out["blocks"] > 100


def test_same_seed_same_journal_and_receipts() -> None:
    a = run_random_history(2024)
    b = run_random_history(2024)
    assert a["journal"] == b["journal"]
    assert a["receipts"] == b["receipts"]
    assert a == b
    assert pickle.dumps(a, protocol=5) == pickle.dumps(b, protocol=5)


def test_other_runs_in_between_do_not_leak_state() -> None:
    a = run_random_history(7)
    run_random_history(8)
    c = run_random_history(7)
    assert pickle.dumps(a, protocol=5) == pickle.dumps(c, protocol=5)


def test_different_seed_different_history() -> None:
    a = run_random_history(2024)
    b = run_random_history(2025)
    assert a["journal"] != b["journal"]
    assert a["receipts"] != b["receipts"]
