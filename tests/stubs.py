"""Stand-ins and small hand-built worlds shared by several test modules.

Stub models: binary models that never train and whose prediction the test controls.

Small worlds: a SimPy clock, a chain with 12 s blocks, one `CollaborativeTrainer` ("contract",
owned by "owner") under Deposit, Refund and Take, and a pool of sparse samples, wired the way
`sumsim.engine.run` wires them.

Receipt logs: what the state machines over a trainer record of every transaction they send.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

import numpy as np
import simpy
from scipy import sparse

from sumsim.chain import Chain, Ledger, Receipt, Tx
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.data.base import Matrix
from sumsim.mechanisms.drt import DepositRefundTake
from sumsim.models import Perceptron
from sumsim.models.base import Model, UpdatePlan
from sumsim.world import Pool, World

# -- stub models ------------------------------------------------------------------------------


class FrozenModel(Model):
    """Binary stub: one-hot scores at :meth:`predict` (which subclasses define); confidence 1
    in the predicted label and 0 in the other.  Updates write nothing and it never trains."""

    kind = "stub"

    def __init__(self, n_features: int) -> None:
        super().__init__(n_features, 2)

    def predict(self, x: np.ndarray) -> int:
        raise NotImplementedError

    def scores(self, x: np.ndarray) -> np.ndarray:
        return np.eye(2)[self.predict(x)]

    def confidence(self, x: np.ndarray, label: int) -> float:
        return float(self.predict(x) == label)

    def read_slots(self, x: np.ndarray) -> int:
        return 1

    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        return UpdatePlan(0, 0, False)

    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        pass

    def scores_many(self, x: Matrix) -> np.ndarray:
        raise NotImplementedError

    def fit(self, x: Matrix, y: np.ndarray) -> Self:
        return self


class FlipModel(FrozenModel):
    """Predicts ``(bit + len(x)) % 2``; a test flips ``bit``."""

    kind = "flip"

    def __init__(self, n_features: int = 4) -> None:
        super().__init__(n_features)
        self.bit = 0

    def predict(self, x: np.ndarray) -> int:
        return (self.bit + len(x)) % 2


class VerdictModel(FrozenModel):
    """Predicts what the test says for a sample (:meth:`say`, or ``verdicts`` keyed by the
    sample's int64 bytes), ``default`` for everything else."""

    def __init__(self, n_features: int, default: int = 1) -> None:
        super().__init__(n_features)
        self.default = default
        self.verdicts: dict[bytes, int] = {}

    def say(self, x: np.ndarray, label: int) -> None:
        self.verdicts[np.asarray(x, dtype=np.int64).tobytes()] = label

    def predict(self, x: np.ndarray) -> int:
        return self.verdicts.get(np.asarray(x, dtype=np.int64).tobytes(), self.default)


# -- small worlds -----------------------------------------------------------------------------

BLOCK = 12
T_R, T_A = 60, 600
GAS_LIMIT = 1_000_000
GAS_PRICE = 1


def csr(samples: list[list[int]], n_features: int) -> sparse.csr_matrix:
    """Binary rows with ones at the given feature indices."""
    indptr, idx = [0], []
    for s in samples:
        idx += sorted(s)
        indptr.append(len(idx))
    return sparse.csr_matrix((np.ones(len(idx)), np.array(idx, dtype=np.int32),
                              np.array(indptr)), shape=(len(samples), n_features))


def perceptron_confidence(w: Sequence[int] | np.ndarray, b: int, x: list[int] | np.ndarray,
                          label: int) -> float:
    """The perceptron docstring's formula (logistic of the margin over ``sqrt(max(1, |x|))``),
    written out independently of the model."""
    margin = b + sum(int(w[i]) for i in x)
    z = margin / math.sqrt(max(1, len(x)))
    p1 = 1.0 / (1.0 + math.exp(-z))
    return p1 if label == 1 else 1.0 - p1


@dataclass
class SmallWorld:
    """The pieces of a small world; test modules subclass it with their own helpers."""

    env: simpy.Environment
    chain: Chain
    ledger: Ledger
    model: Any
    contract: CollaborativeTrainer
    pool: Pool
    world: World

    @classmethod
    def build(cls, samples: list[list[int]], labels: list[int], n_features: int, *,
              w: list[int] | None = None, b: int = 0, model: Any = None, cost_weight: int = 0,
              tx_gas_limit: int = GAS_LIMIT, funded: Sequence[str] = (), funds: int = 0,
              journal: bool = False, fork: Any = "prague") -> Self:
        """A world around ``model``, or else a perceptron with weights ``w`` and bias ``b``.

        Each of ``funded`` gets an account holding ``funds`` wei, then "owner" one holding
        nothing; the mechanism waits ``T_R`` for refunds and ``T_A`` for the owner and for
        anyone else to take.
        """
        env = simpy.Environment()
        ledger = Ledger(keep_journal=journal)
        for name in funded:
            ledger.open(name, funds)
        ledger.open("owner", 0)
        chain = Chain(env, block_time_s=BLOCK, gas_price_wei=GAS_PRICE, ledger=ledger,
                      fork=fork)
        if model is None:
            model = Perceptron(n_features)
            if w is not None:
                model.w[:] = w
            model.b = np.int64(b)
        im = DepositRefundTake(refund_wait_s=T_R, owner_claim_wait_s=T_A,
                               any_address_claim_wait_s=T_A, cost_weight=cost_weight)
        contract = CollaborativeTrainer("contract", ledger, model, im, "owner", gas=chain.gas)
        chain.deploy(contract)
        pool = Pool(csr(samples, n_features), np.array(labels))
        world = World(env, chain, "contract", pool, tx_gas_limit, n_classes=model.n_classes)
        return cls(env, chain, ledger, model, contract, pool, world)


# -- receipt logs -----------------------------------------------------------------------------

S = TypeVar("S")


@dataclass
class Logged(Generic[S]):
    tx: Tx
    receipt: Receipt
    before: S
    after: S
    agrees: bool | None  # the model's verdict on the contribution named by a refund/report


class ReceiptLog(Generic[S]):
    """Mixin for a state machine over ``trainer``: every receipt goes into ``log`` together with
    the machine's ``snapshot()`` just before and just after that transaction.

    The machine sets ``snap`` before each submission and hooks ``_on_block`` into the chain and
    ``_on_receipt`` into each transaction.
    """

    trainer: CollaborativeTrainer
    log: list[Logged[S]]
    snap: S

    def snapshot(self) -> S:
        raise NotImplementedError

    def _on_block(self, chain: Chain) -> None:
        self.snap = self.snapshot()

    def _on_receipt(self, tx: Tx, receipt: Receipt) -> None:
        agrees = None
        if tx.method in ("refund", "report"):
            rec = self.trainer.data.get(tx.args[0])
            if rec is not None:
                # refunds and reports do not train: this is the model the call saw
                agrees = self.trainer.model.predict(rec.x) == rec.y
        after = self.snapshot()
        self.log.append(Logged(tx, receipt, self.snap, after, agrees))
        self.snap = after
