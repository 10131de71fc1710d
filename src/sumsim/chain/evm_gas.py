"""Structural gas model of the original SUM contracts, per Ethereum fork.

Why structural: pricing only storage and calldata misses the work the original contracts do
around them (ABI decoding and re-encoding of the sample for every call between contracts,
hashing it into the data key, logging it in the ``AddData`` event, cold account accesses), and
one price list cannot answer for several forks.  Here a transaction is first described
by fork-independent *counts* (:class:`Ops`: storage reads cold/warm, storage writes by kind,
calls between contracts, value transfers, hashed and logged bytes, memory per call frame, ABI
passes over the array, interpretation gas), then priced with a fork's *primitive* costs
(:class:`Fork`).  So the differences between forks come only from the primitive costs, and any
model (the original sparse perceptron, naive Bayes, nearest centroid, a plug-in) is priced by
the same rules from what it reports about itself (:class:`ModelWork`).

Where the transaction structure comes from (the original CollaborativeTrainer64 calling
DataHandler64, Stakeable64 and SparsePerceptron, solc 0.6.2 without optimizer):

* ``addData``: the trainer decodes ``int64[]`` and calls the incentive mechanism (deposit
  check; reads cost weight and last update time twice each, rewrites the last update time and the
  submission counter), the data handler (hashes the packed array with label, time and sender;
  writes the record: label, time, sender, initial deposit and claimable amount are new slots,
  the claim counter is written with zero) and the classifier (``onlyOwner``, predict; on a
  mistake a second loop per feature).  Each callee decodes the array again; the trainer
  re-encodes it for each call and once more for the ``AddData`` event.  Every call between
  contracts is an EXTCODESIZE check plus a CALL.
* ``refund`` / ``report``: the caller passes the stored sample back; data handler (key hash,
  record checks, claim flags), classifier ``predict``, incentive mechanism (counters, event), a
  value transfer back; ``report`` also calls the data handler a second time to lower the
  claimable amount (to zero when the reporter takes it all, which earns a storage refund).
* Sub-word storage types (``int80`` weights, ``uint64`` label, ``address``) are written with a
  read-modify-write, so every such write is preceded by a (warm) read.

Fitted constants (:class:`Interp`; everything else is a primitive EVM cost or a count read off
the contracts).  They are fitted once, by least squares on relative error over *all three fork
columns at once* of `shared/evm-gas.md` (interpretation opcodes cost the same on every fork
here), after subtracting the primitives:

* ``abi_per_element``: one ABI pass over one array element (decode into memory, encode into a
  call or event, or pack for hashing).  Identified by addData (4 decodes, 4 encodes, 1 pack)
  against refund/report (4 decodes, 3 encodes, 1 pack).
* ``perceptron_predict_per_feature`` / ``perceptron_update_per_feature``: the original sparse
  perceptron's loop bodies beyond their storage access (bounds check, ``require`` per index,
  mapping key hash, sign extension, checked signed addition / ``+=`` on ``int80``); from the
  per-feature slopes of all rows (predict) and addData-updated minus addData-not-updated rows.
* ``add_data_fixed``, ``refund_fixed``, ``report_fixed``: per-transaction interpretation
  (dispatch, head decoding, ``require`` chains, ``Math.sqrt``, returns) from the intercepts.
* ``store_weight_per_weight``, ``constructor_fixed``, ``owner_call_fixed``: from the deployment
  rows (weights stored by the constructor and ``initializeWeights``, the four constructors, the
  small ``onlyOwner`` transactions ``initializeWeights`` and ``transferOwnership``).

Code sizes are not fitted: they are the byte counts of the original sources compiled with solc
0.6.2, optimizer off (:data:`ORIGINAL_CODE`); the weights are priced per SSTORE.

Fork notes, read off the measured figures: addData pays no storage refund, so Berlin and later
forks price it identically.  refund / report / take clear the claimable amount, whose refund is
15,000 before London and 4,800 after (EIP-3529); the measured "Berlin+" column of those rows
matches the London rule to the gas (a Berlin preset would be 10,200 cheaper), so the column is
London and later, and :data:`BERLIN` here is the true pre-London Berlin.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Literal, get_args

import numpy as np

WORD = 32
SELECTOR = 4

SstoreKind = Literal["set", "reset", "noop", "dirty", "clear"]
SSTORE_KINDS: frozenset[str] = frozenset(get_args(SstoreKind))
Method = Literal["add_data", "refund", "report", "take"]
_SSTORE_KINDS: tuple[SstoreKind, ...] = ("set", "reset", "noop", "dirty", "clear")


# --------------------------------------------------------------------------------------------
# Forks: primitive costs
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fork:
    """Primitive EVM costs of one fork (only those these contracts exercise).

    Storage writes are priced by kind: ``set`` zero to non-zero, ``reset`` non-zero to another
    value with the slot still holding its value from before the transaction, ``noop`` writing the
    value already there, ``dirty`` writing a slot already written in this transaction, ``clear``
    non-zero to zero (a reset that earns :attr:`clear_refund`).  Before Berlin a slot's first
    access costs the same as later ones; from Berlin on (EIP-2929) the first access of a slot or
    an account in a transaction pays a cold surcharge.
    """

    name: str
    calldata_nonzero_byte: int
    sload_cold: int
    sload_warm: int
    sstore_reset: int
    sstore_noop: int
    sstore_dirty: int
    #: First touch of an account in a transaction (EXTCODESIZE, CALL); pre-Berlin the flat price.
    account_cold: int
    account_warm: int
    #: Extra for the first access of a storage slot when it is a write (EIP-2929).
    sstore_cold_surcharge: int = 0
    clear_refund: int = 15_000
    #: Refunds are capped at gas used // this (2 before London, 5 from London, EIP-3529).
    refund_quotient: int = 2
    intrinsic: int = 21_000
    create: int = 32_000
    code_deposit_byte: int = 200
    calldata_zero_byte: int = 4
    sstore_set: int = 20_000
    call_value: int = 9_000
    call_stipend: int = 2_300
    keccak: int = 30
    keccak_word: int = 6
    log: int = 375
    log_topic: int = 375
    log_byte: int = 8
    memory_word: int = 3
    memory_quad_divisor: int = 512
    copy_word: int = 3

    def calldata(self, nonzero: float, total: float) -> float:
        return nonzero * self.calldata_nonzero_byte + (total - nonzero) * self.calldata_zero_byte

    def sstore(self, kind: SstoreKind, *, cold: bool) -> int:
        base = {"set": self.sstore_set, "reset": self.sstore_reset, "clear": self.sstore_reset,
                "noop": self.sstore_noop, "dirty": self.sstore_dirty}[kind]
        return base + (self.sstore_cold_surcharge if cold else 0)

    def contract_call(self, *, first: bool) -> int:
        """EXTCODESIZE check then CALL: the check touches the account, the CALL finds it warm."""
        return (self.account_cold if first else self.account_warm) + self.account_warm

    def value_transfer(self, *, recipient_warm: bool = True) -> int:
        """A CALL sending ether to an existing account with no code: the stipend comes back."""
        access = self.account_warm if recipient_warm else self.account_cold
        return access + self.call_value - self.call_stipend

    def keccak_of(self, n_bytes: float) -> float:
        return self.keccak + self.keccak_word * _words(n_bytes)

    def log_of(self, topics: int, n_bytes: float) -> float:
        return self.log + self.log_topic * topics + self.log_byte * n_bytes

    def memory(self, words: float) -> float:
        """Expansion of a fresh call frame to ``words`` words (linear plus quadratic)."""
        return self.memory_word * words + words * words / self.memory_quad_divisor

    def capped_refund(self, gas_used: float, refund: float) -> float:
        return min(refund, gas_used // self.refund_quotient)


def _words(n_bytes: float) -> float:
    return float(np.ceil(n_bytes / WORD))


PETERSBURG = Fork("petersburg", calldata_nonzero_byte=68, sload_cold=200, sload_warm=200,
                  sstore_reset=5_000, sstore_noop=5_000, sstore_dirty=5_000,
                  account_cold=700, account_warm=700)
#: EIP-2028 calldata, EIP-1884 SLOAD 800, EIP-2200 net metering (no-op / dirty = SLOAD).
ISTANBUL = replace(PETERSBURG, name="istanbul", calldata_nonzero_byte=16, sload_cold=800,
                   sload_warm=800, sstore_noop=800, sstore_dirty=800)
#: EIP-2929 cold/warm accesses; refunds as before London.
BERLIN = replace(ISTANBUL, name="berlin", sload_cold=2_100, sload_warm=100, sstore_reset=2_900,
                 sstore_noop=100, sstore_dirty=100, sstore_cold_surcharge=2_100,
                 account_cold=2_600, account_warm=100)
#: EIP-3529: smaller clearing refund and a 1/5 cap.  Cancun and Prague change nothing used here.
LONDON = replace(BERLIN, name="london", clear_refund=4_800, refund_quotient=5)
CANCUN = replace(LONDON, name="cancun")
PRAGUE = replace(LONDON, name="prague")

FORKS: dict[str, Fork] = {f.name: f for f in (PETERSBURG, ISTANBUL, BERLIN, LONDON, CANCUN,
                                              PRAGUE)}
FORKS["constantinople"] = PETERSBURG  # Petersburg is Constantinople without EIP-1283
FORKS["shanghai"] = LONDON


def fork(name: str | Fork) -> Fork:
    """A fork preset by (case-insensitive) name; London, Shanghai, Cancun and Prague share a
    price list for these contracts."""
    if isinstance(name, Fork):
        return name
    try:
        return FORKS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown fork {name!r}; known: {sorted(FORKS)}") from None


# --------------------------------------------------------------------------------------------
# Fitted interpretation constants
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Interp:
    """Gas of plain opcodes (identical on every fork here), fitted once; see the module doc.

    Values: least squares on relative error over the 75 call rows (addData with and without an
    update, refund, report for n = 10..300, take at n = 300; Petersburg, Istanbul and the
    London+ column together; largest error 0.15 %) and, separately, over the 18 deployment rows
    (largest error 0.4 %).  The contract-plumbing constants are near what the opcodes suggest:
    ~80 gas to move an ``int64`` through an ABI loop, ~430 for the perceptron's predict loop
    body (bounds check, ``require``, mapping key hash, checked signed add), ~400 for its
    ``+=`` loop body.  Only the sum of the per-element constants per call is identified by the
    data (4 decodes + 3 encodes + 1 pack + predict), so the split among them is by the
    assumption that every ABI pass costs the same.
    """

    abi_per_element: float = 78.5
    add_data_fixed: float = 7_666.4
    refund_fixed: float = 6_563.2
    report_fixed: float = 8_301.9
    perceptron_predict_per_feature: float = 429.9
    perceptron_update_per_feature: float = 405.1
    store_weight_per_weight: float = 459.4
    constructor_fixed: float = 1_483.3
    owner_call_fixed: float = 577.8


INTERP = Interp()


# --------------------------------------------------------------------------------------------
# Counts
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ModelWork:
    """What a model's ``predict`` or ``update`` does, as counts it can report about itself.

    ``reads``: distinct storage slots first read here (cold from Berlin on).  ``rereads``: reads
    of slots already read in this transaction, e.g. a read-modify-write of a packed value.
    Writes are to slots already read (a model reads before it writes): ``writes_new`` zero to
    non-zero, ``writes_update`` non-zero to another value, ``writes_clear`` to zero,
    ``writes_noop`` unchanged.  ``compute``: interpretation gas the model declares for its loops
    (``per-feature compute x features``), beyond storage.
    """

    reads: int = 0
    rereads: int = 0
    writes_new: int = 0
    writes_update: int = 0
    writes_clear: int = 0
    writes_noop: int = 0
    compute: float = 0.0
    memory_words: int = 0

    def __add__(self, other: ModelWork) -> ModelWork:
        return ModelWork(*(getattr(self, f) + getattr(other, f) for f in _MW_FIELDS))


_MW_FIELDS = ("reads", "rereads", "writes_new", "writes_update", "writes_clear", "writes_noop",
              "compute", "memory_words")
NO_WORK = ModelWork()


@dataclass(frozen=True, slots=True, eq=False)
class MechanismWork:
    """What an incentive mechanism's own contract code reads and writes in the three calls,
    as counts (the rest of a call, the trainer, data handler and model, is the same whatever
    the mechanism).  A mechanism names its work (``IncentiveMechanism.gas_work``); the
    defaults are the original Stakeable64's (Deposit-Refund-Take).

    ``add_*``: ``handleAddData`` (the deposit's inputs read, counters rewritten).
    ``report_*``: ``handleReport`` before the any-address wait (the reporter's checks) and
    after it (a take of what is left).  ``event_words``: data words of the ``Refund`` and
    ``Report`` events.  ``free``: deposits and payouts are always zero (the calls
    :func:`sumsim.results.gas.gas_rows` prices as typical).

    Compared by identity: a pricer's cache keys on it for every call (no field-by-field
    hashing; two equal descriptions are merely cached twice)."""

    add_reads_cold: int = 4  # owner, cost weight, last update time, submission counter
    add_reads_warm: int = 2  # cost weight and last update time again
    #: Of those, the reads before the deposit check (an add paying too little reverts there).
    add_check_reads_cold: int = 3  # owner, cost weight, last update time
    add_check_reads_warm: int = 2
    add_writes: int = 2  # last update time, submission counter
    report_reads_cold: int = 4  # owner, wait times, the reporter's and the total good counts
    report_reads_warm: int = 2
    report_late_reads_cold: int = 2  # owner, wait times
    report_late_reads_warm: int = 2  # owner (reporter == owner?), wait times again
    event_words: int = 2  # recipient, amount
    free: bool = False


#: The original Stakeable64 (Deposit-Refund-Take).
STAKEABLE_WORK = MechanismWork()
#: The original Points64: no deposit to compute (it only counts submissions), a report checks
#: the wait times and nothing else from storage, events name only the recipient.
POINTS_WORK = MechanismWork(add_reads_cold=2, add_reads_warm=0, add_writes=1,
                            add_check_reads_cold=1, add_check_reads_warm=0,
                            report_reads_cold=2, report_reads_warm=0, report_late_reads_cold=2,
                            report_late_reads_warm=0, event_words=1, free=True)


@dataclass
class Ops:
    """Fork-independent counts of one transaction; :meth:`price` turns them into gas."""

    calldata_total: float = 0.0
    calldata_nonzero: float = 0.0
    creates: int = 0
    code_deposit_bytes: int = 0
    sload_cold: int = 0
    sload_warm: int = 0
    #: (kind, cold) -> count
    sstores: dict[tuple[SstoreKind, bool], int] = field(default_factory=dict)
    calls_first: int = 0
    calls_again: int = 0
    value_transfers: int = 0
    #: Ether sent back with no value (a payout of 0 wei): a plain CALL, no value surcharge.
    empty_transfers: int = 0
    hashed_bytes: list[float] = field(default_factory=list)
    logs: list[tuple[int, float]] = field(default_factory=list)
    frames: list[float] = field(default_factory=list)
    copied_words: float = 0.0
    abi_elements: float = 0.0
    interp: float = 0.0

    def write(self, kind: SstoreKind, *, cold: bool, count: int = 1) -> None:
        if count:
            self.sstores[(kind, cold)] = self.sstores.get((kind, cold), 0) + count

    def model(self, work: ModelWork) -> None:
        self.sload_cold += work.reads
        self.sload_warm += work.rereads
        self.write("set", cold=False, count=work.writes_new)
        self.write("reset", cold=False, count=work.writes_update)
        self.write("clear", cold=False, count=work.writes_clear)
        self.write("noop", cold=False, count=work.writes_noop)
        self.interp += work.compute

    def price(self, f: Fork | str, interp: Interp = INTERP) -> GasBreakdown:
        f = fork(f)
        parts = {
            "intrinsic": f.intrinsic + f.create * self.creates,
            "calldata": f.calldata(self.calldata_nonzero, self.calldata_total),
            "sload": self.sload_cold * f.sload_cold + self.sload_warm * f.sload_warm,
            "sstore": sum(n * f.sstore(k, cold=c) for (k, c), n in self.sstores.items()),
            "calls": (self.calls_first * f.contract_call(first=True)
                      + self.calls_again * f.contract_call(first=False)
                      + self.value_transfers * f.value_transfer()
                      + self.empty_transfers * f.account_warm),
            "keccak": sum(f.keccak_of(b) for b in self.hashed_bytes),
            "log": sum(f.log_of(t, b) for t, b in self.logs),
            "memory": sum(f.memory(w) for w in self.frames) + f.copy_word * self.copied_words,
            "code_deposit": f.code_deposit_byte * self.code_deposit_bytes,
            "abi": interp.abi_per_element * self.abi_elements,
            "interp": self.interp,
        }
        used = sum(parts.values())
        refund_due = f.clear_refund * sum(n for (k, _), n in self.sstores.items() if k == "clear")
        refund = f.capped_refund(used, refund_due)
        return GasBreakdown(f.name, parts, refund)


@dataclass(frozen=True)
class GasBreakdown:
    """Gas by component before the refund, the refund, and the total a receipt shows."""

    fork: str
    parts: dict[str, float]
    refund: float

    @property
    def total(self) -> int:
        return int(round(sum(self.parts.values()) - self.refund))


# --------------------------------------------------------------------------------------------
# Calldata helpers
# --------------------------------------------------------------------------------------------
def int64_nonzero_bytes(values: np.ndarray) -> int:
    """Non-zero bytes in the 32-byte ABI words of an ``int64[]`` (two's complement)."""
    return int64_buffer_nonzero_bytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())


#: Maps a byte to 1 when its top bit is set, else to 0.
_TOP_BIT = bytes(int(b >= 0x80) for b in range(256))
#: Where the most significant byte of each 8-byte value sits in a native int64 buffer.
_SIGN_BYTE = 7 if sys.byteorder == "little" else 0


def int64_buffer_nonzero_bytes(raw: bytes) -> int:
    """:func:`int64_nonzero_bytes` of the values in ``raw``, a native ``int64`` buffer (what
    ``ndarray.tobytes`` gives).

    A word holds the value's 8 bytes behind 24 bytes of sign extension (zeros, or 0xff for a
    negative value), so the count is the non-zero bytes of the 8-byte values themselves (their
    order does not matter) plus 24 per negative value (one whose top byte has its top bit
    set).  Counted on the bytes with ``bytes`` methods: this runs for every add."""
    return len(raw) - raw.count(0) + 24 * raw[_SIGN_BYTE::8].translate(_TOP_BIT).count(1)


def _uint_nonzero_bytes(v: int) -> int:
    return WORD - int(v).to_bytes(WORD, "big").count(0)


def expected_index_nonzero_bytes(vocabulary: int) -> float:
    """Mean non-zero bytes of a 32-byte ABI word holding an index drawn uniformly from
    ``range(vocabulary)`` (e.g. 1.74 for 1,000 words: most indices need two bytes)."""
    idx = np.arange(vocabulary, dtype=np.int64)
    counts = sum(((idx >> (8 * k)) & 0xFF) != 0 for k in range(8))
    return float(np.mean(counts))


def _array_call(o: Ops, n: int, array_nonzero: float, head: Sequence[float]) -> None:
    """Calldata of a call whose arguments are one ``int64[]`` plus head words; ``head`` lists
    the non-zero bytes of each head word other than the array's offset."""
    o.calldata_total += SELECTOR + WORD * (1 + len(head) + 1 + n)
    o.calldata_nonzero += (SELECTOR + 1 + sum(head) + _uint_nonzero_bytes(n) + array_nonzero)


def _label_nonzero(label: int) -> int:
    """Non-zero bytes of a label's ABI word."""
    return _uint_nonzero_bytes(label)


TIMESTAMP_NONZERO = 4
ADDRESS_NONZERO = 20


# --------------------------------------------------------------------------------------------
# The three transactions
# --------------------------------------------------------------------------------------------
#: Where the original refuses an add: the incentive mechanism's deposit check ("Didn't pay
#: enough for the deposit."), or the data handler's key check ("Conflicting data key.", after
#: the mechanism has done its work).
AddRefusal = Literal["mechanism", "data_handler"]

# A refund or report the incentive mechanism refuses (``reverted=True`` of refund_ops and
# report_ops): the original checks a claim in the mechanism only after the data handler has
# looked the record up and written its claim marks (and, for a refund, zeroed its claimable
# amount) and after the classifier has predicted on the sample.  A revert there pays for all of
# that (its storage refunds voided) and leaves out only what follows the checks: the
# mechanism's counters and event, lowering the claimable amount, the payout.


def _claim_marks(o: Ops, claimed_before: bool, by_sender: bool) -> None:
    """The data handler's two writes of every refund and report: the record's claim counter
    goes up by one (a new slot on its first claim, an update after: ``claimed_before``) and
    the claimer's claimed-by flag is set (a new slot, or the same value again when this
    sender claimed from the record before: ``by_sender``, a reporter taking what is left
    after the any-address wait, say)."""
    o.write("reset" if claimed_before else "set", cold=False)  # claim counter
    o.write("noop" if by_sender else "set", cold=False)  # claimed-by flag


def _pay(o: Ops, nothing: bool) -> None:
    """The payout at the end of a claim: a value transfer, or a plain call sending 0 wei."""
    if nothing:
        o.empty_transfers += 1
    else:
        o.value_transfers += 1


def rewrite(old: int, new: int) -> SstoreKind:
    """The kind of write that puts ``new`` into a storage slot holding ``old``."""
    if old == new:
        return "noop"
    return "set" if old == 0 else "clear" if new == 0 else "reset"


def add_data_ops(*, n_elements: int, array_nonzero_bytes: float, label: int,
                 predict: ModelWork, update: ModelWork | None = None,
                 value_returned: bool = False, deposit_zero: bool = False,
                 rewrites_deposit: SstoreKind | None = None,
                 rewrite_clears_claims: bool = False,
                 mechanism_writes: tuple[SstoreKind, ...] | None = None,
                 mechanism: MechanismWork = STAKEABLE_WORK, interp: Interp = INTERP,
                 refused: AddRefusal | None = None) -> Ops:
    """Counts of ``addData(int64[] data, uint64 label)`` with the deposit paid (exactly unless
    ``value_returned``).  ``update`` is None when the model does not train (a perceptron whose
    prediction equals the label).  Label 0 writes a zero into the record's label slot (a no-op
    write), any other label a new slot; likewise a deposit of zero (``deposit_zero``) leaves
    the record's deposit and claimable slots at zero.

    An add that rewrites the record already under its key (the same sender, sample, label and
    block time, with nothing left to claim) gives ``rewrites_deposit``, the kind of write its
    deposit makes over the old one (:func:`rewrite`), and ``rewrite_clears_claims`` when the
    old record had claims: the data handler reads the old claimable amount to allow it, writes
    the same sender, label and time again, the deposit over the old one, the claimable amount
    from zero, and the claim counter back to zero.

    ``mechanism_writes``: how the mechanism's own writes change their slots
    (``IncentiveMechanism.add_write_kinds``; default: each an update).

    ``refused``: the add reverts where the original refuses it, and pays for what ran before
    (see :data:`AddRefusal`; the writes of a stage that completed are paid for though the
    revert undoes them).  Only the counted operations are priced: the fixed interpretation
    overhead of the calls made so far (a share of ``Interp.add_data_fixed``, unmeasured) is
    left out, so a refused add is priced a little low rather than guessed."""
    n = n_elements
    o = Ops()
    _array_call(o, n, array_nonzero_bytes, [_label_nonzero(label)])
    o.frames.append(2 * n + 10)
    if refused == "mechanism":
        # Trainer: the mechanism's address read, the sample decoded and encoded for the one
        # call; the mechanism decodes it and reads what the deposit depends on, then reverts.
        o.sload_cold += 1
        o.calls_first += 1
        o.sload_cold += mechanism.add_check_reads_cold
        o.sload_warm += mechanism.add_check_reads_warm
        o.frames.append(n + 6)
        o.abi_elements += 3 * n
        return o
    # Trainer: read the three contract addresses, call each, log the sample.
    o.sload_cold += 3 if refused is None else 2
    o.calls_first += 3 if refused is None else 2
    if refused is None:
        o.logs.append((2, WORD * (n + 5)))
    o.abi_elements += 1 + 3 + 1 if refused is None else 1 + 2  # decode, the calls, the event
    # Incentive mechanism (Stakeable: owner check, deposit from cost weight and last update
    # time, each read twice, then last update time and submission counter rewritten).
    o.sload_cold += mechanism.add_reads_cold
    o.sload_warm += mechanism.add_reads_warm
    if mechanism_writes is None:
        o.write("reset", cold=False, count=mechanism.add_writes)
    else:
        if len(mechanism_writes) != mechanism.add_writes:
            raise ValueError(f"{len(mechanism_writes)} kinds of write for a mechanism that "
                             f"writes {mechanism.add_writes} slots on an add")
        for kind in mechanism_writes:
            o.write(kind, cold=False)
    o.frames.append(n + 6)
    o.abi_elements += 1
    if refused == "data_handler":
        # Data handler: owner check, the key hashed, the record under it (sender, claimable
        # amount) read and found holding something: a conflicting key.
        o.sload_cold += 3
        o.hashed_bytes.append(WORD * n + 8 + WORD + 20)
        o.frames.append(2 * n + 15)
        o.abi_elements += 2
        o.abi_elements *= n
        return o
    # Data handler: owner check, key hash, existing record's sender, then the record.
    o.sload_cold += 3  # owner, sender slot, label slot (read before its packed write)
    o.sload_warm += 1  # sender slot again for its packed write
    o.hashed_bytes.append(WORD * n + 8 + WORD + 20)
    if rewrites_deposit is None:
        o.write("set" if label else "noop", cold=False)  # label slot
        o.write("set", cold=False)  # sender
        o.write("set", cold=True)  # time
        o.write("noop" if deposit_zero else "set", cold=True, count=2)  # deposit, claimable
        o.write("noop", cold=True)  # claim counter starts at zero
    else:
        o.sload_cold += 1  # the old record's claimable amount (it must be zero)
        o.write("noop", cold=False, count=2)  # label slot, sender: the same again
        o.write("noop", cold=True)  # time: the same again
        o.write(rewrites_deposit, cold=True)  # deposit, over the old one
        o.write("noop" if deposit_zero else "set", cold=False)  # claimable, from zero
        o.write("clear" if rewrite_clears_claims else "noop", cold=True)  # claim counter
    o.frames.append(2 * n + 15)
    o.abi_elements += 2  # decode, pack for the hash
    # Classifier: owner check, predict, maybe train.
    o.sload_cold += 1
    o.frames.append(n + 5 + predict.memory_words)
    o.abi_elements += 1
    o.model(predict)
    if update is not None:
        o.model(update)
    if value_returned:
        o.value_transfers += 1
    o.abi_elements *= n
    o.interp += interp.add_data_fixed
    return o


def refund_ops(*, n_elements: int, array_nonzero_bytes: float, label: int,
               predict: ModelWork, first_refund_of_author: bool = False,
               first_good_data: bool = False, amount_zero: bool = False,
               claimed_before: bool = False, claimed_before_by_sender: bool = False,
               reverted: bool = False,
               mechanism: MechanismWork = STAKEABLE_WORK, interp: Interp = INTERP) -> Ops:
    """Counts of ``refund(data, label, addedTime)`` by the author, the model agreeing.

    The author's good-data counter goes from zero to one on their first refund (a new slot
    instead of an update), as does the contract's total on its first refund ever.  A refund
    of nothing (``amount_zero``: the claimable amount was zero) leaves its slot as it was and
    sends no value.  The record's claim counter and the sender's claimed-by flag are written
    as the data handler writes them (see :func:`_claim_marks`).

    ``reverted``: the incentive mechanism refused it (what that costs: the comment above
    :func:`_claim_marks`)."""
    n = n_elements
    o = Ops()
    _array_call(o, n, array_nonzero_bytes, [_label_nonzero(label), TIMESTAMP_NONZERO])
    o.sload_cold += 3
    o.calls_first += 3
    if not reverted:
        _pay(o, amount_zero)
    o.frames.append(2 * n + 15)
    o.abi_elements += 1 + 3
    # Data handler: owner, sender, label, time, claimable, claimed-by flag, claim counter.
    o.sload_cold += 7
    o.sload_warm += 2
    o.hashed_bytes.append(WORD * n + 8 + WORD + 20)
    # claimable amount -> 0 (a revert voids the storage refund of clearing it)
    o.write("noop" if amount_zero else "reset" if reverted else "clear", cold=False)
    _claim_marks(o, claimed_before, claimed_before_by_sender)
    o.frames.append(2 * n + 15)
    o.abi_elements += 2
    # Classifier predict (a view, no owner check).
    o.frames.append(n + 5 + predict.memory_words)
    o.abi_elements += 1
    o.model(predict)
    # Incentive mechanism: owner, refund wait, the author's counter (read-modify-write of a
    # packed uint128), the total good-data counter; Refund event.
    o.sload_cold += 4
    o.sload_warm += 1
    if not reverted:
        fresh = int(first_refund_of_author) + int(first_good_data)
        o.write("set", cold=False, count=fresh)
        o.write("reset", cold=False, count=2 - fresh)
        o.logs.append((1, mechanism.event_words * WORD))
    o.frames.append(n + 13)
    o.abi_elements += 1
    o.abi_elements *= n
    o.interp += interp.refund_fixed
    return o


def report_ops(*, n_elements: int, array_nonzero_bytes: float, label: int,
               predict: ModelWork, after_any_address_wait: bool = False,
               takes_all: bool = True, amount_zero: bool = False,
               claimed_before: bool = False, claimed_before_by_sender: bool = False,
               reverted: bool = False,
               mechanism: MechanismWork = STAKEABLE_WORK, interp: Interp = INTERP) -> Ops:
    """Counts of ``report(data, label, addedTime, author)`` by a non-owner.

    Before the any-address wait the reporter must have good data and the model must disagree:
    the reward is ``deposit x reporter's good / total good`` (``takes_all`` when that is the
    whole claimable amount, which zeroes the slot and earns a refund).  After the wait the
    reporter takes what is left (always all).  A report taking nothing (``amount_zero``)
    leaves the claimable amount as it was and sends no value.  The record's claim counter and
    the reporter's claimed-by flag are written as the data handler writes them (see
    :func:`_claim_marks`).

    ``reverted``: the incentive mechanism refused it (what that costs: the comment above
    :func:`_claim_marks`)."""
    n = n_elements
    o = Ops()
    _array_call(o, n, array_nonzero_bytes,
                [_label_nonzero(label), TIMESTAMP_NONZERO, ADDRESS_NONZERO])
    o.sload_cold += 3
    o.calls_first += 3
    if not reverted:
        o.sload_warm += 1  # the data handler's address again for the second call
        o.calls_again += 1
        _pay(o, amount_zero)
    o.frames.append(2 * n + 16)
    o.abi_elements += 1 + 3
    # Data handler: owner, sender, label, time, deposit, claimable, claimed-by flag, counter.
    o.sload_cold += 8
    o.sload_warm += 2
    o.hashed_bytes.append(WORD * n + 8 + WORD + 20)
    _claim_marks(o, claimed_before, claimed_before_by_sender)
    o.frames.append(2 * n + 16)
    o.abi_elements += 2
    o.frames.append(n + 5 + predict.memory_words)
    o.abi_elements += 1
    o.model(predict)
    # Incentive mechanism: owner, the packed wait times (read once per comparison), and before
    # the wait the reporter's and the total good-data counters.
    if after_any_address_wait:
        o.sload_cold += mechanism.report_late_reads_cold
        o.sload_warm += mechanism.report_late_reads_warm
    else:
        o.sload_cold += mechanism.report_reads_cold
        o.sload_warm += mechanism.report_reads_warm
    o.frames.append(n + 14)
    o.abi_elements += 1
    if not reverted:
        o.logs.append((1, mechanism.event_words * WORD))
        # Data handler again: owner check, claimable amount lowered.
        o.sload_warm += 2
        o.write("noop" if amount_zero else
                "clear" if (takes_all or after_any_address_wait) else "reset", cold=False)
        o.frames.append(8)
    o.abi_elements *= n
    o.interp += interp.report_fixed
    return o


# --------------------------------------------------------------------------------------------
# Pricing calls: the one path from a call's description to its gas
# --------------------------------------------------------------------------------------------
class Pricer:
    """Prices ``addData``, ``refund`` and ``report`` calls on one fork, fast enough for every
    transaction of a run.

    A call's gas is its counts (:func:`add_data_ops` and friends) priced by the fork.  Most
    counts depend only on the call's *structure* (method, number of elements, label, flags,
    the model's memory); that part is priced once through :meth:`Ops.price` and cached.  What
    varies from call to call is linear: the array's non-zero calldata bytes and the model's
    storage accesses and compute (:class:`ModelWork`), added on top, then the refund is capped
    as :meth:`Ops.price` does.  So the result equals ``*_ops(...).price(fork).total`` (the
    tests check it on random calls) at a microsecond or two a call.
    :func:`add_data_gas`, :func:`refund_gas` and :func:`report_gas` go through here too.
    """

    def __init__(self, f: Fork | str, interp: Interp = INTERP) -> None:
        self.fork = fork(f)
        self.interp = interp
        fk = self.fork
        self._nonzero_extra = fk.calldata_nonzero_byte - fk.calldata_zero_byte
        self._set = fk.sstore("set", cold=False)
        self._reset = fk.sstore("reset", cold=False)
        self._clear = fk.sstore("clear", cold=False)
        self._noop = fk.sstore("noop", cold=False)
        self._sload_cold, self._sload_warm = fk.sload_cold, fk.sload_warm
        self._clear_refund, self._refund_quotient = fk.clear_refund, fk.refund_quotient
        #: structure key -> (gas before refund, refund due, calldata gas), array bytes all zero
        self._cache: dict[tuple[object, ...], tuple[float, float, float]] = {}
        #: The gas before its storage refund of the latest call priced by :meth:`add_data`,
        #: :meth:`add_data_refused`, :meth:`refund` or :meth:`report` (each returns the gas
        #: after it): what the transaction's gas limit must hold, as the EVM refunds only
        #: once the call has ended.  (Read right after the call priced: one pricer serves a
        #: whole chain, one call at a time.)
        self.peak = 0

    def _skeleton(self, key: tuple[object, ...], ops: Callable[[], Ops]
                  ) -> tuple[float, float, float]:
        """Price and cache the structure ``key`` (built by ``ops``)."""
        o = ops()
        b = o.price(self.fork, self.interp)
        clears = sum(c for (k, _), c in o.sstores.items() if k == "clear")
        hit = self._cache[key] = (sum(b.parts.values()), self.fork.clear_refund * clears,
                                  b.parts["calldata"])
        return hit

    def _total(self, skeleton: tuple[float, float, float], nonzero: float,
               works: tuple[ModelWork | None, ...]) -> int:
        """The skeleton's gas plus the linear parts, less the capped refund (as
        :meth:`Ops.price`; written out because it runs for every transaction)."""
        used, due, _ = skeleton
        used += nonzero * self._nonzero_extra
        for w in works:
            if w is None:
                continue
            used += (w.reads * self._sload_cold + w.rereads * self._sload_warm
                     + w.writes_new * self._set + w.writes_update * self._reset
                     + w.writes_clear * self._clear + w.writes_noop * self._noop + w.compute)
            if w.writes_clear:
                due += w.writes_clear * self._clear_refund
        self.peak = peak = int(round(used))
        if not due:
            return peak
        due = min(due, used // self._refund_quotient)
        return int(round(used - due))

    def add_data(self, *, n_elements: int, array_nonzero_bytes: float, label: int,
                 predict: ModelWork, update: ModelWork | None = None,
                 value_returned: bool = False, deposit_zero: bool = False,
                 rewrites_deposit: SstoreKind | None = None,
                 rewrite_clears_claims: bool = False,
                 mechanism_writes: tuple[SstoreKind, ...] | None = None,
                 mechanism: MechanismWork = STAKEABLE_WORK) -> int:
        """Gas of ``addData`` (see :func:`add_data_ops`)."""
        mw = predict.memory_words
        key = ("add_data", n_elements, label, value_returned, mw, deposit_zero,
               rewrites_deposit, rewrite_clears_claims, mechanism_writes, mechanism)
        skel = self._cache.get(key) or self._skeleton(key, lambda: add_data_ops(
            n_elements=n_elements, array_nonzero_bytes=0, label=label,
            predict=ModelWork(memory_words=mw), value_returned=value_returned,
            deposit_zero=deposit_zero, rewrites_deposit=rewrites_deposit,
            rewrite_clears_claims=rewrite_clears_claims, mechanism_writes=mechanism_writes,
            mechanism=mechanism, interp=self.interp))
        return self._total(skel, array_nonzero_bytes, (predict, update))

    def add_data_refused(self, refused: AddRefusal, *, n_elements: int,
                         array_nonzero_bytes: float, label: int,
                         mechanism_writes: tuple[SstoreKind, ...] | None = None,
                         mechanism: MechanismWork = STAKEABLE_WORK) -> int:
        """Gas of an ``addData`` the original refuses at stage ``refused`` (see
        :func:`add_data_ops`)."""
        key = ("add_data_refused", refused, n_elements, label, mechanism_writes, mechanism)
        skel = self._cache.get(key) or self._skeleton(key, lambda: add_data_ops(
            n_elements=n_elements, array_nonzero_bytes=0, label=label, predict=NO_WORK,
            mechanism_writes=mechanism_writes, mechanism=mechanism, interp=self.interp,
            refused=refused))
        return self._total(skel, array_nonzero_bytes, ())

    def refund(self, *, n_elements: int, array_nonzero_bytes: float, label: int,
               predict: ModelWork, first_refund_of_author: bool = False,
               first_good_data: bool = False, amount_zero: bool = False,
               claimed_before: bool = False, claimed_before_by_sender: bool = False,
               reverted: bool = False, mechanism: MechanismWork = STAKEABLE_WORK) -> int:
        """Gas of ``refund`` (see :func:`refund_ops`)."""
        mw = predict.memory_words
        key = ("refund", n_elements, label, first_refund_of_author, first_good_data, mw,
               amount_zero, claimed_before, claimed_before_by_sender, reverted, mechanism)
        skel = self._cache.get(key) or self._skeleton(key, lambda: refund_ops(
            n_elements=n_elements, array_nonzero_bytes=0, label=label,
            predict=ModelWork(memory_words=mw), first_refund_of_author=first_refund_of_author,
            first_good_data=first_good_data, amount_zero=amount_zero,
            claimed_before=claimed_before, claimed_before_by_sender=claimed_before_by_sender,
            reverted=reverted, mechanism=mechanism, interp=self.interp))
        return self._total(skel, array_nonzero_bytes, (predict,))

    def report(self, *, n_elements: int, array_nonzero_bytes: float, label: int,
               predict: ModelWork, after_any_address_wait: bool = False,
               takes_all: bool = True, amount_zero: bool = False,
               claimed_before: bool = False, claimed_before_by_sender: bool = False,
               reverted: bool = False, mechanism: MechanismWork = STAKEABLE_WORK) -> int:
        """Gas of ``report`` (see :func:`report_ops`)."""
        mw = predict.memory_words
        key = ("report", n_elements, label, after_any_address_wait, takes_all, mw,
               amount_zero, claimed_before, claimed_before_by_sender, reverted, mechanism)
        skel = self._cache.get(key) or self._skeleton(key, lambda: report_ops(
            n_elements=n_elements, array_nonzero_bytes=0, label=label,
            predict=ModelWork(memory_words=mw), after_any_address_wait=after_any_address_wait,
            takes_all=takes_all, amount_zero=amount_zero, claimed_before=claimed_before,
            claimed_before_by_sender=claimed_before_by_sender, reverted=reverted,
            mechanism=mechanism, interp=self.interp))
        return self._total(skel, array_nonzero_bytes, (predict,))

    def calldata(self, method: Method, *, n_elements: int, array_nonzero_bytes: float,
                 label: int) -> int:
        """Calldata gas alone of a call (what a transaction pays before anything runs)."""
        key = ("calldata", method, n_elements, label)
        hit = self._cache.get(key)
        if hit is None:
            head = {"add_data": [_label_nonzero(label)],
                    "refund": [_label_nonzero(label), TIMESTAMP_NONZERO],
                    "report": [_label_nonzero(label), TIMESTAMP_NONZERO, ADDRESS_NONZERO],
                    "take": [_label_nonzero(label), TIMESTAMP_NONZERO, ADDRESS_NONZERO]}[method]
            o = Ops()
            _array_call(o, n_elements, 0, head)
            hit = self._cache[key] = (self.fork.calldata(o.calldata_nonzero, o.calldata_total),
                                      0.0, 0.0)
        return int(round(hit[0] + array_nonzero_bytes * self._nonzero_extra))


@lru_cache(maxsize=64)
def pricer(f: Fork | str, interp: Interp = INTERP) -> Pricer:
    """The (cached) :class:`Pricer` of a fork."""
    return Pricer(fork(f), interp)


def add_data_gas(f: Fork | str, *, n_elements: int, array_nonzero_bytes: float, label: int,
                 predict: ModelWork, update: ModelWork | None = None,
                 value_returned: bool = False, interp: Interp = INTERP) -> int:
    """Gas of ``addData`` on fork ``f`` (see :func:`add_data_ops`)."""
    return pricer(fork(f), interp).add_data(
        n_elements=n_elements, array_nonzero_bytes=array_nonzero_bytes, label=label,
        predict=predict, update=update, value_returned=value_returned)


def refund_gas(f: Fork | str, *, n_elements: int, array_nonzero_bytes: float, label: int,
               predict: ModelWork, first_refund_of_author: bool = False,
               first_good_data: bool = False, claimed_before: bool = False,
               claimed_before_by_sender: bool = False, interp: Interp = INTERP) -> int:
    """Gas of ``refund`` on fork ``f`` (see :func:`refund_ops`)."""
    return pricer(fork(f), interp).refund(
        n_elements=n_elements, array_nonzero_bytes=array_nonzero_bytes, label=label,
        predict=predict, first_refund_of_author=first_refund_of_author,
        first_good_data=first_good_data, claimed_before=claimed_before,
        claimed_before_by_sender=claimed_before_by_sender)


def report_gas(f: Fork | str, *, n_elements: int, array_nonzero_bytes: float, label: int,
               predict: ModelWork, after_any_address_wait: bool = False,
               takes_all: bool = True, claimed_before: bool = False,
               claimed_before_by_sender: bool = False, interp: Interp = INTERP) -> int:
    """Gas of ``report`` on fork ``f`` (see :func:`report_ops`)."""
    return pricer(fork(f), interp).report(
        n_elements=n_elements, array_nonzero_bytes=array_nonzero_bytes, label=label,
        predict=predict, after_any_address_wait=after_any_address_wait, takes_all=takes_all,
        claimed_before=claimed_before, claimed_before_by_sender=claimed_before_by_sender)


# --------------------------------------------------------------------------------------------
# The original sparse perceptron's counts
# --------------------------------------------------------------------------------------------
def sparse_perceptron_work(n_features: int, *, updates: bool, new_weights: int = 0,
                           cleared_weights: int = 0,
                           interp: Interp = INTERP) -> tuple[ModelWork, ModelWork | None]:
    """(predict, update) work of the original SparsePerceptron for ``n_features`` indices.

    Predict reads the intercept's slot (it shares it with the learning rate) and one weight per
    index.  An update reads the learning rate and the weight again, then writes the packed
    ``int80`` with a read-modify-write: three warm reads and one write per index, a new slot
    for a weight that was zero (``new_weights``), a cleared one for a weight that becomes zero.
    """
    predict = ModelWork(reads=n_features + 1,
                        compute=interp.perceptron_predict_per_feature * n_features)
    if not updates:
        return predict, None
    update = ModelWork(rereads=3 * n_features, writes_new=new_weights,
                       writes_clear=cleared_weights,
                       writes_update=n_features - new_weights - cleared_weights,
                       compute=interp.perceptron_update_per_feature * n_features)
    return predict, update


def work_from_plan(read_slots: int, new_slots: int = 0, updated_slots: int = 0, *,
                   cleared_slots: int = 0, rereads: int | None = None,
                   predict_compute: float | None = None, update_compute: float | None = None,
                   interp: Interp = INTERP) -> tuple[ModelWork, ModelWork | None]:
    """(predict, update) work of any model from what ``sumsim.models`` reports: the slots a
    prediction reads (``Model.read_slots``), an update's new, updated and cleared slots
    (``UpdatePlan``), the warm re-reads the update makes of slots the prediction read
    (default: one per write, a read-modify-write) and the interpretation gas of the model's
    loops (``Model.compute_gas``).

    Compute defaults to the original perceptron's fitted loop rates per slot (a mapping lookup
    and a checked addition per read, a ``+=`` per write).

    Both parts are cached: every transaction asks, a run sees few distinct answers (they
    depend on sample lengths), and equal answers are then one shared (immutable) object, so
    the contribution records that keep their prediction's work share it."""
    predict = _predict_work(read_slots, predict_compute, interp)
    if not (new_slots or updated_slots or cleared_slots):
        return predict, None
    writes = new_slots + updated_slots + cleared_slots
    return predict, _update_work(writes if rereads is None else rereads, new_slots,
                                 updated_slots, cleared_slots, update_compute, interp)


class BadWork(ValueError):
    """A model reported counts or gas no contract code could have (see :func:`work_from_plan`)."""


def _counts(**counts: Any) -> None:
    """Slot counts are whole numbers no less than 0 (checked once per distinct answer: the
    callers are cached)."""
    for name, v in counts.items():
        if not (type(v) is int or isinstance(v, numbers.Integral)) or v < 0:
            raise BadWork(f"gave {name} = {v!r}: slot counts are whole numbers no less than 0")


def _compute(name: str, v: float | None) -> None:
    if v is not None and not ((type(v) is float or type(v) is int
                               or isinstance(v, numbers.Real)) and 0 <= v < math.inf):
        raise BadWork(f"gave {name} = {v!r}: compute gas is a finite number no less than 0")


@lru_cache(maxsize=4096)
def _predict_work(read_slots: int, compute: float | None, interp: Interp) -> ModelWork:
    _counts(read_slots=read_slots)
    _compute("the prediction's compute gas", compute)
    return ModelWork(reads=int(read_slots), compute=(
        interp.perceptron_predict_per_feature * read_slots if compute is None else compute))


@lru_cache(maxsize=4096)
def _update_work(rereads: int, new_slots: int, updated_slots: int, cleared_slots: int,
                 compute: float | None, interp: Interp) -> ModelWork:
    _counts(new_slots=new_slots, updated_slots=updated_slots, cleared_slots=cleared_slots,
            update_rereads=rereads)
    _compute("the update's compute gas", compute)
    writes = int(new_slots + updated_slots + cleared_slots)
    return ModelWork(rereads=int(rereads), writes_new=int(new_slots),
                     writes_update=int(updated_slots), writes_clear=int(cleared_slots),
                     compute=(interp.perceptron_update_per_feature * writes if compute is None
                              else compute))


#: The measured samples: indices uniform over IMDB's 1,000-word vocabulary.
IMDB_VOCABULARY = 1_000

def original_perceptron_gas(f: Fork | str, method: Method, n_features: int, *,
                            updates: bool = False, label: float = 0.5,
                            index_nonzero_bytes: float | None = None,
                            value_returned: bool = False, first_refund_of_author: bool = False,
                            first_good_data: bool = False, interp: Interp = INTERP) -> float:
    """Gas of one call of the deployed original (IMDB sparse perceptron) with ``n_features``
    present words, as measured in ``shared/evm-gas.md``.

    ``label=0.5`` is the mean of labels 0 and 1 (as the measured addData figures); ``take`` is a
    report after the any-address wait.  Array bytes default to indices uniform over the
    vocabulary."""
    per_index = (expected_index_nonzero_bytes(IMDB_VOCABULARY) if index_nonzero_bytes is None
                 else index_nonzero_bytes)
    n, nz = n_features, per_index * n_features
    predict, update = sparse_perceptron_work(n, updates=updates, interp=interp)
    totals = []
    for lab in ((0, 1) if label == 0.5 else (int(label),)):
        if method == "add_data":
            g = add_data_gas(f, n_elements=n, array_nonzero_bytes=nz, label=lab,
                             predict=predict, update=update, value_returned=value_returned,
                             interp=interp)
        elif method == "refund":
            g = refund_gas(f, n_elements=n, array_nonzero_bytes=nz, label=lab, predict=predict,
                           first_refund_of_author=first_refund_of_author,
                           first_good_data=first_good_data, interp=interp)
        elif method in ("report", "take"):
            g = report_gas(f, n_elements=n, array_nonzero_bytes=nz, label=lab, predict=predict,
                           after_any_address_wait=method == "take", interp=interp)
        else:
            raise ValueError(f"unknown method {method!r}")
        totals.append(g)
    return float(np.mean(totals))


# --------------------------------------------------------------------------------------------
# Deployment
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CodeSize:
    """Bytes of a contract's creation code (non-zero and zero: calldata) and runtime code (the
    200 gas/byte code deposit)."""

    init_nonzero: int
    init_zero: int
    runtime: int


#: The original sources compiled with solc 0.6.2, optimizer off (metadata hash included).
ORIGINAL_CODE: dict[str, CodeSize] = {
    "DataHandler64": CodeSize(9_320, 1_273, 10_510),
    "Stakeable64": CodeSize(6_545, 837, 6_719),
    "SparsePerceptron": CodeSize(8_135, 802, 7_060),
    "CollaborativeTrainer64": CodeSize(6_573, 295, 5_730),
}

#: Mean non-zero bytes of a deployed IMDB weight as an ABI word (int80 x 1e9, two's
#: complement: a negative weight is mostly 0xff bytes), inferred from the Petersburg-Istanbul
#: calldata difference of the measured deployment.
IMDB_WEIGHT_NONZERO_BYTES = 17.06


def _create_ops(code: CodeSize, args_words: int, args_nonzero: float,
                interp: Interp) -> Ops:
    o = Ops(creates=1)
    o.calldata_total = code.init_nonzero + code.init_zero + WORD * args_words
    o.calldata_nonzero = code.init_nonzero + args_nonzero
    o.code_deposit_bytes = code.runtime
    runtime_words = _words(code.runtime)
    o.copied_words += runtime_words + args_words  # CODECOPY of the arguments and the runtime
    o.frames.append(4 + max(runtime_words, 2 * args_words))
    o.interp += interp.constructor_fixed
    return o


def _owner_init(o: Ops) -> None:
    """Ownable's constructor: the owner address is a packed write (read, then a new slot)."""
    o.sload_cold += 1
    o.write("set", cold=False)


def _string_init(o: Ops, n_chars: int) -> None:
    """Copying a string into storage: its (packed) length slot is read then set; a string of 32
    bytes or more also fills one new slot per 32 bytes of data."""
    o.sload_cold += 1
    o.write("set", cold=False)
    if n_chars >= WORD:
        o.write("set", cold=True, count=int(_words(n_chars)))


def _store_weights(o: Ops, n: int, interp: Interp, zero_weights: int = 0) -> None:
    """``weights[i] = w[i]`` for ``n`` int80 weights: a packed write (read, then set) each."""
    o.sload_cold += n
    o.write("set", cold=False, count=n - zero_weights)
    o.write("noop", cold=False, count=zero_weights)
    o.abi_elements += n
    o.interp += interp.store_weight_per_weight * n


@dataclass(frozen=True)
class Deployment:
    """What the original migration deploys: names of the steps and their gas."""

    fork: str
    steps: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.steps.values())


def deploy_gas(f: Fork | str, n_weights: int = 1_000, *, first_batch: int = 250,
               batch: int = 250, weights: np.ndarray | None = None,
               weight_nonzero_bytes: float = IMDB_WEIGHT_NONZERO_BYTES,
               classifications: Sequence[str] = ("NEGATIVE", "POSITIVE"),
               trainer_strings: Sequence[str] = ("IMDB Review Sentiment Classifier",
                                                 "A simple IMDB sentiment analysis model.",
                                                 "IMDB vocab"),
               interp: Interp = INTERP) -> Deployment:
    """Gas of the original migration: data handler, incentive mechanism, the sparse perceptron
    constructed with ``first_batch`` weights, ``initializeWeights`` in batches of ``batch``, the
    trainer, and three ``transferOwnership`` calls.

    The weights are priced per SSTORE (a new slot each, a no-op write for a zero weight) and per
    calldata byte: pass the fixed-point ``weights`` to count their bytes exactly, otherwise
    ``weight_nonzero_bytes`` per weight is assumed."""
    f = fork(f)
    steps: dict[str, int] = {}

    def chunk_bytes(lo: int, hi: int) -> tuple[float, int]:
        if weights is None:
            return weight_nonzero_bytes * (hi - lo), 0
        w = np.asarray(weights[lo:hi], dtype=np.int64)
        return float(int64_nonzero_bytes(w)), int(np.count_nonzero(w == 0))

    # DataHandler64: just the owner.
    o = _create_ops(ORIGINAL_CODE["DataHandler64"], 0, 0, interp)
    _owner_init(o)
    steps["DataHandler64"] = o.price(f, interp).total
    # Stakeable64(refund wait, owner wait, any-address wait, cost weight).
    o = _create_ops(ORIGINAL_CODE["Stakeable64"], 4, 8, interp)
    _owner_init(o)
    o.write("noop", cold=True, count=2)  # submission and good-data totals initialised to 0
    o.sload_cold += 1  # the three uint32 wait times share a slot: read, set, then twice more
    o.sload_warm += 2
    o.write("set", cold=False)
    o.write("dirty", cold=False, count=2)
    o.write("set", cold=True, count=2)  # cost weight, last update time
    steps["Stakeable64"] = o.price(f, interp).total
    # SparsePerceptron(classifications, weights[:first_batch], intercept, learning rate).
    first = min(first_batch, n_weights)
    nz, zeros = chunk_bytes(0, first)
    class_words = 1 + len(classifications) + sum(1 + _words(len(c)) for c in classifications)
    class_nz = 1 + len(classifications) + sum(1 + len(c) for c in classifications)
    args_words = int(4 + class_words + 1 + first)
    o = _create_ops(ORIGINAL_CODE["SparsePerceptron"], args_words,
                    1 + 2 + 4 + 3 + class_nz + 1 + nz, interp)
    _owner_init(o)
    o.sload_cold += 1  # classifications' length slot: read, set
    o.write("set", cold=False)
    for _ in classifications:  # each short string: read, set
        o.sload_cold += 1
        o.write("set", cold=False)
    o.sload_cold += 1  # intercept (packed with the learning rate): read, set
    o.write("set", cold=False)
    o.sload_warm += 1  # learning rate: read, rewrite the same slot
    o.write("dirty", cold=False)
    _store_weights(o, first, interp, zeros)
    steps["SparsePerceptron"] = o.price(f, interp).total
    # initializeWeights(start, weights[start:start + batch]) (onlyOwner).
    init_total = 0
    for lo in range(first, n_weights, batch):
        hi = min(lo + batch, n_weights)
        nz, zeros = chunk_bytes(lo, hi)
        o = Ops()
        _array_call(o, hi - lo, nz, [_uint_nonzero_bytes(lo)])
        o.sload_cold += 1
        _store_weights(o, hi - lo, interp, zeros)
        o.frames.append(hi - lo + 8)
        o.interp += interp.owner_call_fixed
        init_total += o.price(f, interp).total
    steps["initializeWeights"] = init_total
    # CollaborativeTrainer64(name, description, encoder, data handler, incentive, classifier).
    s_words = sum(1 + _words(len(s)) for s in trainer_strings)
    s_nz = sum(1 + len(s) for s in trainer_strings)
    o = _create_ops(ORIGINAL_CODE["CollaborativeTrainer64"], int(6 + s_words),
                    5 + 3 * ADDRESS_NONZERO + s_nz, interp)
    for s in trainer_strings:
        _string_init(o, len(s))
    for _ in range(3):  # the three contract addresses: packed writes
        o.sload_cold += 1
        o.write("set", cold=False)
    steps["CollaborativeTrainer64"] = o.price(f, interp).total
    # transferOwnership(trainer) on the three contracts.
    own_total = 0
    for _ in range(3):
        o = Ops(calldata_total=SELECTOR + WORD, calldata_nonzero=SELECTOR + ADDRESS_NONZERO)
        o.sload_cold += 1
        o.sload_warm += 1
        o.write("reset", cold=False)
        o.interp += interp.owner_call_fixed
        own_total += o.price(f, interp).total
    steps["transferOwnership"] = own_total
    return Deployment(f.name, steps)
