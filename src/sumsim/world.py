"""What the engine hands to every actor: the clock, the chain, the contract, the data pool, the
public dashboard and seeded random streams.

Agents observe only public state (free view calls and the dashboard) and act only through
transactions; defenses and a mechanism's own actors (e.g. a bounty provider) may also hold the
contract object and simulation knowledge (a sample's true label, the hidden test set), which a
real reviewer or provider would have.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np
import simpy
from scipy import sparse

from sumsim.chain import Chain
from sumsim.data.base import Matrix, Split, row
from sumsim.rng import stream


class Pool:
    """The contribution pool, drawn from in order without replacement, shared by all agents.

    Sample ``i`` is row ``rows[i]`` of ``x`` (default: row ``i``): a run's pool is a shuffled
    part of the training matrix, read in place rather than copied."""

    def __init__(self, x: Matrix, y: np.ndarray, ambiguous: np.ndarray | None = None,
                 rows: np.ndarray | None = None):
        self._x = x
        self.y = np.asarray(y)
        self.n = len(self.y)
        self._rows = np.arange(self.n) if rows is None else np.asarray(rows)
        if len(self._rows) != self.n:
            raise ValueError("a pool needs one row per label")
        # Which samples are taken: a bytearray for the per-sample reads and writes of the hot
        # path, seen by numpy (``used``) for the masked searches.
        self._used = bytearray(self.n)
        self.used = np.frombuffer(self._used, dtype=bool)
        self.ambiguous = ambiguous if ambiguous is not None else np.zeros(self.n, dtype=bool)
        self._cursor = 0
        self.remaining = self.n
        # Sparse samples: where each one's indices lie in the matrix, as plain integers, so
        # that handing a sample to an agent is one slice (it happens for every contribution);
        # the indices as numpy's index type, which every gather and scatter of the model (and
        # the contract's int64 encoding) would otherwise convert them to on each call.
        self._indices: np.ndarray | None = None
        if sparse.issparse(x):
            self._indices = np.asarray(x.indices, dtype=np.intp)
            self._lo = array("q", x.indptr[self._rows])
            self._hi = array("q", x.indptr[self._rows + 1])

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0

    def _advance(self) -> None:
        used, n = self._used, self.n
        while self._cursor < n and used[self._cursor]:
            self._cursor += 1

    def peek(self) -> int | None:
        self._advance()
        return self._cursor if self._cursor < self.n else None

    def take(self, i: int | None = None) -> int | None:
        """Take sample ``i`` (default: the next one in order); None when exhausted."""
        if i is None:
            i = self.peek()
            if i is None:
                return None
        if self._used[i]:
            raise ValueError(f"pool sample {i} already taken")
        self._used[i] = 1
        self.remaining -= 1
        return i

    def next_where(self, mask: np.ndarray) -> int | None:
        """Index of the next unused sample where ``mask`` holds (not taken)."""
        self._advance()
        cand = np.flatnonzero(mask[self._cursor:] & ~self.used[self._cursor:])
        return int(cand[0]) + self._cursor if cand.size else None

    def sample(self, i: int) -> np.ndarray:
        """Sample ``i`` as the contract receives it (see :func:`sumsim.data.base.row`)."""
        if self._indices is not None:
            return self._indices[self._lo[i]:self._hi[i]]
        return row(self._x, int(self._rows[i]))

    def samples(self, idx: np.ndarray) -> Matrix:
        """The samples at pool indices ``idx``, as one matrix (a copy)."""
        return self._x[self._rows[idx]]

    @property
    def x(self) -> Matrix:
        """Every pool sample as one matrix (a copy, built on each call: prefer
        :meth:`sample` and :meth:`samples`)."""
        return self.samples(np.arange(self.n))


class PoolIndex:
    """Contribution id -> pool index, for contributions of pool samples (a dict's interface
    over one 8-byte slot per contribution id: ids are dense, most are pool samples)."""

    def __init__(self) -> None:
        self._at = array("q")

    def __setitem__(self, cid: int, pool_i: int) -> None:
        if pool_i < 0:
            raise ValueError("pool indices are non-negative")
        at = self._at
        if cid == len(at):  # (the usual case: ids are handed out in order)
            at.append(pool_i)
            return
        if cid > len(at):
            at.extend([-1] * (cid + 1 - len(at)))
        at[cid] = pool_i

    @overload
    def get(self, cid: int) -> int | None: ...

    @overload
    def get(self, cid: int, default: int) -> int: ...

    def get(self, cid: int, default: int | None = None) -> int | None:
        if 0 <= cid < len(self._at):
            pi = self._at[cid]
            if pi >= 0:
                return pi
        return default

    def __getitem__(self, cid: int) -> int:
        pi = self.get(cid)
        if pi is None:
            raise KeyError(cid)
        return pi

    def __contains__(self, cid: object) -> bool:
        return isinstance(cid, int) and self.get(cid) is not None


class Dashboard:
    """Publishes the model's test accuracy every ``every`` simulated seconds.

    This is public information (anyone can evaluate the free ``predict`` on a test set), the
    figure accuracy-gated agents consult.  Subscribers (the run's recorder) are called after
    each publication.
    """

    def __init__(self, world: World, x_test: Matrix, y_test: np.ndarray, every: float):
        self.world = world
        self.env = world.env
        self.x_test = x_test
        self.y_test = y_test
        self.every = every
        self.time = float("nan")
        self.subscribers: list[Callable[[float, float], None]] = []

    def start(self) -> None:
        """Publish now, then every ``every`` seconds."""
        self.refresh()
        self.env.process(self._loop())

    def _loop(self):  # type: ignore[no-untyped-def]
        while True:
            yield self.env.timeout(self.every)
            self.refresh()

    def refresh(self) -> None:
        """Evaluate and publish (once per simulated instant)."""
        now = self.env.now
        if now == self.time:
            return
        self.time = now
        acc = self.world.trainer.model.accuracy(self.x_test, self.y_test)
        self.world.public_accuracy = acc
        for fn in self.subscribers:
            fn(now, acc)


@dataclass
class World:
    """Everything actors connect to when a run is built."""

    env: simpy.Environment
    chain: Chain
    #: The contract's address (what transactions are sent to).
    contract: str
    pool: Pool
    tx_gas_limit: int
    n_classes: int = 2
    #: The contract object (defenses and a mechanism's actors; agents use views instead).
    trainer: Any = None
    #: The contract owner's address: the contract itself unless a scenario names an agent.
    owner: str = "contract"
    seed: int = 0
    #: The run's data split (the hidden test set, for a mechanism's provider).
    split: Split | None = None
    #: The last test accuracy the dashboard published (NaN before the first publication):
    #: public information accuracy-gated agents consult.
    public_accuracy: float = float("nan")
    #: cid -> pool index, filled from receipts.
    pool_index: PoolIndex = field(default_factory=PoolIndex)
    #: Claims agents have finished looking at (taken off their books without being put back):
    #: progress towards the end of a run even when no transaction is sent, which the
    #: engine's idle guard counts (thousands of sybil addresses, each waking days apart, may
    #: take weeks to clear their books after the last transaction).
    claims_closed: int = 0
    #: Agents that have ended (nothing left to do, seen at their last turn): progress too, as
    #: agents acting days apart wind a run down one by one.
    agents_finished: int = 0
    #: How long the run waits without progress (``scenario.max_idle_s``): an agent that could
    #: only go on after a longer quiet spell gives up instead of holding the run open.
    patience_s: float = math.inf

    def rng(self, purpose: str) -> np.random.Generator:
        """A seeded stream for ``purpose`` (see :func:`sumsim.rng.stream`)."""
        return stream(self.seed, purpose)

    def truth(self, cid: int) -> int | None:
        """The true label of a contribution's sample (simulation knowledge, for reviewers)."""
        pi = self.pool_index.get(cid)
        return None if pi is None else int(self.pool.y[pi])
