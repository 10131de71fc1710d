"""Defenses on the contract's acceptance path.  Importing this package registers them."""

from sumsim.defenses.base import DefenseConfig, Flag, Gate, Verdict
from sumsim.defenses.confidence_threshold import ConfidenceThreshold, ConfidenceThresholdConfig
from sumsim.defenses.duplicate_filter import DuplicateFilter, DuplicateFilterConfig
from sumsim.defenses.rate_limit import RateLimit, RateLimitConfig
from sumsim.defenses.review_queue import ReviewQueue, ReviewQueueConfig
from sumsim.scenario.registry import register_defense

register_defense("confidence_threshold", ConfidenceThresholdConfig, ConfidenceThreshold,
                 "Reject, store untrained or review contributions the model doubts.")
register_defense("review_queue", ReviewQueueConfig, ReviewQueue,
                 "Human reviewers (a SimPy resource) vet contributions before they train.")
register_defense("duplicate_filter", DuplicateFilterConfig, DuplicateFilter,
                 "Reject contributions within a Hamming radius of a recent one.")
register_defense("rate_limit", RateLimitConfig, RateLimit,
                 "At most N contributions per address per time window.")

__all__ = [
    "ConfidenceThreshold", "ConfidenceThresholdConfig", "DefenseConfig", "DuplicateFilter",
    "DuplicateFilterConfig", "Flag", "Gate", "RateLimit", "RateLimitConfig", "ReviewQueue",
    "ReviewQueueConfig", "Verdict",
]
