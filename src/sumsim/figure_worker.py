"""Drawing a run's figure in a second process, beside the run.

Importing the plotting stack and drawing take about a tenth of a paper-sized ``sumsim run``
and need nothing from the simulation but the figure's numbers.  So ``sumsim run`` starts this
worker first (when the machine has a core to spare): it imports matplotlib while the run
computes, receives the figure's data (:func:`sumsim.report.run_figure_data`) once the run is
over, and draws while the run's process writes its tables.  The drawing code is the same
function the in-process path calls (:func:`sumsim.report.draw_run_figure`), so the PNG is the
same byte for byte; whenever the worker cannot be started or fails, the figure is drawn in
the run's process instead.

Protocol: the worker reads one pickled ``(data, path)`` from its standard input, writes the
PNG to ``path`` (atomically) and exits with 0; anything else is a failure.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any


class FigureWorker:
    """A started worker process (see the module docstring)."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "sumsim.figure_worker"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    @classmethod
    def start(cls) -> FigureWorker | None:
        """A worker, or None where it would not help (one core) or cannot start."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        if cores < 2:
            return None
        try:
            return cls()
        except OSError:
            return None

    def submit(self, data: dict[str, Any], path: Path) -> bool:
        """Hand the figure over; False if the worker is gone."""
        if self.proc is None or self.proc.stdin is None:
            return False
        try:
            self.proc.stdin.write(pickle.dumps((data, str(path))))
            self.proc.stdin.close()
            self.proc.stdin = None  # (so that `communicate` does not flush it)
        except OSError:
            self.cancel()
            return False
        return True

    def finish(self) -> bool:
        """Wait for the drawing; True if the figure was written."""
        if self.proc is None:
            return False
        try:
            _, err = self.proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            self.cancel()
            return False
        ok = self.proc.returncode == 0
        self.proc = None
        if not ok and err:
            print(f"figure worker failed (drawing in-process instead): "
                  f"{err.decode(errors='replace').strip().splitlines()[-1]}", file=sys.stderr)
        return ok

    def cancel(self) -> None:
        """Stop the worker if it still runs (the run failed or was interrupted)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    import matplotlib.figure  # noqa: F401  (the slow import, done before any data arrives)

    from sumsim.report import draw_run_figure

    payload = sys.stdin.buffer.read()
    if not payload:  # the run ended without a figure (an error, a refused folder)
        return 0
    data, path = pickle.loads(payload)
    draw_run_figure(data, Path(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
