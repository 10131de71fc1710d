"""sumsim: a discrete-event simulator for the economics of Sharing Updatable Models.

The public API (documented in :mod:`sumsim.api`)::

    import sumsim
    res = sumsim.run("quickstart", seed=7)
    res.summary, res.timeseries, res.transactions, res.contributions
    sumsim.load(path_or_dict, overrides={...})      # a validated Scenario
    sumsim.sweep(base, grid={...}, seeds=3)          # a polars DataFrame (paired seeds)
    sumsim.search("search.toml")                     # worst-case search (Optuna)

Plug-in authors: :mod:`sumsim.plugin`.  Property tests of a mechanism: :mod:`sumsim.testing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sumsim.version import __version__ as __version__

__all__ = ["Result", "Scenario", "load", "run", "search", "sweep"]

if TYPE_CHECKING:
    from sumsim.api import Result, Scenario, load, run, search, sweep


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import sumsim.chain` (or the CLI's `validate`) stays light.
    if name in __all__:
        import sumsim.api as api

        return getattr(api, name)
    raise AttributeError(f"module 'sumsim' has no attribute {name!r}")
