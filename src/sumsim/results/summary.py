"""The run summary: accuracy, per-agent money (reconciled to the wei), attackers' spend,
defenses, the mechanism's own section and the counterfactual damage.

Per-agent accounts are rebuilt from the receipts (fees, value sent, every payment the contract
made, transfers made outside transactions) independently of the ledger, then compared with the
ledger's final balances: ``unexplained_wei`` is 0 when every wei is accounted for.  Plug-ins add
their own sections through hooks (the mechanism's ``summary``, a strategy's
``summary_section``, a defense's ``metrics``); nothing here names a concrete kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sumsim.chain import FEE_SINK
from sumsim.chain.tx import REJECTED, REVERTED, SUCCESS
from sumsim.registry import names_plugins
from sumsim.units import WEI_PER_ETHER

if TYPE_CHECKING:
    from sumsim.engine import RunResult


def time_average(t: np.ndarray, v: np.ndarray, until: float | None = None) -> float:
    """Step-wise time average: each sample holds until the next one, the last until ``until``
    (default: the last sample's time; a model nobody trains any more keeps its accuracy)."""
    if until is not None and len(t) and until > t[-1]:
        t, v = np.append(t, until), np.append(v, v[-1])
    if len(t) < 2 or t[-1] <= t[0]:
        return float(v[-1]) if len(v) else float("nan")
    dt = np.diff(t)
    return float(np.sum(v[:-1] * dt) / (t[-1] - t[0]))


def _eth(wei: int) -> float:
    return wei / WEI_PER_ETHER


#: Payment memos (see ``CollaborativeTrainer.pay``) and the account entries they feed.
_RECEIVED = {"refund": "refunds", "take": "takes", "forfeit": "forfeits"}


#: Rows summed at once by :func:`_sums_by` (a million-contribution run logs millions).
_ROWS_AT_ONCE = 1 << 16


def _sums_by(keys: np.ndarray, values: Callable[[int, int], list[int]], n: int) -> list[int]:
    """Exact sums (Python ints: wei may pass 64 bits) of the values of rows grouped by
    ``keys``, codes ``0 .. n - 1``; ``values(lo, hi)`` gives rows ``lo`` to ``hi - 1``'s.

    A sort and a slice per code instead of a Python step per row, a slice of rows at a time
    (the values of every row at once would be hundreds of megabytes)."""
    totals = [0] * n
    for lo in range(0, len(keys), _ROWS_AT_ONCE):
        part = keys[lo:lo + _ROWS_AT_ONCE]
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(n + 1)).tolist()
        v = values(lo, lo + len(part))
        picked = [v[i] for i in order.tolist()]
        for c in range(n):
            if bounds[c] != bounds[c + 1]:
                totals[c] += sum(picked[bounds[c]:bounds[c + 1]])
    return totals


def _at(values: Sequence[int], rows: np.ndarray) -> Callable[[int, int], list[int]]:
    """``values`` at ``rows[lo:hi]``, as :func:`_sums_by` asks for them."""
    return lambda lo, hi: [values[i] for i in rows[lo:hi].tolist()]


def agent_accounts(res: RunResult) -> dict[str, dict[str, Any]]:
    """Per-agent money flows from the receipts, reconciled against the ledger."""
    ledger = res.chain.ledger
    flows: dict[str, dict[str, int]] = {a.name: dict.fromkeys(
        ("deposits", "fees", "refunds", "takes", "forfeits", "other", "lost_to_others",
         "contributions", "reverted", "rejected"), 0) for a in res.agents}
    records = res.contract.data.records  # a contribution's id is its index

    def receive(to: str, amount: int, memo: str) -> None:
        if to in flows:
            flows[to][_RECEIVED.get(memo, "other")] += amount

    log = res.chain.receipts
    code = log.strings.find
    names = log.strings.names
    n_codes = len(names)
    sender, status, method = (np.asarray(log.sender), np.asarray(log.status),
                              np.asarray(log.method))
    rejected, reverted = status == code(REJECTED), status == code(REVERTED)
    failed = rejected | reverted
    # What each sender paid and sent: fees on every row, value and adds when not failed.
    fees = _sums_by(sender, log.fees, n_codes)
    kept = np.flatnonzero(~failed)
    deposits = _sums_by(sender[kept], _at(log.value, kept), n_codes)
    counts = {"rejected": np.bincount(sender[rejected], minlength=n_codes),
              "reverted": np.bincount(sender[reverted], minlength=n_codes),
              "contributions": np.bincount(sender[~failed & (method == code("add_data"))],
                                           minlength=n_codes)}
    for name, f in flows.items():
        c = code(name)
        if c >= 0:
            f["fees"], f["deposits"] = fees[c], deposits[c]
            for k, column in counts.items():
                f[k] = int(column[c])
    # What successful calls paid: change lowers the recipient's deposits, the rest is income.
    ok = status == code(SUCCESS)
    paid = np.flatnonzero(np.repeat(ok, np.diff(np.asarray(log.pay_start))))
    pay_to, memos = np.asarray(log.pay_to), np.asarray(log.pay_memo)[paid]
    for memo in np.unique(memos).tolist():
        rows = paid[memos == memo]
        got = _sums_by(pay_to[rows], _at(log.pay_amount, rows), n_codes)
        for c, amount in enumerate(got):
            to = flows.get(names[c])
            if to is None or not amount:
                continue
            if names[memo] == "change":
                to["deposits"] -= amount
            else:
                to[_RECEIVED.get(names[memo], "other")] += amount
    # Deposits of one agent taken by another.
    for i in np.flatnonzero(ok & (method == code("report"))).tolist():
        result = log.result[i]
        if result:
            victim = records[log.arg0[i]].author  # type: ignore[index]
            if victim != names[sender[i]] and victim in flows:
                flows[victim]["lost_to_others"] += result
    for _time, _src, dst, amount, memo in res.chain.internal_transfers:
        receive(dst, amount, memo)
    out: dict[str, dict[str, Any]] = {}
    for a in res.agents:
        f = flows[a.name]
        start, final = a.initial_balance, ledger.balances[a.name]
        explained = (start - f["deposits"] - f["fees"] + f["refunds"] + f["takes"]
                     + f["forfeits"] + f["other"])
        profit = final - start
        out[a.name] = {
            "kind": a.config.kind,
            "group": a.group,
            "attacker": a.is_attacker,
            "start_wei": start,
            "final_wei": final,
            "profit_wei": profit,
            "profit_eth": _eth(profit),
            "in_profit": profit > 0,
            "final_pct_of_start": 100.0 * final / start if start else None,
            "roi": profit / f["deposits"] if f["deposits"] else None,
            "contributions": f["contributions"],
            "reverted_txs": f["reverted"],
            "rejected_txs": f["rejected"],
            "deposits_wei": f["deposits"],
            "refunds_wei": f["refunds"],
            "takes_wei": f["takes"],
            "lost_to_others_wei": f["lost_to_others"],
            "fees_wei": f["fees"],
            "forfeits_received_wei": f["forfeits"],
            "unexplained_wei": final - explained,
        }
        if f["other"]:
            out[a.name]["other_received_wei"] = f["other"]
    return out


#: The counterfactual section's metrics (all null when the counterfactual could not finish).
COUNTERFACTUAL_KEYS = ("horizon_s", "time_avg_accuracy_with_attackers",
                       "time_avg_accuracy_without_attackers", "min_accuracy_without_attackers",
                       "final_accuracy_without_attackers", "accuracy_damage_time_avg",
                       "accuracy_damage_final", "attacker_spend_eth_per_point_lost")


@names_plugins
def summary(res: RunResult) -> dict[str, Any]:
    """summary.json's content.  A failure in a plug-in's own section (an agent's
    ``summary_section``, the mechanism's ``summary``, a defense's ``metrics``) carries a note
    naming the plug-in."""
    ts = res.recorder.rows
    t = np.array([r["time_s"] for r in ts])
    acc = np.array([r["accuracy"] for r in ts])
    accounts = agent_accounts(res)
    ledger = res.chain.ledger
    claimable = res.contract.data.total_claimable()
    held = res.contract.im.held()
    locked = res.contract.locked
    contract_bal = ledger.balances[res.contract.address]
    honest_lost = sum(v["lost_to_others_wei"] for v in accounts.values() if not v["attacker"])
    attacker_spend = sum(max(0, -v["profit_wei"]) for v in accounts.values() if v["attacker"])
    statuses = {s: 0 for s in (SUCCESS, REVERTED, REJECTED)}
    reasons: dict[str, int] = {}
    log = res.chain.receipts
    names = log.strings.names
    for status, n in zip(*np.unique(np.asarray(log.status), return_counts=True), strict=True):
        statuses[names[status]] += int(n)
    codes, first, counts = np.unique(np.asarray(log.reason), return_index=True,
                                     return_counts=True)
    for k in np.argsort(first):  # in order of first appearance
        if names[codes[k]]:
            reasons[names[codes[k]]] = int(counts[k])
    eth_usd = res.scenario.chain.eth_usd
    add_data, success = log.strings.find("add_data"), log.strings.find(SUCCESS)
    # Codes and gas as arrays, rows picked by index (no list over every transaction); fees
    # as exact ints (wei may pass 64 bits), for the successful adds only.
    ok_adds = np.flatnonzero((np.asarray(log.method) == add_data)
                             & (np.asarray(log.status) == success))
    adds = np.asarray(log.gas_used)[ok_adds]
    adds_fee = [log.fee(i) for i in ok_adds.tolist()]  # exact ints
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
        "attackers_in_profit": sorted(n for n, v in accounts.items()
                                      if v["attacker"] and v["profit_wei"] > 0),
        "attacker_spend_wei": attacker_spend,
        "contract": {
            "final_balance_wei": contract_bal,
            "claimable_wei": claimable,
            "held_by_mechanism_wei": held,
            "locked_wei": locked,
            "unexplained_wei": contract_bal - claimable - held - locked,
            "contributions": len(res.contract.data.records),
        },
        "supply": {
            "initial_wei": ledger.supply,
            "final_total_wei": ledger.total(),
            "fee_sink_wei": ledger.balances[FEE_SINK],
        },
        "transactions": {"count": len(res.chain.receipts), **statuses, "revert_reasons": reasons},
        "gas": {
            "fork": res.chain.fork.name,
            "primitive_overrides": res.scenario.chain.gas.primitives(),
            "total": res.chain.total_gas,
            "fees_wei": res.chain.total_fees,
            "fees_eth": _eth(res.chain.total_fees),
            "fees_usd": _eth(res.chain.total_fees) * eth_usd,
            "mean_add_data_gas": float(np.mean(adds)) if len(adds) else None,
            "mean_add_data_fee_eth": _eth(int(np.mean(adds_fee))) if adds_fee else None,
            "mean_add_data_usd": _eth(int(np.mean(adds_fee))) * eth_usd if adds_fee else None,
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
            else None
    out["groups"] = groups
    for a in res.agents:
        section = a.summary_section()
        if section is not None and a.summary_key:
            out.setdefault(a.summary_key, {})[a.name] = plugin_section(
                section, a, "summary_section()")
    out["incentive"] = {"kind": res.scenario.incentive.kind, **plugin_section(
        res.contract.im.summary(), res.contract.im, "summary()", mapping=True)}
    out["defenses"] = defense_summary(res, accounts)
    cf_rows = res.counterfactual_rows
    if cf_rows is not None:
        cf_t = np.array([r["time_s"] for r in cf_rows])
        cf_acc = np.array([r["accuracy"] for r in cf_rows])
        # Both runs averaged over the same span: to the later of their ends, the run that
        # ended first holding its last accuracy (its model is no longer trained).  Averages
        # over each run's own span would compare, say, a 9-day attacked run with the 19 days
        # the honest contributors alone took to use the pool.
        horizon = max(float(t[-1]), float(cf_t[-1]))
        with_avg = time_average(t, acc, horizon)
        cf_avg = time_average(cf_t, cf_acc, horizon)
        damage = cf_avg - with_avg
        out["counterfactual"] = {
            "horizon_s": horizon,
            "time_avg_accuracy_with_attackers": with_avg,
            "time_avg_accuracy_without_attackers": cf_avg,
            "min_accuracy_without_attackers": float(cf_acc.min()),
            "final_accuracy_without_attackers": float(cf_acc[-1]),
            "accuracy_damage_time_avg": damage,
            "accuracy_damage_final": float(cf_acc[-1] - acc[-1]),
            "attacker_spend_eth_per_point_lost": (_eth(attacker_spend) / (100 * damage))
            if damage > 0 else None,
        }
    elif res.counterfactual_error is not None:  # (asked for, could not finish: every key null)
        out["counterfactual"] = {k: None for k in COUNTERFACTUAL_KEYS}
        out["counterfactual"]["unfinished"] = res.counterfactual_error
    return json_safe(out)


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite float replaced by None (JSON ``null``): a ratio with
    nothing to divide by is undefined, and summary.json must stay valid JSON.  NumPy scalars and
    arrays (which plug-ins' sections may hold) become plain numbers and lists."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.generic | np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def plugin_section(section: Any, owner: object, method: str, *, mapping: bool = False) -> Any:
    """A plug-in's own summary section made JSON-safe (:func:`json_safe`), or a TypeError naming
    the plug-in's method and the first value summary.json cannot hold (or, with ``mapping``,
    saying that it must return a dict)."""
    out = json_safe(section)

    def check(v: Any, path: str) -> None:
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise TypeError(f"a key {k!r} ({type(k).__name__}) at {path or 'the top'}")
                check(item, f"{path}.{k}" if path else k)
        elif isinstance(v, list):
            for i, item in enumerate(v):
                check(item, f"{path}[{i}]")
        elif not (v is None or isinstance(v, str | int | float)):
            raise TypeError(f"a {type(v).__name__} at {path or 'the top'}")

    try:
        if mapping and not isinstance(out, dict):
            raise TypeError(f"a {type(out).__name__} where a dict belongs")
        check(out, "")
    except TypeError as e:
        cls = type(owner)
        raise TypeError(f"{cls.__name__}.{method} ({cls.__module__}) returned {e}: a summary "
                        "section holds only dicts with string keys, lists, strings, numbers, "
                        "booleans and None") from None
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
    log = res.chain.receipts
    names = log.strings.names
    reverted, add_data = log.strings.find(REVERTED), log.strings.find("add_data")
    for i in np.flatnonzero((np.asarray(log.status) == reverted)
                            & (np.asarray(log.method) == add_data)).tolist():
        if names[log.sender[i]] not in attackers:
            reason = names[log.reason[i]]
            honest_fee_by_reason[reason] = honest_fee_by_reason.get(reason, 0) + log.fee(i)
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
            **plugin_section(g.metrics(frozenset(attackers)), g, "metrics()", mapping=True),
        }
    out["total_cost_wei"] = total_cost
    return out


#: Sections of summary.json whose keys are always the same (records, not tables keyed by
#: address, reason or name): a metric one level under one of them that a run lacks is a
#: misspelling, never a key that only some runs have.  (``transactions.revert_reasons``,
#: ``groups``, ``incentive`` and the plug-ins' sections are keyed by what happened.)
FIXED_SECTIONS = ("", "accuracy", "contract", "supply", "transactions", "gas", "pool",
                  "counterfactual")


def fixed_section(path: str) -> bool:
    """Whether the summary table at dotted ``path`` has fixed keys (:data:`FIXED_SECTIONS`,
    and each group's record ``groups.NAME``)."""
    return path in FIXED_SECTIONS or (path.startswith("groups.") and path.count(".") == 1)


#: The summary's per-address section, left out of a sweep's row (``groups`` sums it).
_PER_ADDRESS = "agents"


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Scalar leaves of a nested summary as ``dotted.path`` keys (per-address detail dropped).

    This is the row a sweep table holds for a run (before wei columns gain ``_eth`` twins)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not prefix and k == _PER_ADDRESS:
                continue
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(obj, bool | int | float | str) or obj is None:
        out[prefix] = obj
    return out


def table_keys(obj: Any, prefix: str = "") -> dict[str, list[str]]:
    """Dotted paths of the summary's tables, as :func:`flatten` walks it, with their keys
    (and the ``_eth`` twins of their ``_wei`` keys, as a sweep's table has them)."""
    out: dict[str, list[str]] = {}
    if isinstance(obj, dict):
        if prefix:
            out[prefix] = list(with_eth({str(k): 0 for k in obj}))
            if prefix.endswith("_wei"):  # (a table of amounts: its twin table of ether)
                out[prefix[:-4] + "_eth"] = [str(k) for k in obj]
        for k, v in obj.items():
            if prefix or k != _PER_ADDRESS:
                out.update(table_keys(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def with_eth(flat: dict[str, Any]) -> dict[str, Any]:
    """Add an ``*_eth`` float beside every integer amount in wei (for plots and tables): an
    entry ``*_wei`` (``final_wei`` -> ``final_eth``) or one of a table of them
    (``stakes_wei.alice`` -> ``stakes_eth.alice``)."""
    out: dict[str, Any] = {}
    for k, v in sorted(flat.items()):
        out[k] = v
        twin = eth_twin(k)
        if twin is not None and isinstance(v, int) and not isinstance(v, bool):
            out[twin] = v / WEI_PER_ETHER
    return out


def eth_twin(key: str) -> str | None:
    """The name of the ether twin of a wei amount's key (``final_wei`` -> ``final_eth``,
    ``stakes_wei.alice`` -> ``stakes_eth.alice``), None for a key that is not one."""
    if key.endswith("_wei"):
        return key[:-4] + "_eth"
    table, dot, name = key.rpartition(".")
    if dot and table.endswith("_wei"):
        return f"{table[:-4]}_eth.{name}"
    return None
