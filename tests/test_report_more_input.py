"""More of `sumsim report`'s and the API's input rules: a reference value holding commas, a
reference no other point pairs with, NaN among a swept parameter's values, a figure path the
system cannot take, `validate --set` naming the option."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from sumsim.cli import _split_items, main
from sumsim.errors import InputError
from sumsim.io import write_parquet
from sumsim.report import paired_differences, sweep_figures

METRIC = "accuracy.final"


def table(params: dict[str, list[object]], replicates: list[int],
          metric: list[float]) -> pl.DataFrame:
    n = len(metric)
    return pl.DataFrame({"run_index": list(range(n)), "run_id": [f"r{i}" for i in range(n)],
                         "replicate": replicates, "seed": replicates,
                         **{f"param:{k}": v for k, v in params.items()},
                         "status": ["ok"] * n, "error": [""] * n, METRIC: metric})


def test_reference_items_split_only_between_items() -> None:
    assert _split_items("a=1,b=[1,2],c={kind=\"x\", lr=2},d='p,q'") == [
        "a=1", "b=[1,2]", "c={kind=\"x\", lr=2}", "d='p,q'"]
    assert _split_items("a=1") == ["a=1"]


def test_a_reference_value_holding_a_comma_is_one_item(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    df = table({"b": ["x,y", "x,y", "z", "z"]}, [0, 1, 0, 1], [0.5, 0.6, 0.7, 0.9])
    write_parquet(tmp_path / "results.parquet", df)
    assert main(["report", str(tmp_path), "--reference", 'b="x,y"', "--metric", METRIC]) == 0
    out = capsys.readouterr().out
    assert "+0.25 +- " in out and "(n=2)" in out  # (0.7-0.5 and 0.9-0.6)


def test_a_reference_nothing_pairs_with_is_refused() -> None:
    # replicates 0, 1 at the reference, 2, 3 at the other point: no pair
    df = table({"b": [True, True, False, False]}, [0, 1, 2, 3], [0.5, 0.6, 0.7, 0.9])
    with pytest.raises(InputError, match="no replicate of any other point pairs"):
        paired_differences(df, {"b": True}, [METRIC])


def test_a_point_without_pairs_has_no_statistic(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    df = table({"b": [1, 1, 2, 2, 3]}, [0, 1, 0, 1, 7], [0.5, 0.6, 0.7, 0.9, 0.1])
    diffs = paired_differences(df, {"b": 1}, [METRIC])
    lonely = diffs.filter(pl.col("b") == 3).row(0, named=True)
    assert lonely["n"] == 0 and lonely["mean_diff"] is None and lonely["ci"] is None
    write_parquet(tmp_path / "results.parquet", df)
    assert main(["report", str(tmp_path), "--reference", "b=1", "--metric", METRIC]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "no replicate pairs with the reference  (n=0)" in out


def test_nan_among_a_parameters_values_is_refused(tmp_path: Path) -> None:
    df = table({"b": [float("nan"), 1.0, 2.0, 2.0]}, [0, 0, 0, 1], [0.5, 0.6, 0.7, 0.9])
    with pytest.raises(InputError, match="column 'param:b' holds NaN") as e:
        sweep_figures(df, tmp_path / "figures", [METRIC], source="t.parquet")
    assert e.value.source == "t.parquet" and e.value.field == "param:b"


def test_a_figure_path_the_system_cannot_take_is_an_input_error(tmp_path: Path) -> None:
    import sumsim

    res = sumsim.run(overrides={"metrics.counterfactual": False,
                                "data.synthetic.n_train": 300, "data.synthetic.n_test": 100})
    with pytest.raises(InputError, match="cannot use this path") as e:
        res.figure(tmp_path / ("a" * 5000 + ".png"))
    assert e.value.field == "path"


def test_validate_names_set_in_an_override_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "quickstart", "--set", "agents[9].x=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("quickstart: --set agents[9]"), err  # (which file, then the option)


@pytest.mark.parametrize(("item", "expected"), [
    ("agents[1].budget=-1", "--set agents[1].budget: must not be negative (got -1)"),
    ("agents.1.budget=-1", "--set agents[1].budget: must not be negative (got -1)"),
    ("agents[1].lag=3", "--set agents[1].lag: unknown field"),
    ('model={kind="perceptron", learning_rate=-1}',
     "--set model: model.learning_rate: Input should be greater than 0 (got -1)"),
])
def test_a_bad_value_given_with_set_names_the_option_not_the_file(
        capsys: pytest.CaptureFixture[str], item: str, expected: str) -> None:
    """A value that came from ``--set`` is that option's error, not the scenario file's (the
    file is fine); an error in the file itself still names the file."""
    for cmd in (["validate", "quickstart"], ["run", "quickstart", "--out", "unused"]):
        assert main([*cmd, "--set", item]) == 2
        assert capsys.readouterr().err.strip() == expected
    assert main(["validate", "quickstart", "--set", "agents[1].budget=5",
                 "--set", "agents[0].balance=-3"]) == 2
    assert capsys.readouterr().err.strip().startswith("--set agents[0].balance: ")
    bad = str(Path(__file__).parent / "bad_scenarios" / "duplicate_agent_names.toml")
    assert main(["validate", bad, "--set", "scenario.seed=2"]) == 2
    assert capsys.readouterr().err.strip().startswith(f"{bad}: agents[1].name: ")


def test_a_resolved_scenario_reads_in_the_usual_order() -> None:
    """The resolved scenario.toml has its sections in the order scenario files are written
    (not the agents first, an empty `defenses = []` at the top), and reads back the same."""
    import tomllib

    from sumsim.scenario.loader import BUNDLED, dump_scenario, load_scenario, parse_scenario

    for name in BUNDLED:
        sc = load_scenario(name)
        text = dump_scenario(sc)
        assert parse_scenario(tomllib.loads(text)).model_dump() == sc.model_dump(), name
        heads = [ln for ln in text.splitlines() if ln.startswith("[") and "." not in ln]
        order = [h.strip("[]") for h in heads]
        want = ["scenario", "chain", "data", "model", "incentive", "agents", "defenses",
                "metrics"]
        assert order == sorted(order, key=want.index), (name, order)
        assert order[0] == "scenario" and "defenses = []" not in text
