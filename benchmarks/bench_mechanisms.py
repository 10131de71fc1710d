"""DRT vs prediction market vs points under the same label-flipping and boundary attacks.

Usage::

    python benchmarks/bench_mechanisms.py [--workers N] [--record]

Runs the sweeps in ``benchmarks/mechanisms/`` (5 seeds x 2 attacks per mechanism) and prints
a table of means with 95% intervals; ``--record`` writes it into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _results import machine, record, stamp

from sumsim.report import mean_ci
from sumsim.sweeps import load_sweep, run_sweep

HERE = Path(__file__).resolve().parent
TITLE = "Mechanism comparison (synthetic data, 1,000-ether attacker)"
METRICS = {
    "acc time-avg": "accuracy.time_avg",
    "acc final": "accuracy.final",
    "damage (time-avg)": "counterfactual.accuracy_damage_time_avg",
    "attacker profit ETH": "groups.bad.profit_eth",
    "honest profit ETH": "groups.good.profit_eth",
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--record", action="store_true")
    args = p.parse_args(argv)
    start = time.perf_counter()
    rows = []
    for mech in ("drt", "prediction-market", "points"):
        sweep = load_sweep(HERE / "mechanisms" / f"{mech}.toml")
        df = run_sweep(sweep, HERE / "mechanisms" / "out" / mech, workers=args.workers)
        for attack in ("label_flip", "boundary"):
            part = df.filter(df["param:agents[1].kind"] == attack)
            cells = []
            for col in METRICS.values():
                m, h, _ = mean_ci(part[col].to_list())
                cells.append(f"{m:.3f} ± {h:.3f}" if abs(m) < 10 else f"{m:.0f} ± {h:.0f}")
            rows.append(f"| {mech} | {attack} | " + " | ".join(cells) + " |")
    lines = [
        f"## {TITLE}", "",
        f"- Date: {stamp()}; {machine()}; {time.perf_counter() - start:.0f} s",
        "- Command: `python benchmarks/bench_mechanisms.py --record` (sweeps in "
        "`benchmarks/mechanisms/`, scenarios `scenarios/mechanisms-*.toml`, 5 seeds each)",
        "- Damage is the time-averaged accuracy lost against the same seed without the attacker. "
        "In the prediction market the model is frozen during participation (14 days) and "
        "trained on the surviving contributions at the end, so its time-averaged accuracy is "
        "mostly the initial model's; compare final accuracy.", "",
        "| mechanism | attack | " + " | ".join(METRICS) + " |",
        "|---|---|" + "---|" * len(METRICS),
        *rows, ""]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(TITLE, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
