"""Whole-second time: with fractional block times every block's timestamp is its slot time
floored to whole seconds, and every deposit and wait in the output tables follows the
contract's integer rules, replayed here from the tables alone."""

from __future__ import annotations

import math
from fractions import Fraction
from math import isqrt
from pathlib import Path

import polars as pl
import pytest

from sumsim.cli import main
from sumsim.scenario.loader import load_scenario

NOT_ENOUGH = "Didn't pay enough for the deposit."


def wei(x: object) -> int:
    i = int(x)  # type: ignore[call-overload]
    assert i == x
    return i


@pytest.mark.parametrize("block_time", [0.5, 2.5, 3.5, 2.3, 0.7])
def test_every_deposit_and_wait_in_whole_seconds(block_time: float, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", "--out", str(out), "-q", "--set", "data.max_pool=400",
                 "--set", "metrics.counterfactual=false", "--set",
                 f"chain.block_time_s={block_time}"]) == 0
    sc = load_scenario(out / "scenario.toml")
    assert sc.chain.block_time_s == block_time
    inc = sc.incentive
    w, t_r = inc.cost_weight, inc.refund_wait_s
    t_a = inc.any_address_claim_wait_s
    txs = pl.read_parquet(out / "transactions.parquet").filter(pl.col("status") != "rejected")
    cons = pl.read_parquet(out / "contributions.parquet")
    deposit = {r["id"]: wei(r["deposit_wei"]) for r in cons.iter_rows(named=True)}
    added = {r["id"]: r["added_s"] for r in cons.iter_rows(named=True)}
    author = {r["id"]: r["author"] for r in cons.iter_rows(named=True)}

    # Block timestamps are whole seconds: a slot k * block_time floored, the block time taken
    # as written (50 x 2.3 s is 115 s, though 50 times the double nearest 2.3 is just below).
    times = txs["time_s"].to_list()
    assert all(t == math.floor(t) for t in times)
    exact = Fraction(str(block_time))
    slots = {math.floor(k * exact) for k in range(1, int(max(times) / block_time) + 2)}
    assert set(times) <= slots
    # (Two 0.5 s blocks sharing a timestamp: tests/test_chain.py.)

    # Every add, in execution order: the deposit is w * 3600 // isqrt(dt) of whole seconds
    # since the previous successful add (from deployment at 0), 1 as divisor when dt is 0.
    last = 0
    checked = 0
    for r in txs.filter(pl.col("method") == "add_data").iter_rows(named=True):
        now = int(r["time_s"])
        dt = now - last
        need = w * 3600 // (isqrt(dt) if dt > 0 else 1)
        if r["status"] == "success":
            cid = r["contribution"]
            assert deposit[cid] == need, (cid, now, last)
            assert added[cid] == now
            assert wei(r["value_wei"]) - wei(r["returned_wei"]) == need
            last = now
            checked += 1
        elif r["reason"] == NOT_ENOUGH:
            assert wei(r["value_wei"]) < need
    assert checked == len(deposit) > 100

    # Every refund and take respects the waits in whole seconds.
    claims = txs.filter(pl.col("method").is_in(["refund", "report"]) &
                        (pl.col("status") == "success"))
    assert claims.height > 50
    for r in claims.iter_rows(named=True):
        cid, age = r["contribution"], int(r["time_s"]) - int(added[r["contribution"]])
        assert age >= t_r
        if r["method"] == "refund":
            assert r["sender"] == author[cid]
        elif r["sender"] == author[cid]:
            assert age >= t_a
    early = txs.filter(pl.col("reason") == "Not enough time has passed.")
    for r in early.iter_rows(named=True):
        assert int(r["time_s"]) - int(added[r["contribution"]]) < t_r
