"""`sumsim.sweep` from a script whose top-level code fails when a pool worker imports it again
(no ``if __name__ == "__main__":`` guard): the error says what happened and what to do, not
only the process pool's "A process in the process pool was terminated abruptly"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = '''
import sumsim

if __name__ == "__mp_main__":  # what unguarded code that fails in a worker amounts to
    raise RuntimeError("top-level code failed in the worker")

table = sumsim.sweep("quickstart", grid={"agents[1].budget": [100]}, seeds=1, workers=1,
                     metrics=["accuracy.time_avg"])
'''


def test_a_worker_that_dies_importing_the_script_is_explained(tmp_path: Path) -> None:
    script = tmp_path / "unguarded.py"
    script.write_text(SCRIPT)
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("sumsim.errors.WorkerDied: a worker process of the sweep stopped "
                           "abruptly"), res.stderr
    assert f"importing the script {script} again" in last
    assert 'if __name__ == "__main__":' in last and "executor='local'" in last


def test_a_guarded_script_read_from_standard_input_is_told_what_fails(tmp_path: Path) -> None:
    """Workers cannot import a script read from standard input again, guard or not: the
    error says so instead of asking for the guard it already has."""
    script = ('import sumsim\nif __name__ == "__main__":\n'
              '    sumsim.sweep("quickstart", grid={"agents[1].budget": [100]}, seeds=1, '
              'workers=1, metrics=["accuracy.time_avg"])\n')
    res = subprocess.run([sys.executable, "-"], input=script, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    last = res.stderr.strip().splitlines()[-1]
    assert "which they cannot do for one read from <stdin>: save it to a file" in last, \
        res.stderr
    assert "executor='local'" in last



def _suicide(task: object) -> dict[str, object]:
    """A run whose worker is killed outright (as the kernel's out-of-memory killer does)."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    return {}


def test_a_killed_pool_worker_is_a_worker_died_error() -> None:
    import pytest

    from sumsim.errors import WorkerDied
    from sumsim.sweeps import _process

    with pytest.raises(WorkerDied, match="stopped abruptly.*memory"):
        list(_process(_suicide, [object()], 1, None))


def test_the_sweep_command_says_a_worker_died_in_one_line(tmp_path: Path, monkeypatch: Any,
                                                          capsys: Any) -> None:
    import sumsim.sweeps as sweeps
    from sumsim.cli import main
    from sumsim.errors import WorkerDied

    def dies(*args: Any) -> Any:
        raise WorkerDied("a worker process of the pool stopped abruptly (killed)")
        yield {}

    monkeypatch.setitem(sweeps.EXECUTORS, "process", dies)
    sweep = tmp_path / "s.toml"
    sweep.write_text('[sweep]\nname = "s"\nbase = "quickstart"\nseeds = 1\n'
                     '[grid]\n"agents[1].budget" = [100]\n')
    assert main(["sweep", str(sweep), "--out", str(tmp_path / "out"), "-q"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "a worker process of the pool stopped abruptly (killed)"
