"""Fuzzing round 3: tables whose shape or column types the tabular loader did not expect."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest

from sumsim.data.tabular import load_table
from sumsim.errors import DataError

N = 40
LABELS = [i % 2 for i in range(N)]


def test_a_wide_table_loads_in_linear_time(tmp_path: Path) -> None:
    """Reading each column's type rebuilt the whole schema (and a feature list was counted once
    per name): a 3,000-column table took over 5 s, 200,000 columns never finished."""
    n = 3000
    path = tmp_path / "wide.csv"
    pl.DataFrame({**{f"c{i}": [float(j) for j in range(6)] for i in range(n)},
                  "label": [0, 1] * 3}).write_csv(path)
    start = time.perf_counter()
    ds = load_table(path, label_column="label")
    ds2 = load_table(path, label_column="label", feature_columns=[f"c{i}" for i in range(n)])
    assert time.perf_counter() - start < 2.0
    assert ds.x_train.shape[1] == ds2.x_train.shape[1] == n


@pytest.mark.parametrize("dtype", [pl.List(pl.Int64), pl.Array(pl.Int64, 1)])
def test_a_label_column_of_lists_is_a_data_error(tmp_path: Path, dtype: pl.DataType) -> None:
    path = tmp_path / "t.parquet"
    pl.DataFrame({"f": [1.0] * N, "label": pl.Series([[v] for v in LABELS], dtype=dtype)}
                 ).write_parquet(path)
    with pytest.raises(DataError, match=r"label column 'label' holds lists") as info:
        load_table(path, label_column="label")
    assert str(path) in str(info.value)


def test_a_text_column_of_lists_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pl.DataFrame({"text": [["a", "b"]] * N, "label": LABELS}).write_parquet(path)
    with pytest.raises(DataError, match=r"text column 'text' holds lists"):
        load_table(path, label_column="label", text_column="text")


def test_a_binary_text_column_that_is_not_utf8_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pl.DataFrame({"text": [b"\xff\xfe words"] * N, "label": LABELS}).write_parquet(path)
    with pytest.raises(DataError, match=r"text column 'text' \(type Binary\) cannot be read as "
                       r"text"):
        load_table(path, label_column="label", text_column="text")


def test_binary_text_in_utf8_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pl.DataFrame({"text": [b"good words", b"bad words"] * (N // 2), "label": LABELS}
                 ).write_parquet(path)
    ds = load_table(path, label_column="label", text_column="text")
    assert ds.x_train.shape[0] > 0


def test_continuous_labels_name_a_plain_number(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pl.DataFrame({"f": [1.0] * N, "label": [float("nan")] + [0.0, 1.0] * (N // 2 - 1) + [0.0]}
                 ).write_csv(path)
    with pytest.raises(DataError, match=r"e\.g\. nan\)") as info:
        load_table(path, label_column="label")
    assert "np.float64" not in str(info.value)


def test_a_header_split_by_another_delimiter_is_pointed_out(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("f1;label\n" + "".join(f"{i};{i % 2}\n" for i in range(N)))
    with pytest.raises(DataError, match=r"separated by ';'"):
        load_table(path, label_column="label")
