"""The per-run tables: transactions and contributions (money as exact ``Decimal(38, 0)`` wei).

Built from the chain's receipts and the contract's records after a run; they name the
contract's three core methods but no concrete mechanism, defense or strategy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from sumsim.chain import Chain
from sumsim.recorder import with_wei

if TYPE_CHECKING:
    from sumsim.engine import RunResult

_CLAIMS = ("refund", "report")


def _paid_to_sender(tx: Any, r: Any) -> int:
    """What the contract paid the sender in this call, besides the change of a deposit."""
    return sum(a for to, a, memo in r.payments if to == tx.sender and memo != "change")


def transactions_frame(chain: Chain) -> pl.DataFrame:
    """One row per transaction, in the order they finished, then one row per transfer made
    outside any transaction (a review verdict forfeiting a deposit: ``status = "internal"``,
    ``method`` = what it was, ``sender`` the payer, ``to`` the recipient).

    ``value_wei`` is what the sender attached; ``deposit_kept_wei`` what the contract kept of
    it (the deposit of an add); ``value_returned_wei`` everything the call paid the sender
    (the change of an overpaid add, a refund, a take); ``returned_wei`` the claim payouts
    alone (``value_returned_wei`` minus the change)."""
    cols: dict[str, list[Any]] = {k: [] for k in (
        "tx_id", "block", "time_s", "submitted_s", "sender", "to", "method", "contribution",
        "status", "reason", "gas_used", "gas_price_wei", "fee_wei", "value_wei",
        "deposit_kept_wei", "value_returned_wei", "returned_wei")}
    for tx, r in chain.receipts:
        cols["tx_id"].append(tx.seq)
        cols["block"].append(r.block)
        cols["time_s"].append(float(r.timestamp))
        cols["submitted_s"].append(float(tx.submitted_at))
        cols["sender"].append(tx.sender)
        cols["to"].append(tx.to)
        cols["method"].append(tx.method)
        if tx.method == "add_data":
            cid = r.result if r.ok else None
        else:
            cid = tx.args[0] if tx.method in _CLAIMS else None
        cols["contribution"].append(cid)
        cols["status"].append(r.status)
        cols["reason"].append(r.reason)
        cols["gas_used"].append(r.gas_used)
        cols["gas_price_wei"].append(tx.gas_price)
        cols["fee_wei"].append(r.fee)
        cols["value_wei"].append(tx.value)
        back = sum(a for to, a, _ in r.payments if to == tx.sender)
        kept = tx.value - sum(a for to, a, memo in r.payments
                              if to == tx.sender and memo == "change") if r.ok else 0
        cols["deposit_kept_wei"].append(kept)
        cols["value_returned_wei"].append(back)
        cols["returned_wei"].append(_paid_to_sender(tx, r))
    for t, src, dst, amount, memo in chain.internal_transfers:
        for k, v in (("tx_id", None), ("block", None), ("time_s", float(t)),
                     ("submitted_s", float(t)), ("sender", src), ("to", dst), ("method", memo),
                     ("contribution", None), ("status", "internal"), ("reason", ""),
                     ("gas_used", 0), ("gas_price_wei", 0), ("fee_wei", 0),
                     ("value_wei", amount), ("deposit_kept_wei", 0),
                     ("value_returned_wei", 0), ("returned_wei", 0)):
            cols[k].append(v)
    return with_wei(pl.DataFrame(cols, schema_overrides={
        "tx_id": pl.Int64, "contribution": pl.Int64, "gas_price_wei": pl.Int128,
        "fee_wei": pl.Int128, "value_wei": pl.Int128, "deposit_kept_wei": pl.Int128,
        "value_returned_wei": pl.Int128, "returned_wei": pl.Int128, "block": pl.Int64,
        "gas_used": pl.Int64}))


def contributions_frame(res: RunResult) -> pl.DataFrame:
    """One row per contribution; ``claims`` lists every refund/take (time, by, kind, amount)."""
    ccols: dict[str, list[Any]] = {"id": [], "time_s": [], "by": [], "kind": [],
                                   "amount_wei": []}
    for tx, r in res.chain.receipts:
        if r.ok and tx.method in _CLAIMS:
            ccols["id"].append(tx.args[0])
            ccols["time_s"].append(float(r.timestamp))
            ccols["by"].append(tx.sender)
            ccols["kind"].append(tx.method)
            ccols["amount_wei"].append(int(r.result))
    claims = pl.DataFrame(ccols, schema={"id": pl.Int64, "time_s": pl.Float64, "by": pl.Utf8,
                                         "kind": pl.Utf8, "amount_wei": pl.Int128}
                          ).with_columns(pl.col("amount_wei").cast(pl.Decimal(38, 0)))
    claims = claims.group_by("id", maintain_order=True).agg(
        pl.struct("time_s", "by", "kind", "amount_wei").alias("claims"))
    recs = res.contract.data.records
    y_pool = res.split.y_pool
    amb = res.split.ambiguous_pool
    pool_index = res.world.pool_index
    pi = np.array([pool_index.get(r.id, -1) for r in recs], dtype=np.int64)
    known = pi >= 0
    refunded = [r.refunded for r in recs]
    taken = [r.taken for r in recs]
    claimable = [r.claimable for r in recs]
    outcome = [
        "forfeited" if r.forfeited else "pooled" if r.pooled else
        "refunded" if r.refunded and not r.taken else "taken" if r.taken and not r.claimable else
        "partly_taken" if r.taken else "unclaimed"
        for r in recs
    ]
    df = pl.DataFrame({
        "id": pl.Series([r.id for r in recs], dtype=pl.Int64),
        "author": pl.Series([r.author for r in recs], dtype=pl.Utf8),
        "label": pl.Series([r.y for r in recs], dtype=pl.Int64),
        "true_label": pl.Series(np.where(known, y_pool[np.maximum(pi, 0)], 0),
                                dtype=pl.Int64).scatter(np.flatnonzero(~known), None)
        if len(recs) else pl.Series([], dtype=pl.Int64),
        "ambiguous": pl.Series(amb[np.maximum(pi, 0)] & known if len(recs) else [],
                               dtype=pl.Boolean),
        "pool_index": pl.Series(pi, dtype=pl.Int64),
        "added_s": pl.Series([float(r.added_time) for r in recs], dtype=pl.Float64),
        "n_features": pl.Series([len(r.x) for r in recs], dtype=pl.Int64),
        "deposit_wei": pl.Series([r.initial_deposit for r in recs], dtype=pl.Int128),
        "refunded_wei": pl.Series(refunded, dtype=pl.Int128),
        "taken_wei": pl.Series(taken, dtype=pl.Int128),
        "claimable_wei": pl.Series(claimable, dtype=pl.Int128),
        "forfeited_wei": pl.Series([r.forfeited for r in recs], dtype=pl.Int128),
        "pooled_wei": pl.Series([r.pooled for r in recs], dtype=pl.Int128),
        "status": pl.Series([r.status for r in recs], dtype=pl.Utf8),
        "outcome": pl.Series(outcome, dtype=pl.Utf8),
    })
    df = df.join(claims, on="id", how="left", maintain_order="left").with_columns(
        pl.col("claims").fill_null(pl.lit([], dtype=claims.schema["claims"])))
    return with_wei(df)
