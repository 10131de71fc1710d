"""Sweep folders are safe: one sweep at a time (an OS lock, taken over from a dead process),
and a damaged manifest is rebuilt from the per-run records without running anything again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sumsim.cli import main
from sumsim.errors import InputError
from sumsim.sweep_store import LOCK, RECORDS, folder_lock
from sumsim.sweeps import MANIFEST, RESULTS, load_sweep, run_sweep
from test_sweep import FULL, GRID, write_base, write_sweep


def rows(out: Path) -> dict[str, dict[str, Any]]:
    return {r["run_id"]: r for r in json.loads((out / MANIFEST).read_text())["runs"]}


@pytest.fixture
def done(tmp_path: Path) -> tuple[Path, Path, dict[str, dict[str, Any]]]:
    """A finished 8-run sweep: (sweep file, folder, its manifest rows by run id)."""
    path = write_sweep(tmp_path, grid=GRID)
    out = tmp_path / "out"
    run_sweep(load_sweep(path), out, executor="local")
    return path, out, rows(out)


def test_every_finished_run_leaves_a_record(done: tuple[Path, Path, dict[str, Any]]) -> None:
    _, out, finished = done
    records = {p.stem: json.loads(p.read_text()) for p in (out / RECORDS).glob("*.json")}
    assert set(records) == set(finished)
    for run_id, rec in records.items():
        assert rec["row"] == finished[run_id]


@pytest.mark.parametrize(("damage", "notice"), [
    (lambda text: text[: len(text) // 2], True),          # truncated mid-write
    (lambda text: "", True),                              # emptied
    (lambda text: "[]", True),                            # JSON of the wrong shape
    (lambda text: '{"runs": 5}', True),
    (lambda text: '{"runs": [{"run_id": 1}]}', True),
    (lambda text: json.dumps({**json.loads(text), "runs": []}), False),  # valid, rows lost
], ids=["truncated", "empty", "list", "runs-not-a-list", "bad-row", "lost-rows"])
def test_a_damaged_manifest_is_rebuilt_without_running_again(
        done: tuple[Path, Path, dict[str, Any]], damage: Any, notice: bool,
        capsys: pytest.CaptureFixture[str]) -> None:
    path, out, finished = done
    manifest = out / MANIFEST
    manifest.write_text(damage(manifest.read_text()))
    assert main(["sweep", str(path), "--executor", "local", "--out", str(out), "-q",
                 "--no-report"]) == 0
    assert rows(out) == finished  # identical rows, elapsed times included: nothing re-ran
    err = capsys.readouterr().err
    assert ("rebuilt from 8 per-run records" in err) == notice, err


def test_repair_rebuilds_from_records(done: tuple[Path, Path, dict[str, Any]],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, out, finished = done
    (out / MANIFEST).write_text("{}")  # no runs, no fingerprint
    (out / RESULTS).unlink()
    assert main(["sweep", str(path), "--executor", "local", "--out", str(out), "-q",
                 "--no-report", "--repair"]) == 0
    assert "rebuilt from 8 per-run records" in capsys.readouterr().err
    assert rows(out) == finished
    assert (out / RESULTS).exists()


def test_a_damaged_manifest_without_records_asks_for_repair(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid=GRID)
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text('{"runs": [')
    with pytest.raises(InputError, match=r"corrupt manifest.*--repair"):
        run_sweep(load_sweep(path), out, executor="local")
    # --repair starts the folder afresh
    df = run_sweep(load_sweep(path), out, executor="local", repair=True)
    assert df["status"].to_list() == ["ok"] * 8


def test_records_of_another_sweep_are_refused(done: tuple[Path, Path, dict[str, Any]],
                                              tmp_path: Path) -> None:
    _, out, _ = done
    other = write_sweep(tmp_path, "other.toml", grid=GRID, seed=5)
    (out / MANIFEST).write_text("not json")
    with pytest.raises(InputError, match="different base scenario"):
        run_sweep(load_sweep(other), out, executor="local")


def test_a_second_sweep_into_a_busy_folder_refuses(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, grid=GRID)
    out = tmp_path / "out"
    with folder_lock(out):
        code = main(["sweep", str(path), "--executor", "local", "--out", str(out), "-q"])
        err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert str(out) in err and f"process {os.getpid()}" in err and "another sweep" in err
    assert not (out / MANIFEST).exists()
    # released: the same sweep now runs
    assert main(["sweep", str(path), "--executor", "local", "--out", str(out), "-q",
                 "--no-report"]) == 0


def test_two_concurrent_sweep_processes(tmp_path: Path) -> None:
    """The second of two sweeps started into one folder refuses; the first loses nothing."""
    write_base(tmp_path, FULL, "full.toml")  # runs of a few tenths of a second: they overlap
    path = write_sweep(tmp_path, base="full.toml", grid=GRID, seeds=3)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sumsim", "sweep", str(path), "--executor", "local",
           "--out", str(out), "-q", "--no-report"]
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (out / LOCK).exists() or not (out / LOCK).read_text().strip():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert first.poll() is None, "the first sweep should still be running"
        _, err1 = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2, second.stderr
    assert f"process {first.pid}" in second.stderr and str(out) in second.stderr
    assert "Traceback" not in second.stderr and second.stderr.count("\n") == 1
    assert first.returncode == 0, err1
    assert len(rows(out)) == len(load_sweep(path).tasks)


def test_a_lock_left_by_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid=GRID)
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (out / LOCK).write_text(f"{dead}\n")  # a lock file whose holder is gone (no OS lock)
    df = run_sweep(load_sweep(path), out, executor="local")
    assert df["status"].to_list() == ["ok"] * 8


def test_bad_workers_and_out(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid=GRID)
    with pytest.raises(InputError, match="workers"):
        run_sweep(load_sweep(path), tmp_path / "out", workers=0)
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(InputError, match="not a folder"):
        run_sweep(load_sweep(path), afile, executor="local")


def test_a_run_slower_than_max_wall_s_is_a_failed_row(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid=GRID)
    df = run_sweep(load_sweep(path), tmp_path / "out", executor="local", max_wall_s=1e-6)
    assert df["status"].to_list() == ["failed"] * 8
    assert all(e.startswith("WallClockExceeded: ") for e in df["error"].to_list())


def test_a_sweep_and_a_run_keep_to_folders_of_their_own(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A sweep into a run's folder wrote beside the run's files, and ``sumsim run --force``
    into the sweep's folder then deleted every finished run: both are refused."""
    from sumsim.cli import main

    run = tmp_path / "run"
    assert main(["run", "--out", str(run), "-q", "--set", "data.max_pool=40",
                 "--set", "metrics.counterfactual=false"]) == 0
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nbase = "quickstart"\nseeds = 1\n[[points]]\n'
                     '"data.max_pool" = 40\n"metrics.counterfactual" = false\n')
    assert main(["sweep", str(sweep), "--out", str(run), "-q", "--executor", "local"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{run}: --out: this folder holds 'contributions.parquet', which is "
                          "not a sweep's")
    assert not (run / "records").exists()
    out = tmp_path / "sweep"
    assert main(["sweep", str(sweep), "--out", str(out), "-q", "--executor", "local",
                 "--no-report"]) == 0
    capsys.readouterr()
    assert main(["run", "--out", str(out), "--force", "-q"]) == 2
    assert "holds a sweep (manifest.json); --force replaces a run's outputs only" in \
        capsys.readouterr().err
    assert (out / "manifest.json").is_file() and any((out / "records").iterdir())


def test_run_force_replaces_only_a_runs_outputs(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """``--force`` on a folder of notes given by mistake must not delete them; a run's own
    folder (with or without the counterfactual's file) is replaced."""
    notes = tmp_path / "notes"
    (notes / "sub").mkdir(parents=True)
    (notes / "todo.txt").write_text("precious")
    small = ["--set", "data.max_pool=40", "--set", "metrics.counterfactual=false"]
    assert main(["run", "--out", str(notes), "--force", "-q", *small]) == 2
    assert capsys.readouterr().err.strip() == (
        f"--out: {notes} holds 'sub' and more, which is not a run's output; --force replaces "
        "a run's outputs only: choose another --out, or remove the folder yourself")
    assert (notes / "todo.txt").read_text() == "precious" and (notes / "sub").is_dir()
    run = tmp_path / "run"
    assert main(["run", "--out", str(run), "-q", "--set", "data.max_pool=40"]) == 0
    assert (run / "counterfactual.parquet").is_file()
    assert main(["run", "--out", str(run), "--force", "-q", *small]) == 0
    assert not (run / "counterfactual.parquet").exists()


def test_a_resumed_sweep_says_how_many_runs_it_kept(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, seeds=1, grid={"agents[1].budget": [100, 1000]})
    out = tmp_path / "out"
    notices: list[str] = []
    run_sweep(load_sweep(path), out, executor="local", on_notice=notices.append)
    assert notices == []  # (a fresh sweep resumes nothing)
    more = write_sweep(tmp_path, "more.toml", seeds=1,
                       grid={"agents[1].budget": [100, 1000, 3000]})
    run_sweep(load_sweep(more), out, executor="local", on_notice=notices.append)
    assert notices == ["resuming: 2 of the 3 runs finished before and are kept; 1 to run"]


def test_mechanisms_compared_cell_by_cell_with_a_whole_table_reference(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The guide's example: [[points]] giving each mechanism's incentive table over a budget
    grid, compared with DRT at each budget by naming DRT's table as the reference."""
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nbase = "quickstart"\nseeds = 2\n[grid]\n'
                     '"agents[1].budget" = [100, 1000]\n"data.max_pool" = [40]\n'
                     '"metrics.counterfactual" = [false]\n'
                     '[[points]]\nincentive = { kind = "deposit_refund_take" }\n'
                     '[[points]]\nincentive = { kind = "points" }\n')
    out = tmp_path / "out"
    assert main(["sweep", str(sweep), "--out", str(out), "-q", "--executor", "local",
                 "--no-report"]) == 0
    assert main(["report", str(out), "--reference", 'incentive={kind="deposit_refund_take"}',
                 "--metric", "accuracy.time_avg"]) == 0
    printed = capsys.readouterr().out
    for budget in (100, 1000):
        assert f'  agents[1].budget = {budget}, incentive = {{"kind":"points"}}\n' in printed
    import polars as pl

    table = pl.read_parquet(out / "results.parquet")
    diffs = pl.read_parquet(out / "paired_differences.parquet")
    assert diffs["n"].to_list() == [2, 2]
    for r in diffs.iter_rows(named=True):  # (each budget against DRT at that budget)
        cell = table.filter(pl.col("param:agents[1].budget") == r["agents[1].budget"])
        drt = cell.filter(pl.col("param:incentive").str.contains("deposit_refund_take"))
        pts = cell.filter(pl.col("param:incentive").str.contains('"points"'))
        want = (pts.sort("replicate")["accuracy.time_avg"]
                - drt.sort("replicate")["accuracy.time_avg"]).mean()
        assert r["mean_diff"] == pytest.approx(want, rel=1e-12)


def test_a_bundled_base_wins_over_a_folder_of_that_name(tmp_path: Path) -> None:
    """The quickstart page has ``sumsim run --out quickstart``; a sweep beside that folder
    naming ``base = "quickstart"`` read the folder ("is a directory") instead of the bundled
    scenario, as ``sumsim run quickstart`` there does."""
    (tmp_path / "quickstart").mkdir()
    path = write_sweep(tmp_path, base="quickstart", seeds=1,
                       grid={"agents[1].budget": [100, 300]})
    assert len(load_sweep(path).tasks) == 2


def test_a_data_table_edited_between_two_invocations_is_not_mixed(tmp_path: Path) -> None:
    """Runs on the table as it was and as it is would share one results table silently: the
    folder is refused as another sweep's (use another --out)."""
    from sumsim.sweeps import load_sweep, run_sweep

    def table(flip: bool) -> None:
        rows = ["f0,f1,label"] + [f"{i % 7},{(i * 3) % 5},{(i % 2) ^ flip}" for i in range(300)]
        (tmp_path / "d.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    (tmp_path / "base.toml").write_text(
        '[scenario]\nname = "t"\n[data]\ndataset = "csv"\npath = "d.csv"\n'
        '[model]\nkind = "perceptron"\nfixed_point = false\n'
        '[[agents]]\nname = "good"\nkind = "honest"\nbalance = 1000\ninterval_s = 600\n'
        '[metrics]\ncounterfactual = false\nfigure = false\n', encoding="utf-8")
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[sweep]\nbase = "base.toml"\nseeds = 1\n[grid]\n'
                     '"agents[0].balance" = [1000]\n', encoding="utf-8")
    table(False)
    out = tmp_path / "out"
    assert run_sweep(load_sweep(sweep), out, executor="local")["status"].to_list() == ["ok"]
    assert run_sweep(load_sweep(sweep), out, executor="local").height == 1  # (resumed)
    table(True)
    with pytest.raises(InputError, match=r"different base scenario \(or data table\)"):
        run_sweep(load_sweep(sweep), out, executor="local")


def test_runs_of_another_sumsim_version_run_again(done: tuple[Path, Path, dict[str, Any]]
                                                   ) -> None:
    """A folder resumed after an upgrade: the runs the older version made are made again, so
    one table never mixes two versions' rules and gas."""
    from sumsim import __version__

    path, out, finished = done
    assert {r["version"] for r in finished.values()} == {__version__}
    before = (out / RESULTS).read_bytes()
    older, unnamed, *kept = sorted(finished)
    for run_id, version in ((older, "0.0.1"), (unnamed, None)):
        record = out / RECORDS / f"{run_id}.json"
        data = json.loads(record.read_text())
        data["row"].pop("version")
        if version is not None:
            data["row"]["version"] = version
        data["row"]["elapsed_s"] = -1.0  # (a mark: gone once the run is made again)
        record.write_text(json.dumps(data))
    notices: list[str] = []
    run_sweep(load_sweep(path), out, executor="local", on_notice=notices.append)
    assert notices[0] == (f"{out}: 2 finished run(s) were made by an earlier sumsim (1), "
                          f"sumsim 0.0.1 (1); they run again with sumsim {__version__} (one "
                          "table never mixes the runs of two versions)")
    assert notices[1] == "resuming: 6 of the 8 runs finished before and are kept; 2 to run"
    now = rows(out)
    assert {r["version"] for r in now.values()} == {__version__}
    assert now[older]["elapsed_s"] > 0 and now[unnamed]["elapsed_s"] > 0
    assert all(now[k] == finished[k] for k in kept)  # (untouched: not run again)
    assert (out / RESULTS).read_bytes() == before  # (same code: the same table)


def test_a_lock_that_is_not_a_file_is_an_input_error(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, seeds=1, grid={"agents[1].budget": [100]})
    out = tmp_path / "out"
    (out / LOCK).mkdir(parents=True)
    assert main(["sweep", str(path), "--executor", "local", "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert err == (f"{out}: cannot open the sweep lock .lock: Is a directory (remove it if no "
                   "sweep is running here)\n")


def test_records_that_are_not_a_folder_are_an_input_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_sweep(tmp_path, seeds=1, grid={"agents[1].budget": [100]})
    out = tmp_path / "out"
    out.mkdir()
    (out / RECORDS).write_text("not a folder")
    assert main(["sweep", str(path), "--executor", "local", "--out", str(out), "-q"]) == 2
    assert capsys.readouterr().err == (f"{out}: records is not a folder (a sweep keeps one "
                                       "record a run there): remove it or use another --out\n")
