"""What the contract charges: every call priced by the fork's structural gas model, from what
the call did (counted here by hand), and the scenario options that choose the fork.

Expected figures are built from hand counts through :meth:`evm_gas.Ops.price` (the counts
priced directly), not through the :class:`evm_gas.Pricer` the contract uses, so the contract's
description of a call and the pricer's decomposition are both checked.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import simpy

from sumsim.chain import Chain, Ledger, Tx
from sumsim.chain import evm_gas as eg
from sumsim.cli import main
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.engine import make_fork
from sumsim.errors import InputError
from sumsim.mechanisms.drt import DepositRefundTake
from sumsim.mechanisms.points import Points
from sumsim.models import NaiveBayes, Perceptron
from sumsim.scenario.loader import load_scenario, parse_scenario

T_R, T_A = 96, 996  # multiples of the 12 s block time
W = 10**9
RICH = 10**30
ROOT = Path(__file__).parents[1]
PAPER = ROOT / "scenarios" / "paper-imdb-perceptron-drt.toml"
P = eg.INTERP.perceptron_predict_per_feature
U = eg.INTERP.perceptron_update_per_feature


class Bench:
    """A chain on ``fork`` with one original perceptron contract and three wallets."""

    def __init__(self, fork: str, weights: list[int], intercept: int = 0, model=None,
                 im=None) -> None:
        self.env = simpy.Environment()
        ledger = Ledger()
        for name in ("a", "b", "c"):
            ledger.open(name, RICH)
        self.chain = Chain(self.env, block_time_s=12, gas_price_wei=1, fork=fork, ledger=ledger)
        if model is None:
            model = Perceptron(len(weights), variant="original")
            model.w[:] = weights
            model.b = np.int64(intercept)
        self.model = model
        im = im or DepositRefundTake(refund_wait_s=T_R, owner_claim_wait_s=T_A,
                                     any_address_claim_wait_s=T_A, cost_weight=W)
        self.contract = CollaborativeTrainer("contract", ledger, model, im)
        self.chain.deploy(self.contract)

    def send(self, sender: str, method: str, args: tuple, value: int = 0, *, at: int):
        """Submit just before the slot ``at`` (a multiple of 12) and mine it."""
        def go():  # type: ignore[no-untyped-def]
            yield self.env.timeout(at - 1 - self.env.now)
            self.chain.submit(tx)

        tx = Tx(sender, "contract", method, args, value, 10**7, 1)
        self.env.process(go())
        self.env.run(until=at + 1)
        assert tx.receipt is not None and tx.receipt.timestamp == at
        return tx.receipt

    def add(self, sender: str, x: list[int], y: int, *, at: int, extra: int = 0):
        need = self.contract.view_required_deposit(at - 12, at)
        return self.send(sender, "add_data", (np.array(x, dtype=np.int64), y), need + extra,
                         at=at)


X = [0, 5, 255, 256, 299]  # ABI words with 0, 1, 1, 1 and 2 non-zero bytes
X_NONZERO = 5


def add_ops(n: int, nonzero: int, label: int, predict: eg.ModelWork,
            update: eg.ModelWork | None = None, value_returned: bool = False,
            mechanism_writes: tuple[eg.SstoreKind, ...] | None = None) -> eg.Ops:
    return eg.add_data_ops(n_elements=n, array_nonzero_bytes=nonzero, label=label,
                           predict=predict, update=update, value_returned=value_returned,
                           mechanism_writes=mechanism_writes)


#: How Stakeable64's two writes of a contract's first add change their slots: the last update
#: time is rewritten, the submission counter set from zero.
FIRST_ADD: tuple[eg.SstoreKind, ...] = ("reset", "set")


def predict_work(n: int) -> eg.ModelWork:
    """The original perceptron's prediction: the intercept and one weight per feature."""
    return eg.ModelWork(reads=n + 1, compute=P * n)


@pytest.mark.parametrize("fork", ["petersburg", "istanbul", "berlin", "cancun"])
def test_each_call_is_priced_from_what_it_did(fork: str) -> None:
    weights = [0] * 300
    weights[5] = weights[255] = 2
    weights[256] = -1
    b = Bench(fork, weights, intercept=-7)
    n = len(X)

    # Score -7 + 3 < 0 predicts 0: label 0 needs no update (and label 0 writes a zero slot).
    # The contract's first add: its submission counter goes from zero (a new slot), the last
    # update time is rewritten.
    r = b.add("a", X, 0, at=12)
    assert r.ok and b.model.w.tolist() == weights
    first = add_ops(n, X_NONZERO, 0, predict_work(n), mechanism_writes=FIRST_ADD)
    assert r.gas_used == first.price(fork).total
    assert first.price(fork).total - add_ops(n, X_NONZERO, 0, predict_work(n)).price(
        fork).total == eg.fork(fork).sstore_set - eg.fork(fork).sstore_reset

    # Label 1 is wrong: every weight moves by +1 (the score becomes -7 + 8 > 0).  Weights 0
    # and 299 were zero (new slots), 256 goes -1 -> 0 (cleared: a storage refund), 5 and 255
    # go 2 -> 3; each write re-reads the learning rate, the weight and its packed slot.
    # Overpaying returns the excess.
    r = b.add("b", X, 1, at=24, extra=777)
    assert r.ok and r.payments == (("b", 777, "change"),)
    update = eg.ModelWork(rereads=3 * n, writes_new=2, writes_update=2, writes_clear=1,
                          compute=U * n)
    expected = add_ops(n, X_NONZERO, 1, predict_work(n), update, value_returned=True)
    assert r.gas_used == expected.price(fork).total
    assert b.model.w[[0, 5, 255, 256, 299]].tolist() == [1, 3, 3, 0, 1]
    assert int(b.model.b) == -7  # the original never moves the intercept

    # a's refund of contribution 0 after t_r (the model now predicts 1: it disagrees) reverts;
    # b's refund of contribution 1 is the contract's first: both counters start from zero.
    r = b.send("a", "refund", (0,), at=144)
    assert r.reason == "The model doesn't agree with your contribution."
    r = b.send("b", "refund", (1,), at=156)
    assert r.ok
    expected = eg.refund_ops(n_elements=n, array_nonzero_bytes=X_NONZERO, label=1,
                             predict=predict_work(n), first_refund_of_author=True,
                             first_good_data=True)
    assert r.gas_used == expected.price(fork).total

    # b has good data; a's contribution 0 (label 0) is contradicted by the model: b takes
    # its share, all of it (b holds all the good data), which clears the claimable amount.
    r = b.send("b", "report", (0,), at=168)
    assert r.ok and r.result == b.contract.data.records[0].initial_deposit
    expected = eg.report_ops(n_elements=n, array_nonzero_bytes=X_NONZERO, label=0,
                             predict=predict_work(n), takes_all=True)
    assert r.gas_used == expected.price(fork).total

    # A late take after t_a (the any-address path skips the good-data checks).
    r = b.add("c", [1, 2], 1, at=180)
    assert r.ok
    r = b.send("a", "report", (2,), at=180 + T_A)
    assert r.ok
    expected = eg.report_ops(n_elements=2, array_nonzero_bytes=2, label=1,
                             predict=predict_work(2), after_any_address_wait=True)
    assert r.gas_used == expected.price(fork).total


def test_a_revert_pays_the_intrinsic_gas_and_the_calldata() -> None:
    """An unknown label: 21,000 + the calldata of addData(int64[5], uint64) on Petersburg.
    Selector 4 bytes (non-zero), the array's offset word (1 non-zero byte: 0x40), the label
    word (7: 1 non-zero byte), the length word (5: 1), five index words (5 non-zero bytes)."""
    b = Bench("petersburg", [0] * 300)
    r = b.send("a", "add_data", (np.array(X, dtype=np.int64), 7), 0, at=12)
    assert r.reason == "Unknown class."
    total = 4 + 32 * (3 + 5)
    nonzero = 4 + 1 + 1 + 1 + X_NONZERO
    assert r.gas_used == 21_000 + 68 * nonzero + 4 * (total - nonzero)


def test_an_add_paying_too_little_pays_for_the_work_up_to_the_deposit_check() -> None:
    """Worked by hand on Petersburg for addData(int64[5], label 1) with one wei too little: the
    original reverts in the incentive mechanism's deposit check, after the trainer has read
    the mechanism's address (SLOAD 200), decoded the sample and encoded it for the call (CALL
    with its EXTCODESIZE check, 700 + 700), and the mechanism has decoded it and read the
    owner, the cost weight and the last update time (3 SLOADs) and the last two again (2
    more): 21,000 + calldata (12 non-zero bytes at 68, 248 zero bytes at 4) + 6 x 200 +
    1,400 + the two call frames' memory (20 and 11 words: 3 a word plus words^2 / 512) + three
    ABI passes over 5 elements at 78.5 gas each."""
    b = Bench("petersburg", [0] * 300)
    need = b.contract.view_required_deposit(0, 12)
    r = b.send("a", "add_data", (np.array(X, dtype=np.int64), 1), need - 1, at=12)
    assert r.reason == "Didn't pay enough for the deposit."
    memory = 3 * 20 + 20 * 20 / 512 + 3 * 11 + 11 * 11 / 512
    expected = 21_000 + 68 * 12 + 4 * 248 + 6 * 200 + 1_400 + memory + 3 * 5 * 78.5
    assert r.gas_used == round(expected)
    # more than the calldata alone, less than the add that pays
    assert 21_000 + 68 * 12 + 4 * 248 < r.gas_used < b.add("a", X, 1, at=24).gas_used


def test_an_add_under_a_key_already_holding_a_deposit_pays_for_the_mechanism_and_the_lookup(
        ) -> None:
    """The same sender adds the same labelled sample twice in one block: the second reverts
    in the data handler's key check ("Conflicting data key."), after the mechanism has done
    all its work, writes included (paid though the revert undoes them).  Worked by hand on
    Petersburg: the trainer reads two contract addresses and calls both (2 x 200, 2 x 1,400),
    the mechanism reads owner, cost weight, last update time and submission counter (4 x 200)
    and two again (2 x 200) and writes the update time (the same second's: a no-op, 5,000)
    and the counter (5,000), the data handler reads owner, sender and claimable amount (3 x
    200) and hashes sample, label, time and sender (220 bytes: 30 + 6 x 7); three call
    frames (20, 11 and 25 words) and six ABI passes over the 5 elements."""
    b = Bench("petersburg", [0] * 300)
    x = np.array(X, dtype=np.int64)
    need = b.contract.view_required_deposit(0, 12)
    # (the second pays a deposit at the price the first one leaves: the same second's)
    txs = [Tx("a", "contract", "add_data", (x, 1), v, 10**7, 1) for v in (need, 10**20)]

    def go():  # type: ignore[no-untyped-def]
        yield b.env.timeout(11)
        for tx in txs:
            b.chain.submit(tx)

    b.env.process(go())
    b.env.run(until=13)
    first, second = (tx.receipt for tx in txs)
    assert first is not None and first.ok and second is not None
    assert second.reason == "Conflicting data key. The data may have already been added."

    def mem(words: int) -> float:
        return 3 * words + words * words / 512

    hashed = 30 + 6 * 7  # 5 x 32 + 8 + 32 + 20 = 220 bytes: 7 words (the last part-filled)
    expected = (21_000 + 68 * 12 + 4 * 248 + 2 * 200 + 2 * 1_400 + 6 * 200 + 2 * 5_000
                + 3 * 200 + hashed + mem(20) + mem(11) + mem(25) + 6 * 5 * 78.5)
    assert second.gas_used == round(expected)
    assert second.gas_used < first.gas_used


def test_out_of_gas_is_charged_before_anything_is_written() -> None:
    b0 = Bench("istanbul", [1] * 300)
    need = b0.add("a", X, 0, at=12).gas_used
    b = Bench("istanbul", [1] * 300)
    deposit = b.contract.view_required_deposit(0, 12)

    def go():  # type: ignore[no-untyped-def]
        yield b.env.timeout(11)
        b.chain.submit(tx)

    tx = Tx("a", "contract", "add_data", (np.array(X, dtype=np.int64), 0), deposit, need - 1, 1)
    b.env.process(go())
    b.env.run(until=13)
    assert tx.receipt is not None and tx.receipt.reason == "Out of gas."
    assert not b.contract.data.records and b.model.w.tolist() == [1] * 300
    assert b.chain.ledger.balances["contract"] == 0


def test_other_models_declare_their_compute() -> None:
    """Naive Bayes reads every class's count of each present feature plus the class counts
    and totals, with a fixed-point multiply and divide per count read, and writes one count
    per feature plus its class's count and total."""
    nb = NaiveBayes(300, 2)
    nb.class_counts[:] = 1
    nb.feature_counts[:] = 1
    nb.feature_totals[:] = 300
    b = Bench("cancun", [], model=nb)
    n = len(X)
    r = b.add("a", X, 1, at=12)
    assert r.ok
    reads = 2 * (n + 2)
    per_read = P + 2 * 130.0
    predict = eg.ModelWork(reads=reads, compute=per_read * reads)
    update = eg.ModelWork(rereads=n + 2, writes_update=n + 2, compute=U * (n + 2))
    expected = add_ops(n, X_NONZERO, 1, predict, update, mechanism_writes=FIRST_ADD)
    assert r.gas_used == expected.price("cancun").total


# -- choosing the fork ------------------------------------------------------------------------
def test_fork_option_default_and_overrides() -> None:
    sc = parse_scenario({"agents": [{"name": "a", "kind": "honest", "balance": 1}]})
    assert sc.chain.fork == "prague"
    assert make_fork(sc.chain) is eg.PRAGUE
    sc = parse_scenario({"agents": [{"name": "a", "kind": "honest", "balance": 1}],
                         "chain": {"fork": "petersburg", "gas": {"sload_cold": 800}}})
    f = make_fork(sc.chain)
    assert (f.name, f.sload_cold, f.calldata_nonzero_byte) == ("petersburg", 800, 68)
    assert make_fork(sc.chain, "cancun").sload_cold == 800


@pytest.mark.parametrize(("old", "hint"), [("sstore_new", "sstore_set"),
                                           ("value_transfer", "call_value"),
                                           ("call_overhead", "chain.fork")])
def test_old_gas_schedule_entries_name_their_replacement(old: str, hint: str) -> None:
    with pytest.raises(InputError, match=rf"chain\.gas\.{old}: removed: .*{hint}"):
        parse_scenario({"agents": [{"name": "a", "kind": "honest", "balance": 1}],
                        "chain": {"gas": {old: 20_000}}})
    with pytest.raises(InputError, match="chain.fork"):
        parse_scenario({"agents": [{"name": "a", "kind": "honest", "balance": 1}],
                        "chain": {"fork": "frontier"}})


def test_a_stipend_above_the_value_charge_is_refused() -> None:
    """A CALL's stipend is handed over out of its value charge: larger, a refund would cost
    negative gas."""
    base = {"agents": [{"name": "a", "kind": "honest", "balance": 1}]}
    with pytest.raises(InputError, match=r"chain\.gas\.call_stipend: 9001 is more than "
                                         r"call_value \(9000\)"):
        parse_scenario({**base, "chain": {"gas": {"call_stipend": 9001}}})
    with pytest.raises(InputError, match=r"call_stipend: 2300 is more than call_value \(2000\)"):
        parse_scenario({**base, "chain": {"gas": {"call_value": 2000}}})
    sc = parse_scenario({**base, "chain": {"gas": {"call_stipend": 9000}}})
    assert make_fork(sc.chain).call_stipend == 9000


def test_a_refund_larger_than_the_execution_is_handed_back() -> None:
    """Overridden prices can make a call's refund outweigh all but its intrinsic and calldata
    gas (charged first): the call then ends below them, as on Ethereum, instead of failing."""
    from sumsim.chain.chain import CallContext
    from sumsim.chain.tx import OutOfGas

    ctx = CallContext("a", 0, 0, 1, 50_000, eg.pricer("prague"))
    ctx.charge(30_000)
    ctx.charge_to(40_000)
    assert ctx.gas_used == 40_000
    ctx.charge_to(25_000)
    assert ctx.gas_used == 25_000
    with pytest.raises(OutOfGas):
        ctx.charge_to(50_001)
    assert ctx.gas_used == 50_000
    # The limit holds the gas before the refund (the EVM refunds once the call has ended): a
    # call needing 50,001 while it runs is out of gas, though it would end at 40,000.
    ctx = CallContext("a", 0, 0, 1, 50_000, eg.pricer("prague"))
    ctx.charge(30_000)
    ctx.charge_to(40_000, 50_000)
    assert ctx.gas_used == 40_000
    with pytest.raises(OutOfGas):
        ctx.charge_to(40_000, 50_001)
    assert ctx.gas_used == 50_000
    sc = load_scenario(None, {"chain.gas.refund_quotient": 1, "chain.gas.clear_refund": 100_000,
                              "data.max_pool": 200, "metrics.counterfactual": False})
    import sumsim

    res = sumsim.run(sc).raw
    log = res.chain.receipts
    fork = make_fork(sc.chain)
    below = [i for i in range(len(log)) if log.status[i] == log.strings.find("success")
             and log.gas_used[i] < fork.intrinsic]
    assert below, "some calls end below the intrinsic gas (their refunds outweigh the rest)"
    assert sum(res.chain.ledger.balances.values()) == res.chain.ledger.supply


# -- sumsim gas against the measured original ---------------------------------------------
def measured_rows() -> list[tuple[str, str, int, bool | None, int]]:
    """(fork, call, n, update, gas) of every call row of shared/evm-gas.md."""
    from test_evm_gas import MEASURED, NS

    rows = []
    for (method, updates), by_fork in MEASURED.items():
        for f, figures in by_fork.items():
            for n, g in zip(NS, figures, strict=True):
                rows.append((f, method, n, updates if method == "add_data" else None, g))
    return rows


@pytest.mark.parametrize("fork", ["petersburg", "istanbul", "cancun"])
def test_sumsim_gas_reproduces_the_measured_original(fork: str,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from test_evm_gas import DEPLOY_TOTAL, NS

    assert main(["gas", str(PAPER), "--features", ",".join(map(str, NS)), "--fork", fork,
                 "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {tuple(sorted(r)) for r in rows} == {
        ("call", "features", "fee_usd", "fee_wei", "gas", "update")}
    got = {(r["call"], r["features"], r["update"]): r for r in rows}
    sc = load_scenario(PAPER)
    for f, call, n, update, gas in measured_rows():
        if f != fork:
            continue
        r = got[(call, n, update)]
        assert abs(r["gas"] - gas) <= 0.03 * gas, (call, n, update, r["gas"], gas)
        assert r["fee_wei"] == r["gas"] * sc.chain.gas_price_gwei
        assert r["fee_usd"] == pytest.approx(r["fee_wei"] / 1e18 * sc.chain.eth_usd)
        # the exact product rounded once (no float noise in the JSON)
        assert r["fee_usd"] == float(Fraction(r["fee_wei"]) * Fraction(str(sc.chain.eth_usd))
                                     / 10**18)
    deploy = got[("deploy", 1000, None)]
    assert abs(deploy["gas"] - DEPLOY_TOTAL[fork]) <= 0.05 * DEPLOY_TOTAL[fork]
    assert len(rows) == 1 + 4 * len(NS)


def test_sumsim_gas_table_and_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gas", str(PAPER), "--features", "93"]) == 0
    out = capsys.readouterr().out
    assert "fork: petersburg" in out and "add_data" in out and "deploy" in out
    # the migration's total passes one block's limit: the table says it is many transactions
    assert out.splitlines()[-1].startswith("deploy: the whole migration, many transactions")
    assert main(["gas", str(PAPER), "--features", "ten"]) == 2
    assert "--features" in capsys.readouterr().err
    assert main(["gas", str(PAPER), "--features", "5000"]) == 2
    assert "--features: 5000 is not between 0 and the vocabulary (1000)" in \
        capsys.readouterr().err
    for empty in ("", "10,,50"):  # (an empty item was dropped, an empty list meant none)
        assert main(["gas", str(PAPER), "--features", empty]) == 2
        assert capsys.readouterr().err == \
            f"--features: expected comma-separated feature counts, got {empty!r}\n"
    assert main(["gas", str(PAPER), "--fork", "frontier"]) == 2
    assert "--fork" in capsys.readouterr().err
    # spelled as a scenario's chain.fork must be (which refuses "Prague")
    assert main(["gas", str(PAPER), "--fork", "PRAGUE"]) == 2
    assert "--fork: unknown fork 'PRAGUE'" in capsys.readouterr().err


@pytest.mark.parametrize("fork", ["petersburg", "istanbul", "berlin", "cancun"])
def test_the_fast_pricer_equals_pricing_the_counts(fork: str) -> None:
    """The contract's pricer (cached structure + linear parts) against :meth:`Ops.price` of
    the same counts, on random calls: equal to the gas."""
    rnd = np.random.default_rng(3)
    pricer = eg.pricer(fork)
    for _ in range(300):
        n = int(rnd.integers(0, 400))
        nz, label, flag = int(rnd.integers(0, 2 * n + 1)), int(rnd.integers(0, 2)), \
            bool(rnd.random() < 0.3)
        p = eg.ModelWork(reads=int(rnd.integers(0, 900)), rereads=int(rnd.integers(0, 50)),
                         compute=float(rnd.random() * 1e5),
                         memory_words=int(rnd.integers(0, 3)))
        u = None if rnd.random() < 0.5 else eg.ModelWork(
            rereads=int(rnd.integers(0, 900)), writes_new=int(rnd.integers(0, 50)),
            writes_update=int(rnd.integers(0, 300)), writes_clear=int(rnd.integers(0, 40)),
            writes_noop=int(rnd.integers(0, 5)), compute=float(rnd.random() * 1e5))
        common = dict(n_elements=n, array_nonzero_bytes=nz, label=label, predict=p)
        kinds = None if rnd.random() < 0.5 else tuple(
            str(k) for k in rnd.choice(["set", "reset", "noop"], size=2))
        assert pricer.add_data(**common, update=u, value_returned=flag,
                               mechanism_writes=kinds) == \
            eg.add_data_ops(**common, update=u, value_returned=flag,
                            mechanism_writes=kinds).price(fork).total
        assert pricer.refund(**common, first_refund_of_author=flag) == \
            eg.refund_ops(**common, first_refund_of_author=flag).price(fork).total
        assert pricer.report(**common, after_any_address_wait=flag, takes_all=label == 1) == \
            eg.report_ops(**common, after_any_address_wait=flag,
                          takes_all=label == 1).price(fork).total


def test_the_gas_command_reads_a_tables_features_and_a_small_vocabulary(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A table of 3 numeric features is priced as 3-element dense samples (it was priced as a
    1000-word vocabulary); a 200-word synthetic vocabulary gets the default counts up to 200
    (300 made the command fail).  The dense add's gas is a real run's."""
    rng = np.random.default_rng(0)
    rows = ["a,b,c,label"] + [f"{rng.integers(-9, 9)},{rng.integers(0, 5)},"
                              f"{rng.integers(1, 3)},{i % 2}" for i in range(400)]
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    scenario = tmp_path / "s.toml"
    scenario.write_text(
        '[scenario]\nname = "t"\n[data]\ndataset = "csv"\npath = "t.csv"\n'
        'label_column = "label"\n[model]\nkind = "nearest_centroid"\n'
        '[incentive]\nkind = "deposit_refund_take"\n'
        '[[agents]]\nname = "good"\nkind = "honest"\nbalance = 10000\n'
        '[metrics]\ncounterfactual = false\nbaseline = false\nfigure = false\n')
    assert main(["gas", str(scenario), "--format", "json"]) == 0
    rows_ = json.loads(capsys.readouterr().out)
    assert {r["features"] for r in rows_} == {3}
    adds = [r["gas"] for r in rows_ if r["call"] == "add_data"]
    assert main(["run", str(scenario), "--out", str(tmp_path / "o"), "-q"]) == 0
    summ = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert min(adds) <= summ["gas"]["mean_add_data_gas"] <= max(adds) * 1.01
    assert main(["gas", str(scenario), "--features", "2"]) == 2
    assert "dense vectors of 3 features" in capsys.readouterr().err
    assert main(["gas", "quickstart", "--format", "json", "--set",
                 "data.synthetic.n_features=200"]) == 0
    counts = {r["features"] for r in json.loads(capsys.readouterr().out) if r["call"] != "deploy"}
    assert counts == {10, 50, 100, 150, 200}


def test_gas_and_validate_refuse_the_data_a_run_refuses(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Values beyond what the contract holds: ``run`` refused them, ``gas`` priced garbage
    (numpy cast warnings) and ``validate`` said ok; a missing table was blamed on
    --features."""
    (tmp_path / "big.csv").write_text("a,label\n" + "".join(
        f"{v},{i % 2}\n" for i, v in enumerate([2e15, -3.0, 4.0, 5.0] * 10)))
    scenario = tmp_path / "s.toml"
    scenario.write_text('[scenario]\nname = "t"\n[data]\ndataset = "csv"\npath = "big.csv"\n'
                        'label_column = "label"\n[[agents]]\nname = "g"\nkind = "honest"\n'
                        'balance = 10\n')
    for command in (["gas", str(scenario)], ["validate", str(scenario)]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"{scenario}: data.path: a feature value of 2e+15 is beyond what "
                              "the contract holds"), err
    assert main(["gas", str(scenario), "--set", 'data.path="nothere.csv"']) == 2
    assert capsys.readouterr().err.strip() == (
        f"{scenario}: data.path: {tmp_path / 'nothere.csv'}: no such file")


@pytest.mark.parametrize("fork", ["petersburg", "istanbul", "cancun"])
def test_an_add_in_the_same_second_rewrites_the_update_time_for_nothing(fork: str) -> None:
    """Stakeable64 writes its last update time on every add: in the second of the previous
    add that writes the value the slot holds (a no-op write), otherwise an update.  Two adds
    in one block, alike but for their senders (the second pays the full deposit, exactly)."""
    b = Bench(fork, [0] * 300)
    assert b.add("a", X, 0, at=12).ok
    txs = [Tx(who, "contract", "add_data", (np.array(X), 0), value, 10**7, 1)
           for who, value in (("b", b.contract.view_required_deposit(12, 24)), ("c", W * 3600))]

    def go():  # type: ignore[no-untyped-def]
        yield b.env.timeout(23 - b.env.now)
        for tx in txs:
            b.chain.submit(tx)

    b.env.process(go())
    b.env.run(until=25)
    first, second = (tx.receipt for tx in txs)
    assert first.ok and second.ok and first.timestamp == second.timestamp == 24
    f = eg.fork(fork)
    assert first.gas_used - second.gas_used == f.sstore_reset - f.sstore_noop
    assert f.sstore_reset - f.sstore_noop == {"petersburg": 0, "istanbul": 4200,
                                              "cancun": 2800}[fork]


@pytest.mark.parametrize("fork", ["petersburg", "cancun"])
def test_points_refunds_count_good_data_from_zero_as_the_deployed_contract(fork: str) -> None:
    """Points64 counts a refund's good data per author and in all, as Stakeable64 does: the
    contract's first refund sets both counters from zero, an author's first sets its own."""
    b = Bench(fork, [0] * 300, im=Points(refund_wait_s=T_R, any_address_claim_wait_s=T_A))
    for k, who in enumerate("aba"):
        assert b.add(who, X, 0, at=12 * (k + 1)).ok  # (predicted 0: the model agrees)
    gas = [b.send(who, "refund", (cid,), at=T_R + 48 + 12 * cid).gas_used
           for cid, who in enumerate("aba")]
    f = eg.fork(fork)
    step = f.sstore_set - f.sstore_reset
    assert (gas[0] - gas[2], gas[1] - gas[2]) == (2 * step, step)


@pytest.mark.parametrize("fork", ["petersburg", "cancun"])
def test_a_claim_the_mechanism_refuses_pays_for_the_lookup_and_the_prediction(fork: str) -> None:
    """The original looks the record up, marks the claim and predicts before the mechanism's
    checks: a refund refused there ("Not enough time has passed.") costs nearly what one that
    succeeds does (its counters, event, payout and storage refund aside), not the calldata
    alone."""
    b = Bench(fork, [0] * 300)
    assert b.add("a", X, 0, at=12).ok
    early = b.send("a", "refund", (0,), at=24)
    assert early.reason == "Not enough time has passed."
    n = len(X)
    refused = eg.refund_ops(n_elements=n, array_nonzero_bytes=X_NONZERO, label=0,
                            predict=predict_work(n), reverted=True)
    assert early.gas_used == refused.price(fork).total
    paid = b.send("a", "refund", (0,), at=24 + T_R)
    assert paid.ok
    calldata = eg.pricer(fork).calldata("refund", n_elements=n, array_nonzero_bytes=X_NONZERO,
                                        label=0)
    assert calldata + 21_000 < 0.5 * early.gas_used and 0.6 * paid.gas_used < early.gas_used
    # what the refused one leaves out: the counters, the event and the payout; and the
    # storage refund of clearing the claimable amount, which a revert voids
    f = eg.fork(fork)
    assert early.gas_used < paid.gas_used + f.clear_refund
