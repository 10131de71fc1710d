"""`sumsim run | sweep | search | report | gas | validate | schema | plugins | invariants` — a
thin layer over the library.

Exit codes: 0 ok (a run with no accepted contribution is ok, with a warning on stderr);
1 a run failed unexpectedly; 2 bad input, one line naming the file or option, the field and
what was expected (this includes a scenario that cannot finish: it reached
scenario.max_duration_s or made no progress for scenario.max_idle_s); 3 a run stopped by
--max-wall-s.  `sumsim run` writes nothing when its exit code is not 0; a sweep or search
keeps in its folder every run it finished, and its table, whatever its exit code (1: some
runs failed).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import signal
import sys
import time
import typing
import warnings
from pathlib import Path
from typing import Any, NoReturn

from sumsim.errors import InputError, WallClockExceeded, WorkerDied

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_WALL = 0, 1, 2, 3
#: ``sumsim run`` starts its sidecar process (:mod:`sumsim.sidecar`) for runs of at least this
#: many training samples: a smaller run is over before the sidecar has done its imports, and
#: the sidecar's second interpreter would only add work.
SIDECAR_MIN_SAMPLES = 10_000


def _parse_set(items: list[str], option: str = "--set") -> dict[str, Any]:
    import tomllib

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InputError(f"{option} expects PATH=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        if not k.strip():
            raise InputError(f"{option} expects PATH=VALUE, got {item!r} (no PATH)")
        try:
            doc = tomllib.loads(f"v = {v}")
        except (tomllib.TOMLDecodeError, ValueError, RecursionError) as e:
            if v.strip()[:1] in ("{", "[", '"', "'"):  # (meant as TOML: say what is wrong)
                what = {"{": "an inline table", "[": "an array"}.get(v.strip()[0], "a string")
                raise InputError(f"{option} {k.strip()}: {v.strip()!r} is not {what} TOML can "
                                 f"read ({e}); e.g. {{kind=\"naive_bayes\", alpha=0.5}}, "
                                 "strings quoted, no trailing comma") from None
            out[k.strip()] = v  # (a bare word: a string, as model.kind=naive_bayes)
            continue
        if set(doc) != {"v"}:
            raise InputError(f"{option} {k.strip()}: the value holds more than one TOML value "
                             f"({v!r}: a line break?); give one value per {option}")
        out[k.strip()] = doc["v"]
    return out


def _split_items(text: str) -> list[str]:
    """``PATH=VALUE,PATH=VALUE`` split at the commas between items: not those inside a
    value's brackets, braces or quotes (``b=[1,2]``, ``model={kind="perceptron", lr=2}``)."""
    items, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


class _Progress:
    """A rich progress bar over contributions, quiet when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool):
        self.enabled = enabled
        self.total = total
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                TextColumn("{task.completed}/{task.total} contributions"),
                                TextColumn("day {task.fields[day]:.1f}"),
                                TextColumn("acc {task.fields[acc]:.3f}"),
                                TimeElapsedColumn(), transient=False)
            self.task = self.bar.add_task("simulating", total=total, day=0.0, acc=0.0)

    def __enter__(self) -> _Progress:
        if self.enabled:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.stop()

    def __call__(self, now: float, contributions: int, acc: float) -> None:
        if self.enabled:
            self.bar.update(self.task, completed=min(contributions, self.total),
                            day=now / 86_400, acc=acc)


def _load(path: str | None, sets: list[str]) -> Any:
    """The scenario of ``sumsim run``/``validate``, an override's error naming ``--set``."""
    from sumsim.scenario.loader import explain_kind_switch, load_scenario

    overrides = _parse_set(sets)
    try:
        return load_scenario(path, overrides)
    except InputError as error:
        e = explain_kind_switch(  # (a kind switched alone keeps the old kind's options)
            error, overrides, "--set {key}",
            lambda table, kind: f"--set '{table}={{kind={json.dumps(kind)}}}'")
        if e.source is None and e.field is not None:
            raise InputError(f"--set {e}") from None
        behind = _set_behind(e.field, overrides)
        if behind is not None:  # (a value given with --set: name the option, not the file)
            raise InputError(e.message, source=f"--set {behind}",
                             field=None if e.field == behind else e.field) from None
        if overrides and e is error and e.source is not None:  # (checked against a --set one)
            keys = list(overrides)
            given = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
            raise InputError(f"{e.message} (with --set {given} applied)", source=e.source,
                             field=e.field) from None
        if e is error:
            raise
        raise e from None


def _set_behind(field: str | None, overrides: dict[str, Any]) -> str | None:
    """The ``--set`` path whose value the error at ``field`` is about (the field itself, a
    table that holds it, or a value inside it: ``--set agents[1].interval_s.mean=0.1`` for an
    error on ``agents[1].interval_s``), as the error spells paths (``agents[1].lag``)."""
    import re

    if field is None:
        return None
    for key in overrides:
        k = re.sub(r"\.(\d+)(?=[.\[]|$)", r"[\1]", key.strip())
        if field == k or field.startswith((k + ".", k + "[")) or \
                k.startswith((field + ".", field + "[")):
            return k
    return None


def cmd_run(args: argparse.Namespace) -> int:
    from sumsim.data.load import check_data_path
    from sumsim.outputs import OutputExists, check_free

    if args.list:
        return _list_bundled()
    sc = _load(args.scenario, args.set)
    where = args.scenario or "<bundled quickstart>"
    seed = sc.scenario.seed if args.seed is None else args.seed
    check_data_path(sc.data, args.data_path, "--data-path")
    base = Path(args.scenario).parent if args.scenario and Path(args.scenario).exists() else None
    out = Path(args.out) if args.out else Path("sumsim-out") / f"{sc.scenario.name}-seed{seed}"
    try:
        check_free(out, args.force)
    except OutputExists as e:
        if args.out:
            raise
        raise OutputExists(f"{e.message} (the default folder: no --out given)",
                           field=e.field) from None
    return _run_and_write(args, sc, seed, where, base, out)


def _run_and_write(args: argparse.Namespace, sc: Any, seed: int, where: str,
                   base: Path | None, out: Path) -> int:
    import sumsim.engine as engine
    from sumsim.data.load import forget_datasets, load_dataset, path_origin
    from sumsim.engine import make_split
    from sumsim.outputs import write_run
    from sumsim.sidecar import Sidecar

    try:
        ds = load_dataset(sc.data, seed, args.data_path, base)
    except InputError as e:
        raise InputError(f"{where}: {path_origin(sc.data, args.data_path, '--data-path')}: "
                         f"{e}") from None
    n_train = ds.x_train.shape[0]
    cf = engine.wants_counterfactual(sc)
    deadline = None if args.max_wall_s is None else time.monotonic() + args.max_wall_s
    sidecar = None
    if not args.one_process and (sc.metrics.figure or sc.metrics.baseline or cf) and \
            min(n_train, sc.data.max_pool or n_train) >= SIDECAR_MIN_SAMPLES:
        sidecar = Sidecar.start()
    try:  # (the sidecar is stopped whatever happens: a no-op once it has drawn the figure)
        baseline = counterfactual = None
        if sidecar is not None:
            job = (sc, seed, args.data_path, base, deadline)
            if sc.metrics.baseline:
                baseline = sidecar.ask("baseline", *job)
            if cf:
                counterfactual = sidecar.ask("counterfactual", *job)
        tty = sys.stderr.isatty() and not args.quiet
        pool_size = len(make_split(sc, ds, seed).y_pool) if tty else 0  # (for the bar only)
        try:
            with _Progress(pool_size, tty) as bar:
                res = engine.run(sc, seed=seed, dataset=ds, base_dir=base, progress=bar,
                                 deadline=deadline, baseline=baseline,
                                 counterfactual=counterfactual)
        except InputError as e:  # a scenario that cannot finish or data the model cannot take
            raise InputError(str(e), source=where) from None
        except WallClockExceeded as e:
            print(f"{where}: --max-wall-s: {e} ({args.max_wall_s:g} s); nothing written",
                  file=sys.stderr)
            return EXIT_WALL
        del ds  # the run keeps its split; the whole dataset is not needed for the outputs
        forget_datasets()
        summ = write_run(res, out, force=args.force,
                         sidecar=sidecar if sc.metrics.figure else None)
    finally:
        if sidecar is not None:
            sidecar.cancel()
    if not args.quiet:
        _print_summary(summ, out)
    unfinished = (summ.get("counterfactual") or {}).get("unfinished")
    if unfinished:  # (the run's outputs are written; its comparison is missing)
        print(f"{where}: warning: {unfinished} (the run's outputs are written; its "
              "counterfactual metrics are null)", file=sys.stderr)
    if summ["contract"]["contributions"] == 0:
        print(f"{where}: warning: no contribution was accepted in {summ['days']:.1f} "
              f"simulated days ({summ['transactions']['count']} transactions, "
              f"{summ['pool']['size']} pool samples): check balances, deposits, gas and "
              "duration", file=sys.stderr)
    return EXIT_OK


def _list_bundled() -> int:
    """The scenarios shipped with sumsim, runnable by name, with the question each asks."""
    from sumsim.scenario.loader import BUNDLED, bundled_text

    for name in BUNDLED:
        comments = " ".join(ln.lstrip("#").strip() for ln in bundled_text(name).splitlines()
                            if ln.startswith("#"))
        question = comments.split("Asks:", 1)[1] if "Asks:" in comments else comments
        question = question.strip()
        if "?" in question:
            question = question[: question.index("?") + 1]
        print(f"{name:<28} {question[:1].upper() + question[1:]}")
    return EXIT_OK


def _print_summary(s: dict[str, Any], out: Path) -> None:
    acc = s["accuracy"]
    base = acc["baseline_all_data"]
    print(f"{s['scenario']} (seed {s['seed']}): {s['days']:.1f} simulated days, "
          f"{s['contract']['contributions']} contributions, {s['transactions']['count']} txs")
    print("  accuracy: " + "  ".join(f"{k.replace('_', '-')} {_num(acc[k])}"
                                     for k in ("initial", "final", "min", "time_avg"))
          + (f"  all-data baseline {_num(base)}" if base is not None else ""))
    cf = s.get("counterfactual")
    if cf and cf["horizon_s"] is not None:
        damage = cf["accuracy_damage_time_avg"]
        days = cf["horizon_s"] / 86_400
        span = (f" over {days:.1f} days (this run over the same {days:.1f} days, its model "
                f"held after its end: {_num(cf['time_avg_accuracy_with_attackers'])})"
                if cf["horizon_s"] > s["end_time_s"] else "")
        print(f"  without the attackers: time-avg {_num(cf['time_avg_accuracy_without_attackers'])}"
              + span + (f"  damage {round(100 * damage, 2) + 0.0:+.2f} points"  # (no -0.00)
                        if damage is not None else ""))
    for name, a in s["agents"].items():
        pct = a["final_pct_of_start"]
        flag = "  <- an ATTACKER IN PROFIT" if a["attacker"] and a["profit_wei"] > 0 else ""
        print(f"  {name:>12} ({a['kind']}): "
              + (f"{pct:.1f}% of start" if pct is not None else "started with 0")
              + f", profit {a['profit_eth']:+.4f} ETH{flag}")
    if s.get("attackers_in_profit"):
        print(f"  attackers that ended in profit: {', '.join(s['attackers_in_profit'])}")
    state = _incentive_line(s["incentive"])
    if state:
        import textwrap

        print(textwrap.fill(state, width=100, initial_indent="  ",
                            subsequent_indent="      ", break_on_hyphens=False))
    print(f"  contract balance left: {s['contract']['final_balance_wei']} wei "
          f"(unexplained {s['contract']['unexplained_wei']})")
    print(f"  outputs: {out}")


def _plain(x: float, sign: str = "") -> str:
    """A number as people write it: thousands separated and no exponent from 10,000 up (a
    sum of gas or wei), four significant digits below."""
    return f"{x:{sign},.0f}" if abs(x) >= 1e4 else f"{x:{sign},.4g}"


def _incentive_line(inc: dict[str, Any]) -> str:
    """The mechanism's own state at the end, in one line: its numbers and text, and its small
    tables of numbers by address (points, stakes, balances); amounts in ETH.  Lists (rounds,
    removed participants) stay in summary.json."""
    from sumsim.units import WEI_PER_ETHER

    def number(x: Any) -> bool:
        return isinstance(x, int | float) and not isinstance(x, bool)

    def show(key: str, x: Any) -> str:
        return f"{x / WEI_PER_ETHER:,.4f} ETH" if key.endswith("_wei") and number(x) else \
            f"{x:,.6g}" if isinstance(x, float) else str(x)

    parts = []
    for key, v in inc.items():
        name = key.removesuffix("_wei")
        if key == "kind" or v is None:
            continue
        if isinstance(v, dict) and 0 < len(v) <= 8 and all(number(x) for x in v.values()):
            parts.append(f"{name} " + ", ".join(f"{a} {show(key, x)}" for a, x in v.items()))
        elif number(v) or isinstance(v, str):
            parts.append(f"{name} {show(key, v)}")
    return f"{inc.get('kind', 'mechanism')}: " + "; ".join(parts) if parts else ""


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"


def cmd_sweep(args: argparse.Namespace) -> int:
    from sumsim.report import sweep_figures
    from sumsim.sweeps import RESUMING, load_sweep, run_sweep

    sweep = load_sweep(args.sweep)
    if args.data_path is not None and sweep.datasets == {"synthetic"}:
        raise InputError("every point of the sweep uses the 'synthetic' dataset, which reads "
                         "no file; drop --data-path", field="--data-path")
    out = Path(args.out) if args.out else Path("sumsim-out") / sweep.spec.sweep.name
    tty = sys.stderr.isatty() and not args.quiet
    df = run_sweep(sweep, out, executor=args.executor, workers=args.workers,
                   scheduler=args.scheduler, progress=tty, retry_failed=args.retry_failed,
                   data_path=args.data_path, max_wall_s=args.max_wall_s, repair=args.repair,
                   on_notice=lambda msg: None if args.quiet and msg.startswith(RESUMING)
                   else print(msg, file=sys.stderr))
    failed = df.filter(df["status"] != "ok") if len(df) else df
    if not args.no_report:
        sweep_figures(df, out / "figures")
    if not args.quiet:
        print(f"{sweep.spec.sweep.name}: {len(df)} runs ({failed.height} failed) -> {out}")
    if failed.height:  # (the table and figures are written; a script must still notice)
        print(f"{sweep.spec.sweep.name}: {failed.height} of {len(df)} runs failed (first: "
              f"{failed['error'][0]}); their errors are in {out / 'results.parquet'}; rerun "
              "with --retry-failed", file=sys.stderr)
        return EXIT_FAIL
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    import polars as pl

    from sumsim.report import sweep_figures

    folder = Path(args.sweep_dir)
    table = folder / "results.parquet"
    try:
        found = table.is_file()
    except OSError as e:  # (a name too long for the file system, say)
        raise InputError(f"cannot read: {e.strerror}", source=str(folder)) from None
    if not found:
        if not folder.is_dir():
            raise InputError("no such folder (a sweep's output folder is expected)",
                             source=str(folder))
        if (folder / "trials.parquet").is_file() or (folder / "search.json").is_file():
            raise InputError("this is a search's folder: its figure is pareto.png and its "
                             "table trials.parquet (`sumsim report` draws a sweep's figures)",
                             source=str(folder))
        raise InputError("no results.parquet here (run `sumsim sweep` first)", source=str(folder))
    try:
        df = pl.read_parquet(table, glob=False)
    except Exception as e:  # polars raises several kinds for a file that is not Parquet
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise InputError(f"not a readable Parquet file: {first}", source=str(table)) from None
    missing = {"run_id", "status"} - set(df.columns)
    if missing:
        raise InputError(f"not a sweep results table (no column {sorted(missing)[0]!r})",
                         source=str(table))
    if args.out:
        from sumsim.io import check_folder

        check_folder(Path(args.out))
    unknown = [m for m in (args.metric or []) if m not in df.columns]
    if unknown:
        known = sorted(c for c in df.columns if not c.startswith("param:") and c not in (
            "run_index", "run_id", "replicate", "seed", "status", "error", "elapsed_s"))
        close = difflib.get_close_matches(unknown[0], known, n=3, cutoff=0.6)
        raise InputError(f"no metric {unknown[0]!r} in this sweep; " + (
            f"did you mean {' or '.join(map(repr, close))}?" if close else
            f"metrics: {', '.join(known)}"), source=str(table), field="--metric")
    words = [m for m in (args.metric or []) if not df[m].dtype.is_numeric()]
    if words:  # (a figure draws numbers: text or a flag has no mean and no band)
        raise InputError(f"metric {words[0]!r} is not a number (column type {df[words[0]].dtype})"
                         "; a figure draws numeric metrics", source=str(table),
                         field="--metric")
    paired, reference = None, {}
    if args.reference is not None:  # (checked before any figure is drawn)
        from sumsim.report import paired_differences, standard_metrics

        items = [p for p in _split_items(args.reference) if p.strip()] or [""]
        names = [p.split("=", 1)[0].strip() for p in items]
        twice = next((n for i, n in enumerate(names) if n and n in names[:i]), None)
        if twice is not None:
            raise InputError(f"{twice} is given twice; a reference names one value of each "
                             "parameter", field="--reference")
        reference = _parse_set(items, "--reference")
        paired = paired_differences(df, reference, args.metric or standard_metrics(df),
                                    source=str(folder))
    try:
        paths = sweep_figures(df, Path(args.out) if args.out else folder / "figures",
                              args.metric or None, source=str(table))
    except InputError as e:
        if args.out or e.field != "--out":
            raise
        raise InputError(f"{e.message} (the default figure folder; --out names another)",
                         source=e.source, field=e.field) from None
    for p in paths:
        print(p)
    if not paths:
        print(f"{folder}: nothing to draw (no numeric metric varies across the sweep's "
              "points, or no run finished)", file=sys.stderr)
    if paired is not None:
        _print_paired(paired, Path(args.out) if args.out else folder, args.reference,
                      set(reference))
    return EXIT_OK


def _print_paired(diffs: Any, out: Path, reference: str, named: set[str]) -> None:
    """Paired differences against the reference point (``reference`` as given, fixing the
    parameters ``named``), printed with each metric's unit, and written as Parquet."""
    from sumsim.io import write_parquet
    from sumsim.report import metric_unit

    write_parquet(out / "paired_differences.parquet", diffs)
    params = [c for c in diffs.columns if c not in ("metric", "mean_diff", "ci", "n")]
    # (what tells points apart, and what they are compared on)
    shown = [p for p in params if diffs[p].n_unique() > 1 or p in named] or params
    print(f"paired differences (point - {reference} of its cell), mean and 95% CI over "
          "replicates:")
    width = max((len(m) for m in diffs["metric"].to_list()), default=0) if diffs.height else 0
    last = None
    for r in diffs.iter_rows(named=True):
        where = ", ".join(f"{p} = {r[p]}" for p in shown)
        if where != last:
            print(f"  {where}")
            last = where
        unit = metric_unit(r["metric"])
        unit = " percentage points" if unit == "%" else f" {unit}" if unit.isalpha() else \
            f" ({unit})" if unit else ""  # (a difference of percentages is in points)
        value = "no replicate pairs with the reference" if not r["n"] else \
            f"{_plain(r['mean_diff'], '+')}{unit} (one pair: no interval)" if r["ci"] is None \
            else f"{_plain(r['mean_diff'], '+')} +- {_plain(r['ci'])}{unit}"
        print(f"    {r['metric']:<{width}}  {value}  (n={r['n']})")
    print(out / "paired_differences.parquet")


def cmd_validate(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.scenarios:
        try:
            kind = _file_kind(path)
            if kind != "scenario" and args.set:
                tables = "[grid] and [[points]]" if kind == "sweep" else \
                    "[overrides] (and searches [space])"
                raise InputError(f"--set changes scenario files; a {kind} file sets its base "
                                 f"scenario's fields in its own tables: {tables}", source=path,
                                 field="--set")
            if kind == "sweep":
                from sumsim.sweeps import load_sweep

                sw = load_sweep(path)  # (every point's scenario validated)
                print(f"{path}: ok (sweep {sw.spec.sweep.name}, {len(sw.tasks)} runs)")
            elif kind == "search":
                from sumsim.searches import load_search

                se = load_search(path)  # (the base at the ends of the space validated)
                print(f"{path}: ok (search {se.spec.search.name}, {len(se.spec.space)} "
                      "parameters)")
            else:
                sc = _load(path, args.set)
                _check_data_file(sc, path)
                n = len(sc.agents)
                print(f"{path}: ok ({sc.scenario.name}, {n} agent{'' if n == 1 else 's'})")
        except InputError as e:
            if e.source is None and not str(e).startswith(f"{path}:"):
                # (a --set path, say: which file it failed on)
                e = InputError(e.message, source=path, field=e.field)
            print(str(e), file=sys.stderr)
            status = EXIT_INPUT
    return status


def _check_data_file(sc: Any, path: str) -> None:
    """A table the scenario reads (csv, parquet) is read and checked as a run would (it exists,
    has rows and labels, and values the contract and the model can hold)."""
    from sumsim.data.load import load_dataset, scenario_data_file
    from sumsim.engine import checked_model

    if sc.data.dataset not in ("csv", "parquet"):
        return
    base = Path(path).parent if Path(path).is_file() else None
    where = scenario_data_file(sc.data, base)
    try:
        size = Path(where).stat().st_size if where is not None else -1
    except OSError as e:
        raise InputError(f"{where}: {e.strerror or e}", source=path, field="data.path") from None
    if size <= 0 or not Path(where or "").is_file():
        raise InputError(f"{where}: not a non-empty file", source=path, field="data.path")
    try:
        ds = load_dataset(sc.data, sc.scenario.seed, None, base)
        checked_model(sc, ds)
    except InputError as e:
        raise _data_error(e, path) from None


def _data_error(e: InputError, scenario: str) -> InputError:
    """An error about a scenario's data, named after the scenario file and ``data.path`` (the
    data file, when the error names it, in the message), as ``sumsim run`` words it."""
    if e.source and e.source != scenario:  # (the data file's own error: a column, a row)
        return InputError(str(e), source=scenario, field="data.path")
    return InputError(e.message, source=scenario,
                      field="data.path" if e.field in (None, "data", "data.path") else e.field)


def _file_kind(path: str) -> str:
    """``sweep`` or ``search`` for a file whose only tables are a sweep's or a search's (its
    ``[sweep]`` or ``[search]`` table, no ``[scenario]`` or ``[[agents]]``), else
    ``scenario`` (a bundled name too)."""
    from sumsim.scenario.loader import read_toml

    try:
        if not Path(path).is_file():
            return "scenario"  # (a bundled name, or an error the scenario loader words)
    except OSError:  # (a name too long for the file system, say)
        return "scenario"
    data = read_toml(Path(path))
    study = [k for k in ("sweep", "search") if k in data]
    if study and ("scenario" in data or "agents" in data):
        raise InputError(f"the file holds both a [{study[0]}] table and a scenario's tables; "
                         f"a {study[0]} names its scenario in {study[0]}.base (a file or a "
                         "bundled name): keep them in two files", source=path)
    return study[0] if study else "scenario"


def cmd_schema(args: argparse.Namespace) -> int:
    if args.sweep:
        from sumsim.sweeps import SweepFile

        schema = SweepFile.model_json_schema()
    elif args.search:
        from sumsim.searches import SearchFile

        schema = SearchFile.model_json_schema()
    else:
        from sumsim.scenario.loader import json_schema

        schema = json_schema()
    print(json.dumps(schema, indent=2))
    return EXIT_OK


#: What ``sumsim plugins`` says of a plug-in without a description.
NO_DESCRIPTION = ("(no description: give the class a docstring, or Plugin(..., "
                  "description=...))")


def cmd_plugins(args: argparse.Namespace) -> int:
    import sumsim.registry as registry

    if not args.kinds:
        for group in registry.GROUPS:
            print(f"{group}:")
            for kind, p in sorted(registry.plugins(group).items()):
                print(f"  {kind:<22} {p.description or NO_DESCRIPTION}  "
                      f"[{p.origin or 'sumsim'}]")
        return EXIT_OK
    blocks = []
    for kind in args.kinds:
        found = [(g, registry.plugins(g)[kind]) for g in registry.GROUPS
                 if kind in registry.plugins(g)]
        if not found:
            every = sorted({k for g in registry.GROUPS for k in registry.plugins(g)})
            raise InputError(f"no plug-in kind {kind!r}; installed: {', '.join(every)}",
                             field="plugins")
        blocks += [_plugin_options(g, p) for g, p in found]
    print("\n\n".join(blocks))
    return EXIT_OK


def _plugin_options(group: str, plugin: Any) -> str:
    """One plug-in's options as the scenario file writes them: name, type, default, meaning."""
    import textwrap

    from pydantic_core import PydanticUndefined

    head = (f"{plugin.kind} ({group[:-1]}, from {plugin.origin or 'sumsim'}): "
            f"{plugin.description or NO_DESCRIPTION}")
    rows = []
    for name, fld in plugin.config.model_fields.items():
        if name == "kind":
            continue
        if fld.default is not PydanticUndefined:
            default = fld.default
        elif fld.default_factory is not None:
            default = fld.default_factory()  # type: ignore[call-arg]
        else:
            default = "(required)"
        if hasattr(default, "model_dump"):
            default = default.model_dump(mode="json")
        shown = default if isinstance(default, str) else json.dumps(default, default=str)
        extra = fld.json_schema_extra if isinstance(fld.json_schema_extra, dict) else {}
        unit = extra.get("description")
        rows.append((name, unit if unit in ("ether", "gwei") else _type_name(fld.annotation),
                     shown, fld.description or ""))
    if not rows:
        return head + "\n  (no options)"
    w0 = max(len(r[0]) for r in rows)
    w1 = min(24, max(len(r[1]) for r in rows))
    lines = [head]
    for name, kind, default, desc in rows:
        lines.append(f"  {name:<{w0}}  {kind:<{w1}}  default {default}")
        lines += textwrap.wrap(desc, width=92, initial_indent=" " * (w0 + 4),
                               subsequent_indent=" " * (w0 + 4))
    return "\n".join(lines)


def _type_name(annotation: Any) -> str:
    """A field's type in a few words (``float``, ``ether | None``, ``'a' | 'b'``,
    ``distribution``)."""
    import types

    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    if origin is typing.Annotated:
        for meta in annotation.__metadata__:
            extra = getattr(meta, "json_schema_extra", None)
            if isinstance(extra, dict) and extra.get("description") in ("ether", "gwei"):
                return str(extra["description"])
        return _type_name(args[0])
    if args and origin in (typing.Union, types.UnionType):
        return " | ".join(dict.fromkeys(_type_name(a) for a in args))
    if args:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(map(_type_name, args))}]"
    if annotation is type(None):
        return "None"
    if "dist" in getattr(annotation, "model_fields", {}):
        return "distribution"
    return getattr(annotation, "__name__", str(annotation))


def cmd_search(args: argparse.Namespace) -> int:
    from sumsim.searches import MAX_TRIALS, load_search, run_search

    if args.trials is not None and args.trials > MAX_TRIALS:  # (as search.trials is bounded)
        raise InputError(f"expected at most {MAX_TRIALS:,}, got {args.trials:,}",
                         field="--trials")
    search = load_search(args.search)
    out = Path(args.out) if args.out else Path("sumsim-out") / search.spec.search.name
    tty = sys.stderr.isatty() and not args.quiet
    spec = search.spec.search
    workers = args.workers or os.cpu_count() or 1
    if not args.quiet and args.executor != "local" and spec.batch * spec.seeds < workers:
        print(f"note: {workers} workers but at most {spec.batch * spec.seeds} runs in flight "
              f"(search.batch = {spec.batch} candidates x {spec.seeds} seeds); a larger "
              "search.batch keeps them busy (and proposes other candidates)", file=sys.stderr)
    res = run_search(search, out, executor=args.executor, workers=args.workers,
                     scheduler=args.scheduler, trials=args.trials, max_wall_s=args.max_wall_s,
                     data_path=args.data_path, progress=tty)
    if not args.quiet:
        done = res.trials.filter(res.trials["state"] == "COMPLETE").height \
            if res.trials.height else 0
        print(f"{search.spec.search.name}: {res.trials.height} trials ({done} complete), "
              f"{res.pareto.height} on the Pareto front -> {out}")
        if res.trials_left:
            print(f"  stopped by its time budget (max_wall_s) with {res.trials_left} trial(s) "
                  "of its budget left: run the same command again to go on")
        if res.best is not None:
            print(f"  best: {res.best}")
            print(f"  runnable: sumsim run {res.best_toml}")
        elif done:  # (every complete trial broke a constraint: nothing to recommend)
            print(f"  no complete trial met the constraints (a constraint on a metric "
                  f"undefined in some run is not met): no best.toml; see the feasible and "
                  f"mean: columns of {out / 'trials.parquet'}")
    return EXIT_OK


def cmd_invariants(args: argparse.Namespace) -> int:
    from sumsim.testing import check

    options: dict[str, Any] = {"kind": args.mechanism}
    defenses: dict[str, dict[str, Any]] = {d: {"kind": d} for d in args.defense or ()}
    model: dict[str, Any] | None = None if args.model is None else {"kind": args.model}
    for key, value in _parse_set(args.set).items():
        head, _, rest = key.partition(".")
        if rest and head == "model":
            model = model or {"kind": "perceptron"}
            target, key, chosen = model, rest, "model"
        elif rest and head in defenses:
            target, key, chosen = defenses[head], rest, "defense"
        elif rest and head != "incentive":
            raise InputError(f"{key!r}: set a mechanism option as OPTION=VALUE, a model "
                             "option as model.OPTION=VALUE, a defense's as KIND.OPTION=VALUE "
                             f"(defenses given: {sorted(defenses) or 'none'})", field="--set")
        else:
            target, key, chosen = options, rest or head, "mechanism"
        if key == "kind":
            raise InputError(f"the {chosen} is chosen with --{chosen}, not --set kind=...",
                             field="--set")
        target[key] = value
    _check_required(args.mechanism, args.require or [])  # (before the search, not after)
    try:
        report = check(options, defenses=list(defenses.values()), model=model,
                       examples=args.examples, steps=args.steps,
                       seed=None if args.random else 0)
    except InputError as e:
        if e.source is None and e.field in ("mechanism", "defense", "model"):  # (its kind)
            raise InputError(e.message, field=f"--{e.field}") from None
        if "unknown field" in str(e) and str(e).startswith("mechanism ") and \
                (defenses or model):  # (an option meant for the defense or the model?)
            raise InputError(f"--set: {e} (a defense's option is set as KIND.OPTION=VALUE, a "
                             "model's as model.OPTION=VALUE)") from None
        given = {k.split(".")[0] for k in _parse_set(args.set)}
        if e.field is not None and e.field.split(".")[0].split("[")[0] in given:
            raise InputError(str(e), source="--set") from None  # (an option given there)
        raise
    print(report.summary())
    if not report.ok:
        return EXIT_FAIL
    return _required_lines(report, args.require or [])


def _check_required(kind: str, required: list[str]) -> None:
    """``--require`` names methods whose lines the check counts (or ``all``)."""
    import sumsim.registry as registry
    from sumsim.testing import LineCoverage

    if not required or "all" in required:
        return
    try:
        impl = registry.get("mechanisms", kind).impl
    except KeyError:
        return  # (the check words an unknown kind)
    counted = sorted({q.split(".")[-1] for q in LineCoverage.of(impl).where})
    unknown = [n for n in required if n not in counted]
    if unknown:
        raise InputError(f"{', '.join(map(repr, unknown))}: not a method of the mechanism's "
                         f"module; its methods: {', '.join(counted)} (or all)",
                         field="--require")


def _required_lines(report: Any, required: list[str]) -> int:
    """``--require``: a method of the mechanism with a line the examples never ran fails the
    check (the invariants held only where the examples went)."""
    if not required or report.coverage is None:
        return EXIT_OK
    left = report.missed(*(() if "all" in required else required))
    if not left:
        return EXIT_OK
    print(f"--require: {sum(map(len, left.values()))} line(s) of "
          f"{', '.join(sorted(left))} never ran (more --examples or --steps may reach them)",
          file=sys.stderr)
    return EXIT_FAIL


# -- sumsim gas ----------------------------------------------------------------------------
def cmd_gas(args: argparse.Namespace) -> int:
    from sumsim.chain.evm_gas import FORKS
    from sumsim.engine import make_fork
    from sumsim.results.gas import format_table, gas_rows
    from sumsim.scenario.loader import load_scenario

    sc = load_scenario(args.scenario, _parse_set(args.set))
    if args.fork is not None and args.fork not in FORKS:  # (spelled as chain.fork is)
        raise InputError(f"unknown fork {args.fork!r}; expected one of {sorted(FORKS)}",
                         field="--fork")
    try:  # (an empty item is an error)
        features = None if args.features is None else \
            [int(n) for n in args.features.split(",")]
    except ValueError:
        raise InputError(f"expected comma-separated feature counts, got {args.features!r}",
                         field="--features") from None
    base = Path(args.scenario).parent if Path(args.scenario).exists() else None
    try:
        rows = gas_rows(sc, features, args.fork, base_dir=base)
    except InputError as e:  # (the data: as `run` words it)
        raise _data_error(e, args.scenario) from None
    except ValueError as e:  # (a count outside the vocabulary)
        raise InputError(str(e), field="--features") from None
    if args.format == "json":
        print(json.dumps(rows, indent=1))
    else:
        print(format_table(rows, make_fork(sc.chain, args.fork).name))
    return EXIT_OK


def _add_gas_parser(sub: Any) -> None:
    g = sub.add_parser("gas", help="gas and fees of the scenario contract's calls per fork")
    g.add_argument("scenario", help="scenario TOML file (or a bundled name)")
    g.add_argument("--features", default=None,
                   help="comma-separated numbers of present features (default: "
                   "10,50,100,150,200,300 up to the vocabulary; dense data: all its features)")
    g.add_argument("--fork", help="price on this fork instead of the scenario's chain.fork")
    g.add_argument("--format", choices=["table", "json"], default="table")
    g.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a field, e.g. --set model.variant=original")
    g.set_defaults(fn=cmd_gas)
# -- end sumsim gas ------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``sumsim run: --seed: ...``) and exit code 2."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_INPUT, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _folder(text: str) -> str:
    """A folder path option (argparse type): an empty one would silently mean the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder path, got an empty one")
    return text


def _count(text: str) -> int:
    """A positive integer option (argparse type)."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _count_upto(most: int) -> Any:
    """A positive integer option of at most ``most`` (argparse type)."""
    def parse(text: str) -> int:
        v = _count(text)
        if v > most:
            raise argparse.ArgumentTypeError(f"expected at most {most:,}, got {v:,}")
        return v

    return parse


#: The most examples and steps per example `sumsim invariants` takes: a million sequences of a
#: thousand transactions is days of checking, beyond which a number is a typo.
MAX_EXAMPLES, MAX_STEPS = 1_000_000, 1_000


def _seed(text: str) -> int:
    """A seed option: an integer in [0, 2**63 - 1], as scenario.seed."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if not 0 <= v <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2**63 - 1, got {v}")
    return v


def _seconds(text: str) -> float:
    """A positive finite number of seconds (argparse type)."""
    import math

    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return v


RUN_EPILOG = """exit codes: 0 done (a run in which no contribution was accepted is done too: it
prints a warning on stderr); 2 bad input, or a scenario that cannot finish
(scenario.max_duration_s, scenario.max_idle_s); 3 stopped by --max-wall-s (nothing
written); 1 an unexpected failure."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sumsim", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    from sumsim.version import __version__

    p.add_argument("--version", action="version", version=f"sumsim {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run one scenario (default: the bundled quickstart)",
                       epilog=RUN_EPILOG)
    r.add_argument("scenario", nargs="?", help="scenario TOML file (or a bundled name: "
                   "see --list)")
    r.add_argument("--list", action="store_true",
                   help="list the bundled scenarios (runnable by name) and their questions")
    r.add_argument("--force", action="store_true",
                   help="replace the output folder if it exists (default: refuse)")
    r.add_argument("--out", type=_folder, help="output folder (default: sumsim-out/NAME-seedN)")
    r.add_argument("--seed", type=_seed, help="override scenario.seed")
    r.add_argument("--data-path", help="dataset archive/folder/file (overrides data.path); "
                   "an error with synthetic data, which reads no file")
    r.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a field, e.g. --set agents[1].balance=500")
    r.add_argument("--max-wall-s", type=_seconds, metavar="SECONDS",
                   help="stop (exit code 3, nothing written) after this much wall-clock time")
    r.add_argument("--one-process", action="store_true",
                   help="no sidecar process: fit the baseline, run the counterfactual and draw "
                   "the figure in this one (e.g. when running many side by side)")
    r.add_argument("-q", "--quiet", action="store_true")
    r.set_defaults(fn=cmd_run)
    v = sub.add_parser("validate", help="validate scenario, sweep and search files (a sweep's "
                       "every point, a search's space at its ends), running nothing")
    v.add_argument("scenarios", nargs="+", metavar="FILE")
    v.add_argument("--set", action="append", default=[], metavar="PATH=VALUE",
                   help="override a field in every scenario file, as `sumsim run --set` does")
    v.set_defaults(fn=cmd_validate)
    s = sub.add_parser("schema", help="print the JSON Schema of scenario files (for editors)")
    which = s.add_mutually_exclusive_group()
    which.add_argument("--sweep", action="store_true", help="the schema of sweep files instead")
    which.add_argument("--search", action="store_true",
                       help="the schema of search files instead")
    s.set_defaults(fn=cmd_schema)
    w = sub.add_parser("sweep", help="run a sweep file (grid/list of overrides x seeds)")
    w.add_argument("sweep")
    w.add_argument("--out", type=_folder, help="sweep folder (default: sumsim-out/NAME)")
    w.add_argument("--executor", choices=["local", "process", "dask"], default="process")
    w.add_argument("--workers", type=_count, help="worker processes (default: all cores)")
    w.add_argument("--max-wall-s", type=_seconds, metavar="SECONDS",
                   help="per run: a run taking longer is recorded as failed")
    w.add_argument("--repair", action="store_true",
                   help="rebuild the manifest from the per-run records in the folder first")
    w.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    w.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    w.add_argument("--data-path", help="dataset archive/folder/file for every run")
    w.add_argument("--no-report", action="store_true", help="skip the figures")
    w.add_argument("-q", "--quiet", action="store_true")
    w.set_defaults(fn=cmd_sweep)
    se = sub.add_parser("search", help="optimise scenario parameters (e.g. the worst attack) "
                        "with Optuna, every candidate on the same paired seeds")
    se.add_argument("search", help="search file (TOML)")
    se.add_argument("--out", type=_folder,
                    help="search folder (default: sumsim-out/NAME); resumable")
    se.add_argument("--trials", type=_count, help="trial budget (overrides search.trials)")
    se.add_argument("--max-wall-s", type=_seconds, help="time budget in seconds")
    se.add_argument("--executor", choices=["local", "process", "dask"], default="process")
    se.add_argument("--workers", type=_count, help="worker processes (default: all cores)")
    se.add_argument("--scheduler", help="Dask scheduler address (default: a LocalCluster)")
    se.add_argument("--data-path", help="dataset archive/folder/file for every run")
    se.add_argument("-q", "--quiet", action="store_true")
    se.set_defaults(fn=cmd_search)
    rp = sub.add_parser("report", help="draw the standard figures of a sweep folder")
    rp.add_argument("sweep_dir")
    rp.add_argument("--out", type=_folder, help="figure folder (default: SWEEP_DIR/figures)")
    rp.add_argument("--metric", action="append", help="metric column(s) to draw")
    rp.add_argument("--reference", metavar="PATH=VALUE[,PATH=VALUE]",
                    help="print paired differences of each point against the reference point "
                    "of its cell (parameters the reference leaves out keep the point's values)")
    rp.set_defaults(fn=cmd_report)
    iv = sub.add_parser("invariants", help="property-test a mechanism's fund invariants "
                        "(Hypothesis state machine; see sumsim.testing)")
    iv.add_argument("--mechanism", required=True, help="a registered mechanism kind")
    iv.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a mechanism option (--set cost_weight=0.1), a model option "
                    "(--set model.learning_rate=2) or a defense's "
                    "(--set rate_limit.max_contributions=2)")
    iv.add_argument("--defense", action="append", metavar="KIND",
                    help="also install this defense (repeatable)")
    iv.add_argument("--model", metavar="KIND",
                    help="the contract's model (default: a small perceptron)")
    iv.add_argument("--steps", type=_count_upto(MAX_STEPS), default=40,
                    help=f"steps per example (default 40, at most {MAX_STEPS:,})")
    iv.add_argument("--examples", type=_count_upto(MAX_EXAMPLES), default=100,
                    help="random sequences to try (default 100)")
    iv.add_argument("--random", action="store_true",
                    help="a fresh random search (default: reproducible)")
    iv.add_argument("--require", action="append", metavar="METHOD",
                    help="fail (exit 1) when a line of this method of the mechanism never ran, "
                    "e.g. --require check_refund (repeatable; all: every method counted)")
    iv.set_defaults(fn=cmd_invariants)
    _add_gas_parser(sub)
    pl = sub.add_parser("plugins", help="list installed agents, defenses, models and "
                        "mechanisms, or one kind's options")
    pl.add_argument("kinds", nargs="*", metavar="KIND",
                    help="show these kinds' options (name, type, default, meaning)")
    pl.set_defaults(fn=cmd_plugins)
    return p


#: Polars' allocator (jemalloc) keeps freed pages for about ten seconds by default; a run
#: builds its large tables one after another, so freed pages go back at once and the peak
#: memory of a large run is its largest table rather than their sum.  Read when polars loads
#: (so only in a process that has not loaded it yet); a setting of the user's own wins.
ALLOCATOR = ("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Warnings meant for the command's user (a plug-in left out) as one line each, without
    the Python source line the default format adds; others as usual."""
    from sumsim.registry import PluginWarning

    if issubclass(category, PluginWarning):
        print(f"warning: {message}", file=sys.stderr if file is None else file)
    else:
        _default_show_warning(message, category, filename, lineno, file, line)


_default_show_warning = warnings.showwarning


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill PID``, ``timeout``, a job scheduler): stopped as Ctrl-C stops a command,
    so that a sweep's workers, fork server and sidecar end with it instead of living on."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated


def _plugin_failure(e: Exception) -> str | None:
    """What to print when an installed (not built-in) plug-in's code failed: the error, its
    notes (which plug-in and method, which agent, when in the run) and whose bug it is,
    without sumsim's frames; None for any other exception (its traceback is printed) or when
    ``SUMSIM_TRACEBACK`` is set."""
    from sumsim.registry import culprit

    found = None if os.environ.get("SUMSIM_TRACEBACK") else culprit(e)
    if found is None or found[2].origin == "sumsim":
        return None
    _, group, plugin, module = found
    lines = [f"error: {type(e).__name__}: {e}"]
    lines += [f"  {note}" for note in getattr(e, "__notes__", ())]
    lines.append(f"a bug in the {group[:-1]} plug-in {plugin.kind!r} ("
                 f"{plugin.origin or 'registered from code'}, {module}); "
                 "SUMSIM_TRACEBACK=1 shows the traceback")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault(*ALLOCATOR)
    warnings.showwarning = _show_warning
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # (not the main thread: the caller's own handling applies)
        previous = None
    command = None
    try:
        args = build_parser().parse_args(argv)
        command = args.command
        return int(args.fn(args))
    except InputError as e:
        print(str(e), file=sys.stderr)
        return EXIT_INPUT
    except WorkerDied as e:
        print(str(e), file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt as e:
        hint = "; run the same command again to resume (every finished run is kept)" \
            if command in ("sweep", "search") else ""
        stopped = "terminated" if isinstance(e, Terminated) else "interrupted"
        print(stopped + hint, file=sys.stderr)
        return 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)
    except Exception as e:
        report = _plugin_failure(e)
        if report is None:
            raise  # (sumsim's own bug: the traceback is what to report)
        print(report, file=sys.stderr)
        return EXIT_FAIL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        warnings.showwarning = _default_show_warning


def program() -> NoReturn:
    """The ``sumsim`` command (and ``python -m sumsim``): :func:`main`, then out of the process
    without tearing the interpreter down.

    A large run leaves millions of objects behind (records, receipts, arrays); releasing them
    one by one at exit takes a tenth of a second or more, which the operating system does at
    once.  Every command closes what it writes before it returns; the standard streams are
    flushed here.  A reader that stops early (``sumsim run --list | head``) is not an error.
    An unexpected exception leaves the normal way, with its traceback.  (Numpy packages that
    no command uses are loaded only if used: :mod:`sumsim.startup`.)"""
    from sumsim.startup import defer_unused_numpy_packages

    defer_unused_numpy_packages()
    try:
        code = main()
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        # Nothing more can reach the reader; point the stream at nothing so that no later
        # flush fails either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_OK
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
