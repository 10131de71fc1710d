"""Datasets from a CSV or Parquet table: a label column plus a text column or numeric columns.

A text column becomes binary bag-of-words features (the tokenizer of `sumsim.data.imdb`), either
the ``num_words`` words most frequent in the training rows (``"top_n"``) or ``num_words`` hashed
buckets (``"hashed"``).  Numeric columns become a dense ``float64`` matrix.
"""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from sumsim.data.base import Dataset
from sumsim.data.text import (
    check_num_words,
    hashed_index,
    presence_csr,
    rank_vocabulary,
    tokenize,
    vocabulary_index,
)
from sumsim.errors import DataError, InputError
from sumsim.io import probe

TextFeatures = Literal["top_n", "hashed"]
#: Characters no class label holds (C0 controls but tab, line breaks; DEL): a label with one
#: is a damaged or mis-decoded file, and would silently become a class of its own.
_CONTROL_CHARACTERS = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
#: Most distinct labels a table may have (more means the column is not a class label).
MAX_CLASSES = 100
SUFFIXES = (".csv", ".parquet")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read(path: Path) -> pl.DataFrame:
    src = str(path)
    st = probe(path, source=src, error=DataError)
    if st is None:
        raise DataError("no such file", source=src)
    if not stat.S_ISREG(st.st_mode):
        raise DataError("not a regular file", source=src)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(
            f"unsupported file type {path.suffix or '(no suffix)'!r}; expected one of "
            f"{', '.join(SUFFIXES)}",
            source=src,
        )
    if st.st_size == 0:
        raise DataError("file is empty", source=src)
    kind = "CSV" if suffix == ".csv" else "Parquet"
    try:
        if suffix == ".csv":
            # (glob=False: a file path is a file, even with [ ] * ? in its folder names)
            return pl.read_csv(path, infer_schema_length=None, glob=False)
        return pl.read_parquet(path, glob=False)
    except pl.exceptions.NoDataError as exc:
        raise DataError("file is empty", source=src) from exc
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        where = _ragged_line(path) if suffix == ".csv" else None
        raise DataError(f"could not parse as {kind}: {_first_line(exc)}"
                        + (f" ({where})" if where else ""), source=src) from exc


def _ragged_line(path: Path) -> str | None:
    """The first line of a CSV file whose number of fields differs from its header's (what a
    parser's "more fields than defined" leaves unsaid), or None."""
    import csv

    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            rows = csv.reader(f)
            header = next(rows, None)
            if header is None:
                return None
            for row in rows:
                if row and len(row) != len(header):
                    return (f"line {rows.line_num} has {len(row)} fields, the header "
                            f"{len(header)}")
    except (OSError, csv.Error):
        return None
    return None


def _require_column(df: pl.DataFrame, column: str, what: str, src: str,
                    field: str | None = None) -> None:
    if column not in df.columns:
        available = ", ".join(repr(c) for c in df.columns)
        delimiter = next((d for d in ";\t|" if len(df.columns) == 1 and d in df.columns[0]),
                         None)
        if delimiter is not None:  # (one column whose name holds the real header)
            available += (f" (the header looks separated by {delimiter!r}: a CSV file is read "
                          "with ',' between its fields)")
        raise DataError(
            f"{what} column {column!r} not found; available columns: {available}",
            source=src,
            field=field or what.replace(" ", "_") + "_column",
        )


def _no_lists(series: pl.Series, what: str, src: str) -> None:
    """A column of lists is a DataError naming it (a row has one label, one text)."""
    if isinstance(series.dtype, pl.List | pl.Array):
        raise DataError(f"{what} column {series.name!r} holds lists (type {series.dtype}); "
                        "expected one value per row", source=src, field=series.name)


def _as_strings(series: pl.Series, what: str, src: str) -> pl.Series:
    """``series`` as text; a column polars cannot spell as text is a DataError naming it."""
    _no_lists(series, what, src)
    try:
        return series.cast(pl.String)
    except pl.exceptions.PolarsError as exc:
        raise DataError(f"{what} column {series.name!r} (type {series.dtype}) cannot be read "
                        f"as text: {_first_line(exc)}", source=src, field=series.name) from exc


def _labels(df: pl.DataFrame, column: str, src: str) -> tuple[np.ndarray, tuple[str, ...]]:
    series = df.get_column(column)
    _no_lists(series, "label", src)
    n_null = series.null_count()
    if n_null:
        rows = np.flatnonzero(series.is_null().to_numpy())[:5].tolist()
        raise DataError(
            f"{n_null} missing label(s) (first rows: {rows}); every row needs a label",
            source=src,
            field=column,
        )
    if series.dtype.is_float():
        values = series.to_numpy()
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            example = float(next(v for v in values if not (np.isfinite(v) and v == round(v))))
            raise DataError(
                f"labels look continuous (e.g. {example!r}); a classifier needs class labels "
                "(integers or names)",
                source=src,
                field=column,
            )
    if series.dtype == pl.String:
        damaged = series.str.contains(_CONTROL_CHARACTERS)
        if damaged.any():
            row = int(damaged.arg_max() or 0)
            raise DataError(
                f"the label on row {row} (counting from 0: {series[row]!r}) holds control "
                "characters (a NUL byte, say): is the file damaged, or written in another "
                "encoding?",
                source=src,
                field=column,
            )
    classes = series.unique().sort()
    if len(classes) > MAX_CLASSES:
        raise DataError(
            f"{len(classes)} distinct labels; at most {MAX_CLASSES} classes (is this the "
            "label column? data.label_column names it)",
            source=src,
            field=column,
        )
    if len(classes) < 2:
        only = _as_strings(classes, "label", src).to_list()
        raise DataError(
            f"only one class ({only[0]!r}); at least two distinct labels are needed",
            source=src,
            field=column,
        )
    names = tuple(str(v) for v in _as_strings(classes, "label", src).to_list())
    y = classes.search_sorted(series, side="left").to_numpy().astype(np.int64)
    return y, names


def _why_not_numeric(series: pl.Series) -> str:
    """Why a feature column was not read as numbers, with a row that shows it."""
    if series.dtype != pl.String:
        return f"is not numeric (type {series.dtype})"
    if series.null_count() == len(series):
        return "has no values (every cell is empty)"
    parsed = series.cast(pl.Float64, strict=False)
    text = series.is_not_null() & parsed.is_null()
    if text.any():
        row = int(text.arg_max() or 0)
        return f"is not numeric (row {row} holds {series[row]!r})"
    bad = parsed.is_nan() | parsed.is_infinite()  # ('nan', 'inf' and the like, as text)
    if not bad.any():
        return "was read as text"
    row = int(bad.arg_max() or 0)
    return f"was read as text (row {row} holds {series[row]!r}, not a finite number)"


def _numeric(df: pl.DataFrame, columns: list[str], src: str) -> np.ndarray:
    schema = df.schema  # (built anew on every access: once, not once per column)
    for c in columns:
        dtype = schema[c]
        if not (dtype.is_numeric() or dtype == pl.Boolean):
            raise DataError(f"feature column {c!r} {_why_not_numeric(df.get_column(c))}; give "
                            "it as text_column or leave it out of feature_columns",
                            source=src, field=c)
        if df.get_column(c).null_count():
            raise DataError(
                f"feature column {c!r} has {df.get_column(c).null_count()} missing value(s)",
                source=src,
                field=c,
            )
    x = df.select(pl.col(columns).cast(pl.Float64)).to_numpy().astype(np.float64, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        c = columns[int(np.flatnonzero(bad.any(axis=0))[0])]
        raise DataError(f"feature column {c!r} has NaN or infinite values", source=src, field=c)
    return np.ascontiguousarray(x)


def _split(n: int, test_fraction: float, seed: int, src: str) -> tuple[np.ndarray, np.ndarray]:
    n_test = max(1, int(round(test_fraction * n)))
    if n - n_test < 1:
        raise DataError(
            f"{n} row(s) are too few to split into training and test data "
            f"(test_fraction={test_fraction})",
            source=src,
        )
    order = np.random.default_rng(seed).permutation(n)
    return order[: n - n_test], order[n - n_test :]


def load_table(
    path: str | Path,
    *,
    label_column: str,
    text_column: str | None = None,
    feature_columns: list[str] | None = None,
    text_features: TextFeatures = "top_n",
    num_words: int = 1000,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """Load a ``.csv`` (polars ``read_csv``) or ``.parquet`` (``read_parquet``) table.

    Features come from exactly one of:

    - ``text_column``: binary bag of words with `sumsim.data.imdb.tokenize` (missing texts count
      as empty).  ``text_features="top_n"``: the ``num_words`` words most frequent (total
      occurrences) over the *training* rows, ties broken alphabetically, named by the words.
      ``"hashed"``: ``num_words`` buckets, a token's bucket being the CRC-32 of its UTF-8 bytes
      modulo ``num_words``, named ``"hash:<bucket>"``.
    - ``feature_columns``: numeric (or boolean) columns as a dense ``float64`` matrix.
    - neither: every column except the label, all of which must be numeric.

    Labels may have any type; the classes are the sorted distinct values, named by their
    string form, and ``y`` holds class indices.  The rows are shuffled with
    ``numpy.random.default_rng(seed).permutation``; the last ``test_fraction`` of them (at least
    one row) is the test set.

    Raises `DataError` for a missing, empty, unparseable or unsupported file, a missing column
    (the available columns are listed), missing labels, a single class, or a non-numeric
    feature column.
    """
    path = Path(path).expanduser()
    src = str(path)
    if text_features not in ("top_n", "hashed"):
        raise InputError(
            f"expected 'top_n' or 'hashed', got {text_features!r}", field="text_features"
        )
    if not 0.0 < float(test_fraction) < 1.0:
        raise InputError(
            f"expected a number strictly between 0 and 1, got {test_fraction!r}",
            field="test_fraction",
        )
    if text_column is not None and feature_columns is not None:
        raise InputError(
            "give either text_column or feature_columns, not both", field="feature_columns"
        )
    num_words = check_num_words(num_words, source=src)

    df = _read(path)
    if df.height == 0:
        raise DataError("no data rows", source=src)
    _require_column(df, label_column, "label", src)
    renamed = [c for c in df.columns if "_duplicated_" in c]
    if renamed:  # (polars renames a repeated header rather than refusing it)
        raise DataError(f"the header repeats a column name (read as {renamed[0]!r}); every "
                        "column needs its own name", source=src)
    if text_column is not None:
        _require_column(df, text_column, "text", src)
        if text_column == label_column:
            raise DataError(f"the text column {text_column!r} is the label column: the model "
                            "would be given the answer", source=src, field="text_column")
    elif feature_columns is not None:
        if not feature_columns:
            raise InputError("expected at least one column name", field="feature_columns")
        present = set(df.columns)
        for c in feature_columns:
            if c not in present:
                _require_column(df, c, "feature", src, "feature_columns")
        if label_column in feature_columns:
            raise DataError(f"the label column {label_column!r} is among the feature columns: "
                            "the model would be given the answer", source=src,
                            field="feature_columns")
        repeated = sorted(c for c, n in Counter(feature_columns).items() if n > 1)
        if repeated:
            raise DataError(f"column {repeated[0]!r} is listed twice", source=src,
                            field="feature_columns")
    else:
        feature_columns = [c for c in df.columns if c != label_column]
        if not feature_columns:
            raise DataError(
                f"no feature columns: the table has only the label column {label_column!r}",
                source=src,
            )

    y, class_names = _labels(df, label_column, src)
    train, test = _split(df.height, float(test_fraction), int(seed), src)

    if text_column is not None:
        texts = _as_strings(df.get_column(text_column), "text", src).fill_null("").to_list()
        train_tokens = [tokenize(texts[i]) for i in train]
        test_tokens = [tokenize(texts[i]) for i in test]
        if text_features == "top_n":
            counts: Counter[str] = Counter()
            for tokens in train_tokens:
                counts.update(tokens)
            words = rank_vocabulary(counts, num_words)
            index = vocabulary_index(words)
            feature_names = tuple(words)
        else:
            index = hashed_index(num_words)
            feature_names = tuple(f"hash:{b}" for b in range(num_words))
        if not any(train_tokens):
            raise DataError(f"text column {text_column!r} has no words in any training row",
                            source=src, field=text_column)
        x_train = presence_csr(train_tokens, index, len(feature_names))
        x_test = presence_csr(test_tokens, index, len(feature_names))
    else:
        assert feature_columns is not None
        x = _numeric(df, feature_columns, src)
        x_train, x_test = x[train], x[test]
        feature_names = tuple(feature_columns)

    return Dataset(
        name=path.stem,
        x_train=x_train,
        y_train=y[train],
        x_test=x_test,
        y_test=y[test],
        feature_names=feature_names,
        class_names=class_names,
    )
