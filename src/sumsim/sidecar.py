"""A second process for the parts of ``sumsim run`` that do not depend on the simulation.

Two jobs of a paper-sized run need nothing from the simulation: the all-data baseline (an
off-chain fit on every training sample: a tenth of the run) and the figure (importing the
plotting stack and drawing: another tenth).  So ``sumsim run`` starts this sidecar first, when
the machine has a core to spare: it imports the simulator and matplotlib while the run loads
its data, fits the baseline while the run simulates, and draws the figure while the run writes
its tables.  Both jobs call the very functions the run's own process would
(:func:`sumsim.engine.baseline_accuracy`, :func:`sumsim.report.draw_run_figure`) on the same
inputs, so the outputs are the same bytes; whenever the sidecar cannot be started or fails,
the run's process does the job itself.

Protocol (pickles over the pipes): the parent sends ``("baseline", scenario_path, overrides,
seed, data_path, base_dir)`` (the scenario as ``sumsim run`` was given it, loaded here the same
way) and reads back ``("ok", accuracy)`` or ``("error", message)``; then it sends
``("figure", data, path)`` and waits for the sidecar to exit with 0 (the PNG written
atomically).  End of input ends the sidecar.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: Longest wait for a job (seconds) before doing it in the run's process.
TIMEOUT_S = 3600.0


class Sidecar:
    """A started sidecar process (see the module docstring)."""

    def __init__(self) -> None:
        # Its error output goes to a file: a pipe nobody reads before the end could fill up.
        self._err = tempfile.TemporaryFile()  # noqa: SIM115  (closed with this object)
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "sumsim.sidecar"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._err)
        self._baseline_asked = False

    @classmethod
    def start(cls) -> Sidecar | None:
        """A sidecar, or None where it would not help (one core) or cannot start."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        if cores < 2:
            return None
        try:
            return cls()
        except OSError:
            return None

    def _send(self, message: tuple[Any, ...]) -> bool:
        if self.proc is None or self.proc.stdin is None:
            return False
        try:
            self.proc.stdin.write(pickle.dumps(message))
            self.proc.stdin.flush()
        except OSError:
            self.cancel()
            return False
        return True

    # -- the baseline ------------------------------------------------------------------------
    def ask_baseline(self, scenario_path: str | None, overrides: dict[str, Any], seed: int,
                     data_path: str | None, base_dir: Path | None) -> None:
        """Start fitting the all-data baseline of the scenario ``sumsim run`` was given (call
        once the run's data is loaded, so that the sidecar finds it in the featurization
        cache)."""
        self._baseline_asked = self._send(("baseline", scenario_path, overrides, seed,
                                           data_path,
                                           None if base_dir is None else str(base_dir)))

    def baseline(self) -> float | None:
        """The baseline's accuracy, or None when the sidecar could not give it."""
        if not self._baseline_asked or self.proc is None or self.proc.stdout is None:
            return None
        self._baseline_asked = False
        try:
            status, value = pickle.load(self.proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError):
            self._failed()
            return None
        return float(value) if status == "ok" else None

    # -- the figure ----------------------------------------------------------------------------
    def submit_figure(self, data: dict[str, Any], path: Path) -> bool:
        """Hand the figure over; False if the sidecar is gone."""
        if not self._send(("figure", data, str(path))):
            return False
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.stdin = None  # (so that `communicate` does not flush it)
        return True

    def finish(self) -> bool:
        """Wait for the drawing; True if the figure was written."""
        if self.proc is None:
            return False
        try:
            self.proc.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.cancel()
            return False
        ok = self.proc.returncode == 0
        self.proc = None
        if not ok:
            self._report()
        return ok

    def _failed(self) -> None:
        self.cancel()
        self._report()

    def _report(self) -> None:
        self._err.seek(0)
        lines = self._err.read().decode(errors="replace").strip().splitlines()
        if lines:
            print(f"sidecar process failed (its work is done in the run's process instead): "
                  f"{lines[-1]}", file=sys.stderr)

    def cancel(self) -> None:
        """Stop the sidecar if it still runs (the run failed or was interrupted)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


def main() -> int:
    # The slow imports, done before any job arrives.
    import matplotlib.figure  # noqa: F401

    import sumsim.engine as engine
    from sumsim.data.load import load_dataset
    from sumsim.report import draw_run_figure
    from sumsim.scenario.loader import load_scenario

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever prints must not land in the reply stream
    while True:
        try:
            message = pickle.load(inp)
        except EOFError:
            return 0
        if message[0] == "baseline":
            _, scenario_path, overrides, seed, data_path, base_dir = message
            try:
                sc = load_scenario(scenario_path, overrides)
                ds = load_dataset(sc.data, seed, data_path,
                                  None if base_dir is None else Path(base_dir))
                acc = engine.baseline_accuracy(sc, ds, engine.make_split(sc, ds, seed), seed)
                reply: tuple[str, Any] = ("ok", acc)
            except Exception as e:  # the run's process fits it instead
                reply = ("error", f"{type(e).__name__}: {e}")
            pickle.dump(reply, out)
            out.flush()
        elif message[0] == "figure":
            _, data, path = message
            draw_run_figure(data, Path(path))
        else:
            raise ValueError(f"unknown job {message[0]!r}")


if __name__ == "__main__":
    sys.exit(main())
