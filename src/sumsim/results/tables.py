"""The per-run tables: transactions and contributions (money as exact ``Decimal(38, 0)`` wei).

Built from the chain's receipts and the contract's records after a run; they name the
contract's three core methods but no concrete mechanism, defense or strategy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from sumsim.chain import SUCCESS, Chain
from sumsim.recorder import WEI, with_wei

if TYPE_CHECKING:
    from sumsim.engine import RunResult

_CLAIMS = ("refund", "report")


def _ints(col: Any) -> np.ndarray:
    return np.frombuffer(col, dtype=np.int64) if len(col) else np.zeros(0, np.int64)


def _floats(col: Any) -> np.ndarray:
    return np.frombuffer(col, dtype=np.float64) if len(col) else np.zeros(0, np.float64)


def _money(values: Any) -> pl.Series:
    """Exact wei (Python ints) as a ``Decimal(38, 0)`` column."""
    return pl.Series(values, dtype=pl.Int128).cast(WEI)


def _decoded(log: Any, name: str) -> pl.Series:
    """A string column of the receipt log, decoded by polars (no Python list of strings)."""
    codes = np.frombuffer(getattr(log, name), dtype=np.int32) if len(log) else \
        np.zeros(0, np.int32)
    return pl.Series(log.strings.names, dtype=pl.Utf8).gather(codes)


def transactions_frame(chain: Chain) -> pl.DataFrame:
    """One row per transaction, in the order they finished (read from the chain's receipt
    log's columns), then one row per transfer made outside any transaction (a review verdict
    forfeiting a deposit: ``status = "internal"``, ``method`` = what it was, ``sender`` the
    payer, ``to`` the recipient).

    ``value_wei`` is what the sender attached; ``deposit_kept_wei`` what the contract kept of
    it (the deposit of an add); ``value_returned_wei`` everything the call paid the sender
    (the change of an overpaid add, a refund, a take); ``returned_wei`` the claim payouts
    alone (``value_returned_wei`` minus the change)."""
    log = chain.receipts
    methods = log.column("method")
    ok = log.strings.find(SUCCESS)
    contribution = [
        (result if status == ok else None) if m == "add_data" else a0 if m in _CLAIMS else None
        for m, status, result, a0 in zip(methods, log.status, log.result, log.arg0, strict=True)]
    gas_used = pl.Series(_ints(log.gas_used), dtype=pl.Int64)
    gas_price = pl.Series(log.gas_price, dtype=pl.Int128)
    back, change = (pl.Series(c, dtype=pl.Int128) for c in log.paid_to_sender("change"))
    value = pl.Series(log.value, dtype=pl.Int128)
    succeeded = pl.Series(np.frombuffer(log.status, dtype=np.int32) == ok if len(log)
                          else np.zeros(0, bool))
    df = pl.DataFrame({
        "tx_id": pl.Series(_ints(log.seq), dtype=pl.Int64),
        "block": pl.Series(_ints(log.block), dtype=pl.Int64),
        "time_s": pl.Series(_floats(log.timestamp), dtype=pl.Float64),
        "submitted_s": pl.Series(_floats(log.submitted_at), dtype=pl.Float64),
        "sender": _decoded(log, "sender"),
        "to": _decoded(log, "to"),
        "method": pl.Series(methods, dtype=pl.Utf8),
        "contribution": pl.Series(contribution, dtype=pl.Int64),
        "status": _decoded(log, "status"),
        "reason": _decoded(log, "reason"),
        "gas_used": gas_used,
        "gas_price_wei": gas_price.cast(WEI),
        "fee_wei": (gas_used.cast(pl.Int128) * gas_price).cast(WEI),  # what the chain charged
        "value_wei": value.cast(WEI),
        "deposit_kept_wei": ((value - change) * succeeded.cast(pl.Int128)).cast(WEI),
        "value_returned_wei": back.cast(WEI),
        "returned_wei": (back - change).cast(WEI),
    })
    if not chain.internal_transfers:
        return df
    rows: dict[str, list[Any]] = {k: [] for k in df.columns}
    for t, src, dst, amount, memo in chain.internal_transfers:
        for k, v in (("tx_id", None), ("block", None), ("time_s", float(t)),
                     ("submitted_s", float(t)), ("sender", src), ("to", dst), ("method", memo),
                     ("contribution", None), ("status", "internal"), ("reason", ""),
                     ("gas_used", 0), ("gas_price_wei", 0), ("fee_wei", 0),
                     ("value_wei", amount), ("deposit_kept_wei", 0),
                     ("value_returned_wei", 0), ("returned_wei", 0)):
            rows[k].append(v)
    internal = pl.DataFrame({k: pl.Series(v, dtype=pl.Int128).cast(WEI) if k.endswith("_wei")
                             else pl.Series(v, dtype=df.schema[k]) for k, v in rows.items()})
    return pl.concat([df, internal]).rechunk()


def contributions_frame(res: RunResult) -> pl.DataFrame:
    """One row per contribution; ``claims`` lists every refund/take (time, by, kind, amount).

    Columns are built one at a time (each from a generator or an array, its temporaries gone
    before the next), so a run of a million contributions needs little memory beyond the
    frame."""
    log = res.chain.receipts
    ok = log.strings.find(SUCCESS)
    claim_codes = {log.strings.find(m) for m in _CLAIMS} - {-1}
    rows = np.array([i for i, (method, status) in enumerate(zip(log.method, log.status,
                                                                 strict=True))
                     if status == ok and method in claim_codes], dtype=np.int64)
    names = pl.Series(log.strings.names, dtype=pl.Utf8)
    claims = pl.DataFrame({
        "id": pl.Series([log.arg0[i] for i in rows], dtype=pl.Int64),
        "time_s": pl.Series(_floats(log.timestamp)[rows], dtype=pl.Float64),
        "by": names.gather(np.frombuffer(log.sender, dtype=np.int32)[rows]) if len(rows)
        else pl.Series([], dtype=pl.Utf8),
        "kind": names.gather(np.frombuffer(log.method, dtype=np.int32)[rows]) if len(rows)
        else pl.Series([], dtype=pl.Utf8),
        "amount_wei": _money([log.result[i] for i in rows]),
    })
    claims = claims.group_by("id", maintain_order=True).agg(
        pl.struct("time_s", "by", "kind", "amount_wei").alias("claims"))
    recs = res.contract.data.records
    n = len(recs)
    y_pool = res.split.y_pool
    amb = res.split.ambiguous_pool
    pool_index = res.world.pool_index
    pi = np.fromiter((pool_index.get(r.id, -1) for r in recs), dtype=np.int64, count=n)
    known = pi >= 0
    df = pl.DataFrame({
        "id": pl.Series(np.fromiter((r.id for r in recs), np.int64, n), dtype=pl.Int64),
        "author": pl.Series([r.author for r in recs], dtype=pl.Utf8),
        "label": pl.Series(np.fromiter((r.y for r in recs), np.int64, n), dtype=pl.Int64),
        "true_label": pl.Series(np.where(known, y_pool[np.maximum(pi, 0)], 0),
                                dtype=pl.Int64).scatter(np.flatnonzero(~known), None)
        if n else pl.Series([], dtype=pl.Int64),
        "ambiguous": pl.Series(amb[np.maximum(pi, 0)] & known if n else [],
                               dtype=pl.Boolean),
        "pool_index": pl.Series(pi, dtype=pl.Int64),
        "added_s": pl.Series(np.fromiter((r.added_time for r in recs), np.float64, n),
                             dtype=pl.Float64),
        "n_features": pl.Series(np.fromiter((len(r.x) for r in recs), np.int64, n),
                                dtype=pl.Int64),
        "deposit_wei": _money([r.initial_deposit for r in recs]),
        "refunded_wei": _money([r.refunded for r in recs]),
        "taken_wei": _money([r.taken for r in recs]),
        "claimable_wei": _money([r.claimable for r in recs]),
        "forfeited_wei": _money([r.forfeited for r in recs]),
        "pooled_wei": _money([r.pooled for r in recs]),
        "status": pl.Series([r.status for r in recs], dtype=pl.Utf8),
        "outcome": pl.Series([
            "forfeited" if r.forfeited else "pooled" if r.pooled else
            "refunded" if r.refunded and not r.taken else
            "taken" if r.taken and not r.claimable else
            "partly_taken" if r.taken else "unclaimed"
            for r in recs], dtype=pl.Utf8),
    })
    df = df.join(claims, on="id", how="left", maintain_order="left").with_columns(
        pl.col("claims").fill_null(pl.lit([], dtype=claims.schema["claims"])))
    return with_wei(df)
