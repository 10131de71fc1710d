"""`sumsim search`: worst-case search with Optuna on paired seeds, resumable, with a runnable
best scenario."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import tomli_w

import sumsim
from sumsim.cli import main
from sumsim.errors import InputError
from sumsim.searches import RUNS, load_search, run_search
from sumsim.sweeps import derive_seed

ROOT = Path(__file__).parents[1]
#: A quickstart small enough that a run takes a few hundredths of a second.
TINY = {"data.max_pool": 120, "data.synthetic.n_train": 500, "data.synthetic.n_test": 300,
        "metrics.figure": False, "metrics.eval_every_s": 86_400}


def write_search(folder: Path, *, trials: int = 6, seeds: int = 2,
                 objectives: list[dict[str, Any]] | None = None,
                 space: dict[str, Any] | None = None, **extra: Any) -> Path:
    doc = {
        "search": {"name": "t", "base": "quickstart", "seeds": seeds, "trials": trials,
                   **extra},
        "overrides": TINY,
        "objectives": objectives or [
            {"metric": "counterfactual.accuracy_damage_time_avg", "direction": "maximize"},
            {"metric": "attacker_spend_eth", "direction": "minimize"}],
        "space": space or {
            "agents[1].budget": {"low": 20, "high": 3000, "log": True},
            "agents[1].interval_s.mean": {"low": 300, "high": 5000, "log": True},
            "agents[1].target_class": {"choices": [0, 1]}},
    }
    path = folder / "search.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def test_search_writes_trials_front_and_a_best_scenario_that_reproduces(tmp_path: Path) -> None:
    search = load_search(write_search(tmp_path))
    res = run_search(search, tmp_path / "out", executor="local")
    assert res.trials.height == 6
    assert set(res.trials["state"]) == {"COMPLETE"}
    for c in ("param:agents[1].budget", "mean:counterfactual.accuracy_damage_time_avg",
              "ci:attacker_spend_eth"):
        assert c in res.trials.columns
    assert 1 <= res.pareto.height <= 6
    # the front is non-dominated: no trial beats a front member on both objectives
    d, s = "mean:counterfactual.accuracy_damage_time_avg", "mean:attacker_spend_eth"
    for f in res.pareto.iter_rows(named=True):
        assert not res.trials.filter((pl.col(d) > f[d]) & (pl.col(s) < f[s])).height
    assert (tmp_path / "out" / "pareto.png").read_bytes()[:4] == b"\x89PNG"
    # every candidate ran on the same paired seeds
    runs = [json.loads(ln) for ln in (tmp_path / "out" / RUNS).read_text().splitlines()]
    seeds = [derive_seed(0, {}, r) for r in range(2)]
    assert sorted({r["seed"] for r in runs}) == sorted(seeds) and len(runs) == 12
    # best.toml runs as it is and gives the damage its header reports for that seed
    text = res.best_toml.read_text() if res.best_toml else ""
    line = next(ln for ln in text.splitlines() if "(the seed set below)" in ln)
    reported = float(line.split("counterfactual.accuracy_damage_time_avg = ")[1].split(",")[0])
    assert tomllib.loads(text)["scenario"]["seed"] == seeds[0]
    rerun = sumsim.run(res.best_toml)
    assert rerun.summary["counterfactual"]["accuracy_damage_time_avg"] == pytest.approx(
        reported, rel=1e-5)


def test_resume_continues_the_same_study_without_rerunning(tmp_path: Path) -> None:
    path = write_search(tmp_path, trials=6)
    out = tmp_path / "out"
    first = run_search(load_search(path), out, executor="local", trials=3)
    assert first.trials.height == 3
    ran: list[int] = []
    second = run_search(load_search(path), out, executor="local",
                        on_trial=lambda r: ran.append(r["trial"]))
    assert second.trials.height == 6 and ran == [3, 4, 5]
    assert second.trials.head(3).equals(first.trials)  # finished trials kept as they were
    # the resumed sampler goes on with new candidates (restarted from the search seed, it
    # proposed the first trials again) ...
    space = [c for c in second.trials.columns if c.startswith("param:")]
    candidates = second.trials.select(space).rows()
    assert len(set(candidates)) == 6, candidates
    # ... the very ones a search run in one go proposes, whatever its number of workers
    whole = run_search(load_search(path), tmp_path / "whole", executor="local", workers=4)
    assert whole.trials.equals(second.trials), (whole.trials, second.trials)
    # a different space cannot resume into this folder
    other = write_search(tmp_path, space={"agents[1].budget": {"low": 1, "high": 2}})
    with pytest.raises(InputError, match=r"holds another search \(differing in space\); use "
                       r"another --out \(or the search file that made it\)"):
        run_search(load_search(other), out, executor="local")
    bounded = write_search(tmp_path, trials=7)
    doc = tomllib.loads(bounded.read_text())
    doc["constraints"] = [{"metric": "attacker_spend_eth", "max": 5}]
    bounded.write_text(tomli_w.dumps(doc))
    with pytest.raises(InputError, match=r"\(differing in constraints\)"):
        run_search(load_search(bounded), out, executor="local")


@pytest.mark.parametrize("version", ["0.0.1", None])
def test_a_search_of_another_sumsim_version_is_not_resumed(tmp_path: Path,
                                                          version: str | None) -> None:
    """Its finished trials were scored by that version's rules and gas: refused, kept."""
    path = write_search(tmp_path, trials=2, seeds=1)
    out = tmp_path / "out"
    run_search(load_search(path), out, executor="local")
    stamp = out / "search.json"
    data = json.loads(stamp.read_text())
    assert data["version"] == sumsim.__version__
    del data["version"]
    if version is not None:
        data["version"] = version
    stamp.write_text(json.dumps(data))
    made_by = "sumsim 0.0.1" if version else "an earlier sumsim"
    with pytest.raises(InputError, match=f"a search made by {made_by}") as e:
        run_search(load_search(path), out, executor="local", trials=3)
    assert "another --out" in str(e.value) and e.value.source == str(out)
    assert json.loads(stamp.read_text()) == data  # (the folder is left as it was)


def test_search_killed_with_sigkill_resumes_losing_no_finished_run(tmp_path: Path) -> None:
    path = write_search(tmp_path, trials=10, seeds=2)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sumsim", "search", str(path), "--out", str(out),
           "--executor", "local", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    runs = out / RUNS
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if runs.exists() and len(runs.read_text().splitlines()) >= 5:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {json.loads(ln)["run_id"] for ln in runs.read_text().splitlines()
              if ln.endswith("}")}
    assert 5 <= len(before) < 20
    res = run_search(load_search(path), out, executor="local")
    complete = res.trials.filter(pl.col("state") == "COMPLETE")
    # the trial the kill interrupted is failed, named and asked again; it does not count
    failed = res.trials.filter(pl.col("state") == "FAIL")
    assert complete.height == 10 and failed.height <= 1
    assert failed["error"].str.starts_with("interrupted").all()
    # the candidates are those of a search run in one go
    whole = run_search(load_search(path), tmp_path / "whole", executor="local")
    space = [c for c in whole.trials.columns if c.startswith("param:")]
    assert complete.select(space).equals(whole.trials.select(space))
    after = [json.loads(ln)["run_id"] for ln in runs.read_text().splitlines()]
    assert before <= set(after)
    assert len(after) == len(set(after))  # no finished run was run twice


def test_conditional_parameters_and_the_strategy_kind(tmp_path: Path) -> None:
    """The strategy itself is a categorical; a parameter only applies to its own kind."""
    path = write_search(tmp_path, trials=5, seeds=1, objectives=[
        {"metric": "accuracy.time_avg", "direction": "minimize"}], space={
        "agents[1].kind": {"choices": ["label_flip", "boundary"]},
        "agents[1].candidates": {"low": 20, "high": 60, "int": True,
                                 "when": {"agents[1].kind": "boundary"}},
        "agents[1].budget": {"low": 50, "high": 500}})
    res = run_search(load_search(path), tmp_path / "out", executor="local")
    assert set(res.trials["state"]) == {"COMPLETE"}
    for r in res.trials.iter_rows(named=True):
        assert (r["param:agents[1].candidates"] is None) == (r["param:agents[1].kind"] !=
                                                             "boundary")
    assert res.pareto.height == 1  # one objective: the best trial


def test_a_space_point_that_cannot_run_is_named_before_any_run(tmp_path: Path) -> None:
    path = write_search(tmp_path, space={"agents[1].kind": {"choices": ["label_flip",
                                                                        "boundary"]},
                                         "agents[1].target_class": {"choices": [0, 1]}})
    with pytest.raises(InputError, match=r"space point .*boundary.*target_class"):
        load_search(path)
    bad = tmp_path / "bad.toml"
    bad.write_text('[search]\nbase = "quickstart"\n[[objectives]]\nmetric = "x"\n'
                   '[space]\n"agents[1].budget" = { low = 5 }\n')
    assert main(["search", str(bad)]) == 2


@pytest.mark.parametrize(("param", "bad"), [
    ({"low": 0, "high": 1.5}, "1.5"),            # above the field's maximum (1)
    ({"low": 0, "high": 3, "step": 2}, "2"),     # the top step, not high itself
    ({"low": -1, "high": 1}, "-1")])             # below its minimum (0)
def test_either_end_of_a_range_outside_the_field_is_named_before_any_run(
        tmp_path: Path, param: dict[str, Any], bad: str) -> None:
    """A range reaching past what its field allows would only show as failed trials: both of
    its ends (the highest value a step reaches, for a stepped range) are checked up front."""
    path = write_search(tmp_path, space={"agents[0].mistake_rate": param})
    with pytest.raises(InputError, match=rf"space point {{'agents\[0\]\.mistake_rate': "
                       rf"{bad}}}: .*mistake_rate"):
        load_search(path)


def test_a_choice_listed_twice_or_an_empty_feasible_band_is_refused(tmp_path: Path) -> None:
    """A repeated choice weights the sampler silently (a sweep refuses repeated values too);
    a constraint whose min is above its max makes every trial infeasible."""
    with pytest.raises(InputError, match=r"space\.agents\[1\]\.target_class\.choices: 1\.0 is "
                       r"listed twice"):
        load_search(write_search(tmp_path, space={"agents[1].target_class": {"choices": [1, 0,
                                                                                   1.0]}}))
    path = write_search(tmp_path, constraints=[])
    doc = path.read_text() + '\n[[constraints]]\nmetric = "accuracy.final"\nmin = 1\nmax = 0\n'
    path.write_text(doc)
    with pytest.raises(InputError, match=r"constraints\[0\]\.min: min \(1\) is above max "
                       r"\(0\)"):
        load_search(path)


@pytest.mark.parametrize("space_path", ["data.max_pool", "data"])
def test_a_fixed_override_the_space_would_replace_is_refused(tmp_path: Path,
                                                             space_path: str) -> None:
    """An override of a path the space sets (or a table holding it) would be replaced in
    every trial without a word, as a sweep refuses a grid and points setting one path."""
    space = {space_path: {"choices": [100, 120] if space_path != "data" else
                          [{"max_pool": 100}, {"max_pool": 120}]}}
    with pytest.raises(InputError, match=rf"overrides\.data\.max_pool: the space's parameter "
                                         rf"'{space_path}' sets this in every trial"):
        load_search(write_search(tmp_path, space=space))


def test_an_objective_listed_twice_is_refused(tmp_path: Path) -> None:
    twice = [{"metric": "attacker_spend_eth", "direction": "minimize"},
             {"metric": "attacker_spend_eth", "direction": "maximize"}]
    with pytest.raises(InputError, match=r"objectives\[1\]\.metric: 'attacker_spend_eth' is "
                                         r"already objectives\[0\]"):
        load_search(write_search(tmp_path, objectives=twice))


def test_search_from_python_with_a_dict(tmp_path: Path) -> None:
    spec = {"search": {"name": "py", "seeds": 1, "trials": 3}, "overrides": TINY,
            "objectives": [{"metric": "accuracy.min", "direction": "minimize"}],
            "space": {"agents[1].budget": {"low": 10, "high": 1000, "log": True}}}
    res = sumsim.search(spec, base="quickstart", out=tmp_path / "py", executor="local")
    assert res.trials.height == 3 and res.best is not None
    assert res.best_toml is not None and res.best_toml.exists()


def test_shipped_quick_search_is_valid() -> None:
    search = load_search(ROOT / "benchmarks" / "search" / "quick.toml")
    assert search.spec.search.trials * search.spec.search.seeds <= 60


def test_the_api_names_are_functions_whatever_is_imported() -> None:
    import sumsim.searches
    import sumsim.sweeps  # noqa: F401

    for name in sumsim.__all__:
        assert getattr(sumsim, name) is getattr(sumsim.api, name)
    assert callable(sumsim.sweep) and callable(sumsim.search) and callable(sumsim.run)


# -- bad search files are refused before any trial runs --------------------------------------
def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], space: dict[str, Any],
            match: str) -> None:
    """The search file is an input error (exit 2, one line naming the file and the field)
    and nothing ran: the output folder was not even made."""
    path = write_search(tmp_path, space=space)
    with pytest.raises(InputError, match=match):
        load_search(path)
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["search", str(path), "--out", str(out), "--executor", "local", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(str(path)) and "\n" not in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(("bound", "side"), [
    ({"low": 0, "high": 1e300}, "high"), ({"low": 1, "high": 1e300, "log": True}, "high"),
    ({"low": -(2**63), "high": 0}, "low"), ({"low": 0, "high": 2**63 - 1}, "high"),
    ({"low": 0, "high": 2**53 + 1}, "high")])
def test_integer_bounds_beyond_what_optuna_holds_exactly_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], bound: dict[str, Any],
        side: str) -> None:
    """1e300 overflowed the trials table after every run; 2**63 - 1 ran as itself but was
    recorded (and written to best.toml) as 2**63: Optuna keeps parameters as float64."""
    refused(tmp_path, capsys, {"data.synthetic.seed": {**bound, "int": True}},
            rf"space\.data\.synthetic\.seed\.{side}: .*within \+-2\*\*53.*got {side} = ")


def test_integer_bounds_at_the_limit_run_and_are_recorded_as_run(tmp_path: Path) -> None:
    from sumsim.searches import Param

    Param.model_validate({"low": -(2**53), "high": 2**53, "int": True})
    ran: list[int] = []
    for low in (0, 2**53):
        path = write_search(tmp_path, trials=2, seeds=1, objectives=[
            {"metric": "accuracy.min", "direction": "minimize"}], space={
            "data.synthetic.seed": {"low": low, "high": 2**53, "int": True}})
        ran.clear()
        res = run_search(load_search(path), tmp_path / f"out{low}", executor="local",
                         on_trial=lambda r: ran.append(r["params"]["data.synthetic.seed"]))
        assert res.trials["param:data.synthetic.seed"].to_list() == ran
        assert all(low <= v <= 2**53 for v in ran) and set(res.trials["state"]) == {"COMPLETE"}


@pytest.mark.parametrize("bound", [{"low": 0.5, "high": 0.7}, {"low": 0, "high": 2.5}])
def test_integer_bounds_must_be_whole_numbers(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str],
                                              bound: dict[str, Any]) -> None:
    """low = 0.5, high = 0.7 was truncated to [0, 0]: every trial ran 0, outside the range."""
    side = "low" if bound["low"] else "high"
    refused(tmp_path, capsys, {"agents[1].candidates": {**bound, "int": True}},
            rf"agents\[1\]\.candidates\.{side}: .*whole-number bounds, got {side} = ")


@pytest.mark.parametrize("step", [0.5, 1.5])
def test_an_integer_step_must_be_a_positive_whole_number(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], step: float) -> None:
    """step = 0.5 became 0, which Optuna refused in the first trial (a traceback)."""
    refused(tmp_path, capsys, {"agents[1].candidates": {"low": 1, "high": 5, "int": True,
                                                        "step": step}},
            rf"candidates\.step: .*whole-number step .*got step = {step}")


@pytest.mark.parametrize(("param", "match"), [
    ({"low": 0, "high": 1, "step": 5e-324}, r"step: .*at most 1e\+15 steps, got step = 5e-324"),
    ({"low": 0, "high": 1, "step": 1e-15 / 2}, r"step: .*at most 1e\+15 steps"),
    ({"low": 0, "high": 1, "step": 2}, r"step: .*exceed the range high - low = 1, got step = 2"),
    ({"low": 1, "high": 5, "int": True, "step": 5}, r"step: .*must not exceed the range"),
    ({"low": 1, "high": 5, "log": True, "step": 1}, r"step: a log-scaled range takes no step"),
    ({"low": -1e308, "high": 1e308}, r"high: the range high - low must be a finite"),
])
def test_a_step_optuna_cannot_use_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             param: dict[str, Any], match: str) -> None:
    """A 5e-324 step failed inside Optuna's decimal arithmetic (decimal.InvalidOperation);
    a step beyond the range quietly searched low alone."""
    refused(tmp_path, capsys, {"agents[1].budget": param}, r"agents\[1\]\.budget\." + match)


def test_steps_at_the_limits_run(tmp_path: Path) -> None:
    load_search(write_search(tmp_path, space={"agents[1].budget": {"low": 0, "high": 1,
                                                                   "step": 1e-15}}))
    path = write_search(tmp_path, trials=3, seeds=1, objectives=[
        {"metric": "accuracy.min", "direction": "minimize"}], space={
        "agents[1].budget": {"low": 100, "high": 200, "step": 100},
        "agents[1].candidates": {"low": 20, "high": 60, "int": True, "step": 40},
        "agents[1].kind": {"choices": ["boundary"]}})
    res = run_search(load_search(path), tmp_path / "out", executor="local")
    assert set(res.trials["state"]) == {"COMPLETE"}
    assert set(res.trials["param:agents[1].budget"]) <= {100, 200}
    assert set(res.trials["param:agents[1].candidates"]) <= {20, 60}


KIND = {"choices": ["label_flip", "boundary"]}
CANDIDATES = {"low": 20, "high": 60, "int": True}


@pytest.mark.parametrize(("space", "match"), [
    ({"agents[1].kind": KIND, "agents[1].candidates": {**CANDIDATES, "when": {"nope": 1}}},
     r"'nope' is not a parameter of the space; expected one of .*'agents\[1\]\.kind'"),
    ({"agents[1].candidates": {**CANDIDATES, "when": {"agents[1].kind": "boundary"}},
      "agents[1].kind": KIND}, r"'agents\[1\]\.kind' must come before"),
    ({"agents[1].kind": KIND, "agents[1].candidates": {
        **CANDIDATES, "when": {"agents[1].kind": "boundry"}}},
     r"'agents\[1\]\.kind' = 'boundry' never occurs: its choices are"),
    ({"agents[1].budget": {"low": 10, "high": 20, "int": True}, "agents[1].candidates": {
        **CANDIDATES, "when": {"agents[1].budget": 30}}}, r"never occurs: it ranges from 10"),
    ({"agents[1].budget": {"low": 10, "high": 20}, "agents[1].candidates": {
        **CANDIDATES, "when": {"agents[1].budget": 15}}}, r"never occurs: a continuous range"),
])
def test_a_when_that_can_never_hold_is_refused(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str],
                                               space: dict[str, Any], match: str) -> None:
    """A when naming no parameter (or one chosen later, or a value it never takes) left its
    parameter silently unsearched."""
    refused(tmp_path, capsys, space, r"space\.agents\[1\]\.candidates\.when: .*" + match)


@pytest.mark.parametrize(("extra", "field"), [
    ({}, "objectives[0].metric"),
    ({"constraints": [{"metric": "accuracy.mni", "max": 1}]}, "constraints[0].metric"),
    ({"record": ["accuracy.mni"]}, "search.record[0]")])
def test_an_unknown_metric_stops_the_search_after_the_first_trial(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: dict[str, Any],
        field: str) -> None:
    """Every trial failed and the command still said "6 trials (0 complete)" with exit 0 (an
    unknown constraint metric made every trial infeasible, an unknown record metric empty)."""
    path = write_search(tmp_path, trials=6, seeds=1, objectives=[
        {"metric": "accuracy.min" if extra else "accuracy.mni", "direction": "minimize"}],
        record=extra.get("record", []))
    if "constraints" in extra:
        doc = tomllib.loads(path.read_text())
        path.write_text(tomli_w.dumps({**doc, "constraints": extra["constraints"]}))
    out = tmp_path / "out"
    assert main(["search", str(path), "--out", str(out), "--executor", "local",
                 "--workers", "1"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert "\n" not in err and err.startswith(f"{path}: {field}: no metric 'accuracy.mni'")
    assert "did you mean 'accuracy.min'" in err and "trials (" not in captured.out
    assert not out.exists()  # (the folder it made is removed: the corrected search may use it)


def test_a_search_where_no_trial_completes_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every run fails (here: too short a time cap): no result, so no success either."""
    from sumsim.searches import NoTrialCompleted

    path = write_search(tmp_path, trials=2, seeds=1, objectives=[
        {"metric": "accuracy.min", "direction": "minimize"}], space={
        "scenario.max_duration_s": {"low": 1, "high": 2}})
    assert main(["search", str(path), "--out", str(tmp_path / "out"), "--executor",
                 "local"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith(f"{path}: no trial completed (2 tried); the "
                                              "first, trial 0 with {'scenario.max_duration_s'")
    assert "failed: RunCannotFinish: scenario.max_duration_s" in err
    with pytest.raises(NoTrialCompleted, match="no trial completed") as caught:
        run_search(load_search(path), tmp_path / "out", executor="local")
    assert caught.value.result.trials.height == 2  # the outputs are still written


def test_a_search_over_the_scenario_seed_is_refused(tmp_path: Path) -> None:
    """Each trial's runs take their seeds from the search: a space over scenario.seed searched
    nothing (every trial the same) and its best.toml named another seed."""
    from sumsim.searches import load_search

    path = tmp_path / "s.toml"
    path.write_text('[search]\nbase = "quickstart"\ntrials = 2\n[[objectives]]\n'
                    'metric = "accuracy.final"\n[space]\n'
                    '"scenario.seed" = { low = 1, high = 100, int = true }\n')
    with pytest.raises(InputError, match=r"space\.scenario\.seed: scenario\.seed is replaced "
                       r"by each run's own seed, .* search\.seeds and search\.seed"):
        load_search(path)


def test_a_trial_whose_objective_is_undefined_in_one_run_fails_and_a_constraint_is_unmet(
        tmp_path: Path) -> None:
    """The damage ratio is undefined (None) in one of two seeds: the trial fails (the mean of
    the other seed alone would compete as if it were the trial's), as the guide says; a
    constraint on such a metric counts as not met."""
    import optuna
    from optuna.trial import TrialState

    from sumsim.searches import _tell

    path = write_search(tmp_path, objectives=[{"metric": "accuracy.final",
                                                "direction": "minimize"}])
    path.write_text(path.read_text() + '\n[[constraints]]\nmetric = "attacker_spend_eth"\n'
                    'max = 10\n')
    spec = load_search(path).spec
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize"])

    def rows(final: list[float | None], spend: list[float | None]) -> list[dict[str, Any]]:
        return [{"status": "ok", "metrics": {"accuracy.final": f, "attacker_spend_eth": s}}
                for f, s in zip(final, spend, strict=True)]

    metrics = ["accuracy.final", "attacker_spend_eth"]
    record = _tell(study, study.ask(), {}, rows([0.5, None], [1.0, 1.0]), spec, metrics)
    assert record["error"] == "objective accuracy.final undefined in 1 of 2 runs"
    _tell(study, study.ask(), {}, rows([0.6, 0.7], [1.0, None]), spec, metrics)
    _tell(study, study.ask(), {}, rows([0.8, 0.9], [1.0, 2.0]), spec, metrics)
    _tell(study, study.ask(), {}, rows([None, None], [1.0, 1.0]), spec, metrics)
    failed, unmet, met, undefined = study.get_trials()
    assert failed.state == undefined.state == TrialState.FAIL
    # (the table shows the mean over the seeds that had a value, and how many did)
    assert (failed.user_attrs["mean:accuracy.final"], failed.user_attrs["n:accuracy.final"]) \
        == (0.5, 1)
    assert (undefined.user_attrs["mean:accuracy.final"],
            undefined.user_attrs["n:accuracy.final"]) == (None, 0)
    assert unmet.state == met.state == TrialState.COMPLETE
    assert unmet.user_attrs["constraints"] == [1.0]  # (not met: one seed has no value)
    assert met.user_attrs["constraints"] == [1.5 - 10]


def test_each_recorded_run_names_its_trial_and_parameters(tmp_path: Path) -> None:
    search = load_search(write_search(tmp_path, trials=3, seeds=2))
    res = run_search(search, tmp_path / "out", executor="local")
    runs = [json.loads(ln) for ln in (tmp_path / "out" / RUNS).read_text().splitlines()]
    assert len(runs) == 6
    trials = {row["trial"]: row for row in res.trials.iter_rows(named=True)}
    for run in runs:
        trial = trials[run["trial"]]
        assert run["params"] == {k.removeprefix("param:"): v for k, v in trial.items()
                                 if k.startswith("param:")}
    assert sorted(run["trial"] for run in runs) == [0, 0, 1, 1, 2, 2]


def test_a_search_no_trial_of_which_meets_its_constraints_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_search(tmp_path, trials=2, seeds=1)
    path.write_text(path.read_text() + '\n[[constraints]]\nmetric = "accuracy.final"\n'
                    'max = -1\n')
    assert main(["search", str(path), "--out", str(tmp_path / "out"),
                 "--executor", "local"]) == 0
    out = capsys.readouterr().out
    assert "2 trials (2 complete), 0 on the Pareto front" in out
    assert "no complete trial met the constraints" in out and "no best.toml" in out
    assert not (tmp_path / "out" / "best.toml").exists()


def test_a_constrained_search_shows_its_infeasible_trials_and_the_constraints_per_seed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Trials breaking a constraint are drawn apart on pareto.png (they cannot be chosen), and
    best.toml's header gives the constraint's mean and each seed's value beside the
    objective's (the bound holds for the mean, not for every seed)."""
    import sumsim.searches as searches

    figures: list[Any] = []
    real = searches._pareto_figure
    monkeypatch.setattr(searches, "_pareto_figure",
                        lambda *a: (figures.append(a), real(*a))[1])
    path = write_search(tmp_path, trials=6, sampler="random", objectives=[
        {"metric": "counterfactual.accuracy_damage_time_avg", "direction": "maximize"}],
        space={"agents[1].budget": {"choices": [20, 3000]}})
    path.write_text(path.read_text() + '\n[[constraints]]\nmetric = "attacker_spend_eth"\n'
                    'max = 3\n')
    res = run_search(load_search(path), tmp_path / "out", executor="local")
    feasible = res.trials["feasible"].to_list()
    assert True in feasible and False in feasible
    trials, front, spec, _ = figures[0]
    fig_trials = trials.filter(pl.col("feasible").not_())["trial"].to_list()
    assert fig_trials and res.best is not None and res.best["agents[1].budget"] == 20
    header = [ln for ln in (res.best_toml.read_text() if res.best_toml else "").splitlines()
              if ln.startswith("#")]
    mean = res.pareto["mean:attacker_spend_eth"][0]
    assert any(ln.startswith("# Constraints, on that mean: attacker_spend_eth = "
                             f"{mean:.6g} (max 3).") for ln in header), header
    per_seed = [ln for ln in header if ln.startswith("# sumsim run best.toml --seed")]
    assert len(per_seed) == 2 and all("attacker_spend_eth = " in ln for ln in per_seed)
    assert (tmp_path / "out" / "pareto.png").read_bytes()[:4] == b"\x89PNG"


def test_a_search_its_time_budget_stopped_says_so(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = write_search(tmp_path, trials=2, seeds=1)
    out = tmp_path / "out"
    assert main(["search", str(path), "--executor", "local", "--out", str(out)]) == 0
    assert "stopped by its time budget" not in capsys.readouterr().out
    assert main(["search", str(path), "--executor", "local", "--out", str(out), "--trials",
                 "5", "--max-wall-s", "1e-9"]) == 0
    printed = capsys.readouterr().out
    assert "t: 2 trials (2 complete)" in printed
    assert ("  stopped by its time budget (max_wall_s) with 3 trial(s) of its budget left: run "
            "the same command again to go on") in printed
    assert main(["search", str(path), "--out", str(out), "--trials", "100001"]) == 2
    assert capsys.readouterr().err == "--trials: expected at most 100,000, got 100,001\n"
