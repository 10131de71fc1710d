"""IMDB top-1000 word presence: the three models against the original authors' figures.

Initial-model rule (the off-chain fit): the training reviews are shuffled with a seeded
permutation (the archive lists them by label), then the perceptron makes 5 passes of its online
rule from zero weights; naive Bayes and nearest centroid are fit on counts / means.  Targets:
perceptron 77-84% (the authors report 79.45% with their tokenizer), naive Bayes >= 81%
(83.2%), nearest centroid 72-77% (74.5%).
"""

from __future__ import annotations

import numpy as np
import pytest

from sumsim.models import NaiveBayes, NearestCentroid, Perceptron

pytestmark = pytest.mark.imdb


@pytest.fixture(scope="module")
def shuffled(imdb_real):  # type: ignore[no-untyped-def]
    order = np.random.default_rng(113).permutation(imdb_real.x_train.shape[0])
    return imdb_real, imdb_real.x_train[order], imdb_real.y_train[order]


def test_perceptron_accuracy_on_imdb(shuffled) -> None:  # type: ignore[no-untyped-def]
    ds, x, y = shuffled
    acc = Perceptron(ds.n_features, epochs=5).fit(x, y).accuracy(ds.x_test, ds.y_test)
    assert 0.77 <= acc <= 0.84, acc


def test_naive_bayes_accuracy_on_imdb(shuffled) -> None:  # type: ignore[no-untyped-def]
    ds, x, y = shuffled
    acc = NaiveBayes(ds.n_features).fit(x, y).accuracy(ds.x_test, ds.y_test)
    assert acc >= 0.81, acc


def test_nearest_centroid_accuracy_on_imdb(shuffled) -> None:  # type: ignore[no-untyped-def]
    ds, x, y = shuffled
    acc = NearestCentroid(ds.n_features).fit(x, y).accuracy(ds.x_test, ds.y_test)
    assert 0.72 <= acc <= 0.77, acc
