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
    # a different space cannot resume into this folder
    other = write_search(tmp_path, space={"agents[1].budget": {"low": 1, "high": 2}})
    with pytest.raises(InputError, match="different base, space"):
        run_search(load_search(other), out, executor="local")


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
    assert complete.height == 10 - res.trials.filter(pl.col("state") == "FAIL").height
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
