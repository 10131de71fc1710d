"""Confidence threshold: distrust contributions the current model finds unlikely.

A contribution is flagged when the model's confidence in the submitted label is below
``threshold`` (with ``threshold = 1`` every contribution the model is not certain of is flagged;
with ``0`` none is).  A flagged contribution is rejected (the call reverts), accepted without
training, or sent to the review queue, as ``action`` says.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from pydantic import Field

from sumsim.defenses.base import DefenseConfig, Gate, Verdict

if TYPE_CHECKING:
    from sumsim.chain.chain import CallContext
    from sumsim.engine import Wiring

REJECTED = "Rejected: the model's confidence in this label is below the threshold."


class ConfidenceThresholdConfig(DefenseConfig):
    kind: Literal["confidence_threshold"]
    threshold: float = Field(0.2, ge=0, le=1)
    action: Literal["reject", "accept_without_training", "review"] = "reject"


class ConfidenceThreshold(Gate):
    config: ConfidenceThresholdConfig
    reason = REJECTED

    def wire(self, wiring: Wiring) -> None:
        self.model = wiring.contract.model

    def check(self, ctx: CallContext, x: np.ndarray, y: int) -> tuple[Verdict, str]:
        if self.model.confidence(x, y) >= self.config.threshold:
            return Verdict.ACCEPT, ""
        action = self.config.action
        if action == "reject":
            return Verdict.REJECT, REJECTED
        if action == "review":
            return Verdict.REVIEW, ""
        return Verdict.NO_TRAIN, ""
