"""Sweeps: a base scenario x a grid (or list) of overrides x seeds, run by one of three executors.

A sweep file (TOML)::

    [sweep]
    name = "flip-budget"
    base = "label-flip-drt.toml"    # relative to the sweep file, or a bundled scenario name
    seeds = 3                       # replicates per point
    seed = 0                        # the sweep seed
    paired = true                   # every point uses the same replicate seeds (default)
    metrics = []                    # dotted summary paths to keep; empty: every scalar

    [grid]                          # cartesian product of dotted-path overrides
    "agents[1].budget" = [100, 1000]

    [[points]]                      # and/or an explicit list (combined with the grid)
    "model.kind" = "naive_bayes"

A sweep needs at least one point: a ``[grid]`` (every list non-empty) or ``[[points]]``; an
empty ``[[points]]`` table (``points = [{}]``) is the base scenario unchanged, so a file with
only that runs the base scenario alone over the seeds.  Every point is distinct (a repeated
grid value, a repeated point, or a point that sets a path the grid sweeps would run the same
runs twice), and a sweep has at most :data:`MAX_RUNS` runs (points x seeds), checked before
any point is validated.  ``sweep.metrics`` is checked against the summary of the first run
that finishes: a name it lacks stops the sweep with an input error (the runs finished so
far stay recorded).

Paired runs (common random numbers, the default): replicate ``r`` of every point runs with
the same seed, derived from the sweep seed and ``r`` only, so all points share the data split,
the honest agents' draws and arrivals, and differ only by the swept parameters; differences
between points are then read with paired intervals (``sumsim report --reference``).  With
``paired = false`` each run's seed is derived from the sweep seed, its parameters and ``r``
(independent replicates).  Either way adding points never changes other runs.  Each finished
run leaves a record at once, and the manifest is rewritten atomically from them at most
once a second and when the sweep ends or stops (see :mod:`sumsim.sweep_store`: the folder is
locked while a sweep runs, and a damaged manifest is rebuilt from the records); a killed sweep
resumes with only the missing runs.  A run that
raises (or takes longer than ``max_wall_s``) is recorded as failed with its message; the
others go on.  Rows are independent of the executor and of completion order, so the table is
identical whichever runs it.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field, ValidationError, model_validator

from sumsim.config import SafeName, Section
from sumsim.errors import FieldError, InputError, UnknownMetric, WorkerDied
from sumsim.io import check_folder, write_json, write_parquet
from sumsim.scenario.loader import (
    apply_overrides,
    format_validation_error,
    parse_scenario,
    read_base,
    read_toml,
)
from sumsim.sweep_store import MANIFEST as MANIFEST
from sumsim.sweep_store import (
    RECORDS,
    check_folder_holds_only,
    finished_runs,
    folder_lock,
    removed_if_made,
    write_record,
)
from sumsim.sweep_store import read_manifest as read_manifest
from sumsim.version import __version__, made_by

RESULTS = "results.parquet"
Executor = Literal["local", "process", "dask"]
#: Most runs (points x seeds) one sweep may have.  Checked before any point is validated
#: (about a quarter of a millisecond each, some 20 s at the cap, under 1% of the runs' time):
#: a typo such as a 1,000 x 1,000 grid is refused at once instead of validating for minutes
#: and then queueing a million runs.  Split a larger study into several sweeps.
MAX_RUNS = 100_000
#: Seconds to wait for the Dask scheduler given with ``--scheduler`` (Dask's default is 30).
SCHEDULER_TIMEOUT_S = 10.0


class SweepSection(Section):
    """What to sweep from, how many replicates, and what to keep."""

    name: SafeName = Field("sweep", description="Name of the sweep (the default output "
                           "folder).")
    base: str = Field(description="Base scenario: a path relative to the sweep file or a "
                      "bundled scenario name.")
    seeds: int = Field(1, ge=1, le=10_000, description="Replicates per point.")
    seed: int = Field(0, ge=0, description="The sweep seed every run's seed derives from.")
    paired: bool = Field(True, description="Every point uses the same replicate seeds "
                         "(common random numbers); false: seeds depend on the parameters.")
    metrics: list[str] = Field(default_factory=list, description="Dotted summary paths to "
                               "keep in the table (as summary.json spells them, e.g. "
                               "attacker_spend_wei, or an amount's _eth twin); empty: every "
                               "scalar.")
    write_runs: bool = Field(False, description="Also write each run's output folder.")


#: The scenario field every run's own seed replaces (it cannot be swept or searched).
SEED_PATH = "scenario.seed"


def refuse_seed_path(path: str, section: str, *where: str | int,
                     values: Iterable[Any] = ()) -> None:
    """A sweep's or search's runs take their seeds from the sweep (``sweep.seed``,
    ``sweep.seeds``, ``paired``) or the search (``search.seed``, ``search.seeds``): a value
    for ``scenario.seed`` would be replaced in every run, so every point would be the same."""
    path = path.strip()
    whole = path == SEED_PATH.split(".")[0] and \
        any(isinstance(v, dict) and "seed" in v for v in values)  # (scenario = {seed = 5})
    if path == SEED_PATH or whole:
        raise FieldError("scenario.seed is replaced by each run's own seed, so every value "
                         f"would give the same runs; replicates come from {section}.seeds "
                         f"and {section}.seed", *where)


class SweepFile(Section):
    sweep: SweepSection = Field(description="The sweep's settings.")
    grid: dict[str, list[Any]] = Field(default_factory=dict, description="Dotted path -> "
                                       "non-empty list of values; the sweep runs their "
                                       "cartesian product.")
    points: list[dict[str, Any]] = Field(default_factory=list, description="Explicit override "
                                         "sets (dotted path -> value), each combined with "
                                         "every grid combination; an empty one is the base "
                                         "scenario unchanged.  A sweep needs a grid or points.")

    @model_validator(mode="after")
    def _distinct_values(self) -> SweepFile:
        """An empty value list ran the base scenario alone, as if the entry were not there; a
        repeated value ran its runs twice for one row of the table."""
        for key, values in self.grid.items():
            refuse_seed_path(key, "sweep", "grid", key, values=values)
        for i, point in enumerate(self.points):
            for key, value in point.items():
                refuse_seed_path(key, "sweep", "points", i, key, values=[value])
        for key, values in self.grid.items():
            if not values:
                raise FieldError("expected a non-empty list of values, got []", "grid", key)
            seen: set[str] = set()
            for v in values:
                if _canonical(v) in seen:
                    raise FieldError(f"value {v!r} is listed twice; expected distinct values",
                                     "grid", key)
                seen.add(_canonical(v))
        return self


@dataclass(frozen=True)
class Task:
    index: int
    run_id: str
    params: dict[str, Any]
    replicate: int
    seed: int


@dataclass
class Sweep:
    spec: SweepFile
    source: str
    base_data: dict[str, Any]
    base_dir: Path
    tasks: list[Task]
    #: The ``data.dataset`` of every point.
    datasets: frozenset[str] = frozenset()

    @property
    def param_names(self) -> list[str]:
        names: list[str] = list(self.spec.grid)
        for p in self.spec.points:
            names += [k for k in p if k not in names]
        return names


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def derive_seed(sweep_seed: int, params: dict[str, Any], replicate: int) -> int:
    """A run's seed: a hash of the sweep seed, its parameters and its replicate number."""
    digest = hashlib.sha256(_canonical([sweep_seed, params, replicate]).encode()).digest()
    return int.from_bytes(digest[:4], "big")


def _grid_size(spec: SweepFile) -> int:
    return math.prod(len(v) for v in spec.grid.values())


def run_count(spec: SweepFile) -> int:
    """How many runs the sweep file asks for (points x seeds), without listing the points."""
    return _grid_size(spec) * max(1, len(spec.points)) * spec.sweep.seeds


def _check_size(spec: SweepFile, source: str) -> None:
    """At most :data:`MAX_RUNS` runs, before anything costs time per point."""
    runs = run_count(spec)
    if runs <= MAX_RUNS:
        return
    parts = [f"{_grid_size(spec):,} grid combinations"] if spec.grid else []
    parts += [f"{len(spec.points):,} points"] if spec.points else []
    parts.append(f"{spec.sweep.seeds:,} seeds")
    field = " x ".join(["grid"] * bool(spec.grid) + ["points"] * bool(spec.points) +
                       ["sweep.seeds"])
    raise InputError(f"the sweep asks for {runs:,} runs ({' x '.join(parts)}); expected at "
                     f"most {MAX_RUNS:,} (sumsim.sweeps.MAX_RUNS): use fewer values or split "
                     "it into several sweeps", source=source, field=field)


def _combinations(spec: SweepFile) -> list[dict[str, Any]]:
    keys = list(spec.grid)
    grid = [dict(zip(keys, values, strict=True))
            for values in itertools.product(*(spec.grid[k] for k in keys))] or [{}]
    points = spec.points or [{}]
    return [{**g, **p} for p in points for g in grid]


def load_sweep(path: Path | str) -> Sweep:
    """Read and validate a sweep file, including every point's scenario (before any run)."""
    path = Path(path)
    raw = read_toml(path)
    try:
        spec = SweepFile.model_validate(raw)
    except ValidationError as e:
        raise format_validation_error(e, str(path), raw, SweepFile) from None
    base_data, base_src, run_dir = read_base(path, spec.sweep.base, "sweep.base")
    return make_sweep(spec, base_data, run_dir, str(path), base_src)


def make_sweep(spec: SweepFile, base_data: dict[str, Any], base_dir: Path, source: str,
               base_src: str = "base scenario") -> Sweep:
    """A sweep over ``base_data`` (a scenario as TOML data), every point validated first
    (after its size is checked against :data:`MAX_RUNS`, and its points for repeats)."""
    if not spec.grid and not spec.points:  # (checked after the base: that error comes first)
        raise InputError("the sweep has no points: expected a [grid] of values or [[points]] "
                         "of overrides (points = [{}] runs the base scenario alone)",
                         source=source, field="grid")
    _check_size(spec, source)
    combos = _combinations(spec)
    seen: dict[str, int] = {}
    for i, params in enumerate(combos):
        first = seen.setdefault(_canonical(params), i)
        if first != i:  # the same run ids twice: run twice, one row in the table
            raise InputError(f"point {params} occurs more than once (a repeated grid value, a "
                             "repeated [[points]] entry, or a point that sets a path the grid "
                             "sweeps); expected distinct points", source=source,
                             field="points" if spec.points else "grid")
    tasks: list[Task] = []
    datasets: set[str] = set()
    resolved: dict[str, dict[str, Any]] = {}
    for params in combos:
        try:
            sc = parse_scenario(apply_overrides(base_data, params), f"{base_src} with {params}")
        except InputError as e:
            raise InputError(f"{source}: point {params}: {e}") from None
        same = resolved.setdefault(sc.model_dump_json(), params)
        if same is not params:  # e.g. 1 and 1.0, or 1 and "1": one scenario, run twice
            raise InputError(f"points {same} and {params} give the same scenario (one value "
                             "written two ways); expected distinct points", source=source,
                             field="points" if spec.points else "grid")
        datasets.add(sc.data.dataset)
        for r in range(spec.sweep.seeds):
            seed = derive_seed(spec.sweep.seed, {} if spec.sweep.paired else params, r)
            run_id = hashlib.sha256(
                _canonical([spec.sweep.seed, params, r]).encode()).hexdigest()[:12]
            tasks.append(Task(len(tasks), run_id, params, r, seed))
    return Sweep(spec, source, base_data, base_dir, tasks, frozenset(datasets))


# -- one run ----------------------------------------------------------------------------------
def run_task(base_data: dict[str, Any], base_dir: str, task: Task, metrics: list[str],
             out_dir: str | None, data_path: str | None = None,
             max_wall_s: float | None = None) -> dict[str, Any]:
    """Run one task; never raises (a failure becomes a row with its error).

    A metric that is a key of one of the summary's maps (``incentive.num_valid.bad``: only
    addresses with good data are listed) is None in a run whose map lacks that key.  When
    ``metrics`` names something else the run's summary lacks, the failed row also holds the
    summary's names (``summary_names``), for the sweep to stop with close names suggested."""
    import sumsim.engine as engine
    from sumsim.results.summary import flatten, summary, table_keys

    start = time.perf_counter()
    row: dict[str, Any] = {"run_index": task.index, "run_id": task.run_id,
                           "replicate": task.replicate, "seed": task.seed,
                           "version": __version__}
    try:
        sc = parse_scenario(apply_overrides(base_data, task.params), "sweep point")
        res = engine.run(sc, seed=task.seed, base_dir=Path(base_dir), data_path=data_path,
                         max_wall_s=max_wall_s)
        if out_dir is not None:
            from sumsim.outputs import write_run

            summ = write_run(res, Path(out_dir) / task.run_id, force=True)
        else:
            summ = summary(res)
        flat = flatten(summ)
        if metrics:
            kept = [_kept(m, flat) for m in metrics]
            maps = table_keys(summ)
            missing = [m for m in kept if m not in flat and not _absent_key(m, maps)]
            if missing:
                row["summary_names"] = sorted(flat)
                raise KeyError(f"metrics not in the summary: {missing}")
            flat = {m: flat.get(m) for m in kept}
        row.update(status="ok", error="", metrics=flat)
    except Exception as e:  # recorded, not fatal to the sweep
        notes = getattr(e, "__notes__", None)  # (the last names a plug-in at fault)
        row.update(status="failed", error=f"{type(e).__name__}: {e}"
                   + (f" ({notes[-1]})" if notes else ""), metrics={},
                   traceback=traceback.format_exc(limit=5))
    row["elapsed_s"] = time.perf_counter() - start
    return row


# -- executors ------------------------------------------------------------------------------
Runner = Callable[[Task], dict[str, Any]]
#: Seconds between two looks for Ctrl-C while the process pool's runs go on.
INTERRUPT_POLL_S = 0.25
#: Modules a run imports, loaded once by the process pool's fork server.
PRELOAD = ("sumsim.engine", "sumsim.results.summary", "sumsim.scenario.loader")


def _local(fn: Runner, tasks: list[Task], workers: int, scheduler: str | None
           ) -> Iterator[dict[str, Any]]:
    for t in tasks:
        yield fn(t)


def _process(fn: Runner, tasks: list[Task], workers: int, scheduler: str | None
             ) -> Iterator[dict[str, Any]]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = mp.get_context("spawn" if os.name == "nt" else "forkserver")
    if os.name != "nt":
        # The fork server imports the simulator once; each worker forked from it starts with
        # it loaded instead of importing it again (no effect if the server already runs).
        ctx.set_forkserver_preload(list(PRELOAD))
        _start_fork_server()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                               initializer=_worker_setup, initargs=(os.getpid(),))
    futures = []
    try:
        futures = [pool.submit(fn, t) for t in tasks]
        pending = set(futures)
        while pending:
            # (a wait with a timeout: an untimed one is not woken by Ctrl-C when the signal
            # lands on another thread of this process, and would last until a run ends)
            with _signals_held() as held:
                done, pending = wait(pending, timeout=INTERRUPT_POLL_S,
                                     return_when=FIRST_COMPLETED)
            held.deliver()  # (Ctrl-C meanwhile: raised here, with no lock of wait() held)
            for f in done:
                yield f.result()
    except BaseException as e:  # Ctrl-C, an error, or the caller stopping early
        for f in futures:
            f.cancel()
        _stop_workers(pool)
        if isinstance(e, BrokenProcessPool):  # (it says only "terminated abruptly")
            raise WorkerDied(
                "a worker process of the pool stopped abruptly (killed, most often for lack "
                "of memory: fewer --workers use less; the finished runs are kept)"
                + _script_hint()) from None
        raise
    pool.shutdown(wait=True)


class _Held:
    """The signals :func:`_signals_held` caught; :meth:`deliver` raises the first again once
    its handlers are back."""

    def __init__(self) -> None:
        self.caught: list[int] = []

    def hold(self, signum: int, _frame: Any) -> None:
        self.caught.append(signum)

    def deliver(self) -> None:
        if self.caught:
            signal.raise_signal(self.caught[0])  # (its own handler raises, here)


@contextmanager
def _signals_held() -> Iterator[_Held]:
    """Hold Ctrl-C and SIGTERM back for the block, then put their handlers back.

    ``concurrent.futures.wait`` takes the lock of every future it waits on; a KeyboardInterrupt
    raised inside it can leave one taken, and the pool's manager thread, cancelling that future
    as the sweep stops, then waits for it for ever (the sweep hung after Ctrl-C, now and then).
    Only the main thread can set handlers; elsewhere nothing is held."""
    held = _Held()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    before = {s: signal.signal(s, held.hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield held
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


def _script_hint() -> str:
    """For a sweep started by a script run as ``python script.py``: its workers import the
    script again (as multiprocessing does), so one that starts the sweep at import starts it
    again in each worker, which then fails."""
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if not script or not str(script).endswith(".py") or getattr(main, "__spec__", None):
        return ""
    return (f"; or {Path(script).name} starts the sweep when imported: the workers import it "
            "again, so start it under `if __name__ == \"__main__\":`")


def _start_fork_server() -> None:
    """Start the fork server (if it is not running) with Ctrl-C ignored, as the workers forked
    from it then are from birth: a Ctrl-C while it imported the simulator, or while a worker
    started, printed their tracebacks under the sweep's one-line "interrupted" (the sweep's
    own process stops them)."""
    import signal
    import threading
    from multiprocessing import forkserver

    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()  # (signal dispositions are the main thread's to set)
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


#: Seconds between a process-pool worker's looks at whether the sweep's process still lives.
OWNER_POLL_S = 1.0


def _worker_setup(owner: int) -> None:
    """Process-pool workers leave Ctrl-C, and the installed plug-ins' warnings, to the
    sweep's own process, and end when that process is gone.

    A sweep killed outright (``kill -9``, the machine's out-of-memory killer) cannot stop its
    workers: they waited for more work for ever, each holding its memory.  A thread of each
    worker looks every :data:`OWNER_POLL_S` seconds whether the sweep's process (``owner``)
    still lives, and ends the worker when it does not.

    Ctrl-C reaches every process of the terminal's group: a worker that took it reported it as
    its run's error and then waited for more work from a sweep that had gone (an orphan that
    kept its fork server alive), and printed tracebacks on the way.  The sweep's process
    records what finished and stops the workers (:func:`_stop_workers`).  A plug-in left out
    (:class:`~sumsim.registry.PluginWarning`) was already named once by the sweep's process;
    each worker reading the entry points again would name it again."""
    import signal
    import threading
    import warnings

    from sumsim.registry import PluginWarning

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore", PluginWarning)
    threading.Thread(target=_end_with, args=(owner,), daemon=True,
                     name="sumsim-owner-watch").start()


def _end_with(owner: int) -> None:
    """End this process once ``owner`` no longer lives (see :func:`_worker_setup`)."""
    while True:
        time.sleep(OWNER_POLL_S)
        if not _alive(owner):
            os._exit(1)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a killed one its parent has not reaped yet, a zombie,
    does not: it answers signals but will do nothing more)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # (no /proc here: ask the process table)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def _stop_workers(pool: Any) -> None:
    """Stop a process pool now: its queued runs dropped, the running ones ended (their results
    would be dropped anyway; waiting for them would keep a stopped sweep busy for minutes)."""
    import contextlib

    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # (already gone)
            proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)  # (quick: no worker is left to wait for)


#: Dask settings for workers that run sweeps (those of the cluster a sweep starts; pass them to
#: workers you start yourself, e.g. as ``DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False``):
#: no statistical profiler (a stack sample every 10 ms) and the event-loop and memory checks
#: a second or more apart instead of every 20 to 500 ms.  Each of those wakes the worker's
#: event loop, which then takes the interpreter lock from the run: together about a tenth of a
#: quickstart run's CPU.  They also import what a run needs (``PRELOAD``) as they start, as the
#: process pool's fork server does, rather than in their first run.
DASK_WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.worker.preload": list(PRELOAD),
}


def _dask(fn: Runner, tasks: list[Task], workers: int, scheduler: str | None
          ) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("the dask executor needs `pip install 'sumsim[dask]'`") from None
    import dask

    cluster = None
    if scheduler is not None:
        # (Dask would wait 30 s, then raise OSError with a traceback)
        try:
            client = Client(scheduler, timeout=SCHEDULER_TIMEOUT_S)
        except ValueError as e:
            raise InputError(f"{scheduler!r} is not a scheduler address ({e}); expected one "
                             "such as tcp://host:8786", field="--scheduler") from None
        except OSError:  # refused or unreachable: Dask retries until the timeout
            raise InputError(f"no Dask scheduler answered at {scheduler!r} within "
                             f"{SCHEDULER_TIMEOUT_S:g} s (sumsim.sweeps.SCHEDULER_TIMEOUT_S); "
                             "expected the address of a running scheduler", field="--scheduler"
                             ) from None
    else:
        with dask.config.set(DASK_WORKER_CONFIG):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None)
        client = Client(cluster)
    try:
        futures = client.map(fn, tasks, pure=False)
        for f in as_completed(futures):
            yield f.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


EXECUTORS: dict[str, Callable[..., Iterator[dict[str, Any]]]] = {
    "local": _local, "process": _process, "dask": _dask}


class _Bound:
    """`run_task` with the sweep's constant arguments bound (picklable for every executor).

    Paths are made absolute here: a worker of a Dask cluster runs in its own working
    directory, where a relative ``--out`` or data path would name another place."""

    def __init__(self, base_data: dict[str, Any], base_dir: str, metrics: list[str],
                 out_dir: str | None, data_path: str | None, max_wall_s: float | None = None):
        self.args = (base_data, str(Path(base_dir).resolve()))
        self.metrics = metrics
        self.out_dir = None if out_dir is None else str(Path(out_dir).resolve())
        self.data_path = None if data_path is None else str(Path(data_path).resolve())
        self.max_wall_s = max_wall_s

    def __call__(self, task: Task) -> dict[str, Any]:
        return run_task(*self.args, task, self.metrics, self.out_dir, self.data_path,
                        self.max_wall_s)


# -- the manifest and the table -------------------------------------------------------------
def fingerprint(sweep: Sweep, data_path: str | None = None) -> str:
    """What a finished run's row depends on besides its own parameters and seed: the base
    scenario, the sweep's seed and metrics, and the contents of the table it reads (a CSV or
    Parquet file edited between two invocations would mix runs on two datasets)."""
    spec = sweep.spec.sweep
    # (a folder of unpaired runs made before pairing existed keeps its fingerprint; one of
    # synthetic or IMDB data too)
    return hashlib.sha256(_canonical([sweep.base_data, spec.seed, spec.metrics] + (
        ["paired"] if spec.paired else []) + _table_digest(sweep, data_path)).encode()
                          ).hexdigest()[:16]


def _table_digest(sweep: Sweep, data_path: str | None) -> list[str]:
    """The SHA-256 of the CSV or Parquet file the base scenario reads ([] for other data,
    or a file that cannot be read: the runs say why)."""
    data = sweep.base_data.get("data")
    if not isinstance(data, dict) or data.get("dataset") not in ("csv", "parquet"):
        return []
    path = data_path or data.get("path")
    if not isinstance(path, str) or not path:
        return []
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = sweep.base_dir / p if data_path is None else p
    digest = hashlib.sha256()
    try:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return []
    return ["table", digest.hexdigest()]


def table(sweep: Sweep, rows: Iterable[dict[str, Any]]) -> pl.DataFrame:
    """One row per run, ordered by run index: parameters, seed, status, metrics."""
    from sumsim.results.summary import eth_twin

    names = sweep.param_names
    by_id = {t.run_id: t for t in sweep.tasks}
    current = sorted((r for r in rows if r["run_id"] in by_id),
                     key=lambda r: by_id[r["run_id"]].index)
    records = []
    for r in current:
        task = by_id[r["run_id"]]
        rec: dict[str, Any] = {"run_index": task.index, "run_id": task.run_id,
                               "replicate": task.replicate, "seed": task.seed}
        for n in names:
            v = task.params.get(n)
            rec[f"param:{n}"] = v if isinstance(v, bool | int | float | str) or v is None \
                else _canonical(v)
        rec["status"] = r["status"]
        rec["error"] = r["error"]
        for k, v in sorted(r["metrics"].items()):
            twin = eth_twin(k)
            if twin is not None and isinstance(v, int) and not isinstance(v, bool):
                rec[k] = str(v)
                rec[twin] = v / 10**18
            else:
                rec[k] = v
        records.append(rec)
    df = pl.from_dicts(records, infer_schema_length=None) if records else pl.DataFrame()
    casts = [pl.col(c).cast(pl.Decimal(38, 0)) for c in df.columns
             if eth_twin(c) is not None and df.schema[c] == pl.Utf8]
    return df.with_columns(casts) if casts else df


def run_sweep(sweep: Sweep, out: Path, *, executor: Executor = "process",
              workers: int | None = None, scheduler: str | None = None,
              progress: bool = False, retry_failed: bool = False,
              data_path: str | None = None,
              on_row: Callable[[dict[str, Any]], None] | None = None,
              max_wall_s: float | None = None, repair: bool = False,
              on_notice: Callable[[str], None] | None = None) -> pl.DataFrame:
    """Run what the folder ``out`` does not have yet; return the full results table.

    ``max_wall_s`` bounds each run's wall-clock time (a slower run is recorded as failed);
    ``repair`` rebuilds the manifest from the per-run records first (done anyway when the
    manifest is damaged; ``on_notice`` hears about it).  Another sweep running in ``out`` is
    an :class:`InputError`."""
    if workers is not None and workers < 1:
        raise InputError(f"expected a positive number of workers, got {workers}",
                         field="workers")
    check_folder(out)
    check_scheduler(executor, scheduler)
    check_folder_holds_only(out, "sweep", SWEEP_FILES)
    # (a folder made for a sweep a metric typo stopped would refuse the corrected file)
    with removed_if_made(out, UnknownMetric), folder_lock(out):
        return _run_locked(sweep, out, executor, workers, scheduler, progress, retry_failed,
                           data_path, on_row, max_wall_s, repair, on_notice)


#: How the notice of a resumed sweep begins (informational: ``-q`` leaves it out).
RESUMING = "resuming: "

#: What a sweep folder holds (besides hidden files): the manifest, the records, the table,
#: figures, per-run folders (``write_runs``) and ``report --reference``'s differences.
SWEEP_FILES = {MANIFEST, RECORDS, RESULTS, "figures", "runs", "paired_differences.parquet"}


def check_scheduler(executor: str, scheduler: str | None) -> None:
    """A scheduler goes with the dask executor (with another it would be ignored: the runs
    would stay on this machine); sweeps and searches both ask."""
    if scheduler is not None and executor != "dask":
        raise InputError(f"a scheduler applies to the dask executor only, not {executor!r}; "
                         "expected --executor dask with it", field="--scheduler")


def _run_locked(sweep: Sweep, out: Path, executor: Executor, workers: int | None,
                scheduler: str | None, progress: bool, retry_failed: bool,
                data_path: str | None, on_row: Callable[[dict[str, Any]], None] | None,
                max_wall_s: float | None, repair: bool,
                on_notice: Callable[[str], None] | None) -> pl.DataFrame:
    stamp = fingerprint(sweep, data_path)
    done, notice = finished_runs(out, stamp, repair)
    if notice is not None and on_notice is not None:
        on_notice(notice)
    if retry_failed:
        done = {k: v for k, v in done.items() if v["status"] == "ok"}
    known = {t.run_id for t in sweep.tasks}
    other = len([k for k in done if k not in known])
    if other and on_notice is not None:  # (another grid in the same folder: kept, not shown)
        on_notice(f"{out}: {other} finished run(s) of points this sweep does not have are kept "
                  "in the folder's records, not in its table")
    done = {k: v for k, v in done.items() if k in known}
    older = [r for r in done.values() if r.get("version") != __version__]
    if older and on_notice is not None:
        on_notice(f"{out}: {_made_by_other_versions(older)}; they run again with sumsim "
                  f"{__version__} (one table never mixes the runs of two versions)")
    done = {k: v for k, v in done.items() if v.get("version") == __version__}
    todo = [t for t in sweep.tasks if t.run_id not in done]
    if done and on_notice is not None:
        on_notice(f"{RESUMING}{len(done)} of the {len(sweep.tasks)} runs finished before and "
                  f"are kept; {len(todo)} to run")
    # sweep.metrics is checked against the first run that finishes (on a resume, against a
    # recorded one: a run that failed on a missing name leaves the summary's names)
    checked = any(r["status"] == "ok" for r in done.values())
    if not checked:
        for r in done.values():
            if (unknown := _unknown_metric(sweep, r)) is not None:
                raise unknown
    workers = workers or os.cpu_count() or 1
    fn = _Bound(sweep.base_data, str(sweep.base_dir), sweep.spec.sweep.metrics,
                str(out / "runs") if sweep.spec.sweep.write_runs else None, data_path,
                max_wall_s)

    def save() -> None:
        write_json(out / MANIFEST, {"sweep": sweep.spec.model_dump(mode="json"),
                                    "source": sweep.source, "fingerprint": stamp,
                                    "runs": sorted(done.values(), key=lambda r: r["run_index"])})

    bar = _RunsBar(len(sweep.tasks), len(sweep.tasks) - len(todo), progress)
    try:
        next_save = 0.0  # (the first finished run is in the manifest at once)
        for row in EXECUTORS[executor](fn, todo, workers, scheduler) if todo else ():
            done[row["run_id"]] = row
            write_record(out, stamp, row)
            if time.monotonic() >= next_save:
                save()
                next_save = time.monotonic() + MANIFEST_EVERY_S
            bar.advance(row)
            if on_row is not None:
                on_row(row)
            if not checked and (row["status"] == "ok" or "summary_names" in row):
                checked = True
                if (unknown := _unknown_metric(sweep, row)) is not None:
                    raise unknown  # every run would fail on it (those done stay recorded)
    finally:
        bar.close()
        save()
    df = table(sweep, done.values())
    write_parquet(out / RESULTS, df)
    ok = [r for r in done.values() if r["status"] == "ok"]
    never = [m for m in sweep.spec.sweep.metrics
             if ok and all(r["metrics"].get(_kept(m, r["metrics"])) is None for r in ok)]
    if never and on_notice is not None:
        on_notice(f"{sweep.source}: sweep.metrics: {', '.join(map(repr, never))} "
                  f"{'is' if len(never) == 1 else 'are'} null in every run (no run's "
                  "summary has it: a misspelling, or something that never happened)")
    return df


def _made_by_other_versions(runs: list[dict[str, Any]]) -> str:
    """Who made finished runs of other sumsim versions (their rules, gas or metrics may
    differ), in a few words."""
    other = Counter(made_by(r.get("version")) for r in runs)
    return f"{len(runs)} finished run(s) were made by " + ", ".join(
        f"{k} ({n})" for k, n in sorted(other.items()))


def _absent_key(metric: str, maps: dict[str, list[str]]) -> bool:
    """Whether ``metric`` names something this run's summary may lack where another run's has
    it (an address in ``incentive.num_valid``; ``incentive.num_valid`` itself under another
    mechanism; a reason in ``transactions.revert_reasons``): under a table keyed by what
    happened (not one of the summary's fixed records such as ``accuracy``), the part missing
    from the nearest table this run has not a near-spelling of one of its keys."""
    from sumsim.results.summary import fixed_section

    steps = metric.split(".")
    for cut in range(len(steps) - 1, 0, -1):
        parent = ".".join(steps[:cut])
        keys = maps.get(parent)
        if keys is not None:
            return not fixed_section(parent) and \
                not difflib.get_close_matches(steps[cut], keys, n=1, cutoff=0.8)
    return False


def _kept(metric: str, names: Container[str]) -> str:
    """The summary name a sweep keeps for ``metric``: itself, or for an ``*_eth`` name of a
    ``*_wei`` amount the amount (the table adds its ``_eth`` column)."""
    if metric not in names and metric.endswith("_eth") and f"{metric[:-4]}_wei" in names:
        return f"{metric[:-4]}_wei"
    return metric


def _unknown_metric(sweep: Sweep, row: dict[str, Any]) -> InputError | None:
    """The first name in ``sweep.metrics`` that this run's summary lacks (every run would
    fail on it), with close names suggested; None when the row has no such failure."""
    from sumsim.results.summary import with_eth

    names: list[str] | None = row.get("summary_names")
    if names is None:
        return None
    for i, m in enumerate(sweep.spec.sweep.metrics):
        if _kept(m, names) in names:
            continue
        # (the names a table has: the summary's, with the _eth twin of every wei amount)
        close = difflib.get_close_matches(m, list(with_eth(dict.fromkeys(names, 0))), n=3,
                                          cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else \
            f"expected one of its {len(names)} metrics, e.g. {names[:3]}"
        return UnknownMetric(f"no metric {m!r} in a run's summary; {hint}",
                             source=sweep.source, field=f"sweep.metrics[{i}]")
    return None


#: Seconds between two rewrites of the manifest while runs finish (and once at the end, or
#: when the sweep stops).  Each rewrite serializes every finished run, so rewriting after each
#: run made the sweep's own process quadratic in the number of runs, taking CPU from the
#: workers; the per-run records, written as each run finishes, are what a resumed sweep
#: trusts either way.
MANIFEST_EVERY_S = 1.0


class _RunsBar:
    def __init__(self, total: int, completed: int, enabled: bool):
        self.enabled = enabled
        self.failed = 0
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.p = Progress(TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                              TextColumn("ETA"), TimeRemainingColumn())
            self.task = self.p.add_task("runs", total=total, completed=completed, failed=0)
            self.p.start()

    def advance(self, row: dict[str, Any]) -> None:
        if self.enabled:
            self.failed += row["status"] != "ok"
            self.p.update(self.task, advance=1, failed=self.failed)

    def close(self) -> None:
        if self.enabled:
            self.p.stop()
