"""Contribution records: who added what, when, for how much, and who has claimed from it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: Storage slots a new record occupies (author, label + added time, initial deposit, claimable).
RECORD_SLOTS = 4


@dataclass(slots=True, eq=False)
class Contribution:
    id: int
    author: str
    x: np.ndarray
    y: int
    added_time: float
    initial_deposit: int
    claimable: int
    claimed_by: set[str] = field(default_factory=set)
    refunded: int = 0
    taken: int = 0
    #: Non-zero bytes of ``x`` ABI-encoded (calldata gas of later refund/report calls).
    x_nonzero_bytes: int = 0
    #: "accepted", "untrained" (stored without training), "in_review" or "rejected" (review).
    status: str = "accepted"
    #: Deposit forfeited by a review rejection.
    forfeited: int = 0
    #: Deposit moved into per-contributor balances (a prediction market's reward phase).
    pooled: int = 0


class DataHandler:
    """Append-only list of contributions; a contribution's id is its index."""

    def __init__(self) -> None:
        self.records: list[Contribution] = []

    def add(self, author: str, x: np.ndarray, y: int, now: float, deposit: int,
            x_nonzero_bytes: int = 0, status: str = "accepted") -> Contribution:
        rec = Contribution(len(self.records), author, x, y, now, deposit, deposit,
                           x_nonzero_bytes=x_nonzero_bytes, status=status)
        self.records.append(rec)
        return rec

    def get(self, cid: int) -> Contribution | None:
        if type(cid) is not int or cid < 0 or cid >= len(self.records):
            return None
        return self.records[cid]

    def total_claimable(self) -> int:
        return sum(r.claimable for r in self.records)
