"""On-chain-style online classifiers.  Each module holds one model and its ``plugin``."""

from __future__ import annotations

from sumsim.models.base import Model, ModelConfig, UpdatePlan
from sumsim.models.naive_bayes import NaiveBayes
from sumsim.models.nearest_centroid import NearestCentroid
from sumsim.models.perceptron import Perceptron

__all__ = ["Model", "ModelConfig", "NaiveBayes", "NearestCentroid", "Perceptron", "UpdatePlan"]
