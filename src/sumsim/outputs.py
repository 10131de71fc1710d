"""One folder per run: resolved scenario, Parquet tables, summary and figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sumsim.engine import RunResult
from sumsim.io import write_json, write_parquet, write_text
from sumsim.results.summary import summary
from sumsim.results.tables import contributions_frame, transactions_frame
from sumsim.scenario.loader import dump_scenario

FILES = ("scenario.toml", "timeseries.parquet", "transactions.parquet",
         "contributions.parquet", "summary.json", "figure.png")


def write_run(res: RunResult, out: Path, *, figure: bool = True) -> dict[str, Any]:
    """Write every output of ``res`` into ``out`` (atomically, file by file)."""
    out.mkdir(parents=True, exist_ok=True)
    resolved = res.scenario.model_copy(deep=True)
    resolved.scenario.seed = res.seed
    write_text(out / "scenario.toml", dump_scenario(resolved))
    write_parquet(out / "timeseries.parquet", res.recorder.frame())
    write_parquet(out / "transactions.parquet", transactions_frame(res.chain))
    write_parquet(out / "contributions.parquet", contributions_frame(res))
    summ = summary(res)
    write_json(out / "summary.json", summ)
    if figure and res.scenario.metrics.figure:
        from sumsim.report import run_figure

        run_figure(res, out / "figure.png")
    return summ
