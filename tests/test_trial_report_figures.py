"""Figures of sweeps whose ``[[points]]`` leave a swept parameter unset (a null in its
``param:`` column: the base scenario's value), and the run figure's legend.

A null used to be compared with ``==`` (an error on an integer column; on a float column a line
labelled ``= None`` holding every run), and each line chose its own x positions (numbers for
one line, slots 0, 1, ... for a line with a null), so lines of one figure did not share an
axis.  The accuracy legend of a run figure sat inside the panel, over the lines of a model an
attack drove to the bottom of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest

import sumsim.report as report
from sumsim.report import BASE_LABEL, draw_run_figure, sweep_figures

X = "agents[1].budget"
HUE = "agents[1].interval_s.mean"
METRIC = "accuracy.time_avg"


def table(x: list[Any], hue: list[Any], metric: list[float]) -> pl.DataFrame:
    """Two replicates of each point, shaped like results.parquet."""
    rows = []
    for i, (xv, hv, m) in enumerate(zip(x, hue, metric, strict=True)):
        for r in range(2):
            rows.append({"run_index": 2 * i + r, "replicate": r, "seed": 10 + r,
                         f"param:{X}": xv, f"param:{HUE}": hv, "status": "ok",
                         METRIC: m + 0.01 * r})
    return pl.DataFrame(rows)


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The figures sweep_figures draws, by file name (nothing is written)."""
    figures: dict[str, Any] = {}
    monkeypatch.setattr(report, "_save", lambda fig, path: figures.__setitem__(path.name, fig))
    return figures


def lines(fig: Any) -> dict[str, tuple[list[float], list[float]]]:
    """Each drawn series by its label: x and y.  Named x values are drawn as error bars
    beside their slot (a small shift per line), read back as the slot."""
    ax = fig.axes[0]
    out = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in ax.lines
           if not ln.get_label().startswith("_")}
    for c in ax.containers:
        data = c.lines[0]
        xs = [float(round(x)) for x in data.get_xdata()]
        assert all(abs(x - round(x)) < 0.25 for x in data.get_xdata())
        out[c.get_label()] = (xs, list(data.get_ydata()))
    return out


def test_a_point_without_the_x_parameter_shares_the_axis(tmp_path: Path,
                                                          drawn: dict[str, Any]) -> None:
    # points: (budget 100, every 600 s), (budget unset, every 600 s), (budget 300, every hour)
    df = table([100, None, 300], [600, 600, 3600], [0.7, 0.5, 0.8])
    sweep_figures(df, tmp_path, [METRIC])
    fig = drawn[f"{METRIC}_vs_{X}.png"]
    got = lines(fig)
    # one slot per value, shared by both lines: (base), 100, 300
    assert got[f"{HUE} = 600"][0] == [0.0, 1.0]
    assert got[f"{HUE} = 600"][1] == pytest.approx([0.505, 0.705])
    assert got[f"{HUE} = 3600"][0] == [2.0]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == [BASE_LABEL, "100", "300"]
    assert "over 2 seeds" in fig.axes[0].get_title()  # not "2+ seeds"


@pytest.mark.parametrize("values", [[600, 3600], [600.0, 3600.0]], ids=["int", "float"])
def test_a_point_without_the_second_parameter_is_its_own_line(
        tmp_path: Path, drawn: dict[str, Any], values: list[Any]) -> None:
    df = table([100, 300, 100, 300, 300], [values[0], values[0], values[1], values[1], None],
               [0.70, 0.72, 0.60, 0.62, 0.40])
    written = sweep_figures(df, tmp_path, [METRIC])
    assert [p.name for p in written] == [f"{METRIC}_vs_{X}.png", f"{METRIC}_heatmap.png"]
    got = lines(drawn[f"{METRIC}_vs_{X}.png"])
    # the unset point is one line of its own run, not the mean of every run
    assert got[f"{HUE} = {BASE_LABEL}"] == ([300.0], [pytest.approx(0.405)])
    assert got[f"{HUE} = {values[0]}"][1] == pytest.approx([0.705, 0.725])
    heat = drawn[f"{METRIC}_heatmap.png"].axes[0]
    assert [t.get_text() for t in heat.get_yticklabels()] == [
        BASE_LABEL, str(values[0]), str(values[1])]


def test_the_accuracy_legend_is_below_the_panel() -> None:
    days = [0.0, 1.0, 2.0, 3.0]
    data = {"title": "t", "days": days,
            "wallets": [{"label": "good (honest)", "style": "-", "pct": [100.0] * 4,
                         "net": None}],
            "accuracy": [70.0, 45.0, 40.0, 41.0],  # an attacked model ends low
            "baseline": 0.75, "counterfactual": (days, [70.0, 72.0, 74.0, 75.0])}
    fig = draw_run_figure(data)
    fig.canvas.draw()
    ax = fig.axes[1]
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "test accuracy", "all-data baseline (75.0%)", "without attackers"]
    panel = ax.get_window_extent()
    box = legend.get_window_extent()
    assert box.y1 <= panel.y0  # below the panel: it hides no line
    assert box.y0 >= 0  # and inside the figure


def test_a_run_figure_of_many_strategies_sums_the_quietest(tmp_path: Path) -> None:
    """Beyond ``MAX_WALLET_LINES`` strategies, the run figure keeps the attackers and the
    strategies whose wallets moved most, and sums the rest into one line whose percentage is
    their wallets over their starts."""
    import sumsim
    from sumsim.report import MAX_WALLET_LINES, run_figure_data

    agents = "".join(
        f'[[agents]]\nname = "h{i}"\nkind = "honest"\nbalance = {100 + i}\n'
        f'interval_s = {{ dist = "exponential", mean = {3000 + 300 * i} }}\n\n'
        for i in range(20))
    agents += ('[[agents]]\nname = "bad"\nkind = "label_flip"\nbalance = 1000\n'
               'interval_s = { dist = "exponential", mean = 3600 }\n')
    path = tmp_path / "many.toml"
    path.write_text('[scenario]\nname = "many"\nseed = 1\n[data]\ndataset = "synthetic"\n'
                    '[data.synthetic]\nn_train = 400\nn_test = 200\n[model]\n'
                    'kind = "perceptron"\n[incentive]\nkind = "deposit_refund_take"\n'
                    '[metrics]\ncounterfactual = false\n' + agents)
    res = sumsim.run(path)
    data = run_figure_data(res.raw)
    wallets = data["wallets"]
    assert len(wallets) == MAX_WALLET_LINES
    assert wallets[0]["label"] == "bad (label_flip)" and wallets[0]["style"] == "--"
    other = wallets[-1]
    n_rest = 21 - (MAX_WALLET_LINES - 1)
    assert other["label"] == f"{n_rest} other strategies (honest, {n_rest} addresses)"
    shown = {w["label"].split(" ")[0] for w in wallets[:-1]}
    rest = [a for a in res.raw.agents if a.name not in shown]
    assert len(rest) == n_rest
    rows = res.raw.recorder.rows
    start = sum(a.initial_balance for a in rest)
    end = sum(rows[-1][f"balance_wei:{a.name}"] for a in rest)
    assert other["pct"][-1] == pytest.approx(100.0 * end / start)
    moved = [abs(rows[-1][f"balance_wei:{a.name}"] / a.initial_balance - 1)
             for a in res.raw.agents if a.name != "bad"]
    kept = sorted(moved, reverse=True)[:MAX_WALLET_LINES - 2]
    shown_moves = [abs(rows[-1][f"balance_wei:{n}"] / next(
        a.initial_balance for a in res.raw.agents if a.name == n) - 1)
        for n in shown - {"bad"}]
    assert sorted(shown_moves, reverse=True) == kept
    sumsim_fig = tmp_path / "f.png"
    res.figure(sumsim_fig)
    assert sumsim_fig.stat().st_size > 0


def test_a_swept_table_is_labelled_by_its_kind_and_options() -> None:
    """A point's table (JSON in the results table) reads as its kind and options on a figure,
    not as raw JSON; other values as written."""
    from sumsim.report import _label

    assert _label('{"kind":"deposit_refund_take","refund_wait_s":86400}') == \
        "deposit_refund_take\n(refund_wait_s=86400)"
    assert _label('{"kind":"points"}') == "points"
    assert _label('{"cost_weight":"0.01","owner":"x"}') == "cost_weight=0.01, owner=x"
    assert _label(100) == "100" and _label("{not json") == "{not json"
    assert _label(None) == BASE_LABEL


def test_a_swept_list_of_tables_is_labelled_by_their_kinds() -> None:
    """Swept defenses (a list of tables) read as their kinds joined, none as "none"."""
    from sumsim.report import _label

    assert _label('[{"kind":"rate_limit","window_s":3600},{"kind":"review_queue"}]') == \
        "rate_limit (window_s=3600) +\nreview_queue"
    assert _label("[]") == "none"
    assert _label("[1, 2]") == "[1, 2]"  # (a list of other values as written)


def test_seed_counts_show_where_they_differ_and_a_spend_band_stays_above_zero(
        drawn: dict[str, Any]) -> None:
    """A mean over fewer seeds than its neighbours says so (a ratio null where nothing was
    lost, say), an empty heatmap cell says it has no value, and the band of a metric no run
    has below 0 is cut at 0 rather than reaching values it cannot take."""
    rows = []
    for i, (xv, hv, values) in enumerate([(1, "a", [5.0, 500.0]), (2, "a", [5.0, 6.0]),
                                           (1, "b", [1.0, None]), (2, "b", [None, None])]):
        for r, v in enumerate(values):
            rows.append({"run_index": 2 * i + r, "replicate": r, "seed": 10 + r,
                         "param:x": xv, "param:h": hv, "status": "ok", "spend": v})
    sweep_figures(pl.DataFrame(rows), Path("unused"), ["spend"])
    fig = drawn["spend_vs_x.png"]
    ax = fig.axes[0]
    assert "bands cut at 0" in ax.get_title()
    notes = sorted(t.get_text() for t in ax.texts)
    assert notes == ["n=1", "n=2", "n=2"]  # (h = b at x = 2 has no value: no point)
    band = ax.collections[0].get_paths()[0].vertices
    assert band[:, 1].min() == 0.0  # (the mean 252.5 less its interval is far below 0)
    heat = drawn["spend_heatmap.png"].axes[0]
    cells = sorted(t.get_text() for t in heat.texts)
    assert cells == ["1\nn=1", "252\nn=2", "5.5\nn=2", "no value"]
