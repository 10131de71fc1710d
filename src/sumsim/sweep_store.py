"""A sweep folder on disk: its lock, the per-run records and the manifest built from them.

- **Lock.** A sweep holds an OS lock (``fcntl.flock``) on ``.lock`` in its folder while it
  runs; a second sweep into the same folder refuses, naming the folder and the process that
  holds it.  The OS releases the lock when the holder exits or is killed (``kill -9``
  included), so a lock file left by a dead process is simply taken over.
- **Records.** Every finished run leaves ``records/<run_id>.json`` (written atomically): its
  row and the sweep's fingerprint.  They are the source of truth: the manifest is rebuilt from
  them whenever it is truncated or not shaped like a manifest (and on ``--repair``), so no
  finished run is lost to a damaged manifest.
- **Manifest.** ``manifest.json`` lists the finished runs in run order (for people and for
  folders written before records existed).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sumsim.errors import InputError
from sumsim.io import make_folder, write_json

MANIFEST = "manifest.json"
LOCK = ".lock"
RECORDS = "records"
#: A search folder's Optuna study (SQLite; see :mod:`sumsim.searches`).
STUDY_DB = "search.db"

#: The keys every run row has, and their types.
_ROW_KEYS: dict[str, type | tuple[type, ...]] = {
    "run_id": str, "run_index": int, "status": str, "error": str, "metrics": dict}


def check_folder_holds_only(out: Path, kind: str, names: set[str]) -> None:
    """Refuse a folder that holds something other than a ``kind``'s own files ``names`` (a
    run's outputs, say): a sweep or search would write beside them, and a later ``sumsim run
    --force`` into the folder would delete its runs."""
    if not out.is_dir():
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in names
                     and not p.name.startswith(".")  # (its lock, files being written)
                     and not any(p.name.startswith(f"{n}-") for n in names))  # (-journal)
    if foreign:
        other = next((what for marks, what in _OTHER_FOLDERS if marks & set(foreign)), None)
        raise InputError(f"this folder holds {foreign[0]!r}, which is not a {kind}'s"
                         + (f" (it looks like {other})" if other is not None else "")
                         + f"; a {kind} writes into a folder of its own: use another --out",
                         source=str(out), field="--out")


#: What another command's folder holds (files that mark it), for the refusal above.
_OTHER_FOLDERS = (({MANIFEST, RECORDS}, "a sweep's folder"),
                  ({STUDY_DB}, "a search's folder"),
                  ({"summary.json", "transactions.parquet", "contributions.parquet"},
                   "a run's outputs"))


@contextmanager
def removed_if_made(out: Path, *errors: type[BaseException]) -> Iterator[None]:
    """Remove ``out`` again when one of ``errors`` stops the block and the block made the
    folder: a command that stops on such an input error before finishing anything worth
    keeping leaves nothing behind (a folder the user made, even empty, is theirs)."""
    made = not out.exists() and not out.is_symlink()
    try:
        yield
    except errors:
        if made:
            shutil.rmtree(out, ignore_errors=True)
        raise


@contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold the sweep lock of ``out`` for the ``with`` block (InputError if another process
    holds it)."""
    make_folder(out)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock
        yield
        return
    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:  # (a folder of that name, say, or no permission)
        raise InputError(f"cannot open the sweep lock {LOCK}: {e.strerror or e} (remove it if "
                         "no sweep is running here)", source=str(out)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise InputError(f"another sweep (process {holder}) is running in this folder; "
                             "wait for it to finish or use another --out",
                             source=str(out)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _is_row(row: Any) -> bool:
    return isinstance(row, dict) and all(
        isinstance(row.get(k), t) and not isinstance(row.get(k), bool)
        for k, t in _ROW_KEYS.items())


def write_record(out: Path, fingerprint: str, row: dict[str, Any]) -> None:
    """Leave the record of one finished run (atomically)."""
    write_json(out / RECORDS / f"{row['run_id']}.json",
               {"fingerprint": fingerprint, "row": row})


def read_records(out: Path, expected: str | None = None) -> dict[str, dict[str, Any]]:
    """Finished runs recorded in ``out/records`` (unreadable files are skipped; records of a
    different sweep are an error naming the folder)."""
    folder = out / RECORDS
    rows: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        if folder.exists() or folder.is_symlink():  # (a file of that name: nothing to write in)
            raise InputError(f"{RECORDS} is not a folder (a sweep keeps one record a run "
                             "there): remove it or use another --out", source=str(out))
        return rows
    for p in sorted(folder.glob("*.json")):
        try:
            data = _strict_json(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            continue  # (NaN or Infinity included: no run writes them; the run is done again)
        if not isinstance(data, dict) or not _is_row(data.get("row")):
            continue
        if expected is not None and data.get("fingerprint") != expected:
            raise InputError(_FOREIGN, source=str(p))
        rows[data["row"]["run_id"]] = data["row"]
    return rows


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (the sweep writes strict JSON)")


def _strict_json(text: str) -> Any:
    """``json.loads`` refusing NaN and Infinity: a run row holding one could not be written
    back (the manifest is strict JSON), so such a file is treated as damaged."""
    return json.loads(text, parse_constant=_no_constant)


_FOREIGN = ("this folder holds runs of a different base scenario (or data table), sweep seed "
            "or metric list; use another --out (or remove the folder)")


class DamagedManifest(InputError):
    """The manifest cannot be read as one (truncated, not JSON, wrong shape)."""


def read_manifest(out: Path, expected: str | None = None) -> dict[str, dict[str, Any]]:
    """Finished runs listed in the manifest of ``out`` (refusing a different sweep's;
    :class:`DamagedManifest` when it cannot be read as a manifest)."""
    p = out / MANIFEST
    if not p.exists():
        return {}
    try:
        data = _strict_json(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError) as e:
        raise DamagedManifest(f"unreadable manifest: {e}", source=str(p)) from None
    except ValueError as e:  # (json.JSONDecodeError, or a NaN or an Infinity)
        raise DamagedManifest(f"corrupt manifest: {e}", source=str(p)) from None
    runs = data.get("runs") if isinstance(data, dict) else None
    if not isinstance(runs, list) or not all(_is_row(r) for r in runs):
        raise DamagedManifest("not a sweep manifest (expected an object with a list of runs, "
                              "each with run_id, run_index, status, error and metrics)",
                              source=str(p))
    found = data.get("fingerprint")
    if expected is not None and found is not None and found != expected:
        raise InputError(_FOREIGN, source=str(p))
    return {r["run_id"]: r for r in runs}


def finished_runs(out: Path, expected: str, repair: bool = False
                  ) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Every finished run of the sweep ``expected`` in ``out``: the records, plus manifest
    rows that have none (folders written before records existed).

    Returns the runs and a notice when the manifest was damaged (or ``repair`` was asked)
    and is to be rebuilt from the records.  A damaged manifest with no record to rebuild it
    from is an error unless ``repair`` (which then starts the folder afresh)."""
    records = read_records(out, expected)
    notice = None
    try:
        listed = {} if repair else read_manifest(out, expected)
    except DamagedManifest as e:
        if not records:
            raise InputError(f"{e}; no per-run records to rebuild it from: run again with "
                             "--repair to start this folder afresh") from None
        listed = {}
        notice = f"{e}: rebuilt from {len(records)} per-run records"
    if repair:
        notice = f"{out / MANIFEST}: rebuilt from {len(records)} per-run records"
    return {**listed, **records}, notice
