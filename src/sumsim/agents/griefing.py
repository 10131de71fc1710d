"""Griefing: take honest contributors' deposits while the model is briefly wrong about them.

A report under Deposit-Refund-Take needs only that, at the moment it is mined, the model
disagrees with the contribution, after ``t_r`` and before the author has refunded it.  Whether
the data is *correct* is never asked.  The model drifts, and a perceptron flips its prediction
on a sample after a single update on that very sample, so an honest contribution can be
reportable for a while.

The griefer first earns the right to report: it contributes true labels and claims their
refunds until the ``num_valid`` view counts ``min_num_valid`` (more standing, a larger share per
report).  Then it watches every other address's contribution from
``push_lead_s`` before its refund window opens until its any-address wait ends.  When the model
agrees with a watched contribution it may push: add a copy of the contribution's (public)
features with another label, up to ``push_adds`` copies per target and one add per turn, so
the model disagrees when the window opens.  From the window's opening it simulates a report
every turn and sends it as soon as it would pay, before the author's refund (a short
``interval_s`` wins that race).  The pushed copies carry the label the model now predicts, so
they are often refunded too.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from sumsim.agents.base import Attacker, AttackerConfig
from sumsim.chain import Receipt, Tx
from sumsim.errors import FieldError
from sumsim.registry import Plugin, get


class GriefingConfig(AttackerConfig):
    kind: Literal["griefing"]
    min_num_valid: int = Field(
        1, ge=0, description="True-label contributions it makes (and has refunded) before "
        "griefing: under DRT only addresses with good data may report.  0: none.")
    push_adds: int = Field(1, ge=0, description="Most copies with another label it adds to "
                           "turn the model against one target (0: only waits).")
    push_lead_s: float = Field(600, ge=0, description="How long before a target's refund "
                               "window opens it starts pushing.")

    def check_scenario(self, scenario: Any, at: tuple[str | int, ...]) -> None:
        if self.min_num_valid == 0:
            return
        mechanism = get("mechanisms", scenario.incentive.kind).impl
        if not callable(getattr(mechanism, "view_num_valid", None)):
            raise FieldError(f"the {scenario.incentive.kind!r} mechanism has no num_valid "
                             "view; set min_num_valid = 0", *at, "min_num_valid")


class Griefing(Attacker):
    """Reports honest data at the moments the model is wrong about it, pushing it there."""

    config: GriefingConfig
    summary_key = "griefing"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        #: True-label contributions awaiting their refund, and true-label adds not yet mined.
        self.awaiting: list[int] = []
        self.honest_pending = 0
        self.honest_adds = 0
        #: Others' contributions still worth watching, in the order they were added.
        self.watch: list[int] = []
        self.watch_cursor = 0
        #: target cid -> copies pushed against it
        self.pushes: dict[int, int] = {}
        #: Successful reports (from its watch or its ordinary claim book) and their takes.
        self.reports = 0
        self.taken = 0

    def has_standing(self) -> bool:
        need = self.config.min_num_valid
        return need == 0 or self.view("num_valid", self.name) >= need

    def contribute(self) -> None:
        at = self.next_block_time()
        if self.has_standing():
            self.grief(at)
            return
        # Build standing: keep as many true labels awaiting refund as are still missing; one
        # the model disagrees with once its refund time has come no longer counts.
        kept = []
        for cid in self.awaiting:
            opens, _ = self.view("claim_times", cid)
            if self.view("contribution", cid).claimable > 0 and (
                    at < opens or self.view("try", "refund", cid, self.name, at) is not None):
                kept.append(cid)
        self.awaiting = kept
        missing = self.config.min_num_valid - self.view("num_valid", self.name)
        if len(kept) + self.honest_pending < missing and self.add_from_pool(flip=False):
            self.honest_pending += 1
            self.honest_adds += 1

    def on_receipt(self, tx: Tx, receipt: Receipt) -> None:
        # No push is sent before standing is reached, that is before the true-label adds are
        # mined and refunded: while any is pending, an add's receipt is one of them.
        if tx.method == "add_data" and self.honest_pending:
            self.honest_pending -= 1
            if receipt.ok:
                self.awaiting.append(receipt.result)
        elif tx.method == "report" and receipt.ok:
            self.reports += 1
            self.taken += receipt.result

    def has_material(self) -> bool:
        # Past its honest phase it needs no pool samples, only others' contributions: it is
        # done once the pool is empty and nothing it watches is left open.
        if super().has_material():
            return True
        return self.has_standing() and bool(self.watch)

    def grief(self, at: float) -> None:
        """Report every watched contribution that would pay now; push one that would not."""
        records = self.view("contributions", self.watch_cursor)
        self.watch_cursor += len(records)
        self.watch.extend(r.id for r in records if r.author != self.name)
        keep: list[int] = []
        pushed = self.pending_adds > 0  # one add at a time: a second would pay full price
        n_classes = self.world.n_classes
        for k, cid in enumerate(self.watch):
            rec = self.view("contribution", cid)
            opens, expiry = self.view("claim_times", cid)
            if at >= expiry or rec.claimable <= 0 or self.name in rec.claimed_by:
                continue
            if at < opens - self.config.push_lead_s:
                keep.extend(self.watch[k:])  # later additions open later still
                break
            keep.append(cid)
            if cid in self.inflight:
                continue
            if at >= opens and self.view("try", "report", cid, self.name, at) is not None:
                self._claim("report", cid)
                continue
            if not pushed and self.pushes.get(cid, 0) < self.config.push_adds and \
                    self.view("predict", rec.x) == rec.y:
                label = (rec.y + 1) % n_classes
                if self.add(self.world.pool_index.get(cid, -1), rec.x, label):
                    self.pushes[cid] = self.pushes.get(cid, 0) + 1
                    pushed = True
        self.watch = keep

    def summary_section(self) -> dict[str, Any]:
        return {"honest_adds": self.honest_adds, "targets_pushed": len(self.pushes),
                "pushes": sum(self.pushes.values()), "reports": self.reports,
                "taken_wei": self.taken}


plugin = Plugin(
    GriefingConfig, Griefing,
    "Reports honest data while the model is briefly wrong about it, pushing it there.")
