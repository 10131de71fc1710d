"""Worst-case search: optimise attacker (or any) parameters of a base scenario with Optuna.

A search file (TOML)::

    [search]
    name = "worst-flip"
    base = "label-flip-drt.toml"     # relative to the file, or a bundled scenario name
    seeds = 5                        # paired replicate seeds every candidate runs on
    trials = 60                      # trial budget (also --trials)
    max_wall_s = 600                 # time budget (also --max-wall-s)

    [overrides]                      # fixed changes to the base (optional)
    "metrics.eval_every_s" = 86_400

    [[objectives]]                   # one: TPE; several: NSGA-II (a Pareto front)
    metric = "counterfactual.accuracy_damage_time_avg"
    direction = "maximize"
    [[objectives]]
    metric = "attacker_spend_eth"
    direction = "minimize"

    [[constraints]]                  # on a summary metric (mean over seeds)
    metric = "attacker_spend_eth"
    max = 1000

    [space]                          # dotted paths into the scenario
    "agents[1].kind" = { choices = ["label_flip", "boundary", "deposit_timing"] }
    "agents[1].budget" = { low = 10, high = 5000, log = true }
    "agents[1].interval_s.mean" = { low = 60, high = 7200, log = true }
    [space."agents[1].candidates"]   # only searched when the kind is boundary
    low = 50
    high = 1000
    int = true
    when = { "agents[1].kind" = "boundary" }

Every candidate runs on the same ``seeds`` paired replicate seeds (common random numbers), so
candidates are compared on the same data splits and honest draws; its objective is the mean
over seeds, and the interval is recorded beside it.  Candidates run in parallel through the
sweep executors (local, process pool, Dask).  Everything is kept in the output folder: the
Optuna study (SQLite), every finished run (``runs.jsonl``, appended as each ends), so a search
killed with Ctrl-C or ``kill -9`` resumes with no finished trial or run lost.  Outputs:
``trials.parquet``, ``pareto.parquet`` and ``pareto.png`` (the non-dominated trials) and
``best.toml``, the best candidate as a runnable scenario.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl
import tomli_w
from pydantic import Field, ValidationError, field_serializer, model_validator

from sumsim.config import SafeName, Section
from sumsim.errors import FieldError, InputError, WriteError
from sumsim.io import check_folder, make_folder, write_parquet, write_text
from sumsim.report import _finite, mean_ci
from sumsim.scenario.loader import (
    apply_overrides,
    format_validation_error,
    parse_scenario,
    read_base,
    read_toml,
)
from sumsim.sweep_store import STUDY_DB, check_folder_holds_only, removed_if_made
from sumsim.sweeps import (
    EXECUTORS,
    Executor,
    Task,
    UnknownMetric,
    _Bound,
    _canonical,
    check_scheduler,
    derive_seed,
    refuse_seed_path,
)
from sumsim.version import __version__, made_by

#: System attribute of a trial a killed search left running (failed, and asked again).
_INTERRUPTED = "sumsim:interrupted"
RUNS = "runs.jsonl"


#: Largest integer parameter bound: Optuna samples and stores every parameter as a float64,
#: which holds integers exactly only up to 2**53 (a bound of 2**63 - 1 runs as itself but is
#: recorded, and written to best.toml, as 2**63).
MAX_INT = 2**53
#: Most grid points a float step may make of a range: Optuna checks the range against the
#: step in 28-digit decimal arithmetic (it fails beyond about 1e28 steps) and samples on the
#: grid in float64 (points stay distinct up to 2**53); 1e15 keeps a margin below both.
MAX_STEPS = 1e15
#: Bounds and steps are written as ints or floats; ints stay exact (2**53 + 1 is not a float).
Number = int | float


def _whole(v: Number) -> bool:
    return isinstance(v, int) or v.is_integer()


def _as_before(v: Number | None) -> Number | None:
    """Bounds dumped as floats, as they were when they were held as floats (the output
    folder's fingerprint stays the same); an int a float cannot hold stays exact."""
    return v if v is None or float(v) != v else float(v)


class Param(Section):
    """One searched parameter: a float or int range (optionally log-scaled) or choices."""

    low: Number | None = Field(None, description="Lower end of a range.")
    high: Number | None = Field(None, description="Upper end of a range.")
    log: bool = Field(False, description="Sample the range on a log scale (low > 0).")
    int: bool = Field(False, description="Integer values (whole-number bounds within "
                      "+-2**53).")
    step: Number | None = Field(None, gt=0, description="Only multiples of this step above "
                                "low (a whole number for an integer parameter).")
    choices: list[Any] | None = Field(None, description="Categorical values (instead of "
                                      "low/high).")
    when: dict[str, Any] = Field(default_factory=dict, description="Only searched when these "
                                 "earlier parameters of the space have these values.")

    @field_serializer("low", "high", "step")
    def _dump_number(self, v: Number | None) -> Number | None:
        return _as_before(v)

    @model_validator(mode="after")
    def _shape(self) -> Param:
        """Everything Optuna would refuse (or quietly change) once trials run is refused here,
        before any run."""
        if self.choices is not None:
            if self.low is not None or self.high is not None or not self.choices:
                raise FieldError("give either non-empty choices or low/high", "choices")
            for name, used in (("int", self.int), ("log", self.log),
                               ("step", self.step is not None)):
                if used:
                    raise FieldError(f"{name} applies to a low/high range, not to choices",
                                     name)
            seen: list[Any] = []
            for c in self.choices:
                # (1 and 1.0 and True are one choice to Optuna's sampler, as to a sweep)
                if any(c == d for d in seen):
                    raise FieldError(f"{c!r} is listed twice", "choices")
                seen.append(c)
            return self
        if self.low is None or self.high is None:
            raise FieldError("a range needs low and high (or give choices)", "low")
        low, high = self.low, self.high
        if self.int:
            self._check_int(low, high)
        if not (_finite(low) and _finite(high)) or high < low:
            raise FieldError("need finite low <= high", "high")
        if self.log and low <= 0:
            raise FieldError("a log scale needs low > 0", "low")
        if not self.int and not self.log and not _finite(high - low):
            raise FieldError(f"the range high - low must be a finite float, got {high!r} - "
                             f"({low!r})", "high")
        if self.step is not None:
            self._check_step(low, high, self.step)
        return self

    def _check_int(self, low: Number, high: Number) -> None:
        for name, v in (("low", low), ("high", high)):
            if not _whole(v):
                raise FieldError(f"an integer parameter needs whole-number bounds, got "
                                 f"{name} = {v!r}", name)
            if not -MAX_INT <= v <= MAX_INT:
                raise FieldError(f"an integer parameter's bounds must be within +-2**53 "
                                 f"(+-{MAX_INT}, what Optuna's float64 holds exactly), got "
                                 f"{name} = {v!r}", name)

    def _check_step(self, low: Number, high: Number, step: Number) -> None:
        if not _finite(step):
            raise FieldError(f"the step must be a finite number, got step = {step!r}", "step")
        if self.log and not (self.int and step == 1):
            raise FieldError(f"a log-scaled range takes no step, got step = {step!r}", "step")
        if self.int and not _whole(step):
            raise FieldError(f"an integer parameter needs a whole-number step (1, 2, ...), got "
                             f"step = {step!r}", "step")
        if high > low and step > high - low:
            raise FieldError(f"the step must not exceed the range high - low = {high - low!r}"
                             f", got step = {step!r}", "step")
        if not self.int and high - low > step * MAX_STEPS:
            raise FieldError(f"the step must split the range high - low = {high - low!r} "
                             f"into at most {MAX_STEPS:.0e} steps, got step = {step!r}", "step")


class Objective(Section):
    """A metric to optimise: its mean over the paired seeds."""

    metric: str = Field(description="A summary metric (a sweep table column).")
    direction: Literal["maximize", "minimize"] = Field("maximize", description="Whether "
                                                       "larger or smaller is better.")


class Constraint(Section):
    """A bound on a metric's mean over the seeds; candidates outside it are infeasible."""

    metric: str = Field(description="A summary metric (a sweep table column).")
    max: float | None = Field(None, description="Largest feasible mean.")
    min: float | None = Field(None, description="Smallest feasible mean.")

    @model_validator(mode="after")
    def _bound(self) -> Constraint:
        if self.max is None and self.min is None:
            raise FieldError("give max and/or min", "max")
        if self.max is not None and self.min is not None and self.min > self.max:
            raise FieldError(f"min ({self.min:g}) is above max ({self.max:g}): no trial could "
                             "be feasible", "min")
        return self


#: The largest trial budget (``search.trials``, ``--trials``).
MAX_TRIALS = 100_000


class SearchSection(Section):
    """What to search from, on how many seeds, and for how long."""

    name: SafeName = Field("search", description="Name of the search (the default output "
                           "folder and the study's name): letters, digits and _ . + = -.")
    base: str = Field(description="Base scenario: a path relative to the search file or a "
                      "bundled scenario name.")
    seeds: int = Field(3, ge=1, le=1000, description="Paired replicate seeds per candidate.")
    seed: int = Field(0, ge=0, description="The search seed (replicate seeds and sampler).")
    trials: int = Field(50, ge=1, le=MAX_TRIALS, description="Trial budget (also --trials).")
    max_wall_s: float | None = Field(None, gt=0, description="Wall-clock budget in seconds "
                                     "(also --max-wall-s); the search resumes where it "
                                     "stopped.")
    sampler: Literal["auto", "tpe", "nsga2", "random"] = Field(
        "auto", description="auto: TPE for one objective, NSGA-II for several.")
    batch: int = Field(1, ge=1, le=1000, description="Candidates proposed at a time (each "
                       "runs on every seed before the sampler hears how they did): up to "
                       "batch x seeds runs in flight.  Part of the search's definition, not "
                       "of the machine: the same file proposes the same candidates with any "
                       "--workers.")
    record: list[str] = Field(default_factory=list, description="Summary metrics to keep for "
                              "every trial besides the objectives and constraints.")


class SearchFile(Section):
    search: SearchSection = Field(description="The search's settings.")
    overrides: dict[str, Any] = Field(default_factory=dict, description="Fixed dotted-path "
                                      "overrides applied to the base scenario before "
                                      "searching.")
    objectives: list[Objective] = Field(min_length=1, description="One (TPE) or several "
                                        "(NSGA-II, a Pareto front) metrics to optimise.")
    constraints: list[Constraint] = Field(default_factory=list, description="Bounds on "
                                          "metrics.")
    space: dict[str, Param] = Field(min_length=1, description="Dotted path -> the parameter's "
                                    "range or choices.")

    @model_validator(mode="after")
    def _conditions(self) -> SearchFile:
        """A ``when`` that can never hold leaves its parameter unsearched without a word:
        parameters are chosen in the order of the space, so it must name an earlier one, with
        a value that one can take."""
        for path, param in self.space.items():
            refuse_seed_path(path, "search", "space", path, values=param.choices or ())
        for path, value in self.overrides.items():
            refuse_seed_path(path, "search", "overrides", path, values=[value])
            # (applied first: a parameter of the space at that path, or holding it, would
            # silently replace the fixed value in every trial)
            shadow = next((p for p in self.space if p == path or path.startswith((
                f"{p}.", f"{p}["))), None)
            if shadow is not None:
                raise FieldError(f"the space's parameter {shadow!r} sets this in every "
                                 "trial, replacing the fixed value; keep one of them",
                                 "overrides", path)
        seen: dict[str, int] = {}
        for i, o in enumerate(self.objectives):
            if o.metric in seen:
                raise FieldError(f"{o.metric!r} is already objectives[{seen[o.metric]}]; "
                                 "expected distinct metrics", "objectives", i, "metric")
            seen[o.metric] = i
        names = list(self.space)
        for i, (path, p) in enumerate(self.space.items()):
            for key, value in p.when.items():
                where = ("space", path, "when")
                if key not in self.space:
                    raise FieldError(f"{key!r} is not a parameter of the space; expected one "
                                     f"of the parameters before it: {names[:i]}", *where)
                if names.index(key) >= i:
                    raise FieldError(f"{key!r} must come before {path!r} in the space "
                                     "(parameters are chosen in order)", *where)
                why = _never(self.space[key], value)
                if why:
                    raise FieldError(f"{key!r} = {value!r} never occurs: {why}", *where)
        return self


def _never(p: Param, value: Any) -> str:
    """Why parameter ``p`` can never take ``value`` (as :func:`suggest` compares it), or ""."""
    if p.choices is not None:
        return "" if value in p.choices else f"its choices are {p.choices!r}"
    low, high = p.low, p.high
    assert low is not None and high is not None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"it takes numbers from {low!r} to {high!r}"
    if not low <= value <= high:
        return f"it ranges from {low!r} to {high!r}"
    if p.int:
        return "" if _whole(value) else "it takes whole numbers"
    if p.step is None:
        return "" if low == high else ("a continuous range almost never takes one exact "
                                       "value; give it choices or int = true")
    # the grid point Optuna would return for this value (its own rounding)
    return "" if round((value - low) / p.step) * p.step + low == value else \
        f"it takes low + a multiple of step = {p.step!r}"


@dataclass
class Search:
    spec: SearchFile
    source: str
    base_data: dict[str, Any]
    base_dir: Path

    def metrics(self) -> list[str]:
        return list(dict.fromkeys([o.metric for o in self.spec.objectives]
                                  + [c.metric for c in self.spec.constraints]
                                  + self.spec.search.record))


def load_search(path: Path | str) -> Search:
    """Read and validate a search file (and the base scenario at the ends of the space)."""
    path = Path(path)
    raw = read_toml(path)
    try:
        spec = SearchFile.model_validate(raw)
    except ValidationError as e:
        raise format_validation_error(e, str(path), raw, SearchFile) from None
    base_data, _, base_dir = read_base(path, spec.search.base, "search.base")
    return make_search(spec, base_data, base_dir, str(path))


def make_search(spec: SearchFile, base_data: dict[str, Any], base_dir: Path,
                source: str) -> Search:
    if spec.overrides:
        base_data = apply_overrides(base_data, spec.overrides)
    search = Search(spec, source, base_data, base_dir)
    for point in _corners(spec.space):
        try:
            parse_scenario(apply_overrides(base_data, point), f"{source} with {point}")
        except InputError as e:
            raise InputError(f"{source}: space point {point}: {e}") from None
    return search


def _corners(space: dict[str, Param]) -> list[dict[str, Any]]:
    """One point per choice of every categorical, with every range at its low end, then at
    its high end: each strategy kind a search may pick must give a valid scenario with its own
    options, and so must both ends of every range (a bound outside what a field allows would
    otherwise only show as failed trials)."""
    out: list[dict[str, Any]] = []
    for end in ("low", "high"):
        points: list[dict[str, Any]] = [{}]
        for path, p in space.items():
            values = p.choices if p.choices is not None else [_cast(p, _end(p, end))]
            grown = []
            for pt in points:
                if all(pt.get(k) == v for k, v in p.when.items()):
                    grown += [{**pt, path: v} for v in values]
                else:
                    grown.append(pt)
            points = grown
        out += [pt for pt in points if pt not in out]
    return out


def _end(p: Param, end: str) -> Any:
    """A range's lowest or highest value a trial can take (the top step at most ``high``)."""
    low, high = p.low, p.high
    assert low is not None and high is not None
    if end == "low":
        return low
    if p.step:
        return low + ((high - low) // p.step) * p.step
    return high


def _cast(p: Param, v: Any) -> Any:
    return int(v) if p.int else v


# -- sampling ---------------------------------------------------------------------------------
def suggest(trial: Any, space: dict[str, Param]) -> dict[str, Any]:
    """The candidate's overrides, define-by-run (conditional parameters only when they apply)."""
    chosen: dict[str, Any] = {}
    for path, p in space.items():
        if not all(chosen.get(k) == v for k, v in p.when.items()):
            continue
        if p.choices is not None:
            chosen[path] = trial.suggest_categorical(path, p.choices)
        elif p.int:
            chosen[path] = trial.suggest_int(path, int(p.low or 0), int(p.high or 0),
                                             log=p.log, step=int(p.step or 1))
        else:
            chosen[path] = trial.suggest_float(path, float(p.low or 0), float(p.high or 0),
                                               log=p.log, step=p.step)
    return chosen


def _sampler(spec: SearchFile, asked: int = 0) -> Any:
    """The sampler that proposes the candidate after ``asked`` earlier ones.

    A fresh sampler, seeded by the search seed and ``asked``, for every proposal: what it
    proposes then depends only on the seed and the trials told so far, so a search stopped
    (Ctrl-C, ``kill -9``, its trial or time budget) and resumed proposes the candidates one
    run in one go would (a sampler kept across proposals, or restarted from the search seed
    alone, would not: the second would propose its first candidates again)."""
    import optuna

    kind = spec.search.sampler
    if kind == "auto":
        kind = "tpe" if len(spec.objectives) == 1 else "nsga2"
    constraints = _constraints_of if spec.constraints else None
    seed = spec.search.seed
    if asked:
        digest = hashlib.sha256(f"{seed}:proposal {asked}".encode()).digest()
        seed = int.from_bytes(digest[:4], "big")
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constraints_func=constraints,
                                          multivariate=True, group=True)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints)
    return optuna.samplers.RandomSampler(seed=seed)


def _proposed(study: Any) -> int:
    """Candidates proposed so far: the study's trials, less those a killed search left
    running (asked again under a new trial number, see :func:`_requeue_interrupted`)."""
    return sum(not t.system_attrs.get(_INTERRUPTED) for t in study.get_trials(deepcopy=False))


def _ask(study: Any, spec: SearchFile) -> Any:
    study.sampler = _sampler(spec, _proposed(study))
    return study.ask()


def _constraints_of(trial: Any) -> list[float]:
    return list(trial.user_attrs.get("constraints", [1.0]))


# -- the run cache ---------------------------------------------------------------------------
def _read_runs(out: Path) -> dict[str, dict[str, Any]]:
    """Finished runs recorded in ``runs.jsonl`` (a truncated last line, from a kill, is
    ignored)."""
    from sumsim.sweep_store import _is_row

    p = out / RUNS
    runs: dict[str, dict[str, Any]] = {}
    if not p.exists():
        return runs
    try:
        lines = p.read_bytes().splitlines()
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror or e}", source=str(p)) from None
    for line in lines:
        try:
            row = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            continue
        if _is_row(row):  # (a line edited into something else is skipped like a torn one)
            runs[row["run_id"]] = row
    return runs


def _check_stamp(stamp_file: Path, stamp: str, out: Path,
                 spec: dict[str, Any] | None = None) -> None:
    """Refuse a folder holding another search (or a stamp that cannot be read as one)."""
    if not stamp_file.exists():
        return
    try:
        found = json.loads(stamp_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = getattr(e, "strerror", None) or str(e) or type(e).__name__
        found = None
    else:
        why = "expected an object with a fingerprint"
    fingerprint = found.get("fingerprint") if isinstance(found, dict) else None
    if not isinstance(fingerprint, str):
        raise InputError(f"not a search stamp ({why}); if this folder holds runs of this "
                         "search, remove the file to resume, else use another --out",
                         source=str(stamp_file))
    if fingerprint != stamp:
        raise InputError(f"this folder holds another search (differing in "
                         f"{_what_differs(found, spec)}); use another --out (or the search file "
                         "that made it)", source=str(out))
    if found.get("version") != __version__:
        raise InputError(
            f"this folder holds a search made by {_author(found)}, whose trials may score "
            f"otherwise under sumsim {__version__} (rules, gas and metrics change between "
            "versions): run it into another --out to search again, or resume it with the "
            "version that made it", source=str(out))


def _what_differs(found: dict[str, Any], spec: dict[str, Any] | None) -> str:
    """Which parts of the search file differ from the one that made a folder, in a few words
    (its base scenario's contents when the file's own parts are the same)."""
    kept = found.get("spec") if isinstance(found.get("spec"), dict) else None
    if spec is None or kept is None:
        return "its base, overrides, space, objectives, constraints or seeds"
    unpriced = {"trials", "max_wall_s"}  # (a resumed search may change its budgets)
    parts = [f"search.{k}" for k in sorted(set(spec.get("search", {})) |
                                           set(kept.get("search", {})))
             if k not in unpriced and spec.get("search", {}).get(k)
             != kept.get("search", {}).get(k)]
    parts += [k for k in ("overrides", "objectives", "constraints", "space")
              if spec.get(k) != kept.get(k)]
    if not parts:
        return "its base scenario's contents"
    return ", ".join(parts)


def _author(found: dict[str, Any]) -> str:
    version = found.get("version")
    return made_by(version) + ("" if isinstance(version, str) else
                               " (one that did not record its version)")


def _append_run(out: Path, row: dict[str, Any]) -> None:
    with open(out / RUNS, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, sort_keys=True, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _run_id(params: dict[str, Any], replicate: int, seed: int) -> str:
    return hashlib.sha256(_canonical([params, replicate, seed]).encode()).hexdigest()[:16]


# -- running ---------------------------------------------------------------------------------
@dataclass
class SearchResult:
    """What a search produced (also written in its folder)."""

    out: Path
    trials: pl.DataFrame
    pareto: pl.DataFrame
    best: dict[str, Any] | None
    best_toml: Path | None
    #: Trials of the budget left when the time budget (``max_wall_s``) stopped the search (0:
    #: it used its whole trial budget).
    trials_left: int = 0


def run_search(search: Search, out: Path, *, executor: Executor = "process",
               workers: int | None = None, scheduler: str | None = None,
               trials: int | None = None, max_wall_s: float | None = None,
               data_path: str | None = None, progress: bool = False,
               on_trial: Callable[[dict[str, Any]], None] | None = None) -> SearchResult:
    """Run (or resume) a search in ``out``; returns the trials, the Pareto front and the best
    scenario (see the module docstring).  A folder the search made and that it stopped in on
    a metric no run has is removed again (the corrected search may use it)."""
    check_folder(out)
    check_folder_holds_only(out, "search", SEARCH_FILES)
    with removed_if_made(out, UnknownMetric):
        return _run_search(search, out, executor, workers, scheduler, trials, max_wall_s,
                           data_path, progress, on_trial)


#: What a search folder holds (besides hidden files).
SEARCH_FILES = {"search.json", STUDY_DB, RUNS, "trials.parquet", "pareto.parquet",
                "pareto.png", "best.toml"}


def _run_search(search: Search, out: Path, executor: Executor, workers: int | None,
                scheduler: str | None, trials: int | None, max_wall_s: float | None,
                data_path: str | None, progress: bool,
                on_trial: Callable[[dict[str, Any]], None] | None) -> SearchResult:
    import optuna
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # Table-valued choices (a whole [[agents]] entry, a mechanism's table) are stored as JSON,
    # which holds them: Optuna's advice to keep choices scalar does not apply.
    warnings.filterwarnings("ignore", message="Choices for a categorical distribution should be",
                            category=UserWarning)
    spec = search.spec
    check_scheduler(executor, scheduler)
    make_folder(out)
    stamp = hashlib.sha256(_canonical([search.base_data, spec.model_dump(
        mode="json", exclude={"search": {"trials", "max_wall_s"}})]).encode()).hexdigest()[:16]
    stamp_file = out / "search.json"
    written = spec.model_dump(mode="json")
    _check_stamp(stamp_file, stamp, out, written)
    write_text(stamp_file, json.dumps({"fingerprint": stamp, "version": __version__,
                                       "source": search.source, "spec": written},
                                      indent=2) + "\n")
    study = _open_study(out, spec)
    _requeue_interrupted(study)
    budget = trials or spec.search.trials
    wall = max_wall_s or spec.search.max_wall_s
    start = time.monotonic()
    runs = _read_runs(out)
    workers = workers or os.cpu_count() or 1
    metrics = search.metrics()
    fn = _Bound(search.base_data, str(search.base_dir), [], None, data_path)
    seeds = [derive_seed(spec.search.seed, {}, r) for r in range(spec.search.seeds)]
    bar = _TrialsBar(budget, _finished(study), progress, spec.objectives)
    # the metric names are checked against the first candidate whose runs all finish
    checked = bool(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    try:
        while _finished(study) < budget and (wall is None or time.monotonic() - start < wall):
            batch = min(spec.search.batch, budget - _finished(study))
            asked = [_ask(study, spec) for _ in range(batch)]
            cands = [(t, suggest(t, spec.space)) for t in asked]
            tasks, index = [], 0
            #: run id -> the trial that first asked for it (a record says which)
            asker: dict[str, int] = {}
            for t, params in cands:
                for r, seed in enumerate(seeds):
                    rid = _run_id(params, r, seed)
                    if rid not in runs and rid not in asker:
                        tasks.append(Task(index, rid, params, r, seed))
                        asker[rid] = t.number
                        index += 1
            if tasks:
                for row in EXECUTORS[executor](fn, tasks, workers, scheduler):
                    row.pop("traceback", None)
                    row["trial"] = asker[row["run_id"]]
                    row["params"] = tasks[row["run_index"]].params
                    runs[row["run_id"]] = row
                    _append_run(out, row)
            unknown = None
            for t, params in cands:
                rows = [runs[_run_id(params, r, s)] for r, s in enumerate(seeds)]
                record = _tell(study, t, params, rows, spec, metrics)
                bar.advance(study)
                if on_trial is not None:
                    on_trial(record)
                if not checked and all(r["status"] == "ok" for r in rows):
                    checked = True
                    unknown = _unknown_metric(search, rows)
            if unknown is not None:  # every trial would fail on it: stop before the next
                raise unknown
    except Exception as e:  # (the study's database on a full disk: one line, the runs kept)
        if not _disk_full(e):
            raise
        raise WriteError(f"the study's database: {_first_line(e)} (free some space and run the "
                         "same command again: every finished run is kept)",
                         source=str(out / STUDY_DB)) from None
    finally:
        bar.close()
    result = _write_outputs(search, study, out)
    result.trials_left = max(0, budget - _finished(study))
    _require_a_complete_trial(search, study, result)
    return result


def _open_study(out: Path, spec: SearchFile) -> Any:
    """The Optuna study of ``out`` (made when new); a study file that SQLite cannot read is
    an InputError naming it."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    db = out / STUDY_DB
    try:
        return optuna.create_study(storage=f"sqlite:///{db.resolve()}",
                                   study_name=spec.search.name,
                                   directions=[o.direction for o in spec.objectives],
                                   sampler=_sampler(spec), load_if_exists=True)
    except SQLAlchemyError as e:
        first = _first_line(e)
        if _disk_full(e):
            raise WriteError(f"{first} (free some space and run the same command again: "
                             "every finished run is kept)", source=str(db)) from None
        raise InputError(f"not a readable Optuna study ({first}); the finished runs are kept "
                         f"in {RUNS}: remove {STUDY_DB} to start the study afresh from them, "
                         "or use another --out", source=str(db)) from None


def _chain(e: BaseException) -> Iterator[BaseException]:
    """``e`` and the errors it was raised from or during, each once, outermost first."""
    seen: set[int] = set()
    cur: BaseException | None = e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _disk_full(e: BaseException) -> bool:
    """Whether ``e`` (or what it wraps) is SQLite or the system saying the disk is full."""
    return any("disk is full" in (text := f"{c} {getattr(c, 'orig', '')}".lower())
               or "no space left" in text or getattr(c, "errno", None) == 28  # (ENOSPC)
               for c in _chain(e))


def _first_line(e: BaseException) -> str:
    """The first line of what the innermost error of ``e``'s chain (SQLite's, under
    SQLAlchemy's and Optuna's) says."""
    root = list(_chain(e))[-1]
    return (str(getattr(root, "orig", None) or root).strip().splitlines() or ["?"])[0]


class NoTrialCompleted(InputError):
    """Every trial of a search failed, so it has no result.  Its outputs are still written
    (``result``); the message gives the first trial's error."""

    def __init__(self, message: str, *, source: str, result: SearchResult):
        super().__init__(message, source=source)
        self.result = result


def _unknown_metric(search: Search, rows: list[dict[str, Any]]) -> InputError | None:
    """The first metric named in the search file that these finished runs' summaries lack or
    hold as text: it would fail (or leave infeasible) every trial, so it is an input error."""
    from sumsim.results.summary import with_eth

    spec = search.spec
    flat: dict[str, Any] = {}
    for r in rows:
        flat.update(with_eth(r["metrics"]))
    named = [(f"objectives[{i}].metric", o.metric) for i, o in enumerate(spec.objectives)]
    named += [(f"constraints[{i}].metric", c.metric) for i, c in enumerate(spec.constraints)]
    named += [(f"search.record[{i}]", m) for i, m in enumerate(spec.search.record)]
    for field, m in named:
        if m not in flat:
            numeric = sorted(k for k, v in flat.items() if not isinstance(v, str | bool))
            close = difflib.get_close_matches(m, numeric, n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(map(repr, close))}?" if close else \
                f"expected one of its {len(numeric)} numeric metrics, e.g. {numeric[:3]}"
            return UnknownMetric(f"no metric {m!r} in a run's summary; {hint}",
                                 source=search.source, field=field)
        if isinstance(flat[m], str | bool):
            return UnknownMetric(f"metric {m!r} is not a number (a run gave {flat[m]!r}); "
                              "expected a numeric summary metric", source=search.source,
                              field=field)
    return None


def _require_a_complete_trial(search: Search, study: Any, result: SearchResult) -> None:
    """A search whose trials all failed has no result: an error naming the first failure,
    not a quiet "0 complete"."""
    from optuna.trial import TrialState

    tried = study.get_trials(deepcopy=False)
    if not tried:
        raise NoTrialCompleted("no trial was run (the wall-clock allowance, --max-wall-s, ran "
                               "out before the first)", source=search.source, result=result)
    if any(t.state == TrialState.COMPLETE for t in tried):
        return
    first = next((t for t in tried if t.user_attrs.get("error")), tried[0])
    error = " ".join(str(first.user_attrs.get("error", first.state.name)).split())
    raise NoTrialCompleted(f"no trial completed ({len(tried)} tried); the first, trial "
                           f"{first.number} with {dict(first.params)}, failed: {error}",
                           source=search.source, result=result)


def _finished(study: Any) -> int:
    """Trials that count against the budget: finished ones, less those a killed search left
    running (their parameters are asked again)."""
    from optuna.trial import TrialState

    return sum(not t.system_attrs.get(_INTERRUPTED) for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL, TrialState.PRUNED)))


def _requeue_interrupted(study: Any) -> None:
    """Trials left running by a killed search: fail them and ask for their parameters again
    (their finished runs are reused from runs.jsonl)."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_system_attr(t._trial_id, _INTERRUPTED, True)
        study._storage.set_trial_user_attr(t._trial_id, "error", "interrupted: the search "
                                           "stopped while it ran; its parameters are asked "
                                           "again as a later trial")
        study._storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)


def _tell(study: Any, trial: Any, params: dict[str, Any], rows: list[dict[str, Any]],
          spec: SearchFile, metrics: list[str]) -> dict[str, Any]:
    from optuna.trial import TrialState

    from sumsim.results.summary import with_eth

    failed = [r for r in rows if r["status"] != "ok"]
    record: dict[str, Any] = {"trial": trial.number, "params": params}
    if failed:
        trial.set_user_attr("error", failed[0]["error"])
        study.tell(trial, state=TrialState.FAIL)
        record["error"] = failed[0]["error"]
        return record
    stats: dict[str, tuple[float, float, int]] = {}
    for m in metrics:
        values = []
        for r in rows:
            v = with_eth(r["metrics"]).get(m)
            values.append(float(v) if isinstance(v, int | float) and not isinstance(v, bool)
                          else float("nan"))
        clean = [v for v in values if v == v]
        stats[m] = mean_ci(clean) if clean else (float("nan"), float("nan"), 0)
        trial.set_user_attr(f"seeds:{m}", [v if v == v else None for v in values])
        trial.set_user_attr(f"mean:{m}", stats[m][0] if stats[m][2] else None)
        trial.set_user_attr(f"ci:{m}", stats[m][1] if stats[m][2] >= 2 else None)
        trial.set_user_attr(f"n:{m}", stats[m][2])
    # A metric undefined in some run (a damage ratio without damage) has no mean over the
    # seeds: a constraint on it is not met, and an objective fails the trial.
    cons = []
    for c in spec.constraints:
        v, _, n = stats[c.metric]
        worst = -math.inf
        if c.max is not None:
            worst = max(worst, v - c.max)
        if c.min is not None:
            worst = max(worst, c.min - v)
        cons.append(worst if n == len(rows) else 1.0)
    trial.set_user_attr("constraints", cons)
    undefined = [o.metric for o in spec.objectives if stats[o.metric][2] < len(rows)]
    if undefined:
        m = undefined[0]
        why = f"objective {m} undefined in {len(rows) - stats[m][2]} of {len(rows)} runs"
        trial.set_user_attr("error", why)
        study.tell(trial, state=TrialState.FAIL)
        record["error"] = why
        return record
    values = [stats[o.metric][0] for o in spec.objectives]
    study.tell(trial, values)
    record["values"] = values
    return record


def _feasible(t: Any) -> bool:
    return all(c <= 0 for c in t.user_attrs.get("constraints", []))


def _write_outputs(search: Search, study: Any, out: Path) -> SearchResult:
    from optuna.trial import TrialState

    spec = search.spec
    metrics = search.metrics()
    rows = []
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name,
                               "error": t.user_attrs.get("error", "")}
        for path in spec.space:
            v = t.params.get(path)
            row[f"param:{path}"] = None if v is None else str(v) if isinstance(v, str) else v
        for m in metrics:
            mean = t.user_attrs.get(f"mean:{m}")  # (NaN in a study of an earlier version)
            row[f"mean:{m}"] = None if mean is None or mean != mean else mean
            row[f"ci:{m}"] = t.user_attrs.get(f"ci:{m}")
            row[f"n:{m}"] = t.user_attrs.get(f"n:{m}")
        row["feasible"] = _feasible(t) if t.state == TrialState.COMPLETE else None
        rows.append(row)
    trials = pl.from_dicts(rows, infer_schema_length=None) if rows else pl.DataFrame()
    write_parquet(out / "trials.parquet", trials)
    done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if _feasible(t)]
    front = _pareto(done, spec.objectives)
    pareto = trials.filter(pl.col("trial").is_in([t.number for t in front])) if front \
        else trials.head(0)
    write_parquet(out / "pareto.parquet", pareto)
    best = front[0] if front else None
    best_toml = None
    if best is not None:
        seeds = [derive_seed(spec.search.seed, {}, r) for r in range(spec.search.seeds)]
        data = apply_overrides(search.base_data, dict(best.params))
        data.setdefault("scenario", {})["name"] = f"{spec.search.name}-best"
        data["scenario"]["seed"] = seeds[0]
        lines = [f"The best candidate of search {spec.search.name!r} (trial {best.number}), as "
                 "a runnable scenario.",
                 "Mean over its paired seeds: " + ", ".join(
                     f"{o.metric} = {best.values[i]:.6g} ({o.direction})"
                     for i, o in enumerate(spec.objectives)) + "."]
        bounds = [c for c in spec.constraints
                  if c.metric not in {o.metric for o in spec.objectives}]
        if spec.constraints:  # (they hold for the mean over the seeds, not for each seed)
            lines.append("Constraints, on that mean: " + ", ".join(
                f"{c.metric} = {_g(best.user_attrs.get(f'mean:{c.metric}'))} ("
                + " and ".join(f"{k} {v:g}" for k, v in (("min", c.min), ("max", c.max))
                               if v is not None) + ")" for c in spec.constraints) + ".")
        shown = [o.metric for o in spec.objectives] + [c.metric for c in bounds]
        for r, seed in enumerate(seeds):
            got = ", ".join(f"{m} = {_g(best.user_attrs[f'seeds:{m}'][r])}" for m in shown)
            lines.append(f"sumsim run best.toml --seed {seed}   gives {got}"
                         + ("   (the seed set below)" if r == 0 else ""))
        header = "".join(f"# {ln}\n" for ln in lines)
        best_toml = out / "best.toml"
        write_text(best_toml, header + tomli_w.dumps(data))
    _pareto_figure(trials, front, spec, out / "pareto.png")
    return SearchResult(out, trials, pareto, None if best is None else dict(best.params),
                        best_toml)


def _g(v: float | None) -> str:
    """A metric's value in a header line (None: undefined in that run, as a trial a search
    made before undefined objectives failed it may hold)."""
    return "undefined" if v is None else f"{v:.6g}"


def _pareto(trials: list[Any], objectives: list[Objective]) -> list[Any]:
    """Non-dominated trials, best first on the first objective."""
    sign = [1 if o.direction == "maximize" else -1 for o in objectives]

    def key(t: Any) -> list[float]:
        return [s * v for s, v in zip(sign, t.values, strict=True)]

    front = [t for t in trials if not any(
        all(a >= b for a, b in zip(key(o), key(t), strict=True)) and key(o) != key(t)
        for o in trials)]
    return sorted(front, key=lambda t: (-key(t)[0], t.number))


def _pareto_figure(trials: pl.DataFrame, front: list[Any], spec: SearchFile,
                   path: Path) -> None:
    from matplotlib.figure import Figure

    from sumsim.io import atomic_write

    if not trials.height or "state" not in trials.columns:
        return
    done = trials.filter(pl.col("state") == "COMPLETE")
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    m0 = spec.objectives[0].metric
    numbers = [t.number for t in front]
    best = done.filter(pl.col("trial").is_in(numbers))

    def ci(rows: pl.DataFrame, m: str) -> list[float]:
        """95% half-widths over the seeds (0 where a trial had one seed: no interval)."""
        col = f"ci:{m}"
        if col not in rows.columns:
            return [0.0] * rows.height
        return [v if v is not None and v == v else 0.0 for v in rows[col].to_list()]

    bars: dict[str, Any] = {"ls": "none", "capsize": 2, "elinewidth": 0.8}
    # Trials whose means break a constraint: drawn apart, as they cannot be chosen.
    if spec.constraints and "feasible" in done.columns:
        kept = pl.col("feasible").fill_null(True)  # (a trial not judged stays with the rest)
        done, outside = done.filter(kept), done.filter(kept.not_())
    else:
        outside = done.head(0)
    if len(spec.objectives) > 1:
        m1 = spec.objectives[1].metric
        ax.errorbar(done[f"mean:{m1}"], done[f"mean:{m0}"], yerr=ci(done, m0),
                    xerr=ci(done, m1), marker="o", ms=3, color="0.65", alpha=0.6,
                    label="trials", **bars)
        best = best.sort(f"mean:{m1}")
        ax.errorbar(best[f"mean:{m1}"], best[f"mean:{m0}"], yerr=ci(best, m0),
                    xerr=ci(best, m1), marker="o", ms=5, color="tab:red",
                    label="Pareto front", **bars)
        ax.plot(best[f"mean:{m1}"], best[f"mean:{m0}"], "-", color="tab:red", lw=1)
        if outside.height:
            ax.plot(outside[f"mean:{m1}"], outside[f"mean:{m0}"], "x", ms=5, color="0.45",
                    label="infeasible (constraints)")
        ax.set_xlabel(f"{m1} ({spec.objectives[1].direction})")
    else:
        if done.height:
            ax.errorbar(done["trial"], done[f"mean:{m0}"], yerr=ci(done, m0), marker="o",
                        ms=3, color="0.65", alpha=0.6, label="trials", **bars)
        if best.height:
            ax.errorbar(best["trial"], best[f"mean:{m0}"], yerr=ci(best, m0), marker="o",
                        ms=5, color="tab:red", label="best", **bars)
        if outside.height:
            ax.plot(outside["trial"], outside[f"mean:{m0}"], "x", ms=5, color="0.45",
                    label="infeasible (constraints)")
        ax.set_xlabel("trial")
    ax.set_ylabel(f"{m0} ({spec.objectives[0].direction})")
    ax.set_title(f"search {spec.search.name}: {done.height + outside.height} trials, mean over "
                 f"{spec.search.seeds} paired seeds each (bars: 95% CI)", fontsize=10)
    ax.grid(alpha=0.3)
    if done.height or outside.height:  # (no complete trial: nothing to name)
        ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, dpi=110, format="png",
                                             metadata={"Software": None}))


class _TrialsBar:
    def __init__(self, total: int, done: int, enabled: bool, objectives: list[Objective]):
        self.enabled = enabled
        self.objectives = objectives
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.p = Progress(TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("best {task.fields[best]}"), TimeElapsedColumn())
            self.task = self.p.add_task("trials", total=total, completed=done, best="-")
            self.p.start()

    def advance(self, study: Any) -> None:
        if not self.enabled:
            return
        from optuna.trial import TrialState

        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        best = "-"
        if done:
            o = self.objectives[0]
            pick = max if o.direction == "maximize" else min
            best = f"{o.metric} = {pick(t.values[0] for t in done):.4g}"
        self.p.update(self.task, completed=_finished(study), best=best)

    def close(self) -> None:
        if self.enabled:
            self.p.stop()
