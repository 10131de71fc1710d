"""On-chain-style online classifiers and their registry."""

from __future__ import annotations

from sumsim.models.base import Model, UpdatePlan
from sumsim.models.naive_bayes import NaiveBayes
from sumsim.models.nearest_centroid import NearestCentroid
from sumsim.models.perceptron import Perceptron

MODELS: dict[str, type[Model]] = {
    "perceptron": Perceptron,
    "naive_bayes": NaiveBayes,
    "nearest_centroid": NearestCentroid,
}

__all__ = ["MODELS", "Model", "NaiveBayes", "NearestCentroid", "Perceptron", "UpdatePlan"]
