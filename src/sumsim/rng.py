"""Seeded random streams: one `numpy.random.Generator` per purpose, derived from the run seed.

Every random draw of a run comes from a stream keyed by what it is for (the data split, each
agent by name, each defense, the fee process), so removing some actors (the counterfactual) or
adding a defense leaves every other stream unchanged.
"""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, purpose: str) -> np.random.Generator:
    """A generator for one purpose, derived from the scenario seed (stable across runs)."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(purpose.encode())]))
