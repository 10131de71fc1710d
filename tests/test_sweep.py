"""Sweeps: one table whatever the executor, seeds that follow the parameters (not positions),
resuming after Ctrl-C and after ``kill -9``, failed runs, sweep-file validation, the
``sweep``/``report`` commands and the confidence intervals of the figures."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import tomli_w
from scipy import stats

from sumsim import sweeps
from sumsim.cli import main
from sumsim.errors import InputError
from sumsim.report import aggregate, mean_ci, sweep_figures
from sumsim.scenario.loader import apply_overrides, bundled_text
from sumsim.sweeps import MANIFEST, RESULTS, derive_seed, load_sweep, read_manifest, run_sweep

#: A quickstart small enough for a run to take a few hundredths of a second.
TINY = {"data.max_pool": 150, "data.synthetic.n_train": 600, "data.synthetic.n_test": 300,
        "metrics.counterfactual": False, "metrics.figure": False}
#: The full-size quickstart without its counterfactual (a few tenths of a second a run).
FULL = {"metrics.counterfactual": False, "metrics.figure": False}
#: Two parameters x two values x two seeds: 8 runs.
GRID: dict[str, list[Any]] = {"agents[1].budget": [100, 1000],
                              "model.kind": ["perceptron", "naive_bayes"]}
PNG = b"\x89PNG\r\n\x1a\n"


def write_base(folder: Path, overrides: dict[str, Any] = TINY, name: str = "tiny.toml") -> Path:
    """The bundled quickstart with ``overrides`` applied, as a scenario file in ``folder``."""
    data = apply_overrides(tomllib.loads(bundled_text("quickstart")), overrides)
    path = folder / name
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def write_sweep(folder: Path, name: str = "sweep.toml", *, base: str = "tiny.toml",
                seeds: int = 2, seed: int = 0, grid: dict[str, list[Any]] | None = None,
                points: list[dict[str, Any]] | None = None, **section: Any) -> Path:
    """A sweep file in ``folder`` (the base scenario is written there too when missing)."""
    if base == "tiny.toml" and not (folder / base).exists():
        write_base(folder)
    doc: dict[str, Any] = {"sweep": {"name": name.removesuffix(".toml"), "base": base,
                                     "seeds": seeds, "seed": seed, **section}}
    if grid:
        doc["grid"] = grid
    if points:
        doc["points"] = points
    path = folder / name
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def same_table(df: pl.DataFrame, expected: pl.DataFrame) -> bool:
    """The same columns in the same order, with the same types and values."""
    return df.columns == expected.columns and df.equals(expected)


def manifest_rows(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / MANIFEST).read_text(encoding="utf-8"))["runs"]


def assert_one_row_per_run(out: Path, run_ids: list[str]) -> None:
    ids = [r["run_id"] for r in manifest_rows(out)]
    assert sorted(ids) == sorted(run_ids), "the manifest must hold each run exactly once"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    """The GRID sweep run in-process into a fresh folder: (sweep file, table)."""
    folder = tmp_path_factory.mktemp("reference")
    path = write_sweep(folder, grid=GRID)
    return path, run_sweep(load_sweep(path), folder / "out", executor="local")


# -- the table --------------------------------------------------------------------------------


def test_reference_table_has_one_ok_row_per_run_in_task_order(
        reference: tuple[Path, pl.DataFrame]) -> None:
    path, df = reference
    sweep = load_sweep(path)
    assert len(sweep.tasks) == 8
    assert df.columns[:8] == ["run_index", "run_id", "replicate", "seed",
                              "param:agents[1].budget", "param:model.kind", "status", "error"]
    assert df["run_index"].to_list() == list(range(8))
    assert df["run_id"].to_list() == [t.run_id for t in sweep.tasks]
    assert df["seed"].to_list() == [t.seed for t in sweep.tasks]  # the seed each run used
    assert df["replicate"].to_list() == [0, 1] * 4
    assert df["status"].to_list() == ["ok"] * 8 and df["error"].to_list() == [""] * 8
    assert df["param:agents[1].budget"].to_list() == [100, 100, 100, 100, 1000, 1000, 1000, 1000]
    assert df["param:model.kind"].to_list() == ["perceptron"] * 2 + ["naive_bayes"] * 2 + \
        ["perceptron"] * 2 + ["naive_bayes"] * 2
    assert df["accuracy.final"].null_count() == 0
    assert df["accuracy.final"].n_unique() > 1
    # amounts in wei stay exact (Decimal), with a float ether twin
    assert df.schema["attacker_spend_wei"] == pl.Decimal(38, 0)
    assert df.schema["attacker_spend_eth"] == pl.Float64


def test_results_parquet_is_the_returned_table(reference: tuple[Path, pl.DataFrame]) -> None:
    path, df = reference
    on_disk = pl.read_parquet(path.parent / "out" / RESULTS)
    assert on_disk.equals(df) and on_disk.columns == df.columns


@pytest.mark.parametrize("executor", ["process", "dask"])
def test_table_is_identical_under_every_executor(
        executor: str, reference: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    if executor == "dask":
        pytest.importorskip("distributed", reason="the dask executor needs dask[distributed]")
    path, expected = reference
    out = tmp_path / executor
    df = run_sweep(load_sweep(path), out, executor=executor, workers=2)  # type: ignore[arg-type]
    assert df.columns == expected.columns
    assert df.schema == expected.schema
    assert df.equals(expected)
    # the written table is byte for byte the same file
    assert (out / RESULTS).read_bytes() == (path.parent / "out" / RESULTS).read_bytes()


def _worker_settings(task: Any) -> dict[str, Any]:
    """What a Dask worker's own configuration says, as a sweep row would carry it."""
    import dask

    return {"run_index": task.index, "settings": {k: dask.config.get(k)
                                                   for k in sweeps.DASK_WORKER_CONFIG}}


def test_the_cluster_a_sweep_starts_runs_workers_with_the_sweep_settings(
        reference: tuple[Path, pl.DataFrame]) -> None:
    """The workers of the LocalCluster that ``--executor dask`` starts have the profiler off and
    their event-loop and memory checks spaced out (read in the worker processes themselves)."""
    pytest.importorskip("distributed", reason="the dask executor needs dask[distributed]")
    import dask

    tasks = load_sweep(reference[0]).tasks[:2]
    rows = list(sweeps.EXECUTORS["dask"](_worker_settings, tasks, 2, None))
    assert sorted(r["run_index"] for r in rows) == [t.index for t in tasks]
    for r in rows:
        assert r["settings"] == sweeps.DASK_WORKER_CONFIG
    # (this process keeps its own settings)
    assert dask.config.get("distributed.admin.tick.interval") != "1s"


def test_dask_executor_on_a_given_scheduler(reference: tuple[Path, pl.DataFrame],
                                            tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="the dask executor needs dask[distributed]")
    from distributed import LocalCluster

    path, expected = reference
    out = tmp_path / "out"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        assert main(["sweep", str(path), "--executor", "dask", "--scheduler",
                     cluster.scheduler_address, "--out", str(out), "-q", "--no-report"]) == 0
        assert cluster.status.name == "running"  # the sweep leaves a given cluster running
    assert pl.read_parquet(out / RESULTS).equals(expected)


def test_dask_executor_on_a_real_multi_process_cluster(reference: tuple[Path, pl.DataFrame],
                                                       tmp_path: Path) -> None:
    """A scheduler and two workers started as separate processes, as on a real cluster (each
    its own interpreter importing sumsim): the sweep through ``--scheduler`` gives the
    identical table, and the cluster is stopped afterwards."""
    pytest.importorskip("distributed", reason="the dask executor needs dask[distributed]")
    from distributed import Client

    path, expected = reference
    address_file = tmp_path / "scheduler.json"
    common = ["--no-dashboard"]
    procs: list[subprocess.Popen[bytes]] = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(name: str, *args: str) -> None:
        log = (logs / f"{name}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-m", *args], stdout=log,
                                      stderr=subprocess.STDOUT, cwd=tmp_path))

    try:
        start("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
              "--port", "0", "--scheduler-file", str(address_file), *common)
        deadline = time.monotonic() + 60
        while not address_file.exists():
            assert time.monotonic() < deadline, (logs / "scheduler.log").read_text()
            assert procs[0].poll() is None, (logs / "scheduler.log").read_text()
            time.sleep(0.1)
        for k in range(2):
            # (started as the sweeps guide says: importing a run's modules as they start)
            preload = [a for m in sweeps.PRELOAD for a in ("--preload", m)]
            start(f"worker{k}", "distributed.cli.dask_worker", "--scheduler-file",
                  str(address_file), "--nworkers", "1", "--nthreads", "1", "--host",
                  "127.0.0.1", *preload, *common)
        address = json.loads(address_file.read_text())["address"]
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            pids = set(client.run(os.getpid).values())
            # each worker imported the run's modules when it started, before any task
            assert all(client.run(lambda: all(m in sys.modules for m in sweeps.PRELOAD)).values())
        assert len(pids) == 2 and os.getpid() not in pids  # two processes besides this one
        out = tmp_path / "out"
        assert main(["sweep", str(path), "--executor", "dask", "--scheduler", address,
                     "--out", str(out), "-q", "--no-report"]) == 0
        assert same_table(pl.read_parquet(out / RESULTS), expected)
        assert (out / RESULTS).read_bytes() == (path.parent / "out" / RESULTS).read_bytes()
        assert all(p.poll() is None for p in procs)  # the sweep left the cluster running
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    assert all(p.returncode is not None for p in procs)


def test_dask_executor_without_distributed_says_what_to_install(
        reference: tuple[Path, pl.DataFrame], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail
    with pytest.raises(InputError, match=r"pip install 'sumsim\[dask\]'"):
        run_sweep(load_sweep(reference[0]), tmp_path / "out", executor="dask")


# -- seeds and run ids ------------------------------------------------------------------------


def test_derive_seed_depends_on_params_replicate_and_sweep_seed_only() -> None:
    params = {"agents[1].budget": 100, "model.kind": "perceptron"}
    seed = derive_seed(0, params, 0)
    assert 0 <= seed < 2**32
    assert derive_seed(0, dict(reversed(params.items())), 0) == seed  # key order is irrelevant
    assert derive_seed(0, params, 1) != seed
    assert derive_seed(1, params, 0) != seed
    assert derive_seed(0, {**params, "agents[1].budget": 1000}, 0) != seed
    assert len({derive_seed(0, params, r) for r in range(200)}) == 200


@pytest.mark.parametrize("paired", [True, False])
def test_adding_grid_values_changes_no_other_run(tmp_path: Path, paired: bool) -> None:
    small = load_sweep(write_sweep(tmp_path, "small.toml", seeds=3, grid=GRID, paired=paired))
    grid = {**GRID, "agents[1].budget": [50, 100, 500, 1000, 5000]}
    big = load_sweep(write_sweep(tmp_path, "big.toml", seeds=3, grid=grid, paired=paired))
    assert len(small.tasks) == 12 and len(big.tasks) == 30

    def key(t: Any) -> str:
        return json.dumps([t.params, t.replicate], sort_keys=True)

    in_big = {key(t): t for t in big.tasks}
    moved = 0
    for t in small.tasks:
        other = in_big[key(t)]
        assert (other.seed, other.run_id) == (t.seed, t.run_id)
        assert t.seed == derive_seed(0, {} if paired else t.params, t.replicate)
        moved += other.index != t.index
    assert moved == len(small.tasks)  # every old run has a new position, yet the same seed
    assert len({t.run_id for t in big.tasks}) == len(big.tasks)
    # paired: one seed per replicate, shared by every point; unpaired: a seed per run
    assert len({t.seed for t in big.tasks}) == (3 if paired else len(big.tasks))


def test_paired_points_share_everything_the_attacker_does_not_touch(tmp_path: Path) -> None:
    """Common random numbers: in a paired sweep over the attacker's budget, each replicate's
    split, honest draws and arrivals are the same at every point, so the without-attackers
    counterfactual is identical across points, and the runs differ only where the attacker
    acts."""
    base = write_base(tmp_path, {**TINY, "metrics.counterfactual": True}, "cf.toml")
    sweep = load_sweep(write_sweep(tmp_path, base=base.name, seeds=3,
                                   grid={"agents[1].budget": [5, 100, 2000]}))
    df = run_sweep(sweep, tmp_path / "out", executor="local")
    # (its time average is over the span of the longer of the two runs, which the attacker
    # moves: the counterfactual's own samples are compared)
    cf = [c for c in df.columns if c.startswith("counterfactual.") and "without" in c
          and "time_avg" not in c]
    assert len(cf) == 2
    for _, part in df.group_by("replicate"):
        assert part.height == 3
        for c in cf + ["pool.size", "accuracy.initial", "accuracy.baseline_all_data"]:
            assert part[c].n_unique() == 1, c  # identical at every budget
        assert part["contract.contributions"].n_unique() > 1  # what the budget changes
    # unpaired, the same grid draws a different split per point
    unpaired = load_sweep(write_sweep(tmp_path, "u.toml", base=base.name, seeds=3,
                                      grid={"agents[1].budget": [5, 100, 2000]},
                                      paired=False))
    du = run_sweep(unpaired, tmp_path / "u", executor="local")
    assert any(part["counterfactual.time_avg_accuracy_without_attackers"].n_unique() > 1
               for _, part in du.group_by("replicate"))


def test_resume_after_adding_grid_values_runs_only_new_points(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_sweep(load_sweep(write_sweep(tmp_path, "a.toml", grid={"agents[1].budget": [100, 1000]})),
              out, executor="local")
    grown = write_sweep(tmp_path, "b.toml", grid={"agents[1].budget": [50, 100, 1000]})
    ran: list[str] = []
    df = run_sweep(load_sweep(grown), out, executor="local",
                   on_row=lambda r: ran.append(r["run_id"]))
    clean = run_sweep(load_sweep(grown), tmp_path / "clean", executor="local")
    assert len(ran) == 2
    assert df["param:agents[1].budget"].to_list() == [50, 50, 100, 100, 1000, 1000]
    assert same_table(df, clean)


def test_resume_after_changing_the_sweep_seed_does_not_mix_seeds(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_sweep(load_sweep(write_sweep(tmp_path, seed=0, grid={"agents[1].budget": [100]})), out,
              executor="local")
    sweep = load_sweep(write_sweep(tmp_path, seed=7, grid={"agents[1].budget": [100]}))
    try:
        df = run_sweep(sweep, out, executor="local")
    except InputError:
        return  # refusing a folder made by another sweep is fine too
    assert df["seed"].to_list() == [t.seed for t in sweep.tasks]


# -- interruption and resume -------------------------------------------------------------------


@pytest.mark.parametrize("executor", ["local", "process"])
def test_interrupted_sweep_resumes_with_only_the_missing_runs(
        executor: str, reference: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    path, clean = reference
    sweep = load_sweep(path)
    out = tmp_path / "out"
    first: list[str] = []

    def interrupt_after_two(row: dict[str, Any]) -> None:
        first.append(row["run_id"])
        if len(first) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(sweep, out, executor=executor, workers=2,  # type: ignore[arg-type]
                  on_row=interrupt_after_two)
    assert [r["run_id"] for r in manifest_rows(out)] == sorted(
        first, key=lambda i: next(t.index for t in sweep.tasks if t.run_id == i))
    assert not (out / RESULTS).exists()

    second: list[str] = []
    df = run_sweep(load_sweep(path), out, executor=executor, workers=2,  # type: ignore[arg-type]
                   on_row=lambda r: second.append(r["run_id"]))
    all_ids = [t.run_id for t in sweep.tasks]
    assert sorted(second) == sorted(set(all_ids) - set(first))  # the first two were not re-run
    assert_one_row_per_run(out, all_ids)
    assert same_table(df, clean)
    assert same_table(pl.read_parquet(out / RESULTS), clean)

    # a third call has nothing left to do and changes nothing
    third: list[str] = []
    again = run_sweep(load_sweep(path), out, executor=executor,  # type: ignore[arg-type]
                      on_row=lambda r: third.append(r["run_id"]))
    assert third == [] and same_table(again, clean)


@pytest.mark.parametrize("every_s", [0.0, 1e9])
def test_the_manifest_is_rewritten_at_most_so_often(
        every_s: float, reference: tuple[Path, pl.DataFrame], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The first finished run is in the manifest at once; later ones when the interval has
    passed, and all of them when the sweep ends (each rewrite serializes every run so far)."""
    import sumsim.sweeps as sweeps

    path, clean = reference
    sweep = load_sweep(path)
    written: list[int] = []
    real = sweeps.write_json

    def counting(target: Path, obj: Any) -> None:
        if target.name == MANIFEST:
            written.append(len(obj["runs"]))
        real(target, obj)

    monkeypatch.setattr(sweeps, "write_json", counting)
    monkeypatch.setattr(sweeps, "MANIFEST_EVERY_S", every_s)
    df = run_sweep(sweep, tmp_path / "out", executor="local")
    n = len(sweep.tasks)
    assert written == ([*range(1, n + 1), n] if every_s == 0 else [1, n])
    assert same_table(df, clean)
    assert [r["run_id"] for r in manifest_rows(tmp_path / "out")] == \
        [t.run_id for t in sweep.tasks]


def test_resumed_table_has_the_column_order_of_a_clean_one(
        reference: tuple[Path, pl.DataFrame], tmp_path: Path) -> None:
    path, clean = reference
    run_sweep(load_sweep(path), tmp_path / "out", executor="local")
    again = run_sweep(load_sweep(path), tmp_path / "out", executor="local")  # nothing to run
    assert again.columns == clean.columns
    assert again.equals(clean)


@pytest.mark.skipif(os.name == "nt", reason="needs SIGKILL")
def test_sweep_killed_with_sigkill_resumes(tmp_path: Path) -> None:
    write_base(tmp_path, FULL, "full.toml")
    path = write_sweep(tmp_path, base="full.toml",
                       grid={"agents[1].budget": [100, 300, 1000, 3000, 10_000]})
    run_ids = [t.run_id for t in load_sweep(path).tasks]
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sumsim", "sweep", str(path), "--executor", "local",
           "--out", str(out), "-q", "--no-report"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while not seen:
            assert proc.poll() is None, f"the sweep ended before it was killed: " \
                f"{proc.communicate()}"
            assert time.monotonic() < deadline, "no run finished within 60 s"
            if (out / MANIFEST).exists():
                # every read sees a whole file: the manifest is replaced atomically
                seen = manifest_rows(out)
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL

    before = {r["run_id"]: r for r in manifest_rows(out)}  # valid JSON after the kill
    assert 1 <= len(before) < len(run_ids), "the kill should land mid-sweep"
    assert not (out / RESULTS).exists()

    assert main(["sweep", str(path), "--executor", "local", "--out", str(out), "-q",
                 "--no-report"]) == 0
    assert_one_row_per_run(out, run_ids)
    after = {r["run_id"]: r for r in manifest_rows(out)}
    for run_id, row in before.items():
        assert after[run_id] == row  # kept as recorded, not run again
    df = pl.read_parquet(out / RESULTS)
    assert df["run_id"].to_list() == run_ids
    assert df["status"].to_list() == ["ok"] * len(run_ids)


def test_a_corrupt_manifest_is_an_input_error(reference: tuple[Path, pl.DataFrame],
                                              tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text('{"runs": [', encoding="utf-8")
    with pytest.raises(InputError, match=r"manifest\.json: corrupt manifest"):
        run_sweep(load_sweep(reference[0]), out, executor="local")


def test_progress_bar_does_not_change_the_table(reference: tuple[Path, pl.DataFrame],
                                                tmp_path: Path) -> None:
    path, expected = reference
    df = run_sweep(load_sweep(path), tmp_path / "out", executor="local", progress=True)
    assert df.equals(expected)


# -- failed runs ----------------------------------------------------------------------------


def test_a_failing_run_is_recorded_and_the_others_complete(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    path = write_sweep(tmp_path, seeds=1, points=[
        {"agents[1].budget": 100},
        {"data.dataset": "csv", "data.path": "missing.csv"},
        {"agents[1].budget": 1000},
    ])
    sweep = load_sweep(path)  # the point is valid: the file is only read by the run
    out = tmp_path / "out"
    df = run_sweep(sweep, out, executor="local")
    assert df["status"].to_list() == ["ok", "failed", "ok"]
    error = df["error"][1]
    assert "missing.csv" in error and "no such file" in error
    assert df["error"][0] == df["error"][2] == ""
    assert df["accuracy.final"][1] is None
    assert df["accuracy.final"][0] is not None and df["accuracy.final"][2] is not None
    failed_id = df["run_id"][1]
    recorded = read_manifest(out)[failed_id]
    assert recorded["status"] == "failed" and "missing.csv" in recorded["traceback"]

    # a plain rerun leaves the failure alone
    ran: list[str] = []
    assert same_table(
        run_sweep(sweep, out, executor="local", on_row=lambda r: ran.append(r["run_id"])), df)
    assert ran == []

    # once the file exists, --retry-failed runs that one run only
    rng = np.random.default_rng(0)
    x = np.rint(rng.normal(size=(300, 5)) * 10)  # (whole numbers: the fixed-point perceptron)
    pl.DataFrame({f"x{i}": x[:, i] for i in range(5)} | {
        "label": np.where(x[:, 0] + 0.5 * x[:, 1] > 0, "pos", "neg")}).write_csv(missing)
    retried = run_sweep(sweep, out, executor="local", retry_failed=True,
                        on_row=lambda r: ran.append(r["run_id"]))
    assert ran == [failed_id]
    assert retried["status"].to_list() == ["ok"] * 3
    assert retried["error"].to_list() == [""] * 3
    for col in ("seed", "accuracy.final", "groups.good.profit_eth"):
        assert retried[col][0] == df[col][0] and retried[col][2] == df[col][2]
    assert_one_row_per_run(out, [t.run_id for t in sweep.tasks])


def test_selected_metrics_and_per_run_folders(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, grid={"agents[1].budget": [100, 1000]}, seeds=1,
                       metrics=["accuracy.final", "attacker_spend_wei"], write_runs=True)
    out = tmp_path / "out"
    df = run_sweep(load_sweep(path), out, executor="local")
    assert df.columns == ["run_index", "run_id", "replicate", "seed", "param:agents[1].budget",
                          "status", "error", "accuracy.final", "attacker_spend_wei",
                          "attacker_spend_eth"]
    for row in df.iter_rows(named=True):
        summary = json.loads((out / "runs" / row["run_id"] / "summary.json").read_text("utf-8"))
        assert summary["seed"] == row["seed"]  # the run used its derived seed
        assert summary["accuracy"]["final"] == row["accuracy.final"]


def test_runs_go_where_a_relative_out_says_wherever_the_worker_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Dask worker has its own working directory: the bound task carries absolute paths,
    so a relative ``--out`` puts the run folders under the sweep's folder, not the worker's."""
    path = write_sweep(tmp_path, grid={"agents[1].budget": [100]}, seeds=1, write_runs=True)
    sweep = load_sweep(path)
    monkeypatch.chdir(tmp_path)
    fn = sweeps._Bound(sweep.base_data, str(sweep.base_dir), [], "rel/runs", None)
    elsewhere = tmp_path / "worker"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # (as a worker started in another folder)
    row = fn(sweep.tasks[0])
    assert row["status"] == "ok", row["error"]
    assert (tmp_path / "rel" / "runs" / row["run_id"] / "summary.json").is_file()
    assert not (elsewhere / "rel").exists()


# -- validation before anything runs -----------------------------------------------------------


def test_an_invalid_point_rejects_the_sweep_before_any_run(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    path = write_sweep(tmp_path, grid={"agents[1].budget": [100]},
                       points=[{"agents[0].max_deposit": 10}, {"agents[0].balance": -5}])
    with pytest.raises(InputError) as e:
        sweeps.load_sweep(path)
    assert str(path) in str(e.value)
    assert "agents[0].balance" in str(e.value) and "negative" in str(e.value)

    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--executor", "local", "-q"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "agents[0].balance" in err
    assert not out.exists()


@pytest.mark.parametrize(("section", "field", "message"), [
    ({"seedz": 3}, "sweep.seedz", "unknown field"),
    ({"seeds": 0}, "sweep.seeds", "greater than or equal to 1"),
])
def test_bad_sweep_section_is_rejected(tmp_path: Path, section: dict[str, Any], field: str,
                                      message: str) -> None:
    path = write_sweep(tmp_path, **section)
    with pytest.raises(InputError, match=message) as e:
        sweeps.load_sweep(path)
    assert str(path) in str(e.value) and field in str(e.value)


def test_unknown_top_level_table_and_missing_base_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text('[sweep]\nbase = "quickstart"\n[gird]\n"agents[1].budget" = [1]\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"gird: unknown field"):
        sweeps.load_sweep(path)
    path.write_text('[sweep]\nbase = "nowhere.toml"\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"sweep\.base: base scenario 'nowhere\.toml' not found"):
        sweeps.load_sweep(path)


def test_bad_override_path_names_the_sweep_file(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, points=[{"agents[7].balance": 5}])
    with pytest.raises(InputError, match=r"agents\[7\]\.balance: no item '7'") as e:
        sweeps.load_sweep(path)
    assert str(path) in str(e.value)


def test_a_grid_entry_that_is_not_a_list_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sweep.toml"
    path.write_text('[sweep]\nbase = "quickstart"\n[grid]\n"agents[1].budget" = 5\n',
                    encoding="utf-8")
    with pytest.raises(InputError, match=r"agents\[1\]\.budget"):
        sweeps.load_sweep(path)


def test_bundled_base_is_found_by_name(tmp_path: Path) -> None:
    path = write_sweep(tmp_path, base="quickstart", seeds=3, points=[TINY])
    sweep = load_sweep(path)
    assert len(sweep.tasks) == 3 and sweep.base_dir == tmp_path
    assert sweep.base_data["scenario"]["name"] == "quickstart"


# -- the commands ----------------------------------------------------------------------------


def pngs(folder: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}
    for name, data in files.items():
        assert data.startswith(PNG), name
    return files


def test_sweep_and_report_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # one parameter: metric-vs-parameter plots with CI bands
    one = write_sweep(tmp_path, "one.toml", grid={"agents[1].budget": [100, 1000, 5000]})
    out1 = tmp_path / "one"
    assert main(["sweep", str(one), "--out", str(out1), "--executor", "local"]) == 0
    assert f"one: 6 runs (0 failed) -> {out1}" in capsys.readouterr().out
    df1 = pl.read_parquet(out1 / RESULTS)
    assert df1.height == 6 and df1["status"].to_list() == ["ok"] * 6
    figures1 = pngs(out1 / "figures")
    assert "accuracy.time_avg_vs_agents[1].budget.png" in figures1
    assert not any(name.endswith("_heatmap.png") for name in figures1)

    # two parameters: one line per value of the second, and heatmaps
    two = write_sweep(tmp_path, "two.toml", grid=GRID)
    out2 = tmp_path / "two"
    assert main(["sweep", str(two), "--out", str(out2), "--executor", "local", "-q"]) == 0
    assert capsys.readouterr().out == ""
    figures2 = pngs(out2 / "figures")
    assert "accuracy.time_avg_vs_agents[1].budget.png" in figures2
    assert "accuracy.time_avg_heatmap.png" in figures2

    # `report` redraws the same figures from results.parquet alone
    for p in (out2 / "figures").iterdir():
        p.unlink()
    (out2 / "figures").rmdir()
    assert main(["report", str(out2)]) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == sorted(figures2)
    assert pngs(out2 / "figures").keys() == figures2.keys()

    # ... or only the metrics asked for, elsewhere
    assert main(["report", str(out2), "--metric", "accuracy.final", "--out",
                 str(tmp_path / "only")]) == 0
    capsys.readouterr()
    assert sorted(pngs(tmp_path / "only")) == ["accuracy.final_heatmap.png",
                                               "accuracy.final_vs_agents[1].budget.png"]

    # a folder without a table is an input error
    assert main(["report", str(tmp_path)]) == 2
    assert "no results.parquet" in capsys.readouterr().err

    # --no-report draws nothing
    out3 = tmp_path / "three"
    assert main(["sweep", str(one), "--out", str(out3), "--executor", "local", "-q",
                 "--no-report"]) == 0
    assert (out3 / RESULTS).exists() and not (out3 / "figures").exists()


def test_sweep_figures_on_a_categorical_parameter_and_on_nothing_to_draw(tmp_path: Path) -> None:
    df = pl.DataFrame({
        "param:model.kind": ["perceptron", "perceptron", "naive_bayes", "naive_bayes"],
        "param:fixed": [1, 1, 1, 1],
        "status": ["ok"] * 4,
        "accuracy.final": [0.8, 0.82, 0.7, 0.71],
        "constant": [1.0] * 4,
    })
    written = sweep_figures(df, tmp_path / "figs")
    assert [p.name for p in written] == ["accuracy.final_vs_model.kind.png"]
    assert pngs(tmp_path / "figs").keys() == {"accuracy.final_vs_model.kind.png"}
    # nothing varies: no parameter, or no metric
    assert sweep_figures(df.filter(pl.col("param:model.kind") == "perceptron"),
                         tmp_path / "none") == []
    assert sweep_figures(df, tmp_path / "none", ["constant"]) == []
    assert not (tmp_path / "none").exists()


def _drawn(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The figures ``sweep_figures`` saves, by file name (caught before they are written)."""
    from sumsim import report

    figs: dict[str, Any] = {}
    monkeypatch.setattr(report, "_save", lambda fig, path: figs.__setitem__(path.name, fig))
    return figs


def test_a_third_swept_parameter_splits_the_figures_into_panels(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Budget x wait x mechanism: each panel is one mechanism, its points the means of that
    mechanism's runs alone (averaged over the mechanisms they were one point of two)."""
    rng = np.random.default_rng(0)
    rows = []
    for kind, shift in (("deposit_refund_take", 0.0), ("points", -0.2)):
        for budget in (100, 1000, 10_000):
            for wait in (3600, 86_400):
                for _seed in range(3):
                    rows.append({"param:agents[1].budget": budget, "param:incentive.wait": wait,
                                 "param:incentive.kind": kind, "status": "ok",
                                 "accuracy.final": 0.8 + shift + 1e-6 * budget
                                 + rng.normal(0, 0.01)})
    df = pl.DataFrame(rows)
    figs = _drawn(monkeypatch)
    written = sweep_figures(df, tmp_path / "figs", ["accuracy.final"])
    assert sorted(p.name for p in written) == sorted(figs)
    lines = figs["accuracy.final_vs_agents[1].budget.png"]
    panels = [ax for ax in lines.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["incentive.kind = deposit_refund_take",
                                                 "incentive.kind = points"]
    assert "over 3 seeds" in lines._suptitle.get_text()
    assert panels[0].get_ylim() == panels[1].get_ylim()  # one y scale for both panels
    for ax, kind in zip(panels, ("deposit_refund_take", "points"), strict=True):
        assert ax.get_xscale() == "log"  # budgets spanning a factor of 100
        for line in ax.get_lines():
            wait = int(line.get_label().split(" = ")[1])
            want = (df.filter((pl.col("param:incentive.kind") == kind)
                              & (pl.col("param:incentive.wait") == wait))
                    .group_by("param:agents[1].budget").agg(pl.col("accuracy.final").mean())
                    .sort("param:agents[1].budget")["accuracy.final"].to_list())
            assert list(line.get_ydata()) == pytest.approx(want, rel=1e-12)
    heat = figs["accuracy.final_heatmap.png"]
    images = [im for ax in heat.axes for im in ax.get_images()]
    assert len(images) == 2
    assert images[0].get_clim() == images[1].get_clim()  # one colour scale for both panels
    points = images[1].get_array()
    want = df.filter(pl.col("param:incentive.kind") == "points").group_by(
        "param:incentive.wait", "param:agents[1].budget").agg(pl.col("accuracy.final").mean())
    for r in want.iter_rows():
        i, j = (3600, 86_400).index(r[0]), (100, 1000, 10_000).index(r[1])
        assert points[i, j] == pytest.approx(r[2], rel=1e-12)


def test_a_panel_whose_runs_all_failed_says_so_without_warnings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    rows = [{"param:agents[1].budget": b, "param:agents[1].interval_s.mean": w,
             "param:scenario.max_duration_s": d, "status": "failed" if d else "ok",
             "accuracy.final": None if d else 0.5 + b / 1e4 + w / 1e5}
            for b in (1, 10, 1000) for w in (600, 3600) for d in (None, 100_000)
            for _ in range(2)]
    figs = _drawn(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (matplotlib's "no artists with labels" among them)
        sweep_figures(pl.DataFrame(rows), tmp_path, ["accuracy.final"])
    fig = figs["accuracy.final_vs_agents[1].budget.png"]
    full, empty = [ax for ax in fig.axes if ax.get_visible()]
    assert full.get_lines() and not empty.get_lines()
    assert [t.get_text() for t in empty.texts] == ["no finished run"]
    assert empty.get_title() == "scenario.max_duration_s = 100000"


def test_a_named_parameter_is_drawn_as_points_not_lines(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    df = pl.DataFrame({"param:model.kind": ["perceptron"] * 2 + ["naive_bayes"] * 2,
                       "status": ["ok"] * 4, "accuracy.final": [0.8, 0.82, 0.7, 0.71]})
    figs = _drawn(monkeypatch)
    sweep_figures(df, tmp_path / "figs")
    (ax,) = figs["accuracy.final_vs_model.kind.png"].axes
    assert all(line.get_linestyle() == "None" for line in ax.get_lines())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["naive_bayes", "perceptron"]


# -- statistics -------------------------------------------------------------------------------


@pytest.mark.parametrize("level", [0.95, 0.9, 0.99])
def test_mean_ci_matches_scipy_student_t(level: float) -> None:
    values = [1.0, 2.5, 3.0, 7.25, 4.5, None, float("nan")]
    clean = np.array([1.0, 2.5, 3.0, 7.25, 4.5])
    lo, hi = stats.t.interval(level, len(clean) - 1, loc=clean.mean(), scale=stats.sem(clean))
    mean, half, n = mean_ci(values, level)
    assert n == 5
    assert mean == pytest.approx(clean.mean(), rel=1e-12)
    assert half == pytest.approx((hi - lo) / 2, rel=1e-10)
    assert (mean - half, mean + half) == pytest.approx((lo, hi), rel=1e-10)


def test_mean_ci_edge_cases() -> None:
    # one value: no interval (scipy's interval from one sample is undefined too)
    mean, half, n = mean_ci([3.5])
    assert (mean, n) == (3.5, 1) and math.isnan(half)
    assert mean_ci([2.0, 2.0, 2.0]) == (2.0, 0.0, 3)
    mean, half, n = mean_ci([None, float("nan")])
    assert n == 0 and math.isnan(mean) and math.isnan(half)


def test_aggregate_over_seeds_skips_failed_runs() -> None:
    df = pl.DataFrame({
        "param:x": [1, 1, 1, 2, 2, 2],
        "status": ["ok", "ok", "ok", "ok", "ok", "failed"],
        "m": [0.5, 0.7, 0.9, 0.2, 0.4, None],
    })
    agg = aggregate(df, ["param:x"], "m")
    assert agg["param:x"].to_list() == [1, 2] and agg["n"].to_list() == [3, 2]
    for row, values in zip(agg.iter_rows(named=True), ([0.5, 0.7, 0.9], [0.2, 0.4]),
                           strict=True):
        v = np.array(values)
        half = stats.t.ppf(0.975, len(v) - 1) * stats.sem(v)
        assert row["mean"] == pytest.approx(v.mean()) and row["ci"] == pytest.approx(half)


def test_resuming_into_a_folder_of_a_different_base_scenario_is_refused(tmp_path: Path) -> None:
    """Rows depend on the base scenario: a changed base must not reuse old rows silently."""
    from sumsim.sweeps import load_sweep, run_sweep

    base = tmp_path / "base.toml"
    base.write_text(bundled_text("quickstart"), encoding="utf-8")
    sweep_file = tmp_path / "s.toml"
    sweep_file.write_text(
        '[sweep]\nbase = "base.toml"\nseeds = 1\n\n[grid]\n"data.max_pool" = [60]\n'
        '"metrics.counterfactual" = [false]\n"metrics.baseline" = [false]\n',
        encoding="utf-8")
    out = tmp_path / "out"
    run_sweep(load_sweep(sweep_file), out, executor="local")
    base.write_text(bundled_text("quickstart").replace("balance = 10_000", "balance = 9_000"),
                    encoding="utf-8")
    with pytest.raises(InputError, match="different base scenario"):
        run_sweep(load_sweep(sweep_file), out, executor="local")


# -- fuzzed inputs: input errors before (or instead of) wrong sweeps ---------------------------


def one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    """The CLI's exit code 2 and its one-line message."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_an_empty_value_list_in_the_grid_is_named(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """``"data.max_pool" = []`` ran the base scenario alone, as if the entry were not there."""
    path = write_sweep(tmp_path, grid={"agents[1].budget": [100, 1000], "data.max_pool": []})
    with pytest.raises(InputError, match=r"grid\.data\.max_pool: expected a non-empty list"):
        sweeps.load_sweep(path)
    out = tmp_path / "out"
    line = one_line_error(capsys, ["sweep", str(path), "--out", str(out), "--executor",
                                   "local", "-q"])
    assert line.startswith(f"{path}: grid.data.max_pool: expected a non-empty list")
    assert not out.exists()


def test_a_sweep_without_points_is_an_error_unless_it_asks_for_the_base(tmp_path: Path) -> None:
    """No grid and no points has nothing to sweep; ``points = [{}]`` is the base scenario."""
    with pytest.raises(InputError, match=r"sweep\.toml: grid: the sweep has no points.*"
                                         r"points = \[\{\}\] runs the base scenario alone"):
        load_sweep(write_sweep(tmp_path, seeds=3))
    base = load_sweep(write_sweep(tmp_path, seeds=3, points=[{}]))
    assert [(t.params, t.replicate) for t in base.tasks] == [({}, 0), ({}, 1), ({}, 2)]
    # an empty point beside others is the base scenario as one point of the sweep
    both = load_sweep(write_sweep(tmp_path, seeds=1, points=[{}, {"agents[1].budget": 10}]))
    assert [t.params for t in both.tasks] == [{}, {"agents[1].budget": 10}]


@pytest.mark.parametrize(("grid", "points", "message"), [
    ({"agents[1].budget": [100, 100]}, None,
     r"grid\.agents\[1\]\.budget: value 100 is listed twice"),
    (None, [{"agents[1].budget": 100}, {"agents[1].budget": 100}],
     r"points: point \{'agents\[1\]\.budget': 100\} occurs more than once"),
    ({"agents[1].budget": [100, 1000]}, [{"agents[1].budget": 5}],
     r"points: point \{'agents\[1\]\.budget': 5\} occurs more than once"),
])
def test_repeated_points_are_named(tmp_path: Path, grid: dict[str, list[Any]] | None,
                                   points: list[dict[str, Any]] | None, message: str) -> None:
    """The same point twice has the same run ids: it ran twice for one row of the table."""
    with pytest.raises(InputError, match=message):
        load_sweep(write_sweep(tmp_path, grid=grid, points=points))


def test_a_sweep_over_the_run_cap_is_refused_before_any_point_is_validated(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1,000 x 1,000 grid validated its million points (over two minutes) with no output."""
    def no_validation(*args: object, **kwargs: object) -> None:
        raise AssertionError("no point may be validated")

    monkeypatch.setattr(sweeps, "parse_scenario", no_validation)
    path = write_sweep(tmp_path, seeds=3, grid={"agents[1].budget": list(range(1, 1001)),
                                                "data.max_pool": list(range(100, 1100))})
    start = time.perf_counter()
    line = one_line_error(capsys, ["sweep", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert time.perf_counter() - start < 10
    assert line == (f"{path}: grid x sweep.seeds: the sweep asks for 3,000,000 runs "
                    "(1,000,000 grid combinations x 3 seeds); expected at most 100,000 "
                    "(sumsim.sweeps.MAX_RUNS): use fewer values or split it into several sweeps")
    # points count too, and the cap is on runs (points x seeds)
    monkeypatch.setattr(sweeps, "MAX_RUNS", 11)
    path = write_sweep(tmp_path, seeds=2, grid={"agents[1].budget": [1, 2, 3]},
                       points=[{}, {"model.kind": "naive_bayes"}])
    with pytest.raises(InputError, match=r"points x sweep\.seeds: the sweep asks for 12 runs "
                       r"\(3 grid combinations x 2 points x 2 seeds\); expected at most 11"):
        sweeps.load_sweep(path)
    monkeypatch.setattr(sweeps, "MAX_RUNS", 12)
    with pytest.raises(AssertionError, match="no point may be validated"):
        load_sweep(path)  # at the cap: validated


def test_an_unreachable_dask_scheduler_is_an_input_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Port 1 (nothing listens) gave an OSError traceback after Dask's 30 s."""
    pytest.importorskip("distributed", reason="the dask executor needs dask[distributed]")
    monkeypatch.setattr(sweeps, "SCHEDULER_TIMEOUT_S", 0.5)
    path = write_sweep(tmp_path, seeds=1, points=[{}])
    start = time.perf_counter()
    line = one_line_error(capsys, ["sweep", str(path), "--executor", "dask", "--scheduler",
                                   "tcp://127.0.0.1:1", "--out", str(tmp_path / "out"), "-q"])
    assert time.perf_counter() - start < 10
    assert line == ("--scheduler: no Dask scheduler answered at 'tcp://127.0.0.1:1' within "
                    "0.5 s (sumsim.sweeps.SCHEDULER_TIMEOUT_S); expected the address of a "
                    "running scheduler")
    line = one_line_error(capsys, ["sweep", str(path), "--executor", "dask", "--scheduler",
                                   "nonsense", "--out", str(tmp_path / "out"), "-q"])
    assert line.startswith("--scheduler: 'nonsense' is not a scheduler address (")
    assert not any((tmp_path / "out").glob("records/*"))
    assert sweeps.SCHEDULER_TIMEOUT_S < 30  # shorter than Dask's own default


def test_a_scheduler_without_the_dask_executor_is_an_input_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--scheduler`` with the process pool was ignored: the runs stayed on this machine."""
    path = write_sweep(tmp_path, seeds=1, points=[{}])
    out = tmp_path / "out"
    line = one_line_error(capsys, ["sweep", str(path), "--scheduler", "tcp://127.0.0.1:1",
                                   "--out", str(out), "-q"])
    assert line.startswith("--scheduler: a scheduler applies to the dask executor only")
    assert not out.exists()


@pytest.mark.parametrize("executor", ["local", "process"])
def test_an_unknown_metric_stops_the_sweep_after_the_first_run(
        executor: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every run failed with a KeyError and the sweep exited 0; now the first finished run's
    summary stops it with close names.  The folder the sweep made is removed again (it blocked
    the corrected sweep: another metric list is another sweep); one that held runs before
    keeps them."""
    path = write_sweep(tmp_path, seeds=1, grid={"agents[1].budget": [100, 300, 1000, 3000]},
                       metrics=["accuracy.final", "acuracy.final"])
    out = tmp_path / "out"
    ran: list[dict[str, Any]] = []
    with pytest.raises(InputError) as e:
        run_sweep(load_sweep(path), out, executor=executor, workers=2,  # type: ignore[arg-type]
                  on_row=ran.append)
    assert str(e.value) == (f"{path}: sweep.metrics[1]: no metric 'acuracy.final' in a run's "
                            "summary; did you mean 'accuracy.final' or 'accuracy.initial' or "
                            "'accuracy.min'?")
    assert 1 <= len(ran) < 4
    assert not out.exists()
    # through the CLI, on one line; then the corrected file runs into the same folder
    line = one_line_error(capsys, ["sweep", str(path), "--out", str(out), "--executor",
                                   executor, "-q"])
    assert line == str(e.value) and not out.exists()
    fixed = write_sweep(tmp_path, "fixed.toml", seeds=1,
                        grid={"agents[1].budget": [100, 300, 1000, 3000]},
                        metrics=["accuracy.final", "groups.bad.profit_eth"])
    assert run_sweep(load_sweep(fixed), out, executor="local").height == 4
    # a folder the user made (even empty) is theirs: kept
    mine = tmp_path / "mine"
    mine.mkdir()
    with pytest.raises(InputError, match="no metric 'acuracy.final'"):
        run_sweep(load_sweep(path), mine, executor="local")
    assert mine.is_dir()
    # an _eth name is suggested for a misspelt _eth name
    typo = write_sweep(tmp_path, "typo.toml", seeds=1, points=[{}],
                       metrics=["groups.bad.proft_eth"])
    with pytest.raises(InputError, match="did you mean 'groups.bad.profit_eth'"):
        run_sweep(load_sweep(typo), tmp_path / "typo", executor="local")


def test_an_eth_metric_keeps_its_wei_twin(tmp_path: Path) -> None:
    """An amount asked for in ether (as searches name their objectives) keeps the exact wei
    amount, beside which the table has its _eth column: the same names work in both."""
    path = write_sweep(tmp_path, seeds=1, points=[{}],
                       metrics=["attacker_spend_eth", "groups.bad.profit_eth", "days"])
    df = run_sweep(load_sweep(path), tmp_path / "out", executor="local")
    assert df["status"].to_list() == ["ok"]
    assert {"attacker_spend_wei", "attacker_spend_eth", "groups.bad.profit_wei",
            "groups.bad.profit_eth", "days"} <= set(df.columns)
    assert df["attacker_spend_eth"][0] == int(df["attacker_spend_wei"][0]) / 10**18


def test_a_metric_some_points_lack_is_null_in_their_runs(tmp_path: Path) -> None:
    """A group only some points have (the attacker renamed): its metric is null in the runs
    of the others, which keep their other metrics."""
    path = write_sweep(tmp_path, seeds=1, points=[{}, {"agents[1].name": "mallory"}],
                       metrics=["groups.bad.profit_wei", "accuracy.final"])
    df = run_sweep(load_sweep(path), tmp_path / "out", executor="local")
    assert df["status"].to_list() == ["ok", "ok"]
    assert df["groups.bad.profit_wei"][1] is None and df["accuracy.final"][1] is not None


def test_the_command_exits_1_and_says_so_when_runs_failed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The table and figures are written, but a script must notice the failed runs."""
    path = write_sweep(tmp_path, seeds=1, points=[
        {"agents[1].budget": 100}, {"data.dataset": "csv", "data.path": "missing.csv"}])
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--executor", "local", "--out", str(out), "-q",
                 "--no-report"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("sweep: 1 of 2 runs failed (first: ")
    assert "missing.csv" in err[0] and err[0].endswith("rerun with --retry-failed")
    assert (out / RESULTS).exists()


def test_a_sweep_in_a_folder_named_like_a_pattern_is_reported(tmp_path: Path) -> None:
    """``sumsim report`` reads the results table by its path, brackets and all (a glob
    pattern would look for ``s1/out/results.parquet``)."""
    folder = tmp_path / "s[1]"
    folder.mkdir()
    path = write_sweep(folder, seeds=1, points=[{}, {"agents[1].budget": 50}])
    run_sweep(load_sweep(path), folder / "out", executor="local")
    assert main(["report", str(folder / "out")]) == 0


@pytest.mark.parametrize("table", ['[grid]\n"scenario.seed" = [1, 2]\n',
                                   '[[points]]\n"scenario.seed" = 3\n',
                                   '[[points]]\nscenario = {seed = 5, name = "x"}\n'])
def test_a_sweep_over_the_scenario_seed_is_refused(tmp_path: Path, table: str) -> None:
    """Every run's seed replaces scenario.seed: a grid over it gave identical rows."""
    path = tmp_path / "s.toml"
    path.write_text(f'[sweep]\nbase = "quickstart"\nseeds = 2\n{table}')
    with pytest.raises(InputError, match=r"scenario(\.seed)?: scenario\.seed is replaced by "
                       r"each run's own seed, so every value would give the same runs; "
                       r"replicates come from sweep\.seeds and sweep\.seed"):
        sweeps.load_sweep(path)


def test_a_metric_a_runs_table_lacks_is_null_and_a_typo_still_fails(tmp_path: Path) -> None:
    """``incentive.num_valid.bad`` lists only addresses with refunded good data: a run whose
    attacker never added lacks it.  That run keeps its other metrics (the metric is null);
    a name under no table of the summary is still a failure the sweep stops on."""
    from sumsim.scenario.loader import bundled_text

    base = tomllib.loads(bundled_text("quickstart"))
    task = sweeps.Task(0, "r0", {"agents[1].budget": 0, "data.max_pool": 60,
                                 "metrics.counterfactual": False}, 0, 3)
    row = sweeps.run_task(base, str(tmp_path), task,
                          ["incentive.num_valid.bad", "accuracy.final"], None)
    assert row["status"] == "ok", row["error"]
    assert row["metrics"]["incentive.num_valid.bad"] is None
    assert 0 <= row["metrics"]["accuracy.final"] <= 1
    typo = sweeps.run_task(base, str(tmp_path), task, ["incentive.num_vald.bad"], None)
    assert typo["status"] == "failed" and "summary_names" in typo


@pytest.mark.parametrize("metric", ["accuracy.nope", "contract.nope", "groups.bad.nope",
                                    "nope"])
def test_a_name_under_a_fixed_record_of_the_summary_is_a_typo(tmp_path: Path,
                                                               metric: str) -> None:
    """``accuracy.nope`` was taken for a key some runs lack and made a column of nulls."""
    from sumsim.scenario.loader import bundled_text

    base = tomllib.loads(bundled_text("quickstart"))
    task = sweeps.Task(0, "r0", {"data.max_pool": 60, "metrics.counterfactual": False}, 0, 3)
    row = sweeps.run_task(base, str(tmp_path), task, [metric, "accuracy.final"], None)
    assert row["status"] == "failed" and "summary_names" in row


def test_a_metric_one_mechanism_has_is_null_under_another_whatever_the_order(
        tmp_path: Path) -> None:
    """``incentive.num_valid.bad`` exists under Deposit-Refund-Take, not under points: the
    sweep stopped (points first) or failed the points run (points second); now it is null
    there either way, and a metric null in every run is named once the sweep ends."""
    for order in (["points", "deposit_refund_take"], ["deposit_refund_take", "points"]):
        path = write_sweep(tmp_path, f"s-{order[0]}.toml", base="quickstart", seeds=1,
                           points=[{"incentive": {"kind": k}, "data.max_pool": 60,
                                    "metrics.counterfactual": False} for k in order],
                           metrics=["incentive.num_valid.good", "accuracy.final"])
        df = run_sweep(load_sweep(path), tmp_path / f"o-{order[0]}", executor="local")
        assert df["status"].to_list() == ["ok", "ok"]
        by_kind = dict(zip(df["param:incentive"].map_elements(
            lambda v: json.loads(v)["kind"] if isinstance(v, str) else v["kind"],
            return_dtype=pl.Utf8).to_list(), df["incentive.num_valid.good"].to_list(),
            strict=True))
        assert by_kind["points"] is None and by_kind["deposit_refund_take"] > 0
    notices: list[str] = []
    path = write_sweep(tmp_path, "never.toml", base="quickstart", seeds=1,
                       points=[{"data.max_pool": 60, "metrics.counterfactual": False}],
                       metrics=["incentive.num_valid.nobody"])
    run_sweep(load_sweep(path), tmp_path / "never", executor="local", on_notice=notices.append)
    assert notices == [f"{path}: sweep.metrics: 'incentive.num_valid.nobody' is null in every "
                       "run (no run's summary has it: a misspelling, or something that never "
                       "happened)"]


def test_a_table_of_amounts_in_wei_has_its_ether_twin() -> None:
    """Every amount in wei has an _eth twin, entries of a table of amounts too (a prediction
    market's stakes by contributor), and the twin table's keys are known for absent runs."""
    from sumsim.results.summary import table_keys, with_eth

    flat = with_eth({"incentive.stakes_wei.alice": 3 * 10**18, "incentive.bounty_wei": 10**18,
                     "agents.alice.contributions": 4})
    assert flat["incentive.stakes_eth.alice"] == 3.0 and flat["incentive.bounty_eth"] == 1.0
    assert "agents.alice.contributions_eth" not in flat and len(flat) == 5
    keys = table_keys({"incentive": {"stakes_wei": {"alice": 1, "bob": 2}}})
    assert keys["incentive.stakes_eth"] == keys["incentive.stakes_wei"] == ["alice", "bob"]
