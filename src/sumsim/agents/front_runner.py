"""The front-runner: watches the mempool for `report` transactions and outbids them.

Whenever someone broadcasts a report on a contribution the front-runner could take itself (it
simulates the call for free), it sends the same report with a tip (priority fee) and a max
fee ``outbid_gwei`` higher, so the block producer, ordering by what each offers over the base
fee, includes its copy first.  The original reporter's
transaction then takes less, or reverts and pays only its fee.  Every race is logged with what
the victim would have received had it not been front-run, so the victim's loss is measured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from sumsim.agents.base import Agent, AgentConfig
from sumsim.chain import Tx
from sumsim.config import Gwei
from sumsim.registry import Plugin


class FrontRunnerConfig(AgentConfig):
    kind: Literal["front_runner"]
    outbid_gwei: Gwei = Field(1, description="How much more than the victim it bids, in tip "
                              "and in max fee per gas.")


@dataclass
class Race:
    victim_tx: Tx
    own_tx: Tx
    contribution: int
    victim_expected: int


class FrontRunner(Agent):
    """Watches the mempool and outbids others' report transactions."""

    config: FrontRunnerConfig
    is_attacker = True
    summary_key = "front_running"

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.races: list[Race] = []
        self.world.chain.mempool_watchers.append(self._watch)

    def has_material(self) -> bool:
        return False  # it never contributes data; it lives in the mempool watcher

    def _watch(self, tx: Tx) -> None:
        if tx.sender == self.name or tx.method != "report" or tx.to != self.world.contract:
            return
        cid = tx.args[0]
        if cid in self.inflight:
            return
        at = self.next_block_time()
        mine = self.view("try", "report", cid, self.name, at)
        if not mine:
            return
        expected = self.view("try", "report", cid, tx.sender, at) or 0
        outbid = self.config.outbid_gwei
        # (its bid and its tip above the victim's, so it goes first in their block)
        price = max(tx.gas_price, self.gas_price) + outbid
        tip = _offer(tx) + outbid
        if not self.affordable(0) or self.balance < self.world.tx_gas_limit * price:
            return
        self.inflight.add(cid)
        own = self.send("report", (cid,), gas_price=price, tip=tip)
        self.races.append(Race(tx, own, cid, expected))

    def summary_section(self) -> dict[str, Any]:
        won = lost_to_victim = victim_reverted = 0
        victim_loss = 0
        for r in self.races:
            v, o = r.victim_tx.receipt, r.own_tx.receipt
            if v is None or o is None:
                continue
            # Within a block, transactions execute by what they offer over the base fee: the
            # higher tip goes first.
            first = o.ok and (v.block < 0 or o.block < v.block or (
                o.block == v.block and _offer(r.own_tx) > _offer(r.victim_tx)))
            won += bool(first)
            lost_to_victim += not first
            got = v.result if v.ok else 0
            victim_reverted += not v.ok
            victim_loss += max(0, r.victim_expected - got) + (v.fee if not v.ok else 0)
        return {"races": len(self.races), "won": won, "lost": lost_to_victim,
                "victim_reverted": victim_reverted, "victim_loss_wei": victim_loss}


def _offer(tx: Tx) -> int:
    """What ``tx`` offers per gas to go first (its tip; a legacy transaction's whole price)."""
    return tx.gas_price if tx.priority_fee is None else tx.priority_fee


plugin = Plugin(
    FrontRunnerConfig, FrontRunner,
    "Watches the mempool and outbids others' report transactions.")
