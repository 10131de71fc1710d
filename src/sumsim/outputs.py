"""One folder per run: resolved scenario, Parquet tables, summary and figure.

The files are written into a hidden sibling folder first and moved into place when all of them
are there, so an interrupted run (Ctrl-C, a crash) leaves no folder that looks finished, and a
folder is never a mix of two runs (no stale figure beside new tables).  An existing folder is
replaced only when asked (``force``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from sumsim.engine import RunResult
from sumsim.errors import InputError, OutputExists, WriteError
from sumsim.io import _write_failure, check_folder, write_json, write_parquet, write_text
from sumsim.report import draw_run_figure, run_figure_data
from sumsim.results.summary import summary
from sumsim.results.tables import contributions_table, counterfactual_frame, transactions_table
from sumsim.scenario.loader import dump_scenario
from sumsim.sidecar import Sidecar
from sumsim.sweep_store import MANIFEST, RECORDS, STUDY_DB

FILES = ("scenario.toml", "timeseries.parquet", "transactions.parquet",
         "contributions.parquet", "summary.json", "figure.png")
#: Written besides :data:`FILES` when the run has a counterfactual (the figure's grey line).
COUNTERFACTUAL = "counterfactual.parquet"


#: Files that mark a folder as a sweep's or a search's (``sumsim run --force`` would delete
#: their finished runs).
_NOT_A_RUN = ((MANIFEST, f"a sweep ({MANIFEST})"), (RECORDS, "a sweep's records"),
              (STUDY_DB, f"a search ({STUDY_DB})"))


def check_free(out: Path, force: bool) -> None:
    """Refuse an output folder that cannot be made, that holds something (unless ``force``), or
    that is the working folder or holds it (a run's folder is replaced whole; checked before
    a run, so nothing is computed for nothing)."""
    check_folder(out)
    if out.exists():  # (the outputs are made in a sibling folder, then renamed into place)
        check_folder(out.parent)
    here = Path.cwd().resolve()
    resolved = out.resolve()
    if resolved in (here, *here.parents):
        raise InputError(f"{out} is the working folder or holds it; a run's outputs replace "
                         "their folder whole: choose a folder of their own", field="--out")
    inside = next((p for p in resolved.parents if (p / "summary.json").is_file()
                   and (p / "transactions.parquet").is_file()), None)
    if inside is not None:  # (its --force would then refuse the folder, or delete this run)
        raise InputError(f"{out} is inside another run's outputs ({inside}); choose a folder "
                         "of its own", field="--out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise OutputExists(f"{out} exists and is not empty; choose another --out or pass "
                           "--force to replace it", field="--out")
    held = next((what for mark, what in _NOT_A_RUN if (out / mark).exists()), None)
    if held is not None:  # (--force replaces a run's folder, never a sweep's runs)
        raise InputError(f"{out} holds {held}; --force replaces a run's outputs only: choose "
                         "another --out, or remove the folder yourself", field="--out")
    if out.is_dir():  # (nor anything else: a folder of notes given by mistake)
        other = sorted(p.name for p in out.iterdir() if p.name not in (*FILES, COUNTERFACTUAL))
        if other:
            raise InputError(f"{out} holds {other[0]!r}{' and more' if len(other) > 1 else ''}"
                             ", which is not a run's output; --force replaces a run's outputs "
                             "only: choose another --out, or remove the folder yourself",
                             field="--out")


def write_run(res: RunResult, out: Path, *, figure: bool = True, force: bool = False,
              sidecar: Sidecar | None = None) -> dict[str, Any]:
    """Write every output of ``res`` into ``out``, all or nothing (see the module docstring).

    With a started :class:`~sumsim.sidecar.Sidecar` the figure is drawn there while the tables
    are written here."""
    check_free(out, force)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.incomplete-", dir=out.parent))
    except OSError as e:
        raise WriteError(e.strerror or str(e), source=str(out)) from None
    os.chmod(tmp, 0o777 & ~_umask())  # (mkdtemp's folder is private: the outputs are not)
    try:
        summ = _write_files(res, tmp, figure, sidecar)
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / "run")
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        why = e.reason if isinstance(e, WriteError) else _write_failure(e)
        if why is not None:  # (no space left, say: nothing is left half-written)
            raise WriteError(why, source=str(out)) from None
        raise
    return summ


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_files(res: RunResult, out: Path, figure: bool,
                 sidecar: Sidecar | None = None) -> dict[str, Any]:
    draw = figure and res.scenario.metrics.figure
    data = run_figure_data(res) if draw else None
    sent = data is not None and sidecar is not None and \
        sidecar.submit_figure(data, out / "figure.png")
    try:
        summ = _write_tables(res, out)
    except BaseException:
        if sidecar is not None:
            sidecar.cancel()  # it must not write into a folder that is being removed
        raise
    if data is not None and not (sent and sidecar is not None and sidecar.finish()):
        draw_run_figure(data, out / "figure.png")
    return summ


def _write_tables(res: RunResult, out: Path) -> dict[str, Any]:
    resolved = res.scenario.model_copy(deep=True)
    resolved.scenario.seed = res.seed
    if res.data_file is not None:  # (runnable again from the output folder)
        resolved.data.path = res.data_file
    write_text(out / "scenario.toml", dump_scenario(resolved))
    write_parquet(out / "timeseries.parquet", res.recorder.frame())
    # The two large tables are written a row group at a time (never whole in memory).
    write_parquet(out / "transactions.parquet", transactions_table(res.chain))
    write_parquet(out / "contributions.parquet", contributions_table(res))
    if res.counterfactual_rows is not None:
        write_parquet(out / COUNTERFACTUAL, counterfactual_frame(res.counterfactual_rows))
    summ = summary(res)
    write_json(out / "summary.json", summ)
    return summ
