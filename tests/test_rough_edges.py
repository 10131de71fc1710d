"""The rough edges a new user hit: bundled scenarios by name, plain numbers for distributions,
unknown report metrics, richer transaction tables, attackers in profit, resolved scenario
files, and output folders that are all or nothing."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import polars as pl
import pytest

import sumsim
from sumsim.cli import main
from sumsim.errors import InputError
from sumsim.scenario.loader import BUNDLED

SMALL = ["--set", "data.max_pool=120", "--set", "data.synthetic.n_train=600",
         "--set", "data.synthetic.n_test=300", "--set", "metrics.counterfactual=false"]


def test_run_list_names_every_bundled_scenario_with_its_question(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == list(BUNDLED)
    assert all(ln.rstrip().endswith("?") or len(ln.split()) > 3 for ln in lines)


def test_a_bundled_scenario_runs_by_name(tmp_path: Path) -> None:
    assert main(["run", "label-flip-drt", "--out", str(tmp_path / "o"), "-q", *SMALL]) == 0
    assert (tmp_path / "o" / "summary.json").exists()


def test_a_plain_number_is_a_constant_interval_and_a_string_shows_the_forms() -> None:
    sc = sumsim.load("quickstart", overrides={"agents[0].interval_s": 600})
    assert sc.agents[0].interval_s.dist == "constant" and sc.agents[0].interval_s.value == 600
    with pytest.raises(InputError, match=r'agents\[0\]\.interval_s: .*dist = "normal"'):
        sumsim.load("quickstart", overrides={"agents[0].interval_s": "600"})


def test_report_with_an_unknown_metric_lists_the_metrics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sw = tmp_path / "sw.toml"
    sw.write_text('[sweep]\nbase = "quickstart"\nmetrics = ["accuracy.time_avg", '
                  '"accuracy.min"]\n[grid]\n"data.max_pool" = [100, 120]\n'
                  '[[points]]\n"data.synthetic.n_train" = 600\n'
                  '"metrics.counterfactual" = false\n')
    assert main(["sweep", str(sw), "--out", str(tmp_path / "s"), "--executor", "local",
                 "-q", "--no-report"]) == 0
    capsys.readouterr()
    assert main(["report", str(tmp_path / "s"), "--metric", "accuracy.mean"]) == 2
    err = capsys.readouterr().err
    assert "no metric 'accuracy.mean'" in err and "did you mean 'accuracy.min'" in err
    assert err.count("\n") == 1


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small run with a review queue that rejects (forfeits) some deposits."""
    out = tmp_path_factory.mktemp("rev") / "run"
    assert main(["run", "boundary-review", "--out", str(out), "-q", *SMALL,
                 "--set", "defenses[1].forfeit_to=\"fee_sink\""]) == 0
    return out


def test_transactions_table_has_ids_recipients_deposits_and_returns(reviewed: Path) -> None:
    t = pl.read_parquet(reviewed / "transactions.parquet")
    for c in ("tx_id", "to", "deposit_kept_wei", "value_returned_wei"):
        assert c in t.columns
    sent = t.filter(pl.col("status") != "internal")
    assert sent["tx_id"].n_unique() == sent.height
    assert set(sent["to"]) == {"contract"}
    adds = sent.filter((pl.col("method") == "add_data") & (pl.col("status") == "success"))
    # what an add kept plus what came back is what was sent
    assert (adds["deposit_kept_wei"].cast(pl.Int128) + adds["value_returned_wei"].cast(
        pl.Int128) == adds["value_wei"].cast(pl.Int128)).all()
    c = pl.read_parquet(reviewed / "contributions.parquet")
    kept = dict(zip(adds["contribution"].to_list(), adds["deposit_kept_wei"].to_list(),
                    strict=True))
    for row in c.iter_rows(named=True):
        assert kept[row["id"]] == row["deposit_wei"]
    assert c.schema["claims"].inner.to_schema()["amount_wei"] == pl.Decimal(38, 0)
    # review forfeits appear as rows, with their time and recipient
    forfeits = t.filter(pl.col("status") == "internal")
    assert forfeits.height == c.filter(pl.col("forfeited_wei").cast(pl.Int128) > 0).height
    if forfeits.height:
        assert set(forfeits["to"]) == {"fee_sink"} and set(forfeits["method"]) == {"forfeit"}
        assert forfeits["value_wei"].cast(pl.Int128).sum() == \
            c["forfeited_wei"].cast(pl.Int128).sum()


def test_summary_says_when_an_attacker_ends_in_profit(reviewed: Path) -> None:
    s = json.loads((reviewed / "summary.json").read_text())
    for a in s["agents"].values():
        assert a["in_profit"] == (a["profit_wei"] > 0)
    assert s["attackers_in_profit"] == sorted(
        n for n, a in s["agents"].items() if a["attacker"] and a["profit_wei"] > 0)


def test_saved_scenario_is_fully_resolved(reviewed: Path) -> None:
    text = (reviewed / "scenario.toml").read_text()
    data = tomllib.loads(text)
    inc = data["incentive"]
    assert inc["owner_claim_wait_s"] == inc["any_address_claim_wait_s"]
    assert "# Options left unset" in text and "incentive.owner:" in text
    again = sumsim.load(reviewed / "scenario.toml")  # runnable as written
    assert again.incentive.owner_claim_wait_s == inc["owner_claim_wait_s"]


def test_an_output_folder_is_never_overwritten_silently_nor_left_stale(tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["run", "--out", str(out), "-q", *SMALL]) == 0
    assert (out / "figure.png").exists()
    assert main(["run", "--out", str(out), "-q", *SMALL]) == 2  # refused, nothing computed
    assert main(["run", "--out", str(out), "-q", "--force", *SMALL,
                 "--set", "metrics.figure=false"]) == 0
    assert not (out / "figure.png").exists()  # no stale figure beside the new tables
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]  # no leftovers


def test_an_interrupted_write_leaves_no_folder(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import sumsim.outputs as outputs

    res = sumsim.run("quickstart", overrides={"data.max_pool": 60,
                                              "metrics.counterfactual": False})
    real = outputs.write_parquet
    calls = []

    def interrupted(path: Path, df: pl.DataFrame) -> None:
        calls.append(path.name)
        if len(calls) == 2:
            raise KeyboardInterrupt
        real(path, df)

    monkeypatch.setattr(outputs, "write_parquet", interrupted)
    with pytest.raises(KeyboardInterrupt):
        res.write(tmp_path / "run")
    assert list(tmp_path.iterdir()) == []  # neither a half-written folder nor a temporary one


@pytest.mark.parametrize(("overrides", "message"), [
    ({"agents[1].budget": 300 * 10**18},
     r"agents\[1\]\.budget: too large: 300000000000000000000 ether .*amounts here are in "
     r"ether \(write '<n>e-18' for n wei\)"),
    ({"incentive.refund_wait_s": 900_000},
     r"incentive\.refund_wait_s: need refund_wait_s <= owner_claim_wait_s <= "
     r"any_address_claim_wait_s \(got 900,000 s, 777,600 s, 777,600 s\)$"),
    ({"agents[1].name": "good"},
     r"agents\[1\]\.name: agent names must be unique; repeated: 'good'$"),
    ({"agents[0].name": "b" * 101},
     r"agents\[0\]\.name: String should have at most 100 characters \(got 'b{59}\.\.\. "
     r"\(101 characters\)\)$"),
    ({"model.chain": 1},
     r"model\.chain: unknown field here; 'chain' is a table of its own, at the top level"),
    # (each defense's figures go under its name in summary.json, beside total_cost_wei)
    ({"defenses": [{"kind": "rate_limit", "max_contributions": 1},
                   {"kind": "rate_limit", "max_contributions": 9}]},
     r"defenses\[1\]\.name: defenses\[0\] and defenses\[1\] are both called 'rate_limit' "
     r"\(two unnamed defenses of one kind\).*set name = \"\.\.\.\" on one of them$"),
    ({"defenses": [{"kind": "rate_limit", "name": "strict"},
                   {"kind": "duplicate_filter", "name": "strict"}]},
     r"defenses\[1\]\.name: .* both called 'strict' \(names must be unique\)"),
    ({"agents[0].start_s": 1e308},
     r"agents\[0\]\.start_s: the first turn \(1e\+308 s\) is not before the end of the run "
     r"\(scenario\.max_duration_s, 3\.1536e\+07 s\): the agent would never act$"),
    ({"agents[0].start_s": 100, "scenario.duration_s": 100},
     r"agents\[0\]\.start_s: .*\(scenario\.duration_s, 100 s\)"),
    ({"agents[0].balance": 10**4000},
     r"agents\[0\]\.balance: too large: 10000000000000000000\.\.\. \(4,001 characters\) "
     r"ether"),
    ({"defenses": [{"kind": "rate_limit", "name": "total_cost_wei"}]},
     r"defenses\[0\]\.name: 'total_cost_wei' names the defenses' total in summary\.json"),
])
def test_errors_a_new_user_met_say_what_was_given_and_where_it_goes(
        overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        sumsim.load("quickstart", overrides=overrides)


def test_a_grid_written_inside_the_sweep_table_points_to_its_own_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nname = "x"\nbase = "quickstart"\n'
                    'grid = { "agents[1].budget" = [100, 200] }\n', encoding="utf-8")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "sweep.grid: unknown field here; 'grid' is a table of its own, at the top level " \
        "of the file ([grid])" in err


def test_a_sweep_or_search_file_given_as_a_scenario_says_which_command_runs_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[sweep]\nname = "x"\nbase = "quickstart"\n[grid]\n'
                    '"agents[1].budget" = [100, 200]\n', encoding="utf-8")
    said = f"{path}: a sweep file (it has a [sweep] table), not a scenario: run it with " \
        "`sumsim sweep` (sumsim.sweep(...) in Python)"
    for command in (["run", str(path), "--out", str(tmp_path / "o")], ["gas", str(path)]):
        assert main(command) == 2
        assert capsys.readouterr().err.strip() == said
    with pytest.raises(InputError) as e:
        sumsim.run(path)
    assert str(e.value) == said
    assert not (tmp_path / "o").exists()


def test_an_output_folder_the_system_refuses_is_an_error_naming_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A read-only or special file system (mkdir refused even where os.access allows, as for
    root) is a one-line error, not a PermissionError's traceback."""
    from sumsim.errors import WriteError
    from sumsim.io import make_folder

    real = Path.mkdir

    def refused(self: Path, *args: object, **kwargs: object) -> None:
        if "nope" in self.parts:
            raise PermissionError(1, "Operation not permitted", str(self))
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "mkdir", refused)
    with pytest.raises(WriteError, match=r"nope/x: --out: cannot write: Operation not "
                       r"permitted; expected a folder that can be created and written"):
        make_folder(tmp_path / "nope" / "x")
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nname = "x"\nbase = "quickstart"\n[grid]\n'
                     '"agents[1].budget" = [100, 200]\n', encoding="utf-8")
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "nope" / "x")]) == 2
    assert "cannot write: Operation not permitted" in capsys.readouterr().err


def test_report_names_its_default_folder_and_refuses_metrics_that_are_not_numbers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "sw"
    sumsim.sweep("quickstart", grid={"data.max_pool": [40, 80]}, executor="local",
                 points=[{"metrics.counterfactual": False}], out=folder)
    assert main(["report", str(folder), "--metric", "status"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"{folder / 'results.parquet'}: --metric: metric 'status' is not a number (column type "
        "String); a figure draws numeric metrics")
    (folder / "figures").write_text("in the way", encoding="utf-8")
    assert main(["report", str(folder)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"--out: {folder / 'figures'} exists and is not a folder (the default figure folder; "
        "--out names another)")
    assert main(["report", str(folder), "--reference", "=,=,"]) == 2
    assert "--reference expects PATH=VALUE, got '=' (no PATH)" in capsys.readouterr().err


def test_a_table_dataset_path_that_is_a_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"dataset 'csv' reads a \.csv file, got a folder"):
        sumsim.run("quickstart", overrides={"data.dataset": "csv", "data.path": str(tmp_path)})
