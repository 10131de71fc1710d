"""The command's start-up: numpy packages nobody uses are not executed, and still work."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent("""
    import sys
    from sumsim.startup import defer_unused_numpy_packages
    print(defer_unused_numpy_packages())
    import scipy.sparse  # (what executed them: its array-API namespace clones numpy's)
    import sumsim.engine, sumsim.outputs
    print(sorted(n for n in ("numpy.testing", "numpy.f2py", "numpy.ma")
                 if type(sys.modules[n]).__name__ == "_LazyModule"))
    import numpy as np
    from numpy.testing import assert_array_equal
    assert_array_equal(np.ma.masked_array([1, 2], mask=[0, 1]).filled(0), [1, 0])
    print(type(sys.modules["numpy.testing"]).__name__, type(np.ma).__name__,
          np.testing is sys.modules["numpy.testing"])
    print(defer_unused_numpy_packages())
""")


def test_unused_numpy_packages_wait_for_their_first_use() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                         check=True, timeout=120).stdout.splitlines()
    assert out[0] == "['numpy.testing', 'numpy.f2py', 'numpy.ma']"
    # scipy.sparse and a run's modules imported: none of the three executed yet.
    assert out[1] == "['numpy.f2py', 'numpy.ma', 'numpy.testing']"
    # Used: executed then, as an import would have, and the same module object numpy names.
    assert out[2] == "module module True"
    assert out[3] == "[]"  # (too late once scipy is imported: nothing done)
