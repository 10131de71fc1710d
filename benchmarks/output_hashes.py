"""Fingerprints of every output file of every shipped scenario (seed 1), to show that a change
left behaviour alone (or to see exactly which outputs a semantic change moved).

Usage::

    python benchmarks/output_hashes.py --record         # writes benchmarks/output-hashes.txt
    python benchmarks/output_hashes.py --check          # compares with the recorded file

IMDB scenarios need the archive (``--archive``, default ``../shared/data/...``) and are skipped
without it.  ``scenario.toml`` is listed too, but it is also expected to change whenever the
schema gains a field (it holds every default).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "output-hashes.txt"
ARCHIVE = ROOT.parent / "shared" / "data" / "aclImdb_v1-labelled.tar.gz"


def fingerprints(archive: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for scenario in sorted((ROOT / "scenarios").glob("*.toml")):
            text = scenario.read_text(encoding="utf-8")
            extra: list[str] = []
            if 'dataset = "imdb"' in text:
                if not archive.is_file():
                    print(f"skipped {scenario.name}: no IMDB archive", file=sys.stderr)
                    continue
                extra = ["--data-path", str(archive)]
            folder = Path(tmp) / scenario.stem
            subprocess.run([sys.executable, "-m", "sumsim", "run", str(scenario), "--seed", "1",
                            "--out", str(folder), "-q", *extra], check=True)
            for f in sorted(folder.iterdir()):
                out[f"{scenario.stem}/{f.name}"] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--record", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--archive", type=Path, default=ARCHIVE)
    args = ap.parse_args()
    now = fingerprints(args.archive)
    if args.record:
        RECORD.write_text("".join(f"{h}  {name}\n" for name, h in sorted(now.items())))
        print(f"{len(now)} files recorded in {RECORD}")
    if args.check:
        old = dict(reversed(line.split("  ", 1)) for line in RECORD.read_text().splitlines())
        old = {k.strip(): v for k, v in old.items()}
        changed = sorted(k for k in now if k in old and old[k] != now[k])
        new = sorted(set(now) - set(old))
        gone = sorted(set(old) - set(now))
        for name in changed:
            print(f"changed: {name}")
        for name in new:
            print(f"new:     {name}")
        for name in gone:
            print(f"missing: {name}")
        same = len(now) - len(changed) - len(new)
        print(f"{same} of {len(now)} files identical")
        return 1 if changed or gone else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
