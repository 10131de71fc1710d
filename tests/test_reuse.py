"""What a run reuses instead of recomputing, and where it draws its figure: the in-process
dataset cache, the all-data baseline remembered per dataset, the figure worker of
``sumsim run``.  Each must give exactly what the plain path gives."""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sumsim
import sumsim.data.load as load
import sumsim.engine as engine
from sumsim.cli import main
from sumsim.outputs import write_run
from sumsim.report import draw_run_figure, run_figure_data
from sumsim.scenario.loader import load_scenario
from sumsim.sidecar import Sidecar

SMALL = {"data.synthetic.n_train": 600, "data.synthetic.n_test": 300,
         "metrics.counterfactual": False}


def _scenario(**extra: object) -> sumsim.Scenario:
    return sumsim.load("quickstart", overrides={**SMALL, **extra})


# -- the dataset cache ------------------------------------------------------------------------
def test_a_sweep_cycling_through_its_seeds_hits_the_cache() -> None:
    """A sweep asks for seeds 0..9 once per grid point: more datasets than a small LRU holds,
    so every lookup would miss; the cache keeps them all."""
    load.forget_datasets()
    sc = _scenario()
    first = [load.load_dataset(sc.data, s) for s in range(10)]
    again = [load.load_dataset(sc.data, s) for s in range(10)]
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert len({id(d) for d in first}) == 10
    load.forget_datasets()


def test_the_cache_is_bounded_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    load.forget_datasets()
    sc = _scenario()
    one = load.dataset_nbytes(load.load_dataset(sc.data, 0))
    assert one > 0
    monkeypatch.setattr(load, "CACHE_BYTES", int(2.5 * one))
    kept = [load.load_dataset(sc.data, s) for s in range(1, 5)]
    assert len(load._CACHE) == 2  # the two most recent fit under 2.5 datasets' bytes
    assert load.load_dataset(sc.data, 4) is kept[-1]
    assert load.load_dataset(sc.data, 1) is not kept[0]  # evicted, built again
    load.forget_datasets()


# -- the all-data baseline ------------------------------------------------------------------
def test_the_remembered_baseline_is_the_fitted_one() -> None:
    sc = _scenario()
    ds = load.load_dataset(sc.data, 5)
    sp = engine.make_split(sc, ds, 5)
    got = engine.baseline_accuracy(sc, ds, sp, 5)
    model = engine.make_model(sc, ds)
    from scipy import sparse

    model.fit(sparse.vstack([sp.x_init, sp.x_pool]), np.concatenate([sp.y_init, sp.y_pool]))
    assert got == model.accuracy(sp.x_test, sp.y_test)
    # a run with another attacker budget reuses it; another seed or model does not
    n = len(engine._BASELINES)
    assert engine.baseline_accuracy(sc, ds, sp, 5) == got and len(engine._BASELINES) == n
    other = _scenario(**{"model.epochs": 2})
    engine.baseline_accuracy(other, ds, sp, 5)
    assert len(engine._BASELINES) == n + 1


def test_baselines_go_with_their_dataset() -> None:
    load.forget_datasets()
    sc = _scenario(**{"data.synthetic.seed": 123})
    ds = load.load_dataset(sc.data, 0)
    key = id(ds)
    engine.baseline_accuracy(sc, ds, engine.make_split(sc, ds, 0), 0)
    assert any(k[0] == key for k in engine._BASELINES)
    load.forget_datasets()
    del ds
    gc.collect()
    assert not any(k[0] == key for k in engine._BASELINES)


def test_runs_differing_only_in_the_attacker_give_the_same_baseline() -> None:
    a = sumsim.run(_scenario(**{"agents[1].budget": 100}), seed=2)
    b = sumsim.run(_scenario(**{"agents[1].budget": 900}), seed=2)
    assert a.summary["accuracy"]["baseline_all_data"] == b.summary["accuracy"]["baseline_all_data"]
    assert a.summary != b.summary


# -- the figure worker -------------------------------------------------------------------------
def test_the_worker_draws_the_same_png_as_the_run_process(tmp_path: Path) -> None:
    res = engine.run(_scenario(), seed=1)
    data = run_figure_data(res)
    draw_run_figure(data, tmp_path / "here.png")
    worker = Sidecar()
    assert worker.submit_figure(data, tmp_path / "there.png")
    assert worker.finish()
    assert (tmp_path / "there.png").read_bytes() == (tmp_path / "here.png").read_bytes()


def test_cli_run_with_and_without_a_sidecar_writes_the_same_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sumsim.cli as cli

    started: list[Sidecar] = []
    real_start = Sidecar.start.__func__  # type: ignore[attr-defined]

    def start(cls: type[Sidecar]) -> Sidecar | None:
        s = real_start(cls)
        started.append(s)
        return s  # type: ignore[no-any-return]

    monkeypatch.setattr(Sidecar, "start", classmethod(start))
    args = ["run", "--set", "data.max_pool=300", "-q"]
    assert main([*args, "--out", str(tmp_path / "small")]) == 0
    assert not started  # a small run is over before a sidecar would be ready
    monkeypatch.setattr(cli, "SIDECAR_MIN_SAMPLES", 0)
    assert main([*args, "--out", str(tmp_path / "sidecar")]) == 0
    assert len(started) == 1 and started[0].proc is None  # used, finished and reaped
    assert main([*args, "--one-process", "--out", str(tmp_path / "one")]) == 0
    assert len(started) == 1
    assert (tmp_path / "one" / "figure.png").read_bytes() == \
        (tmp_path / "sidecar" / "figure.png").read_bytes()
    for name in ("figure.png", "summary.json", "transactions.parquet", "timeseries.parquet"):
        assert (tmp_path / "sidecar" / name).read_bytes() == \
            (tmp_path / "small" / name).read_bytes(), name


class _BrokenSidecar(Sidecar):
    """A worker that dies before drawing (as if killed)."""

    def __init__(self) -> None:
        super().__init__()
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()


def test_a_failed_worker_leaves_the_figure_to_the_run(tmp_path: Path) -> None:
    res = engine.run(_scenario(), seed=1)
    write_run(res, tmp_path / "a", sidecar=_BrokenSidecar())
    write_run(res, tmp_path / "b")
    assert (tmp_path / "a" / "figure.png").read_bytes() == \
        (tmp_path / "b" / "figure.png").read_bytes()


def test_a_failure_while_writing_stops_the_worker(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sumsim.outputs as outputs

    res = engine.run(_scenario(), seed=1)
    worker = Sidecar()

    def fail(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs, "_write_tables", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        write_run(res, tmp_path / "run", sidecar=worker)
    assert worker.proc is None  # stopped and reaped
    assert not (tmp_path / "run").exists()
    assert not list(tmp_path.iterdir())  # no half-written folder left behind


# -- the baseline and the counterfactual in the sidecar ------------------------------------
def test_the_sidecar_fits_the_same_baseline_and_runs_the_same_counterfactual() -> None:
    overrides = {**SMALL, "data.synthetic.seed": 77, "metrics.counterfactual": True}
    sc = sumsim.load("quickstart", overrides=overrides)
    sidecar = Sidecar()
    baseline = sidecar.ask("baseline", sc, 4, None, None)
    counterfactual = sidecar.ask("counterfactual", sc, 4, None, None)
    rows = counterfactual()  # (read in either order)
    got = baseline()
    sidecar.cancel()
    ds = load.load_dataset(sc.data, 4)
    assert got is not None
    assert got == engine.baseline_accuracy(sc, ds, engine.make_split(sc, ds, 4), 4)
    here = engine.run(sc, seed=4, dataset=ds)
    assert here.counterfactual is not None and rows == here.counterfactual.recorder.rows
    there = engine.run(sc, seed=4, dataset=ds, counterfactual=lambda: rows)
    assert there.counterfactual is None  # (only its timeseries came back)
    assert there.counterfactual_rows == here.counterfactual_rows
    assert sumsim.api.Result(there).summary == sumsim.api.Result(here).summary


def test_jobs_the_sidecar_cannot_do_are_done_by_the_run(monkeypatch: Any,
                                                        tmp_path: Path) -> None:
    sidecar = Sidecar()
    missing = _scenario(**{"data.dataset": "csv", "data.path": str(tmp_path / "no.csv")})
    asked = sidecar.ask("baseline", missing, 1, None, None)
    assert asked() is None  # an error reply: the sidecar goes on
    assert sidecar.proc is not None and sidecar.proc.poll() is None
    # Data that is not what the run loaded (a file edited meanwhile): not used.
    monkeypatch.setattr(load, "data_version", lambda *a: "the run's data, before the edit")
    asked = sidecar.ask("baseline", _scenario(), 1, None, None)
    assert asked() is None and sidecar.proc is not None and sidecar.proc.poll() is None
    sidecar.cancel()
    gone = _BrokenSidecar()
    baseline = gone.ask("baseline", _scenario(), 1, None, None)
    counterfactual = gone.ask("counterfactual", _scenario(), 1, None, None)
    assert baseline() is None and counterfactual() is None
    sc = _scenario(**{"metrics.counterfactual": True})
    res = engine.run(sc, seed=1, baseline=baseline, counterfactual=counterfactual)
    plain = engine.run(sc, seed=1)
    assert res.baseline_accuracy == plain.baseline_accuracy
    assert res.counterfactual is not None
    assert res.counterfactual_rows == plain.counterfactual_rows


class _SilentSidecar(Sidecar):
    """A sidecar that takes its jobs and never answers."""

    def __init__(self) -> None:
        import subprocess
        import sys
        import tempfile

        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err)
        self._asked, self._replies, self._pending = 0, [], b""


def test_a_silent_sidecar_is_given_up_at_the_deadline() -> None:
    import time

    sidecar = _SilentSidecar()
    start = time.monotonic()
    asked = sidecar.ask("baseline", _scenario(), 1, None, None, deadline=start + 0.5)
    assert asked() is None
    assert 0.4 < time.monotonic() - start < 10
    assert sidecar.proc is None  # stopped


def test_the_figure_draws_one_wallet_line_per_strategy() -> None:
    """A sybil's addresses are one line (their wallets summed), so thousands of them stay one
    legend entry; a lone address keeps its own line and label."""
    res = engine.run(load_scenario("sybil-rate-limit", {"data.max_pool": 200,
                                                        "metrics.counterfactual": False}), seed=1)
    data = run_figure_data(res)
    assert [w["label"] for w in data["wallets"]] == [
        "good (honest)", "lone (label_flip)", "swarm (label_flip, 6 addresses)"]
    swarm = [a for a in res.agents if a.group == "swarm"]
    start = sum(a.initial_balance for a in swarm)
    for row, pct in zip(res.recorder.rows, data["wallets"][2]["pct"], strict=True):
        assert pct == 100.0 * sum(row[f"balance_wei:{a.name}"] for a in swarm) / start
    good = next(a for a in res.agents if a.name == "good")
    assert data["wallets"][0]["pct"] == [100.0 * r["balance_wei:good"] / good.initial_balance
                                         for r in res.recorder.rows]


def test_replies_that_arrive_together_are_each_read_at_once(monkeypatch: Any) -> None:
    """A small counterfactual finishes soon after the baseline: both replies reach the pipe
    together.  Each is read without waiting for the pipe again (a reader that buffered the
    second while taking the first waited an hour for bytes it already held)."""
    import os
    import pickle
    from types import SimpleNamespace

    from sumsim import sidecar

    monkeypatch.setattr(sidecar, "TIMEOUT_S", 2.0)
    r, w = os.pipe()
    replies = [("ok", 0.75), ("ok", [{"t": 1.0}] * 3)]
    frames = b"".join(sidecar._LENGTH.pack(len(p)) + p
                      for p in (pickle.dumps(x) for x in replies))
    os.write(w, frames)
    os.close(w)
    side = sidecar.Sidecar.__new__(sidecar.Sidecar)
    side.proc = SimpleNamespace(stdout=os.fdopen(r, "rb"))
    side._asked, side._replies, side._pending = 2, [], b""
    started = time.monotonic()
    assert side._read(None) and side._read(None)
    assert time.monotonic() - started < 1.0
    assert side._replies == [0.75, [{"t": 1.0}] * 3]
    side.proc.stdout.close()
