"""The generic input rules every section gets, the run guards, and the reproductions of the
bad inputs that used to hang, crash or write nonsense."""

from __future__ import annotations

import contextlib
import json
import re
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sumsim
from sumsim.cli import main
from sumsim.errors import DataError, InputError, RunCannotFinish, WallClockExceeded
from sumsim.scenario.loader import apply_overrides, bundled_text, load_scenario
from sumsim.units import MAX_WEI, to_wei

SHIPPED = sorted((Path(__file__).parents[1] / "scenarios").glob("*.toml"))
#: A quickstart that runs in a fraction of a second.
SMALL = {"data.max_pool": 40, "data.synthetic.n_train": 600, "data.synthetic.n_test": 300,
         "metrics.counterfactual": False, "metrics.figure": False}


def numeric_leaves(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted path, value) of every number in a TOML tree (booleans are not numbers)."""
    out: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out += numeric_leaves(v, f"{prefix}.{k}" if prefix else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += numeric_leaves(v, f"{prefix}[{i}]")
    elif isinstance(node, int | float) and not isinstance(node, bool):
        out.append((prefix, node))
    return out


def resolved(path: Path) -> dict[str, Any]:
    """A shipped scenario with every default written out (every field a run reads)."""
    return sumsim.load(path).model_dump(mode="json", exclude_none=True)


def all_numeric_fields() -> list[tuple[str, str]]:
    seen: dict[str, tuple[str, str]] = {}
    for path in SHIPPED:
        for field, _ in numeric_leaves(resolved(path)):
            generic = field.split("[")[0] + "|" + field.rsplit(".", 1)[-1]
            seen.setdefault(generic, (path.name, field))
    return sorted(seen.values())


NUMERIC = all_numeric_fields()


def test_the_shipped_scenarios_have_many_numeric_fields() -> None:
    assert len(NUMERIC) > 60


@pytest.mark.parametrize(("scenario", "field"), NUMERIC, ids=[f"{s}:{f}" for s, f in NUMERIC])
@pytest.mark.parametrize("value", [True, float("inf"), float("nan")], ids=["true", "inf", "nan"])
def test_no_numeric_field_takes_a_boolean_or_a_non_finite_number(
        scenario: str, field: str, value: Any) -> None:
    data = tomllib.loads((Path(__file__).parents[1] / "scenarios" / scenario).read_text())
    data = apply_overrides(sumsim.load(data).model_dump(mode="json", exclude_none=True),
                           {field: value})
    with pytest.raises(InputError) as err:
        sumsim.load(data)
    line = str(err.value)
    assert "\n" not in line and f": {field}: " in line, line
    assert ("boolean" if value is True else "finite") in line, line


def test_switches_take_only_booleans() -> None:
    for value in (1, 0, "yes", "true"):
        with pytest.raises(InputError, match=r"metrics\.baseline: expected true or false"):
            sumsim.load("quickstart", overrides={"metrics.baseline": value})


def test_integers_fit_in_64_bits() -> None:
    with pytest.raises(InputError, match=r"data\.synthetic\.seed: too large.*2\*\*63"):
        sumsim.load("quickstart", overrides={"data.synthetic.seed": 2**63})
    assert sumsim.load("quickstart", overrides={"scenario.seed": 2**63 - 1}).scenario.seed \
        == 2**63 - 1


# -- money -----------------------------------------------------------------------------------
def test_huge_amount_strings_are_rejected_at_once() -> None:
    start = time.perf_counter()
    for text in ("1e100000000", "-1e100000000", "1e-100000000", "0e100000000"):
        with contextlib.suppress(ValueError):
            to_wei(text)
    assert time.perf_counter() - start < 0.1
    assert to_wei("0e100000000") == 0
    with pytest.raises(ValueError, match="decimal places"):
        to_wei("1e-100000000")


@pytest.mark.parametrize(("field", "value"), [
    ("agents[0].balance", "1e100000000"), ("agents[0].balance", 1e20),
    ("agents[0].balance", "100000000000000000000"), ("chain.gas_price_gwei", 1e30),
    ("agents[1].budget", 10**21), ("incentive.cost_weight", "1e39")])
def test_amounts_above_the_column_bound_are_rejected(field: str, value: Any) -> None:
    with pytest.raises(InputError, match=rf"{field.replace('[', '.').replace(']', '.')}"
                                         r".*too large"):
        sumsim.load("quickstart", overrides={field: value})


def test_the_largest_amount_is_accepted_and_the_genesis_total_is_bounded() -> None:
    top = f"{MAX_WEI}e-18"
    sc = sumsim.load("quickstart", overrides={"agents[0].balance": top, "agents[1].balance": 0})
    assert sc.agents[0].balance == MAX_WEI
    with pytest.raises(InputError, match=r"agents: the money at genesis .* exceeds"):
        sumsim.load("quickstart", overrides={"agents[0].balance": top, "agents[1].balance": 1})


def test_a_run_with_amounts_near_the_bound_writes_its_tables(tmp_path: Path) -> None:
    big = f"{MAX_WEI // 2}e-18"
    res = sumsim.run("quickstart", overrides={**SMALL, "agents[0].balance": big,
                                              "agents[1].balance": big,
                                              "chain.gas_price_gwei": "1e18"})
    res.write(tmp_path, figure=False)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["agents"]["good"]["start_wei"] == MAX_WEI // 2


# -- sizes, rates and names --------------------------------------------------------------------
@pytest.mark.parametrize(("overrides", "field", "fragment"), [
    ({"data.synthetic.n_train": 1e10}, "data.synthetic.n_train", "less than or equal"),
    ({"data.synthetic.n_train": 10**6}, "data.synthetic.n_train", "fit in memory"),
    ({"model.learning_rate": 0.5}, "model.learning_rate", "not an integer"),
    ({"model.init_learning_rate": 2.5}, "model.init_learning_rate", "not an integer"),
    ({"model.epochs": 10**9}, "model.epochs", "at most 1000"),
    ({"metrics.eval_every_s": 1e-6}, "metrics.eval_every_s", "greater than or equal to 1"),
    ({"metrics.eval_every_s": 60}, "metrics.eval_every_s", "315.36"),
    ({"agents[0].interval_s": {"dist": "constant", "value": 0}}, "agents[0].interval_s",
     "at least 1 s"),
    ({"agents[0].interval_s": {"dist": "normal", "mean": 0, "sd": 1}}, "agents[0].interval_s",
     "0.398942"),
    ({"scenario.duration_s": 4e7}, "scenario.duration_s", "max_duration_s"),
    ({"scenario.name": "../../../x"}, "scenario.name", "output folder"),
    ({"scenario.name": ".hidden"}, "scenario.name", "output folder"),
    ({"chain.eth_usd_volatility": 1e300}, "chain.eth_usd_volatility", "less than"),
    ({"chain.base_fee.max_gwei": 0.5}, "chain.base_fee.max_gwei", "min_gwei"),
])
def test_values_that_cannot_run_are_rejected(overrides: dict[str, Any], field: str,
                                             fragment: str) -> None:
    with pytest.raises(InputError) as err:
        sumsim.load("quickstart", overrides=overrides)
    line = str(err.value)
    assert f": {field}: " in line and fragment in line, line


def test_a_short_sampling_period_is_fine_for_a_short_horizon() -> None:
    sc = sumsim.load("quickstart", overrides={"metrics.eval_every_s": 60,
                                              "scenario.max_duration_s": 60 * 86_400})
    assert sc.metrics.eval_every_s == 60


def test_deep_nesting_is_an_input_error() -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = {"a": deep}
    with pytest.raises(InputError, match="nested more than 32 levels"):
        sumsim.load({"agents": [], "extra": deep})


@pytest.mark.parametrize(("path", "message"), [
    ("=1", "dotted field path"), ("chain.block_time_s.x", "chain.block_time_s is a number"),
    ("agents..x", "dotted field path"),
    ("agents[9].balance", "no item .9.: agents is a list of 2 items"),
    ("agent[1].balance", "not a list of the scenario; did you mean .agents."),
    ("defenses[0].kind", r"the scenario has no defenses \(an empty list\): give the whole "
                         r"list, e\.g\. defenses = \[\{kind = \.\.\.\}\]")])
def test_bad_override_paths(path: str, message: str) -> None:
    data = tomllib.loads(bundled_text("quickstart"))
    with pytest.raises(InputError, match=message):
        apply_overrides(data, {path: 1})


# -- guards ------------------------------------------------------------------------------------
def test_a_run_that_cannot_make_progress_stops_naming_the_guard() -> None:
    start = time.perf_counter()
    with pytest.raises(RunCannotFinish) as err:
        sumsim.run("quickstart", overrides={**SMALL, "agents[0].balance": 0,
                                            "agents[1].balance": 0})
    assert time.perf_counter() - start < 20
    line = str(err.value)
    assert line.startswith("scenario.max_idle_s: made no progress for 2,592,000 s")
    assert "cannot pay for one more transaction: good, bad" in line


def test_agents_winding_down_far_apart_are_named_when_the_idle_guard_stops_a_run() -> None:
    """A thousand sybil addresses acting every 1,000 hours on average: each ends at its first
    turn once the pool is spent (progress, one by one), until the last two fall more than the
    idle wait apart; the message says who is still to end and when."""
    with pytest.raises(RunCannotFinish) as err:
        sumsim.run("quickstart", overrides={
            "data.max_pool": 120, "data.synthetic.n_train": 500, "data.synthetic.n_test": 200,
            "metrics.counterfactual": False,
            "agents[1]": {"kind": "sybil", "name": "syb", "balance": 10_000,
                          "addresses": 1000, "strategy": {"kind": "label_flip"}}})
    line = str(err.value)
    assert "no claim closed, no agent ended since day 297.0" in line
    assert ("1 agent(s) with nothing left to do end at their next turns, the last at day "
            "331.7 (turns far apart: long intervals, or a sybil's addresses each acting "
            "`addresses` times less often; see scale_interval)") in line


def test_a_counterfactual_that_cannot_make_progress_keeps_the_run_and_says_why() -> None:
    """The run itself finished: it is kept, its counterfactual metrics null (every key a
    finished counterfactual has, so a sweep's metrics stay names of the summary), and why."""
    res = sumsim.run("quickstart", overrides={**SMALL, "metrics.counterfactual": True,
                                              "agents[0].balance": 0})
    cf = res.summary["counterfactual"]
    assert cf.pop("unfinished").startswith(
        "scenario.max_idle_s: the counterfactual run (attackers removed) made no progress")
    assert cf and all(v is None for v in cf.values())
    whole = sumsim.run("quickstart", overrides={**SMALL, "metrics.counterfactual": True})
    assert set(whole.summary["counterfactual"]) == set(cf)
    assert res.summary["contract"]["contributions"] > 0  # (the attacker's: the run went on)


def test_a_run_that_never_ends_stops_at_the_simulated_time_cap() -> None:
    # The farmer copies others' data forever once the honest agent stops: progress, no end.
    overrides = {**SMALL, "data.max_pool": 200, "agents[0].stop_s": 86_400,
                 "scenario.max_duration_s": 40 * 86_400}
    with pytest.raises(RunCannotFinish, match=r"scenario\.max_duration_s: did not end within "
                                              r"3,456,000 s \(40 days\)"):
        sumsim.run("near-duplicate", overrides=overrides)


def test_a_run_whose_clock_stops_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent that takes its next turn without waiting keeps the clock at one instant, which
    neither simulated-time guard sees; the events-per-instant guard stops it."""
    import sumsim.engine as engine
    from sumsim.agents.honest import Honest

    monkeypatch.setattr(engine, "MAX_EVENTS_AT_ONE_INSTANT", 20_000)
    monkeypatch.setattr(Honest, "next_turn_s", lambda self: 0.0)
    start = time.perf_counter()
    with pytest.raises(RunCannotFinish) as err:
        sumsim.run("quickstart", overrides=SMALL)
    assert time.perf_counter() - start < 20
    assert re.match(r"agents: the run is stuck at simulated day \d+\.\d \([\d,]+\.\d{3} s\): "
                    r"[\d,]+ events there without the clock moving", str(err.value))
    # (the agent whose turns keep the clock still is named)
    assert "turns waiting at that instant: agent 'good'" in str(err.value)


@pytest.mark.parametrize("block_time_s", [1e-9, 0.0, 1e13])
def test_a_block_time_the_clock_cannot_step_by_is_refused(block_time_s: float) -> None:
    """Below a millisecond, slot times over a long run round to the instant they follow (the
    chain would seal the same slot forever)."""
    with pytest.raises(InputError, match="chain.block_time_s: Input should be"):
        sumsim.run("quickstart", overrides={"chain.block_time_s": block_time_s})


@pytest.mark.parametrize(("value", "message"), [
    ({"dist": "lognormal", "mean": 1, "sigma": 10}, r"median time between turns is 1\.93e-22 s"),
    ({"dist": "lognormal", "mean": 3600, "sigma": 4.5}, r"median time between turns is 0\.144 s"),
    ({"dist": "lognormal", "mean": 1, "sigma": 1.2}, r"median time between turns is 0\.487 s"),
])
def test_turns_whose_waits_are_nearly_all_tiny_are_refused(value: object, message: str) -> None:
    """A heavy tail can give a mean of an hour while almost every wait is a fraction of a
    second: the agent would spin (a log-normal's median is its mean times exp(-sigma**2 / 2))."""
    with pytest.raises(InputError, match=r"agents\[0\]\.interval_s: the " + message):
        sumsim.run("quickstart", overrides={"agents[0].interval_s": value})


@pytest.mark.parametrize("value", [{"dist": "lognormal", "mean": 3600, "sigma": 4},
                                   {"dist": "lognormal", "mean": 1, "sigma": 1},
                                   {"dist": "exponential", "mean": 1},
                                   {"dist": "uniform", "low": 0, "high": 2}])
def test_turns_with_a_median_of_half_a_second_or_more_are_accepted(value: object) -> None:
    sc = load_scenario(None, {"agents[0].interval_s": value})
    assert sc.agents[0].interval_s.median_s() >= 0.5


def test_a_deposit_timer_polling_faster_than_a_second_is_refused() -> None:
    with pytest.raises(InputError, match=r"agents\[1\]\.poll_s: Input should be greater than "
                                         r"or equal to 1"):
        sumsim.run("deposit-timing", overrides={"agents[1].poll_s": 0.0001})


def test_the_wall_clock_guard() -> None:
    with pytest.raises(WallClockExceeded, match="wall-clock allowance"):
        sumsim.run("quickstart", overrides={"metrics.counterfactual": False},
                   max_wall_s=1e-6)


def test_a_guarded_run_is_the_same_run() -> None:
    """The guards do not change a run that ends by itself (same event order)."""
    a = sumsim.run("quickstart", overrides=SMALL)
    b = sumsim.run("quickstart", overrides=SMALL, max_wall_s=600)
    assert a.summary == b.summary


# -- outputs -----------------------------------------------------------------------------------
def test_summary_json_is_strict_with_null_for_undefined_ratios(tmp_path: Path) -> None:
    res = sumsim.run("quickstart", overrides={**SMALL, "agents[1].balance": 0})
    res.write(tmp_path, figure=False)

    def refuse(token: str) -> None:
        raise AssertionError(f"summary.json holds {token}")

    summary = json.loads((tmp_path / "summary.json").read_text(), parse_constant=refuse)
    assert summary["agents"]["bad"]["start_wei"] == 0
    assert summary["agents"]["bad"]["final_pct_of_start"] is None
    assert summary["groups"]["bad"]["final_pct_of_start"] is None
    assert summary["agents"]["good"]["final_pct_of_start"] > 0


def test_zero_contributions_exit_0_with_a_warning(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "-q", "--set", "scenario.duration_s=0.5"]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "warning: no contribution was accepted" in err
    assert json.loads((out / "summary.json").read_text())["contract"]["contributions"] == 0


def test_a_scenario_that_cannot_finish_exits_2_and_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "-q", "--set", "agents[0].balance=0",
                 "--set", "agents[1].balance=0", "--set", "data.max_pool=40"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("<bundled quickstart>: scenario.max_idle_s: ") and \
        err.count("\n") == 1
    assert not out.exists()


def test_max_wall_s_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["run", "--out", str(out), "-q", "--max-wall-s", "0.000001"]) == 3
    assert "--max-wall-s" in capsys.readouterr().err
    assert not out.exists()


# -- tables ------------------------------------------------------------------------------------
def _csv_scenario(tmp_path: Path, csv: str, **data: Any) -> Path:
    (tmp_path / "d.csv").write_text(csv, encoding="utf-8")
    f = tmp_path / "s.toml"
    extra = "".join(f'{k} = "{v}"\n' for k, v in data.items())
    f.write_text('[data]\ndataset = "csv"\npath = "d.csv"\ntest_fraction = 0.3\n' + extra
                 + '\n[[agents]]\nname = "a"\nkind = "honest"\nbalance = 100\n',
                 encoding="utf-8")
    return f


def test_three_classes_with_a_binary_model_is_an_input_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = "x,label\n" + "".join(f"{i % 7},{i % 3}\n" for i in range(60))
    f = _csv_scenario(tmp_path, csv)
    assert main(["run", str(f), "-q", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{f}: model: ") and "binary" in err and "3 classes" in err


def test_continuous_labels_and_empty_texts_are_data_errors(tmp_path: Path) -> None:
    from sumsim.data.tabular import load_table

    (tmp_path / "c.csv").write_text("x,label\n" + "".join(f"{i},{i / 7}\n" for i in range(20)))
    with pytest.raises(DataError, match="labels look continuous"):
        load_table(tmp_path / "c.csv", label_column="label")
    (tmp_path / "m.csv").write_text("x,label\n" + "".join(f"{i},{i}\n" for i in range(200)))
    with pytest.raises(DataError, match="200 distinct labels"):
        load_table(tmp_path / "m.csv", label_column="label")
    (tmp_path / "e.csv").write_text("text,label\n" + "".join(f'"",{i % 2}\n' for i in range(20)))
    with pytest.raises(DataError, match="no words"):
        load_table(tmp_path / "e.csv", label_column="label", text_column="text")


def test_a_target_class_the_data_does_not_have_is_refused() -> None:
    """Every add would revert ("Unknown class."): a run that attacks nothing."""
    with pytest.raises(InputError, match=r"^agents\[1\]\.target_class"
                                         r": 5 is not a class of the dataset \(0 to 1\); "
                                         r"agent 'flipper'$"):
        sumsim.run("label-flip-drt", overrides={"agents[1].target_class": 5,
                                                "data.max_pool": 100})
    # inside a sybil, where the option is written
    with pytest.raises(InputError, match=r"agents\[2\]\.strategy\.target_class: 5 is not a "):
        sumsim.run("sybil-rate-limit", overrides={"agents[2].strategy.target_class": 5,
                                                  "data.max_pool": 100})
    sumsim.run("label-flip-drt", overrides={"agents[1].target_class": 1, "data.max_pool": 100,
                                            "metrics.counterfactual": False})


def test_more_market_test_pieces_than_test_samples_are_refused() -> None:
    """An empty piece scores nobody: the market would reward and charge no one."""
    with pytest.raises(InputError, match=r"incentive\.test_pieces: 3 pieces of 2 test samples"):
        sumsim.run("mechanisms-prediction-market",
                   overrides={"data.max_test": 2, "incentive.test_pieces": 3})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"data.path": "/somewhere/data.csv"},
     r"data\.path: the 'synthetic' dataset reads no file"),
    ({"chain.gas_price_model": "base_fee", "chain.base_fee.target": 5e-324},
     r"chain\.base_fee\.target: Input should be greater than or equal to 0\.01"),
    ({"metrics.eval_every_s": 9999999.999999998, "scenario.duration_s": 1e12,
      "scenario.max_duration_s": 1e12},
     r"9999999\.999999998 s would record up to 100,001 accuracy samples .* use at least "
     r"10000000\.0 s"),
])
def test_settings_that_would_be_ignored_or_misread_are_refused(overrides: dict[str, object],
                                                               message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_scenario(None, overrides)


def test_accuracy_sampling_that_would_be_mostly_evaluation_is_refused() -> None:
    """Samples x test rows is bounded (the schema bounds the samples alone): 100,001 samples of
    40,000 rows would be minutes of evaluation per run; the suggested period is accepted."""
    from types import SimpleNamespace

    import sumsim.engine as engine

    def check(every: float) -> None:
        sc = load_scenario(None, {"metrics.eval_every_s": every, "scenario.duration_s": 1e5})
        engine.check_evaluation(sc, SimpleNamespace(y_test=np.zeros(40_000)))  # type: ignore

    with pytest.raises(InputError, match=r"metrics\.eval_every_s: 1\.0 s would evaluate up to "
                                         r"4,000,040,000 test rows \(100,001 accuracy samples "
                                         r"by scenario\.duration_s x 40,000 test samples\); at "
                                         r"most 1,000,000,000: use at least 5 s"):
        check(1)
    check(5)
    with pytest.raises(InputError, match="would evaluate"):
        sumsim.run("quickstart", overrides={"metrics.eval_every_s": 1, "scenario.duration_s": 1e5,
                                            "data.synthetic.n_test": 40_000})


def test_agents_clearing_their_books_without_transactions_are_progress() -> None:
    """Thousands of sybil addresses, each waking days apart, clear the claims they watch for
    weeks after the last transaction: each claim they close is progress, so the idle guard
    lets the run end on its own (it stopped such runs as stuck), while a run in which nothing
    at all happens is still stopped (the test above)."""
    from sumsim.engine import run

    idle = 10 * 86_400.0
    sc = load_scenario("sybil-rate-limit", {
        "agents[2].addresses": 5000, "metrics.counterfactual": False,
        "data.synthetic.n_train": 600, "data.synthetic.n_test": 200,
        "metrics.eval_every_s": 864_000, "scenario.max_idle_s": idle})
    res = run(sc, seed=1)
    last_tx = max(res.chain.receipts.timestamp)
    assert res.end_time - last_tx > idle  # quiet for longer than the guard's limit...
    assert res.world.claims_closed > 0  # ...while the addresses closed their claims
    assert all(a.done() for a in res.agents)


@pytest.mark.parametrize("value", [1e308, 2.0**70])
def test_a_float_too_large_for_a_whole_number_field_says_so(value: float) -> None:
    """pydantic's own words spoke of "parsing an input string" for a number."""
    with pytest.raises(InputError) as err:
        load_scenario(None, {"scenario.seed": value})
    assert err.value.field == "scenario.seed"
    assert err.value.message.startswith("a whole number too large for this field (got ")


def test_validate_checks_that_a_table_the_scenario_reads_is_there(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``validate`` passed a CSV scenario whose file was missing or empty: only the run
    found out."""
    from sumsim.cli import main

    scenario = tmp_path / "v.toml"
    scenario.write_text('[scenario]\nname = "t"\n[data]\ndataset = "csv"\npath = "d.csv"\n'
                        'label_column = "label"\n[[agents]]\nname = "g"\nkind = "honest"\n'
                        'balance = 10\n')
    assert main(["validate", str(scenario)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{scenario}: data.path: {tmp_path / 'd.csv'}: No such file or directory")
    (tmp_path / "d.csv").write_text("")
    assert main(["validate", str(scenario)]) == 2
    assert "not a non-empty file" in capsys.readouterr().err
    (tmp_path / "d.csv").write_text("a,label\n1,0\n2,1\n")
    assert main(["validate", str(scenario)]) == 0


def test_a_misspelt_top_level_table_is_matched_against_the_files_tables(tmp_path: Path) -> None:
    """``[modle]`` was matched against every field of the schema: "did you mean 'mode'"."""
    path = tmp_path / "t.toml"
    path.write_text('[scenario]\nname = "t"\n[modle]\nkind = "perceptron"\n[[agents]]\n'
                    'name = "g"\nkind = "honest"\nbalance = 10\n')
    with pytest.raises(InputError, match=r"modle: unknown field; did you mean 'model'\?$"):
        load_scenario(path)


def test_numpy_numbers_are_amounts_as_python_numbers_are() -> None:
    """A grid made with numpy (np.linspace) gives numpy scalars: amounts take them exactly as
    the Python numbers they equal (a float's repr names its numpy type, which a decimal
    parse of the repr refused), and a numpy boolean stays refused."""
    import sumsim
    from sumsim.units import to_wei

    assert to_wei(np.float64(300)) == to_wei(300.0) == 300 * 10**18
    assert to_wei(np.float32(0.5)) == 5 * 10**17 and to_wei(np.int64(3)) == 3 * 10**18
    with pytest.raises(ValueError, match="got bool"):
        to_wei(np.bool_(True))
    budgets = list(np.linspace(100, 300, 3))
    for b in budgets:
        sc = sumsim.load("quickstart", overrides={"agents[1].budget": b})
        assert sc.agents[1].budget == int(b) * 10**18
