"""Confidence threshold: distrust contributions the current model finds unlikely.

A contribution is flagged when the model's confidence in the submitted label is below
``threshold`` (with ``threshold = 1`` every contribution the model is not certain of is flagged;
with ``0`` none is).  A flagged contribution is rejected (the call reverts), accepted without
training, or sent to the review queue, as ``action`` says.

A threshold can lock a model in: once an attack has dragged the model far from the truth,
honest data it now disagrees with is flagged, while an online learner such as the perceptron
learns only from data it gets wrong.  Rejected, that data cannot pull the model back, and
accuracy may stay low long after the attack.  Compare runs with and without the defense (the
counterfactual keeps the defense, so its damage does not show this cost).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field

from sumsim.defenses.base import DefenseConfig, Gate, Verdict
from sumsim.errors import FieldError
from sumsim.registry import Plugin

if TYPE_CHECKING:
    from sumsim.chain.chain import CallContext
    from sumsim.world import World

REJECTED = "Rejected: the model's confidence in this label is below the threshold."


class ConfidenceThresholdConfig(DefenseConfig):
    kind: Literal["confidence_threshold"]
    threshold: float = Field(0.2, ge=0, le=1, description="Flag a contribution when the "
                             "model's confidence in its label is below this.")
    action: Literal["reject", "accept_without_training", "review"] = Field(
        "reject", description="What happens to a flagged contribution: the call reverts, it "
        "is stored untrained, or it goes to the review queue.")

    def check_scenario(self, scenario: Any, at: tuple[str | int, ...]) -> None:
        if self.action == "review" and not any("review" in d.provides
                                               for d in scenario.defenses):
            raise FieldError("'review' needs a review_queue defense", *at, "action")


class ConfidenceThreshold(Gate):
    config: ConfidenceThresholdConfig
    reason = REJECTED

    def wire(self, world: World) -> None:
        self.model = world.trainer.model

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        if self.model.confidence(x, y) >= self.config.threshold:
            return Verdict.ACCEPT, ""
        action = self.config.action
        if action == "reject":
            return Verdict.REJECT, REJECTED
        if action == "review":
            return Verdict.REVIEW, ""
        return Verdict.NO_TRAIN, ""


plugin = Plugin(
    ConfidenceThresholdConfig, ConfidenceThreshold,
    "Reject, store untrained or review contributions the model doubts.")
