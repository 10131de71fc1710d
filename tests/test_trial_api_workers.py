"""`sumsim.sweep` from a script whose top-level code fails when a pool worker imports it again
(no ``if __name__ == "__main__":`` guard): the error says what happened and what to do, not
only the process pool's "A process in the process pool was terminated abruptly"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    assert last.startswith("sumsim.api.WorkerDied: a worker process of the sweep stopped "
                           "abruptly"), res.stderr
    assert f"importing the script {script} again" in last
    assert 'if __name__ == "__main__":' in last and "executor='local'" in last
