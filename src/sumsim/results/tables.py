"""The per-run tables: transactions and contributions (money as exact ``Decimal(38, 0)`` wei).

Built from the chain's receipts and the contract's records after a run; they name the
contract's three core methods but no concrete mechanism, defense or strategy.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from sumsim.chain import SUCCESS, Chain
from sumsim.io import Table
from sumsim.recorder import WEI, with_wei

if TYPE_CHECKING:
    from sumsim.engine import RunResult

_CLAIMS = ("refund", "report")


def _array(col: array[Any]) -> np.ndarray:
    """A typed column of the receipt log as a numpy array (no copy)."""
    return np.frombuffer(col, dtype=col.typecode) if len(col) else np.zeros(0, col.typecode)


def _money(values: Any) -> pl.Series:
    """Exact wei (Python ints) as a ``Decimal(38, 0)`` column."""
    return pl.Series(values, dtype=pl.Int128).cast(WEI)


def transactions_frame(chain: Chain) -> pl.DataFrame:
    """The whole :func:`transactions_table`."""
    return transactions_table(chain).frame()


def contributions_frame(res: RunResult) -> pl.DataFrame:
    """The whole :func:`contributions_table`."""
    return contributions_table(res).frame()


def transactions_table(chain: Chain) -> Table:
    """One row per transaction, in the order they finished (read from the chain's receipt
    log's columns), then one row per transfer made outside any transaction (a review verdict
    forfeiting a deposit: ``status = "internal"``, ``method`` = what it was, ``sender`` the
    payer, ``to`` the recipient).

    ``value_wei`` is what the sender attached; ``deposit_kept_wei`` what the contract kept of
    it (the deposit of an add); ``value_returned_wei`` everything the call paid the sender
    (the change of an overpaid add, a refund, a take); ``returned_wei`` the claim payouts
    alone (``value_returned_wei`` minus the change).

    A :class:`~sumsim.io.Table`: any slice of rows is built from the log's columns alone, so a
    run of millions of transactions is written without the whole table in memory."""
    log = chain.receipts
    n = len(log)
    ok = log.strings.find(SUCCESS)
    add_data = log.strings.find("add_data")
    claim_codes = {log.strings.find(m) for m in _CLAIMS} - {-1}
    names = pl.Series(log.strings.names, dtype=pl.Utf8)

    def logged(lo: int, hi: int) -> pl.DataFrame:
        codes = {c: _array(getattr(log, c))[lo:hi] for c in ("sender", "to", "method", "status",
                                                                "reason")}
        contribution = [
            (result if status == ok else None) if m == add_data else a0 if m in claim_codes
            else None
            for m, status, result, a0 in zip(codes["method"].tolist(), codes["status"].tolist(),
                                             log.result[lo:hi], log.arg0[lo:hi], strict=True)]
        gas_used = pl.Series(_array(log.gas_used)[lo:hi], dtype=pl.Int64)
        gas_price = pl.Series(log.gas_price[lo:hi], dtype=pl.Int128)
        back, change = (pl.Series(c, dtype=pl.Int128)
                        for c in log.paid_to_sender("change", lo, hi))
        value = pl.Series(log.value[lo:hi], dtype=pl.Int128)
        succeeded = pl.Series(codes["status"] == ok)
        return pl.DataFrame({
            "tx_id": pl.Series(_array(log.seq)[lo:hi], dtype=pl.Int64),
            "block": pl.Series(_array(log.block)[lo:hi], dtype=pl.Int64),
            "time_s": pl.Series(_array(log.timestamp)[lo:hi], dtype=pl.Float64),
            "submitted_s": pl.Series(_array(log.submitted_at)[lo:hi], dtype=pl.Float64),
            **{c: names.gather(codes[c]) for c in ("sender", "to", "method")},
            "contribution": pl.Series(contribution, dtype=pl.Int64),
            **{c: names.gather(codes[c]) for c in ("status", "reason")},
            "gas_used": gas_used,
            "gas_price_wei": gas_price.cast(WEI),
            "fee_wei": (gas_used.cast(pl.Int128) * gas_price).cast(WEI),  # what was charged
            "value_wei": value.cast(WEI),
            "deposit_kept_wei": ((value - change) * succeeded.cast(pl.Int128)).cast(WEI),
            "value_returned_wei": back.cast(WEI),
            "returned_wei": (back - change).cast(WEI),
        })

    def internal(lo: int, hi: int, schema: pl.Schema) -> pl.DataFrame:
        rows: dict[str, list[Any]] = {k: [] for k in schema}
        for t, src, dst, amount, memo in chain.internal_transfers[lo:hi]:
            for k, v in (("tx_id", None), ("block", None), ("time_s", float(t)),
                         ("submitted_s", float(t)), ("sender", src), ("to", dst),
                         ("method", memo), ("contribution", None), ("status", "internal"),
                         ("reason", ""), ("gas_used", 0), ("gas_price_wei", 0), ("fee_wei", 0),
                         ("value_wei", amount), ("deposit_kept_wei", 0),
                         ("value_returned_wei", 0), ("returned_wei", 0)):
                rows[k].append(v)
        return pl.DataFrame({k: pl.Series(v, dtype=pl.Int128).cast(WEI) if k.endswith("_wei")
                             else pl.Series(v, dtype=schema[k]) for k, v in rows.items()})

    def rows(lo: int, hi: int) -> pl.DataFrame:
        df = logged(min(lo, n), min(hi, n))
        if hi <= n:
            return df
        extra = internal(max(lo, n) - n, hi - n, df.schema)
        return extra if lo >= n else pl.concat([df, extra]).rechunk()

    return Table(n + len(chain.internal_transfers), rows)


def contributions_table(res: RunResult) -> Table:
    """One row per contribution; ``claims`` lists every refund/take (time, by, kind, amount).

    A :class:`~sumsim.io.Table`: any slice of rows is built from the records (each column from
    an array or a generator, its temporaries gone before the next), so a run of a million
    contributions is written without the whole table in memory.  The ``claims`` column is
    the exception: it is built whole once (a few dozen bytes a claim) and sliced, because how
    the writer cuts a slice of a list column into pages depends on the whole list it is a
    slice of, and the file's bytes must be those of the whole table written at once."""
    log = res.chain.receipts
    ok = log.strings.find(SUCCESS)
    claim_codes = {log.strings.find(m) for m in _CLAIMS} - {-1}
    recs = res.contract.data.records
    n = len(recs)
    # The successful claims' rows in the log, grouped by contribution (id = record index),
    # each contribution's in log order; contribution r's are at[bounds[r]:bounds[r + 1]].
    at = np.flatnonzero((_array(log.status) == ok)
                        & np.isin(_array(log.method), list(claim_codes)))
    ids = np.fromiter((log.arg0[i] for i in at), np.int64, len(at))
    order = np.argsort(ids, kind="stable")
    at, ids = at[order], ids[order]
    del order
    names = pl.Series(log.strings.names, dtype=pl.Utf8)
    claims = pl.DataFrame({
        "id": ids,
        "time_s": pl.Series(_array(log.timestamp)[at], dtype=pl.Float64),
        "by": names.gather(_array(log.sender)[at]),
        "kind": names.gather(_array(log.method)[at]),
        "amount_wei": _money([log.result[i] for i in at]),
    })
    del at, ids
    # Each contribution's claims as one list (in log order; an empty list when none), in one
    # chunk: the writer cuts a slice of a list column into pages by the whole list it is a
    # slice of, so every table writes the same bytes whole or a row group at a time.
    per_id = claims.group_by("id", maintain_order=True).agg(
        pl.struct("time_s", "by", "kind", "amount_wei").alias("claims"))
    del claims
    claimed = pl.DataFrame({"id": np.arange(n, dtype=np.int64)}).join(
        per_id, on="id", how="left", maintain_order="left").select(
        pl.col("claims").fill_null(pl.lit([], dtype=per_id.schema["claims"])))[
        "claims"].rechunk()
    del per_id
    y_pool = res.split.y_pool
    amb = res.split.ambiguous_pool
    pool_index = res.world.pool_index

    def rows(lo: int, hi: int) -> pl.DataFrame:
        part = recs[lo:hi]
        m = len(part)
        pi = np.fromiter((pool_index.get(r.id, -1) for r in part), dtype=np.int64, count=m)
        known = pi >= 0
        return with_wei(pl.DataFrame({
            "id": pl.Series(np.fromiter((r.id for r in part), np.int64, m), dtype=pl.Int64),
            "author": pl.Series([r.author for r in part], dtype=pl.Utf8),
            "label": pl.Series(np.fromiter((r.y for r in part), np.int64, m), dtype=pl.Int64),
            "true_label": pl.Series(np.where(known, y_pool[np.maximum(pi, 0)], 0),
                                    dtype=pl.Int64).scatter(np.flatnonzero(~known), None)
            if m else pl.Series([], dtype=pl.Int64),
            "ambiguous": pl.Series(amb[np.maximum(pi, 0)] & known if m else [],
                                   dtype=pl.Boolean),
            "pool_index": pl.Series(pi, dtype=pl.Int64),
            "added_s": pl.Series(np.fromiter((r.added_time for r in part), np.float64, m),
                                 dtype=pl.Float64),
            "n_features": pl.Series(np.fromiter((len(r.x) for r in part), np.int64, m),
                                    dtype=pl.Int64),
            "deposit_wei": _money([r.initial_deposit for r in part]),
            "refunded_wei": _money([r.refunded for r in part]),
            "taken_wei": _money([r.taken for r in part]),
            "claimable_wei": _money([r.claimable for r in part]),
            "forfeited_wei": _money([r.forfeited for r in part]),
            "pooled_wei": _money([r.pooled for r in part]),
            "status": pl.Series([r.status for r in part], dtype=pl.Utf8),
            "outcome": pl.Series([
                # (a zero deposit, under points: by who claimed it, the author or another)
                ("refunded" if r.author in r.claimed_by else "taken" if r.claimed_by
                 else "unclaimed") if not r.initial_deposit else
                "forfeited" if r.forfeited else "pooled" if r.pooled else
                "refunded" if r.refunded and not r.taken else
                "partly_taken" if r.taken and r.claimable else
                "refunded_and_taken" if r.taken and r.refunded else
                "taken" if r.taken else "unclaimed"
                for r in part], dtype=pl.Utf8),
            "claims": claimed.slice(lo, hi - lo),
        }))

    return Table(n, rows)


def counterfactual_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The counterfactual run's accuracy samples (same seed, attackers removed): time, day and
    accuracy, the columns of ``timeseries.parquet`` that the damage is computed from."""
    return pl.DataFrame({"time_s": [float(r["time_s"]) for r in rows],
                         "day": [float(r["day"]) for r in rows],
                         "accuracy": [float(r["accuracy"]) for r in rows]},
                        schema={"time_s": pl.Float64, "day": pl.Float64,
                                "accuracy": pl.Float64})
