"""EVM tests need the ``test`` extra's titanoboa and vyper; without them they are skipped."""

from __future__ import annotations

import importlib.util

collect_ignore_glob: list[str] = []
if importlib.util.find_spec("boa") is None or importlib.util.find_spec("vyper") is None:
    collect_ignore_glob.append("test_*.py")
