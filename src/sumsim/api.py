"""The public Python API: load a scenario, run it, sweep it.

Everything here is re-exported at the top of the package::

    import sumsim

    sc = sumsim.load("quickstart", overrides={"agents[1].balance": 500})
    sc.agents[1].balance = 800          # ether, converted to wei exactly (validated)
    res = sumsim.run(sc, seed=7)
    res.summary["accuracy"]["time_avg"]
    res.timeseries                      # polars DataFrame; money columns exact wei
    res.write("runs/qs7")
    table = sumsim.sweep("quickstart", grid={"agents[1].budget": [100, 1000]}, seeds=3)

A scenario is validated on load and on every assignment; amounts read back are integer wei.
"""

from __future__ import annotations

import copy
import tempfile
import tomllib
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

import sumsim.engine as engine
from sumsim.errors import InputError
from sumsim.results.summary import flatten, summary, with_eth
from sumsim.results.tables import contributions_frame, transactions_frame
from sumsim.scenario.loader import (
    BUNDLED,
    apply_overrides,
    bundled_text,
    check_depth,
    parse_scenario,
    read_toml,
)
from sumsim.scenario.schema import ScenarioBase

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: A validated scenario (the class is built from the installed plug-ins; see
#: :func:`sumsim.scenario.schema.scenario_model`).
Scenario = ScenarioBase

ScenarioLike = ScenarioBase | str | Path | Mapping[str, Any] | None


def _source_data(source: ScenarioLike) -> tuple[dict[str, Any], str, Path | None]:
    """(TOML data, a name for messages, folder relative paths are read from)."""
    if isinstance(source, ScenarioBase):
        return source.model_dump(mode="json", exclude_none=True), "<scenario>", \
            source._base_dir
    if isinstance(source, Mapping):
        check_depth(dict(source), "<dict>")
        return copy.deepcopy(dict(source)), "<dict>", None
    if source is None or str(source).removesuffix(".toml") in BUNDLED and \
            not Path(str(source)).is_file():
        # a folder named like a bundled scenario (a run's output, say) does not shadow it
        name = "quickstart" if source is None else str(source).removesuffix(".toml")
        return tomllib.loads(bundled_text(name)), f"<bundled {name}.toml>", None
    path = Path(source)
    return read_toml(path), str(path), path.parent


def load(source: ScenarioLike = None, *,
         overrides: Mapping[str, Any] | None = None) -> ScenarioBase:
    """A validated scenario from a TOML file, a bundled scenario name (``"quickstart"``), a
    dict written like a TOML file, or another scenario (copied); ``None`` is the quickstart.

    ``overrides`` set dotted paths (``{"agents[1].balance": 500, "model.kind":
    "naive_bayes"}``) before validation, exactly like ``sumsim run --set``.  Raises
    :class:`sumsim.errors.InputError` naming the file and field on bad input.
    """
    data, name, base_dir = _source_data(source)
    if overrides:
        data = apply_overrides(data, dict(overrides))
    sc = parse_scenario(data, name)
    sc._base_dir = base_dir
    return sc


class Result:
    """A finished run: tables as polars DataFrames, the summary, outputs and the figure.

    Money columns are exact wei (``Decimal(38, 0)``); ``*_eth`` floats sit beside them where
    plotting needs them.  ``raw`` is the engine's :class:`~sumsim.engine.RunResult` (the chain,
    the contract, the agents) for inspection.
    """

    def __init__(self, raw: engine.RunResult):
        self.raw = raw

    @property
    def scenario(self) -> ScenarioBase:
        return self.raw.scenario

    @property
    def seed(self) -> int:
        return self.raw.seed

    @cached_property
    def timeseries(self) -> pl.DataFrame:
        """Time, accuracy, every wallet, contract balance, gas and fees, defense columns."""
        return self.raw.recorder.frame()

    @cached_property
    def transactions(self) -> pl.DataFrame:
        """One row per transaction: block, time, sender, method, status, reason, gas, fee."""
        return transactions_frame(self.raw.chain)

    @cached_property
    def contributions(self) -> pl.DataFrame:
        """One row per contribution: author, labels, deposit, outcome and every claim."""
        return contributions_frame(self.raw)

    @cached_property
    def summary(self) -> dict[str, Any]:
        """What summary.json holds (accuracy, per-agent accounts, attackers, defenses, ...)."""
        return summary(self.raw)

    def flat_summary(self) -> dict[str, Any]:
        """The summary as one row of dotted-path scalars, as a sweep's results table has it
        (wei entries exact, each with an ``*_eth`` float twin)."""
        return with_eth(flatten(self.summary))

    @property
    def counterfactual(self) -> Result | None:
        """The same seed with the attackers removed (when the scenario asked for it)."""
        cf = self.raw.counterfactual
        return None if cf is None else Result(cf)

    def write(self, folder: str | Path, *, figure: bool = True, force: bool = False) -> Path:
        """Write every output file into ``folder`` (see the outputs reference), all or
        nothing; a folder that holds something is replaced only with ``force``."""
        from sumsim.outputs import write_run

        out = Path(folder)
        write_run(self.raw, out, figure=figure, force=force)
        return out

    def figure(self, path: str | Path | None = None) -> Figure:
        """The run figure (balances and accuracy over days); saved as PNG when ``path`` is
        given."""
        from sumsim.report import run_figure

        return run_figure(self.raw, Path(path) if path is not None else None)

    def __repr__(self) -> str:
        s = self.summary
        return (f"<Result {s['scenario']} seed={s['seed']}: {s['contract']['contributions']} "
                f"contributions, time-avg accuracy {s['accuracy']['time_avg']:.4f}>")


def run(scenario: ScenarioLike = None, *, seed: int | None = None,
        data_path: str | Path | None = None,
        overrides: Mapping[str, Any] | None = None,
        max_wall_s: float | None = None) -> Result:
    """Run a scenario (anything :func:`load` takes) to completion and return its
    :class:`Result`.  ``seed`` overrides ``scenario.seed``; ``data_path`` points at a dataset
    file or folder (e.g. the IMDB archive).

    A scenario that cannot finish (``scenario.max_duration_s``, ``scenario.max_idle_s``)
    raises :class:`sumsim.errors.RunCannotFinish`; a run longer than ``max_wall_s`` seconds of
    wall-clock time raises :class:`sumsim.errors.WallClockExceeded`."""
    sc = load(scenario, overrides=overrides) if overrides or not isinstance(
        scenario, ScenarioBase) else scenario
    if seed is not None and not 0 <= seed <= 2**63 - 1:
        raise InputError(f"expected an integer from 0 to 2**63 - 1, got {seed}", field="seed")
    raw = engine.run(sc, seed=seed, data_path=None if data_path is None else str(data_path),
                     base_dir=sc._base_dir, max_wall_s=max_wall_s)
    return Result(raw)


def sweep(base: ScenarioLike | None = None, *, grid: Mapping[str, list[Any]] | None = None,
          points: list[Mapping[str, Any]] | None = None, seeds: int = 1, seed: int = 0,
          metrics: list[str] | None = None, out: str | Path | None = None,
          executor: Literal["local", "process", "dask"] = "process",
          workers: int | None = None, scheduler: str | None = None,
          data_path: str | Path | None = None, write_runs: bool = False,
          paired: bool = True, name: str = "sweep",
          max_wall_s: float | None = None) -> pl.DataFrame:
    """Run a sweep and return its results table (one row per run).

    ``base`` is either a sweep file (a ``.toml`` with a ``[sweep]`` table: then the other
    arguments except ``out``/``executor``/``workers``/``scheduler``/``data_path`` must be left
    out) or anything :func:`load` takes, swept over ``grid`` (cartesian product of dotted-path
    values) and/or ``points`` (explicit override sets) times ``seeds`` replicates; with
    ``paired`` (the default) replicate ``r`` of every point uses the same seed, so points differ
    only by their parameters (common random numbers).  ``out``
    keeps the manifest and table (a killed sweep resumes there); default: a temporary folder.
    ``max_wall_s`` bounds each run's wall-clock time (a slower run is recorded as failed).
    """
    from pydantic import ValidationError

    from sumsim.scenario.loader import format_validation_error
    from sumsim.sweeps import SweepFile, load_sweep, make_sweep, run_sweep

    if isinstance(base, str | Path) and Path(base).is_file() and \
            "sweep" in read_toml(Path(base)):
        if grid or points or metrics:
            raise InputError("give either a sweep file or grid/points, not both",
                             source=str(base))
        sw = load_sweep(base)
    else:
        data, name_, base_dir = _source_data(base)
        raw = {"sweep": {"name": name, "base": name_, "seeds": seeds, "seed": seed,
                         "paired": paired, "metrics": list(metrics or []),
                         "write_runs": write_runs},
               "grid": {k: list(v) for k, v in (grid or {}).items()},
               "points": [dict(p) for p in (points or [])]}
        try:
            spec = SweepFile.model_validate(raw)
        except ValidationError as e:
            raise format_validation_error(e, "<sweep>", raw) from None
        sw = make_sweep(spec, data, base_dir or Path.cwd(), "<sweep>", name_)
    dp = None if data_path is None else str(data_path)
    if out is not None:
        return run_sweep(sw, Path(out), executor=executor, workers=workers,
                         scheduler=scheduler, data_path=dp, max_wall_s=max_wall_s)
    with tempfile.TemporaryDirectory(prefix="sumsim-sweep-") as tmp:
        return run_sweep(sw, Path(tmp), executor=executor, workers=workers,
                         scheduler=scheduler, data_path=dp, max_wall_s=max_wall_s)


def search(spec: str | Path | Mapping[str, Any], *, out: str | Path | None = None,
           base: ScenarioLike | None = None, trials: int | None = None,
           max_wall_s: float | None = None,
           executor: Literal["local", "process", "dask"] = "process",
           workers: int | None = None, scheduler: str | None = None,
           data_path: str | Path | None = None) -> Any:
    """Run (or resume) a worst-case search and return its
    :class:`~sumsim.searches.SearchResult` (``trials``, ``pareto``, ``best``, ``best_toml``).

    ``spec`` is a search file or a dict written like one (``{"search": {...},
    "objectives": [...], "space": {...}}``); with a dict, ``base`` may give the base scenario
    as anything :func:`load` takes instead of ``search.base``.  ``out`` keeps the study and
    every finished run (a killed search resumes there); default: ``sumsim-out/NAME``."""
    from pydantic import ValidationError

    from sumsim.scenario.loader import format_validation_error
    from sumsim.searches import SearchFile, load_search, make_search, run_search

    if isinstance(spec, str | Path):
        srch = load_search(spec)
    else:
        raw = dict(spec)
        if base is not None:
            raw = {**raw, "search": {"base": "<python>", **raw.get("search", {})}}
        try:
            parsed = SearchFile.model_validate(raw)
        except ValidationError as e:
            raise format_validation_error(e, "<search>", raw) from None
        data, _, base_dir = _source_data(base if base is not None else parsed.search.base)
        srch = make_search(parsed, data, base_dir or Path.cwd(), "<search>")
    folder = Path(out) if out is not None else Path("sumsim-out") / srch.spec.search.name
    return run_search(srch, folder, executor=executor, workers=workers, scheduler=scheduler,
                      trials=trials, max_wall_s=max_wall_s,
                      data_path=None if data_path is None else str(data_path))


__all__ = ["Result", "Scenario", "load", "run", "search", "sweep"]
