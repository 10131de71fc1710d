"""What the contract's acceptance path needs of a defense (a gate), and what gates record.

A gate is consulted by ``add_data`` after the deposit check and before training.  It answers
with a :class:`Verdict`: accept and train, accept without training, send to human review, or
reject (the call reverts with the gate's reason; the sender pays only the fee).  Gates update
their state in ``on_accepted``, which runs only once the call can no longer revert, so a
rejected call leaves no trace.  The defenses' base class (``sumsim.defenses.base``) implements
this protocol; the contract knows nothing else of defenses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sumsim.chain.chain import CallContext
    from sumsim.contract.data_handler import Contribution


class Verdict(Enum):
    ACCEPT = "accept"
    NO_TRAIN = "accept_without_training"
    REVIEW = "review"
    REJECT = "reject"


@dataclass
class Flag:
    """One contribution a gate did not simply accept."""

    time: float
    sender: str
    label: int
    verdict: Verdict
    tag: str
    cid: int | None = None


@dataclass
class GateLog:
    flags: list[Flag] = field(default_factory=list)
    checked: int = 0
    checked_by: dict[str, int] = field(default_factory=dict)

    def count(self, sender: str) -> None:
        self.checked += 1
        self.checked_by[sender] = self.checked_by.get(sender, 0) + 1


class GateProtocol(Protocol):
    log: GateLog

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]: ...

    def on_accepted(self, ctx: CallContext, rec: Contribution, verdict: Verdict) -> None: ...


class Reviewer(Protocol):
    """Receives the contributions a gate sent to human review."""

    def enqueue(self, rec: Contribution) -> None: ...
