"""`sumsim report` on bad input: a reference that does not name one point, values of the wrong
type, tables that are not sweep tables, no finished run, non-finite metrics.  Each is an
`InputError` (exit code 2, one line) or a documented result, never a wrong statistic."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sumsim.cli import main
from sumsim.errors import InputError
from sumsim.report import aggregate, mean_ci, paired_differences, sweep_figures

BUDGET = "agents[1].budget"
GAS = "chain.gas_price_gwei"
METRIC = "accuracy.final"


def value(budget: int, gas: float, replicate: int) -> float:
    """A metric with a per-replicate offset, so that pairing by replicate matters."""
    return 0.5 + budget / 10_000 + gas / 100 + [0.0, 0.2, 0.05][replicate]


def grid(seeds: int = 2, **columns: Any) -> pl.DataFrame:
    """A 2x2 sweep table (budget x gas price, ``seeds`` replicates), shaped like
    results.parquet; ``columns`` replace whole columns."""
    rows = []
    for budget in (100, 1000):
        for gas in (1.0, 2.0):
            for r in range(seeds):
                i = len(rows)
                rows.append({"run_index": i, "run_id": f"run{i}", "replicate": r,
                             "seed": 10 + r, f"param:{BUDGET}": budget, f"param:{GAS}": gas,
                             "status": "ok", "error": "", METRIC: value(budget, gas, r)})
    return pl.DataFrame(rows).with_columns(**{k: pl.Series(v) for k, v in columns.items()})


def one_line(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """Run the CLI, expecting exit code 2 and exactly one line on stderr."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


# -- 1. the reference must name one point -----------------------------------------------------


def test_a_reference_fixing_some_parameters_pairs_within_each_cell_of_the_others() -> None:
    """Fixing the budget only: each point pairs, replicate by replicate, with the budget-100
    run at its own gas price (never with both gas prices' runs: no difference counts twice)."""
    df = grid(seeds=3)
    out = paired_differences(df, {BUDGET: 100}, [METRIC])
    assert out.height == 2 and out["n"].to_list() == [3, 3]
    assert sorted(out[GAS].to_list()) == [1.0, 2.0] and out[BUDGET].to_list() == [1000, 1000]
    for r in out.iter_rows(named=True):
        # the gas price and the replicate's offset cancel within a cell
        assert r["mean_diff"] == pytest.approx(value(1000, r[GAS], 0) - value(100, r[GAS], 0))
        assert r["ci"] == pytest.approx(0, abs=1e-12)
    pairs = paired_differences(df, {BUDGET: 100}, [METRIC], per_replicate=True)
    assert pairs.height == 6
    assert pairs.group_by(GAS, "replicate").len()["len"].to_list() == [1] * 6
    for r in pairs.iter_rows(named=True):
        assert r["reference"] == pytest.approx(value(100, r[GAS], r["replicate"]))
    # a cell whose reference run did not finish: its point has no pair (n = 0)
    failed = df.with_columns(pl.when((pl.col(f"param:{BUDGET}") == 100)
                                     & (pl.col(f"param:{GAS}") == 2.0))
                             .then(pl.lit("failed")).otherwise(pl.col("status")).alias("status"))
    out = paired_differences(failed, {BUDGET: 100}, [METRIC]).sort(GAS)
    assert out["n"].to_list() == [3, 0] and out["mean_diff"].to_list()[1] is None


def test_full_reference_pairs_each_replicate_once() -> None:
    df = grid(seeds=3)
    out = paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    assert out.height == 3 and out["n"].to_list() == [3, 3, 3]
    for r in out.iter_rows(named=True):
        expected = value(r[BUDGET], r[GAS], 0) - value(100, 1.0, 0)  # same for every seed
        assert r["mean_diff"] == pytest.approx(expected) and r["ci"] == pytest.approx(0, abs=1e-12)


def test_a_single_pair_gives_a_difference_without_an_interval(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """One replicate: the difference is known, its interval is not (a t-interval needs two
    pairs); a half-width of 0 would read as a difference resolved exactly."""
    df = grid(seeds=1)
    out = paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    assert out["n"].to_list() == [1, 1, 1] and out["ci"].null_count() == 3
    assert out["mean_diff"].null_count() == 0
    agg = aggregate(df, [f"param:{BUDGET}"], METRIC)
    assert agg["n"].to_list() == [2, 2] and agg["ci"].null_count() == 0
    agg1 = aggregate(df, [f"param:{BUDGET}", f"param:{GAS}"], METRIC)
    assert agg1["ci"].null_count() == 4  # one seed per point: no interval anywhere
    folder = tmp_path / "sweep"
    folder.mkdir()
    df.write_parquet(folder / "results.parquet")
    assert main(["report", str(folder), "--reference", f"{BUDGET}=100,{GAS}=1.0",
                 "--metric", METRIC]) == 0
    printed = capsys.readouterr().out
    assert printed.count("(one pair: no interval)  (n=1)") == 3 and "+- 0" not in printed
    written = pl.read_parquet(folder / "paired_differences.parquet")
    assert written["ci"].null_count() == 3


def test_constant_parameter_may_be_left_out() -> None:
    df = grid().with_columns(pl.lit("perceptron").alias("param:model.kind"))
    out = paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    assert out["n"].to_list() == [2, 2, 2]
    out2 = paired_differences(df, {BUDGET: 100, GAS: 1.0, "model.kind": "perceptron"}, [METRIC])
    assert out2.equals(out)


def test_reference_naming_an_unknown_parameter_or_value_is_refused() -> None:
    with pytest.raises(InputError, match=r"not swept: chain\.gas; swept: agents\[1\]\.budget, "
                                         r"chain\.gas_price_gwei"):
        paired_differences(grid(), {BUDGET: 100, "chain.gas": 1.0}, [METRIC])
    with pytest.raises(InputError, match=r"no run has agents\[1\]\.budget=500; values: 100, "
                                         r"1000"):
        paired_differences(grid(), {BUDGET: 500, GAS: 1.0}, [METRIC])


def test_a_reference_given_as_text_is_refused_saying_what_is_expected() -> None:
    """The command line's ``k=v`` form passed from Python: one clear error, not the text's
    characters taken for parameter names."""
    with pytest.raises(InputError, match=r"expected the fixed parameters as a table of dotted "
                                         r"paths and values .*got str 'agents\[1\]\.budget=100'"):
        paired_differences(grid(), f"{BUDGET}=100", [METRIC])  # type: ignore[arg-type]


def test_cli_reference_errors_are_one_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    grid().write_parquet(tmp_path / "results.parquet")
    line = one_line(capsys, ["report", str(tmp_path), "--reference", f'{BUDGET}="100",{GAS}=1'])
    assert "agents[1].budget='100' is a str" in line and "100, 1000" in line
    assert main(["report", str(tmp_path), "--reference", f"{BUDGET}=100,{GAS}=1",
                 "--metric", METRIC]) == 0
    assert capsys.readouterr().out.count("(n=2)") == 3


# -- 2. reference values compared as the column's type ----------------------------------------


def test_int_and_float_of_equal_value_match() -> None:
    df = grid()
    expected = paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    assert paired_differences(df, {BUDGET: 100, GAS: 1}, [METRIC]).equals(expected)
    assert paired_differences(df, {BUDGET: 100.0, GAS: 1.0}, [METRIC]).equals(expected)


@pytest.mark.parametrize(("ref", "message"), [
    ({BUDGET: "100", GAS: 1.0}, r"agents\[1\]\.budget='100' is a str, but agents\[1\]\.budget "
                                r"holds Int64 values: 100, 1000"),
    ({BUDGET: 100, GAS: True}, r"chain\.gas_price_gwei=True is a bool, but "
                               r"chain\.gas_price_gwei holds Float64 values: 1\.0, 2\.0"),
])
def test_reference_value_of_the_wrong_type_is_refused(ref: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        paired_differences(grid(), ref, [METRIC])


def test_number_against_a_string_parameter_is_refused() -> None:
    df = grid().with_columns(pl.col(f"param:{BUDGET}").cast(pl.String))
    with pytest.raises(InputError, match=r"is a int, but agents\[1\]\.budget holds String "
                                         r"values: '100', '1000'"):
        paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    assert paired_differences(df, {BUDGET: "100", GAS: 1.0}, [METRIC])["n"].to_list() == [2] * 3
    # an amount the sweep wrote as text (exact ether): the message shows how to quote it
    df = grid().with_columns(pl.col(f"param:{BUDGET}").cast(pl.String) + ".000")
    with pytest.raises(InputError, match=r"; write it as the sweep does, quoted: "
                                         r"agents\[1\]\.budget=\"100\.000\"$"):
        paired_differences(df, {BUDGET: 100.0, GAS: 1.0}, [METRIC])


# -- 3. no replicate column -------------------------------------------------------------------


def test_table_without_replicates_is_refused(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    df = grid().drop("replicate")
    with pytest.raises(InputError, match=r"not a sweep table with replicates \(no column "
                                         r"'replicate'\)"):
        paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    df.write_parquet(tmp_path / "results.parquet")
    line = one_line(capsys, ["report", str(tmp_path), "--reference", f"{BUDGET}=100,{GAS}=1"])
    assert "not a sweep table with replicates" in line


def test_replicate_twice_at_a_point_is_refused() -> None:
    df = grid()
    df = pl.concat([df, df.head(1).with_columns(run_id=pl.lit("again"))])
    with pytest.raises(InputError, match=r"replicate 0 finished more than once at "
                                         r"agents\[1\]\.budget=100, chain\.gas_price_gwei=1\.0"):
        paired_differences(df, {BUDGET: 1000, GAS: 2.0}, [METRIC])


# -- 4. a status column that does not hold run statuses ---------------------------------------


def test_integer_status_is_not_a_sweep_table(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    df = grid(status=[1] * 8)
    message = r"not a sweep results table: column 'status' holds Int64 values"
    with pytest.raises(InputError, match=message):
        aggregate(df, [f"param:{BUDGET}"], METRIC)
    with pytest.raises(InputError, match=message):
        sweep_figures(df, tmp_path / "figures")
    with pytest.raises(InputError, match=message):
        paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    df.write_parquet(tmp_path / "results.parquet")
    assert "holds Int64 values" in one_line(capsys, ["report", str(tmp_path)])
    assert not (tmp_path / "figures").exists()


# -- 5. no run finished -----------------------------------------------------------------------


def test_all_failed_rows_with_metrics_draw_nothing(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    df = grid(status=["failed"] * 8, error=["boom"] * 8)  # metric values still present
    assert sweep_figures(df, tmp_path / "figures") == []
    assert aggregate(df, [f"param:{BUDGET}"], METRIC).height == 0
    with pytest.raises(InputError, match="no run finished"):
        paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    df.write_parquet(tmp_path / "results.parquet")
    assert main(["report", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "nothing to draw" in err and "no run finished" in err
    assert "no run finished" in one_line(
        capsys, ["report", str(tmp_path), "--reference", f"{BUDGET}=100,{GAS}=1"])


def test_failed_runs_values_do_not_make_a_metric_vary(tmp_path: Path) -> None:
    """Only finished runs count: a metric constant over them is not drawn, whatever the
    failed rows carry."""
    df = grid(**{METRIC: [0.5] * 7 + [0.9], "status": ["ok"] * 7 + ["failed"]})
    assert sweep_figures(df, tmp_path / "figures") == []


# -- 6. non-finite metric values are left out -------------------------------------------------


def test_infinite_values_are_left_out_of_means() -> None:
    assert mean_ci([1.0, math.inf, 3.0, -math.inf, math.nan, None]) == pytest.approx(
        mean_ci([1.0, 3.0]))
    assert mean_ci([1.0, 3.0])[2] == 2
    df = grid(**{METRIC: [math.inf, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, 0.4]})
    agg = aggregate(df, [f"param:{BUDGET}"], METRIC)
    assert agg["n"].to_list() == [3, 4]
    assert agg["mean"][0] == pytest.approx(0.7) and math.isfinite(agg["ci"][0])


def test_infinite_values_are_drawn_without_warnings(tmp_path: Path) -> None:
    df = grid(**{METRIC: [math.inf, 0.6, 0.7, 0.8, 0.1, 0.2, 0.3, -math.inf]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        written = sweep_figures(df, tmp_path / "figures", [METRIC])
    assert [p.name for p in written] == [f"{METRIC}_vs_{BUDGET}.png", f"{METRIC}_heatmap.png"]


def test_infinite_values_leave_their_pair_out() -> None:
    metric = [value(b, g, r) for b in (100, 1000) for g in (1.0, 2.0) for r in range(2)]
    metric[2] = math.inf  # budget 100, gas 2.0, replicate 0
    out = paired_differences(grid(**{METRIC: metric}), {BUDGET: 100, GAS: 1.0}, [METRIC])
    assert out["n"].to_list() == [1, 2, 2]
    assert all(math.isfinite(v) for v in out["mean_diff"].to_list())


def test_a_reference_report_draws_the_figures_too_and_prints_units(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--reference`` adds the paired differences to what ``report`` does (it drew nothing
    before); each printed number carries its metric's unit and no exponent below a million."""
    eth = "attacker_spend_eth"
    df = grid(seeds=3).with_columns(
        (pl.col(f"param:{BUDGET}") * 2.5 + pl.col("replicate") * 3.0).alias(eth))
    folder = tmp_path / "sweep"
    folder.mkdir()
    df.write_parquet(folder / "results.parquet")
    assert main(["report", str(folder), "--reference", f"{BUDGET}=100,{GAS}=1.0",
                 "--metric", METRIC, "--metric", eth]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in (folder / "figures").iterdir())  # figures drawn
    assert (folder / "paired_differences.parquet").is_file()
    # 1000 vs 100 at 2.5 ETH each: +2,250 ETH in every replicate (interval 0)
    assert "+2,250 +- 0 ETH  (n=3)" in printed
    # one line per point, then one per metric beneath it
    assert re.search(r"\n  agents\[1\]\.budget = 1000, chain\.gas_price_gwei = 1\.0\n"
                     r"    accuracy\.final +\+0\.09 \+- \S+ \(accuracy, 0-1\)  \(n=3\)\n"
                     r"    attacker_spend_eth +\+2,250 \+- 0 ETH  \(n=3\)\n", printed), printed


def test_the_pairs_behind_each_mean_are_one_row_per_replicate() -> None:
    """``per_replicate=True``: the differences the means average, replicate by replicate,
    paired the same way (a replicate's offset cancels in every difference)."""
    df = grid(seeds=3)
    pairs = paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC], per_replicate=True)
    assert pairs.height == 3 * 3  # three other points x three replicates
    assert set(pairs.columns) == {BUDGET, GAS, "replicate", "metric", "value", "reference",
                                  "diff"}
    for r in pairs.iter_rows(named=True):
        assert r["value"] == value(r[BUDGET], r[GAS], r["replicate"])
        assert r["reference"] == value(100, 1.0, r["replicate"])
        assert r["diff"] == pytest.approx(value(r[BUDGET], r[GAS], 0) - value(100, 1.0, 0))
    means = paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC])
    got = pairs.group_by(BUDGET, GAS, maintain_order=True).agg(pl.col("diff").mean())
    for r in means.iter_rows(named=True):
        row = got.filter((pl.col(BUDGET) == r[BUDGET]) & (pl.col(GAS) == r[GAS]))
        assert row["diff"][0] == pytest.approx(r["mean_diff"])


def test_a_point_whose_runs_all_failed_is_listed_with_no_pair() -> None:
    df = grid(seeds=2).with_columns(
        pl.when((pl.col(f"param:{BUDGET}") == 1000) & (pl.col(f"param:{GAS}") == 2.0))
        .then(pl.lit("failed")).otherwise(pl.col("status")).alias("status"))
    out = paired_differences(df, {BUDGET: 100, GAS: 1.0}, [METRIC]).sort(BUDGET, GAS)
    assert out.select(BUDGET, GAS, "n").rows() == [(100, 2.0, 2), (1000, 1.0, 2), (1000, 2.0, 0)]
    assert out["mean_diff"].to_list()[2] is None


def test_the_points_that_leave_a_parameter_unset_can_be_the_reference(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ``[[points]]`` entry without the parameter (null in its column) is named by the label
    the figures give it, "(base)"; the same parameter twice is refused."""
    df = grid(seeds=2).with_columns(
        pl.when(pl.col(f"param:{GAS}") == 1.0).then(None).otherwise(pl.col(f"param:{GAS}"))
        .alias(f"param:{GAS}"))
    out = paired_differences(df, {GAS: "(base)"}, [METRIC]).sort(BUDGET)
    assert out.select(BUDGET, GAS, "n").rows() == [(100, 2.0, 2), (1000, 2.0, 2)]
    for r in out.iter_rows(named=True):
        assert r["mean_diff"] == pytest.approx(value(r[BUDGET], 2.0, 0) - value(r[BUDGET], 1.0, 0))
    with pytest.raises(InputError, match=r"values: '\(base\)', 2\.0"):
        paired_differences(df, {GAS: 3.0}, [METRIC])
    df.write_parquet(tmp_path / "results.parquet")
    line = one_line(capsys, ["report", str(tmp_path), "--reference",
                             f"{BUDGET}=100,{BUDGET}=1000"])
    assert line == f"--reference: {BUDGET} is given twice; a reference names one value of " \
        "each parameter"


def test_a_reference_may_name_a_field_inside_a_swept_table() -> None:
    """Points giving whole ``incentive`` tables: ``incentive.kind=...`` picks the one table of
    that kind (as the whole table would); a kind two tables share, or none has, is refused
    naming the tables."""
    drt = '{"kind":"deposit_refund_take","refund_wait_s":86400}'
    drt_long = '{"kind":"deposit_refund_take","refund_wait_s":172800}'
    points = '{"kind":"points"}'
    rows = []
    for table, shift in ((drt, 0.0), (points, 0.1)):
        for r in range(3):
            i = len(rows)
            rows.append({"run_index": i, "run_id": f"run{i}", "replicate": r, "seed": r,
                         "param:incentive": table, "status": "ok", "error": "",
                         METRIC: 0.5 + shift + [0.0, 0.2, 0.05][r]})
    df = pl.DataFrame(rows)
    by_kind = paired_differences(df, {"incentive.kind": "deposit_refund_take"}, [METRIC])
    whole = paired_differences(df, {"incentive": drt}, [METRIC])
    assert by_kind.equals(whole) and whole.height == 1
    assert whole["mean_diff"][0] == pytest.approx(0.1)
    with pytest.raises(InputError, match=r"incentive\.kind='bonus': none of the swept "
                                         r"incentive tables .* has kind = 'bonus'"):
        paired_differences(df, {"incentive.kind": "bonus"}, [METRIC])
    two = df.vstack(df.head(3).with_columns(pl.lit(drt_long).alias("param:incentive")))
    with pytest.raises(InputError, match=r"2 of the swept incentive tables"):
        paired_differences(two, {"incentive.kind": "deposit_refund_take"}, [METRIC])
