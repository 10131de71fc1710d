"""The study: worst-case searches and five paired sweeps on synthetic data (and IMDB when the
archive is present) that answer the questions of the SUM debate with numbers and figures.

Usage::

    python benchmarks/study.py [--workers N] [--imdb PATH] [--skip-run] [--worst-trials N]

Runs every sweep in ``benchmarks/study/*.toml`` into ``benchmarks/study/out/<name>/`` (resuming
what is already there), draws the figures and regenerates ``benchmarks/STUDY.md``.  Every number
in that file is computed here from the sweep tables.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import worst_case
from _results import ARCHIVE, machine, stamp

from sumsim.report import aggregate, sweep_figures
from sumsim.sweeps import load_sweep, run_sweep

HERE = Path(__file__).resolve().parent
STUDY = HERE / "study"
OUT = STUDY / "out"
DOC = HERE / "STUDY.md"


def run(name: str, workers: int, skip: bool, data_path: str | None = None) -> pl.DataFrame:
    sweep = load_sweep(STUDY / f"{name}.toml")
    out = OUT / sweep.spec.sweep.name
    if skip and (out / "results.parquet").exists():
        return pl.read_parquet(out / "results.parquet")
    start = time.perf_counter()
    df = run_sweep(sweep, out, executor="process", workers=workers, retry_failed=True,
                   progress=sys.stderr.isatty(), data_path=data_path)
    print(f"{name}: {len(df)} runs in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return df


def fig(df: pl.DataFrame, name: str, metrics: list[str]) -> list[str]:
    out = OUT / name / "figures"
    paths = sweep_figures(df, out, metrics)
    return [str(p.relative_to(HERE)) for p in paths]


def table(df: pl.DataFrame, params: list[str], metrics: dict[str, str], digits: int = 3) -> str:
    """Markdown: one row per parameter combination, mean ± 95% CI of each metric."""
    cols = [f"param:{p}" for p in params]
    aggs = {label: aggregate(df, cols, m) for label, m in metrics.items() if m in df.columns}
    first = next(iter(aggs.values()))
    head = "| " + " | ".join(params + list(aggs)) + " |"
    sep = "|" + "---|" * (len(params) + len(aggs))
    lines = [head, sep]
    for i in range(len(first)):
        cells = [str(first[c][i]) for c in cols]
        for a in aggs.values():
            m, h = a["mean"][i], a["ci"][i]
            cells.append(f"{m:.{digits}f} ± {h:.{digits}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def means(df: pl.DataFrame, params: list[str], metric: str) -> dict[Any, float]:
    """Mean of ``metric`` per parameter value (a tuple key when there are several params)."""
    agg = aggregate(df, [f"param:{p}" for p in params], metric)
    keys = list(zip(*(agg[f"param:{p}"].to_list() for p in params), strict=True))
    return {k if len(params) > 1 else k[0]: m for k, m in zip(keys, agg["mean"], strict=True)}


def images(paths: list[str], keep: tuple[str, ...]) -> str:
    return "\n".join(f"![{Path(p).stem}]({p})" for p in paths if any(k in p for k in keep))


# -- sections ---------------------------------------------------------------------------------
def section_budget(flip: pl.DataFrame, boundary: pl.DataFrame, imdb: pl.DataFrame | None) -> str:
    out = ["## 1. Attacker budget and rate: where does a finite budget stop mattering?", ""]
    for label, df, who, name in (("Label flipping", flip, "flipper", "flip-budget-rate"),
                                 ("Boundary poisoning", boundary, "poisoner",
                                  "boundary-budget-rate")):
        b, r = "agents[1].budget", "agents[1].interval_s.mean"
        spend = means(df, [b, r], "attacker_spend_eth")
        dmg = means(df, [b, r], "counterfactual.accuracy_damage_time_avg")
        amin = means(df, [b, r], "accuracy.min")
        rates = sorted({k[1] for k in spend})
        budgets = sorted({k[0] for k in spend})
        lines = []
        for rate in rates:
            most = max(spend[(bb, rate)] for bb in budgets)
            binding = [bb for bb in budgets if spend[(bb, rate)] >= 0.9 * bb]
            top = max(budgets)
            if binding:
                shown = ", ".join(f"{bb:g}" for bb in binding)
                binds = (f"the budget binds (the attacker spends at least 90% of it) at "
                         f"{shown} ETH and at no other budget of the sweep; beyond "
                         f"{max(binding):g} ETH the attacker cannot spend more at this rate "
                         "before the pool runs out, so more budget changes nothing")
            else:
                binds = ("no budget binds: the attacker never spends 90% of even the smallest "
                         "budget, because it drags the model until the model agrees with its "
                         "labels, after which its deposits come back as refunds")
            lines.append(
                f"- One attack every {rate:.0f} s: spend saturates at {most:.0f} ETH; {binds}. "
                f"Accuracy damage (time-averaged, vs the same seed without the attacker) goes "
                f"from {100 * dmg[(min(budgets), rate)]:.1f} points at {min(budgets)} ETH to "
                f"{100 * dmg[(top, rate)]:.1f} points at {top} ETH; minimum accuracy from "
                f"{amin[(min(budgets), rate)]:.3f} to {amin[(top, rate)]:.3f}.")
        out += [f"### {label}", "", *lines, "",
                table(df, [b, r], {"acc time-avg": "accuracy.time_avg", "acc min": "accuracy.min",
                                   "damage (pts/100)": "counterfactual.accuracy_damage_time_avg",
                                   "attacker spend ETH": "attacker_spend_eth",
                                   f"{who} profit ETH": f"groups.{who}.profit_eth"}),
                "", images(fig(df, name, ["accuracy.time_avg", "accuracy.min",
                                          "attacker_spend_eth",
                                          "counterfactual.accuracy_damage_time_avg"]),
                           ("time_avg_vs", "min_vs", "spend_eth_vs")), ""]
    f = means(flip, ["agents[1].budget", "agents[1].interval_s.mean"],
              "counterfactual.attacker_spend_eth_per_point_lost")
    g = means(boundary, ["agents[1].budget", "agents[1].interval_s.mean"],
              "counterfactual.attacker_spend_eth_per_point_lost")
    common = [k for k in f if k in g and f[k] == f[k] and g[k] == g[k]]
    cheaper = sum(g[k] < f[k] for k in common)
    small = min(k[0] for k in g)
    fast = min(k[1] for k in g)
    bdmg = means(boundary, ["agents[1].budget", "agents[1].interval_s.mean"],
                 "counterfactual.accuracy_damage_time_avg")
    out += [f"Cost per point of accuracy lost: boundary poisoning was cheaper than label "
            f"flipping in {cheaper} of {len(common)} (budget, rate) cells (medians "
            f"{pl.Series(list(g.values())).median():.1f} vs "
            f"{pl.Series(list(f.values())).median():.1f} ETH per point).  Its samples are "
            "the ones the model is least sure of, so after an update the model tends to agree "
            "with the wrong label and the deposit comes back as a refund: the budget limits "
            "the attacker's *net* spend, not how many contributions it can make.  That is why "
            f"even a {small}-ETH boundary poisoner attacking every {fast:.0f} s removes "
            f"{100 * bdmg[(small, fast)]:.1f} points of time-averaged accuracy.", ""]
    if imdb is not None:
        out += ["### On IMDB (paper workload)", "",
                table(imdb, ["agents[1].budget"], {
                    "acc time-avg": "accuracy.time_avg", "acc min": "accuracy.min",
                    "damage": "counterfactual.accuracy_damage_time_avg",
                    "attacker spend ETH": "attacker_spend_eth",
                    "honest % of start": "groups.good.final_pct_of_start"}), ""]
    return "\n".join(out)


def section_threshold(df: pl.DataFrame) -> str:
    t = "defenses[0].threshold"
    fp = means(df, [t], "defenses.confidence_threshold.honest_false_positive_rate")
    avg = means(df, [t], "accuracy.time_avg")
    amin = means(df, [t], "accuracy.min")
    base = min(avg)
    best = max(avg, key=lambda k: avg[k])
    lines = [
        "## 2. The confidence-threshold trade-off", "",
        "Boundary poisoning (1,000 ETH, one attack an hour) against a confidence threshold that "
        "rejects contributions whose label the model gives less than the threshold.", "",
        f"- Without a threshold the time-averaged accuracy is {avg[base]:.3f} (min "
        f"{amin[base]:.3f}). The best threshold here is {best} ({avg[best]:.3f}, min "
        f"{amin[best]:.3f}), turning away {100 * fp[best]:.1f}% of honest contributions.",
        f"- At the highest threshold ({max(avg)}) {100 * fp[max(avg)]:.1f}% of honest "
        f"contributions are rejected and accuracy averages {avg[max(avg)]:.3f} (min "
        f"{amin[max(avg)]:.3f}).",
        "- Why a threshold does not protect against this attacker: the boundary poisoner picks "
        "samples the model is unsure of, so its wrong labels get a confidence near 0.5 and pass "
        "any threshold below that, while the honest corrections the model most needs (the "
        "samples it gets wrong) are exactly the low-confidence ones it rejects.", "",
        table(df, [t], {"honest false-rejection rate":
                        "defenses.confidence_threshold.honest_false_positive_rate",
                        "acc time-avg": "accuracy.time_avg", "acc min": "accuracy.min",
                        "attacker profit ETH": "groups.poisoner.profit_eth",
                        "honest profit ETH": "groups.good.profit_eth"}), "",
        images(fig(df, "threshold", ["accuracy.time_avg", "accuracy.min",
                                     "defenses.confidence_threshold.honest_false_positive_rate"]),
               ("time_avg", "min", "false_positive")), ""]
    return "\n".join(lines)


def section_review(df: pl.DataFrame) -> str:
    c, s = "defenses[1].capacity", "defenses[1].service_s.mean"
    avg = means(df, [c, s], "accuracy.time_avg")
    cost = means(df, [c, s], "defenses.review_queue.cost_eth")
    wait = means(df, [c, s], "defenses.review_queue.wait_mean_s")
    lo, hi = min(avg, key=lambda k: (k[1], k[0])), max(avg, key=lambda k: (-k[1], k[0]))
    lines = [
        "## 3. Review-queue capacity", "",
        "Boundary poisoning with doubtful contributions (confidence < 0.4) sent to human review; "
        "reviewers are 95% accurate and cost 0.5 ETH per review.", "",
        f"- Capacity {lo[0]} with {lo[1]:.0f} s reviews: accuracy {avg[lo]:.3f}, mean wait "
        f"{wait[lo] / 3600:.1f} h, review cost {cost[lo]:.0f} ETH.",
        f"- Capacity {hi[0]} with {hi[1]:.0f} s reviews: accuracy {avg[hi]:.3f}, mean wait "
        f"{wait[hi] / 3600:.1f} h, review cost {cost[hi]:.0f} ETH.",
        "- Review cost is set by how many contributions are flagged, not by capacity; capacity "
        "buys shorter waits, i.e. earlier training on approved data.", "",
        table(df, [c, s], {"acc time-avg": "accuracy.time_avg", "acc min": "accuracy.min",
                           "review cost ETH": "defenses.review_queue.cost_eth",
                           "mean wait s": "defenses.review_queue.wait_mean_s",
                           "attacker profit ETH": "groups.poisoner.profit_eth"}, 2), "",
        images(fig(df, "review-capacity", ["accuracy.time_avg",
                                           "defenses.review_queue.wait_mean_s"]),
               ("time_avg_vs", "wait_mean_s_vs")), ""]
    return "\n".join(lines)


def section_conformity(df: pl.DataFrame) -> str:
    f, k = "data.init_train_fraction", "agents[0].conformity"
    df = df.with_columns((pl.col("accuracy.final") - pl.col("accuracy.initial"))
                         .alias("accuracy.gain"))
    gain = means(df, [f, k], "accuracy.gain")
    defeating = sorted(key for key, v in gain.items() if v <= 0)
    lines = [
        "## 4. Under-trained models and conforming contributors", "",
        "Two honest contributors; one relabels a sample to the model's prediction with "
        "probability *conformity* whenever they disagree (to get its deposit back). "
        "`accuracy.gain` is final minus initial test accuracy.", "",
        f"- The model fails to improve (gain <= 0) at {len(defeating)} of {len(gain)} "
        f"(initial fraction, conformity) cells: "
        + (", ".join(f"({a}, {b})" for a, b in defeating) if defeating else "none") + ".",
        "- With no conformity the gain is "
        + ", ".join(f"{gain[(a, 0.0)]:+.3f} at {a}" for a in sorted({a for a, _ in gain}))
        + "; with full conformity "
        + ", ".join(f"{gain[(a, 1.0)]:+.3f}" for a in sorted({a for a, _ in gain})) + ".",
        "",
        table(df, [f, k], {"acc initial": "accuracy.initial", "acc final": "accuracy.final",
                           "gain": "accuracy.gain",
                           "conformist profit ETH": "groups.conformist.profit_eth",
                           "careful profit ETH": "groups.careful.profit_eth"}), "",
        images(fig(df, "init-conformity", ["accuracy.gain", "groups.conformist.profit_eth"]),
               ("heatmap",)), ""]
    return "\n".join(lines)


def section_refund(df: pl.DataFrame) -> str:
    r = "incentive.refund_wait_s"
    honest = means(df, [r], "groups.good.profit_eth")
    dmg = means(df, [r], "counterfactual.accuracy_damage_time_avg")
    flip = means(df, [r], "groups.flipper.profit_eth")
    lines = [
        "## 5. Refund window length", "",
        "Label flipping (1,000 ETH, ~one an hour) under DRT with refund waits from 1 hour to "
        "7 days (the any-address wait stays 9 days).", "",
        *[f"- t_r = {w / 3600:.0f} h: honest profit {honest[w]:+.0f} ETH, flipper "
          f"{flip[w]:+.0f} ETH, accuracy damage {100 * dmg[w]:.1f} points."
          for w in sorted(honest)],
        "",
        table(df, [r], {"honest profit ETH": "groups.good.profit_eth",
                        "flipper profit ETH": "groups.flipper.profit_eth",
                        "damage": "counterfactual.accuracy_damage_time_avg",
                        "acc time-avg": "accuracy.time_avg"}), "",
        images(fig(df, "refund-window", ["groups.good.profit_eth",
                                         "counterfactual.accuracy_damage_time_avg"]),
               ("_vs_",)), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--imdb", type=Path, default=Path(os.environ.get("SUMSIM_IMDB", ARCHIVE)))
    p.add_argument("--skip-run", action="store_true", help="only redraw from existing tables")
    p.add_argument("--worst-trials", type=int, default=12, help="trials per worst-case search")
    p.add_argument("--worst-seeds", type=int, default=10, help="paired seeds per candidate")
    p.add_argument("--no-worst", action="store_true", help="leave out the worst-case searches")
    p.add_argument("--worst-imdb", action="store_true",
                   help="also search the worst case on IMDB (slow: the paper workload)")
    args = p.parse_args(argv)
    start = time.perf_counter()
    w, skip = args.workers, args.skip_run
    worst = None
    if not args.no_worst:
        worst = worst_case.run_all(args.worst_trials, args.worst_seeds, w,
                                   args.imdb if args.imdb.is_file() and args.worst_imdb
                                   else None,
                                   max(4, args.worst_trials * 2 // 3))
    flip = run("1-flip-budget-rate", w, skip)
    boundary = run("1-boundary-budget-rate", w, skip)
    imdb = None
    if args.imdb.is_file():
        imdb = run("1-imdb-flip-budget", w, skip, str(args.imdb))
    sections = ([worst_case.section(worst, args.worst_seeds)] if worst is not None else []) + [
        section_budget(flip, boundary, imdb),
        section_threshold(run("2-threshold", w, skip)),
        section_review(run("3-review-capacity", w, skip)),
        section_conformity(run("4-init-conformity", w, skip)),
        section_refund(run("5-refund-window", w, skip)),
    ]
    took = "figures and text redrawn from the existing tables" if skip else \
        f"{time.perf_counter() - start:.0f} s"
    head = [
        "# sumsim study: attacks, defenses and incentives in numbers", "",
        f"Generated by `python benchmarks/study.py` on {stamp()} ({machine()}); "
        f"{took}. Sweep definitions: `benchmarks/study/*.toml`; "
        "tables and figures: `benchmarks/study/out/`. Synthetic data unless stated; every "
        "value is a mean over 10 paired seeds (every point of a sweep, every candidate of a "
        "search, runs on the same replicate seeds) with a 95% Student-t interval.", ""]
    DOC.write_text("\n".join(head + sections), encoding="utf-8")
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
