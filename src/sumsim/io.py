"""Atomic file output: write to a temporary file in the same folder, then rename.

A crash or Ctrl-C mid-write leaves either the old file or the new one, never half of one.

Parquet tables may also be given as a :class:`Table` (a height and a function building any
slice of rows): such a table is written one row group at a time and is never whole in memory,
yet the file's bytes are those of writing the whole frame at once.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
from polars.io.plugins import register_io_source

from sumsim.errors import InputError, WriteError

#: How every table is written.  Statistics off and a fixed compression keep the bytes a pure
#: function of the data.
_PARQUET: dict[str, Any] = {"compression": "zstd", "statistics": False}


def probe(path: Path, *, source: str | None = None, field: str | None = None,
          error: type[InputError] = InputError) -> os.stat_result | None:
    """``os.stat`` of ``path`` (following links), None when nothing is there.

    A path that cannot even be looked at (a name longer than the system allows, a NUL
    character, a folder on the way that may not be searched, a loop of links) is an
    :class:`~sumsim.errors.InputError` (or ``error``) naming it (as its ``source``, or in the
    message when another source is given) and the reason, where ``Path.exists`` would raise an
    OSError or a ValueError with a traceback."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        why = e.strerror or str(e)
    except ValueError:  # (an embedded NUL)
        why = "a path cannot hold a NUL character"
    where = "" if source == str(path) else f"{str(path)!r}: "
    raise error(f"{where}cannot use this path: {why}", source=source, field=field)


def check_folder(out: Path, option: str = "--out") -> None:
    """Refuse an output folder that cannot be made: ``out`` is a file, or the nearest existing
    path above it is one, or a path the system cannot take (checked before anything runs, so
    nothing is computed for nothing)."""
    import stat

    for above in (out, *out.absolute().parents):  # (the nearest path that exists decides)
        st = probe(above, field=option)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise InputError(f"{out} exists and is not a folder" if above is out else
                             f"{out}: {above} is a file, not a folder", field=option)
        if not os.access(above, os.W_OK | os.X_OK):  # (a read-only disk included)
            raise WriteError(f"{above} is read-only or may not be written; expected a "
                             "folder that can be written", source=str(out), field=option)
        return


def make_folder(out: Path, option: str = "--out") -> None:
    """Create the output folder ``out`` (and those above it); the system refusing (no
    permission, a read-only or special file system, a file in the way) is a
    :class:`~sumsim.errors.WriteError` naming the folder, not a traceback."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{out} exists and is not a folder", field=option) from None
    except OSError as e:
        raise WriteError(f"{e.strerror or e}; expected a folder that can be created and "
                         "written", source=str(out), field=option) from None


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write`` into a temporary file beside it, then rename it into
    place.  The system refusing (no space left, a read-only disk, ``path`` a folder) is a
    :class:`~sumsim.errors.WriteError` naming the file; the old file, if any, is kept."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise WriteError(e.strerror or str(e), source=str(path)) from None
    try:
        os.close(fd)
        os.chmod(tmp, 0o644)
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        why = _write_failure(e)
        if why is not None:
            raise WriteError(why, source=str(path)) from None
        raise


def _write_failure(e: BaseException) -> str | None:
    """The system's reason when ``e`` is a failed write (polars reports one from its own
    writer as a ComputeError, e.g. ``Invalid thrift: transport error`` on a full disk); None
    for anything else."""
    if isinstance(e, OSError):
        return e.strerror or str(e)
    if isinstance(e, pl.exceptions.ComputeError):
        text = " ".join(str(e).split())
        if any(w in text.lower() for w in ("transport error", "os error", "no space")):
            return f"{text} (is the disk full?)"
    return None


def write_text(path: Path, text: str) -> None:
    def write(p: Path) -> None:
        p.write_text(text, encoding="utf-8")

    atomic_write(path, write)


def write_json(path: Path, obj: Any) -> None:
    """Strict JSON: a NaN or an infinity is an error here (callers turn them into null)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, allow_nan=False) + "\n")


@dataclass(frozen=True)
class Table:
    """A table built a slice of rows at a time: ``rows(lo, hi)`` is rows ``lo`` to ``hi - 1``
    (every slice with the same column types, an empty one included).

    The tables of a large run (millions of transactions) take hundreds of megabytes whole;
    written as a Table they take one row group's worth (see :func:`write_parquet`)."""

    height: int
    rows: Callable[[int, int], pl.DataFrame]

    def frame(self) -> pl.DataFrame:
        """The whole table at once."""
        return self.rows(0, self.height)


def row_groups(height: int) -> list[int]:
    """The row counts of the row groups polars' writer cuts a frame of ``height`` rows into.

    The cut depends on the height alone (not on the columns), so writing a one-column frame of
    that height and reading its metadata gives it, for a few bytes a row."""
    import pyarrow.parquet as pq  # (only tables large enough to be streamed need it)

    probe = io.BytesIO()
    pl.DataFrame({"x": pl.zeros(height, pl.Boolean, eager=True)}).write_parquet(probe,
                                                                                **_PARQUET)
    probe.seek(0)
    meta = pq.ParquetFile(probe).metadata
    return [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]


def _write_table(path: Path, table: Table) -> None:
    """Stream ``table`` into ``path``, one row group's slice at a time.

    Polars' streaming writer keeps each slice it is handed of a row group's size as one row
    group, so handing it the slices its own cut of the whole frame would make gives the same
    bytes as ``table.frame().write_parquet(...)`` (the tests check this) while only a slice
    or two exist at once."""
    sizes = row_groups(table.height)
    schema = table.rows(0, 0).schema

    def slices(*_hints: Any) -> Iterator[pl.DataFrame]:
        lo = 0
        for size in sizes:
            yield table.rows(lo, lo + size)
            lo += size

    release_free_memory()
    register_io_source(slices, schema=schema, validate_schema=True).sink_parquet(path,
                                                                                 **_PARQUET)
    release_free_memory()


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError, TypeError):  # not glibc
        return None


def release_free_memory() -> None:
    """Give the free pages of the C heap back to the system (glibc's ``malloc_trim``; nothing
    where there is no such call).

    glibc keeps what a long run freed, and what the table slices free on polars' threads,
    whose heaps it does not trim by itself; polars allocates its columns elsewhere (its own
    allocator), so those pages would stay resident beside the table being written."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


#: Tables of at most this many rows are written whole (a few megabytes), larger ones a row
#: group at a time.
STREAM_MIN_ROWS = 1 << 17


def write_parquet(path: Path, df: pl.DataFrame | Table) -> None:
    if isinstance(df, Table) and df.height > STREAM_MIN_ROWS:
        table = df
        atomic_write(path, lambda p: _write_table(p, table))
        return
    frame = df.frame() if isinstance(df, Table) else df
    atomic_write(path, lambda p: frame.write_parquet(p, **_PARQUET))
