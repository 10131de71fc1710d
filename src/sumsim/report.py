"""Figures (matplotlib, headless): single runs and sweep tables."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sumsim.errors import InputError
from sumsim.io import atomic_write, make_folder

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sumsim.engine import RunResult


#: The most wallet lines a run figure draws: beyond it, the strategies that moved least are
#: summed into one line (a figure of thousands of lines takes seconds to draw and is
#: unreadable).
MAX_WALLET_LINES = 12


def run_figure_data(res: RunResult) -> dict[str, Any]:
    """What the run figure shows, as plain numbers and labels (no plotting library needed):
    built by the run's process, drawn by :func:`draw_run_figure` there or in a figure worker
    (:mod:`sumsim.sidecar`)."""
    rows = res.recorder.rows
    days = [r["day"] for r in rows]
    held: dict[str, int] = {}
    for rec in res.contract.data.records:  # deposits the contract still holds, by author
        held[rec.author] = held.get(rec.author, 0) + rec.claimable
    # One line per strategy: the addresses one strategy runs (a sybil's) are summed, so the
    # figure stays readable (and quick to draw) with thousands of them.
    groups: dict[str, list[Any]] = {}
    for a in res.agents:
        groups.setdefault(a.group, []).append(a)
    lines = []
    for group, members in groups.items():
        start = sum(a.initial_balance for a in members)
        if not start:
            continue
        names = [a.name for a in members]
        lines.append({"group": group, "members": members, "start": start,
                      "wallet": [sum(r[f"balance_wei:{n}"] for n in names) for r in rows],
                      "deposits": sum(held.get(n, 0) for n in names)})
    if len(lines) > MAX_WALLET_LINES:
        # Attackers first, then the strategies that moved most; the rest as one summed line.
        lines.sort(key=lambda w: (not w["members"][0].is_attacker,
                                  -abs(w["wallet"][-1] / w["start"] - 1) if rows else 0))
        kept, rest = lines[:MAX_WALLET_LINES - 1], lines[MAX_WALLET_LINES - 1:]
        members = [a for w in rest for a in w["members"]]
        kept.append({"group": f"{len(rest)} other strategies", "members": members,
                     "start": sum(w["start"] for w in rest),
                     "wallet": [sum(col) for col in zip(*(w["wallet"] for w in rest),
                                                        strict=True)],
                     "deposits": sum(w["deposits"] for w in rest)})
        lines = kept
    wallets = []
    for w in lines:
        members, start, wallet, deposits = w["members"], w["start"], w["wallet"], w["deposits"]
        first = members[0]
        net = None
        if deposits:
            net = (100.0 * (wallet[-1] + deposits) / start,
                   f"{w['group']} net at end (wallet + deposits held)")
        kinds = sorted({a.config.kind for a in members})
        what = first.config.kind if len(members) == 1 else \
            f"{', '.join(kinds)}, {len(members):,} addresses"
        wallets.append({"label": f"{w['group']} ({what})",
                        "style": "--" if all(a.is_attacker for a in members) else "-",
                        "pct": [100.0 * x / start for x in wallet], "net": net})
    sc = res.scenario
    cf = None
    if res.counterfactual_rows is not None:
        cf_rows = res.counterfactual_rows
        cf = ([r["day"] for r in cf_rows], [100 * r["accuracy"] for r in cf_rows])
    return {"title": f"{sc.scenario.name} — {sc.model.kind}, {sc.incentive.kind}, "
                     f"seed {res.seed}",
            "days": days, "wallets": wallets,
            "accuracy": [100 * r["accuracy"] for r in rows],
            "baseline": res.baseline_accuracy, "counterfactual": cf}


def draw_run_figure(data: dict[str, Any], path: Path | None = None) -> Figure:
    """Draw :func:`run_figure_data`'s figure (saved as PNG to ``path`` when given)."""
    # The object-oriented API (no pyplot): headless, no global state, faster to import.
    from matplotlib.figure import Figure

    days = data["days"]
    fig = Figure(figsize=(8, 6.5))
    ax_b, ax_a = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for w in data["wallets"]:
        (line,) = ax_b.plot(days, w["pct"], w["style"], lw=1.8, label=w["label"])
        if w["net"] is not None:
            net, label = w["net"]
            ax_b.plot([days[-1]], [net], marker="D", ms=6, color=line.get_color(),
                      linestyle="none", label=label)
    ax_b.axhline(100, color="0.6", lw=0.8)
    ax_b.set_ylabel("wallet (% of start)")
    ax_b.legend(loc="best", fontsize=9)
    ax_b.grid(alpha=0.3)
    ax_b.set_title(data["title"], fontsize=11)

    # Steps: each published accuracy holds until the next one (as the time average counts it)
    ax_a.plot(days, data["accuracy"], color="tab:green", lw=1.8, label="test accuracy",
              drawstyle="steps-post")
    baseline = data["baseline"]
    if baseline is not None:
        ax_a.axhline(100 * baseline, color="tab:green", ls=":", lw=1.2,
                     label=f"all-data baseline ({100 * baseline:.1f}%)")
    if data["counterfactual"] is not None:
        cf_days, cf_acc = data["counterfactual"]
        ax_a.plot(cf_days, cf_acc, color="0.5", lw=1.0, label="without attackers",
                  drawstyle="steps-post")
    ax_a.set_ylabel("accuracy (%)")
    ax_a.set_xlabel("time (days)")
    # Below the panel, in one row: inside it, it would hide the lines wherever they run
    # (an attacked model can end at the bottom of the panel).
    ax_a.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=3, fontsize=9,
                frameon=False)
    ax_a.grid(alpha=0.3)
    fig.tight_layout()
    if path is not None:
        atomic_write(path, lambda p: fig.savefig(p, dpi=120, format="png",
                                                 metadata={"Software": None}))
    return fig


def run_figure(res: RunResult, path: Path | None = None) -> Figure:
    """Balances as % of start and test accuracy over days, with the all-data baseline (saved as
    PNG to ``path`` when given)."""
    return draw_run_figure(run_figure_data(res), path)


# -- sweeps -----------------------------------------------------------------------------------
#: Metrics drawn by default when present (and varying) in a sweep table.
STANDARD_METRICS = (
    "accuracy.time_avg", "accuracy.min", "accuracy.final",
    "counterfactual.accuracy_damage_time_avg", "counterfactual.attacker_spend_eth_per_point_lost",
    "honest_deposits_lost_eth", "attacker_spend_eth", "defenses.total_cost_eth",
)


def standard_metrics(df: Any) -> list[str]:
    """The metrics the figures and paired differences show by default: the standard ones the
    table has, then each group's final share of its start and profit."""
    return [m for m in STANDARD_METRICS if m in df.columns] + _group_metrics(df)


def _group_metrics(df: Any) -> list[str]:
    cols = [c for c in df.columns if c.startswith("groups.") and
            (c.endswith(".final_pct_of_start") or c.endswith(".profit_eth"))]
    return sorted(cols)


def _finite(x: Any) -> bool:
    """A value that can enter a mean: not missing, not NaN, not infinite (an infinite value
    would turn the mean and the interval into inf or NaN; sumsim itself writes an undefined
    ratio as null, see :func:`sumsim.results.summary.json_safe`)."""
    if x is None:
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int too large for a float
        return False


def mean_ci(values: Any, level: float = 0.95) -> tuple[float, float, int]:
    """Mean and half-width of a Student-t confidence interval over seeds.

    Missing, NaN and infinite values are left out (``n`` counts the values used).  With one
    value there is no interval (the half-width is NaN: a spread cannot be estimated from one
    seed, and 0 would read as a difference resolved exactly); tables store it as null."""
    import numpy as np
    from scipy import stats

    v = np.asarray([x for x in values if _finite(x)], dtype=float)
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), 0
    if n == 1:
        return float(v[0]), float("nan"), 1
    half = stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / np.sqrt(n)
    return float(v.mean()), float(half), n


def _finished(df: Any, source: str | None = None) -> Any:
    """The rows of runs that finished (status ``"ok"``): only they have metrics to average.

    A table whose ``status`` column does not hold run statuses is not a sweep table; saying so
    beats a polars comparison error."""
    import polars as pl

    if "status" not in df.columns:
        raise InputError("not a sweep results table (no column 'status')", source=source)
    dtype = df.schema["status"]
    if dtype.base_type() not in (pl.String, pl.Categorical, pl.Enum):
        raise InputError(f"not a sweep results table: column 'status' holds {dtype} values, "
                         "not run statuses ('ok', 'failed')", source=source)
    return df.filter(pl.col("status").cast(pl.String) == "ok")


def metric_unit(name: str) -> str:
    """The unit a summary metric or swept parameter is counted in, as its name says ("" when
    the name does not say): for printed numbers and axis labels."""
    last = name.removeprefix("param:").rsplit(".", 1)[-1]
    for suffix, unit in (("_eth", "ETH"), ("_wei", "wei"), ("_gwei", "gwei"), ("_usd", "USD"),
                         ("_pct_of_start", "%"), ("_pct", "%"), ("_s", "s"), ("_gas", "gas")):
        if last.endswith(suffix):
            return unit
    if name == "gas.total":
        return "gas"
    if last.endswith("_per_point_lost"):
        return "ETH per point of accuracy"
    if "accuracy" in name:
        return "accuracy, 0-1"
    return ""


def _axis(name: str) -> str:
    """An axis label: the column's dotted path, with its unit when the name gives one (on
    more lines when long: a figure's height holds about 45 characters)."""
    unit = metric_unit(name)
    return _wrap(name.removeprefix("param:") + (f" ({unit})" if unit else ""), 45)


def _wrap(text: str, width: int) -> str:
    """``text`` on lines of about ``width`` characters, broken after a dot, comma, colon or
    space (a dotted metric path or a point's JSON table has no spaces to break at)."""
    import re

    lines, line = [], ""
    for token in re.findall(r"[^.,: ]+[.,: ]*|[.,: ]+", text):
        if line and len(line) + len(token.rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        line += token
    lines.append(line.rstrip())
    return "\n".join(lines)


def _numeric_metric(df: Any, metric: str, source: str | None = None,
                    field: str | None = None) -> None:
    """``metric`` must be a column of numbers (or booleans) to be averaged or subtracted."""
    import polars as pl

    if metric not in df.columns:
        raise InputError(f"no metric {metric!r} in this table", source=source, field=field)
    dtype = df.schema[metric]
    if not (dtype.is_numeric() or dtype == pl.Boolean):
        raise InputError(f"metric {metric!r} holds {dtype} values, not numbers",
                         source=source, field=field)


def aggregate(df: Any, params: list[str], metric: str) -> Any:
    """Per parameter combination: mean, CI half-width and count of ``metric`` over the seeds
    that finished.  Missing, NaN and infinite values are left out (``n`` counts the rest)."""
    import polars as pl

    _numeric_metric(df, metric)
    rows = []
    for key, part in _finished(df).group_by(params, maintain_order=True):
        m, h, n = mean_ci(part[metric].to_list())
        rows.append({**dict(zip(params, key, strict=True)), "mean": m,
                     "ci": h if n >= 2 else None, "n": n})
    out = pl.DataFrame(rows)
    return out.sort(params) if len(out) else out


def _show(values: list[Any]) -> str:
    """Values in order: numbers by size (3600 before 86400), anything else by its text; the
    points that leave the parameter unset as the quoted label that names them."""
    return ", ".join(repr(BASE_LABEL) if v is None else repr(v)
                     for v in sorted(values, key=_order))


def _same_number(text: Any, number: float) -> bool:
    """Whether the string ``text`` is a decimal number equal to ``number``."""
    from decimal import Decimal, InvalidOperation

    try:
        return isinstance(text, str) and Decimal(text) == Decimal(repr(number))
    except InvalidOperation:
        return False


def _matching(df: Any, name: str, value: Any, source: str | None = None) -> Any:
    """The value of column ``param:<name>`` equal to the reference ``value``, compared as the
    column's type: an int and a float of equal value match; a string never matches a number
    (nor a boolean a number); a table or list matches its canonical JSON text (how the sweep
    table stores one).  Raises :class:`InputError` naming the parameter and its values."""
    import polars as pl

    col = df[f"param:{name}"]
    present = col.unique().to_list()
    if value == BASE_LABEL and None in present:  # (the points that leave it unset)
        return None
    dtype = col.dtype
    given = value
    if isinstance(value, dict | list):
        given = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if dtype.is_numeric():
        ok_type = isinstance(given, int | float) and not isinstance(given, bool)
    elif dtype == pl.Boolean:
        ok_type = isinstance(given, bool)
    elif dtype.base_type() in (pl.String, pl.Categorical, pl.Enum):
        ok_type = isinstance(given, str)
    else:
        ok_type = True
    if not ok_type:
        hint = ""
        if isinstance(given, int | float) and not isinstance(given, bool) and \
                dtype.base_type() == pl.String:
            same = [v for v in present if _same_number(v, given)]
            if same:  # (an amount the sweep file wrote as a string, exact ether say)
                hint = f"; write it as the sweep does, quoted: {name}={json.dumps(same[0])}"
        raise InputError(f"{name}={value!r} is a {type(value).__name__}, but {name} holds "
                         f"{dtype} values: {_show(present)}{hint}", source=source,
                         field="--reference")
    for v in present:
        if v is not None and v == given:
            return v
    raise InputError(f"no run has {name}={value!r}; values: {_show(present)}",
                     source=source, field="--reference")


def _whole_tables(df: Any, reference: dict[str, Any], swept: list[str],
                  source: str | None) -> dict[str, Any]:
    """``reference`` with each entry naming a field inside a swept table (``incentive.kind``
    where the points give whole ``incentive`` tables) replaced by that table: the one value
    of the swept parameter whose field has the value given (several: an error naming them)."""
    out: dict[str, Any] = {}
    for key, value in reference.items():
        head = next((p for p in swept if key.startswith(f"{p}.")), None)
        if key in swept or head is None:
            out[key] = value
            continue
        field = key.removeprefix(f"{head}.")
        tables = [v for v in df[f"param:{head}"].unique().to_list() if isinstance(v, str)]
        hits = [text for text in tables if (_table(text) or {}).get(field) == value]
        if len(hits) != 1:
            which = "none of" if not hits else f"{len(hits)} of"
            raise InputError(f"{key}={value!r}: {which} the swept {head} tables "
                             f"({_show(tables)}) has {field} = {value!r}; expected exactly one "
                             f"(or give the whole table: {head}={{...}})", source=source,
                             field="--reference")
        out[head] = hits[0]
    return out


def paired_differences(df: Any, reference: dict[str, Any], metrics: list[str],
                       level: float = 0.95, *, source: str | None = None,
                       per_replicate: bool = False) -> Any:
    """Per point: the mean paired difference ``point - reference`` of each metric over the
    replicates both ran (the same seeds in a paired sweep), with a Student-t interval.

    ``per_replicate=True`` gives the pairs themselves instead, one row per point, replicate
    and metric (``replicate``, ``metric``, ``value``, ``reference``, ``diff``): the table a
    paper's per-seed appendix shows, paired exactly as the means are.

    ``reference`` fixes some swept parameters (dotted paths, without the ``param:``
    prefix).  Each point pairs with the reference point *of its own cell*: the point with the
    reference's values of the fixed parameters and the point's own values of every other
    (``{"incentive": {"kind": "deposit_refund_take"}}`` in a sweep over budget x wait whose
    points give each mechanism's table compares every other mechanism with DRT at the same
    budget and wait).  Fixing every
    varying parameter makes one reference point for all.  Each replicate of a point pairs
    with at most one reference run, so no difference counts twice.  A pair with a missing,
    NaN or infinite value is left out (``n`` counts the pairs used; a point whose cell has no
    finished reference run has ``n = 0``).  Bad input (a parameter not swept, a value no run
    has or of the wrong type, a table that is not a sweep table with replicates) raises
    :class:`InputError` (``source`` names the table)."""
    import polars as pl

    def bad(message: str, field: str | None = "--reference") -> InputError:
        return InputError(message, source=source, field=field)

    if not isinstance(reference, Mapping):
        raise bad(f"expected the fixed parameters as a table of dotted paths and values "
                  f"({{'agents[1].budget': 100}}), got {type(reference).__name__} "
                  f"{reference!r}")
    ok = _finished(df, source)
    if not ok.height:
        raise bad("no run finished (every row's status is other than 'ok'): no metric to "
                  "compare", field=None)
    if "replicate" not in df.columns:
        raise bad("not a sweep table with replicates (no column 'replicate'): paired "
                  "differences pair the runs of each point by replicate", field=None)
    params = [c for c in df.columns if c.startswith("param:")]
    swept = [p.removeprefix("param:") for p in params]
    reference = _whole_tables(df, dict(reference), swept, source)
    unknown = [k for k in reference if f"param:{k}" not in params]
    if unknown:
        raise bad(f"not swept: {', '.join(unknown)}; swept: {', '.join(swept) or 'none'}")
    fixed = {k: _matching(df, k, v, source) for k, v in reference.items()}
    cell = [p for p in params if p.removeprefix("param:") not in fixed]
    for m in metrics:
        _numeric_metric(df, m, source, field="--metric")
    if not params:  # one point only: the reference, nothing to compare with it
        return pl.DataFrame()
    ref = ok
    for k, v in fixed.items():
        ref = ref.filter(_where(f"param:{k}", v))
    if not ref.height:
        raise bad(f"no finished run at the reference point {reference}")
    rows = []
    others = paired = False
    # (every point of the table: one whose runs all failed is listed with n = 0)
    for key, every in df.group_by(params, maintain_order=True):
        point = dict(zip(params, key, strict=True))
        part = _finished(every)
        twice = part.filter(pl.col("replicate").is_duplicated())["replicate"].unique()
        if len(twice):
            where = ", ".join(f"{k.removeprefix('param:')}={v!r}" for k, v in point.items())
            raise bad(f"replicate {twice[0]} finished more than once at {where or 'the point'}"
                      ": a replicate must pair with one reference run", field=None)
        if all(point[f"param:{k}"] == v for k, v in fixed.items()):
            continue
        others = True
        own = ref
        for p in cell:  # (the reference runs of this point's cell)
            own = own.filter(_where(p, point[p]))
        joined = part.join(own, on="replicate", suffix="__ref")
        at = {k.removeprefix("param:"): v for k, v in point.items()}
        for m in metrics:
            pairs = [(r, a, b) for r, a, b in zip(joined["replicate"].to_list(),
                                                  joined[m].to_list(),
                                                  joined[m + "__ref"].to_list(), strict=True)
                     if _finite(a) and _finite(b)]
            paired = paired or bool(pairs)
            if per_replicate:
                rows += [{**at, "replicate": r, "metric": m, "value": a, "reference": b,
                          "diff": a - b} for r, a, b in pairs]
                continue
            mean, half, n = mean_ci([a - b for _, a, b in pairs], level)
            rows.append({**at, "metric": m, "mean_diff": mean if n else None,
                         "ci": half if n >= 2 else None, "n": n})
    if others and metrics and not paired:
        raise bad(f"no replicate of any other point pairs with a replicate of the reference "
                  f"point {reference} (with a finite value of the metrics): nothing to "
                  "compare; paired differences need the same replicates at every point (a "
                  "paired sweep)", field=None)
    return pl.DataFrame(rows)


#: How a point that leaves a swept parameter unset (a ``[[points]]`` entry without it: the base
#: scenario's value) is labelled on a figure.
BASE_LABEL = "(base)"


def _table(text: str) -> dict[str, Any] | None:
    """The table a swept value holds as JSON text (a point's whole ``incentive``, say), or
    None for any other value."""
    if not text.startswith("{"):
        return None
    try:
        table = json.loads(text)
    except ValueError:
        return None
    return table if isinstance(table, dict) else None


def _label(v: Any) -> str:
    """A tick or legend label for a swept value, on lines of about 30 characters; a point's
    table (held as JSON in the results table) reads as its kind with its options after it:
    ``deposit_refund_take (refund_wait_s=86400)``."""
    if v is None:
        return BASE_LABEL
    text = str(v)
    table = _table(text)
    if table:
        text = _table_label(table)
    elif text.startswith("[") and text.endswith("]"):  # (a list of tables: defenses, say)
        try:
            tables = json.loads(text)
        except ValueError:
            tables = None
        if isinstance(tables, list) and all(isinstance(t, dict) for t in tables):
            text = " + ".join(_table_label(t) for t in tables) if tables else "none"
    return _wrap(text, 30)


def _table_label(table: dict[str, Any]) -> str:
    """A table as its kind with its options after it."""
    table = dict(table)
    kind = table.pop("kind", None)
    options = ", ".join(f"{k}={x if isinstance(x, str) else json.dumps(x)}"
                        for k, x in table.items())
    return options if kind is None else f"{kind} ({options})" if options else str(kind)


def _positions(values: list[Any]) -> tuple[dict[Any, float], list[str] | None]:
    """Where each value of a swept parameter goes on the x axis, the same for every line of a
    figure: the values themselves when they are all numbers, else one evenly spaced slot per
    value (a point that leaves the parameter unset first, then the values in order) with its
    tick labels."""
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return {v: float(v) for v in sorted(values)}, None
    order = sorted(values, key=_order)
    return {v: float(i) for i, v in enumerate(order)}, [_label(v) for v in order]


def _order(v: Any) -> tuple[Any, ...]:
    """How a swept parameter's values are ordered on figures and in messages: a point that
    leaves it unset first, then by type, numbers by size and anything else by its text."""
    return (v is not None, str(type(v)), v if isinstance(v, int | float) else str(v))


def _where(col: str, value: Any) -> Any:
    """The rows whose column ``col`` equals ``value`` (a null for ``None``: a point that leaves
    the parameter unset, not "no row")."""
    import polars as pl

    return pl.col(col).is_null() if value is None else pl.col(col) == value


def _seeds(ns: list[int]) -> str:
    low, high = min(ns), max(ns)
    return f"{low} seed{'s' if low != 1 else ''}" if low == high else f"{low} to {high} seeds"


#: The most panels a sweep figure holds, one per combination of the values of the parameters
#: beyond the first two (more would be unreadable; the title says how many are left out).
MAX_PANELS = 12


def sweep_figures(df: Any, out_dir: str | Path, metrics: list[str] | None = None, *,
                  source: str | None = None) -> list[Path]:
    """Metric-vs-parameter plots with CI bands (one varying parameter, or one line per value
    of a second), and heatmaps for two-parameter grids.  Returns the files written.

    A third varying parameter (and any further) splits each figure into panels, one per
    combination of their values (at most :data:`MAX_PANELS`): a figure never averages over a
    parameter the sweep varied.  A point that leaves a swept parameter unset (the base
    scenario's value) is drawn as ``(base)``; the x axis is numeric when every value of the
    first parameter is a number (logarithmic when they are positive and span a factor of 100
    or more), else one slot per value, shared by every line, with points and error bars rather
    than lines (the order of named values means nothing)."""
    import numpy as np
    import polars as pl
    from matplotlib.figure import Figure

    params = [c for c in df.columns if c.startswith("param:") and df[c].n_unique() > 1]
    if metrics is None:
        metrics = standard_metrics(df)
    ok = _finished(df)  # a metric must vary among finished runs (a failed one's values are not)
    metrics = [m for m in metrics if m in df.columns and df[m].dtype.is_numeric()
               and len({v for v in ok[m].to_list() if _finite(v)}) > 1]
    written: list[Path] = []
    if not params or not metrics:  # (also when no run finished)
        return written
    for p in params:  # (NaN equals nothing: no point could be placed or matched)
        if df[p].dtype.is_float() and df[p].is_nan().any():
            raise InputError(f"column {p!r} holds NaN; expected the values the sweep ran",
                             source=source, field=p)
    out_dir = Path(out_dir)
    make_folder(out_dir)
    x = params[0]
    hue = params[1] if len(params) > 1 else None
    facets = _facets(df, params[2:])
    shown = facets[:MAX_PANELS]
    left_out = (f"; {len(shown)} of the {len(facets)} combinations of "
                f"{', '.join(p.removeprefix('param:') for p in params[2:])}"
                if len(shown) < len(facets) else "")
    where, ticks = _positions(df[x].unique().to_list())
    log_x = ticks is None and min(where.values()) > 0 and \
        max(where.values()) >= 100 * min(where.values())
    hues = [None] if hue is None else list(_positions(df[hue].unique().to_list())[0])
    for metric in metrics:
        fig, axes = _panels(Figure, len(shown))
        ns: list[int] = []  # runs behind each point, for the title
        # (a metric no run has below 0, a spend say, keeps its band above 0)
        floor = 0.0 if all(v >= 0 for v in ok[metric].to_list() if _finite(v)) else -np.inf
        uneven = len(set(aggregate(ok, params, metric)["n"].to_list())) > 1
        for ax, facet in zip(axes, shown, strict=True):
            sub = _select(df, facet)
            drawn = 0
            for k, h in enumerate(hues):
                part = sub if hue is None else sub.filter(_where(hue, h))
                agg = aggregate(part, [x], metric)
                if not len(agg):
                    continue
                ns += agg["n"].to_list()
                drawn += 1
                pos = [where[v] for v in agg[x].to_list()]
                order = np.argsort(pos, kind="stable")
                pos = [pos[i] for i in order]
                mean = agg["mean"].to_numpy()[order]
                # (no band where a point has one seed: its interval is null)
                ci = agg["ci"].cast(pl.Float64).fill_null(float("nan")).to_numpy()[order]
                label = None if hue is None else f"{hue.removeprefix('param:')} = {_label(h)}"
                low = np.maximum(mean - ci, floor)
                if ticks is None:
                    ax.plot(pos, mean, marker="o", lw=1.6, label=label)
                    ax.fill_between(pos, low, mean + ci, alpha=0.2)
                else:  # named values: side by side within a slot, no line between slots
                    shift = 0.08 * (k - (len(hues) - 1) / 2)
                    pos = [q + shift for q in pos]
                    ax.errorbar(pos, mean, yerr=np.nan_to_num([mean - low, ci]),
                                marker="o", ls="none", capsize=3, label=label)
                if uneven:  # (how many seeds each mean is over, where that differs)
                    for q, m, n in zip(pos, mean, agg["n"].to_numpy()[order], strict=True):
                        if n:  # (a point without a value is not drawn)
                            ax.annotate(f"n={n}", (q, m), textcoords="offset points",
                                        xytext=(4, 4 + 8 * k), fontsize=7, color="0.35")
            if ticks is not None:
                ax.set_xticks(range(len(ticks)), ticks, rotation=20)
            if log_x and drawn:
                ax.set_xscale("log")
            ax.set_xlabel(_axis(x))
            ax.set_ylabel(_axis(metric))
            if facet:
                ax.set_title(_facet_label(facet), fontsize=8)
            ax.grid(alpha=0.3)
            if not drawn:  # (every run of this panel failed, or none has the metric)
                ax.text(0.5, 0.5, "no finished run", transform=ax.transAxes, ha="center",
                        va="center", color="0.4")
            elif hue is not None:
                ax.legend(fontsize=8)
        clipped = "; bands cut at 0" if floor == 0.0 else ""
        _title(fig, axes, f"{metric} (mean, 95% CI over {_seeds(ns or [0])}{clipped}"
               f"{left_out})",
               bool(params[2:]))
        path = out_dir / f"{_slug(metric)}_vs_{_slug(x)}.png"
        _save(fig, path)
        written.append(path)
        if hue is not None:
            path = out_dir / f"{_slug(metric)}_heatmap.png"
            _heatmap(Figure, df, shown, (x, list(where)), (hue, hues), metric, path, left_out)
            written.append(path)
    return written


def _facets(df: Any, extra: list[str]) -> list[dict[str, Any]]:
    """Every combination of the values of the parameters ``extra`` that some run has, in
    order (a point leaving one unset first); ``[{}]`` when there are none."""
    if not extra:
        return [{}]

    combos = sorted(set(df.select(extra).iter_rows()),
                    key=lambda combo: tuple(map(_order, combo)))
    return [dict(zip(extra, c, strict=True)) for c in combos]


def _select(df: Any, facet: dict[str, Any]) -> Any:
    for col, value in facet.items():
        df = df.filter(_where(col, value))
    return df


def _facet_label(facet: dict[str, Any]) -> str:
    """A panel's title: its parameters' values, one per line beyond the panel's width."""
    import textwrap

    return textwrap.fill(", ".join(f"{c.removeprefix('param:')} = {_label(v)}"
                                   for c, v in facet.items()), width=48, break_long_words=False)


def _panels(figure: Any, n: int) -> tuple[Any, list[Any]]:
    """A figure of ``n`` panels (up to three a row) on one y scale; one panel keeps the
    single-plot size."""
    cols = min(3, n)
    rows = -(-n // cols)
    # (constrained layout: room for a suptitle and a colour bar shared by every panel)
    fig = figure(figsize=(7, 4.5) if n == 1 else (5.2 * cols, 3.8 * rows + 0.4),
                 layout="constrained")
    # (one y scale for every panel: the same height is the same value, as on a heatmap's
    # shared colour scale)
    grid = fig.subplots(rows, cols, squeeze=False, sharey=True)
    axes = [ax for row in grid for ax in row]
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def _title(fig: Any, axes: list[Any], title: str, panels: bool) -> None:
    # (on lines that fit the figure: a long metric path with its seeds would run off it)
    width = int(fig.get_figwidth() * 11)
    if panels:
        fig.suptitle(_wrap(title, width), fontsize=10)
    else:
        axes[0].set_title(_wrap(title, width), fontsize=10)


def _heatmap(figure: Any, df: Any, facets: list[dict[str, Any]], columns: tuple[str, list[Any]],
             rows: tuple[str, list[Any]], metric: str, path: Path, left_out: str) -> None:
    """Means of ``metric`` over the grid of two parameters, each given with its values in
    order (``(x, xs)`` across, ``(hue, hs)`` up): a panel per facet, on one colour scale (the
    same colour is the same value in every panel)."""
    import numpy as np

    (x, xs), (hue, hs) = columns, rows
    grids, counts, ns = [], [], []
    for facet in facets:
        agg = aggregate(_select(df, facet), [x, hue], metric)
        grid = np.full((len(hs), len(xs)), np.nan)
        count = np.zeros((len(hs), len(xs)), dtype=int)
        for r in agg.iter_rows(named=True):
            grid[hs.index(r[hue]), xs.index(r[x])] = r["mean"]
            count[hs.index(r[hue]), xs.index(r[x])] = r["n"]
            ns.append(r["n"])
        grids.append(grid)
        counts.append(count)
    uneven = len(set(ns)) > 1  # (then each cell says how many seeds its mean is over)
    finite = [v for g in grids for v in g.ravel() if v == v]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    fig, axes = _panels(figure, len(facets))
    im = None
    for ax, facet, grid, count in zip(axes, facets, grids, counts, strict=True):
        im = ax.imshow(grid, aspect="auto", origin="lower", cmap="viridis", vmin=lo, vmax=hi)
        ax.set_xticks(range(len(xs)), [_label(v) for v in xs], rotation=20)
        ax.set_yticks(range(len(hs)), [_label(v) for v in hs])
        ax.set_xlabel(_axis(x))
        ax.set_ylabel(_axis(hue))
        if facet:
            ax.set_title(_facet_label(facet), fontsize=8)
        for (i, j), v in np.ndenumerate(grid):
            if v == v:
                r, g, b, _ = im.cmap(im.norm(v))
                light = 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.5  # relative luminance
                ax.text(j, i, f"{v:.3g}" + (f"\nn={count[i, j]}" if uneven else ""),
                        ha="center", va="center", fontsize=8,
                        color="black" if light else "white")
            else:  # (no run of that cell, or none that gave the metric a value)
                ax.text(j, i, "no value", ha="center", va="center", fontsize=7, color="0.4")
    fig.colorbar(im, ax=axes, label=_axis(metric))
    _title(fig, axes, f"{metric} (mean over {_seeds(ns or [0])}{left_out})", bool(facets[0]))
    _save(fig, path)


def _save(fig: Any, path: Path) -> None:
    def write(p: Path) -> None:
        fig.savefig(p, dpi=110, format="png", metadata={"Software": None})

    atomic_write(path, write)


def _slug(name: str) -> str:
    """A file name spelled like the sweep column (``param:`` dropped; only a path separator
    would be replaced)."""
    return name.removeprefix("param:").replace("/", "_").replace("\\", "_")
