"""CSV/Parquet loader: hand-checked text and numeric features, the split, and every error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sumsim.data.base import Dataset, Matrix, rows
from sumsim.data.tabular import load_table
from sumsim.errors import DataError, InputError

TEXT_CSV = """id,text,label
0,"Good film, good!",pos
1,"Bad film.<br />Awful.",neg
2,Good acting,pos
3,bad bad plot,neg
4,Fine,pos
"""
# default_rng(0).permutation(5) == [2, 4, 3, 0, 1]: with test_fraction 0.2 the training rows
# are 2, 4, 3, 0 (in that order) and the test row is 1.
TRAIN_ROWS = [2, 4, 3, 0]
TEST_ROWS = [1]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def index_lists(x: Matrix) -> list[list[int]]:
    return [r.tolist() for r in rows(x)]


def assert_same(a: Dataset, b: Dataset) -> None:
    assert a.feature_names == b.feature_names and a.class_names == b.class_names
    for part in ("train", "test"):
        xa, xb = getattr(a, f"x_{part}"), getattr(b, f"x_{part}")
        if a.is_sparse:
            assert index_lists(xa) == index_lists(xb)
        else:
            np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(getattr(a, f"y_{part}"), getattr(b, f"y_{part}"))


def test_split_assumption() -> None:
    assert np.random.default_rng(0).permutation(5).tolist() == TRAIN_ROWS + TEST_ROWS


# --------------------------------------------------------------------------- text features


def test_text_top_n_by_hand(tmp_path: Path) -> None:
    ds = load_table(
        write(tmp_path / "reviews.csv", TEXT_CSV),
        label_column="label",
        text_column="text",
        num_words=3,
    )
    assert ds.name == "reviews"
    assert ds.class_names == ("neg", "pos")
    # Training texts (rows 2, 4, 3, 0): "good acting", "fine", "bad bad plot", "good film good"
    # -> good 3, bad 2, then acting/film/fine/plot once each (alphabetical tie-break).
    assert ds.feature_names == ("good", "bad", "acting")
    assert ds.is_sparse and ds.x_train.shape == (4, 3) and ds.x_test.shape == (1, 3)
    assert index_lists(ds.x_train) == [[0, 2], [], [1], [0]]
    np.testing.assert_array_equal(ds.y_train, [1, 1, 0, 1])
    # Test row 1 "bad film awful": only "bad" is in the vocabulary.
    assert index_lists(ds.x_test) == [[1]]
    np.testing.assert_array_equal(ds.y_test, [0])
    assert set(ds.x_train.data.tolist()) == {1.0}


def test_text_vocabulary_ignores_test_rows(tmp_path: Path) -> None:
    ds = load_table(
        write(tmp_path / "reviews.csv", TEXT_CSV),
        label_column="label",
        text_column="text",
        num_words=100,
    )
    assert ds.feature_names == ("good", "bad", "acting", "film", "fine", "plot")
    assert "awful" not in ds.feature_names and "br" not in ds.feature_names


def test_text_hashed_by_hand(tmp_path: Path) -> None:
    ds = load_table(
        write(tmp_path / "reviews.csv", TEXT_CSV),
        label_column="label",
        text_column="text",
        text_features="hashed",
        num_words=8,
    )
    # zlib.crc32(word) % 8: good 2, film 2, fine 2, bad 3, plot 1, acting 7, awful 7
    assert ds.feature_names == tuple(f"hash:{b}" for b in range(8))
    assert ds.x_train.shape == (4, 8)
    assert index_lists(ds.x_train) == [[2, 7], [2], [1, 3], [2]]
    assert index_lists(ds.x_test) == [[2, 3, 7]]


def test_missing_text_counts_as_empty(tmp_path: Path) -> None:
    path = write(tmp_path / "t.csv", "text,label\ngood,a\n,b\ngood good,a\nbad,b\n")
    ds = load_table(path, label_column="label", text_column="text", test_fraction=0.25)
    assert ds.x_train.shape[0] + ds.x_test.shape[0] == 4


def test_seed_changes_split(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews.csv", TEXT_CSV)
    a = load_table(path, label_column="label", text_column="text", num_words=3, seed=0)
    b = load_table(path, label_column="label", text_column="text", num_words=3, seed=0)
    assert_same(a, b)
    # default_rng(1).permutation(5) == [4, 0, 1, 2, 3]: training rows "fine", "good film good",
    # "bad film awful", "good acting" -> good 3, film 2, then acting (alphabetically first).
    c = load_table(path, label_column="label", text_column="text", num_words=3, seed=1)
    assert c.feature_names == ("good", "film", "acting")
    assert index_lists(c.x_train) == [[], [0, 1], [1], [0, 2]]
    np.testing.assert_array_equal(c.y_train, [1, 1, 0, 1])
    assert index_lists(c.x_test) == [[]]  # row 3 "bad bad plot"
    np.testing.assert_array_equal(c.y_test, [0])


# --------------------------------------------------------------------------- numeric


NUMERIC_CSV = """a,b,flag,label
1.5,10,true,2
2.5,20,false,10
3.5,30,true,2
4.5,40,false,10
5.5,50,true,2
"""


def test_numeric_all_other_columns(tmp_path: Path) -> None:
    ds = load_table(write(tmp_path / "num.csv", NUMERIC_CSV), label_column="label")
    assert not ds.is_sparse
    assert ds.feature_names == ("a", "b", "flag")
    # Classes sort by value (2 < 10), named by their string form.
    assert ds.class_names == ("2", "10")
    assert ds.x_train.dtype == np.float64
    np.testing.assert_array_equal(
        ds.x_train, [[3.5, 30.0, 1.0], [5.5, 50.0, 1.0], [4.5, 40.0, 0.0], [1.5, 10.0, 1.0]]
    )
    np.testing.assert_array_equal(ds.y_train, [0, 0, 1, 0])
    np.testing.assert_array_equal(ds.x_test, [[2.5, 20.0, 0.0]])
    np.testing.assert_array_equal(ds.y_test, [1])


def test_numeric_selected_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "num.csv", "name,x,y,label\nA,1,2,u\nB,3,4,v\nC,5,6,u\nD,7,8,v\n")
    ds = load_table(path, label_column="label", feature_columns=["y"], test_fraction=0.25)
    assert ds.feature_names == ("y",)
    assert sorted(np.concatenate([ds.x_train[:, 0], ds.x_test[:, 0]]).tolist()) == [2, 4, 6, 8]
    assert ds.x_test.shape == (1, 1)


# --------------------------------------------------------------------------- parquet


def test_parquet_round_trip(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "reviews.csv", TEXT_CSV)
    pq_path = tmp_path / "reviews.parquet"
    pl.read_csv(csv_path).write_parquet(pq_path)
    for mode in ("top_n", "hashed"):
        assert_same(
            load_table(csv_path, label_column="label", text_column="text", text_features=mode),
            load_table(pq_path, label_column="label", text_column="text", text_features=mode),
        )


def test_parquet_numeric_round_trip(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "num.csv", NUMERIC_CSV)
    pq_path = tmp_path / "num.PARQUET"
    pl.read_csv(csv_path).write_parquet(pq_path)
    assert_same(
        load_table(csv_path, label_column="label"), load_table(pq_path, label_column="label")
    )


# --------------------------------------------------------------------------- errors


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"empty\.csv: file is empty"):
        load_table(write(tmp_path / "empty.csv", ""), label_column="label")
    with pytest.raises(DataError, match=r"empty\.parquet: file is empty"):
        load_table(write(tmp_path / "empty.parquet", ""), label_column="label")


def test_no_rows(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"header\.csv: no data rows"):
        load_table(write(tmp_path / "header.csv", "text,label\n"), label_column="label")
    pq = tmp_path / "norows.parquet"
    pl.DataFrame({"x": [1.0], "label": ["a"]}).head(0).write_parquet(pq)
    with pytest.raises(DataError, match=r"norows\.parquet: no data rows"):
        load_table(pq, label_column="label")


def test_corrupt_csv(tmp_path: Path) -> None:
    path = write(tmp_path / "ragged.csv", "a,label\n1,x\n2,y,extra\n")
    with pytest.raises(DataError, match=r"ragged\.csv: could not parse as CSV"):
        load_table(path, label_column="label")
    unclosed = write(tmp_path / "quote.csv", 'a,label\n"1,x\n2,y\n')
    with pytest.raises(DataError, match=r"quote\.csv: could not parse as CSV"):
        load_table(unclosed, label_column="label")


def test_label_column_absent_lists_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "reviews.csv", TEXT_CSV)
    with pytest.raises(DataError, match="label column 'sentiment' not found") as info:
        load_table(path, label_column="sentiment", text_column="text")
    assert "available columns: 'id', 'text', 'label'" in str(info.value)
    assert info.value.field == "label_column"


def test_non_numeric_feature_column(tmp_path: Path) -> None:
    path = write(tmp_path / "mixed.csv", "x,name,label\n1,ann,a\n2,bob,b\n3,cy,a\n")
    with pytest.raises(DataError, match=r"mixed\.csv: name: feature column 'name' is not numeric"):
        load_table(path, label_column="label")
    with pytest.raises(DataError, match="feature column 'name' is not numeric"):
        load_table(path, label_column="label", feature_columns=["x", "name"])
    # Selecting only the numeric column is fine.
    assert load_table(path, label_column="label", feature_columns=["x"]).n_features == 1


@pytest.mark.parametrize(("cells", "why"), [
    (["1", "nan", "4"], "was read as text (row 1 holds 'nan', not a finite number)"),
    (["", "", ""], "has no values (every cell is empty)"),
    (["1", "2", "two"], "is not numeric (row 2 holds 'two')"),
])
def test_a_feature_column_read_as_text_says_why(tmp_path: Path, cells: list[str],
                                                why: str) -> None:
    rows = "".join(f"{i},{c},{'ab'[i % 2]}\n" for i, c in enumerate(cells))
    path = write(tmp_path / "odd.csv", "x,f,label\n" + rows)
    with pytest.raises(DataError) as info:
        load_table(path, label_column="label")
    assert info.value.message == (f"feature column 'f' {why}; give it as text_column or leave "
                                  "it out of feature_columns")


@pytest.mark.parametrize(
    ("name", "content", "options", "message"),
    [
        pytest.param("nope.csv", None, {}, r"nope\.csv: no such file", id="file_missing"),
        pytest.param(
            "data.tsv",
            "a\tlabel\n1\tx\n",
            {},
            r"data\.tsv: unsupported file type '\.tsv'.*\.csv, \.parquet",
            id="unsupported_suffix",
        ),
        pytest.param(
            "bad.parquet",
            "this is not parquet",
            {},
            r"bad\.parquet: could not parse as Parquet",
            id="corrupt_parquet",
        ),
        pytest.param(
            "reviews.csv",
            TEXT_CSV,
            {"text_column": "review"},
            "text column 'review' not found.*'id', 'text', 'label'",
            id="text_column_absent",
        ),
        pytest.param(
            "num.csv",
            NUMERIC_CSV,
            {"feature_columns": ["a", "c"]},
            "feature column 'c' not found.*'a', 'b'",
            id="feature_column_absent",
        ),
        pytest.param(
            "one.csv",
            "x,label\n1,yes\n2,yes\n3,yes\n",
            {},
            r"one\.csv: label: only one class \('yes'\)",
            id="only_one_class",
        ),
        pytest.param(
            "holes.csv",
            "x,label\n1,a\n,b\n3,a\n",
            {},
            "feature column 'x' has 1 missing value",
            id="missing_feature_values",
        ),
        pytest.param(
            "nulls.csv",
            "x,label\n1,a\n2,\n3,b\n4,\n",
            {},
            r"nulls\.csv: label: 2 missing label\(s\) \(first rows: \[1, 3\]\)",
            id="null_labels",
        ),
        pytest.param(
            "nul.csv",
            "x,label\n1,0\n2,1\n3,0\x00\x00\n4,1\n",
            {},
            r"nul\.csv: label: the label on row 2 \(counting from 0: '0\\x00\\x00'\) holds "
            r"control characters",
            id="label_with_nul_bytes",
        ),
        pytest.param("bare.csv", "label\na\nb\n", {}, "no feature columns", id="only_label_column"),
        pytest.param(
            "tiny.csv",
            "x,label\n1,a\n2,b\n",
            {"test_fraction": 0.9},
            r"tiny\.csv: 2 row\(s\) are too few to split",
            id="too_few_rows_to_split",
        ),
    ],
)
def test_bad_table(
    tmp_path: Path, name: str, content: str | None, options: dict, message: str
) -> None:
    """One file (none when ``content`` is None) that the loader refuses with ``message``."""
    path = tmp_path / name if content is None else write(tmp_path / name, content)
    with pytest.raises(DataError, match=message):
        load_table(path, label_column="label", **options)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"text_features": "tfidf"}, "text_features"),
        ({"test_fraction": 0.0}, "test_fraction"),
        ({"test_fraction": 1.5}, "test_fraction"),
        ({"num_words": 0}, "num_words"),
        ({"feature_columns": ["a"], "text_column": "text"}, "feature_columns"),
        ({"feature_columns": []}, "feature_columns"),
        ({"feature_columns": ["nope"]}, "feature_columns"),
        ({"text_column": "nope"}, "text_column"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, field: str) -> None:
    path = write(tmp_path / "num.csv", NUMERIC_CSV)
    with pytest.raises(InputError) as err:
        load_table(path, label_column="label", **kwargs)
    assert err.value.field == field  # (the option as the scenario spells it)


@pytest.mark.parametrize(("dataset", "name"), [("parquet", "t.csv"), ("csv", "t.parquet")])
def test_the_dataset_kind_must_match_the_files_type(tmp_path: Path, dataset: str,
                                                     name: str) -> None:
    """The loader reads by suffix: a ``parquet`` dataset pointing at a CSV file would be read
    as CSV without a word."""
    from sumsim.data.load import load_dataset
    from sumsim.scenario.schema import DataSection

    path = tmp_path / name
    df = pl.DataFrame({"label": [0, 1, 0, 1], "a": [1, 2, 1, 3]})
    df.write_csv(path) if name.endswith(".csv") else df.write_parquet(path)
    sec = DataSection(dataset=dataset, path=str(path))
    with pytest.raises(DataError, match=rf"dataset '{dataset}' reads a \.{dataset} file, got "
                                        rf"'{name}'"):
        load_dataset(sec, 1)
    right = DataSection(dataset="csv" if name.endswith(".csv") else "parquet", path=str(path))
    assert load_dataset(right, 1).n_classes == 2


def test_features_the_contract_cannot_hold_are_refused_before_the_run(tmp_path: Path) -> None:
    """A dense sample reaches the contract as int64 fixed point with 9 decimals: beyond 9e9 it
    would wrap around and every on-chain prediction would be garbage (accuracy fell to 0)."""
    import sumsim

    rng = np.random.default_rng(1)
    a = rng.normal(size=120)
    for scale, ok in ((1e12, False), (1e9, True)):
        path = tmp_path / f"s{scale:g}.csv"
        pl.DataFrame({"a": a * scale, "label": (a > 0).astype(int)}).write_csv(path)
        # (float centroids: the fixed-point ones would overflow at these values, which the
        # model refuses on its own)
        overrides = {"data.dataset": "csv", "data.path": str(path),
                     "model.kind": "nearest_centroid", "model.fixed_point": False,
                     "metrics.counterfactual": False}
        if ok:
            assert sumsim.run("quickstart", overrides=overrides).summary["accuracy"]["final"] > 0.9
        else:
            with pytest.raises(InputError, match=r"data: a feature value of .* is beyond what "
                                                 r"the contract holds \(\+-9e\+09"):
                sumsim.run("quickstart", overrides=overrides)


def test_naive_bayes_refuses_negative_features_before_the_run(tmp_path: Path) -> None:
    """It failed on the first contribution with a negative count (a traceback mid-run)."""
    import sumsim

    path = tmp_path / "neg.csv"
    pl.DataFrame({"a": [-1.0, 2.0] * 30, "label": [0, 1] * 30}).write_csv(path)
    with pytest.raises(InputError, match="model: naive Bayes needs non-negative feature counts"):
        sumsim.run("quickstart", overrides={"data.dataset": "csv", "data.path": str(path),
                                            "model.kind": "naive_bayes"})


def test_a_binary_model_on_three_classes_names_the_classes(tmp_path: Path) -> None:
    """The classes are spelt out, so a stray one (a typo, a damaged cell) shows."""
    import sumsim

    path = tmp_path / "three.csv"
    pl.DataFrame({"a": [1.0, 2.0, 3.0] * 20, "label": ["no", "yes", "yes "] * 20}).write_csv(path)
    with pytest.raises(InputError, match=r"model: the perceptron is a binary classifier \(the "
                       r"dataset has 3 classes: 'no', 'yes', 'yes '; 1 feature\)"):
        sumsim.run("quickstart", overrides={"data.dataset": "csv", "data.path": str(path)})


def test_the_fixed_point_perceptron_refuses_fractional_features_before_the_run(
        tmp_path: Path) -> None:
    """Integer weights move by learning_rate x feature in whole units: 0.5 or 0.25 would move
    them by nothing (it crashed mid-run pricing a slot written 0 -> 0 as new and cleared at
    once).  Whole-number features, or float weights, run."""
    import sumsim

    path = tmp_path / "frac.csv"
    pl.DataFrame({"label": [0, 1] * 20, "f0": [0.5, 0.25] * 20}).write_csv(path)
    overrides = {"data.dataset": "csv", "data.path": str(path),
                 "metrics.counterfactual": False}
    with pytest.raises(InputError, match=r"model: the fixed-point perceptron .* feature values "
                       r"have fractions \(e\.g\. 0\.[25]+\).* set model\.fixed_point = false"):
        sumsim.run("quickstart", overrides=overrides)
    assert sumsim.run("quickstart", overrides={**overrides, "model.fixed_point": False})
    whole = tmp_path / "whole.csv"
    pl.DataFrame({"label": [0, 1] * 20, "f0": [2.0, -3.0] * 20}).write_csv(whole)
    assert sumsim.run("quickstart", overrides={**overrides, "data.path": str(whole)})


@pytest.mark.parametrize("folder", ["run[1]", "x[]", "a*b?"])
def test_a_data_file_in_a_folder_named_like_a_pattern_is_read(tmp_path: Path,
                                                               folder: str) -> None:
    """A path is a file, not a glob pattern: ``run[1]/d.csv`` was looked for as ``run1/d.csv``
    and ``x[]`` was an invalid pattern."""
    import sumsim

    (tmp_path / folder).mkdir()
    path = tmp_path / folder / "d.csv"
    pl.DataFrame({"label": [0, 1] * 20, "f0": [2, -3] * 20}).write_csv(path)
    res = sumsim.run("quickstart", overrides={"data.dataset": "csv", "data.path": str(path),
                                              "metrics.counterfactual": False})
    assert res.summary["pool"]["size"] > 0


def test_a_runs_resolved_scenario_runs_again_from_its_output_folder(tmp_path: Path) -> None:
    """A relative data.path is relative to the scenario file: the output folder's
    scenario.toml records it absolute (it failed there with "no such file")."""
    from sumsim.cli import main

    folder = tmp_path / "study"
    folder.mkdir()
    pl.DataFrame({"a": [0.0, 1.0] * 40, "b": [1.0, 0.0] * 40,
                  "label": [0, 1] * 40}).write_csv(folder / "data.csv")
    (folder / "s.toml").write_text(
        '[data]\ndataset = "csv"\npath = "data.csv"\n[model]\nkind = "perceptron"\n'
        '[incentive]\nkind = "deposit_refund_take"\n[[agents]]\nname = "good"\n'
        'kind = "honest"\nbalance = 100\n[metrics]\nfigure = false\n', encoding="utf-8")
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["run", str(folder / "s.toml"), "--out", str(first), "-q"]) == 0
    text = (first / "scenario.toml").read_text(encoding="utf-8")
    assert f'path = "{folder / "data.csv"}"' in text
    assert main(["run", str(first / "scenario.toml"), "--out", str(again), "-q"]) == 0
    for name in ("summary.json", "transactions.parquet", "contributions.parquet"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


def test_a_data_file_edited_between_runs_of_one_process_is_read_again(tmp_path: Path) -> None:
    """The in-process dataset cache knew the path only: a notebook that rewrote its CSV kept
    running on the old rows."""
    import os

    from sumsim.data.load import load_dataset
    from sumsim.scenario.schema import DataSection

    path = tmp_path / "d.csv"
    pl.DataFrame({"a": [1.0, 2.0] * 20, "label": [0, 1] * 20}).write_csv(path)
    sec = DataSection(dataset="csv", path=str(path))
    first = load_dataset(sec, 1)
    assert load_dataset(sec, 1) is first  # (unchanged: cached)
    pl.DataFrame({"a": [5.0, 7.0, 9.0] * 20, "label": [0, 1, 1] * 20}).write_csv(path)
    os.utime(path, ns=(1, 1))  # (a different time even on a coarse clock)
    second = load_dataset(sec, 1)
    assert second is not first
    assert sorted(set(np.asarray(second.x_train).ravel().tolist())) == [5.0, 7.0, 9.0]


@pytest.mark.parametrize(("header", "kwargs", "message"), [
    ("a,a,label", {}, r"the header repeats a column name \(read as 'a_duplicated_0'\)"),
    ("a,b,label", {"feature_columns": ["a", "label"]},
     r"the label column 'label' is among the feature columns"),
    ("a,b,label", {"feature_columns": ["a", "a"]}, r"column 'a' is listed twice"),
    ("a,b,label", {"text_column": "label"}, r"the text column 'label' is the label column"),
])
def test_columns_that_would_mislead_the_model_are_refused(tmp_path: Path, header: str,
                                                          kwargs: dict[str, object],
                                                          message: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(header + "\n" + "\n".join(f"{i % 3},{i % 5},{i % 2}" for i in range(40))
                    + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_table(path, label_column="label", **kwargs)  # type: ignore[arg-type]


def test_a_csv_row_with_a_field_too_many_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "extra.csv", "f1,f2,label\n1,2,a\n3,4,b,9\n4,5,a\n")
    with pytest.raises(DataError) as info:
        load_table(path, label_column="label")
    assert info.value.message.startswith("could not parse as CSV: ")
    assert info.value.message.endswith("(line 3 has 4 fields, the header 3)")
