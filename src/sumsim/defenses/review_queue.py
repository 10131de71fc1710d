"""Human review: reviewers as a `simpy.Resource`; contributions wait for a verdict to train.

A sampled share of all contributions (``sample_share``), and every contribution another
defense routes to review, is stored with its deposit but does not train the model until a
reviewer has looked at it.  Reviewers serve in arrival order; each review takes a time drawn
from ``service_s`` and costs ``cost_per_review`` (ether, off-chain labour, not paid on-chain).
A reviewer judges correctly with probability ``accuracy``: an approved contribution then trains
the model; a rejected one forfeits its deposit to ``forfeit_to``: the owner (when the owner is the
contract itself, the default as deployed, the deposit stays locked in the contract, claimable
by nobody) or the fee sink (burnt, as far as the participants are concerned).  While under
review a contribution can be neither refunded nor reported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import simpy
from pydantic import Field

from sumsim.chain.chain import FEE_SINK
from sumsim.config import Distribution, Ether, Exponential
from sumsim.defenses.base import DefenseConfig, Gate, Verdict
from sumsim.errors import FieldError
from sumsim.registry import Plugin

if TYPE_CHECKING:
    from sumsim.chain.chain import CallContext
    from sumsim.contract.data_handler import Contribution
    from sumsim.world import World


class ReviewQueueConfig(DefenseConfig):
    """Human reviewers vetting a share of contributions (and those other defenses flag)."""

    kind: Literal["review_queue"]
    provides: ClassVar[frozenset[str]] = frozenset({"review"})
    capacity: int = Field(1, ge=1, description="Reviewers working in parallel.")
    service_s: Distribution = Field(
        default_factory=lambda: Exponential(dist="exponential", mean=1800),
        description="Time one review takes.")
    accuracy: float = Field(0.95, ge=0, le=1, description="Chance a reviewer judges right.")
    cost_per_review: Ether = Field(  # type: ignore[assignment]
        "0.5", description="Ether per review (off-chain cost).")
    sample_share: float = Field(0.0, ge=0, le=1, description="Share of all contributions "
                                "sent to review (besides those other defenses flag).")
    forfeit_to: Literal["owner", "fee_sink"] = Field(
        "owner", description="Who receives a rejected contribution's deposit: the owner "
        "(locked in the contract when the contract owns itself) or the fee sink.")

    def check_scenario(self, scenario: Any, at: tuple[str | int, ...]) -> None:
        first = next(i for i, d in enumerate(scenario.defenses) if d.kind == self.kind)
        if at[-1] != first:
            raise FieldError("at most one review_queue defense", *at, "kind")


class ReviewQueue(Gate):
    config: ReviewQueueConfig

    def wire(self, world: World) -> None:
        self.env = world.env
        self.chain = world.chain
        self.contract = world.trainer
        self.truth = world.truth
        self.rng = world.rng("defense:" + self.name)
        self.recipient = world.owner if self.config.forfeit_to == "owner" else FEE_SINK
        self.reviewers = simpy.Resource(self.env, capacity=self.config.capacity)
        self.contract.reviewer = self
        self.reviews = 0
        self.approved = 0
        self.rejected = 0
        self.wrong_verdicts = 0
        self.waits: list[float] = []
        self._waits_since_sample: list[float] = []
        #: Deposits forfeited on rejection, by author.
        self.forfeited_by: dict[str, int] = {}

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        share = self.config.sample_share
        if share and self.rng.random() < share:
            return Verdict.REVIEW, ""
        return Verdict.ACCEPT, ""

    def enqueue(self, rec: Contribution) -> None:
        self.env.process(self._review(rec))

    def _review(self, rec: Contribution):  # type: ignore[no-untyped-def]
        arrived = self.env.now
        with self.reviewers.request() as req:
            yield req
            wait = self.env.now - arrived
            self.waits.append(wait)
            self._waits_since_sample.append(wait)
            yield self.env.timeout(self.config.service_s.sample(self.rng))
        true = self.truth(rec.id)
        correct_label = true is None or rec.y == true
        right = self.rng.random() < self.config.accuracy
        approve = correct_label if right else not correct_label
        self.reviews += 1
        self.wrong_verdicts += not right
        if approve:
            self.approved += 1
        else:
            self.rejected += 1
        self.forfeited_by[rec.author] = self.forfeited_by.get(rec.author, 0) + (
            0 if approve else rec.claimable)
        self.contract.resolve_review(rec.id, approve, self.recipient,
                                     self.chain.transfer_outside_tx)

    @property
    def queue_length(self) -> int:
        return len(self.reviewers.queue)

    def cost_wei(self) -> int:
        return self.reviews * self.config.cost_per_review

    def sample(self) -> dict[str, Any]:
        waits, self._waits_since_sample = self._waits_since_sample, []
        return {"review_queue": self.queue_length + self.reviewers.count,
                "review_wait_mean_s": float(np.mean(waits)) if waits else None}

    def metrics(self, attackers: frozenset[str]) -> dict[str, Any]:
        w = np.array(self.waits) if self.waits else np.zeros(0)
        honest = sum(v for a, v in self.forfeited_by.items() if a not in attackers)
        return {"honest_deposits_forfeited_wei": honest, "reviews": self.reviews,
                "approved": self.approved, "rejected": self.rejected,
                "wrong_verdicts": self.wrong_verdicts, "cost_wei": self.cost_wei(),
                "wait_mean_s": float(w.mean()) if w.size else None,
                "wait_max_s": float(w.max()) if w.size else None,
                "still_queued": self.queue_length + self.reviewers.count}


plugin = Plugin(
    ReviewQueueConfig, ReviewQueue,
    "Human reviewers (a SimPy resource) vet contributions before they train.")
