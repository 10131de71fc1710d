"""The reference workload: the paper's IMDB / perceptron / DRT scenario, end to end, side by side
with its bare numpy floor (``bench_floor.py``), in one invocation.

Usage::

    python benchmarks/bench_paper.py [--archive PATH] [--repeat N] [--record]

Warms the featurization cache once, then, ``--repeat`` times in turn:

- ``sumsim run`` on ``scenarios/paper-imdb-perceptron-drt.toml`` in a fresh process (what a
  user waits for: interpreter start-up, imports, loading the cached features, simulation,
  all-data baseline, every output and the figure; its sidecar process included): wall time,
  CPU time (user + system, of both processes) and peak resident memory (of the larger);
- the floor (the same work as a bare numpy loop, in this process, features already loaded);

and the same pair again with the counterfactual switched on (``--set
metrics.counterfactual=true``: sumsim runs the scenario a second time without the attacker,
the floor makes the second pass too).  Reports medians, the ratio of medians and the load
average before and after: other work on the machine inflates wall times (CPU times less so).
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
from typing import Any

from _results import ARCHIVE, machine, record, stamp
from bench_floor import floor_run

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "scenarios" / "paper-imdb-perceptron-drt.toml"
TITLE = "Paper scenario (IMDB, perceptron, DRT)"


def run_cli(archive: Path, out: Path, counterfactual: bool) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (bytes) of one `sumsim run` in a child process
    (into ``out``, which must not exist yet)."""
    cmd = [sys.executable, "-m", "sumsim", "run", str(SCENARIO), "--data-path", str(archive),
           "--out", str(out), "-q"]
    if counterfactual:
        cmd += ["--set", "metrics.counterfactual=true"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return wall, cpu, after.ru_maxrss * 1024


def timed_floor(dataset: Any, counterfactual: bool) -> tuple[float, float, float]:
    """Wall and CPU seconds of one floor run (simulation, second pass if asked, baseline), and
    its wall seconds without the baseline."""
    cpu = time.process_time()
    out = floor_run(dataset, counterfactual=counterfactual)
    return out["wall_s"], time.process_time() - cpu, out["wall_s"] - out["baseline_s"]


def measure(archive: Path, dataset: Any, out: Path, repeat: int, counterfactual: bool
            ) -> dict[str, Any]:
    rows: dict[str, list[float]] = {k: [] for k in ("wall", "cpu", "floor", "floor_cpu",
                                                     "floor_sim")}
    peak = 0
    for k in range(repeat):
        last = out / f"{'cf' if counterfactual else 'shipped'}-{k}"
        wall, cpu, rss = run_cli(archive, last, counterfactual)
        rows["wall"].append(wall)
        rows["cpu"].append(cpu)
        peak = max(peak, rss)
        fw, fc, fs = timed_floor(dataset, counterfactual)
        rows["floor"].append(fw)
        rows["floor_cpu"].append(fc)
        rows["floor_sim"].append(fs)
    med = {k: statistics.median(v) for k, v in rows.items()}
    return {"runs": rows, "median": med, "peak": peak,
            "summary": json.loads((last / "summary.json").read_text())}


def table(m: dict[str, Any], label: str) -> list[str]:
    med, runs = m["median"], m["runs"]
    n = len(runs["wall"])

    def all_runs(key: str) -> str:
        return ", ".join(f"{x:.2f}" for x in runs[key])

    return [
        f"| `sumsim run` {label}: wall, median of {n} (start-up to figure) | "
        f"**{med['wall']:.2f} s** ({all_runs('wall')}) |",
        f"| `sumsim run` {label}: CPU (user + system), median | {med['cpu']:.2f} s "
        f"({all_runs('cpu')}) |",
        f"| floor {label}: wall, median of {n} | **{med['floor']:.2f} s** "
        f"({all_runs('floor')}) |",
        f"| floor {label}: CPU, median | {med['floor_cpu']:.2f} s |",
        f"| ratio {label}: wall / floor wall (CPU / floor CPU) | "
        f"**{med['wall'] / med['floor']:.1f}x** ({med['cpu'] / med['floor_cpu']:.1f}x) |",
        f"| floor {label} without its all-data baseline fit (the simulation alone): wall, "
        f"median | {med['floor_sim']:.2f} s ({all_runs('floor_sim')}) |",
        f"| ratio {label}: wall / that (`sumsim run` fits the baseline on its second core) | "
        f"{med['wall'] / med['floor_sim']:.1f}x |",
        f"| peak resident memory of `sumsim run` {label} | {m['peak'] / 2**20:.0f} MiB |",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", type=Path, default=ARCHIVE)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--record", action="store_true")
    args = p.parse_args(argv)
    if not args.archive.is_file():
        print(f"IMDB archive not found: {args.archive}", file=sys.stderr)
        return 2
    from sumsim.data.imdb import load_imdb
    from sumsim.scenario.loader import load_scenario

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="sumsim-bench-") as tmp:
        out = Path(tmp) / "run"
        run_cli(args.archive, out / "warm-up", False)  # the featurization cache, disk cache
        dataset = load_imdb(args.archive, num_words=1000)
        shipped = measure(args.archive, dataset, out, args.repeat, False)
        cf = measure(args.archive, dataset, out, args.repeat, True)
    load_after = os.getloadavg()
    summary = shipped["summary"]
    n = summary["contract"]["contributions"]
    txs = summary["transactions"]["count"]
    acc = summary["accuracy"]
    gas = summary["gas"]
    sc = load_scenario(SCENARIO)
    lines = [
        f"## {TITLE}", "",
        f"- Date: {stamp()}",
        f"- Command: `python benchmarks/bench_paper.py --record` (featurization cached; sumsim "
        f"and the floor alternate, {args.repeat} runs each, as shipped then with the "
        "counterfactual)",
        f"- Machine: {machine()}",
        "- Load average (1/5/15 min) at start -> end: "
        + "/".join(f"{v:.2f}" for v in load_before) + " -> "
        + "/".join(f"{v:.2f}" for v in load_after) + " (other work on the machine slows "
        "every timing)",
        f"- Workload: {n:,} contributions, {txs:,} transactions, {summary['days']:.1f} "
        "simulated days, accuracy on 25,000 test reviews every 200,000 s; the floor "
        "(`bench_floor.py`) does the same work as a bare numpy loop, start-up and loading not "
        "counted",
        "- `sumsim run` uses both cores: its sidecar process fits the all-data baseline and "
        "runs the counterfactual while the run simulates, and draws the figure while the run "
        "writes its tables (CPU times count both processes); the floor runs on one core",
        "",
        "| measure | value |", "| --- | ---: |",
        *table(shipped, "as shipped"),
        f"| contributions per second, `sumsim run` as shipped | "
        f"{n / shipped['median']['wall']:,.0f} |",
        *table(cf, "with counterfactual"),
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
