"""Recording during a run: one time-series row each time the dashboard publishes accuracy.

The recorder only reads: what agents may observe (the published accuracy) belongs to the world's
dashboard, not to the recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl

from sumsim.agents.base import Agent
from sumsim.chain import FEE_SINK
from sumsim.defenses.base import Gate
from sumsim.world import World

WEI = pl.Decimal(38, 0)


def with_wei(df: pl.DataFrame) -> pl.DataFrame:
    """Cast every ``*_wei`` column (built as Int128) to exact ``Decimal(38, 0)``."""
    return df.with_columns([pl.col(c).cast(WEI) for c in df.columns if "_wei" in c])


class Recorder:
    """Time series of accuracy, balances, gas and each defense's columns."""

    def __init__(self, world: World, agents: list[Agent], gates: list[Gate],
                 progress: Callable[[float, int, float], None] | None = None):
        self.world = world
        self.agents = agents
        self.gates = gates
        self.progress = progress
        self.rows: list[dict[str, Any]] = []
        #: Every wallet: the agents', then the mechanism's own (a bounty provider), so that the
        #: balances, the contract and the fee sink add up to the supply in every row.
        names = [a.name for a in agents]
        self.wallets = names + [n for n in world.trainer.im.accounts() if n not in names]

    def on_publish(self, now: float, acc: float) -> None:
        chain = self.world.chain
        contract = self.world.trainer
        bal = chain.ledger.balances
        n = len(contract.data.records)
        row: dict[str, Any] = {
            "time_s": float(now),
            "day": now / 86_400,
            "accuracy": acc,
            "contributions": n,
            "contract_wei": bal[contract.address],
            "fee_sink_wei": bal[FEE_SINK],
            "cum_gas": chain.total_gas,
            "cum_fees_wei": chain.total_fees,
            "mempool": chain.pending_count,
            "base_fee_wei": chain.gas_price_wei,
            "eth_usd": chain.fees.eth_usd,
        }
        for name in self.wallets:
            row[f"balance_wei:{name}"] = bal[name]
        for g in self.gates:
            row.update(g.sample())
        self.rows.append(row)
        if self.progress is not None:
            self.progress(now, n, acc)

    def frame(self) -> pl.DataFrame:
        schema = {c: (pl.Int128 if "_wei" in c else None) for c in self.rows[0]}
        return with_wei(pl.DataFrame(self.rows, infer_schema_length=None, schema_overrides={
            c: t for c, t in schema.items() if t is not None}))
