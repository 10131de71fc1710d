"""Datasets: synthetic (offline default), IMDB, CSV/Parquet."""

from sumsim.data.base import Dataset, Split, row, rows, split

__all__ = ["Dataset", "Split", "row", "rows", "split"]
