"""One-callback SimPy events: what the chain's slots and the agents' turns are scheduled as.

A SimPy process needs, for every wait, a ``Timeout`` object and a resumption of its generator;
a run has tens of thousands of agent turns and block slots, each of which only has to call one
function at a time.  A :class:`Wake` is an already-triggered event holding that function as
its only callback, scheduled like a timeout (the same place in SimPy's queue: time, priority,
then creation order), so the order of events is exactly the one a process would give.
"""

from __future__ import annotations

from collections.abc import Callable

import simpy
from simpy.events import NORMAL, EventPriority


class Wake(simpy.Event):
    """Calls ``callback(event)`` ``delay`` seconds from now, at SimPy ``priority``."""

    def __init__(self, env: simpy.Environment, delay: float,
                 callback: Callable[[simpy.Event], None],
                 priority: EventPriority = NORMAL) -> None:
        if not delay >= 0:  # (NaN too: the queue would never reach it)
            raise ValueError(f"a wait must be a non-negative number of seconds, got {delay!r}")
        # (Event.__init__ written out, as simpy's own Timeout does: this runs for every turn)
        self.env = env
        self.callbacks = [callback]
        self._value = None
        self._ok = True
        env.schedule(self, priority, delay)
