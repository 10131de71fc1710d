"""Contribution records: who added what, when, for how much, and who has claimed from it.

As the original DataHandler, a record is keyed by (sender, data, label, block time) and a
second record with the same key is refused ("Conflicting data key."): the same sender adding
the same labelled sample twice in one block.  Block times only grow, so only the keys of the
latest block can ever conflict; older ones are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: A record's key: sender, label, block time and the encoded sample's bytes.
DataKey = tuple[str, int, int, bytes]


@dataclass(slots=True, eq=False)
class Contribution:
    id: int
    author: str
    x: np.ndarray
    y: int
    added_time: int
    initial_deposit: int
    claimable: int
    #: Addresses that claimed from it, in order (a tuple: most records see one claim).
    claimed_by: tuple[str, ...] = ()
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
    #: What a prediction on ``x`` costs the model's contract code (for the gas of later
    #: refunds and reports; it depends on the sample only).
    predict_work: Any = None


class DataHandler:
    """Append-only list of contributions; a contribution's id is its index."""

    def __init__(self) -> None:
        self.records: list[Contribution] = []
        #: Keys of the records added in the latest block (see the module docstring).
        self._keys: set[DataKey] = set()
        self._keys_time = -1

    @staticmethod
    def key(author: str, encoded: bytes, y: int, now: int) -> DataKey:
        """The key of a record of ``encoded`` (the bytes of the ``int64[]`` the contract
        received, as ``ndarray.tobytes`` gives them)."""
        return (author, int(y), int(now), encoded)

    def conflicts(self, key: DataKey) -> bool:
        return key[2] == self._keys_time and key in self._keys

    def add(self, author: str, x: np.ndarray, y: int, now: int, deposit: int,
            x_nonzero_bytes: int = 0, status: str = "accepted",
            key: DataKey | None = None) -> Contribution:
        rec = Contribution(len(self.records), author, x, y, now, deposit, deposit,
                           x_nonzero_bytes=x_nonzero_bytes, status=status)
        self.records.append(rec)
        if key is not None:
            if key[2] != self._keys_time:
                self._keys.clear()
                self._keys_time = key[2]
            self._keys.add(key)
        return rec

    def get(self, cid: int) -> Contribution | None:
        if type(cid) is not int or cid < 0:
            return None
        try:
            return self.records[cid]
        except IndexError:
            return None

    def total_claimable(self) -> int:
        return sum(r.claimable for r in self.records)
