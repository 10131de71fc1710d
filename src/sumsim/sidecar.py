"""A second process for the parts of ``sumsim run`` that do not depend on the simulation.

Three jobs of a paper-sized run need nothing from the simulation: the all-data baseline (an
off-chain fit on every training sample: a tenth of the run), the counterfactual (the same
seed without the attackers: a second simulation, when the scenario asks for it) and the figure
(importing the plotting stack and drawing: another tenth).  So ``sumsim run`` starts this
sidecar once its data is loaded, when the machine has a core to spare: it imports the
simulator and matplotlib, fits the baseline and runs the counterfactual while the run
simulates, and draws the figure while the run writes its tables.  Each job calls the very
functions the run's own process would (:func:`sumsim.engine.baseline_accuracy`,
:func:`sumsim.engine.counterfactual_run`, :func:`sumsim.report.draw_run_figure`) on the same
inputs, so the outputs are the same bytes; whenever the sidecar cannot be started or a job
fails, the run's process does it itself.

Protocol (pickles over the pipes): the parent sends ``("baseline", job)`` and
``("counterfactual", job)``, where ``job`` is ``(scenario, seed, data_path, base_dir,
deadline, data_version)``: the scenario the run validated, as a table (not its file, which may
have been edited since the run read it), ``deadline`` a :func:`time.monotonic` instant or
None, and :func:`sumsim.data.load.data_version` of the data the run loaded (a job that finds
other data, a file edited meanwhile, fails: the run does it itself).  It reads back, in order,
``("ok", value)`` or ``("error", message)`` for each: the baseline's accuracy, the
counterfactual's timeseries rows.  Each reply is framed (its length, 8 bytes, then the
pickle) and read straight from the pipe, so that a reply never waits unseen in a reader's
buffer while the run waits for the pipe to have something.  Then it sends ``("figure", data,
path)`` and waits for the sidecar to exit with 0 (the PNG written atomically).  End of input
ends the sidecar.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Longest wait for a job (seconds) before doing it in the run's process.
TIMEOUT_S = 3600.0
#: A reply's length, before its pickle.
_LENGTH = struct.Struct("<Q")


class Sidecar:
    """A started sidecar process (see the module docstring)."""

    def __init__(self) -> None:
        # Its error output goes to a file: a pipe nobody reads before the end could fill up.
        self._err = tempfile.TemporaryFile()  # noqa: SIM115  (closed with this object)
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "sumsim.sidecar"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._err)
        #: Jobs sent so far, and the replies read so far (None for a failed job), in order.
        self._asked = 0
        self._replies: list[Any] = []
        #: Bytes read from the reply pipe and not yet taken as a whole reply.
        self._pending = b""

    @classmethod
    def start(cls) -> Sidecar | None:
        """A sidecar, or None where it would not help (one core) or cannot start."""
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else (os.cpu_count() or 1)
        if cores < 2 or not sys.executable or os.name != "posix":  # (select on a pipe)
            return None
        try:
            return cls()
        except (OSError, ValueError):
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

    # -- the baseline and the counterfactual ---------------------------------------------------
    def ask(self, kind: str, scenario: Any, seed: int, data_path: str | None,
            base_dir: Path | None, deadline: float | None = None) -> Callable[[], Any]:
        """Start the job ``kind`` ("baseline" or "counterfactual") for the run's validated
        ``scenario`` (call once the run's data is loaded, so that the sidecar finds it in the
        featurization cache and can check it reads the same).  Returns what gives the job's
        result: it waits for it, and gives None if the sidecar could not do it."""
        from sumsim.data.load import data_version

        sent = self._send((kind, (scenario.model_dump(mode="json", exclude_none=True), seed,
                                  data_path, None if base_dir is None else str(base_dir),
                                  deadline, data_version(scenario.data, data_path, base_dir))))
        index = self._asked
        self._asked += 1

        def result() -> Any:
            if not sent:
                return None
            while len(self._replies) <= index and self._read(deadline):
                pass
            return self._replies[index] if index < len(self._replies) else None

        return result

    def _read(self, deadline: float | None) -> bool:
        """Read the next reply, waiting at most until ``deadline`` (or :data:`TIMEOUT_S`);
        False when there is none to read (the sidecar is then stopped)."""
        if self.proc is None or self.proc.stdout is None:
            return False
        fd = self.proc.stdout.fileno()
        end = time.monotonic() + (TIMEOUT_S if deadline is None
                                  else max(0.0, deadline - time.monotonic()))
        while True:
            frame = self._frame()
            if frame is not None:
                break
            ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
            if not ready:  # the run's process does the job (and meets its deadline itself)
                self.cancel()
                return False
            try:
                chunk = os.read(fd, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:  # (the sidecar ended without replying)
                self._failed()
                return False
            self._pending += chunk
        try:
            status, value = pickle.loads(frame)
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError):
            self._failed()
            return False
        self._replies.append(value if status == "ok" else None)
        return True

    def _frame(self) -> bytes | None:
        """The next whole reply among the bytes read, taken off them (None: not all there)."""
        if len(self._pending) < _LENGTH.size:
            return None
        (size,) = _LENGTH.unpack_from(self._pending)
        end = _LENGTH.size + size
        if len(self._pending) < end:
            return None
        frame, self._pending = self._pending[_LENGTH.size:end], self._pending[end:]
        return frame

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
    from sumsim.startup import defer_unused_numpy_packages

    defer_unused_numpy_packages()
    # The slow imports, done before any job arrives.
    import matplotlib.figure  # noqa: F401

    import sumsim.engine as engine
    from sumsim.data.load import data_version, load_dataset
    from sumsim.report import draw_run_figure
    from sumsim.scenario.loader import parse_scenario

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever prints must not land in the reply stream
    while True:
        try:
            message = pickle.load(inp)
        except EOFError:
            return 0
        if message[0] in ("baseline", "counterfactual"):
            doc, seed, data_path, base_dir, deadline, version = message[1]
            try:
                sc = parse_scenario(doc, "<the run's scenario>")
                base = None if base_dir is None else Path(base_dir)
                ds = load_dataset(sc.data, seed, data_path, base)
                if data_version(sc.data, data_path, base) != version:
                    raise RuntimeError("the data changed since the run loaded it")
                if message[0] == "baseline":
                    value: Any = engine.baseline_accuracy(
                        sc, ds, engine.make_split(sc, ds, seed), seed)
                else:
                    value = engine.counterfactual_run(sc, seed, ds, deadline).recorder.rows
                reply: tuple[str, Any] = ("ok", value)
            except Exception as e:  # the run's process does it instead
                reply = ("error", f"{type(e).__name__}: {e}")
            payload = pickle.dumps(reply)
            out.write(_LENGTH.pack(len(payload)) + payload)
            out.flush()
        elif message[0] == "figure":
            _, data, path = message
            draw_run_figure(data, Path(path))
            # The last job: the run waits for this process to end, so it ends at once
            # (tearing the interpreter and its libraries down would take a tenth of a second).
            out.flush()
            sys.stderr.flush()
            os._exit(0)
        else:
            raise ValueError(f"unknown job {message[0]!r}")


if __name__ == "__main__":
    sys.exit(main())
