"""Sweep scaling: 100 quickstart runs under each executor.

Usage::

    python benchmarks/bench_sweep_scaling.py [--values N] [--seeds N] [--repeat N] [--record]

The sweep is the bundled quickstart (counterfactual off, so each run is the simulation itself)
over ``--values`` values of ``agents[1].budget`` x ``--seeds`` seeds (10 x 10 = 100 runs).  It
is timed, each time into a fresh folder (manifest and results table included), with the
in-process ``local`` executor, the process pool at 1 and 2 workers and the Dask executor on a
LocalCluster of 2 workers that it starts and stops itself.  Reports wall times, runs per
second, the 1 -> 2 worker speed-up and the per-run overhead of Dask over the process pool, and
checks that every executor produced the same table.  The machine's load average is printed
next to each timing: other work on the machine slows the parallel executors first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import tomli_w
from _results import machine, record, stamp

TITLE = "Sweep scaling (100 quickstart runs)"
#: (label, executor, workers)
CONFIGS = [("in-process (`local`)", "local", 1), ("process pool, 1 worker", "process", 1),
           ("process pool, 2 workers", "process", 2),
           ("Dask LocalCluster, 2 workers", "dask", 2)]


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


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def time_one(path: Path, out: Path, executor: str, workers: int) -> tuple[float, Any, float]:
    """Wall seconds of one sweep into a fresh folder, its table, and the summed run times."""
    from sumsim.sweep import MANIFEST, load_sweep, run_sweep

    start = time.perf_counter()
    df = run_sweep(load_sweep(path), out, executor=executor,  # type: ignore[arg-type]
                   workers=workers)
    wall = time.perf_counter() - start
    runs = json.loads((out / MANIFEST).read_text(encoding="utf-8"))["runs"]
    return wall, df, sum(r["elapsed_s"] for r in runs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--values", type=int, default=10, help="budget values (default 10)")
    p.add_argument("--seeds", type=int, default=10, help="seeds per value (default 10)")
    p.add_argument("--repeat", type=int, default=1, help="timings per executor (median)")
    p.add_argument("--record", action="store_true")
    args = p.parse_args(argv)
    n = args.values * args.seeds
    walls: dict[str, list[float]] = {}
    busy: dict[str, float] = {}
    loads: dict[str, list[str]] = {}
    tables: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sumsim-bench-") as tmp:
        path = write_sweep(Path(tmp), args.values, args.seeds)
        for k in range(args.repeat):
            for label, executor, workers in CONFIGS:
                before = load()
                wall, df, run_s = time_one(path, Path(tmp) / f"{executor}-{workers}-{k}",
                                           executor, workers)
                walls.setdefault(label, []).append(wall)
                busy[label] = run_s
                loads.setdefault(label, []).append(f"{before} -> {load()}")
                tables[label] = df
                print(f"{label}: {wall:.2f} s ({n / wall:.2f} runs/s), load {loads[label][-1]}",
                      flush=True)
    first = next(iter(tables.values()))
    same = all(df.equals(first) for df in tables.values())
    failed = sum(int((df["status"] != "ok").sum()) for df in tables.values())
    wall = {label: statistics.median(w) for label, w in walls.items()}
    local, p1, p2, dask = (wall[label] for label, _, _ in CONFIGS)
    run_mean = busy[CONFIGS[0][0]] / n
    lines = [
        f"## {TITLE}", "",
        f"- Date: {stamp()}",
        f"- Command: `python benchmarks/bench_sweep_scaling.py{command_args(args)} --record`",
        f"- Machine: {machine()}",
        f"- Workload: the bundled quickstart without its counterfactual, {args.values} values "
        f"of `agents[1].budget` x {args.seeds} seeds = {n} runs, each into a fresh sweep folder "
        "(manifest rewritten after every run, Parquet table at the end); mean run "
        f"{run_mean:.2f} s in-process",
        "- Load average (1/5/15 min) at start -> end of each timing: "
        + "; ".join(f"{label}: {', '.join(loads[label])}" for label, _, _ in CONFIGS),
        "",
        f"| executor | wall time{' (median)' if args.repeat > 1 else ''} | runs/s |",
        "| --- | ---: | ---: |",
        *(f"| {label} | {wall[label]:.2f} s | {n / wall[label]:.2f} |" for label, _, _ in CONFIGS),
        "",
        "| measure | value |", "| --- | ---: |",
        f"| speed-up, process pool 1 -> 2 workers | {p1 / p2:.2f}x |",
        f"| per-run overhead of Dask vs the process pool, 2 workers "
        f"((dask - process) / {n}) | {1000 * (dask - p2) / n:+.1f} ms |",
        f"| per-run overhead of the 1-worker process pool vs in-process ((process - local) / "
        f"{n}) | {1000 * (p1 - local) / n:+.1f} ms |",
        f"| identical results table under all four | {'yes' if same else 'NO'} |",
        f"| failed runs | {failed} |",
        "",
        "The Dask time includes starting and stopping its LocalCluster (scheduler and two "
        "worker processes); the process pool's includes starting its workers.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(TITLE, text)
    return 0 if same and not failed else 1


if __name__ == "__main__":
    raise SystemExit(main())
