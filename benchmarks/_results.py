"""Recording benchmark numbers in ``benchmarks/RESULTS.md``, one section per benchmark."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
ARCHIVE = Path(__file__).resolve().parents[2] / "shared" / "data" / "aclImdb_v1-labelled.tar.gz"


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()} "
            f"on {platform.system()}")


def stamp() -> str:
    return dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")


def record(title: str, section: str, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## title`` section, keeping every other section intact."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    lines = text.splitlines()
    heading = f"## {title}"
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == heading)
    except StopIteration:
        body = text.rstrip("\n") + "\n\n" + section
    else:
        end = next(
            (i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines)
        )
        before = "\n".join(lines[:start]).rstrip("\n")
        after = "\n".join(lines[end:]).strip("\n")
        body = (before + "\n\n" if before else "") + section + ("\n" + after if after else "")
    path.write_text(body.rstrip("\n") + "\n", encoding="utf-8")
