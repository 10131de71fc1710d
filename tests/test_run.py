"""End-to-end runs through the CLI: outputs, reconciliation, determinism, and the paper result."""

from __future__ import annotations

import json
import math
import os
import struct
import subprocess
import sys
import tomllib
from math import isqrt
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from sumsim.cli import main
from sumsim.outputs import COUNTERFACTUAL, FILES
from sumsim.scenario.loader import load_scenario

ROOT = Path(__file__).parents[1]
PAPER = ROOT / "scenarios" / "paper-imdb-perceptron-drt.toml"
SHORT = ["--set", "data.max_pool=400"]
BYTE_IDENTICAL = ("timeseries.parquet", "transactions.parquet", "contributions.parquet",
                  "summary.json", "scenario.toml")


def run_cli(out: Path, *args: str) -> dict[str, Any]:
    assert main(["run", *args, "--out", str(out), "-q"]) == 0
    return json.loads((out / "summary.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The bundled quickstart, run once through the CLI: (output folder, summary)."""
    out = tmp_path_factory.mktemp("quickstart") / "run"
    return out, run_cli(out)


def wei(x: Any) -> int:
    """A Decimal(38, 0) cell (or an int) as an exact int."""
    assert x is not None
    i = int(x)
    assert i == x
    return i


# -- the quickstart, end to end ------------------------------------------------------------


def test_quickstart_writes_every_output(quickstart: tuple[Path, dict[str, Any]]) -> None:
    out, summ = quickstart
    assert len(FILES) == 6
    # (the quickstart runs a counterfactual: its accuracy samples are written too)
    assert sorted(p.name for p in out.iterdir()) == sorted((*FILES, COUNTERFACTUAL))
    for name in (*FILES, COUNTERFACTUAL):
        assert (out / name).stat().st_size > 0, name
    assert summ["scenario"] == "quickstart" and summ["seed"] == 1
    resolved = tomllib.loads((out / "scenario.toml").read_text(encoding="utf-8"))
    assert resolved["scenario"]["seed"] == 1
    assert resolved["chain"]["block_gas_limit"] == 30_000_000   # defaults are written out
    assert load_scenario(out / "scenario.toml") == load_scenario()


def test_quickstart_figure_is_a_png(quickstart: tuple[Path, dict[str, Any]]) -> None:
    out, _ = quickstart
    data = (out / "figure.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert 400 <= width <= 6000 and 300 <= height <= 6000
    assert 10_000 < len(data) < 5_000_000
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82"


def test_quickstart_money_reconciles(quickstart: tuple[Path, dict[str, Any]]) -> None:
    _, summ = quickstart
    assert summ["contract"]["unexplained_wei"] == 0
    assert summ["agents"], "no agents in the summary"
    for name, a in summ["agents"].items():
        assert a["unexplained_wei"] == 0, name
        assert a["profit_wei"] == a["final_wei"] - a["start_wei"]
    supply = summ["supply"]
    assert supply["initial_wei"] == supply["final_total_wei"] == 20_000 * 10**18
    assert supply["fee_sink_wei"] == summ["gas"]["fees_wei"] > 0
    agents_total = sum(a["final_wei"] for a in summ["agents"].values())
    assert agents_total + summ["contract"]["final_balance_wei"] + supply["fee_sink_wei"] == \
        supply["initial_wei"]   # the default owner neither holds nor receives anything here


def test_quickstart_tables(quickstart: tuple[Path, dict[str, Any]]) -> None:
    out, summ = quickstart
    ts = pl.read_parquet(out / "timeseries.parquet")
    txs = pl.read_parquet(out / "transactions.parquet")
    cons = pl.read_parquet(out / "contributions.parquet")

    assert txs.height == summ["transactions"]["count"] > 0
    statuses = txs.group_by("status").len()
    counts = dict(zip(statuses["status"].to_list(), statuses["len"].to_list(), strict=True))
    for status in ("success", "reverted", "rejected"):
        assert counts.get(status, 0) == summ["transactions"][status], status
    assert txs["block"].is_sorted() and txs["time_s"].is_sorted()
    assert (txs["time_s"] >= txs["submitted_s"]).all()
    assert cons.height == summ["contract"]["contributions"] > 0
    assert cons["id"].to_list() == list(range(cons.height))

    for col in ("deposit_wei", "refunded_wei", "taken_wei", "claimable_wei"):
        assert cons.schema[col] == pl.Decimal(38, 0), col
    for col in ("fee_wei", "value_wei", "returned_wei", "gas_price_wei"):
        assert txs.schema[col] == pl.Decimal(38, 0), col

    for row in cons.iter_rows(named=True):
        dep, ref, tak, cla = (wei(row[c]) for c in ("deposit_wei", "refunded_wei", "taken_wei",
                                                     "claimable_wei"))
        assert ref + tak + cla == dep, row["id"]
        assert min(ref, tak, cla) >= 0
        claims = row["claims"]
        assert sum(int(c["amount_wei"]) for c in claims if c["kind"] == "refund") == ref
        assert sum(int(c["amount_wei"]) for c in claims if c["kind"] == "report") == tak
        assert all(c["time_s"] >= row["added_s"] for c in claims)
        expected = ("unclaimed" if not ref and not tak else "refunded" if not tak else
                    "partly_taken" if cla else "refunded_and_taken" if ref else "taken")
        assert row["outcome"] == expected, row

    last = ts.row(-1, named=True)
    assert wei(last["contract_wei"]) == summ["contract"]["final_balance_wei"]
    assert wei(last["contract_wei"]) == sum(wei(v) for v in cons["claimable_wei"])
    assert wei(last["fee_sink_wei"]) == summ["supply"]["fee_sink_wei"]
    assert wei(last["cum_fees_wei"]) == sum(wei(v) for v in txs["fee_wei"])
    assert last["cum_gas"] == txs["gas_used"].sum() == summ["gas"]["total"]
    for name, a in summ["agents"].items():
        assert wei(ts[0, f"balance_wei:{name}"]) == a["start_wei"]
        assert wei(last[f"balance_wei:{name}"]) == a["final_wei"]
    assert ts["time_s"].is_sorted() and ts["accuracy"].is_between(0, 1).all()
    assert last["time_s"] == pytest.approx(summ["end_time_s"])
    acc = summ["accuracy"]
    assert acc["initial"] == ts["accuracy"][0] and acc["final"] == ts["accuracy"][-1]
    assert acc["min"] == ts["accuracy"].min()


def test_wallets_reconcile_from_the_tables(quickstart: tuple[Path, dict[str, Any]]) -> None:
    """Each wallet's end balance, recomputed from the transactions and contributions tables."""
    out, summ = quickstart
    txs = pl.read_parquet(out / "transactions.parquet")
    cons = pl.read_parquet(out / "contributions.parquet")
    ts = pl.read_parquet(out / "timeseries.parquet")
    deposit = {r["id"]: wei(r["deposit_wei"]) for r in cons.iter_rows(named=True)}
    balance = {name: a["start_wei"] for name, a in summ["agents"].items()}
    for r in txs.iter_rows(named=True):
        s = r["sender"]
        balance[s] -= wei(r["fee_wei"])
        if r["status"] != "success":
            continue
        if r["method"] == "add_data":
            assert wei(r["value_wei"]) >= deposit[r["contribution"]]
            balance[s] -= deposit[r["contribution"]]
        else:
            balance[s] += wei(r["returned_wei"])
    for name, b in balance.items():
        assert b == wei(ts[-1, f"balance_wei:{name}"]), name


def test_deposits_follow_the_drt_formula(quickstart: tuple[Path, dict[str, Any]]) -> None:
    """deposit = w * 3600 // isqrt(dt), dt since the previous successful add (from 0)."""
    out, summ = quickstart
    w = load_scenario(out / "scenario.toml").incentive.cost_weight
    txs = pl.read_parquet(out / "transactions.parquet")
    cons = pl.read_parquet(out / "contributions.parquet")
    deposit = dict(zip(cons["id"].to_list(), (wei(d) for d in cons["deposit_wei"]), strict=True))
    added = dict(zip(cons["id"].to_list(), cons["added_s"].to_list(), strict=True))

    def required(now: float, last: float) -> int:
        dt = int(now - last)
        return w * 3600 // (isqrt(dt) if dt > 0 else 1)

    last = 0.0
    checked = underpaid = 0
    for r in txs.filter(pl.col("method") == "add_data").iter_rows(named=True):
        need = required(r["time_s"], last)
        if r["status"] == "success":
            cid = r["contribution"]
            assert deposit[cid] == need, (cid, r["time_s"], last)
            assert added[cid] == r["time_s"]
            assert wei(r["value_wei"]) >= need
            last = r["time_s"]
            checked += 1
        elif r["reason"] == "Didn't pay enough for the deposit.":
            assert wei(r["value_wei"]) < need
            underpaid += 1
    assert checked == len(deposit) > 0
    assert underpaid == summ["transactions"]["revert_reasons"].get(
        "Didn't pay enough for the deposit.", 0)
    # the very first add pays for all the time since deployment at t=0
    first = txs.filter((pl.col("method") == "add_data") & (pl.col("status") == "success")).row(
        0, named=True)
    assert deposit[0] == w * 3600 // isqrt(int(first["time_s"]))


def test_the_return_on_deposits_of_an_agent_that_deposited_nothing_is_null() -> None:
    """An attacker whose deposit cap no deposit meets never adds: its profit is what it spent
    on fees (here nothing either), and its return on deposits has nothing to divide by."""
    import sumsim

    summ = sumsim.run("quickstart", seed=2, overrides={
        "agents[1].max_deposit": 1e-18, "data.max_pool": 40,
        "metrics.counterfactual": False}).summary
    bad = summ["agents"]["bad"]
    assert bad["deposits_wei"] == 0 and bad["contributions"] == 0
    assert bad["roi"] is None and summ["agents"]["good"]["roi"] is not None


def test_honest_profits_and_attacker_loses(quickstart: tuple[Path, dict[str, Any]]) -> None:
    _, summ = quickstart
    agents = summ["agents"]
    good, bad = agents["good"], agents["bad"]
    assert good["kind"] == "honest" and not good["attacker"]
    assert bad["kind"] == "label_flip" and bad["attacker"]
    assert good["profit_wei"] > 0 and good["final_pct_of_start"] > 100 and good["roi"] > 0
    assert bad["profit_wei"] < 0 and bad["final_pct_of_start"] < 100 and bad["roi"] < 0
    assert good["contributions"] > bad["contributions"] > 0
    assert bad["lost_to_others_wei"] > 0 and good["takes_wei"] > 0
    assert summ["attacker_spend_wei"] == -bad["profit_wei"] > 0
    assert summ["honest_deposits_lost_wei"] == good["lost_to_others_wei"]

    cf = summ["counterfactual"]
    damage = cf["accuracy_damage_time_avg"]
    assert math.isfinite(damage)
    assert damage == pytest.approx(cf["time_avg_accuracy_without_attackers"]
                                   - cf["time_avg_accuracy_with_attackers"])
    assert damage > 0   # the label flipper does cost accuracy while it lasts
    # Both averages over one span, recomputed from the two accuracy series the run wrote:
    # each sample holds until the next, the last to the later of the two ends.
    out, _ = quickstart
    run = pl.read_parquet(out / "timeseries.parquet").select("time_s", "accuracy").rows()
    alone = pl.read_parquet(out / COUNTERFACTUAL).select("time_s", "accuracy").rows()
    end = max(run[-1][0], alone[-1][0])
    assert cf["horizon_s"] == end and run[-1][0] == summ["end_time_s"]
    assert run[-1][0] != alone[-1][0]  # (the quickstart's two runs end on different days)

    def held(rows: list[tuple[float, float]], until: float) -> float:
        times = [t for t, _ in rows] + [until]
        return sum(a * (times[i + 1] - t) for i, (t, a) in enumerate(rows)) / (until
                                                                               - rows[0][0])

    assert cf["time_avg_accuracy_with_attackers"] == pytest.approx(held(run, end), rel=1e-12)
    assert cf["time_avg_accuracy_without_attackers"] == pytest.approx(held(alone, end),
                                                                      rel=1e-12)
    # (accuracy.time_avg stays the run's own: over its own span)
    assert summ["accuracy"]["time_avg"] == pytest.approx(held(run, run[-1][0]), rel=1e-12)
    assert cf["accuracy_damage_final"] == pytest.approx(
        cf["final_accuracy_without_attackers"] - summ["accuracy"]["final"])
    assert cf["attacker_spend_eth_per_point_lost"] == pytest.approx(
        summ["attacker_spend_wei"] / 1e18 / (100 * damage))
    assert summ["accuracy"]["baseline_all_data"] is not None


# -- determinism -----------------------------------------------------------------------------


def test_same_seed_gives_byte_identical_outputs(tmp_path: Path) -> None:
    """In-process and in a fresh interpreter with another hash seed: same bytes."""
    a, b = tmp_path / "a", tmp_path / "b"
    summ = run_cli(a, *SHORT)
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-m", "sumsim", "run", *SHORT, "--out", str(b), "-q"],
                   check=True, env=env, cwd=tmp_path, timeout=120)
    assert summ["pool"]["size"] == 400
    for name in BYTE_IDENTICAL:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_same_seed_twice_in_process(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    run_cli(a, *SHORT, "--seed", "3")
    run_cli(b, *SHORT, "--seed", "3")
    for name in BYTE_IDENTICAL:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_different_seed_gives_a_different_run(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    s1 = run_cli(a, *SHORT)
    s2 = run_cli(b, *SHORT, "--seed", "2")
    assert s1["seed"] == 1 and s2["seed"] == 2
    assert s1 != s2
    assert s1["agents"]["good"]["final_wei"] != s2["agents"]["good"]["final_wei"]
    assert (a / "transactions.parquet").read_bytes() != (b / "transactions.parquet").read_bytes()
    assert tomllib.loads((b / "scenario.toml").read_text("utf-8"))["scenario"]["seed"] == 2
    for s in (s1, s2):
        assert s["contract"]["unexplained_wei"] == 0
        assert all(x["unexplained_wei"] == 0 for x in s["agents"].values())


# -- the paper's experiment on the real IMDB reviews --------------------------------------


@pytest.mark.imdb
def test_paper_imdb_perceptron_drt(imdb_real_cache: tuple[Path, Path, float], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Honest contributor well up, attacker nearly wiped out, accuracy near the baseline."""
    archive, cache_dir, _ = imdb_real_cache
    monkeypatch.setenv("SUMSIM_CACHE", str(cache_dir))   # reuse the session's featurization
    monkeypatch.delenv("SUMSIM_IMDB", raising=False)
    out = tmp_path / "paper"
    summ = run_cli(out, str(PAPER), "--seed", "1", "--data-path", str(archive))
    agents = summ["agents"]
    assert summ["scenario"] == "paper-imdb-perceptron-drt" and summ["seed"] == 1
    assert agents["good"]["final_pct_of_start"] > 150
    assert agents["bad"]["final_pct_of_start"] < 20
    acc = summ["accuracy"]
    assert acc["baseline_all_data"] == pytest.approx(0.795, abs=0.02)
    assert abs(acc["time_avg"] - acc["baseline_all_data"]) <= 0.05
    assert summ["contract"]["unexplained_wei"] == 0
    assert all(a["unexplained_wei"] == 0 for a in agents.values())
    assert summ["supply"]["initial_wei"] == summ["supply"]["final_total_wei"]
    assert summ["contract"]["contributions"] > 20_000
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    # 2019 prices: the mean add lies between the original contract's cost of a short review
    # not learnt (10th percentile, 48 words) and of a long one learnt (90th, 155 words).
    from sumsim.chain import evm_gas

    gas = summ["gas"]
    assert gas["fork"] == "petersburg"
    low = evm_gas.original_perceptron_gas("petersburg", "add_data", 48)
    high = evm_gas.original_perceptron_gas("petersburg", "add_data", 155, updates=True)
    assert low < gas["mean_add_data_gas"] < high
    assert gas["mean_add_data_fee_eth"] == pytest.approx(gas["mean_add_data_gas"] * 4e-9,
                                                         rel=1e-6)


SHIPPED = sorted(p.name for p in (Path(__file__).parents[1] / "scenarios").glob("*.toml")
                 if "imdb" not in p.name)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_scenario_writes_all_outputs(name: str, tmp_path: Path) -> None:
    """Short variant of each synthetic scenario through the CLI: every output file is written
    and the money reconciles (catches table code that only the DRT path exercised)."""
    scenario = Path(__file__).parents[1] / "scenarios" / name
    out = tmp_path / "out"
    assert main(["run", str(scenario), "--out", str(out), "-q", "--set", "data.max_pool=150",
                 "--set", "metrics.counterfactual=false"]) == 0
    for f in FILES:
        assert (out / f).is_file(), f
    summary = json.loads((out / "summary.json").read_text())
    assert summary["contract"]["unexplained_wei"] == 0
    assert all(a["unexplained_wei"] == 0 for a in summary["agents"].values())
    tx = pl.read_parquet(out / "transactions.parquet")
    assert tx.height == summary["transactions"]["count"]


# -- the command's exit -------------------------------------------------------------------------


def test_command_output_is_complete_and_a_reader_may_be_gone(tmp_path: Path) -> None:
    """The command leaves without tearing the interpreter down: what it printed must still all
    arrive (flushed), and a reader that is gone is no error (no traceback)."""
    from sumsim.scenario.loader import BUNDLED

    cmd = [sys.executable, "-m", "sumsim", "run", "--list"]
    env = {**os.environ, "PYTHONUNBUFFERED": ""}  # (block-buffered: a missing flush would show)
    whole = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    assert whole.returncode == 0, whole.stderr
    assert [ln.split()[0] for ln in whole.stdout.splitlines()] == list(BUNDLED)
    read, write = os.pipe()
    os.close(read)  # a reader that is gone before the first line arrives
    try:
        gone = subprocess.run(cmd, stdout=write, stderr=subprocess.PIPE, text=True, env=env,
                              timeout=60)
    finally:
        os.close(write)
    assert gone.returncode == 0, gone.stderr
    assert gone.stderr == ""


def test_an_output_folder_has_the_usual_permissions(tmp_path: Path) -> None:
    """Written through a private temporary folder (mode 0700), it is then a folder like any
    other the user makes (0777 less the umask), so others can read the outputs."""
    mask = os.umask(0o022)
    try:
        run_cli(tmp_path / "out", *SHORT, "--set", "metrics.figure=false")
    finally:
        os.umask(mask)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755


def test_a_run_result_prints_in_one_line() -> None:
    """``repr`` of a finished run (what a notebook shows for ``res.raw``) says what ran, not
    every array the run holds."""
    from sumsim.engine import run

    sc = load_scenario(None, {"metrics.counterfactual": False, "data.synthetic.n_train": 300,
                              "data.synthetic.n_test": 100})
    r = run(sc, seed=3)
    text = repr(r)
    assert "\n" not in text and len(text) < 200
    assert f"{len(r.contract.data.records)} contributions" in text
    assert f"{len(r.chain.receipts)} transactions" in text


def test_the_printed_summary_gives_the_counterfactual_damage(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The damage the README promises is on the console too when the run has a
    counterfactual (and absent without one)."""
    import json

    from sumsim.cli import main

    assert main(["run", "--out", str(tmp_path / "a"), "--set", "data.max_pool=60"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines()
                if "without the attackers" in ln)
    cf = json.loads((tmp_path / "a" / "summary.json").read_text())["counterfactual"]
    days = cf["horizon_s"] / 86_400
    span = (f" over {days:.1f} days (this run over the same {days:.1f} days, its model held "
            f"after its end: {cf['time_avg_accuracy_with_attackers']:.4f})"
            if cf["horizon_s"] > json.loads((tmp_path / "a" / "summary.json").read_text())[
                "end_time_s"] else "")
    assert line.strip() == (f"without the attackers: time-avg "
                            f"{cf['time_avg_accuracy_without_attackers']:.4f}{span}  damage "
                            f"{100 * cf['accuracy_damage_time_avg']:+.2f} points")
    assert main(["run", "--out", str(tmp_path / "b"), "--set", "data.max_pool=60",
                 "--set", "metrics.counterfactual=false"]) == 0
    assert "without the attackers" not in capsys.readouterr().out


def test_the_printed_summary_gives_the_mechanism_state(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The mechanism's own end state is on the console (the points by address, a market's
    bounty and what its provider took back), amounts in ether, as summary.json holds it."""
    from sumsim.cli import _incentive_line

    assert main(["run", "mechanisms-points", "--out", str(tmp_path / "p"), "--set",
                 "data.max_pool=60", "--set", "metrics.counterfactual=false"]) == 0
    out = capsys.readouterr().out
    inc = json.loads((tmp_path / "p" / "summary.json").read_text())["incentive"]
    points = ", ".join(f"{a} {n}" for a, n in inc["points"].items())
    assert f"  points: points {points}; judged {inc['judged']}\n" in out
    line = _incentive_line({"kind": "prediction_market", "phase": "settled",
                            "bounty_returned_wei": 866_584_700_000_000_000_000,
                            "stakes_wei": {"bad": 63 * 10**18}, "rounds": [{"x": 1}],
                            "removed": [3], "empty": {}})
    assert line == ("prediction_market: phase settled; bounty_returned 866.5847 ETH; "
                    "stakes bad 63.0000 ETH")
    assert _incentive_line({"kind": "quiet"}) == ""


@pytest.mark.parametrize(("how", "named"), [("env", "SUMSIM_IMDB"), ("option", "--data-path")])
def test_a_missing_imdb_archive_is_named_where_it_was_given(
        how: str, named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The error names where the path came from: the user set SUMSIM_IMDB or --data-path,
    not the scenario's data.path."""
    missing = str(tmp_path / "nowhere.tar.gz")
    monkeypatch.delenv("SUMSIM_IMDB", raising=False)
    args = ["run", str(PAPER), "--out", str(tmp_path / "out"), "-q"]
    if how == "env":
        monkeypatch.setenv("SUMSIM_IMDB", missing)
    else:
        args += ["--data-path", missing]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"paper-imdb-perceptron-drt.toml: {named}: {missing}: no such file" in err, err
    assert not (tmp_path / "out").exists()
