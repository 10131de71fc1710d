"""What keeps a run of a million contributions in bounded memory: tables written a row group at
a time (with the bytes of the whole table written at once), the receipt log's narrow code
columns, and a pool read in place from the training matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
from scipy import sparse

import sumsim
from sumsim.chain import SUCCESS
from sumsim.chain.receipts import ReceiptLog
from sumsim.chain.tx import Receipt, Tx
from sumsim.data.base import Dataset, row, split
from sumsim.io import Table, _write_table, row_groups, write_parquet
from sumsim.results import summary as summary_module
from sumsim.results.tables import contributions_table, transactions_table
from sumsim.world import Pool

WEI = pl.Decimal(38, 0)


def _table(height: int) -> Table:
    """Every kind of column the run tables hold; the list column is sliced from one whole
    column, as the contributions' claims are."""
    rng = np.random.default_rng(3)
    ints = rng.integers(0, 10**6, height)
    floats = rng.random(height)
    words = pl.Series(["add_data", "refund", "a_sender_with_a_long_name", ""], dtype=pl.Utf8)
    codes = rng.integers(0, 4, height).astype(np.int32)
    money = [int(v) * 10**12 + 1 for v in rng.integers(0, 10**7, height)]
    lengths = rng.integers(0, 3, height)
    items = pl.DataFrame({"t": rng.random(int(lengths.sum())),
                          "by": words.gather(rng.integers(0, 4, int(lengths.sum())))})
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    nested = pl.Series("nested", [items.slice(int(a), int(b - a)).to_dicts()
                                  for a, b in zip(offsets[:-1], offsets[1:], strict=True)],
                       dtype=pl.List(pl.Struct({"t": pl.Float64, "by": pl.Utf8})))

    def rows(lo: int, hi: int) -> pl.DataFrame:
        return pl.DataFrame({
            "i": pl.Series(ints[lo:hi], dtype=pl.Int64),
            "maybe": pl.Series([None if v % 7 == 0 else int(v) for v in ints[lo:hi]],
                               dtype=pl.Int64),
            "f": pl.Series(floats[lo:hi], dtype=pl.Float64),
            "s": words.gather(codes[lo:hi]),
            "wei": pl.Series(money[lo:hi], dtype=pl.Int128).cast(WEI),
            "nested": nested.slice(lo, hi - lo),
        })

    return Table(height, rows)


@pytest.mark.parametrize("height", [0, 1, 1000, 299_999])
def test_a_table_written_by_row_groups_has_the_bytes_of_the_whole_frame(
        height: int, tmp_path: Path) -> None:
    table = _table(height)
    _write_table(tmp_path / "parts.parquet", table)  # streamed, whatever the height
    write_parquet(tmp_path / "public.parquet", table)  # (small tables: written whole)
    table.frame().write_parquet(tmp_path / "whole.parquet", compression="zstd",
                                statistics=False)
    assert (tmp_path / "parts.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    assert (tmp_path / "public.parquet").read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    meta = pq.ParquetFile(tmp_path / "parts.parquet").metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert groups == row_groups(height) and sum(groups) == height
    if height == 299_999:
        assert len(groups) > 1  # the case that needs the slices to be handed over one by one


def test_row_groups_cut_by_height_alone() -> None:
    assert row_groups(0) == []
    assert row_groups(5) == [5]
    cut = row_groups(1_000_000)
    assert sum(cut) == 1_000_000 and len(cut) > 1 and max(cut) - min(cut) <= 1


@pytest.fixture(scope="module")
def reviewed() -> sumsim.Result:
    """A small run with review forfeits (transfers outside transactions: the transactions
    table's tail) and claims."""
    return sumsim.run("quickstart", overrides={
        "data.max_pool": 150, "metrics.counterfactual": False,
        "defenses": [{"kind": "review_queue", "name": "review", "sample_share": 1.0,
                      "service_s": 600, "accuracy": 0.5, "forfeit_to": "fee_sink"}]})


@pytest.mark.parametrize("which", ["transactions", "contributions"])
def test_any_slice_of_a_run_table_is_that_slice_of_the_whole(reviewed: sumsim.Result,
                                                             which: str) -> None:
    table = (transactions_table(reviewed.raw.chain) if which == "transactions"
             else contributions_table(reviewed.raw))
    whole = table.frame()
    assert whole.height == table.height > 100
    if which == "transactions":
        internal = whole.filter(pl.col("status") == "internal").height
        assert internal > 0
        edge = table.height - internal  # where the transfers outside transactions begin
        cuts = [(0, edge), (edge - 3, edge + 2), (edge, table.height), (5, 5)]
    else:
        assert whole["claims"].list.len().max() > 0  # type: ignore[operator]
        cuts = [(0, 1), (7, 60), (60, table.height), (5, 5)]
    for lo, hi in cuts:
        part = table.rows(lo, hi)
        assert part.schema == whole.schema
        assert part.equals(whole.slice(lo, hi - lo)), (lo, hi)


def _tx(sender: str) -> tuple[Tx, Receipt]:
    tx = Tx(sender, "contract", "add_data", (), 0, 100_000, 1, seq=0)
    return tx, Receipt(SUCCESS, "", 50_000, 50_000, 1, 12, None, ((sender, 3, "change"),))


def test_receipt_codes_widen_when_16_bits_no_longer_number_the_strings() -> None:
    log = ReceiptLog()
    senders = [f"sybil{i}" for i in range(33_000)]
    for s in senders[:100]:
        log.append(*_tx(s))
    assert log.sender.typecode == "h"
    for s in senders[100:]:
        log.append(*_tx(s))
    assert {getattr(log, c).typecode for c in ("sender", "to", "method", "status", "reason",
                                               "pay_to", "pay_memo")} == {"i"}
    assert log.column("sender") == senders
    assert log.payments(32_999) == (("sybil32999", 3, "change"),)
    assert log.payments(0) == (("sybil0", 3, "change"),)


def test_the_pool_reads_its_samples_in_place() -> None:
    x = sparse.csr_matrix(np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]], float))
    y = np.array([0, 1, 1, 0])
    ds = Dataset("toy", x, y, x, y, ("a", "b", "c"), ("no", "yes"))
    sp = split(ds, 0.25, np.random.default_rng(1))
    pool = Pool(sp.x_train, sp.y_pool, sp.ambiguous_pool, rows=sp.pool_rows)
    assert sp.x_train is x  # not copied
    for i in range(pool.n):
        assert pool.sample(i).tolist() == row(x, int(sp.pool_rows[i])).tolist()
        # every sample a view of one index array (the matrix's, as numpy's index type)
        assert np.shares_memory(pool.sample(i), pool.sample(0).base)
        assert pool.sample(i).dtype == np.intp
        assert int(pool.y[i]) == int(y[sp.pool_rows[i]])
    wide = x.copy()
    wide.indices = wide.indices.astype(np.intp)
    assert np.shares_memory(Pool(wide, y).sample(1), wide.indices)  # already that type: in place
    assert (pool.samples(np.array([2, 0])) != x[sp.pool_rows[[2, 0]]]).nnz == 0
    assert (pool.x != sp.x_pool).nnz == 0 and sp.x_pool.shape == (3, 3)
    with pytest.raises(ValueError, match="one row per label"):
        Pool(x, y, rows=np.arange(3))


def test_accounts_summed_a_slice_of_rows_at_a_time_are_the_whole_sums(
        reviewed: sumsim.Result, monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-agent accounts are summed over slices of the receipt log; slices of 7 rows
    (every boundary inside the run) give the same accounts, and the accounts reconcile with
    the ledger to the wei."""
    whole = summary_module.agent_accounts(reviewed.raw)
    monkeypatch.setattr(summary_module, "_ROWS_AT_ONCE", 7)
    assert summary_module.agent_accounts(reviewed.raw) == whole
    assert len(reviewed.raw.chain.receipts) > 30 * 7
    for acct in whole.values():
        assert acct["unexplained_wei"] == 0
        assert acct["deposits_wei"] > 0 and acct["fees_wei"] > 0
