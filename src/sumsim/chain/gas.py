"""Gas accounting: what a call did, turned into gas units.

The schedule is data (a frozen dataclass) so a scenario can override any entry.  Defaults follow
the post-Berlin Ethereum costs: 21,000 intrinsic, calldata 16 gas per non-zero byte and 4 per
zero byte, SSTORE 22,100 to a fresh (zero) slot and 5,000 to update a slot (cold), SLOAD 2,100
cold and 100 warm.  ``int64[]`` arguments are ABI-encoded at 32 bytes per element.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

WORD = 32


@dataclass(frozen=True)
class GasSchedule:
    intrinsic: int = 21_000
    calldata_zero_byte: int = 4
    calldata_nonzero_byte: int = 16
    sstore_new: int = 22_100
    sstore_update: int = 5_000
    sload_cold: int = 2_100
    sload_warm: int = 100
    call_overhead: int = 2_000
    #: Gas for sending ether back to a caller (value-bearing CALL).
    value_transfer: int = 9_000

    def replace(self, **overrides: int) -> GasSchedule:
        names = {f.name for f in fields(self)}
        unknown = set(overrides) - names
        if unknown:
            raise KeyError(f"unknown gas schedule entries: {sorted(unknown)}")
        return GasSchedule(**{**{n: getattr(self, n) for n in names}, **overrides})

    def calldata(self, nonzero: int, total: int) -> int:
        return nonzero * self.calldata_nonzero_byte + (total - nonzero) * self.calldata_zero_byte

    def storage(self, new: int = 0, update: int = 0, cold_reads: int = 0,
                warm_reads: int = 0) -> int:
        return (
            new * self.sstore_new
            + update * self.sstore_update
            + cold_reads * self.sload_cold
            + warm_reads * self.sload_warm
        )


def int64_nonzero_bytes(values: np.ndarray) -> int:
    """Non-zero bytes in the 32-byte ABI words of an ``int64[]`` (two's complement)."""
    v = np.asarray(values, dtype=np.int64)
    if v.size == 0:
        return 0
    top = int(v.max())
    if int(v.min()) >= 0:
        # Feature indices: non-negative, usually one or two bytes each.
        count = 0
        for k in range((top.bit_length() + 7) // 8):
            count += int(np.count_nonzero((v >> (8 * k)) & 0xFF))
        return count
    # Sign extension: a negative int64 fills the 24 high bytes of its word with 0xff.
    count = 24 * int(np.count_nonzero(v < 0))
    u = v.view(np.uint64)
    for k in range(8):
        count += int(np.count_nonzero((u >> np.uint64(8 * k)) & np.uint64(0xFF)))
    return count


def abi_array_calldata(n: int, array_nonzero: int, extra_words: int,
                       extra_nonzero: int = 0) -> tuple[int, int]:
    """(non-zero bytes, total bytes) of a call taking one ``int64[]`` of ``n`` elements (with
    ``array_nonzero`` non-zero bytes) plus ``extra_words`` words.

    Includes the 4-byte selector (assumed all non-zero), the array's offset and length words.
    """
    total = 4 + WORD * (2 + n + extra_words)
    nonzero = 4 + array_nonzero + extra_nonzero + 1 + (1 if n else 0)
    return nonzero, total
