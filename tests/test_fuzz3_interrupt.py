"""Fuzzing round 3: Ctrl-C during a sweep on the process pool.

Ctrl-C reaches every process of the terminal's group.  Before: each worker reported the
KeyboardInterrupt as its run's error (tracebacks on stderr), and a worker that survived waited
for more work from a sweep that had gone, keeping its fork server alive (orphans using CPU);
the sweep's own process, blocked in an untimed wait, did not see the signal until a run ended.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sumsim.sweeps import Task, _process


def _report(task: Task) -> dict[str, Any]:
    """A 'run': the worker's Ctrl-C handler; the later tasks take long."""
    if task.index:
        time.sleep(30)
    return {"run_id": task.run_id, "sigint_ignored":
            signal.getsignal(signal.SIGINT) == signal.SIG_IGN, "pid": os.getpid()}


def test_pool_workers_leave_ctrl_c_to_the_sweep_and_stop_at_once_when_it_stops() -> None:
    tasks = [Task(i, f"r{i}", {}, 0, i) for i in range(3)]
    runs = _process(_report, tasks, 2, None)
    first = next(runs)
    assert first["sigint_ignored"]
    start = time.monotonic()
    runs.close()  # (as when the sweep stops: Ctrl-C, an error) - the 30 s task is ended
    assert time.monotonic() - start < 10  # (at once: the task it waited for takes 30 s)
    time.sleep(0.2)
    with pytest.raises(ProcessLookupError):
        os.kill(first["pid"], 0)


def _start_sweep(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    """A long process-pool sweep in its own process group (as a terminal's job), once its first
    run is recorded: (the process, its output folder)."""
    sweep = tmp_path / "sweep.toml"
    sweep.write_text('[sweep]\nbase = "quickstart"\nseeds = 400\n[[points]]\n'
                     '"data.synthetic.n_train" = 200\n"data.synthetic.n_test" = 50\n'
                     '"metrics.figure" = false\n')
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sumsim", "sweep", str(sweep), "--out", str(out), "-q",
         "--executor", "process", "--workers", "2"], start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
        stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not glob.glob(str(out / "records" / "*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    return proc, out


def _left_in_group(pgid: int, within_s: float) -> str:
    """The processes of group ``pgid`` still alive after up to ``within_s`` seconds (the fork
    server and resource tracker see the end a moment later)."""
    deadline = time.monotonic() + within_s
    while True:
        left = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(pgid)],
                              capture_output=True, text=True).stdout
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


@pytest.mark.slow
def test_ctrl_c_stops_a_process_sweep_at_once_keeping_every_finished_run(
        tmp_path: Path) -> None:
    proc, out = _start_sweep(tmp_path)
    try:
        os.killpg(proc.pid, signal.SIGINT)  # (as a terminal's Ctrl-C: the whole group)
        start = time.monotonic()
        err = proc.communicate(timeout=30)[1]
        assert time.monotonic() - start < 10  # (slack for a loaded machine)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert err == "interrupted; run the same command again to resume (every finished run is " \
        "kept)\n"
    records = {json.loads(Path(p).read_text())["row"]["run_id"]
               for p in glob.glob(str(out / "records" / "*.json"))}
    listed = {r["run_id"] for r in json.loads((out / "manifest.json").read_text())["runs"]}
    assert records and listed == records
    assert _left_in_group(proc.pid, 5) == ""  # no worker nor fork server left behind


@pytest.mark.slow
def test_sigterm_to_the_sweep_alone_stops_its_workers_too(tmp_path: Path) -> None:
    """``kill PID`` (``timeout``, a job scheduler) reaches the sweep's own process only: it
    stops as Ctrl-C does, taking its pool workers and fork server with it (they were left
    running, adopted by init)."""
    proc, out = _start_sweep(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGTERM)
        err = proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM
    assert err.startswith("terminated; run the same command again to resume")
    left = _left_in_group(proc.pid, 10)
    try:
        assert left == ""  # no worker, fork server or resource tracker left behind
    finally:
        if left:
            os.killpg(proc.pid, signal.SIGKILL)
    listed = {r["run_id"] for r in json.loads((out / "manifest.json").read_text())["runs"]}
    assert listed  # the finished runs are kept


@pytest.mark.slow
def test_a_sweep_killed_outright_takes_its_workers_with_it(tmp_path: Path) -> None:
    """``kill -9`` (or the out-of-memory killer) gives the sweep no chance to stop its pool:
    the workers, and the fork server they belong to, stayed alive for good, each holding its
    memory.  The workers now notice within a second or two that the sweep is gone."""
    proc, out = _start_sweep(tmp_path)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)  # (reaped: a zombie is not the sweep living on)
        left = _left_in_group(proc.pid, 10)
        assert left == "", left
    finally:
        subprocess.run(["pkill", "-KILL", "-g", str(proc.pid)], check=False)
    assert glob.glob(str(out / "records" / "*.json"))  # the finished runs are kept


def test_a_pool_worker_ends_when_the_sweep_it_serves_is_gone() -> None:
    """The watch itself, on a zombie (killed, not yet reaped) and on a process that exists."""
    from sumsim.sweeps import _alive

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert _alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 10
        while _alive(child.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child.pid)  # (a zombie until the wait below)
    finally:
        child.wait()
    assert not _alive(child.pid) and _alive(os.getpid())


def test_the_fork_server_and_its_workers_ignore_ctrl_c_from_birth(tmp_path: Path) -> None:
    """A Ctrl-C while the fork server imported the simulator, or while a worker started (before
    its initializer), printed their tracebacks under the sweep's "interrupted": the server is
    started with it ignored, so every process forked from it shrugs it off from birth (the
    sweep's own process stops them).  A bare process of the server sends itself a SIGINT."""
    script = (
        "import multiprocessing as mp\n"
        "import os\n"
        "import signal\n"
        "import time\n"
        "from sumsim import sweeps\n"
        "def child(q):\n"
        "    try:\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "        time.sleep(0.3)\n"
        "        q.put('survived')\n"
        "    except KeyboardInterrupt:\n"
        "        q.put('interrupted')\n"
        "if __name__ == '__main__':\n"
        "    ctx = mp.get_context('forkserver')\n"
        "    ctx.set_forkserver_preload(list(sweeps.PRELOAD))\n"
        "    sweeps._start_fork_server()\n"
        "    q = ctx.Queue()\n"
        "    p = ctx.Process(target=child, args=(q,))  # (no initializer: as born)\n"
        "    p.start()\n"
        "    print(q.get(timeout=60), signal.getsignal(signal.SIGINT) is "
        "signal.default_int_handler)\n"
        "    p.join()\n")
    probe = tmp_path / "probe.py"  # (a file: the children import the probe from it)
    probe.write_text(script)
    out = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    # what the server forks shrugs Ctrl-C off; the sweep's own process still takes it
    assert out.stdout.split() == ["survived", "True"], out.stderr
