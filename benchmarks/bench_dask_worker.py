"""CPU a Dask worker spends per quickstart run, with Dask's default worker settings (profiler
off) and with the settings sweeps use (``sumsim.sweeps.DASK_WORKER_CONFIG``).

Usage::

    python benchmarks/bench_dask_worker.py [--runs N] [--repeat N]

Each timing starts a one-worker LocalCluster, runs one quickstart sweep task on it (imports,
the first dataset), then ``--runs`` more one after another, and reads the worker process's CPU
time around those; the two settings alternate ``--repeat`` times.  The in-process CPU of the
same tasks is printed for comparison.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from typing import Any

import dask
import psutil
from distributed import Client, LocalCluster

from sumsim.sweeps import DASK_WORKER_CONFIG, _Bound, load_sweep

SETTINGS: dict[str, dict[str, Any]] = {
    "defaults, profiler off": {"distributed.worker.profile.enabled": False},
    "sweep settings": DASK_WORKER_CONFIG,
}


def _sweep(folder: str) -> Any:
    path = os.path.join(folder, "budget.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write('points = [{ "metrics.counterfactual" = false }]\n[sweep]\nname = "cpu"\n'
                'base = "quickstart"\nseeds = 10\nseed = 0\n'
                '[grid]\n"agents[1].budget" = [100, 200, 300, 400, 500]\n')
    return load_sweep(path)


def worker_cpu(config: dict[str, Any], fn: _Bound, tasks: list[Any]) -> float:
    """CPU seconds per task of a one-worker cluster started with ``config``."""
    with dask.config.set(config):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=None)
    client = Client(cluster)
    try:
        (pid,) = client.run(os.getpid).values()
        proc = psutil.Process(pid)
        client.submit(fn, tasks[0], pure=False).result()
        before = sum(proc.cpu_times()[:2])
        for t in tasks[1:]:
            client.submit(fn, t, pure=False).result()
        return (sum(proc.cpu_times()[:2]) - before) / (len(tasks) - 1)
    finally:
        client.close()
        cluster.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=40)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sw = _sweep(tmp)
        fn = _Bound(sw.base_data, str(sw.base_dir), [], None, None)
        tasks = sw.tasks[: args.runs + 1]
        results: dict[str, list[float]] = {k: [] for k in SETTINGS}
        for _ in range(args.repeat):
            for label, config in SETTINGS.items():
                results[label].append(worker_cpu(config, fn, tasks))
        fn(tasks[0])
        start = time.process_time()
        for t in tasks[1:]:
            fn(t)
        local = (time.process_time() - start) / (len(tasks) - 1)
    for label, values in results.items():
        print(f"{label}: " + ", ".join(f"{1000 * v:.0f}" for v in values) + " ms CPU a run")
    print(f"in this process: {1000 * local:.0f} ms CPU a run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
