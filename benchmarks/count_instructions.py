"""Instructions a simulation executes, counted by valgrind's callgrind: a deterministic measure
for changes too small to see in wall times on a shared machine.

Usage::

    python benchmarks/count_instructions.py [--workload quickstart|imdb] [--src PATH]

``quickstart``: one run of the bundled quickstart (counterfactual off) on a seed no earlier run
of the process used, so its synthetic dataset is built too.  ``imdb``: one run of the paper
scenario with a pool of 3,000 samples (baseline off; the IMDB archive at ``--archive``).
Each count is the difference between a process that does the run and one that stops before
it (same imports, same data loading), with ``PYTHONHASHSEED=0``.  ``--src`` points
``PYTHONPATH`` at another checkout's ``src`` (to compare two versions of the code).
Needs ``valgrind`` on the ``PATH``; takes a few minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from _results import ARCHIVE

ROOT = Path(__file__).resolve().parents[1]


def _child(workload: str, runs: int, archive: str) -> None:
    """What the counted process does: load, then ``runs`` runs."""
    import sumsim.engine as engine

    if workload == "quickstart":
        from sumsim.scenario.loader import load_scenario

        sc = load_scenario(None, {"metrics.counterfactual": False})
        engine.run(sc, seed=1000)  # (imports and first-run work outside the difference)
        for r in range(runs):
            engine.run(sc, seed=1001 + r)
    else:
        from sumsim.data.load import load_dataset
        from sumsim.scenario.loader import load_scenario

        sc = load_scenario(ROOT / "scenarios" / "paper-imdb-perceptron-drt.toml",
                           {"metrics.baseline": False, "data.max_pool": 3000})
        ds = load_dataset(sc.data, 1, archive, None)
        for _ in range(runs):
            engine.run(sc, seed=1, dataset=ds)


def _count(workload: str, runs: int, archive: str, src: str | None) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0")
    if src:
        env["PYTHONPATH"] = src
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out",
             sys.executable, __file__, "--child", workload, str(runs), archive],
            env=env, capture_output=True, text=True, check=True)
    found = re.search(r"Collected : (\d+)", out.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _child(argv[1], int(argv[2]), argv[3])
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", choices=("quickstart", "imdb"), default="quickstart")
    p.add_argument("--src", help="a checkout's src folder to count instead of the installed one")
    p.add_argument("--archive", default=str(ARCHIVE))
    args = p.parse_args(argv)
    base = _count(args.workload, 0, args.archive, args.src)
    one = _count(args.workload, 1, args.archive, args.src)
    print(f"{(one - base) / 1e6:,.1f} M instructions per {args.workload} run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
