"""Time loading the real IMDB archive: first (uncached) load vs. second (cached) load.

Usage::

    python benchmarks/bench_imdb_load.py [--archive PATH] [--num-words N] [--record]

The first load uses a fresh temporary cache directory, so it reads, tokenizes and featurizes all
50,000 reviews; the second load reads the ``.npz`` cache written by the first.  With
``--record`` the numbers replace the "IMDB load" section of ``benchmarks/RESULTS.md`` (other
sections are kept).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _results import ARCHIVE, RESULTS, machine, record, stamp

from sumsim.data.imdb import load_imdb

DEFAULT_ARCHIVE = ARCHIVE
SECTION = "IMDB load"


def measure(archive: Path, num_words: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory(prefix="sumsim-bench-") as tmp:
        cache = Path(tmp)
        start = time.perf_counter()
        ds = load_imdb(archive, num_words=num_words, cache_dir=cache)
        first = time.perf_counter() - start
        start = time.perf_counter()
        load_imdb(archive, num_words=num_words, cache_dir=cache)
        cached = time.perf_counter() - start
        cache_bytes = sum(p.stat().st_size for p in cache.glob("*.npz"))
    return {
        "first": first,
        "cached": cached,
        "ratio": first / cached,
        "n_train": ds.x_train.shape[0],
        "n_test": ds.x_test.shape[0],
        "n_features": ds.n_features,
        "nnz": ds.x_train.nnz + ds.x_test.nnz,
        "cache_mb": cache_bytes / 1e6,
    }


def section_text(r: dict[str, float | int], archive: Path, command: str) -> str:
    when = stamp()
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"- Date: {when}",
            f"- Command: `{command}`",
            f"- Archive: `{archive.name}` ({archive.stat().st_size / 1e6:.1f} MB)",
            f"- Machine: {machine()}",
            f"- Data: {r['n_train']:,} train / {r['n_test']:,} test reviews, "
            f"{r['n_features']} features, {r['nnz']:,} stored entries, "
            f"cache file {r['cache_mb']:.1f} MB",
            "",
            "| load | seconds |",
            "| --- | ---: |",
            f"| first (uncached) | {r['first']:.2f} |",
            f"| second (cached) | {r['cached']:.3f} |",
            f"| speed-up | {r['ratio']:.0f}x |",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=DEFAULT_ARCHIVE)
    parser.add_argument("--num-words", type=int, default=1000)
    parser.add_argument("--record", action="store_true", help=f"update {RESULTS.name}")
    args = parser.parse_args(argv)
    if not args.archive.is_file():
        print(f"IMDB archive not found: {args.archive}", file=sys.stderr)
        return 2
    r = measure(args.archive, args.num_words)
    print(f"first (uncached) load: {r['first']:.2f} s")
    print(f"second (cached) load:  {r['cached']:.3f} s")
    print(f"ratio:                 {r['ratio']:.0f}x")
    if args.record:
        command = "python benchmarks/bench_imdb_load.py"
        if args.num_words != 1000:
            command += f" --num-words {args.num_words}"
        if args.archive != DEFAULT_ARCHIVE:
            command += f" --archive {args.archive}"
        record(SECTION, section_text(r, args.archive, command + " --record"))
        print(f"recorded in {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
