"""The floor: the paper workload as a bare numpy/scipy loop (no SimPy, no chain, no engine).

Usage::

    python benchmarks/bench_floor.py [--archive PATH] [--repeat N] [--counterfactual] [--record]

The same work as ``scenarios/paper-imdb-perceptron-drt.toml``, written as plainly and as fast as
numpy allows, so that sumsim's end-to-end time can be compared with what the workload itself
costs.  Only sumsim's IMDB loader is used (its cached CSR matrices); loading is not timed.
A timed run covers:

- the seeded shuffle and the 8% / 92% split of the training reviews;
- the off-chain initial fit: perceptron, 5 epochs over the first 8% at integer step 10 (the
  intercept trained too, as the deployer did);
- the contributions: an honest agent every ~600 s (normal, sd 1) and a label flipper every
  ~3600 s (normal, sd 1), each taking the next pool sample in order until the pool is exhausted
  (~23,000 contributions).  Per contribution: the Deposit-Refund-Take deposit
  ``w * 3600 // isqrt(dt)`` in integer wei at the next 12 s block, the gas fee of the add
  (priced per call by the Petersburg pricer of :mod:`sumsim.chain.evm_gas`, at 4 gwei), and the
  original sparse perceptron's predict and update (int64 weights, class 1 only above 0, the
  intercept fixed on-chain: one gather, and one scatter-add when it is wrong).  The honest agent
  contributes
  with probability ``min(1, accuracy + 0.15)`` and mislabels one sample in 10,000; each agent
  skips a turn when the deposit exceeds its cap (50 and 100 ether) or its balance;
- one refund/report check per contribution one day after it was added: the author takes its
  deposit back when the model agrees with the stored label, otherwise the other agent, once it
  has good data refunded, takes ``initial_deposit * num_valid // total_good``; whatever is left
  is taken nine days after the add.  Wallets are Python ints (wei), supply is checked at the end;
- test accuracy on the 25,000 test reviews every 200,000 simulated seconds (CSR mat-vec), which
  also feeds the honest agent's participation gate, and once more at the end;
- with ``counterfactual``: the whole run again without the attacker (split, initial fit, run);
- with ``baseline``: the all-data fit (5 epochs over initial set + pool at step 10) and its
  test accuracy.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
import zlib
from math import isqrt
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import ARCHIVE, machine, record, stamp  # noqa: E402

import sumsim.chain.evm_gas as evm_gas  # noqa: E402  (the pricer only: not the simulator)

TITLE = "Bare numpy floor (paper workload)"

# -- the scenario's numbers ---------------------------------------------------------------
WEI_PER_ETHER = 10**18
INIT_FRACTION = 0.08
EPOCHS = 5
INIT_STEP = 10
STEP = 1
BLOCK_S = 12
GAS_PRICE = 4 * 10**9                        # 4 gwei
TX_GAS_LIMIT = 10_000_000
REFUND_WAIT = 86_400                          # t_r
ANY_ADDRESS_WAIT = 777_600                    # t_a (= t_o)
COST_W = 16_666_666_666_666_666               # 0.016666666666666666 ether in wei
FULL_DEPOSIT = COST_W * 3600                  # dt == 0
EVAL_EVERY = 200_000
ACCURACY_BONUS = 0.15
MISTAKE_RATE = 0.0001
# (name, balance wei, max deposit wei, interval mean s, interval sd s, flips labels)
AGENTS = (("good", 10_000 * WEI_PER_ETHER, 50 * WEI_PER_ETHER, 600.0, 1.0, False),
          ("bad", 10_000 * WEI_PER_ETHER, 100 * WEI_PER_ETHER, 3600.0, 1.0, True))

# Gas: every call priced by the scenario fork's pricer (the one sumsim's contract uses).
FORK = "petersburg"
CHUNK = 4096


def _stream(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(purpose.encode())]))


def _draws(rng: np.random.Generator, kind: str, *args: float) -> Any:
    """An endless iterator over random draws, produced a chunk at a time."""
    if kind == "normal":
        def chunk() -> list[float]:
            return np.maximum(rng.normal(args[0], args[1], CHUNK), 0.0).tolist()
    else:
        def chunk() -> list[float]:
            return rng.random(CHUNK).tolist()
    return itertools.chain.from_iterable(chunk() for _ in itertools.count())


def _calldata_per_sample(indices: np.ndarray, indptr: np.ndarray) -> tuple[list[int], list[int]]:
    """Per pool sample: its length and the non-zero bytes of its ``int64[]`` calldata words
    (feature indices below 65,536: their low byte and their second byte, counted at once)."""
    nz = ((indices & 0xFF) != 0).astype(np.int64) + ((indices >> 8) != 0)
    c = np.concatenate([[0], np.cumsum(nz)])
    return np.diff(indptr).tolist(), (c[indptr[1:]] - c[indptr[:-1]]).tolist()


def _fit(indices: np.ndarray, indptr: np.ndarray, y: np.ndarray, n_features: int
         ) -> tuple[np.ndarray, int]:
    """EPOCHS passes of the integer perceptron at INIT_STEP, in data order, from zero (class 1
    only above 0; off-chain the intercept moves too)."""
    w = np.zeros(n_features, dtype=np.int64)
    b = 0
    ptr = indptr.tolist()
    labels = y.tolist()
    for _ in range(EPOCHS):
        for i, label in enumerate(labels):
            xi = indices[ptr[i]:ptr[i + 1]]
            if (b + w.take(xi).sum() > 0) != (label == 1):
                step = INIT_STEP if label == 1 else -INIT_STEP
                w[xi] += step
                b += step
    return w, b


def _accuracy(x_test: Any, y_test: np.ndarray, w: np.ndarray, b: int) -> float:
    return float(np.count_nonzero((x_test @ w + b > 0) == y_test)) / len(y_test)


def _split(dataset: Any, seed: int) -> tuple[Any, np.ndarray, Any, np.ndarray]:
    """The seeded shuffle and cut of sumsim's ``split`` (init first, the pool in order)."""
    n = dataset.x_train.shape[0]
    order = _stream(seed, "split").permutation(n)
    n_init = int(round(INIT_FRACTION * n))
    init, pool = order[:n_init], order[n_init:]
    x_train, y_train = dataset.x_train, dataset.y_train
    return x_train[init], y_train[init], x_train[pool], y_train[pool]


def _simulate(dataset: Any, seed: int, with_attacker: bool) -> dict[str, Any]:
    """One run of the scenario; returns its outcome."""
    x_init, y_init, x_pool, y_pool = _split(dataset, seed)
    x_test, y_test = dataset.x_test, dataset.y_test
    n_features = dataset.x_train.shape[1]
    w, b = _fit(x_init.indices.astype(np.intp), x_init.indptr, y_init, n_features)

    indices = x_pool.indices.astype(np.intp)
    ptr = x_pool.indptr.tolist()
    pool_y = y_pool.tolist()
    n_elems, nonzero = _calldata_per_sample(indices, x_pool.indptr)
    n_pool = len(pool_y)
    pr = evm_gas.pricer(FORK)
    intrinsic = pr.fork.intrinsic
    per_feature = evm_gas.INTERP.perceptron_predict_per_feature
    per_write = evm_gas.INTERP.perceptron_update_per_feature
    predict_work: dict[int, evm_gas.ModelWork] = {}   # by sample length

    def reads(n: int) -> evm_gas.ModelWork:
        """What a prediction on an n-feature sample does (n weights and the intercept read)."""
        work = predict_work.get(n)
        if work is None:
            work = predict_work[n] = evm_gas.ModelWork(reads=n + 1, compute=per_feature * n)
        return work

    agents = AGENTS if with_attacker else AGENTS[:1]
    n_agents = len(agents)
    rngs = [_stream(seed, "agent:" + a[0]) for a in agents]
    intervals = [_draws(r, "normal", a[3], a[4]) for r, a in zip(rngs, agents, strict=True)]
    gate_u = _draws(rngs[0], "uniform")
    mistake_u = _draws(rngs[0], "uniform")
    caps = [a[2] for a in agents]
    flips = [a[5] for a in agents]
    bal = [a[1] for a in agents]
    supply = sum(bal)
    contract = 0
    sink = 0
    worst_fee = TX_GAS_LIMIT * GAS_PRICE

    # Contribution records (cid = position).
    r_author: list[int] = []
    r_pool: list[int] = []
    r_label: list[int] = []
    r_added: list[int] = []
    r_deposit: list[int] = []
    r_claimable: list[int] = []
    num_valid = [0] * n_agents
    total_good = 0
    n_txs = n_reverted = 0

    last_update = 0            # DRT: block time of the last successful add
    before_last = 0            # ... and the one before (what a sender saw during that block)
    acc = _accuracy(x_test, y_test, w, b)
    public_acc = acc
    samples: list[tuple[float, float, tuple[int, ...]]] = [(0.0, acc, tuple(bal))]
    next_eval = EVAL_EVERY
    check_i = 0                # next contribution due for its refund/report check
    expiring: list[int] = []   # contributions with money left after the check, in order
    expire_i = 0

    def settle(until: float) -> None:
        """Every refund/report check and expiry take due by ``until``, in order."""
        nonlocal check_i, expire_i, contract, sink, total_good, n_txs
        n_rec = len(r_added)
        while check_i < n_rec and r_added[check_i] + REFUND_WAIT <= until:
            cid = check_i
            check_i += 1
            i = r_pool[cid]
            xi = indices[ptr[i]:ptr[i + 1]]
            label = r_label[cid]
            author = r_author[cid]
            n, nz = n_elems[i], nonzero[i]
            if (b + w.take(xi).sum() > 0) == (label == 1):
                fresh = (num_valid[author] == 0) + (total_good == 0)
                amount = r_claimable[cid]
                who = author
                fee = pr.refund(n_elements=n, array_nonzero_bytes=nz, label=label,
                                predict=reads(n), first_refund_of_author=fresh >= 1,
                                first_good_data=fresh >= 2) * GAS_PRICE
                num_valid[author] += 1
                total_good += 1
            else:
                who = 1 - author
                if who >= n_agents or num_valid[who] == 0:
                    expiring.append(cid)
                    continue
                amount = r_deposit[cid] * num_valid[who] // total_good
                if amount == 0 or amount > r_claimable[cid]:
                    amount = r_claimable[cid]
                fee = pr.report(n_elements=n, array_nonzero_bytes=nz, label=label,
                                predict=reads(n), takes_all=amount >= r_claimable[cid]
                                ) * GAS_PRICE
                if amount < r_claimable[cid]:
                    expiring.append(cid)
            r_claimable[cid] -= amount
            contract -= amount
            bal[who] += amount - fee
            sink += fee
            n_txs += 1
        while expire_i < len(expiring) and r_added[expiring[expire_i]] + ANY_ADDRESS_WAIT <= until:
            cid = expiring[expire_i]
            expire_i += 1
            amount = r_claimable[cid]
            i = r_pool[cid]
            fee = pr.report(n_elements=n_elems[i], array_nonzero_bytes=nonzero[i],
                            label=r_label[cid], predict=reads(n_elems[i]),
                            after_any_address_wait=True) * GAS_PRICE
            r_claimable[cid] = 0
            contract -= amount
            bal[0] += amount - fee
            sink += fee
            n_txs += 1

    def evaluate(until: float) -> None:
        nonlocal next_eval, public_acc
        while next_eval <= until:
            settle(next_eval)
            public_acc = _accuracy(x_test, y_test, w, b)
            samples.append((next_eval, public_acc, tuple(bal)))
            next_eval += EVAL_EVERY

    times = [0.0] * n_agents   # every agent's first turn is at t = 0
    cursor = 0
    while cursor < n_pool:
        a = 0 if n_agents == 1 or times[0] <= times[1] else 1
        t = times[a]
        times[a] = t + next(intervals[a])
        evaluate(t)
        settle(t)
        if not flips[a] and next(gate_u) >= min(1.0, public_acc + ACCURACY_BONUS):
            continue
        at = (int(t) // BLOCK_S + 1) * BLOCK_S   # timestamp of the block that includes it
        seen = before_last if last_update == at else last_update
        dt = at - seen
        deposit = FULL_DEPOSIT if dt <= 0 else COST_W * 3600 // isqrt(dt)
        if deposit > caps[a] or bal[a] < deposit + worst_fee:
            continue
        i = cursor
        cursor += 1
        label = pool_y[i]
        if flips[a] or next(mistake_u) < MISTAKE_RATE:   # the flipper, or an honest slip
            label = 1 - label
        n, nz = n_elems[i], nonzero[i]
        n_txs += 1
        if last_update == at:  # a second add in one block owes the full deposit: reverts
            fee = (intrinsic + pr.calldata("add_data", n_elements=n, array_nonzero_bytes=nz,
                                           label=label)) * GAS_PRICE
            bal[a] -= fee
            sink += fee
            n_reverted += 1
            continue
        xi = indices[ptr[i]:ptr[i + 1]]
        touched = w.take(xi)
        wrong = (b + touched.sum() > 0) != (label == 1)
        update = None
        if wrong:   # one weight per present feature (the intercept stays): by kind of write
            step = STEP if label == 1 else -STEP
            new = int(np.count_nonzero(touched == 0))
            cleared = int(np.count_nonzero(touched == -step))
            writes = len(touched)
            update = evm_gas.ModelWork(rereads=3 * writes, writes_new=new,
                                       writes_update=writes - new - cleared,
                                       writes_clear=cleared, compute=per_write * writes)
        fee = pr.add_data(n_elements=n, array_nonzero_bytes=nz, label=label, predict=reads(n),
                          update=update) * GAS_PRICE
        bal[a] -= deposit + fee
        contract += deposit
        sink += fee
        before_last, last_update = last_update, at
        r_author.append(a)
        r_pool.append(i)
        r_label.append(label)
        r_added.append(at)
        r_deposit.append(deposit)
        r_claimable.append(deposit)
        if wrong:
            w[xi] += step

    # The pool is exhausted: settle every deposit, sampling accuracy as time goes on.
    end = max(t, r_added[-1] + REFUND_WAIT) if r_added else t
    evaluate(end)
    settle(end)            # every check done: what is left expires nine days after its add
    if expire_i < len(expiring):
        end = max(end, r_added[expiring[-1]] + ANY_ADDRESS_WAIT)
        evaluate(end)
        settle(end)
    acc = _accuracy(x_test, y_test, w, b)
    samples.append((end, acc, tuple(bal)))

    assert sum(bal) + contract + sink == supply, "wei created or lost"
    assert contract == sum(r_claimable)
    names = [a[0] for a in agents]
    accs = [s[1] for s in samples]
    return {
        "contributions": len(r_added),
        "by_agent": {nm: r_author.count(k) for k, nm in enumerate(names)},
        "transactions": n_txs,
        "reverted": n_reverted,
        "days": end / 86_400,
        "initial_accuracy": accs[0],
        "final_accuracy": acc,
        "min_accuracy": min(accs),
        "evaluations": len(samples),
        "wallets_wei": dict(zip(names, bal, strict=True)),
        "contract_wei": contract,
        "fees_wei": sink,
    }


def floor_run(dataset: Any, *, seed: int = 1, counterfactual: bool = False,
              baseline: bool = True) -> dict[str, Any]:
    """One timed run of the paper workload on ``dataset`` (sumsim's IMDB Dataset, 1000 words).

    Returns wall seconds, contributions, final accuracy and wallets (wei), plus the
    counterfactual's and the all-data baseline's accuracy when asked for.
    """
    start = time.perf_counter()
    out = _simulate(dataset, seed, with_attacker=True)
    out["simulation_s"] = time.perf_counter() - start
    if counterfactual:
        t = time.perf_counter()
        cf = _simulate(dataset, seed, with_attacker=False)
        out["counterfactual"] = {k: cf[k] for k in ("contributions", "final_accuracy",
                                                     "min_accuracy", "wallets_wei", "days")}
        out["counterfactual_s"] = time.perf_counter() - t
    if baseline:
        t = time.perf_counter()
        x = dataset.x_train
        order = _stream(seed, "split").permutation(x.shape[0])
        x_all, y_all = x[order], dataset.y_train[order]   # init + pool, in that order
        w, b = _fit(x_all.indices.astype(np.intp), x_all.indptr, y_all, x.shape[1])
        out["baseline_accuracy"] = _accuracy(dataset.x_test, dataset.y_test, w, b)
        out["baseline_s"] = time.perf_counter() - t
    out["wall_s"] = time.perf_counter() - start
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--archive", type=Path, default=ARCHIVE)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--counterfactual", action="store_true",
                   help="also run without the attacker (as metrics.counterfactual = true)")
    p.add_argument("--no-baseline", action="store_true", help="skip the all-data fit")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--record", action="store_true")
    args = p.parse_args(argv)
    if not args.archive.is_file():
        print(f"IMDB archive not found: {args.archive}", file=sys.stderr)
        return 2
    from sumsim.data.imdb import load_imdb

    dataset = load_imdb(args.archive, num_words=1000)  # featurization cached; not timed
    load_before = os.getloadavg()
    runs = [floor_run(dataset, seed=args.seed, counterfactual=args.counterfactual,
                      baseline=not args.no_baseline) for _ in range(max(1, args.repeat))]
    load_after = os.getloadavg()
    walls = [r["wall_s"] for r in runs]
    wall = statistics.median(walls)

    def med(key: str) -> float:
        return statistics.median(run[key] for run in runs)

    r = runs[0]
    n = r["contributions"] + (r["counterfactual"]["contributions"] if args.counterfactual else 0)
    eth = {k: v / WEI_PER_ETHER for k, v in r["wallets_wei"].items()}
    parts = ["simulation"] + (["counterfactual"] if args.counterfactual else []) + \
        ([] if args.no_baseline else ["all-data baseline"])
    lines = [
        f"## {TITLE}", "",
        f"- Date: {stamp()}",
        "- Command: `python benchmarks/bench_floor.py"
        + (" --counterfactual" if args.counterfactual else "") + "` (featurization cached)",
        f"- Machine: {machine()}",
        f"- Load average (1, 5, 15 min): before {', '.join(f'{x:.2f}' for x in load_before)}; "
        f"after {', '.join(f'{x:.2f}' for x in load_after)}",
        f"- Work: {' + '.join(parts)}; {r['contributions']:,} contributions "
        f"({', '.join(f'{k} {v:,}' for k, v in r['by_agent'].items())}), "
        f"{r['transactions']:,} transactions, {r['days']:.1f} simulated days, "
        f"{r['evaluations']} accuracy evaluations on 25,000 test reviews",
        "",
        "| measure | value |", "| --- | ---: |",
        f"| floor wall time, median of {len(walls)} | {wall:.3f} s |",
        f"| all runs | {', '.join(f'{x:.3f}' for x in walls)} s |",
        f"| contributions per second{' (both passes)' if args.counterfactual else ''} | "
        f"{n / wall:,.0f} |",
        f"| of which the simulation, median | {med('simulation_s'):.3f} s |",
    ]
    if args.counterfactual:
        lines.append(f"| of which the counterfactual, median | {med('counterfactual_s'):.3f} s |")
    if not args.no_baseline:
        lines.append(f"| of which the all-data baseline, median | {med('baseline_s'):.3f} s |")
    lines += [
        "",
        f"Outcome (seed {args.seed}): accuracy {r['initial_accuracy']:.4f} initial, "
        f"{r['final_accuracy']:.4f} final (min {r['min_accuracy']:.4f})"
        + (f", all-data baseline {r['baseline_accuracy']:.4f}" if "baseline_accuracy" in r
           else "")
        + (f", without the attacker {r['counterfactual']['final_accuracy']:.4f}"
           if args.counterfactual else "")
        + "; wallets " + ", ".join(f"{k} {v:,.1f} ether" for k, v in eth.items()) + ".",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.record:
        record(TITLE, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
