"""The reference workload: the paper's IMDB / perceptron / DRT scenario, end to end.

Usage::

    python benchmarks/bench_paper.py [--archive PATH] [--repeat N] [--record]

Warms the featurization cache once, then runs ``sumsim run`` on
``scenarios/paper-imdb-perceptron-drt.toml`` ``--repeat`` times in fresh processes (what a user
waits for: start-up, simulation, baseline, all outputs and the figure) and reports the median
wall time, contributions per second and the peak resident memory of the run process.  It also
times the simulation alone in-process (engine only, no outputs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import ARCHIVE, machine, record, stamp

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "paper-imdb-perceptron-drt.toml"
TITLE = "Paper scenario (IMDB, perceptron, DRT)"


def run_cli(archive: Path, out: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one `sumsim run` in a child process."""
    cmd = [sys.executable, "-m", "sumsim", "run", str(SCENARIO), "--data-path", str(archive),
           "--out", str(out), "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) * 1024


def engine_only(archive: Path) -> tuple[float, float]:
    import sumsim.engine as engine
    from sumsim.data.load import load_dataset
    from sumsim.scenario.loader import load_scenario

    sc = load_scenario(SCENARIO)
    ds = load_dataset(sc.data, sc.scenario.seed, str(archive))
    start = time.perf_counter()
    engine.run(sc, dataset=ds)
    total = time.perf_counter() - start
    sc.metrics.baseline = False
    start = time.perf_counter()
    engine.run(sc, dataset=ds)
    return total, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", type=Path, default=ARCHIVE)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--record", action="store_true")
    args = p.parse_args(argv)
    if not args.archive.is_file():
        print(f"IMDB archive not found: {args.archive}", file=sys.stderr)
        return 2
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sumsim-bench-") as tmp:
        out = Path(tmp) / "run"
        run_cli(args.archive, out)  # warm the featurization cache
        walls, peaks = [], []
        for _ in range(args.repeat):
            w, m = run_cli(args.archive, out)
            walls.append(w)
            peaks.append(m)
        summary = json.loads((out / "summary.json").read_text())
    sim_total, sim_only = engine_only(args.archive)
    load_after = os.getloadavg()
    n = summary["contract"]["contributions"]
    txs = summary["transactions"]["count"]
    wall = statistics.median(walls)
    peak_mb = max(peaks) / 2**20
    acc = summary["accuracy"]
    gas = summary["gas"]
    from sumsim.scenario.loader import load_scenario

    sc = load_scenario(SCENARIO)
    lines = [
        f"## {TITLE}", "",
        f"- Date: {stamp()}",
        "- Command: `python benchmarks/bench_paper.py --record` (featurization cached)",
        f"- Machine: {machine()}",
        "- Load average (1/5/15 min) at start -> end: "
        + "/".join(f"{v:.2f}" for v in load_before) + " -> "
        + "/".join(f"{v:.2f}" for v in load_after) + " (other work on the machine slows "
        "every timing)",
        f"- Workload: {n:,} contributions, {txs:,} transactions, {summary['days']:.1f} "
        "simulated days, accuracy on 25,000 test reviews every 200,000 s",
        "",
        "| measure | value |", "| --- | ---: |",
        f"| `sumsim run` wall time, median of {args.repeat} (start-up to figure) | "
        f"{wall:.2f} s |",
        f"| all runs | {', '.join(f'{w:.2f}' for w in walls)} s |",
        f"| contributions per second (end to end) | {n / wall:,.0f} |",
        f"| peak resident memory of the run process | {peak_mb:.0f} MiB |",
        f"| simulation + all-data baseline, in-process | {sim_total:.2f} s |",
        f"| simulation alone, in-process | {sim_only:.2f} s |",
        "| original authors' Python simulation, same workload | about 470 s |",
        "",
        f"Outcome (seed 1): honest {summary['agents']['good']['final_pct_of_start']:.1f}% of "
        f"start, label flipper {summary['agents']['bad']['final_pct_of_start']:.1f}%, "
        f"accuracy time-averaged {acc['time_avg']:.4f} vs all-data baseline "
        f"{acc['baseline_all_data']:.4f} (min {acc['min']:.4f}).",
        "",
        f"Gas (fork {gas['fork']}, {sc.chain.gas_price_gwei / 1e9:g} gwei, "
        f"${sc.chain.eth_usd:g}/ETH): mean {gas['mean_add_data_gas']:,.0f} gas per add "
        f"({gas['mean_add_data_fee_eth']:.6f} ETH, ${gas['mean_add_data_usd']:.2f}); all "
        f"fees {gas['fees_eth']:.2f} ETH (${gas['fees_usd']:,.0f}), of which honest "
        f"{summary['agents']['good']['fees_wei'] / 1e18:.2f} ETH and label flipper "
        f"{summary['agents']['bad']['fees_wei'] / 1e18:.2f} ETH.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(TITLE, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
