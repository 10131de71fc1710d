"""`CollaborativeTrainer`: incentive mechanism + data handler + model, as one contract.

Every public method validates and charges all its gas before it writes anything, so a revert
(including out-of-gas) leaves the state exactly as it was; the chain then charges only the fee.

Gas: the contract describes what a call did and the chain's fork prices it
(:class:`sumsim.chain.evm_gas.Pricer`), as the original contracts would cost: the sample's
length and non-zero calldata bytes, the label, the model's storage reads and writes
(:meth:`Model.read_slots`, :meth:`Model.plan_update`) and declared compute
(:meth:`Model.compute_gas`), whether value is returned, whether a refund sets its counters
from zero, whether a report is a late take and whether it empties the claimable amount.
``refund`` and ``report`` take a contribution id here, but are priced as the original, whose
caller passes the stored sample back (so their cost grows with it).  Calldata is charged
first (a transaction pays it whatever happens), the rest once every check has passed; a claim
the incentive mechanism refuses is charged what the original spends before the mechanism's
checks (the record looked up and marked, the prediction), an add the original refuses (too
small a deposit, a conflicting key) what it spends up to the refusal, and an add refused for
what only this contract checks (labels, feature indices, defenses) its calldata.

Owner: by default the contract owns itself, as in the original deployment (the incentive
mechanism's owner is the trainer contract), so no wallet can use an owner's early take; a
scenario may name an agent instead.  A deposit a review forfeits "to the owner" then stays in
the contract, claimable by nobody (:attr:`CollaborativeTrainer.locked`).
The contract knows three transactions (``add_data``, ``refund``, ``report``); a mechanism adds
its own (see :mod:`sumsim.contract.mechanism`) and the contract dispatches to them.  Every
payment goes through :meth:`CollaborativeTrainer.pay`, so receipts say who was paid what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sumsim.chain.chain import CallContext
from sumsim.chain.evm_gas import (
    SSTORE_KINDS,
    AddRefusal,
    BadWork,
    Method,
    ModelWork,
    Pricer,
    SstoreKind,
    int64_buffer_nonzero_bytes,
    rewrite,
    work_from_plan,
)
from sumsim.chain.ledger import Ledger
from sumsim.chain.tx import Revert
from sumsim.contract.data_handler import Contribution, DataHandler
from sumsim.contract.gates import Flag, GateProtocol, Reviewer, Verdict
from sumsim.contract.mechanism import IncentiveMechanism
from sumsim.errors import PluginBug
from sumsim.models.base import NO_UPDATE, Model, UpdatePlan

_RANK = {Verdict.ACCEPT: 0, Verdict.NO_TRAIN: 1, Verdict.REVIEW: 2}
#: What screening decides when there are no gates.
_UNSCREENED: tuple[Verdict, GateProtocol | None] = (Verdict.ACCEPT, None)
_STATUS = {Verdict.ACCEPT: "accepted", Verdict.NO_TRAIN: "untrained",
           Verdict.REVIEW: "in_review"}

UNKNOWN_CONTRIBUTION = "Data not found."
BAD_LABEL = "Unknown class."
UNKNOWN_METHOD = "Unknown method."
UNDER_REVIEW = "Contribution is under review."
NOT_PAYABLE = "This method does not accept ether."
CONFLICTING_KEY = "Conflicting data key. The data may have already been added."
NEGATIVE_INDEX = "Not all indices are >= 0."
INDEX_OUT_OF_RANGE = "Feature index out of range."
REPEATED_INDEX = "Feature indices must not repeat."
INDICES_NOT_INTEGERS = "Feature indices must be integers."
#: A dense sample reaches the contract as int64 fixed point with this many decimals.
DENSE_DECIMALS = 9
DENSE_SCALE = 10**DENSE_DECIMALS
#: The largest feature value that fixed point holds (with a margin below 2**63 / DENSE_SCALE,
#: about 9.22e9, so that rounding never wraps around).
MAX_DENSE_VALUE = 9e9


class CollaborativeTrainer:
    """The SUM contract.  ``owner`` may take unclaimed deposits after the owner wait; by
    default the contract itself (nobody can)."""

    def __init__(self, address: str, ledger: Ledger, model: Model, im: IncentiveMechanism,
                 owner: str | None = None, gas: Pricer | None = None) -> None:
        self.address = address
        #: The chain's pricer, for the gas a free simulation of a claim would use
        #: (:meth:`view_claim_estimate`; None: no estimate).  Transactions are priced by the
        #: pricer of their call (``CallContext.gas``).
        self.gas = gas
        self.ledger = ledger
        self.model = model
        self.im = im
        self.owner = address if owner is None else owner
        self.data = DataHandler()
        self._claim_lists: dict[tuple[str, ...], tuple[str, ...]] = {}
        #: The mechanism's answers of add_write_kinds found valid so far.
        self._write_kinds_seen: set[tuple[SstoreKind, ...]] = set()
        #: Wei in the contract that nobody can claim: deposits a review forfeited to the owner
        #: while the owner is the contract itself.
        self.locked = 0
        #: Defenses consulted by `add_data`, in order (see sumsim.contract.gates).
        self.gates: list[GateProtocol] = []
        #: Receives contributions a gate sent to human review.
        self.reviewer: Reviewer | None = None
        #: method -> (function taking (ctx, *args), payable)
        self._dispatch: dict[str, tuple[Callable[..., Any], bool]] = {
            "add_data": (self.add_data, True), "refund": (self.refund, False),
            "report": (self.report, False)}
        for name, (fn, payable) in im.transactions().items():
            if name in self._dispatch:
                raise ValueError(f"mechanism transaction {name!r} clashes with a core method")
            self._dispatch[name] = (self._bind(fn), payable)
        # A mechanism's public views (``view_*`` methods taking the block time first) are the
        # contract's views too.
        for name in dir(type(im)):
            if name.startswith("view_") and name not in dir(type(self)):
                setattr(self, name, getattr(im, name))

    def _bind(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(ctx: CallContext, *args: Any) -> Any:
            return fn(self, ctx, *args)

        return call

    # -- transactions --------------------------------------------------------------------
    def execute(self, ctx: CallContext, method: str, args: tuple[Any, ...]) -> Any:
        entry = self._dispatch.get(method)
        if entry is None:
            raise Revert(UNKNOWN_METHOD)
        fn, payable = entry
        if ctx.value and not payable:
            raise Revert(NOT_PAYABLE)
        return fn(ctx, *args)

    def pay(self, ctx: CallContext, recipient: str, amount: int, memo: str) -> None:
        """Send ``amount`` wei from the contract within the call ``ctx`` (logged on the receipt).

        Memos name what the payment is: ``change`` (a deposit's excess), ``refund``, ``take``,
        or a mechanism's own word."""
        self.ledger.transfer(self.address, recipient, amount, ctx.now)
        if amount:
            ctx.payments.append((recipient, amount, memo))

    def _encode(self, x: np.ndarray) -> np.ndarray:
        """The ``int64[]`` the contract receives: indices, or a dense vector in fixed point."""
        if self.model.sparse_input:
            return np.asarray(x, dtype=np.int64)
        return np.rint(np.asarray(x, dtype=np.float64) * DENSE_SCALE).astype(np.int64)

    def _check_indices(self, x: np.ndarray) -> None:
        """A sparse sample names present features by index: none negative (the original
        reverts so), none past the model's features (its weights are a fixed vocabulary
        here), none repeated (the model's vector arithmetic would count it once where the
        original's loops count it twice: refused instead).  In any order (checked at once
        when increasing, as samples from the data are)."""
        if x.dtype.kind not in "iu":
            raise Revert(INDICES_NOT_INTEGERS)
        # (count_nonzero: the cheapest whole-array test numpy has; this runs for every add)
        increasing = not np.count_nonzero(x[1:] <= x[:-1])
        low, high = (x[0], x[-1]) if increasing else (x.min(), x.max())
        if low < 0:
            raise Revert(NEGATIVE_INDEX)
        if high >= self.model.n_features:
            raise Revert(INDEX_OUT_OF_RANGE)
        if not increasing and len(np.unique(x)) != len(x):
            raise Revert(REPEATED_INDEX)

    def _work(self, x: np.ndarray, plan: UpdatePlan) -> tuple[ModelWork, ModelWork | None]:
        """What the model's contract code does for a prediction on ``x`` and the update
        ``plan``, for the gas model."""
        m = self.model
        c = m.compute_gas(x, plan)
        try:
            return work_from_plan(m.read_slots(x), plan.new_slots, plan.updated_slots,
                                  cleared_slots=plan.cleared_slots, rereads=c.update_rereads,
                                  predict_compute=c.predict, update_compute=c.update)
        except BadWork as e:
            raise self._model_bug("read_slots, plan_update or compute_gas", str(e)) from None

    @staticmethod
    def _charge_calldata(ctx: CallContext, method: Method, x_len: int, x_nonzero: int,
                         label: Any) -> None:
        """Charge the calldata of a call (before anything else can revert)."""
        ctx.charge(_calldata_gas(ctx.gas, method, x_len, x_nonzero, label))

    def add_data(self, ctx: CallContext, x: np.ndarray, y: int) -> int:
        x = np.asarray(x)  # (a list from a strategy: the array the contract decodes)
        raw = self._encode(x).tobytes()
        x_nonzero = int64_buffer_nonzero_bytes(raw)
        self._charge_calldata(ctx, "add_data", len(x), x_nonzero, y)
        if self.model.sparse_input:
            if len(x):
                self._check_indices(x)
            else:  # (no feature present: an empty list is not a float array)
                x = np.zeros(0, dtype=np.int64)
        if type(y) is not int or not 0 <= y < self.model.n_classes:
            raise Revert(BAD_LABEL)
        try:
            cost = self.im.check_add(ctx.now, ctx.value)
        except Revert:  # (the deposit refused: what ran up to the mechanism's check is paid)
            self._charge_refused(ctx, "mechanism", x, x_nonzero, y)
            raise
        if type(cost) is not int:
            raise self._mechanism_bug("check_add", _not_wei(cost))
        if not 0 <= cost <= ctx.value:
            raise self._mechanism_bug(
                "check_add", f"kept {cost} wei of the {ctx.value} wei sent (a deposit the "
                "value does not cover must revert: raise Revert)")
        key = self.data.key(ctx.sender, raw, y, ctx.now)
        held = self.data.holder(key)
        # (the original rewrites a record under the same key when nothing is left to claim
        # from it; one under review is the defenses' and stays)
        if held is not None and (held.claimable or held.status == "in_review"):
            self._charge_refused(ctx, "data_handler", x, x_nonzero, y)
            raise Revert(CONFLICTING_KEY)
        verdict, flagged_by = self._screen(ctx, x, y) if self.gates else _UNSCREENED
        trains = verdict is Verdict.ACCEPT and self.im.trains_on_add
        plan = self.model.plan_update(x, y) if trains else NO_UPDATE
        excess = ctx.value - cost
        if not excess:
            cost = ctx.value  # the same int object as the transaction's value (memory)
        predict, update = self._work(x, plan)
        gas = ctx.gas
        ctx.charge_to(gas.add_data(
            n_elements=len(x), array_nonzero_bytes=x_nonzero, label=y, predict=predict,
            update=update, value_returned=excess > 0, deposit_zero=not cost,
            rewrites_deposit=None if held is None else rewrite(held.initial_deposit, cost),
            rewrite_clears_claims=held is not None and held.claims > 0,
            mechanism_writes=self._add_write_kinds(ctx.now), mechanism=self.im.gas_work),
            gas.peak)
        # -- no revert past this point --
        self.im.on_add(ctx.now)
        status = _STATUS[verdict]
        rec = self.data.add(ctx.sender, x, y, ctx.now, cost, x_nonzero, status, key)
        rec.predict_work = predict  # (shared between records: work_from_plan is cached)
        self.im.on_stored(rec)
        if plan.trains:  # (a model is never asked to apply a plan that does not train)
            self.model.apply_update(x, y, plan)
        if excess:
            self.pay(ctx, ctx.sender, excess, "change")
        for gate in self.gates:
            gate.on_accepted(ctx, rec, verdict)
        if flagged_by is not None:
            flagged_by.log.flags.append(Flag(ctx.now, ctx.sender, y, verdict, ctx.tag, rec.id))
        if verdict is Verdict.REVIEW:
            if self.reviewer is None:
                raise RuntimeError("a defense asked for review but no review queue is set up")
            self.reviewer.enqueue(rec)
        return rec.id

    def _charge_refused(self, ctx: CallContext, stage: AddRefusal, x: np.ndarray,
                        x_nonzero: int, y: int) -> None:
        """Charge an add refused at ``stage`` what the original spends up to its revert."""
        gas = ctx.gas
        ctx.charge_to(gas.add_data_refused(
            stage, n_elements=len(x), array_nonzero_bytes=x_nonzero, label=y,
            mechanism_writes=self._add_write_kinds(ctx.now) if stage == "data_handler"
            else None, mechanism=self.im.gas_work), gas.peak)

    def _add_write_kinds(self, now: int) -> tuple[SstoreKind, ...] | None:
        kinds = self.im.add_write_kinds(now)
        if kinds is None or (type(kinds) is tuple and kinds in self._write_kinds_seen):
            return kinds  # (each answer checked once)
        if (type(kinds) is not tuple or len(kinds) != self.im.gas_work.add_writes
                or not set(kinds) <= SSTORE_KINDS):
            raise self._mechanism_bug(
                "add_write_kinds", f"gave {kinds!r}: a tuple of {self.im.gas_work.add_writes} "
                f"kinds of write (one of {sorted(SSTORE_KINDS)} each: gas_work.add_writes), or "
                "None")
        self._write_kinds_seen.add(kinds)
        return kinds

    def _screen(self, ctx: CallContext, x: np.ndarray, y: int
                ) -> tuple[Verdict, GateProtocol | None]:
        """Ask every gate.  Any rejection wins (the call reverts with that gate's reason);
        otherwise review beats storing without training, which beats accepting."""
        decided = _UNSCREENED
        for gate in self.gates:
            gate.log.count(ctx.sender)
            try:
                verdict, reason = gate.check(ctx, x, y)
            except Exception as e:  # (a defense's own bug: say whose; a Revert is not raised)
                e.add_note(f"in the check() of defense {type(gate).__name__} "
                           f"({type(gate).__module__}), which must return (verdict, reason)")
                raise
            if verdict is Verdict.REJECT:
                gate.log.flags.append(Flag(ctx.now, ctx.sender, y, verdict, ctx.tag))
                raise Revert(reason)
            if _RANK[verdict] > _RANK[decided[0]]:
                decided = (verdict, gate)
        return decided

    def resolve_review(self, cid: int, approved: bool, recipient: str,
                       transfer: Callable[[str, str, int, str], None]) -> None:
        """Apply a reviewer's verdict: train on the contribution, or forfeit its deposit to
        ``recipient`` (moved by ``transfer(src, dst, wei, memo)``: the trusted reviewer acts
        outside any transaction).  When the recipient is the contract itself (the owner, by
        default) the deposit stays here, claimable by nobody (:attr:`locked`)."""
        rec = self.data.records[cid]
        if rec.status != "in_review":
            raise RuntimeError(f"contribution {cid} is not under review")
        if approved:
            if self.im.trains_on_add:  # otherwise the mechanism trains when it decides
                self.model.update(rec.x, rec.y)
            rec.status = "accepted"
            return
        rec.status = "rejected"
        amount, rec.claimable = rec.claimable, 0
        rec.forfeited += amount
        self.im.on_forfeit(rec, amount)
        if recipient == self.address:
            self.locked += amount
        else:
            transfer(self.address, recipient, amount, "forfeit")

    def _record(self, ctx: CallContext, cid: int, method: Method) -> Contribution:
        """The contribution ``cid`` (or a revert), with the calldata of a call passing its
        sample back, charged."""
        rec = self.data.get(cid)
        if rec is None:
            raise Revert(UNKNOWN_CONTRIBUTION)
        if rec.status == "in_review":
            raise Revert(UNDER_REVIEW)
        self._charge_calldata(ctx, method, len(rec.x), rec.x_nonzero_bytes, rec.y)
        return rec

    def refund(self, ctx: CallContext, cid: int) -> int:
        return self._pay_claim(ctx, cid, refund=True)

    def report(self, ctx: CallContext, cid: int) -> int:
        return self._pay_claim(ctx, cid, refund=False)

    def _pay_claim(self, ctx: CallContext, cid: int, *, refund: bool) -> int:
        """A refund (the author) or a report (anyone): the mechanism decides the amount."""
        rec = self._record(ctx, cid, "refund" if refund else "report")
        predict = self._predict_work(rec)
        try:
            amount = self._check_claim(rec, ctx.sender, ctx.now, refund)
        except Revert:  # (refused after the record's lookup, its claim marks, the prediction)
            ctx.charge_to(*self._claim_gas(ctx, rec, refund, predict, None))
            raise
        total, peak = self._claim_gas(ctx, rec, refund, predict, amount)
        check = "check_refund" if refund else "check_report"
        if type(amount) is not int or amount < 0:
            raise self._mechanism_bug(check, _not_wei(amount))
        if self.im.per_contribution and amount > rec.claimable:
            raise self._mechanism_bug(
                check, f"gave {amount} wei for contribution {rec.id}, which holds "
                f"{rec.claimable} wei claimable (a claim pays at most what is left)")
        ctx.charge_to(total, peak)
        # -- no revert past this point --
        if self.im.per_contribution:
            rec.claimable -= amount
            # (a first payout keeps the amount's own int object: one fewer per record)
            if refund:
                rec.refunded = rec.refunded + amount if rec.refunded else amount
            else:
                rec.taken = rec.taken + amount if rec.taken else amount
        rec.claims += 1
        if ctx.sender not in rec.claimed_by:
            claimed = rec.claimed_by + (ctx.sender,)
            rec.claimed_by = self._claim_lists.setdefault(claimed, claimed)  # shared tuples
        (self.im.on_refund if refund else self.im.on_report)(rec, ctx.sender, amount)
        self.pay(ctx, ctx.sender, amount, "refund" if refund else "take")
        return amount

    def _check_claim(self, rec: Contribution, sender: str, now: int, refund: bool) -> int:
        """What the mechanism pays ``sender`` for a refund (or report) of ``rec`` in a block
        stamped ``now``, predicting on its sample; a refusal raises :class:`Revert`."""
        agrees = self.model.predict(rec.x) == rec.y
        if refund:
            return self.im.check_refund(rec, sender, now, agrees)
        return self.im.check_report(rec, sender, now, agrees, self.owner)

    def _predict_work(self, rec: Contribution) -> ModelWork:
        """What a prediction on ``rec``'s sample costs the model's contract code."""
        return rec.predict_work or self._work(rec.x, NO_UPDATE)[0]

    def _claim_gas(self, ctx: CallContext, rec: Contribution, refund: bool,
                   predict: ModelWork, amount: int | None) -> tuple[int, int]:
        """Gas of a refund or report of ``rec`` paying ``amount``, after and before its
        storage refund (``amount`` None: one the mechanism refused, which pays what the
        original spends before its checks; see ``sumsim.chain.evm_gas``).  The data
        handler's claim counter is non-zero once anyone has claimed (its write is then an
        update); the claimer's own flag is rewritten unchanged when it claimed before."""
        im, refused = self.im, amount is None
        n, nz, before = len(rec.x), rec.x_nonzero_bytes, rec.claims > 0
        again = ctx.sender in rec.claimed_by
        if refund:
            fresh = 0 if refused else im.refund_counters_new(ctx.sender)
            total = ctx.gas.refund(
                n_elements=n, array_nonzero_bytes=nz, label=rec.y, predict=predict,
                first_refund_of_author=fresh >= 1, first_good_data=fresh >= 2,
                amount_zero=(rec.claimable if amount is None else amount) == 0,
                claimed_before=before, claimed_before_by_sender=again, reverted=refused,
                mechanism=im.gas_work)
            return total, ctx.gas.peak
        late = im.takes_without_checks(rec, ctx.sender, ctx.now, self.owner)
        total = ctx.gas.report(
            n_elements=n, array_nonzero_bytes=nz, label=rec.y, predict=predict,
            after_any_address_wait=late, takes_all=amount is None or amount >= rec.claimable,
            amount_zero=amount == 0, claimed_before=before, claimed_before_by_sender=again,
            reverted=refused, mechanism=im.gas_work)
        return total, ctx.gas.peak

    def _model_bug(self, method: str, what: str) -> PluginBug:
        return _plugin_bug(self.model, method, what)

    def _mechanism_bug(self, method: str, what: str) -> PluginBug:
        return _plugin_bug(self.im, method, what)

    # -- free views -----------------------------------------------------------------------
    def view_required_deposit(self, now: int, at: int | None = None) -> int:
        """The deposit an add included in a block stamped ``at`` (default: the latest) must
        pay."""
        deposit = self.im.required_deposit(now if at is None else at)
        if type(deposit) is not int or deposit < 0:
            raise self._mechanism_bug("required_deposit", _not_wei(deposit))
        return deposit

    def view_predict(self, now: float, x: np.ndarray) -> int:
        return self.model.predict(x)

    def view_confidence(self, now: float, x: np.ndarray, label: int) -> float:
        c = self.model.confidence(x, label)
        if not 0 <= c <= 1:  # (NaN fails too)
            raise self._model_bug("confidence", f"gave {c!r}: a confidence is in [0, 1]")
        return c

    def view_confidence_many(self, now: float, x: Any, labels: np.ndarray) -> np.ndarray:
        """Many free confidence calls at once (as a batch of eth_calls would be)."""
        c = np.asarray(self.model.confidence_many(x, labels))
        if c.shape != (len(labels),) or not ((c >= 0) & (c <= 1)).all():
            raise self._model_bug("confidence_many", f"gave an array of shape {c.shape} "
                                  f"with values from {np.nanmin(c) if c.size else None} to "
                                  f"{np.nanmax(c) if c.size else None}: one confidence in "
                                  f"[0, 1] per row is expected ({len(labels)})")
        return c

    def view_contribution(self, now: float, cid: int) -> Contribution | None:
        return self.data.get(cid)

    def view_try(self, now: int, method: str, cid: int, sender: str,
                 at: int | None = None) -> int | None:
        """Simulate a refund or report by ``sender`` on the latest state, as if included in a
        block stamped ``at`` (default: the latest block), like ``eth_call`` on the pending
        block: the amount it would pay, or None if it would revert."""
        tried = self._try_claim(method, cid, sender, now if at is None else at)
        return None if tried is None else tried[1]

    def view_claim_estimate(self, now: int, method: str, cid: int, sender: str,
                            at: int | None = None) -> tuple[int, int | None] | None:
        """:meth:`view_try` with the gas the claim needs (as ``eth_estimateGas`` answers a
        wallet: the least gas limit with which it succeeds on the latest state; None when the
        contract was made without the chain's pricer): ``(amount, gas)``, or None if it would
        revert (or is not a refund or a report: a mechanism's own claim is not estimated).

        The limit must hold the call's whole gas before its storage refund (the EVM refunds
        once the call has ended), which holds the transaction's base and calldata, charged
        first.  (The calls between the original contracts forward at most 63/64 of the gas
        left, which this estimate does not hold back: on the EVM a limit at the estimate
        itself can fall short by about a sixty-fourth of what those calls use; agents add a
        quarter.)"""
        if method not in ("refund", "report"):
            return None
        at = now if at is None else at
        tried = self._try_claim(method, cid, sender, at)
        if tried is None:
            return None
        rec, amount = tried
        if self.gas is None:
            return amount, None
        ctx = CallContext(sender, 0, at, 0, 0, self.gas)
        _, peak = self._claim_gas(ctx, rec, method == "refund", self._predict_work(rec), amount)
        return amount, peak

    def _try_claim(self, method: str, cid: int, sender: str, at: int
                   ) -> tuple[Contribution, int] | None:
        """The record a refund (``method == "refund"``) or report of ``cid`` acts on and the
        amount it would pay in a block stamped ``at``, or None if it would revert."""
        rec = self.data.get(cid)
        if rec is None or rec.status == "in_review":
            return None
        try:
            return rec, self._check_claim(rec, sender, at, method == "refund")
        except Revert:
            return None

    def view_accepting(self, now: float, at: float | None = None) -> str:
        return self.im.accepting(now if at is None else at)

    def view_is_open(self, now: float, cid: int, at: float | None = None) -> bool:
        """Whether anything can still be claimed from ``cid`` (in a block stamped ``at``)."""
        rec = self.data.get(cid)
        return rec is not None and self.im.is_open(rec, now if at is None else at)

    def view_claims_per_contribution(self, now: float) -> bool:
        return self.im.per_contribution

    def view_claim_times(self, now: float, cid: int) -> tuple[float, float]:
        data = self.data
        # (the record a claim on ``cid`` acts on; an unknown id raises IndexError)
        rec = data.records[cid] if not data.rewritten else data.get(cid) or data.records[cid]
        times = self.im.claim_times(rec)
        first, anyone = times
        if first != first or anyone != anyone:
            raise self._mechanism_bug(
                "claim_times", f"gave {times!r} for contribution {cid}: (earliest claim, "
                "end of the any-address wait) are times in seconds (inf: never), not NaN")
        return times

    def view_model_info(self, now: float) -> dict[str, Any]:
        """Public facts about the model: its kind, feature count, classes, input form."""
        m = self.model
        return {"kind": m.kind, "n_features": m.n_features, "n_classes": m.n_classes,
                "sparse_input": m.sparse_input}

    def view_num_contributions(self, now: float) -> int:
        return len(self.data.records)

    def view_contributions(self, now: float, start: int = 0) -> list[Contribution]:
        """Contributions from index ``start`` on (the public event log)."""
        return self.data.records[start:]


def _plugin_bug(plugin: object, method: str, what: str) -> PluginBug:
    """The error for a plug-in's answer the contract cannot use (a bug in the mechanism or
    model, named with its method, rather than a ledger error at the payment it would cause)."""
    cls = type(plugin)
    return PluginBug(f"{cls.__name__}.{method} ({cls.__module__}) {what}", cls)


def _not_wei(value: Any) -> str:
    return (f"gave {value!r} ({type(value).__name__}): amounts are whole wei, a Python int "
            "no less than 0 (convert with int(...))")


def _calldata_gas(gas: Pricer, method: Method, x_len: int, x_nonzero: int, label: Any) -> int:
    """The calldata gas of a call passing a sample of ``x_len`` elements and ``label`` (an
    argument that is not a class number is priced as a one-byte word)."""
    word = label if type(label) is int and label >= 0 else 1
    return gas.calldata(method, n_elements=x_len, array_nonzero_bytes=x_nonzero, label=word)
