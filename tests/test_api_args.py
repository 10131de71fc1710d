"""Bad arguments to the Python API are one-line InputErrors naming the argument, raised before
any work is done (not a TypeError from deep inside, nor a silently wrong run)."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import sumsim
from sumsim.errors import InputError
from sumsim.outputs import OutputExists

#: A quickstart small enough that a run takes a few hundredths of a second.
TINY = {"data.max_pool": 100, "metrics.counterfactual": False}
GRID = {"agents[1].budget": [100]}
SEARCH = {"search": {"name": "py", "seeds": 1, "trials": 1}, "overrides": TINY,
          "objectives": [{"metric": "accuracy.min", "direction": "minimize"}],
          "space": {"agents[1].budget": {"low": 10, "high": 1000}}}
SEED_RULE = "expected an integer from 0 to 2**63 - 1, got "
BAD_SEEDS = [True, False, "5", [1], 1.5, 2.0, -1, 2**63, None]


@pytest.fixture(scope="module")
def tiny() -> sumsim.Scenario:
    return sumsim.load("quickstart", overrides=TINY)


@pytest.fixture(scope="module")
def result(tiny: sumsim.Scenario) -> sumsim.Result:
    return sumsim.run(tiny, seed=1)


def raises(field: str, *parts: str) -> Any:
    """``pytest.raises`` for an InputError on ``field`` whose one line holds ``parts``."""
    return pytest.raises(InputError, match="^" + re.escape(f"{field}: ") + ".*".join(
        map(re.escape, parts)) + "[^\n]*$")


# -- 1. seeds ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [s for s in BAD_SEEDS if s is not None])
def test_run_refuses_a_seed_that_is_not_an_int64(tiny: sumsim.Scenario, seed: Any) -> None:
    with raises("seed", SEED_RULE + repr(seed)):
        sumsim.run(tiny, seed=seed)


@pytest.mark.parametrize("seed", BAD_SEEDS)
def test_sweep_refuses_the_same_seeds(tiny: sumsim.Scenario, seed: Any) -> None:
    with raises("seed", SEED_RULE + repr(seed)):
        sumsim.sweep(tiny, grid=GRID, seed=seed, executor="local")


@pytest.mark.parametrize("seed", [0, 2**63 - 1, np.int64(3)])
def test_every_int64_seed_still_runs(tiny: sumsim.Scenario, seed: Any) -> None:
    assert sumsim.run(tiny, seed=seed).seed == int(seed)


# -- 2. paths and scenario sources -----------------------------------------------------------
@pytest.mark.parametrize("source", [5, [1, 2], b"x", True, 1.5])
def test_load_and_run_refuse_what_is_not_a_scenario_source(source: Any) -> None:
    expected = "expected a scenario file, a bundled scenario name, a dict or a scenario"
    with raises("source", expected, "got " + repr(source)):
        sumsim.load(source)
    with raises("scenario", expected):
        sumsim.run(source)
    with raises("base", expected):
        sumsim.sweep(source, grid=GRID, executor="local")


def test_load_still_takes_every_documented_source(tmp_path: Path,
                                                  tiny: sumsim.Scenario) -> None:
    class Where:  # an os.PathLike that is not a pathlib.Path
        def __fspath__(self) -> str:
            return str(tmp_path / "a.toml")

    (tmp_path / "a.toml").write_text(
        '[scenario]\nname = "mine"\n[[agents]]\nname = "a"\nkind = "honest"\nbalance = 1\n')
    assert sumsim.load(Where()).scenario.name == "mine"
    assert sumsim.load(str(tmp_path / "a.toml")).scenario.name == "mine"
    assert sumsim.load(tmp_path / "a.toml").scenario.name == "mine"
    assert sumsim.load(None).scenario.name == "quickstart"
    assert sumsim.load(tiny).data.max_pool == 100
    assert sumsim.load(tiny.model_dump(mode="json", exclude_none=True)).data.max_pool == 100


@pytest.mark.parametrize("overrides", [[("agents[1].balance", 5)], "agents[1].balance=5",
                                       {1: 5}])
def test_overrides_must_be_a_dict_of_dotted_paths(tiny: sumsim.Scenario,
                                                  overrides: Any) -> None:
    with raises("overrides", "expected"):
        sumsim.load("quickstart", overrides=overrides)
    with raises("overrides", "expected"):
        sumsim.run(tiny, overrides=overrides)


def test_an_empty_non_dict_overrides_is_not_silently_ignored(tiny: sumsim.Scenario) -> None:
    with raises("overrides", "expected a dict of dotted paths to values, got []"):
        sumsim.run(tiny, overrides=[])  # type: ignore[arg-type]


@pytest.mark.parametrize("folder", [None, 5, b"out"])
def test_write_refuses_what_is_not_a_path(result: sumsim.Result, folder: Any) -> None:
    with raises("folder", "expected a path (str or os.PathLike), got " + repr(folder)):
        result.write(folder)


@pytest.mark.parametrize("spec", [5, None, b"x.toml", ["search.toml"]])
def test_search_refuses_a_spec_that_is_neither_a_file_nor_a_dict(spec: Any) -> None:
    with raises("spec", "expected a search file (str or os.PathLike) or a dict"):
        sumsim.search(spec)


@pytest.mark.parametrize("call", ["run", "sweep", "search"])
def test_data_path_must_be_a_path(tiny: sumsim.Scenario, call: str) -> None:
    five: Any = 5
    with raises("data_path", "expected a path (str or os.PathLike), got 5"):
        if call == "run":
            sumsim.run(tiny, data_path=five)
        elif call == "sweep":
            sumsim.sweep(tiny, grid=GRID, data_path=five, executor="local")
        else:
            sumsim.search(SEARCH, base=tiny, data_path=five, executor="local")


# -- 3. wall-clock allowances ----------------------------------------------------------------
BAD_WALLS = ["5", math.nan, math.inf, -1, 0, True]


@pytest.mark.parametrize("wall", BAD_WALLS)
def test_max_wall_s_is_a_positive_finite_number(tiny: sumsim.Scenario, wall: Any,
                                                tmp_path: Path) -> None:
    rule = "expected a positive finite number of seconds or None, got " + repr(wall)
    with raises("max_wall_s", rule):
        sumsim.run(tiny, max_wall_s=wall)
    with raises("max_wall_s", rule):
        sumsim.sweep(tiny, grid=GRID, max_wall_s=wall, executor="local")
    with raises("max_wall_s", rule):
        sumsim.search(SEARCH, base=tiny, max_wall_s=wall, executor="local",
                      out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_a_whole_number_allowance_still_runs(tiny: sumsim.Scenario) -> None:
    assert sumsim.run(tiny, max_wall_s=600).seed == tiny.scenario.seed


# -- 4. sweep arguments ----------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"grid": {"agents[1].budget": "100"}}, "grid['agents[1].budget']",
     "expected a list of values, got '100'"),
    ({"grid": {"agents[1].budget": 100}}, "grid['agents[1].budget']",
     "expected a list of values, got 100"),
    ({"grid": {"agents[1].budget": {100: 1}}}, "grid['agents[1].budget']",
     "expected a list of values"),
    ({"grid": [("agents[1].budget", [100])]}, "grid",
     "expected a dict of dotted paths to lists of values"),
    ({"points": {"a": 1}}, "points", "expected a list of override dicts, got {'a': 1}"),
    ({"points": ["a=1"]}, "points[0]", "expected a dict of dotted paths to values, got 'a=1'"),
    ({"grid": GRID, "metrics": "accuracy.final"}, "metrics",
     "expected a list of dotted summary paths, got 'accuracy.final'"),
    ({"grid": GRID, "metrics": [1]}, "metrics[0]", "expected a dotted summary path (str)"),
    ({"grid": GRID, "executor": "threads"}, "executor",
     "expected one of 'local', 'process', 'dask', got 'threads'"),
    ({"grid": GRID, "executor": "local", "workers": "2"}, "workers",
     "expected a positive integer, got '2'"),
    ({"grid": GRID, "executor": "local", "workers": 1.5}, "workers",
     "expected a positive integer, got 1.5"),
    ({"grid": GRID, "executor": "local", "workers": 0}, "workers",
     "expected a positive integer, got 0"),
    ({"grid": GRID, "executor": "local", "seeds": "2"}, "seeds",
     "expected a positive integer, got '2'"),
    ({"grid": GRID, "executor": "local", "seeds": True}, "seeds",
     "expected a positive integer, got True"),
    ({"grid": GRID, "executor": "local", "paired": "no"}, "paired",
     "expected True or False, got 'no'"),
    ({"grid": GRID, "executor": "local", "write_runs": 1}, "write_runs",
     "expected True or False, got 1"),
    ({"grid": GRID, "executor": "local", "name": 5}, "name", "expected a str, got 5"),
    ({"grid": GRID, "executor": "local", "scheduler": 5}, "scheduler",
     "expected a str or None, got 5"),
    ({"grid": GRID, "executor": "local", "scheduler": "tcp://h:8786"}, "scheduler",
     "a scheduler applies to the dask executor only, not 'local'; expected executor='dask'"),
    ({"grid": GRID, "executor": "local", "out": 5}, "out",
     "expected a path (str or os.PathLike), got 5"),
])
def test_sweep_arguments_are_checked_before_any_run(tiny: sumsim.Scenario,
                                                    kwargs: dict[str, Any], field: str,
                                                    message: str) -> None:
    with raises(field, message):
        sumsim.sweep(tiny, **kwargs)


def test_a_bad_sweep_argument_leaves_no_output_folder(tiny: sumsim.Scenario,
                                                      tmp_path: Path) -> None:
    with raises("grid['agents[1].budget']", "expected a list of values"):
        sumsim.sweep(tiny, grid={"agents[1].budget": "100"}, out=tmp_path / "sw",
                     executor="local")
    assert not (tmp_path / "sw").exists()


def test_sweep_out_that_is_a_file_names_the_argument(tiny: sumsim.Scenario,
                                                     tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with raises("out", f"{tmp_path / 'f'} exists and is not a folder"):
        sumsim.sweep(tiny, grid=GRID, out=tmp_path / "f", executor="local")
    with raises("out", f"{tmp_path / 'f' / 'sw'}: {tmp_path / 'f'} is a file, not a folder"):
        sumsim.sweep(tiny, grid=GRID, out=tmp_path / "f" / "sw", executor="local")


@pytest.mark.parametrize(("kwargs", "given"), [
    ({"seeds": 3}, "seeds"), ({"seed": 4}, "seed"), ({"paired": False}, "paired"),
    ({"write_runs": True}, "write_runs"), ({"name": "other"}, "name"),
    ({"grid": GRID, "metrics": ["accuracy.final"]}, "grid/metrics"),
])
def test_a_sweep_file_with_arguments_it_would_ignore_is_refused(
        tmp_path: Path, kwargs: dict[str, Any], given: str) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text('[sweep]\nbase = "quickstart"\n[grid]\n"agents[1].budget" = [100]\n')
    with pytest.raises(InputError, match=re.escape(
            f"{path}: give either a sweep file or {given}, not both")):
        sumsim.sweep(path, executor="local", **kwargs)


def test_valid_sweep_arguments_still_run(tiny: sumsim.Scenario) -> None:
    one: Any = np.int64(1)  # numpy integers are integers
    table = sumsim.sweep(tiny, grid={"agents[1].budget": (100, 200)},
                         points=({"agents[1].balance": 50},), metrics=("accuracy.final",),
                         seeds=one, seed=one + 1, executor="local", workers=1,
                         max_wall_s=600)
    assert isinstance(table, pl.DataFrame)
    assert table["param:agents[1].budget"].to_list() == [100, 200]
    assert table["status"].to_list() == ["ok", "ok"]
    assert "accuracy.final" in table.columns


# -- 5. search trials ------------------------------------------------------------------------
@pytest.mark.parametrize("trials", [0, -1, 1.5, "2", True])
def test_search_trials_is_a_positive_integer(tiny: sumsim.Scenario, trials: Any,
                                             tmp_path: Path) -> None:
    with raises("trials", "expected a positive integer, got " + repr(trials)):
        sumsim.search(SEARCH, base=tiny, trials=trials, executor="local", out=tmp_path / "s")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"executor": "threads"}, "executor", "expected one of 'local', 'process', 'dask'"),
    ({"workers": 0}, "workers", "expected a positive integer, got 0"),
    ({"scheduler": "tcp://h:8786"}, "scheduler",
     "a scheduler applies to the dask executor only, not 'process'"),
    ({"out": 5}, "out", "expected a path (str or os.PathLike), got 5"),
    ({"base": 5}, "base", "expected a scenario file, a bundled scenario name"),
])
def test_search_arguments_are_checked_before_any_trial(kwargs: dict[str, Any], field: str,
                                                       message: str) -> None:
    with raises(field, message):
        sumsim.search(SEARCH, **({"base": "quickstart"} | kwargs))


def test_a_search_file_with_a_base_it_would_ignore_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("")
    with raises("base", "a search file names its base scenario in search.base"):
        sumsim.search(tmp_path / "s.toml", base="quickstart")


# -- 6. output folders and the figure ---------------------------------------------------------
def test_figure_into_a_folder_is_refused(result: sumsim.Result, tmp_path: Path) -> None:
    with raises("path", f"{tmp_path} is a folder; expected a file name"):
        result.figure(tmp_path)
    (tmp_path / "f").write_text("")
    with raises("path", f"{tmp_path / 'f' / 'run.png'}: {tmp_path / 'f'} is a file, not a "
                "folder"):
        result.figure(tmp_path / "f" / "run.png")
    with raises("path", "expected a path (str or os.PathLike), got 5"):
        result.figure(5)  # type: ignore[arg-type]
    result.figure(tmp_path / "new" / "run.png")
    assert (tmp_path / "new" / "run.png").stat().st_size > 0


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_an_uncreatable_folder_names_it_and_the_reason(result: sumsim.Result) -> None:
    """A place the system will not write is a WriteError (as the Python guide says), naming
    the path, the argument and the system's reason once."""
    from sumsim.errors import WriteError

    for call, where, field in ((result.write, "/proc/sumsim-test", "folder"),
                               (result.figure, "/proc/sumsim-test.png", "path"),
                               (result.write, "/proc/sys/sumsim-test", "folder")):
        with pytest.raises(WriteError) as e:
            call(where)
        text = str(e.value)
        assert text.startswith(f"{where}: {field}: cannot write: "), text
        assert text.count("cannot write") == 1 and e.value.reason in text


def test_write_errors_name_the_argument_not_the_cli_option(result: sumsim.Result,
                                                           tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(OutputExists, match=re.escape(
            f"folder: {tmp_path / 'full'} exists and is not empty; choose another folder or "
            "pass force=True to replace it")):
        result.write(tmp_path / "full")
    (tmp_path / "f").write_text("")
    with raises("folder", f"{tmp_path / 'f' / 'run'}: {tmp_path / 'f'} is a file, not a "
                "folder"):
        result.write(tmp_path / "f" / "run")
    with raises("folder", f"{tmp_path / 'f'} exists and is not a folder"):
        result.write(tmp_path / "f")


@pytest.mark.parametrize("kwargs", [{"figure": "no"}, {"force": 1}])
def test_write_switches_are_booleans(result: sumsim.Result, tmp_path: Path,
                                     kwargs: dict[str, Any]) -> None:
    (field, value), = kwargs.items()
    with raises(field, f"expected True or False, got {value!r}"):
        result.write(tmp_path / "run", **kwargs)
    assert not (tmp_path / "run").exists()


def test_write_still_writes_and_replaces_with_force(result: sumsim.Result,
                                                    tmp_path: Path) -> None:
    out = result.write(str(tmp_path / "run"), figure=False)
    assert out == tmp_path / "run" and (out / "summary.json").is_file()
    assert result.write(out, figure=False, force=True) == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no probe left behind


def test_valid_search_arguments_still_run(tiny: sumsim.Scenario, tmp_path: Path) -> None:
    res = sumsim.search(SEARCH, base=tiny, trials=np.int64(1).item(), executor="local",
                        workers=1, max_wall_s=600, out=str(tmp_path / "s"))
    assert res.trials.height == 1


def test_a_scenario_edited_after_loading_is_validated_again() -> None:
    """Assigning a field skips the checks that span sections (unique agent names): run checks
    the whole scenario again instead of failing inside the ledger."""
    sc = sumsim.load("quickstart", overrides={"data.max_pool": 50,
                                              "metrics.counterfactual": False})
    sc.agents[0].name = sc.agents[1].name
    with pytest.raises(InputError, match=r"agents\[1\]\.name: agent names must be unique"):
        sumsim.run(sc)


def test_a_data_path_for_synthetic_data_is_refused_as_on_the_command_line() -> None:
    """``data_path`` with a synthetic dataset would be silently ignored: an InputError naming
    the argument, as ``--data-path`` is on the command line."""
    import sumsim
    from sumsim.errors import InputError

    with pytest.raises(InputError, match=r"^data_path: the scenario's dataset is 'synthetic', "
                                         r"which reads no file; drop data_path"):
        sumsim.run("quickstart", data_path=__file__)


def test_a_figure_is_saved_under_a_png_name_only(tmp_path: Path) -> None:
    """``figure("x.svg")`` wrote PNG bytes into a .svg file without a word."""
    result = sumsim.run("quickstart", overrides={"data.max_pool": 40,
                                                 "metrics.counterfactual": False})
    with pytest.raises(InputError, match=r"x\.svg: the figure is drawn as PNG; expected a file "
                                         r"name ending in \.png"):
        result.figure(tmp_path / "x.svg")
    assert not (tmp_path / "x.svg").exists()
