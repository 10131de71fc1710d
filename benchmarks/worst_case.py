"""The worst case: for each mechanism (and DRT with each defense) and each attacker budget,
search the attacker's strategy and options for the most accuracy damage; then read off the
cheapest attack reaching 5, 10 and 20 points and whether damage stays bounded by the budget.

Used by ``benchmarks/study.py`` (section "The worst case"); runnable alone::

    python benchmarks/worst_case.py [--trials N] [--seeds K] [--workers W] [--imdb PATH]

Every search runs into ``benchmarks/study/out/worst/<setting>-<budget>/`` and resumes there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from sumsim.scenario.loader import read_toml
from sumsim.searches import SearchFile, make_search, run_search

HERE = Path(__file__).resolve().parent
WORST = HERE / "study" / "worst"
OUT = HERE / "study" / "out" / "worst"
DAMAGE = "counterfactual.accuracy_damage_time_avg"
SPEND = "attacker_spend_eth"
PROFIT = "groups.attacker.profit_eth"

#: (label, slug, fixed overrides): the mechanisms, and DRT with each defense.
SETTINGS: list[tuple[str, str, dict[str, Any]]] = [
    ("DRT", "drt", {}),
    ("DRT + confidence threshold (0.3, reject)", "drt-threshold",
     {"defenses": [{"kind": "confidence_threshold", "threshold": 0.3, "action": "reject"}]}),
    ("DRT + review queue (30% sampled, 2 reviewers)", "drt-review",
     {"defenses": [{"kind": "review_queue", "capacity": 2, "sample_share": 0.3,
                    "accuracy": 0.95, "cost_per_review": "0.5"}]}),
    ("DRT + duplicate filter (radius 4)", "drt-duplicates",
     {"defenses": [{"kind": "duplicate_filter", "radius": 4, "window": 2000}]}),
    ("DRT + rate limit (1 per hour per address)", "drt-rate-limit",
     {"defenses": [{"kind": "rate_limit", "max_contributions": 1, "window_s": 3600}]}),
    ("prediction market", "market",
     {"incentive": {"kind": "prediction_market", "bounty": 1000, "min_stake": 1,
                    "participation_s": 1_209_600, "any_address_claim_wait_s": 604_800}}),
    ("points (no money)", "points", {"incentive": {"kind": "points"}}),
]
BUDGETS = (10, 1000)
LEVELS = (0.05, 0.10, 0.20)


def space(reputation: bool) -> dict[str, Any]:
    """The attacker's strategy and options.  ``reputation``: the mechanism counts good data
    (DRT), so reputation-based strategies may use it."""
    kinds = ["label_flip", "boundary", "near_duplicate", "deposit_timing", "sleeper",
             "takeover", "griefing"]
    sp: dict[str, Any] = {
        "agents[1].kind": {"choices": kinds},
        "agents[1].interval_s.mean": {"low": 120, "high": 14_400, "log": True},
        "agents[1].max_deposit": {"low": 5, "high": 200, "log": True},
        "agents[1].target_class": {"choices": [0, 1],
                                   "when": {"agents[1].kind": "label_flip"}},
        "agents[1].candidates": {"low": 50, "high": 800, "int": True,
                                 "when": {"agents[1].kind": "boundary"}},
        "agents[1].mislabel": {"choices": [True, False],
                               "when": {"agents[1].kind": "near_duplicate"}},
        "agents[1].target_deposit": {"low": 0.5, "high": 30, "log": True,
                                     "when": {"agents[1].kind": "deposit_timing"}},
        "agents[1].wake_s": {"low": 86_400, "high": 10 * 86_400, "log": True,
                             "when": {"agents[1].kind": "sleeper"}},
        "agents[1].mode": {"choices": ["flip", "report", "both"],
                           "when": {"agents[1].kind": "sleeper"}},
        "agents[1].min_damage_per_eth": {"low": 0.001, "high": 1.0, "log": True,
                                         "when": {"agents[1].kind": "takeover"}},
        "agents[1].push_adds": {"low": 0, "high": 3, "int": True,
                                "when": {"agents[1].kind": "griefing"}},
    }
    if not reputation:
        sp["agents[1].min_num_valid"] = {"choices": [0], "when": {"agents[1].kind": "griefing"}}
    return sp


def run_one(label: str, slug: str, fixed: dict[str, Any], budget: int, *, base: Path,
            trials: int, seeds: int, workers: int, data_path: str | None,
            suffix: str = "", validate_only: bool = False) -> pl.DataFrame:
    base_data = read_toml(base)
    reputation = fixed.get("incentive", {}).get("kind", "deposit_refund_take") == \
        "deposit_refund_take"
    overrides = {k: v for k, v in fixed.items()}
    overrides["agents[1].budget"] = budget
    spec = SearchFile.model_validate({
        # (the base as named relative to its folder: the folder's stamp must not depend on
        # where the repository is checked out)
        "search": {"name": f"worst-{slug}{suffix}-{budget}", "base": base.name,
                   "seeds": seeds, "seed": 7, "trials": trials,
                   "record": [SPEND, PROFIT, "accuracy.min"]},
        "overrides": overrides,
        "objectives": [{"metric": DAMAGE, "direction": "maximize"}],
        "space": space(reputation),
    })
    search = make_search(spec, base_data, base.parent, f"{label} at {budget} ETH")
    out = OUT / f"{slug}{suffix}-{budget}"
    start = time.perf_counter()
    if validate_only:
        return pl.DataFrame()
    res = run_search(search, out, executor="process", workers=workers, data_path=data_path)
    print(f"worst case {slug}{suffix} {budget} ETH: {res.trials.height} trials in "
          f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    return res.trials.with_columns(pl.lit(label).alias("setting"),
                                   pl.lit(budget).alias("budget"))


def run_all(trials: int, seeds: int, workers: int, imdb: Path | None,
            imdb_trials: int) -> pl.DataFrame:
    frames = []
    for label, slug, fixed in SETTINGS:
        for b in BUDGETS:
            frames.append(run_one(label, slug, fixed, b, base=WORST / "base-synthetic.toml",
                                  trials=trials, seeds=seeds, workers=workers, data_path=None))
    if imdb is not None and imdb.is_file():
        frames.append(run_one("DRT on IMDB", "drt", {}, 1000, base=WORST / "base-imdb.toml",
                              trials=imdb_trials, seeds=seeds, workers=workers,
                              data_path=str(imdb), suffix="-imdb"))
    return pl.concat(frames, how="diagonal_relaxed")


def _fmt_params(row: dict[str, Any]) -> str:
    out = []
    for k, v in row.items():
        if not k.startswith("param:agents[1].") or v is None:
            continue
        name = k.removeprefix("param:agents[1].")
        if isinstance(v, float):
            v = f"{v:.3g}"
        out.append(f"{name}={v}")
    return ", ".join(out)


def section(df: pl.DataFrame, seeds: int) -> str:
    """The study section, every statement computed from ``df`` (all trials of all searches)."""
    ok = df.filter(pl.col("state") == "COMPLETE")
    lines = [
        "## 0. The worst case: what does a finite budget bound?", "",
        f"For each setting and attacker budget, an Optuna search (TPE) chose the attacker's "
        f"strategy among seven (label flipping, boundary poisoning, near-duplicates, "
        f"deposit timing, sleeper, takeover, griefing), its rate, price tolerance and "
        f"strategy options, maximising the time-averaged accuracy damage against the same "
        f"seeds without the attacker.  Every candidate ran on the same {seeds} paired seeds; "
        "values are means with 95% intervals.  Synthetic data (1,500 training samples) unless "
        f"stated.  Each search tried {df.group_by('setting', 'budget').len()['len'].max()} "
        "candidates: the most damage found is a lower bound on the worst case (a longer "
        "search, or one seeded otherwise, can find a worse attack).", "",
        "| setting | budget ETH | most damage (points) | by | attacker net spend ETH | "
        "attacker profit ETH |", "|---|---:|---:|---|---:|---:|"]
    best_rows = []
    for (setting, budget), part in ok.group_by(["setting", "budget"], maintain_order=True):
        top = part.sort(f"mean:{DAMAGE}", descending=True).row(0, named=True)
        best_rows.append(top)
        lines.append(
            f"| {setting} | {budget} | {100 * top[f'mean:{DAMAGE}']:.1f} ± "
            f"{100 * (top[f'ci:{DAMAGE}'] or 0):.1f} | {top['param:agents[1].kind']} "
            f"({_fmt_params(top)}) | {top.get(f'mean:{SPEND}') or 0:.1f} | "
            f"{top.get(f'mean:{PROFIT}') or 0:+.1f} |")
    lines += ["", "Cheapest attack found reaching each level of damage (over every trial of "
              "every budget):", "", "| setting | 5 points | 10 points | 20 points |",
              "|---|---|---|---|"]
    for setting in ok["setting"].unique(maintain_order=True).to_list():
        part = ok.filter(pl.col("setting") == setting)
        cells = []
        for level in LEVELS:
            reach = part.filter(pl.col(f"mean:{DAMAGE}") >= level)
            if not reach.height:
                cells.append("not reached")
                continue
            c = reach.sort(f"mean:{SPEND}").row(0, named=True)
            cells.append(f"{c[f'mean:{SPEND}']:.1f} ETH ({c['param:agents[1].kind']})")
        lines.append(f"| {setting} | " + " | ".join(cells) + " |")
    lines += [""]
    # bounded by the budget?  Compare the most damage at the smallest and largest budget.
    statements = []
    for setting in ok["setting"].unique(maintain_order=True).to_list():
        rows = sorted((r for r in best_rows if r["setting"] == setting),
                      key=lambda r: r["budget"])
        if len(rows) < 2:
            continue
        lo, hi = rows[0], rows[-1]
        d_lo, d_hi = 100 * lo[f"mean:{DAMAGE}"], 100 * hi[f"mean:{DAMAGE}"]
        spent = lo.get(f"mean:{SPEND}") or 0.0
        if d_lo >= 5:
            statements.append(
                f"- **{setting}: damage is not bounded by the budget.** With only "
                f"{lo['budget']} ETH the best attack found ({lo['param:agents[1].kind']}) "
                f"removes {d_lo:.1f} points of time-averaged accuracy for a net spend of "
                f"{spent:.1f} ETH; {hi['budget']} ETH buys {d_hi:.1f} points.")
        else:
            statements.append(
                f"- {setting}: damage grows with the budget, from {d_lo:.1f} points at "
                f"{lo['budget']} ETH to {d_hi:.1f} points at {hi['budget']} ETH.")
    drt = [r for r in best_rows if r["setting"] == "DRT"]
    if drt:
        worst = max(drt, key=lambda r: r[f"mean:{DAMAGE}"])
        net = worst.get(f"mean:{SPEND}") or 0.0
        profit = worst.get(f"mean:{PROFIT}") or 0.0
        cost = (f"{net:.1f} ETH net ({100 * worst[f'mean:{DAMAGE}'] / net:.2f} points per ETH)"
                if net >= 0.05 else "no net cost")
        statements.append(
            f"- Where DRT's guarantee fails: DRT makes a *wrong* contribution cost its deposit "
            f"only if the model still disagrees with it when someone reports it.  The worst "
            f"attack found against plain DRT ({worst['param:agents[1].kind']}, "
            f"{_fmt_params(worst)}) removes {100 * worst[f'mean:{DAMAGE}']:.1f} points for "
            f"{cost}" + (f"; the attacker ends {profit:+.1f} ETH in profit" if profit > 0
                         else "") + ".")
    lines += statements + [""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--imdb-trials", type=int, default=8)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--imdb", type=Path, default=None)
    args = p.parse_args(argv)
    df = run_all(args.trials, args.seeds, args.workers, args.imdb, args.imdb_trials)
    print(section(df, args.seeds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

