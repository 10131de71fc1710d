"""Gas and fees of a scenario's contract calls at given feature counts (``sumsim gas``).

The same pricing path as a run (:class:`sumsim.chain.evm_gas.Pricer`, fed by the scenario's
model through ``read_slots``, ``plan_update`` and ``compute_gas``), applied to the calls the
EVM measurements describe (``shared/evm-gas.md``), so the two can be compared row by row:

- a sample has ``n`` present features spread evenly over the vocabulary, and its calldata the
  mean non-zero bytes of indices drawn uniformly from it;
- ``add_data`` figures are the mean of labels 0 and 1 (the label moves gas by about +-7.5k),
  with the deposit paid exactly; "update" is the model training on the sample with every slot
  it writes already holding a value (a trained model), "no update" the sample stored without
  training (a perceptron that already predicts the label);
- ``refund`` is by an author who has refunded before, ``report`` a reporter with good data
  taking the whole deposit before the any-address wait;
- the incentive mechanism's own part is the scenario's (its ``gas_work``: the points mechanism
  computes no deposit, and its deposits and payouts are zero);
- ``deploy`` is the original migration (data handler, incentive mechanism, the classifier
  constructed with 250 weights then ``initializeWeights`` in batches of 250, the trainer and
  three ownership transfers) for one weight per vocabulary word.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

import sumsim.chain.evm_gas as evm_gas
from sumsim.contract.trainer import DENSE_SCALE
from sumsim.engine import checked_model, make_fork
from sumsim.models.base import NO_UPDATE, Model, UpdatePlan
from sumsim.registry import get
from sumsim.scenario.schema import ScenarioBase
from sumsim.units import WEI_PER_ETHER

LABELS = (0, 1)
#: Feature counts priced when none are asked for (those within the vocabulary).
DEFAULT_FEATURES = (10, 50, 100, 150, 200, 300)


def vocabulary(sc: ScenarioBase) -> int:
    """Features of the scenario's synthetic or text data (without loading it)."""
    d = sc.data
    return d.synthetic.n_features if d.dataset == "synthetic" else d.num_words


def data_shape(sc: ScenarioBase, base_dir: Path | None = None,
               data_path: str | None = None) -> tuple[int, Model, np.ndarray | None]:
    """(features, the scenario's model for them, a dense sample or None): synthetic and text
    data from the scenario alone (sparse samples, two classes); a table of numeric features
    is read and checked as a run reads it (its samples are dense vectors, so every call
    passes all of them; no table of garbage numbers is priced)."""
    d = sc.data
    if d.dataset in ("synthetic", "imdb"):
        v = vocabulary(sc)
        model: Model = get("models", sc.model.kind).impl.from_config(sc.model, v, 2, True)
        return v, model, None
    from sumsim.data.load import load_dataset

    ds = load_dataset(d, sc.scenario.seed, data_path, base_dir)
    dense = None if ds.is_sparse else np.asarray(ds.x_train[0], dtype=np.float64).ravel()
    return ds.n_features, checked_model(sc, ds), dense


def _work(model: Model, x: np.ndarray, plan: UpdatePlan
          ) -> tuple[evm_gas.ModelWork, evm_gas.ModelWork | None]:
    c = model.compute_gas(x, plan)
    return evm_gas.work_from_plan(model.read_slots(x), plan.new_slots, plan.updated_slots,
                                  cleared_slots=plan.cleared_slots, rereads=c.update_rereads,
                                  predict_compute=c.predict, update_compute=c.update)


def _trained_plan(model: Model, x: np.ndarray) -> UpdatePlan:
    """The slots an update on ``x`` writes, all as overwrites (a trained model's slots hold
    values), for whichever label the model would train on."""
    for y in LABELS:
        plan = model.plan_update(x, y)
        if plan.trains and plan.writes:
            return UpdatePlan(0, plan.writes, True)
    return NO_UPDATE


def gas_rows(sc: ScenarioBase, features: list[int] | None, fork: str | None = None, *,
             base_dir: Path | None = None, data_path: str | None = None
             ) -> list[dict[str, Any]]:
    """One row per call and feature count: call, features, update, gas, fee_wei, fee_usd.

    ``features`` None: :data:`DEFAULT_FEATURES` up to the vocabulary.  Dense data (a table of
    numeric features) has one row per call, at its feature count, priced on its first
    training sample."""
    f = make_fork(sc.chain, fork)
    pricer = evm_gas.pricer(f)
    v, model, dense = data_shape(sc, base_dir, data_path)
    samples: list[tuple[int, np.ndarray, float]] = []
    if dense is not None:
        if features is not None and features != [v]:
            raise ValueError(f"the data are dense vectors of {v} features: every call passes "
                             f"all {v} (leave --features out)")
        raw = np.rint(dense * DENSE_SCALE).astype(np.int64).tobytes()
        samples.append((v, dense, evm_gas.int64_buffer_nonzero_bytes(raw)))
    else:
        per_index = evm_gas.expected_index_nonzero_bytes(v)
        for n in [m for m in DEFAULT_FEATURES if m <= v] or [v] if features is None \
                else features:
            if not 0 <= n <= v:
                raise ValueError(f"{n} is not between 0 and the vocabulary ({v})")
            samples.append((n, np.unique(np.linspace(0, v - 1, n).round().astype(np.int64)),
                            per_index * n))
    mech = get("mechanisms", sc.incentive.kind).impl.gas_work
    free = mech.free
    price = sc.chain.gas_price_gwei
    eth_usd = sc.chain.eth_usd

    def row(call: str, n: int, update: bool | None, gas: float) -> dict[str, Any]:
        g = int(round(gas))
        fee = g * price
        # (USD from the exact product, rounded once: 0.229139868, not 0.22913986799999997)
        usd = float(Decimal(fee) * Decimal(repr(eth_usd)) / WEI_PER_ETHER)
        return {"call": call, "features": n, "update": update, "gas": g, "fee_wei": fee,
                "fee_usd": usd}

    rows = [row("deploy", v, None, evm_gas.deploy_gas(f, v).total)]
    for n, x, nz in samples:
        predict, _ = _work(model, x, NO_UPDATE)
        _, update = _work(model, x, _trained_plan(model, x))
        for trains in (False, True):
            up = update if trains else None
            g = np.mean([pricer.add_data(n_elements=n, array_nonzero_bytes=nz, label=y,
                                         predict=predict, update=up, deposit_zero=free,
                                         mechanism=mech) for y in LABELS])
            rows.append(row("add_data", n, trains, float(g)))
        g = np.mean([pricer.refund(n_elements=n, array_nonzero_bytes=nz, label=y,
                                   predict=predict, amount_zero=free, mechanism=mech)
                     for y in LABELS])
        rows.append(row("refund", n, None, float(g)))
        g = np.mean([pricer.report(n_elements=n, array_nonzero_bytes=nz, label=y,
                                   predict=predict, amount_zero=free, mechanism=mech)
                     for y in LABELS])
        rows.append(row("report", n, None, float(g)))
    return rows


def format_table(rows: list[dict[str, Any]], fork: str) -> str:
    lines = [f"fork: {fork}",
             f"{'call':<9} {'features':>8} {'update':>6} {'gas':>12} {'fee (ETH)':>14} "
             f"{'fee (USD)':>11}"]
    for r in rows:
        upd = "" if r["update"] is None else ("yes" if r["update"] else "no")
        lines.append(f"{r['call']:<9} {r['features']:>8} {upd:>6} {r['gas']:>12,} "
                     f"{r['fee_wei'] / WEI_PER_ETHER:>14.6f} {r['fee_usd']:>11.2f}")
    if any(r["call"] == "deploy" for r in rows):
        lines.append("deploy: the whole migration, many transactions (the classifier's weights "
                     "go in batches of 250), so its total may pass one "
                     "block's gas limit")
    return "\n".join(lines)
