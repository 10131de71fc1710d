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
import math
import numbers
import os
import reprlib
import tempfile
import tomllib
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import polars as pl

import sumsim.engine as engine
from sumsim.data.load import check_data_path
from sumsim.errors import InputError, WorkerDied, WriteError
from sumsim.results.summary import flatten, summary, with_eth
from sumsim.results.tables import contributions_frame, transactions_frame
from sumsim.scenario.loader import (
    BUNDLED,
    apply_overrides,
    bundled_text,
    check_depth,
    explain_kind_switch,
    parse_scenario,
    read_scenario_file,
    read_toml,
)
from sumsim.scenario.schema import ScenarioBase

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sumsim.sweeps import Executor

#: A validated scenario (the class is built from the installed plug-ins; see
#: :func:`sumsim.scenario.schema.scenario_model`).
Scenario = ScenarioBase

ScenarioLike = ScenarioBase | str | os.PathLike[str] | Mapping[str, Any] | None

#: The largest seed (seeds are numpy int64 values, as ``scenario.seed``).
MAX_SEED = 2**63 - 1

_repr = reprlib.Repr()
_repr.maxstring = _repr.maxother = 60


# -- argument checks: bad arguments are InputErrors naming the argument, raised before any
# work is done (a raw TypeError from deep inside, or a silently wrong run, is not) -----------
def _bad(field: str, expected: str, value: object) -> InputError:
    """The one-line error for argument ``field``: what was expected and what was given."""
    return InputError(f"expected {expected}, got {_repr.repr(value)}", field=field)


def _seed(value: object, field: str = "seed") -> int:
    """A seed as ``scenario.seed`` takes it (``True`` and ``1.5`` are not seeds)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or \
            not 0 <= int(value) <= MAX_SEED:
        raise _bad(field, "an integer from 0 to 2**63 - 1", value)
    return int(value)


def _count(value: object, field: str) -> int:
    """A positive integer (replicates, workers, trials), as the CLI's counts."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise _bad(field, "a positive integer", value)
    return int(value)


def _seconds(value: object, field: str = "max_wall_s") -> float | None:
    """A wall-clock allowance: a positive finite number of seconds or None (the CLI's rule)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not (math.isfinite(float(value)) and float(value) > 0):
        raise _bad(field, "a positive finite number of seconds or None", value)
    return float(value)


def _flag(value: object, field: str) -> bool:
    """A switch: only True or False (``"no"`` is truthy)."""
    if not isinstance(value, bool):
        raise _bad(field, "True or False", value)
    return value


def _path(value: object, field: str) -> Path:
    """A file-system path: a str or an os.PathLike (bytes paths are not taken)."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise _bad(field, "a path (str or os.PathLike)", value)
    if not value.strip():  # (Path("") would be the current folder)
        raise _bad(field, "a path, not an empty one", value)
    return Path(value)


def _opt_path(value: object, field: str) -> str | None:
    """An optional path, as the engine takes it (a str)."""
    return None if value is None else str(_path(value, field))


def _opt_str(value: object, field: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise _bad(field, "a str or None", value)
    return value


def _overrides(value: object, field: str = "overrides") -> dict[str, Any]:
    """Overrides: a mapping of dotted paths (str) to values (a list of pairs is not one)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _bad(field, "a dict of dotted paths to values", value)
    for key in value:
        if not isinstance(key, str):
            raise _bad(field, "dotted paths (str) as keys", key)
    return dict(value)


def _list(value: object, field: str, of: str = "values") -> list[Any]:
    """A list (or tuple, range) of items: a str or a scalar is not split or wrapped."""
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Sequence):
        raise _bad(field, f"a list of {of}", value)
    return list(value)


def _executor(value: object, field: str = "executor") -> Executor:
    """One of the executors :mod:`sumsim.sweeps` knows."""
    from sumsim.sweeps import EXECUTORS

    if not isinstance(value, str) or value not in EXECUTORS:
        raise _bad(field, f"one of {', '.join(map(repr, EXECUTORS))}", value)
    return cast("Executor", value)


def _scheduler(value: object, executor: str) -> str | None:
    """A Dask scheduler address, which only the dask executor uses (checked now, before any
    work, by the rule sweeps and searches apply)."""
    from sumsim.sweeps import check_scheduler

    scheduler = _opt_str(value, "scheduler")
    with _as_argument(_SWEEP_WORDS):
        check_scheduler(executor, scheduler)
    return scheduler


def _out_folder(value: object, field: str) -> Path:
    """An output folder that can be made (made now: sweeps and searches make it first)."""
    from sumsim.io import check_folder

    out = _path(value, field)
    check_folder(out, field)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WriteError(e.strerror or str(e), source=str(out), field=field) from None
    return out


def _writable(folder: Path, shown: Path, field: str) -> None:
    """Make ``folder`` and check a file can be created in it (as an atomic write does), so an
    unwritable place fails before anything is written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".sumsim-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise WriteError(e.strerror or str(e), source=str(shown), field=field) from None


@contextmanager
def _as_argument(words: Mapping[str, str]) -> Iterator[None]:
    """Errors worded for the CLI (``--out: ...; pass --force``) re-worded for the Python
    arguments (``words``: option -> argument): the checks they come from (e.g.
    :func:`sumsim.outputs.check_free`, :func:`sumsim.sweeps.run_sweep`) serve both."""
    try:
        yield
    except InputError as e:
        message = e.message
        if e.field not in words and not any(w in message for w in words):
            raise
        for option, argument in words.items():
            message = message.replace(option, argument)
        field = words.get(e.field, e.field) if e.field is not None else None
        # (the same class with the same extra attributes, e.g. a WriteError's reason, without
        # running its constructor again, which would word the message a second time)
        again = type(e).__new__(type(e))
        InputError.__init__(again, message, source=e.source, field=field)
        again.__dict__.update({k: v for k, v in e.__dict__.items()
                               if k not in ("source", "field", "message")})
        raise again from None


@contextmanager
def _worker_deaths(what: str) -> Iterator[None]:
    """A pool worker that dies says why it most often does from a script.

    Workers start by importing the calling script (``__main__``) again: code outside an
    ``if __name__ == "__main__":`` guard runs once more in every worker, and an error there
    (an output folder the first run already wrote, a nested pool) kills the worker; the pool
    then only reports that a process "terminated abruptly"."""
    import sys

    try:
        yield
    except WorkerDied:
        main = sys.modules.get("__main__")
        script = getattr(main, "__file__", None)
        head = (f"a worker process of the {what} stopped abruptly (executor='process'; its "
                "error, if any, is printed above).  Worker processes start by importing ")
        if isinstance(script, str) and script.startswith("<"):  # (read from standard input)
            raise WorkerDied(
                f"{head}the calling script again, which they cannot do for one read from "
                f"{script}: save it to a file (the sweep under an `if __name__ == "
                "\"__main__\":` guard), or pass executor='local'.") from None
        where = f"the script {script} " if script else "the calling script "
        raise WorkerDied(
            f"{head}{where}again, so code outside an `if __name__ == \"__main__\":` guard "
            f"runs once more in each: put the {what} (and the code before it) under that "
            "guard, or pass executor='local'.  A worker killed for lack of memory ends the "
            "same way.") from None


def _source_data(source: ScenarioLike,
                 field: str = "source") -> tuple[dict[str, Any], str, Path | None]:
    """(TOML data, a name for messages, folder relative paths are read from)."""
    if isinstance(source, ScenarioBase):
        # What was written or assigned, not the defaults filled in: overriding a kind
        # (``"model.kind": "naive_bayes"``) then works as on the file, without the old kind's
        # options left behind.
        # (a value put in one of its lists unchecked, ``sc.agents.append(5)``, is refused when
        # the table is validated again, below: pydantic's warnings while dumping it are noise)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Pydantic serializer warnings")
            data = source.model_dump(mode="json", exclude_none=True, exclude_unset=True)
        return data, "<scenario>", source._base_dir
    if isinstance(source, Mapping):
        check_depth(dict(source), "<dict>")
        return copy.deepcopy(dict(source)), "<dict>", None
    if source is not None and not isinstance(source, str | os.PathLike):
        raise _bad(field, "a scenario file, a bundled scenario name, a dict or a scenario",
                   source)
    given = None if source is None else str(_path(source, field))
    if given is None or given.removesuffix(".toml") in BUNDLED and \
            not Path(given).is_file():
        # a folder named like a bundled scenario (a run's output, say) does not shadow it
        name = "quickstart" if given is None else given.removesuffix(".toml")
        return tomllib.loads(bundled_text(name)), f"<bundled {name}.toml>", None
    path = Path(given)
    return read_scenario_file(path), str(path), path.parent


def load(source: ScenarioLike = None, *,
         overrides: Mapping[str, Any] | None = None) -> ScenarioBase:
    """A validated scenario from a TOML file, a bundled scenario name (``"quickstart"``), a
    dict written like a TOML file, or another scenario (copied); ``None`` is the quickstart.

    ``overrides`` set dotted paths (``{"agents[1].balance": 500, "model.kind":
    "naive_bayes"}``) before validation, exactly like ``sumsim run --set``.  Raises
    :class:`sumsim.errors.InputError` naming the file and field on bad input.
    """
    return _load(source, overrides, "source")


def _load(source: ScenarioLike, overrides: object, field: str) -> ScenarioBase:
    """:func:`load`, naming the argument ``source`` is given as in messages."""
    changes = _overrides(overrides)
    data, name, base_dir = _source_data(source, field)
    if changes:
        data = apply_overrides(data, changes)
    try:
        sc = parse_scenario(data, name)
    except InputError as e:
        hinted = explain_kind_switch(e, changes, "overrides[{key!r}]",
                                     lambda table, kind: f"overrides={{{table!r}: "
                                                         f"{{'kind': {kind!r}}}}}")
        if hinted is e:
            raise
        raise hinted from None
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
        nothing; a folder that holds something is replaced only with ``force``.  A folder that
        cannot be made is an :class:`InputError` before anything is written."""
        from sumsim.outputs import check_free, write_run

        out = _path(folder, "folder")
        _flag(figure, "figure")
        _flag(force, "force")
        words = {"--out": "folder", "--force": "force=True"}
        with _as_argument(words):
            check_free(out, force)
        _writable(out.parent, out, "folder")
        with _as_argument(words):
            write_run(self.raw, out, figure=figure, force=force)
        return out

    def figure(self, path: str | Path | None = None) -> Figure:
        """The run figure (balances and accuracy over days); saved as PNG when ``path`` (a
        file name, not a folder) is given."""
        from sumsim.report import run_figure

        if path is None:
            return run_figure(self.raw, None)
        import stat

        from sumsim.io import check_folder, probe

        png = _path(path, "path")
        found = probe(png, field="path")  # (a name the system cannot take: an InputError)
        if found is not None and stat.S_ISDIR(found.st_mode):
            raise InputError(f"{png} is a folder; expected a file name such as "
                             f"{png / 'figure.png'}", field="path")
        if png.suffix.lower() != ".png":
            raise InputError(f"{png}: the figure is drawn as PNG; expected a file name ending "
                             "in .png", field="path")
        if found is None:  # (an existing file is replaced: its folder is one)
            check_folder(png, "path")  # (every folder above it is a folder)
        _writable(png.parent, png, "path")
        return run_figure(self.raw, png)

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
    seed = None if seed is None else _seed(seed)
    dp = _opt_path(data_path, "data_path")
    wall = _seconds(max_wall_s)
    changes = _overrides(overrides)
    # (a scenario object is validated again: fields edited after loading skip the checks that
    # span sections, such as unique agent names)
    sc = _load(scenario, changes, "scenario")
    check_data_path(sc.data, dp, "data_path")
    raw = engine.run(sc, seed=seed, data_path=dp, base_dir=sc._base_dir, max_wall_s=wall)
    return Result(raw)


def sweep(base: ScenarioLike | None = None, *,
          grid: Mapping[str, Sequence[Any]] | None = None,
          points: Sequence[Mapping[str, Any]] | None = None, seeds: int = 1, seed: int = 0,
          metrics: Sequence[str] | None = None, out: str | Path | None = None,
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

    No figures are drawn here (``sumsim sweep`` draws them after its table):
    ``sumsim.report.sweep_figures(table, folder)``, or ``sumsim report OUT``, draws them.
    """
    from pydantic import ValidationError

    from sumsim.scenario.loader import format_validation_error
    from sumsim.sweeps import SweepFile, load_sweep, make_sweep, run_sweep

    executor = _executor(executor)
    scheduler = _scheduler(scheduler, executor)
    workers = None if workers is None else _count(workers, "workers")
    wall = _seconds(max_wall_s)
    dp = _opt_path(data_path, "data_path")
    seeds = _count(seeds, "seeds")
    seed = _seed(seed)
    _flag(paired, "paired")
    _flag(write_runs, "write_runs")
    if not isinstance(name, str):
        raise _bad("name", "a str", name)
    if isinstance(base, str | os.PathLike) and _path(base, "base").is_file() and \
            "sweep" in read_toml(_path(base, "base")):
        # a sweep file sets all of these in its own tables: a value given here was ignored
        given = [k for k, v in (("grid", grid), ("points", points), ("metrics", metrics)) if v]
        given += [k for k, v, default in (("seeds", seeds, 1), ("seed", seed, 0),
                                          ("paired", paired, True),
                                          ("write_runs", write_runs, False),
                                          ("name", name, "sweep")) if v != default]
        if given:
            raise InputError(f"give either a sweep file or {'/'.join(given)}, not both",
                             source=str(base))
        sw = load_sweep(_path(base, "base"))
    else:
        values, overrides, kept = _grid(grid), _points(points), _metrics(metrics)
        data, name_, base_dir = _source_data(base, "base")
        raw = {"sweep": {"name": name, "base": name_, "seeds": seeds, "seed": seed,
                         "paired": paired, "metrics": kept, "write_runs": write_runs},
               "grid": values, "points": overrides}
        try:
            spec = SweepFile.model_validate(raw)
        except ValidationError as e:
            raise format_validation_error(e, "<sweep>", raw) from None
        sw = make_sweep(spec, data, base_dir or Path.cwd(), "<sweep>", name_)
    kw: dict[str, Any] = {"executor": executor, "workers": workers, "scheduler": scheduler,
                          "data_path": dp, "max_wall_s": wall}
    with _as_argument(_SWEEP_WORDS), _worker_deaths("sweep"):
        if out is not None:
            return run_sweep(sw, _out_folder(out, "out"), **kw)
        with tempfile.TemporaryDirectory(prefix="sumsim-sweep-") as tmp:
            return run_sweep(sw, Path(tmp), **kw)


#: The CLI options sweep and search errors name, as the Python arguments.
_SWEEP_WORDS = {"--out": "out", "--scheduler": "scheduler",
                "--executor dask": "executor='dask'"}


def _grid(grid: object) -> dict[str, list[Any]]:
    """``grid``: dotted path -> a list of values (``"100"`` is one value, not three)."""
    if grid is None:
        return {}
    if not isinstance(grid, Mapping):
        raise _bad("grid", "a dict of dotted paths to lists of values", grid)
    for key in grid:
        if not isinstance(key, str):
            raise _bad("grid", "dotted paths (str) as keys", key)
    return {k: _list(v, f"grid[{k!r}]") for k, v in grid.items()}


def _points(points: object) -> list[dict[str, Any]]:
    """``points``: a list of override dicts (``{"a": 1}`` is one point, not a list)."""
    if points is None:
        return []
    items = _list(points, "points", "override dicts")
    for i, p in enumerate(items):
        _overrides(p, f"points[{i}]")
    return [dict(p) for p in items]


def _metrics(metrics: object) -> list[str]:
    """``metrics``: a list of dotted summary paths (a str is not split into letters)."""
    if metrics is None:
        return []
    items = _list(metrics, "metrics", "dotted summary paths")
    for i, m in enumerate(items):
        if not isinstance(m, str):
            raise _bad(f"metrics[{i}]", "a dotted summary path (str)", m)
    return items


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
    every finished run (a killed search resumes there); default: ``sumsim-out/NAME``.
    ``trials`` (a positive integer) overrides ``search.trials``."""
    from pydantic import ValidationError

    from sumsim.scenario.loader import format_validation_error
    from sumsim.searches import SearchFile, load_search, make_search, run_search

    executor = _executor(executor)
    scheduler = _scheduler(scheduler, executor)
    workers = None if workers is None else _count(workers, "workers")
    trials = None if trials is None else _count(trials, "trials")
    wall = _seconds(max_wall_s)
    dp = _opt_path(data_path, "data_path")
    if isinstance(spec, str | os.PathLike):
        if base is not None:  # it would be ignored
            raise InputError("a search file names its base scenario in search.base; "
                             "expected base only with a spec given as a dict", field="base")
        srch = load_search(_path(spec, "spec"))
    elif isinstance(spec, Mapping):
        raw = dict(spec)
        if base is not None and isinstance(raw.get("search", {}), Mapping):
            raw = {**raw, "search": {"base": "<python>", **raw.get("search", {})}}
        try:
            parsed = SearchFile.model_validate(raw)
        except ValidationError as e:
            raise format_validation_error(e, "<search>", raw) from None
        data, _, base_dir = _source_data(base if base is not None else parsed.search.base,
                                         "base")
        srch = make_search(parsed, data, base_dir or Path.cwd(), "<search>")
    else:
        raise _bad("spec", "a search file (str or os.PathLike) or a dict", spec)
    folder = _out_folder(out, "out") if out is not None else \
        Path("sumsim-out") / srch.spec.search.name
    with _as_argument(_SWEEP_WORDS), _worker_deaths("search"):
        return run_search(srch, folder, executor=executor, workers=workers,
                          scheduler=scheduler, trials=trials, max_wall_s=wall, data_path=dp)


__all__ = ["Result", "Scenario", "load", "run", "search", "sweep"]
