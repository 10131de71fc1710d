"""Contribution records: who added what, when, for how much, and who has claimed from it.

As the original DataHandler, a record is keyed by (sender, data, label, block time): the
same sender adding the same labelled sample twice in one block names the record already
there.  The contract refuses that add while the record holds something claimable, and
otherwise lets it *rewrite* the record (the original's storage under the key is written
again: a new deposit, no claims counted, but the claimed-by flags, a mapping, kept).  Here the
new add is a new record that inherits the old one's claimed-by addresses, and the old id
names the new record from then on (:meth:`DataHandler.get`), as a claim passing the old
record's data would find the rewritten storage.  Block times only grow, so only the keys of
the latest block can ever be named again; older ones are dropped.
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
    #: Successful refunds and reports on it (the original's claim counter).
    claims: int = 0
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
        #: The record under each key of the latest block (see the module docstring).
        self._keys: dict[DataKey, Contribution] = {}
        self._keys_time = -1
        #: id of a rewritten record -> id of the record that rewrote it (the latest); empty
        #: in most runs (then every id names its own record).
        self.rewritten: dict[int, int] = {}

    @staticmethod
    def key(author: str, encoded: bytes, y: int, now: int) -> DataKey:
        """The key of a record of ``encoded`` (the bytes of the ``int64[]`` the contract
        received, as ``ndarray.tobytes`` gives them)."""
        return (author, int(y), int(now), encoded)

    def holder(self, key: DataKey) -> Contribution | None:
        """The record stored under ``key``, if it was added in the latest block."""
        return self._keys.get(key) if key[2] == self._keys_time else None

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
            old = self._keys.get(key)
            if old is not None:  # (the contract allowed it: see the module docstring)
                rec.claimed_by = old.claimed_by
                for cid, by in self.rewritten.items():
                    if by == old.id:
                        self.rewritten[cid] = rec.id
                self.rewritten[old.id] = rec.id
            self._keys[key] = rec
        return rec

    def get(self, cid: int) -> Contribution | None:
        """The record a call naming ``cid`` acts on (the one that rewrote it, if any)."""
        if type(cid) is not int or cid < 0:
            return None
        try:
            rec = self.records[cid]
        except IndexError:
            return None
        if self.rewritten:
            by = self.rewritten.get(cid)
            if by is not None:
                return self.records[by]
        return rec

    def total_claimable(self) -> int:
        return sum(r.claimable for r in self.records)
