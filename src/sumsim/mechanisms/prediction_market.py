"""Prediction market (bounty) mechanism, in integer wei.

Phases:

1. **Start** (provider, payable): locks the bounty, commits the hashes of ``pieces`` pieces of
   the test set and reveals the one the contract picks (from the commitments and block number),
   so contributors can check their data against part of the test set.
2. **Participation** (until ``participation_s`` after the start): each contribution stakes
   ``min_stake`` (any excess is returned); the model is *not* updated.
3. **End** (provider): reveals the other pieces; each must hash to its commitment or the call
   reverts ("Test data doesn't match the committed hash.").
4. **Rewards** (provider): rounds.  Each round starts from the initial model, replays the
   remaining contributions in order and scores each contributor by the change in the number of
   correctly classified hidden test samples its contributions cause.  The test set is evaluated
   after every contribution, or only when the contributing address changes
   (``group_by_contributor``): the scores are the same either way (the changes add up), the
   grouping only saves evaluations, as on a chain it would save gas.  If some score is
   negative, the worst scorer ``w`` is charged: a price ``p`` (wei per hidden test sample) is
   set to ``balance[w] // -score[w]`` (what ``w`` can pay), capped by the bounty's remaining
   *rounds* (the bounty, in wei, is a budget of rounds; a round at price ``p`` spends
   ``p * n_eval`` of it, as the original mechanism subtracts a round's ``num_rounds`` from the
   bounty's remaining rounds) and, when anyone gains, by ``bounty_left // sum of positive
   scores`` (gains are paid from the bounty).  Every participant's balance moves by
   ``score * p`` (losses capped at the balance), gains are paid from the bounty and losses go
   back into it, and ``w``'s contributions are removed.  When no score is negative, the
   positive scorers are paid at the price the same caps allow and the phase ends.  The integer
   division makes every round conserve money
   exactly: bounty + stakes == balances + bounty left.
5. **Collection**: each contributor withdraws its balance (``refund``); after
   ``any_address_claim_wait_s`` anyone may take an uncollected balance (``report``); the
   provider withdraws what is left of the bounty (``collect_bounty``).

The reward computation runs in one call; its gas is not modelled (on a real chain it would be
split over many calls).
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import simpy
from pydantic import Field

from sumsim.chain.chain import CallContext
from sumsim.chain.tx import Revert, Tx
from sumsim.config import Ether
from sumsim.contract.data_handler import Contribution
from sumsim.contract.mechanism import IncentiveMechanism, MechanismConfig, transaction
from sumsim.data.base import Matrix
from sumsim.models.base import Model
from sumsim.registry import Plugin

if TYPE_CHECKING:
    from sumsim.contract.trainer import CollaborativeTrainer
    from sumsim.world import World

#: The bounty provider's address (opened by the mechanism at genesis).
PROVIDER = "provider"

NOT_OPEN = "The market is not accepting contributions."
NOT_PROVIDER = "Only the bounty provider can do this."
BAD_REVEAL = "Test data doesn't match the committed hash."
WRONG_PHASE = "Not possible in this phase of the market."
TOO_EARLY = "The participation phase has not ended."
NOTHING = "There is no reward left to claim."
NOT_YOURS = "Only the contributor can collect its balance before the wait."
UNDERSTAKED = "Didn't pay enough for the stake."

INIT, PARTICIPATION, REWARD, SETTLED = "init", "participation", "reward", "settled"


class PredictionMarketConfig(MechanismConfig):
    kind: Literal["prediction_market"]
    bounty: Ether = Field(1000, description="Locked by the provider (ether).")
    min_stake: Ether = Field(1, description="Stake per contribution (ether).")
    participation_s: float = Field(30 * 86_400, gt=0)
    test_pieces: int = Field(10, ge=2, description="Pieces the test set is committed in.")
    any_address_claim_wait_s: float = Field(7 * 86_400, ge=0, description="After the reward "
                                            "phase, when anyone may take uncollected balances.")
    group_by_contributor: bool = Field(True, description="Score runs of consecutive "
                                       "contributions by one address together.")
    provider_gas: Ether = Field(1, description="Ether the provider holds for gas.")
    reveal_wrong_piece: bool = Field(False, description="The provider reveals a tampered "
                                     "piece at the end (the reveal must be rejected).")

    def reserved_addresses(self) -> set[str]:
        return {PROVIDER}


def piece_hash(x: Matrix, y: np.ndarray, salt: bytes) -> str:
    """Commitment to a test piece: sha256 over its features, labels and the provider's salt."""
    h = hashlib.sha256(salt)
    if hasattr(x, "indptr"):
        h.update(np.asarray(x.indptr, dtype=np.int64).tobytes())
        h.update(np.asarray(x.indices, dtype=np.int64).tobytes())
    else:
        h.update(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    h.update(np.asarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


@dataclass
class RoundLog:
    scores: dict[str, int]
    worst: str | None
    price: int
    bounty_left: int


@dataclass
class RewardResult:
    balances: dict[str, int]
    bounty_left: int
    rounds: list[RoundLog] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    #: The model trained on the contributions that survived (the market's product).
    model: Model | None = None


def compute_rewards(contributions: Sequence[tuple[str, np.ndarray, int]], initial: Model,
                    x_eval: Matrix, y_eval: np.ndarray, stakes: dict[str, int], bounty: int,
                    group_by_contributor: bool) -> RewardResult:
    """The reward phase as a pure function (see the module docstring for the rule)."""
    balances = dict(stakes)
    left = bounty
    rounds_left = bounty  # the bounty's rounds: each round spends price * (test samples)
    n_eval = max(1, len(y_eval))
    remaining = list(contributions)
    result = RewardResult(balances, left)
    model = initial.copy()
    while remaining:
        model = initial.copy()
        prev = int(np.sum(model.predict_many(x_eval) == y_eval))
        scores: dict[str, int] = {}
        for i, (author, x, y) in enumerate(remaining):
            model.update(x, y)
            last = i + 1 == len(remaining) or remaining[i + 1][0] != author
            if last or not group_by_contributor:
                cur = int(np.sum(model.predict_many(x_eval) == y_eval))
                scores[author] = scores.get(author, 0) + cur - prev
                prev = cur
        positive = sum(s for s in scores.values() if s > 0)
        lowest = min(scores, key=lambda a: scores[a])  # the first among equals
        worst: str | None = lowest if scores[lowest] < 0 else None
        price = rounds_left // n_eval
        if worst is not None:
            price = min(price, balances[lowest] // -scores[lowest])
        if positive:  # gains are paid from the bounty: never promise more than is left
            price = min(price, left // positive)
        rounds_left -= price * n_eval
        for a, s in scores.items():
            delta = max(s * price, -balances[a])
            balances[a] += delta
            left -= delta
        result.rounds.append(RoundLog(dict(scores), worst, price, left))
        if worst is None:
            break
        result.removed.append(worst)
        remaining = [c for c in remaining if c[0] != worst]
    result.bounty_left = left
    # After a `break`, `model` holds exactly the surviving contributions; if everyone was
    # removed, the product is the initial model.
    result.model = model if remaining else initial.copy()
    return result


class PredictionMarket(IncentiveMechanism):
    """A bounty for the contributions that most improve accuracy on a committed test set."""

    kind = "prediction_market"
    trains_on_add = False
    per_contribution = False

    def __init__(self, *, provider: str, min_stake: int, participation_s: float,
                 any_address_claim_wait_s: float, group_by_contributor: bool = True):
        self.provider = provider
        self.min_stake = min_stake
        self.participation_s = participation_s
        self.t_a = any_address_claim_wait_s
        self.group = group_by_contributor
        self.phase = INIT
        self.bounty = 0
        self.bounty_left = 0
        self.hashes: list[str] = []
        self.revealed_index = -1
        self.start_time = float("nan")
        self.reward_end = float("inf")
        self.stakes: dict[str, int] = {}
        self.balances: dict[str, int] = {}
        self.result: RewardResult | None = None
        self.config: PredictionMarketConfig | None = None

    @classmethod
    def from_config(cls, config: PredictionMarketConfig) -> PredictionMarket:
        pm = cls(provider=PROVIDER, min_stake=config.min_stake,
                 participation_s=config.participation_s,
                 any_address_claim_wait_s=config.any_address_claim_wait_s,
                 group_by_contributor=config.group_by_contributor)
        pm.config = config
        return pm

    def accounts(self) -> dict[str, int]:
        assert self.config is not None
        return {self.provider: self.config.bounty + self.config.provider_gas}

    def actors(self, world: World) -> list[Generator[simpy.Event, Any, None]]:
        assert self.config is not None and world.split is not None
        return [_provider(self.config, world, self.provider)]

    # -- transactions the market adds to the contract ---------------------------------------
    @transaction(payable=True)
    def start_market(self, contract: CollaborativeTrainer, ctx: CallContext,
                     hashes: list[str]) -> int:
        """Lock the bounty (the call's value) and commit the test pieces' hashes."""
        return int(self.start(ctx.sender, ctx.now, ctx.value, hashes, ctx.block))

    @transaction()
    def end_market(self, contract: CollaborativeTrainer, ctx: CallContext,
                   pieces: list[tuple[Any, np.ndarray]], salt: bytes) -> int:
        """Reveal the test pieces, run the reward phase and train the model on what survived."""
        from scipy import sparse

        self.check_end(ctx.sender, ctx.now)
        self.verify(pieces, salt)
        hidden = [p for i, p in enumerate(pieces) if i != self.revealed_index] or pieces
        xs = [p[0] for p in hidden]
        x_eval = sparse.vstack(xs).tocsr() if sparse.issparse(xs[0]) else np.vstack(xs)
        y_eval = np.concatenate([p[1] for p in hidden])
        recs = [r for r in contract.data.records if r.status != "rejected"]
        result = compute_rewards([(r.author, r.x, r.y) for r in recs], contract.model, x_eval,
                                 y_eval, dict(self.stakes), self.bounty_left, self.group)
        self.settle(result, ctx.now)
        for r in contract.data.records:
            r.pooled, r.claimable = r.pooled + r.claimable, 0
        if result.model is not None:
            contract.model = result.model
        return len(result.rounds)

    @transaction()
    def collect_bounty(self, contract: CollaborativeTrainer, ctx: CallContext) -> int:
        """The provider withdraws what is left of the bounty after the reward phase."""
        amount = self.check_collect_bounty(ctx.sender)
        ctx.charge(ctx.schedule.value_transfer)
        self.bounty_left = 0
        contract.pay(ctx, ctx.sender, amount, "bounty")
        return int(amount)

    # -- contract methods (called by the trainer) -------------------------------------------
    def start(self, sender: str, now: float, value: int, hashes: list[str], block: int) -> int:
        if sender != self.provider:
            raise Revert(NOT_PROVIDER)
        if self.phase != INIT:
            raise Revert(WRONG_PHASE)
        if not hashes:
            raise Revert("Commit at least one test piece.")
        seed = hashlib.sha256(("".join(hashes) + str(block)).encode()).digest()
        self.revealed_index = int.from_bytes(seed[:8], "big") % len(hashes)
        self.hashes = list(hashes)
        self.bounty = self.bounty_left = value
        self.start_time = now
        self.phase = PARTICIPATION
        return self.revealed_index

    def verify(self, pieces: Sequence[tuple[Matrix, np.ndarray]], salt: bytes) -> None:
        if len(pieces) != len(self.hashes):
            raise Revert(BAD_REVEAL)
        for (x, y), h in zip(pieces, self.hashes, strict=True):
            if piece_hash(x, y, salt) != h:
                raise Revert(BAD_REVEAL)

    def check_end(self, sender: str, now: float) -> None:
        if sender != self.provider:
            raise Revert(NOT_PROVIDER)
        if self.phase != PARTICIPATION:
            raise Revert(WRONG_PHASE)
        if now < self.start_time + self.participation_s:
            raise Revert(TOO_EARLY)

    def settle(self, result: RewardResult, now: float) -> None:
        self.result = result
        self.balances = dict(result.balances)
        self.bounty_left = result.bounty_left
        self.reward_end = now
        self.phase = SETTLED

    def check_collect_bounty(self, sender: str) -> int:
        if sender != self.provider:
            raise Revert(NOT_PROVIDER)
        if self.phase != SETTLED:
            raise Revert(WRONG_PHASE)
        if self.bounty_left <= 0:
            raise Revert(NOTHING)
        return self.bounty_left

    # -- the incentive-mechanism interface ---------------------------------------------------
    def accepting(self, now: float) -> str:
        if self.phase == INIT:
            return "not_yet"
        if self.phase == PARTICIPATION and now < self.start_time + self.participation_s:
            return "open"
        return "closed"

    def required_deposit(self, now: float) -> int:
        return self.min_stake

    def check_add(self, now: float, value: int) -> int:
        if self.accepting(now) != "open":
            raise Revert(NOT_OPEN)
        if value < self.min_stake:
            raise Revert(UNDERSTAKED)
        return self.min_stake

    def on_add(self, now: float) -> None:
        pass

    def on_stored(self, rec: Contribution) -> None:
        self.stakes[rec.author] = self.stakes.get(rec.author, 0) + rec.initial_deposit

    def check_refund(self, rec: Contribution, sender: str, now: float, agrees: bool) -> int:
        if self.phase != SETTLED:
            raise Revert(WRONG_PHASE)
        if rec.author != sender:
            raise Revert(NOT_YOURS)
        amount = self.balances.get(sender, 0)
        if amount <= 0:
            raise Revert(NOTHING)
        return amount

    def on_refund(self, rec: Contribution, sender: str, amount: int) -> None:
        self.balances[sender] -= amount

    def check_report(self, rec: Contribution, reporter: str, now: float, agrees: bool,
                     owner: str) -> int:
        if self.phase != SETTLED:
            raise Revert(WRONG_PHASE)
        if now < self.reward_end + self.t_a:
            raise Revert(NOT_YOURS)
        amount = self.balances.get(rec.author, 0)
        if amount <= 0:
            raise Revert(NOTHING)
        return amount

    def on_report(self, rec: Contribution, reporter: str, amount: int) -> None:
        self.balances[rec.author] -= amount

    def is_open(self, rec: Contribution, now: float) -> bool:
        return self.phase != SETTLED or self.balances.get(rec.author, 0) > 0

    def claim_times(self, rec: Contribution) -> tuple[float, float]:
        end = self.start_time + self.participation_s
        return (end if end == end else rec.added_time), self.reward_end + self.t_a

    def held(self) -> int:
        if self.phase == SETTLED:
            return sum(self.balances.values()) + self.bounty_left
        return self.bounty_left

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase, "bounty_wei": self.bounty,
                               "bounty_left_wei": self.bounty_left,
                               "stakes_wei": dict(sorted(self.stakes.items())),
                               "revealed_piece": self.revealed_index}
        if self.result is not None:
            out["rounds"] = [{"scores": r.scores, "charged": r.worst, "price_wei": r.price,
                              "bounty_left_wei": r.bounty_left} for r in self.result.rounds]
            out["removed"] = self.result.removed
            out["balances_after_rewards_wei"] = dict(sorted(self.result.balances.items()))
        return out


def _provider(inc: PredictionMarketConfig, world: World,
              provider: str) -> Generator[simpy.Event, Any, None]:
    """The bounty provider: commits the test pieces and locks the bounty at the start, reveals
    them when participation ends, then withdraws what is left of the bounty."""
    env, chain, sp = world.env, world.chain, world.split
    assert sp is not None
    rng = world.rng("provider")
    gas_limit = world.tx_gas_limit
    n = len(sp.y_test)
    bounds = np.linspace(0, n, inc.test_pieces + 1).astype(int)
    pieces = [(sp.x_test[a:b], sp.y_test[a:b]) for a, b in zip(bounds[:-1], bounds[1:],
                                                               strict=True)]
    salt = rng.bytes(16)
    hashes = [piece_hash(x, y, salt) for x, y in pieces]
    price = chain.gas_price_wei

    def send(method: str, args: tuple[Any, ...], value: int = 0) -> Tx:
        return chain.submit(Tx(provider, world.contract, method, args, value, gas_limit, price))

    tx = send("start_market", (hashes,), inc.bounty)
    yield env.timeout(chain.block_time_s)
    start = tx.receipt.timestamp if tx.receipt is not None else env.now
    yield env.timeout(max(0.0, start + inc.participation_s - env.now) + chain.block_time_s)
    reveal = list(pieces)
    if inc.reveal_wrong_piece:
        x0, y0 = reveal[-1]
        reveal[-1] = (x0, 1 - y0)
        bad = send("end_market", (reveal, salt))
        yield env.timeout(2 * chain.block_time_s)
        assert bad.receipt is not None and not bad.receipt.ok
        reveal = list(pieces)
    end = send("end_market", (reveal, salt))
    yield env.timeout(2 * chain.block_time_s)
    if end.receipt is not None and end.receipt.ok:
        yield env.timeout(inc.any_address_claim_wait_s + chain.block_time_s)
        send("collect_bounty", ())
        yield env.timeout(2 * chain.block_time_s)


plugin = Plugin(PredictionMarketConfig, PredictionMarket)
