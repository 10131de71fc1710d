"""Sweep scaling: 100 quickstart runs under each executor.

Usage::

    python benchmarks/bench_sweep_scaling.py [--values N] [--seeds N] [--repeat N] [--record]

The sweep is the bundled quickstart (counterfactual off, so each run is the simulation itself)
over ``--values`` values of ``agents[1].budget`` x ``--seeds`` seeds (10 x 10 = 100 runs).  It
is timed, each time into a fresh folder (manifest and results table included), with the
in-process ``local`` executor, the process pool at 1 and 2 workers and the Dask executor on a
LocalCluster of 2 workers, once started and stopped by the sweep itself and once already
running (``--scheduler``, started outside the timing).  Reports wall times, runs per
second, the 1 -> 2 worker speed-up and the per-run overhead of Dask over the process pool, and
checks that every executor produced the same table.  The machine's load average is printed
next to each timing: other work on the machine slows the parallel executors first.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import tomli_w
from _results import machine, record, stamp

TITLE = "Sweep scaling (100 quickstart runs)"
#: (label, executor, workers)
CONFIGS = [("in-process (`local`)", "local", 1), ("process pool, 1 worker", "process", 1),
           ("process pool, 2 workers", "process", 2),
           ("Dask LocalCluster, 2 workers", "dask", 2),
           ("Dask cluster already running, 2 workers (`--scheduler`)", "dask-running", 2)]


def write_sweep(folder: Path, values: int, seeds: int) -> Path:
    budgets = [100 * (i + 1) for i in range(values)]
    doc: dict[str, Any] = {
        "sweep": {"name": "scaling", "base": "quickstart", "seeds": seeds, "seed": 0},
        "grid": {"agents[1].budget": budgets},
        "points": [{"metrics.counterfactual": False}],
    }
    path = folder / "scaling.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def command_args(args: argparse.Namespace) -> str:
    """The non-default options, as typed."""
    return "".join(f" --{k} {v}" for k, v, d in (("values", args.values, 10),
                                                  ("seeds", args.seeds, 10),
                                                  ("repeat", args.repeat, 1)) if v != d)


def per_wall(cpu: list[float], walls: list[float]) -> str:
    return ", ".join(f"{c / w:.2f}" for c, w in zip(cpu, walls, strict=True))


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


class CPUMeter:
    """CPU seconds used by this process and every process under it (the process pool's
    forkserver and workers, Dask's scheduler, nannies and workers), sampled every 0.1 s, and by
    the whole machine; ``other`` is what the rest of the machine used meanwhile."""

    def __init__(self) -> None:
        self.me = psutil.Process()
        self.base: dict[tuple[int, float], float] = {}
        self.last: dict[tuple[int, float], float] = {}
        self.stop = threading.Event()
        self._sample(self.base)
        self.machine = self._machine()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @staticmethod
    def _machine() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)

    def _sample(self, into: dict[tuple[int, float], float]) -> None:
        procs = [self.me]
        with contextlib.suppress(psutil.Error):
            procs += self.me.children(recursive=True)
        for p in procs:
            try:
                t = p.cpu_times()
                into[(p.pid, p.create_time())] = t.user + t.system
            except psutil.Error:
                pass

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            self._sample(self.last)

    def finish(self) -> tuple[float, float]:
        """(CPU seconds of this process tree, CPU seconds of everything else)."""
        self.stop.set()
        self.thread.join()
        self._sample(self.last)
        ours = sum(v - self.base.get(k, 0.0) for k, v in self.last.items())
        return ours, max(0.0, self._machine() - self.machine - ours)


def time_one(path: Path, out: Path, executor: str, workers: int
             ) -> tuple[float, Any, float, float]:
    """Wall seconds of one sweep into a fresh folder, its table, and the CPU seconds used by
    the sweep's processes and by other work on the machine meanwhile."""
    from sumsim.sweeps import load_sweep, run_sweep

    with contextlib.ExitStack() as stack:
        scheduler = None
        if executor == "dask-running":  # started (not timed) like a cluster one connects to,
            import dask  # with the worker settings the guide recommends for sweeps
            from distributed import LocalCluster

            from sumsim.sweeps import DASK_WORKER_CONFIG

            with dask.config.set(DASK_WORKER_CONFIG):
                cluster = stack.enter_context(LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True,
                    dashboard_address=None))
            scheduler, executor = cluster.scheduler_address, "dask"
        meter = CPUMeter()
        start = time.perf_counter()
        df = run_sweep(load_sweep(path), out, executor=executor,  # type: ignore[arg-type]
                       workers=workers, scheduler=scheduler)
        wall = time.perf_counter() - start
        ours, other = meter.finish()
    return wall, df, ours, other


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--values", type=int, default=10, help="budget values (default 10)")
    p.add_argument("--seeds", type=int, default=10, help="seeds per value (default 10)")
    p.add_argument("--repeat", type=int, default=1,
                   help="timings per executor, interleaved; the best is reported")
    p.add_argument("--record", action="store_true")
    args = p.parse_args(argv)
    n = args.values * args.seeds
    walls: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    other: dict[str, list[float]] = {}
    loads: dict[str, list[str]] = {}
    tables: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sumsim-bench-") as tmp:
        path = write_sweep(Path(tmp), args.values, args.seeds)
        for k in range(args.repeat):
            for label, executor, workers in CONFIGS:
                before = load()
                wall, df, used, rest = time_one(path, Path(tmp) / f"{executor}-{workers}-{k}",
                                           executor, workers)
                walls.setdefault(label, []).append(wall)
                cpu.setdefault(label, []).append(used)
                other.setdefault(label, []).append(rest)
                loads.setdefault(label, []).append(f"{before} -> {load()}")
                tables[label] = df
                print(f"{label}: {wall:.2f} s ({n / wall:.2f} runs/s), cores used: "
                      f"{used / wall:.2f} by the sweep, {rest / wall:.2f} by other work; load "
                      f"{loads[label][-1]}", flush=True)
    first = next(iter(tables.values()))
    same = all(df.equals(first) for df in tables.values())
    failed = sum(int((df["status"] != "ok").sum()) for df in tables.values())
    wall = {label: min(w) for label, w in walls.items()}
    local, p1, p2, dask, running = (wall[label] for label, _, _ in CONFIGS)
    lines = [
        f"## {TITLE}", "",
        f"- Date: {stamp()}",
        f"- Command: `python benchmarks/bench_sweep_scaling.py{command_args(args)} --record`",
        f"- Machine: {machine()}",
        f"- Workload: the bundled quickstart without its counterfactual, {args.values} values "
        f"of `agents[1].budget` x {args.seeds} seeds = {n} runs, each into a fresh sweep folder "
        "(a record per run, the manifest rewritten at most once a second and at the end, "
        "Parquet table at the end)",
        "- Load average (1/5/15 min) at start -> end of each timing: "
        + "; ".join(f"{label}: {', '.join(loads[label])}" for label, _, _ in CONFIGS),
        "",
        f"| executor | wall time{f' (best of {args.repeat})' if args.repeat > 1 else ''} | "
        "runs/s | every timing | CPU per run | cores used by the sweep | "
        "cores used by other work |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {label} | {wall[label]:.2f} s | {n / wall[label]:.2f} | "
          f"{', '.join(f'{w:.1f}' for w in walls[label])} s | "
          f"{1000 * min(cpu[label]) / n:.0f} ms | {per_wall(cpu[label], walls[label])} | "
          f"{per_wall(other[label], walls[label])} |" for label, _, _ in CONFIGS),
        "",
        "| measure | value |", "| --- | ---: |",
        f"| speed-up, process pool 1 -> 2 workers | {p1 / p2:.2f}x |",
        f"| per-run overhead of Dask vs the process pool, 2 workers, cluster started by the "
        f"sweep ((dask - process) / {n}) | {1000 * (dask - p2) / n:+.1f} ms |",
        f"| per-run overhead of Dask vs the process pool, 2 workers, cluster already running "
        f"((dask - process) / {n}) | {1000 * (running - p2) / n:+.1f} ms |",
        f"| per-run overhead of the 1-worker process pool vs in-process ((process - local) / "
        f"{n}) | {1000 * (p1 - local) / n:+.1f} ms |",
        f"| identical results table under all {len(CONFIGS)} | {'yes' if same else 'NO'} |",
        f"| failed runs | {failed} |",
        "",
        "The first Dask time includes starting and stopping its LocalCluster (scheduler and "
        "two worker processes, about 1.4 s with importing Dask); the second connects to a "
        "cluster started before the timing with the worker settings sweeps use "
        "(`sumsim.sweeps.DASK_WORKER_CONFIG`; its workers still import sumsim on their first "
        "run); the process pool's includes starting its workers.  In-process runs share the "
        "benchmark's process with its CPU meter (a thread reading every process's times ten "
        "times a second).  CPU per run "
        "counts every process of the sweep (start-up included; the lowest of the timings).  "
        "Cores used are CPU seconds over wall seconds, for each timing: on this 2-core machine "
        "the cores that other work took were not there for the sweep, which slows the "
        "2-worker executors first.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(TITLE, text)
    return 0 if same and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
