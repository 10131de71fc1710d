"""Figures (matplotlib, headless) for single runs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sumsim.io import atomic_write  # noqa: E402

if TYPE_CHECKING:
    from sumsim.engine import RunResult


def run_figure(res: RunResult, path: Path) -> None:
    """Balances as % of start and test accuracy over days, with the all-data baseline."""
    rows = res.recorder.rows
    days = [r["day"] for r in rows]
    fig, (ax_b, ax_a) = plt.subplots(2, 1, figsize=(8, 6.5), sharex=True,
                                     gridspec_kw={"height_ratios": [3, 2]})
    for a in res.agents:
        start = a.initial_balance
        if not start:
            continue
        pct = [100.0 * r[f"balance_wei:{a.name}"] / start for r in rows]
        style = "--" if a.is_attacker else "-"
        ax_b.plot(days, pct, style, lw=1.8, label=f"{a.name} ({a.config.kind})")
    ax_b.axhline(100, color="0.6", lw=0.8)
    ax_b.set_ylabel("balance (% of start)")
    ax_b.legend(loc="best", fontsize=9)
    ax_b.grid(alpha=0.3)
    sc = res.scenario
    ax_b.set_title(f"{sc.scenario.name} — {sc.model.kind}, {sc.incentive.kind}, "
                   f"seed {res.seed}", fontsize=11)

    ax_a.plot(days, [100 * r["accuracy"] for r in rows], color="tab:green", lw=1.8,
              label="test accuracy")
    if res.baseline_accuracy is not None:
        ax_a.axhline(100 * res.baseline_accuracy, color="tab:green", ls=":", lw=1.2,
                     label=f"all-data baseline ({100 * res.baseline_accuracy:.1f}%)")
    if res.counterfactual is not None:
        cf = res.counterfactual.recorder.rows
        ax_a.plot([r["day"] for r in cf], [100 * r["accuracy"] for r in cf], color="0.5",
                  lw=1.0, label="without attackers")
    ax_a.set_ylabel("accuracy (%)")
    ax_a.set_xlabel("time (days)")
    ax_a.legend(loc="lower right", fontsize=9)
    ax_a.grid(alpha=0.3)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png",
                                             metadata={"Software": None}))
    plt.close(fig)
