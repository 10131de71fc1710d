"""Start-up of sumsim's own processes (the ``sumsim`` command and its sidecar): imports they
can leave for later.

scipy (1.17) builds its array-API namespace by cloning everything numpy exports, and numpy
exports its ``testing``, ``f2py`` and ``ma`` packages: importing ``scipy.sparse`` executes all
three, about a tenth of the command's imports (35-55 ms of every ``sumsim run``), though a run
uses none of them.  :func:`defer_unused_numpy_packages` registers them beforehand as lazy
modules (:class:`importlib.util.LazyLoader`): each is executed on the first access to one of
its attributes, so what they hold is the same, only loaded when used.

Only the processes sumsim starts itself call it, before anything imports numpy: a program
using sumsim as a library keeps its own import behaviour.
"""

from __future__ import annotations

import importlib.util
import sys

#: numpy packages that scipy's array-API namespace imports and a run never uses.
DEFERRED = ("testing", "f2py", "ma")


def defer_unused_numpy_packages() -> list[str]:
    """Register :data:`DEFERRED` as lazy modules; returns those registered.  Does nothing
    once scipy is imported (it has executed them already) or where numpy lacks one."""
    if "scipy" in sys.modules:
        return []
    import numpy

    done = []
    for name in DEFERRED:
        full = f"numpy.{name}"
        if full in sys.modules:
            continue
        spec = importlib.util.find_spec(full)
        if spec is None or spec.loader is None:
            continue
        loader = importlib.util.LazyLoader(spec.loader)
        spec.loader = loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[full] = module
        loader.exec_module(module)  # (only marks it lazy: executed on first use)
        # As an import would: numpy's own attribute then finds it (its __getattr__ would
        # import the package at once).
        setattr(numpy, name, module)
        done.append(full)
    return done
