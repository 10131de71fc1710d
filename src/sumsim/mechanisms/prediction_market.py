"""Prediction market (bounty) mechanism, in integer wei.

Phases:

1. **Start** (provider, payable): locks the bounty, commits the hashes of ``pieces`` pieces of
   the test set and reveals the one the contract picks (from the commitments and block number),
   so contributors can check their data against part of the test set.
2. **Participation** (until ``participation_s`` after the start): each contribution stakes
   ``min_stake`` (any excess is returned); the model is *not* updated.
3. **End** (provider): reveals the other pieces; each must hash to its commitment or the call
   reverts ("Test data doesn't match the committed hash.").
4. **Rewards** (provider): rounds, run by :func:`compute_rewards`.  A *participant* is one
   contribution (``scoring = "per_contribution"``, the default) or one address with all its
   contributions (``"per_contributor"``); its stake is its contributions' deposits and its
   balance starts at its stake.  Each round replays the remaining contributions in order and
   scores every participant by the change in the number of correctly classified hidden test
   samples its contributions cause, measured after each contribution (per contribution) or
   after each run of consecutive contributions by one address (per contributor).  With
   ``replay = "cached"`` (the default) the accuracy after each contribution is measured once,
   in the first round with every contribution present, and later rounds score a contribution
   against the cached accuracy of the previous remaining one; with ``"fresh"`` each round
   retrains from the initial model.  Every round starts from the initial model's accuracy.

   The *worst* participant is the lowest scorer; among equals, the one that reached that score
   first during the replay (``tie_break = "first_reached"``: the worst is tracked as the
   replay goes: a participant whose score drops below the lowest so far becomes the worst;
   when the worst is scored again without dropping below it, the lowest so far takes its
   place, the first in order of appearance among equals) or the first in order of appearance
   (``"first_listed"``).  The round's price
   ``p`` (wei per hidden test sample) is capped by

   - the bounty's remaining *rounds*: the bounty, in wei, is a budget of rounds, and a round at
     price ``p`` spends ``p * n_eval`` of it;
   - when the worst score is negative, ``balance[worst] // -score[worst]`` (what it can pay);
   - solvency: the gains ``p * (sum of positive scores)`` must not exceed the bounty left plus
     the losses collected in the same round (the largest such integer ``p``).

   Every participant's balance moves by ``score * p`` (a loss is capped at the balance); gains
   are paid from the bounty and losses go back into it.  When no score is negative the phase
   ends.  When the round spent the bounty's rounds (fewer than ``n_eval`` wei of rounds are
   left) it ends too (``after_rounds = "stop"``), or it goes on removing participants at price
   0 (``"continue"``).  Otherwise the worst is removed, together with every participant whose
   balance is now below its stake (``removal = "below_stake"``) or alone (``"worst"``), and
   the next round begins.  Integer division makes every round conserve money exactly:
   bounty + stakes == balances + bounty left.
5. **Collection**: a contributor withdraws its balance, the sum of its participants' balances
   (``refund`` on any of its contributions, as in the original); after
   ``any_address_claim_wait_s`` anyone may take an uncollected balance (``report``); the
   provider withdraws what is left of the bounty (``collect_bounty``).

The defaults are the original paper's setting.  ``docs/mechanisms/prediction-market.md`` lists
every difference from the original 0xDeCA10B market, with worked examples.  The reward
computation runs in one call; its gas is not modelled (on a real chain it would be split over
many calls).
"""

from __future__ import annotations

import hashlib
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import numpy as np
import simpy
from pydantic import Field

from sumsim.chain.chain import CallContext
from sumsim.chain.tx import Revert, Tx
from sumsim.config import Ether
from sumsim.contract.data_handler import Contribution
from sumsim.contract.mechanism import IncentiveMechanism, MechanismConfig, transaction
from sumsim.data.base import Matrix
from sumsim.errors import InputError
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

Scoring = Literal["per_contribution", "per_contributor"]
Removal = Literal["below_stake", "worst"]
AfterRounds = Literal["stop", "continue"]
Replay = Literal["cached", "fresh"]
TieBreak = Literal["first_reached", "first_listed"]


class PredictionMarketConfig(MechanismConfig):
    kind: Literal["prediction_market"]
    bounty: Ether = Field(1000, description="Locked by the provider (ether).")
    min_stake: Ether = Field(1, description="Stake per contribution (ether).")
    participation_s: int = Field(30 * 86_400, gt=0, description="Length of the participation "
                                 "phase, from the market's start (whole seconds).")
    test_pieces: int = Field(10, ge=2, le=10_000,
                             description="Pieces the test set is committed in.")
    any_address_claim_wait_s: int = Field(7 * 86_400, ge=0, description="After the reward "
                                          "phase, when anyone may take uncollected balances "
                                          "(whole seconds).")
    scoring: Scoring = Field("per_contribution", description="Who is scored, staked, charged "
                             "and removed: each contribution, or each address with all its "
                             "contributions.")
    removal: Removal = Field("below_stake", description="After a round, remove the worst "
                             "scorer and everyone whose balance fell below its stake, or the "
                             "worst scorer only.")
    after_rounds: AfterRounds = Field("stop", description="When the bounty's rounds are spent: "
                                      "end the reward phase, or keep removing the worst "
                                      "scorers at price 0.")
    replay: Replay = Field("cached", description="Score later rounds from the accuracies "
                           "measured once in the first round, or retrain from the initial "
                           "model every round.")
    tie_break: TieBreak = Field("first_reached", description="Among equal worst scores, charge "
                                "the one that reached it first during the replay, or the first "
                                "in order.")
    provider_gas: Ether = Field(1, description="Ether the provider holds for gas.")
    reveal_wrong_piece: bool = Field(False, description="The provider reveals a tampered "
                                     "piece at the end (the reveal must be rejected).")

    def reserved_addresses(self) -> set[str]:
        return {PROVIDER}

    def rules(self) -> MarketRules:
        return MarketRules(self.scoring, self.removal, self.after_rounds, self.replay,
                           self.tie_break)


@dataclass(frozen=True)
class MarketRules:
    """The reward phase's options (see the module docstring); the defaults are the paper's."""

    scoring: Scoring = "per_contribution"
    removal: Removal = "below_stake"
    after_rounds: AfterRounds = "stop"
    replay: Replay = "cached"
    tie_break: TieBreak = "first_reached"


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


class Entry(NamedTuple):
    """One contribution in the reward phase."""

    author: str
    x: np.ndarray
    y: int
    stake: int


#: A participant: a contribution's index in the replayed sequence, or an address.
Unit = int | str


@dataclass
class RoundLog:
    scores: dict[Unit, int]
    worst: Unit | None  # the participant charged (None: nobody scored negative)
    price: int
    bounty_left: int
    removed: list[Unit] = field(default_factory=list)


@dataclass
class RewardResult:
    #: Participant -> balance after the reward phase (collected by its author).
    balances: dict[Unit, int]
    stakes: dict[Unit, int]
    bounty_left: int
    rounds: list[RoundLog] = field(default_factory=list)
    #: Participants removed, in the order they were.
    removed: list[Unit] = field(default_factory=list)
    #: Indices of the contributions that survived, in order.
    kept: list[int] = field(default_factory=list)
    #: The initial model trained on the contributions that survived (the market's product).
    model: Model | None = None


def _correct(model: Model, x_eval: Matrix, y_eval: np.ndarray) -> int:
    return int(np.sum(model.predict_many(x_eval) == y_eval))


class _Worst:
    """The worst participant of a round, tracked as the replay scores them."""

    def __init__(self, tie_break: TieBreak) -> None:
        self.first_reached = tie_break == "first_reached"
        self.unit: Unit | None = None
        self.low = 0

    def scored(self, scores: dict[Unit, int], unit: Unit) -> None:
        if not self.first_reached:
            return
        s = scores[unit]
        if self.unit is None or s < self.low:
            self.unit, self.low = unit, s
        elif unit == self.unit:
            # scored again without dropping below the lowest: the lowest so far takes its
            # place, the first in order of appearance among equals
            self.unit = min(scores, key=scores.__getitem__)
            self.low = scores[self.unit]

    def final(self, scores: dict[Unit, int]) -> Unit:
        if self.unit is None:
            return min(scores, key=scores.__getitem__)
        return self.unit


def _solvent_price(price: int, scores: dict[Unit, int], balances: dict[Unit, int],
                   left: int) -> int:
    """The largest integer price up to ``price`` at which the gains can be paid from the bounty
    left plus the losses collected at that price.  The slack ``left + losses(p) - gains(p)`` is
    concave in ``p`` and ``left >= 0`` at ``p = 0``, so the prices that pass form an interval
    from 0: a bisection finds its end."""
    gain = sum(s for s in scores.values() if s > 0)
    if not gain:
        return price
    harm = [(-s, balances[u]) for u, s in scores.items() if s < 0]

    def solvent(p: int) -> bool:
        return p * gain <= left + sum(min(p * h, b) for h, b in harm)

    if solvent(price):
        return price
    lo, hi = 0, price  # solvent(lo), not solvent(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if solvent(mid) else (lo, mid)
    return lo


class _Replay:
    """The correct counts a round scores with: measured once after each contribution with
    every contribution present (cached), or by retraining the initial model on the remaining
    contributions in order (fresh)."""

    def __init__(self, contributions: Sequence[Entry], initial: Model, x_eval: Matrix,
                 y_eval: np.ndarray, cached: bool) -> None:
        self.contributions, self.initial = contributions, initial
        self.x_eval, self.y_eval = x_eval, y_eval
        self.cached: list[int] | None = None
        if cached:
            model = initial.copy()
            self.cached = []
            for c in contributions:
                model.update(c.x, c.y)
                self.cached.append(_correct(model, x_eval, y_eval))

    def correct(self, alive: list[int], points: list[int]) -> dict[int, int]:
        """The correct count after each contribution in ``points`` (a subset of ``alive``)."""
        if self.cached is not None:
            return {i: self.cached[i] for i in points}
        model, at, out = self.initial.copy(), set(points), {}
        for i in alive:
            model.update(self.contributions[i].x, self.contributions[i].y)
            if i in at:
                out[i] = _correct(model, self.x_eval, self.y_eval)
        return out


def compute_rewards(contributions: Sequence[Entry], initial: Model, x_eval: Matrix,
                    y_eval: np.ndarray, bounty: int,
                    rules: MarketRules = MarketRules()) -> RewardResult:
    """The reward phase as a pure function (see the module docstring for the rule)."""
    per_contribution = rules.scoring == "per_contribution"
    unit: list[Unit] = [i if per_contribution else c.author for i, c in enumerate(contributions)]
    stakes: dict[Unit, int] = {}
    for u, c in zip(unit, contributions, strict=True):
        stakes[u] = stakes.get(u, 0) + c.stake
    balances = dict(stakes)
    left = rounds_left = bounty  # money, and the bounty's rounds (price * n_eval per round)
    n_eval = max(1, len(y_eval))
    base = _correct(initial, x_eval, y_eval)
    replay = _Replay(contributions, initial, x_eval, y_eval, rules.replay == "cached")
    alive = list(range(len(contributions)))
    result = RewardResult(balances, stakes, left)
    while alive:
        # -- replay: score every remaining participant ----------------------------------------
        # measured after each contribution, or after each run of one address's
        points = [i for k, i in enumerate(alive) if per_contribution or k + 1 == len(alive)
                  or unit[alive[k + 1]] != unit[i]]
        correct = replay.correct(alive, points)
        scores: dict[Unit, int] = {}
        tracker = _Worst(rules.tie_break)
        prev = base
        for i in points:
            scores[unit[i]] = scores.get(unit[i], 0) + correct[i] - prev
            prev = correct[i]
            tracker.scored(scores, unit[i])
        worst = tracker.final(scores)
        low = scores[worst]
        # -- price and money --------------------------------------------------------------------
        price = rounds_left // n_eval
        if low < 0:
            price = min(price, balances[worst] // -low)
        price = _solvent_price(price, scores, balances, left)
        rounds_left -= price * n_eval
        for u, s in scores.items():
            delta = max(s * price, -balances[u])
            balances[u] += delta
            left -= delta
        log = RoundLog(dict(scores), worst if low < 0 else None, price, left)
        result.rounds.append(log)
        if low >= 0 or (rounds_left < n_eval and rules.after_rounds == "stop"):
            break
        # -- removal ------------------------------------------------------------------------------
        out = {worst}
        if rules.removal == "below_stake":
            out |= {u for u in scores if balances[u] < stakes[u]}
        log.removed = [u for u in scores if u in out]
        result.removed += log.removed
        alive = [i for i in alive if unit[i] not in out]
    result.bounty_left = left
    result.kept = alive
    product = initial.copy()
    for i in alive:
        product.update(contributions[i].x, contributions[i].y)
    result.model = product
    return result


class PredictionMarket(IncentiveMechanism):
    """A bounty for the contributions that most improve accuracy on a committed test set."""

    kind = "prediction_market"
    trains_on_add = False
    #: Balances are the market's, one per address (the sum of its participants' balances);
    #: a record keeps its deposit's history (``pooled``) and is never debited by a claim.
    per_contribution = False

    def __init__(self, *, provider: str, min_stake: int, participation_s: float,
                 any_address_claim_wait_s: float, rules: MarketRules = MarketRules()):
        self.provider = provider
        self.min_stake = min_stake
        self.participation_s = participation_s
        self.t_a = any_address_claim_wait_s
        self.rules = rules
        self.phase = INIT
        self.bounty = 0
        self.bounty_left = 0
        #: What the provider took back of the bounty after the reward phase.
        self.bounty_returned = 0
        self.hashes: list[str] = []
        self.revealed_index = -1
        self.start_time = float("nan")
        self.reward_end = float("inf")
        #: Stakes the market holds, by author (less what review rejections forfeited).
        self.stakes: dict[str, int] = {}
        #: Balances by address after the reward phase, less what was collected.
        self.balances: dict[str, int] = {}
        #: Ids of the records that took part in the reward phase, in order.
        self.entered: list[int] = []
        self.author_of: list[str] = []
        self.result: RewardResult | None = None
        self.config: PredictionMarketConfig | None = None

    @classmethod
    def from_config(cls, config: PredictionMarketConfig) -> PredictionMarket:
        pm = cls(provider=PROVIDER, min_stake=config.min_stake,
                 participation_s=config.participation_s,
                 any_address_claim_wait_s=config.any_address_claim_wait_s,
                 rules=config.rules())
        pm.config = config
        return pm

    def accounts(self) -> dict[str, int]:
        assert self.config is not None
        return {self.provider: self.config.bounty + self.config.provider_gas}

    def actors(self, world: World) -> list[Generator[simpy.Event, Any, None]]:
        assert self.config is not None and world.split is not None
        n, k = len(world.split.y_test), self.config.test_pieces
        if k > n:  # (an empty piece scores nobody: no reward, no charge)
            raise InputError(f"{k} pieces of {n} test samples: every piece needs at least one "
                             "sample (fewer pieces, or more test data)",
                             field="incentive.test_pieces")
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
        # A record's stake is what it still holds: a deposit forfeited by a review rejection
        # left the contract and takes no part (nor does its data).
        recs = [r for r in contract.data.records if r.status != "rejected"]
        result = compute_rewards([Entry(r.author, r.x, r.y, r.claimable) for r in recs],
                                 contract.model, x_eval, y_eval, self.bounty_left, self.rules)
        self.settle(result, ctx.now)
        self.entered = [r.id for r in recs]
        self.author_of = [r.author for r in recs]
        for r in recs:
            r.pooled, r.claimable = r.pooled + r.claimable, 0
        self.balances = self._by_author(result.balances)
        if result.model is not None:
            contract.model = result.model
        return len(result.rounds)

    @transaction()
    def collect_bounty(self, contract: CollaborativeTrainer, ctx: CallContext) -> int:
        """The provider withdraws what is left of the bounty after the reward phase."""
        amount = self.check_collect_bounty(ctx.sender)
        ctx.charge(ctx.gas.fork.value_transfer())
        self.bounty_left = 0
        self.bounty_returned += amount
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

    def owed(self, rec: Contribution) -> int:
        """What collecting through ``rec`` pays: its author's balance (0 before the reward
        phase)."""
        return self.balances.get(rec.author, 0) if self.phase == SETTLED else 0

    def check_refund(self, rec: Contribution, sender: str, now: float, agrees: bool) -> int:
        if self.phase != SETTLED:
            raise Revert(WRONG_PHASE)
        if rec.author != sender:
            raise Revert(NOT_YOURS)
        amount = self.owed(rec)
        if amount <= 0:
            raise Revert(NOTHING)
        return amount

    def on_refund(self, rec: Contribution, sender: str, amount: int) -> None:
        self.balances[rec.author] -= amount

    def check_report(self, rec: Contribution, reporter: str, now: float, agrees: bool,
                     owner: str) -> int:
        if self.phase != SETTLED:
            raise Revert(WRONG_PHASE)
        if now < self.reward_end + self.t_a:
            raise Revert(NOT_YOURS)
        amount = self.owed(rec)
        if amount <= 0:
            raise Revert(NOTHING)
        return amount

    def on_report(self, rec: Contribution, reporter: str, amount: int) -> None:
        # the author's balance is taken, whoever reports
        self.balances[rec.author] -= amount

    def on_forfeit(self, rec: Contribution, amount: int) -> None:
        # Before the reward phase the stake leaves the market with the record; after it the
        # record holds nothing (its stake is in its author's balance), so nothing moves.
        self.stakes[rec.author] -= amount

    def is_open(self, rec: Contribution, now: float) -> bool:
        return self.phase != SETTLED or self.owed(rec) > 0

    def claim_times(self, rec: Contribution) -> tuple[float, float]:
        end = self.start_time + self.participation_s
        return (end if end == end else rec.added_time), self.reward_end + self.t_a

    def held(self) -> int:
        if self.phase == SETTLED:
            return sum(self.balances.values()) + self.bounty_left
        return self.bounty_left

    def _name(self, unit: Unit) -> Unit:
        """A participant as the summary names it: an address, or a contribution's id."""
        return self.entered[unit] if isinstance(unit, int) else unit

    def _by_author(self, values: dict[Unit, int]) -> dict[str, int]:
        out: dict[str, int] = {}
        for u, v in values.items():
            a = self.author_of[u] if isinstance(u, int) else u
            out[a] = out.get(a, 0) + v
        return dict(sorted(out.items()))

    def summary(self) -> dict[str, Any]:
        """Scores and balances are summed by address; ``charged`` and ``removed`` name
        contribution ids per contribution, addresses per contributor."""
        out: dict[str, Any] = {"phase": self.phase, "scoring": self.rules.scoring,
                               "bounty_wei": self.bounty, "bounty_left_wei": self.bounty_left,
                               "bounty_returned_wei": self.bounty_returned,
                               "stakes_wei": dict(sorted(self.stakes.items())),
                               "revealed_piece": self.revealed_index}
        res = self.result
        if res is not None:
            out["rounds"] = [{"scores": self._by_author(r.scores),
                              "charged": None if r.worst is None else self._name(r.worst),
                              "price_wei": r.price, "bounty_left_wei": r.bounty_left,
                              "removed": len(r.removed)} for r in res.rounds]
            out["removed"] = [self._name(u) for u in res.removed]
            out["balances_after_rewards_wei"] = self._by_author(res.balances)
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

    def send(method: str, args: tuple[Any, ...], value: int = 0) -> Tx:
        # Under a moving base fee the provider bids as wallets do, a max fee up to twice the
        # base fee when it sends (capped at the highest the base fee can reach), with no tip:
        # it pays the base fee of its block.  A bid at the bare base fee could sit under a
        # base fee that rises before its block, and the market's phases would wait in the
        # mempool.  (Never more than its balance pays for: a bid it cannot cover would be
        # rejected.)
        price, tip = chain.gas_price_wei, None
        if chain.fees.moves:
            affordable = (chain.ledger.balances.get(provider, 0) - value) // gas_limit
            bid = chain.fees.bid_base_fees * price  # (as a wallet bids: Agent.gas_price)
            price = max(price, min(bid, getattr(chain.fees, "max_wei", bid), affordable))
            tip = 0
        return chain.submit(Tx(provider, world.contract, method, args, value, gas_limit,
                               price, priority_fee=tip))

    def mined(tx: Tx) -> Generator[simpy.Event, Any, None]:
        """Wait two slots, then slot by slot until ``tx`` is in a block (under a moving base
        fee it waits in the mempool while the base fee is above its bid)."""
        yield env.timeout(2 * chain.block_time_s)
        while tx.receipt is None:
            yield env.timeout(chain.block_time_s)

    tx = send("start_market", (hashes,), inc.bounty)
    yield env.timeout(chain.block_time_s)
    start = tx.receipt.timestamp if tx.receipt is not None else env.now
    yield env.timeout(max(0.0, start + inc.participation_s - env.now) + chain.block_time_s)
    reveal = list(pieces)
    if inc.reveal_wrong_piece:
        x0, y0 = reveal[-1]
        reveal[-1] = (x0, 1 - y0)
        bad = send("end_market", (reveal, salt))
        yield from mined(bad)
        assert bad.receipt is not None and not bad.receipt.ok
        reveal = list(pieces)
    end = send("end_market", (reveal, salt))
    yield from mined(end)
    if end.receipt is not None and end.receipt.ok:
        yield env.timeout(inc.any_address_claim_wait_s + chain.block_time_s)
        yield from mined(send("collect_bounty", ()))


plugin = Plugin(PredictionMarketConfig, PredictionMarket)
