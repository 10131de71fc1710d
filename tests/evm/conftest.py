"""EVM tests need the ``test`` extra's titanoboa and vyper.  They are part of the suite CI runs
(``pip install -e '.[test]' && pytest``), so a missing dependency is an error, not a skip."""

from __future__ import annotations

import importlib.util

missing = [m for m in ("boa", "vyper") if importlib.util.find_spec(m) is None]
if missing:
    raise ImportError(f"tests/evm needs {', '.join(missing)}: pip install -e '.[test]'")
