"""Scale: synthetic Deposit-Refund-Take scenarios of 10k, 100k and 1M contributions.

Usage::

    python benchmarks/bench_scale.py [--sizes 10000,100000,1000000] [--record]

Each size is the bundled quickstart (an honest contributor every ~10 min, a label flipper every
~hour, DRT, perceptron on synthetic sparse data) with a pool of that many samples, run by
``sumsim run --one-process`` in a fresh process, every output written (tables, summary,
figure).  The
counterfactual and the all-data baseline are off (they would only repeat the work) and test
accuracy is evaluated about 100 times per run on 2,000 test samples, so evaluations stay a small
share.  Reports wall time, CPU time (user + system), peak resident memory and the cost per
contribution, and draws a log-log figure (``benchmarks/scale.png``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _results import machine, record, stamp

TITLE = "Scale (synthetic DRT, 10k to 1M contributions)"
FIGURE = Path(__file__).resolve().parent / "scale.png"
INIT_FRACTION = 0.08
#: Mean simulated seconds per contribution (an honest add every ~600 s, most turns taken).
SECONDS_PER_CONTRIBUTION = 600
EVALUATIONS = 100
MEAN_WORDS = 10


def overrides(n: int) -> list[str]:
    n_train = math.ceil(n / (1 - INIT_FRACTION))
    every = max(43_200, n * SECONDS_PER_CONTRIBUTION // EVALUATIONS)
    sets = {"data.synthetic.n_train": n_train, "data.synthetic.n_test": 2000,
            "data.synthetic.mean_words": MEAN_WORDS, "data.init_train_fraction": INIT_FRACTION,
            "data.max_pool": n, "metrics.eval_every_s": every,
            "metrics.counterfactual": "false", "metrics.baseline": "false",
            # a million contributions take decades of simulated time: past the default guard
            "scenario.max_duration_s": 4 * n * SECONDS_PER_CONTRIBUTION}
    out = []
    for k, v in sets.items():
        out += ["--set", f"{k}={v}"]
    return out


def run(n: int, out: Path) -> dict[str, Any]:
    """One fresh `sumsim run` of ``n`` contributions: wall, CPU, peak RSS, summary."""
    # One process: the sidecar (which the larger runs would start) would add its start-up CPU
    # to the per-contribution cost of the smallest run only.
    cmd = [sys.executable, "-m", "sumsim", "run", "--one-process", "--out", str(out), "-q",
           *overrides(n)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # A child per size, so that ru_maxrss is this run's own peak (the maximum over children
    # would keep the largest run's): the grandchild reports through its parent's exit.
    probe = (
        "import resource, subprocess, sys\n"
        f"subprocess.run({cmd!r}, check=True)\n"
        "r = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(r.ru_maxrss * 1024)\n")
    res = subprocess.run([sys.executable, "-c", probe], check=True, stdout=subprocess.PIPE,
                         text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    summary = json.loads((out / "summary.json").read_text())
    return {"n": n, "wall": wall, "cpu": cpu, "rss": int(res.stdout.split()[-1]),
            "contributions": summary["contract"]["contributions"],
            "transactions": summary["transactions"]["count"], "days": summary["days"]}


def figure(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["contributions"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.loglog(n, [r["wall"] for r in rows], "o-", label="wall time (s)")
    ax.loglog(n, [r["cpu"] for r in rows], "s-", label="CPU time (s)")
    ax.loglog(n, [r["rss"] / 2**20 for r in rows], "^-", label="peak memory (MiB)")
    lo, hi = n[0], n[-1]
    base = rows[0]["cpu"]
    ax.loglog([lo, hi], [base, base * hi / lo], ":", color="grey", label="linear in n")
    ax.set_xlabel("contributions")
    ax.set_title("sumsim run, synthetic DRT")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--record", action="store_true")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory(prefix="sumsim-scale-") as tmp:
        for n in sizes:
            r = run(n, Path(tmp) / str(n))
            rows.append(r)
            print(f"{n:>9,}: wall {r['wall']:.1f} s, CPU {r['cpu']:.1f} s, "
                  f"peak {r['rss'] / 2**20:.0f} MiB", file=sys.stderr)
    load_after = os.getloadavg()
    first = rows[0]
    lines = [
        f"## {TITLE}", "",
        f"- Date: {stamp()}",
        "- Command: `python benchmarks/bench_scale.py --record`",
        f"- Machine: {machine()}",
        "- Load average (1/5/15 min) at start -> end: "
        + "/".join(f"{v:.2f}" for v in load_before) + " -> "
        + "/".join(f"{v:.2f}" for v in load_after),
        "- Each run: the quickstart with a pool of n samples (synthetic, 1,000 features, "
        f"~{MEAN_WORDS} words a sample), `sumsim run --one-process` in a fresh process with "
        "every output "
        f"written, no counterfactual or baseline, ~{EVALUATIONS} accuracy evaluations on 2,000 "
        "test samples",
        "",
        "| contributions | transactions | simulated days | wall | CPU | CPU per contribution "
        "| vs smallest | peak memory |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        per = r["cpu"] / r["contributions"]
        rel = per / (first["cpu"] / first["contributions"])
        lines.append(f"| {r['contributions']:,} | {r['transactions']:,} | {r['days']:,.0f} | "
                     f"{r['wall']:.1f} s | {r['cpu']:.1f} s | {per * 1e6:.0f} us | "
                     f"{rel:.2f}x | {r['rss'] / 2**20:,.0f} MiB |")
    lines += ["", "![scale](scale.png) (log-log: wall, CPU and peak memory against "
              "contributions)", ""]
    text = "\n".join(lines)
    print(text)
    if len(rows) > 1:
        figure(rows, FIGURE)
    if args.record:
        record(TITLE, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
