"""Recording during a run (accuracy and balances over time) and the tables and summary after.

Money columns are exact: wei as ``Decimal(38, 0)`` in Parquet (balances exceed int64), with
float ether columns beside them for plotting.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import simpy

from sumsim.chain import FEE_SINK, Chain
from sumsim.chain.tx import REJECTED, REVERTED, SUCCESS
from sumsim.scenario.units import WEI_PER_ETHER

if TYPE_CHECKING:
    from sumsim.agents.base import Agent, World
    from sumsim.contract import CollaborativeTrainer
    from sumsim.data.base import Split
    from sumsim.defenses.base import Gate
    from sumsim.engine import RunResult

WEI = pl.Decimal(38, 0)
_CLAIMS = ("refund", "report")
#: Methods whose result is the wei they paid to the sender.
_PAYING = ("refund", "report", "collect_bounty")


def _with_wei(df: pl.DataFrame) -> pl.DataFrame:
    """Cast every ``*_wei`` column (built as Int128) to exact ``Decimal(38, 0)``."""
    return df.with_columns([pl.col(c).cast(WEI) for c in df.columns if "_wei" in c])


class Recorder:
    """Samples test accuracy and balances every ``eval_every_s`` and publishes the accuracy.

    The published accuracy is the public dashboard that accuracy-gated agents consult.
    """

    def __init__(self, env: simpy.Environment, chain: Chain, contract: CollaborativeTrainer,
                 world: World, agents: list[Agent], split: Split, eval_every_s: float,
                 progress: Callable[[float, int, float], None] | None = None,
                 gates: list[Gate] | None = None):
        self.env = env
        self.chain = chain
        self.contract = contract
        self.world = world
        self.agents = agents
        self.split = split
        self.every = eval_every_s
        self.progress = progress
        self.gates = gates or []
        self.rows: list[dict[str, Any]] = []
        self.sample()
        env.process(self._loop())

    def _loop(self):  # type: ignore[no-untyped-def]
        while True:
            yield self.env.timeout(self.every)
            self.sample()

    def sample(self) -> None:
        now = self.env.now
        if self.rows and self.rows[-1]["time_s"] == now:
            return
        acc = self.contract.model.accuracy(self.split.x_test, self.split.y_test)
        self.world.public_accuracy = acc
        bal = self.chain.ledger.balances
        row: dict[str, Any] = {
            "time_s": float(now),
            "day": now / 86_400,
            "accuracy": acc,
            "contributions": len(self.contract.data.records),
            "contract_wei": bal[self.contract.address],
            "fee_sink_wei": bal[FEE_SINK],
            "cum_gas": self.chain.total_gas,
            "cum_fees_wei": self.chain.total_fees,
            "mempool": self.chain.pending_count,
            "base_fee_wei": self.chain.gas_price_wei,
            "eth_usd": self.chain.fees.eth_usd,
        }
        for a in self.agents:
            row[f"balance_wei:{a.name}"] = bal[a.name]
        for g in self.gates:
            row.update(g.sample())
        self.rows.append(row)
        if self.progress is not None:
            self.progress(now, len(self.contract.data.records), acc)

    def frame(self) -> pl.DataFrame:
        schema = {c: (pl.Int128 if "_wei" in c else None) for c in self.rows[0]}
        return _with_wei(pl.DataFrame(self.rows, infer_schema_length=None, schema_overrides={
            c: t for c, t in schema.items() if t is not None}))


def time_average(t: np.ndarray, v: np.ndarray) -> float:
    """Step-wise time average: each sample holds until the next one."""
    if len(t) < 2 or t[-1] <= t[0]:
        return float(v[-1]) if len(v) else float("nan")
    dt = np.diff(t)
    return float(np.sum(v[:-1] * dt) / (t[-1] - t[0]))


def transactions_frame(chain: Chain) -> pl.DataFrame:
    cols: dict[str, list[Any]] = {k: [] for k in (
        "block", "time_s", "submitted_s", "sender", "method", "contribution", "status", "reason",
        "gas_used", "gas_price_wei", "fee_wei", "value_wei", "returned_wei")}
    for tx, r in chain.receipts:
        cols["block"].append(r.block)
        cols["time_s"].append(float(r.timestamp))
        cols["submitted_s"].append(float(tx.submitted_at))
        cols["sender"].append(tx.sender)
        cols["method"].append(tx.method)
        if tx.method == "add_data":
            cid = r.result if r.ok else None
        else:
            cid = tx.args[0] if tx.method in _CLAIMS else None
        cols["contribution"].append(cid)
        cols["status"].append(r.status)
        cols["reason"].append(r.reason)
        cols["gas_used"].append(r.gas_used)
        cols["gas_price_wei"].append(tx.gas_price)
        cols["fee_wei"].append(r.fee)
        cols["value_wei"].append(tx.value)
        cols["returned_wei"].append(r.result if r.ok and tx.method in _PAYING else 0)
    return _with_wei(pl.DataFrame(cols, schema_overrides={
        "contribution": pl.Int64, "gas_price_wei": pl.Int128, "fee_wei": pl.Int128,
        "value_wei": pl.Int128, "returned_wei": pl.Int128, "block": pl.Int64,
        "gas_used": pl.Int64}))


def contributions_frame(res: RunResult) -> pl.DataFrame:
    """One row per contribution; ``claims`` lists every refund/take (time, by, kind, amount)."""
    ccols: dict[str, list[Any]] = {"id": [], "time_s": [], "by": [], "kind": [],
                                   "amount_wei": []}
    for tx, r in res.chain.receipts:
        if r.ok and tx.method in ("refund", "report"):
            ccols["id"].append(tx.args[0])
            ccols["time_s"].append(float(r.timestamp))
            ccols["by"].append(tx.sender)
            ccols["kind"].append(tx.method)
            ccols["amount_wei"].append(str(r.result))
    claims = pl.DataFrame(ccols, schema={"id": pl.Int64, "time_s": pl.Float64, "by": pl.Utf8,
                                         "kind": pl.Utf8, "amount_wei": pl.Utf8})
    claims = claims.group_by("id", maintain_order=True).agg(
        pl.struct("time_s", "by", "kind", "amount_wei").alias("claims"))
    recs = res.contract.data.records
    y_pool = res.split.y_pool
    amb = res.split.ambiguous_pool
    pool_index = res.world.pool_index
    pi = np.array([pool_index.get(r.id, -1) for r in recs], dtype=np.int64)
    known = pi >= 0
    refunded = [r.refunded for r in recs]
    taken = [r.taken for r in recs]
    claimable = [r.claimable for r in recs]
    outcome = [
        "forfeited" if r.forfeited else "pooled" if r.pooled else
        "refunded" if r.refunded and not r.taken else "taken" if r.taken and not r.claimable else
        "partly_taken" if r.taken else "unclaimed"
        for r in recs
    ]
    df = pl.DataFrame({
        "id": pl.Series([r.id for r in recs], dtype=pl.Int64),
        "author": pl.Series([r.author for r in recs], dtype=pl.Utf8),
        "label": pl.Series([r.y for r in recs], dtype=pl.Int64),
        "true_label": pl.Series(np.where(known, y_pool[np.maximum(pi, 0)], 0),
                                dtype=pl.Int64).scatter(np.flatnonzero(~known), None)
        if len(recs) else pl.Series([], dtype=pl.Int64),
        "ambiguous": pl.Series(amb[np.maximum(pi, 0)] & known if len(recs) else [],
                               dtype=pl.Boolean),
        "pool_index": pl.Series(pi, dtype=pl.Int64),
        "added_s": pl.Series([float(r.added_time) for r in recs], dtype=pl.Float64),
        "n_features": pl.Series([len(r.x) for r in recs], dtype=pl.Int64),
        "deposit_wei": pl.Series([r.initial_deposit for r in recs], dtype=pl.Int128),
        "refunded_wei": pl.Series(refunded, dtype=pl.Int128),
        "taken_wei": pl.Series(taken, dtype=pl.Int128),
        "claimable_wei": pl.Series(claimable, dtype=pl.Int128),
        "forfeited_wei": pl.Series([r.forfeited for r in recs], dtype=pl.Int128),
        "pooled_wei": pl.Series([r.pooled for r in recs], dtype=pl.Int128),
        "status": pl.Series([r.status for r in recs], dtype=pl.Utf8),
        "outcome": pl.Series(outcome, dtype=pl.Utf8),
    })
    df = df.join(claims, on="id", how="left", maintain_order="left").with_columns(
        pl.col("claims").fill_null(pl.lit([], dtype=claims.schema["claims"])))
    return _with_wei(df)


def _eth(wei: int) -> float:
    return wei / WEI_PER_ETHER


def agent_accounts(res: RunResult) -> dict[str, dict[str, Any]]:
    """Per-agent money flows from the receipts, reconciled against the ledger."""
    ledger = res.chain.ledger
    flows: dict[str, dict[str, int]] = {a.name: dict.fromkeys(
        ("deposits", "fees", "refunds", "takes", "lost_to_others", "contributions",
         "accepted", "reverted", "rejected"), 0) for a in res.agents}
    author = {rec.id: rec.author for rec in res.contract.data.records}
    for tx, r in res.chain.receipts:
        f = flows.get(tx.sender)
        if f is None:
            continue
        f["fees"] += r.fee
        if r.status == REJECTED:
            f["rejected"] += 1
            continue
        if r.status == REVERTED:
            f["reverted"] += 1
            continue
        if tx.method == "add_data":
            f["contributions"] += 1
            f["accepted"] += 1
            f["deposits"] += res.contract.data.records[r.result].initial_deposit
        elif tx.method == "refund":
            f["refunds"] += r.result
        elif tx.method == "report":
            f["takes"] += r.result
            victim = author[tx.args[0]]
            if victim != tx.sender and victim in flows:
                flows[victim]["lost_to_others"] += r.result
    forfeits: dict[str, int] = {}
    for g in res.gates:
        recipient = getattr(g, "recipient", None)
        if recipient is not None:
            forfeits[recipient] = forfeits.get(recipient, 0) + sum(
                rec.forfeited for rec in res.contract.data.records)
    out: dict[str, dict[str, Any]] = {}
    for a in res.agents:
        f = flows[a.name]
        start, final = a.initial_balance, ledger.balances[a.name]
        received = forfeits.get(a.name, 0)
        explained = start - f["deposits"] - f["fees"] + f["refunds"] + f["takes"] + received
        profit = final - start
        out[a.name] = {
            "kind": a.config.kind,
            "group": a.group,
            "attacker": a.is_attacker,
            "start_wei": start,
            "final_wei": final,
            "profit_wei": profit,
            "profit_eth": _eth(profit),
            "final_pct_of_start": 100.0 * final / start if start else float("nan"),
            "roi": profit / f["deposits"] if f["deposits"] else 0.0,
            "contributions": f["contributions"],
            "reverted_txs": f["reverted"],
            "rejected_txs": f["rejected"],
            "deposits_wei": f["deposits"],
            "refunds_wei": f["refunds"],
            "takes_wei": f["takes"],
            "lost_to_others_wei": f["lost_to_others"],
            "fees_wei": f["fees"],
            "forfeits_received_wei": received,
            "unexplained_wei": final - explained,
        }
    return out


def summary(res: RunResult) -> dict[str, Any]:
    ts = res.recorder.rows
    t = np.array([r["time_s"] for r in ts])
    acc = np.array([r["accuracy"] for r in ts])
    accounts = agent_accounts(res)
    ledger = res.chain.ledger
    claimable = res.contract.data.total_claimable()
    held = res.contract.im.held()
    contract_bal = ledger.balances[res.contract.address]
    honest_lost = sum(v["lost_to_others_wei"] for v in accounts.values() if not v["attacker"])
    attacker_spend = sum(max(0, -v["profit_wei"]) for v in accounts.values() if v["attacker"])
    statuses = {s: 0 for s in (SUCCESS, REVERTED, REJECTED)}
    reasons: dict[str, int] = {}
    for _, r in res.chain.receipts:
        statuses[r.status] += 1
        if r.reason:
            reasons[r.reason] = reasons.get(r.reason, 0) + 1
    eth_usd = res.scenario.chain.eth_usd
    adds = [r.gas_used for tx, r in res.chain.receipts if tx.method == "add_data" and r.ok]
    out: dict[str, Any] = {
        "scenario": res.scenario.scenario.name,
        "seed": res.seed,
        "end_time_s": res.end_time,
        "days": res.end_time / 86_400,
        "accuracy": {
            "initial": float(acc[0]),
            "final": float(acc[-1]),
            "min": float(acc.min()),
            "time_avg": time_average(t, acc),
            "baseline_all_data": res.baseline_accuracy,
        },
        "agents": accounts,
        "honest_deposits_lost_wei": honest_lost,
        "attacker_spend_wei": attacker_spend,
        "contract": {
            "final_balance_wei": contract_bal,
            "claimable_wei": claimable,
            "held_by_mechanism_wei": held,
            "unexplained_wei": contract_bal - claimable - held,
            "contributions": len(res.contract.data.records),
        },
        "supply": {
            "initial_wei": ledger.supply,
            "final_total_wei": ledger.total(),
            "fee_sink_wei": ledger.balances[FEE_SINK],
        },
        "transactions": {"count": len(res.chain.receipts), **statuses, "revert_reasons": reasons},
        "gas": {
            "total": res.chain.total_gas,
            "fees_wei": res.chain.total_fees,
            "fees_usd": _eth(res.chain.total_fees) * eth_usd,
            "mean_add_data_gas": float(np.mean(adds)) if adds else None,
            "mean_add_data_usd": (float(np.mean(adds)) * res.scenario.chain.gas_price_gwei
                                  / WEI_PER_ETHER * eth_usd) if adds else None,
        },
        "pool": {"size": res.world.pool.n, "used": int(res.world.pool.used.sum())},
    }
    groups: dict[str, dict[str, Any]] = {}
    for acc_ in accounts.values():
        g = groups.setdefault(acc_["group"], {"addresses": 0, "attacker": acc_["attacker"],
                                              "start_wei": 0, "final_wei": 0, "profit_wei": 0})
        g["addresses"] += 1
        for k in ("start_wei", "final_wei", "profit_wei"):
            g[k] += acc_[k]
    for g in groups.values():
        g["final_pct_of_start"] = 100.0 * g["final_wei"] / g["start_wei"] if g["start_wei"] \
            else float("nan")
    out["groups"] = groups
    races = {a.name: a.race_summary() for a in res.agents if hasattr(a, "race_summary")}
    if races:
        out["front_running"] = races
    out["incentive"] = {"kind": res.contract.im.kind, **res.contract.im.state()}
    out["defenses"] = defense_summary(res, accounts)
    cf = res.counterfactual
    if cf is not None:
        cf_t = np.array([r["time_s"] for r in cf.recorder.rows])
        cf_acc = np.array([r["accuracy"] for r in cf.recorder.rows])
        cf_avg = time_average(cf_t, cf_acc)
        damage = cf_avg - out["accuracy"]["time_avg"]
        out["counterfactual"] = {
            "time_avg_accuracy_without_attackers": cf_avg,
            "min_accuracy_without_attackers": float(cf_acc.min()),
            "final_accuracy_without_attackers": float(cf_acc[-1]),
            "accuracy_damage_time_avg": damage,
            "accuracy_damage_final": float(cf_acc[-1] - acc[-1]),
            "attacker_spend_eth_per_point_lost": (_eth(attacker_spend) / (100 * damage))
            if damage > 0 else None,
        }
    return out


def _pool_index(tag: str) -> int:
    try:
        return int(tag)
    except ValueError:
        return -1


def defense_summary(res: RunResult, accounts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per defense: what it flagged, how often it hit correct (honest) data, and its cost."""
    attackers = {n for n, a in accounts.items() if a["attacker"]}
    y = res.world.pool.y
    honest_fee_by_reason: dict[str, int] = {}
    for tx, r in res.chain.receipts:
        if r.status == REVERTED and tx.method == "add_data" and tx.sender not in attackers:
            honest_fee_by_reason[r.reason] = honest_fee_by_reason.get(r.reason, 0) + r.fee
    forfeited_honest = sum(rec.forfeited for rec in res.contract.data.records
                           if rec.author not in attackers)
    out: dict[str, Any] = {}
    total_cost = 0
    for g in res.gates:
        flags = g.log.flags
        correct = [f for f in flags if 0 <= _pool_index(f.tag) < len(y)
                   and int(y[_pool_index(f.tag)]) == f.label]
        by_honest = [f for f in flags if f.sender not in attackers]
        honest_checked = sum(c for s, c in g.log.checked_by.items() if s not in attackers)
        verdicts: dict[str, int] = {}
        for f in flags:
            verdicts[f.verdict.value] = verdicts.get(f.verdict.value, 0) + 1
        reason = g.reason
        cost = g.cost_wei()
        total_cost += cost
        out[g.name] = {
            "kind": g.config.kind,
            "checked": g.log.checked,
            "flagged": len(flags),
            "verdicts": verdicts,
            "flagged_with_correct_label": len(correct),
            "flagged_honest": len(by_honest),
            "honest_checked": honest_checked,
            "honest_false_positive_rate": len(by_honest) / honest_checked if honest_checked
            else None,
            "honest_fees_lost_wei": honest_fee_by_reason.get(reason, 0),
            "cost_wei": cost,
            **g.metrics(),
        }
        if g.config.kind == "review_queue":
            out[g.name]["honest_deposits_forfeited_wei"] = forfeited_honest
    out["total_cost_wei"] = total_cost
    return out
