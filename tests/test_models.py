"""The online models against scikit-learn, their update rules, gas slot reports and confidences.

Data are generated here with a seeded generator: sparse binary "bag of words" samples whose word
probabilities depend on the class (a block of indicative words per class), and dense
non-negative samples (integer counts for naive Bayes, real values for nearest centroid).

scikit-learn oracles:
- ``MultinomialNB(alpha=1.0)``: identical predictions and posteriors;
- ``NearestCentroid()``: identical predictions;
- ``Perceptron(shuffle=False, max_iter=1, tol=None, eta0=1.0)`` (``SGDClassifier`` with the
  perceptron loss, constant learning rate and no penalty), fitted on *dense* arrays: on sparse
  input its SGD scales every intercept step by ``intercept_decay=0.01``, a different rule.  Its
  tie handling differs from ours (see ``test_perceptron_tie_handling_differs_from_sklearn``), so
  from zero weights the two only agree approximately; with a non-integer initial bias no score
  is ever exactly zero and the two rules coincide exactly.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Perceptron as SkPerceptron
from sklearn.naive_bayes import MultinomialNB
from sklearn.neighbors import NearestCentroid as SkNearestCentroid

import sumsim.registry as registry
from sumsim.data.base import row, rows, to_binary_csr
from sumsim.models import NaiveBayes, NearestCentroid, Perceptron, UpdatePlan
from sumsim.models.nearest_centroid import SCALE

N_FEATURES = 200
N_TRAIN = 2000
N_TEST = 1000


# -- data -------------------------------------------------------------------------------------


def make_sparse(
    seed: int,
    n: int,
    *,
    n_classes: int = 2,
    boost: float = 3.0,
    n_indicative: int = 25,
) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Binary bag-of-words samples; each class has a block of words ``boost`` times as likely."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.02, 0.12, size=N_FEATURES)
    probs = np.tile(base, (n_classes, 1))
    indicative = rng.permutation(N_FEATURES)[: n_classes * n_indicative]
    for k, words in enumerate(indicative.reshape(n_classes, n_indicative)):
        probs[k, words] *= boost
    y = rng.integers(0, n_classes, size=n)
    x = rng.random((n, N_FEATURES)) < probs[y]
    return to_binary_csr(sparse.csr_matrix(x)), y


def split(x, y):
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


@pytest.fixture(scope="module")
def binary_data():
    """2000 training and 1000 test samples, two classes, a learnable but not trivial problem."""
    return split(*make_sparse(1, N_TRAIN + N_TEST))


@pytest.fixture(scope="module")
def three_class_data():
    return split(*make_sparse(2, N_TRAIN + N_TEST, n_classes=3))


@pytest.fixture(scope="module")
def separable_data():
    """A nearly separable problem, on which a single perceptron pass is ~99.5% accurate."""
    return split(*make_sparse(3, N_TRAIN + N_TEST, boost=6.0, n_indicative=40))


@pytest.fixture(scope="module")
def count_data():
    """Dense non-negative integer counts (word frequencies), three classes."""
    rng = np.random.default_rng(4)
    rates = rng.gamma(1.0, 0.5, size=(3, 50))
    y = rng.integers(0, 3, size=N_TRAIN + N_TEST)
    x = rng.poisson(rates[y]).astype(np.float64)
    return split(x, y)


@pytest.fixture(scope="module")
def real_data():
    """Dense non-negative real-valued features, two classes."""
    rng = np.random.default_rng(5)
    means = rng.uniform(0.5, 2.0, size=(2, 30))
    y = rng.integers(0, 2, size=N_TRAIN + N_TEST)
    x = rng.exponential(means[y])
    return split(x, y)


def sk_perceptron(x, y, **fit_kwargs) -> SkPerceptron:
    """One pass of scikit-learn's perceptron in data order over dense ``x``."""
    x = x.toarray() if sparse.issparse(x) else x
    clf = SkPerceptron(shuffle=False, max_iter=1, tol=None, eta0=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return clf.fit(x, y, **fit_kwargs)


def train_online(model, x, y):
    for xi, yi in zip(rows(x), y, strict=True):
        model.update(xi, int(yi))
    return model


# -- naive Bayes ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["binary_data", "three_class_data"])
def test_naive_bayes_matches_sklearn_on_sparse_data(data, request):
    x_train, y_train, x_test, y_test = request.getfixturevalue(data)
    n_classes = int(y_train.max()) + 1
    ours = NaiveBayes(N_FEATURES, n_classes).fit(x_train, y_train)
    sk = MultinomialNB(alpha=1.0).fit(x_train, y_train)

    np.testing.assert_array_equal(ours.feature_counts, sk.feature_count_)
    np.testing.assert_array_equal(ours.class_counts, sk.class_count_)
    for x in (x_train, x_test):
        np.testing.assert_array_equal(ours.predict_many(x), sk.predict(x))
    assert ours.accuracy(x_test, y_test) == pytest.approx(sk.score(x_test, y_test))
    assert ours.accuracy(x_test, y_test) > 0.8


def test_naive_bayes_matches_sklearn_on_dense_counts(count_data):
    x_train, y_train, x_test, _ = count_data
    n_features = x_train.shape[1]
    ours = NaiveBayes(n_features, 3, sparse_input=False).fit(x_train, y_train)
    sk = MultinomialNB(alpha=1.0).fit(x_train, y_train)
    for x in (x_train, x_test):
        np.testing.assert_array_equal(ours.predict_many(x), sk.predict(x))
    proba = sk.predict_proba(x_test)
    for i in range(0, N_TEST, 10):
        assert ours.predict(x_test[i]) == sk.predict(x_test[i : i + 1])[0]
        for label in range(3):
            assert math.isclose(ours.confidence(x_test[i], label), proba[i, label],
                                rel_tol=1e-9, abs_tol=1e-12)


def test_naive_bayes_online_updates_equal_fit(three_class_data):
    x_train, y_train, x_test, _ = three_class_data
    fitted = NaiveBayes(N_FEATURES, 3).fit(x_train, y_train)
    online = train_online(NaiveBayes(N_FEATURES, 3), x_train, y_train)
    np.testing.assert_array_equal(online.class_counts, fitted.class_counts)
    np.testing.assert_array_equal(online.feature_counts, fitted.feature_counts)
    np.testing.assert_array_equal(online.feature_totals, fitted.feature_totals)
    np.testing.assert_array_equal(online.predict_many(x_test), fitted.predict_many(x_test))


def test_naive_bayes_predict_and_confidence_per_sample(binary_data):
    x_train, y_train, x_test, _ = binary_data
    ours = NaiveBayes(N_FEATURES).fit(x_train, y_train)
    sk = MultinomialNB(alpha=1.0).fit(x_train, y_train)
    many = ours.predict_many(x_test)
    proba = sk.predict_proba(x_test)
    for i, x in enumerate(rows(x_test)):
        assert ours.predict(x) == many[i]
        conf = [ours.confidence(x, k) for k in range(2)]
        assert all(0.0 <= c <= 1.0 for c in conf)
        assert math.isclose(sum(conf), 1.0, rel_tol=1e-12)
        assert np.allclose(conf, proba[i], rtol=1e-9, atol=1e-12)
        assert conf[many[i]] >= 0.5


def test_naive_bayes_priors_and_smoothing_by_hand():
    nb = NaiveBayes(3, alpha=1.0)
    nb.update(np.array([0, 1]), 0)
    nb.update(np.array([0]), 0)
    nb.update(np.array([2]), 1)
    # class 0: counts [2, 1, 0], total 3; class 1: counts [0, 0, 1], total 1; priors 2/3, 1/3
    x = np.array([0])
    s0 = math.log(2 / 3) + math.log((2 + 1) / (3 + 3))
    s1 = math.log(1 / 3) + math.log((0 + 1) / (1 + 3))
    np.testing.assert_allclose(nb.scores(x), [s0, s1])
    p0 = math.exp(s0) / (math.exp(s0) + math.exp(s1))
    assert nb.confidence(x, 0) == pytest.approx(p0)
    assert nb.predict(x) == 0
    assert nb.predict(np.array([2])) == 1


# -- nearest centroid -------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["binary_data", "three_class_data"])
def test_nearest_centroid_matches_sklearn_on_sparse_data(data, request):
    x_train, y_train, x_test, y_test = request.getfixturevalue(data)
    n_classes = int(y_train.max()) + 1
    ours = NearestCentroid(N_FEATURES, n_classes).fit(x_train, y_train)
    sk = SkNearestCentroid().fit(x_train, y_train)
    np.testing.assert_allclose(ours.centroids, sk.centroids_, rtol=0, atol=1e-15)
    for x in (x_train, x_test):
        np.testing.assert_array_equal(ours.predict_many(x), sk.predict(x))
    assert ours.accuracy(x_test, y_test) == pytest.approx(sk.score(x_test, y_test))
    assert ours.accuracy(x_test, y_test) > 0.8


def test_nearest_centroid_matches_sklearn_on_dense_data(real_data):
    x_train, y_train, x_test, _ = real_data
    n_features = x_train.shape[1]
    ours = NearestCentroid(n_features, sparse_input=False).fit(x_train, y_train)
    sk = SkNearestCentroid().fit(x_train, y_train)
    for x in (x_train, x_test):
        np.testing.assert_array_equal(ours.predict_many(x), sk.predict(x))
    many = ours.predict_many(x_test)
    for i in range(0, N_TEST, 5):
        assert ours.predict(x_test[i]) == many[i]


def test_nearest_centroid_online_running_mean_equals_batch_mean(three_class_data):
    x_train, y_train, x_test, _ = three_class_data
    fitted = NearestCentroid(N_FEATURES, 3).fit(x_train, y_train)
    online = train_online(NearestCentroid(N_FEATURES, 3), x_train, y_train)
    np.testing.assert_array_equal(online.counts, fitted.counts)
    np.testing.assert_allclose(online.centroids, fitted.centroids, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(online.predict_many(x_test), fitted.predict_many(x_test))


def test_nearest_centroid_online_dense_equals_batch_mean(real_data):
    x_train, y_train, _, _ = real_data
    n_features = x_train.shape[1]
    fitted = NearestCentroid(n_features, sparse_input=False).fit(x_train, y_train)
    online = train_online(NearestCentroid(n_features, sparse_input=False), x_train, y_train)
    np.testing.assert_allclose(online.centroids, fitted.centroids, rtol=1e-12, atol=1e-12)


def test_nearest_centroid_fixed_point_agrees_with_float(binary_data):
    x_train, y_train, x_test, _ = binary_data
    exact = NearestCentroid(N_FEATURES).fit(x_train, y_train)
    reference = exact.predict_many(x_test)

    fixed_fit = NearestCentroid(N_FEATURES, fixed_point=True).fit(x_train, y_train)
    fixed_online = train_online(NearestCentroid(N_FEATURES, fixed_point=True), x_train, y_train)
    for fixed in (fixed_fit, fixed_online):
        assert fixed.centroids.dtype == np.int64
        # floor division loses at most one unit of 1/SCALE per update
        assert np.max(np.abs(fixed.centroids / SCALE - exact.centroids)) <= N_TRAIN / SCALE
        assert np.mean(fixed.predict_many(x_test) == reference) >= 0.999


def test_nearest_centroid_confidence(three_class_data):
    x_train, y_train, x_test, _ = three_class_data
    ncc = NearestCentroid(N_FEATURES, 3).fit(x_train, y_train)
    many = ncc.predict_many(x_test)
    for i, x in enumerate(rows(x_test)[:300]):
        assert ncc.predict(x) == many[i]
        conf = np.array([ncc.confidence(x, k) for k in range(3)])
        assert np.all((conf >= 0.0) & (conf <= 1.0))
        assert math.isclose(conf.sum(), 1.0, rel_tol=1e-12)
        # relative inverse distance: the nearest centroid gets the highest confidence
        assert np.argmax(conf) == many[i]


def test_nearest_centroid_confidence_by_hand():
    ncc = NearestCentroid(2, sparse_input=False)
    ncc.update(np.array([0.0, 0.0]), 0)
    ncc.update(np.array([3.0, 4.0]), 1)
    x = np.array([0.0, 4.0])  # distance 4 to class 0 and 3 to class 1
    assert ncc.confidence(x, 1) == pytest.approx((1 / 3) / (1 / 3 + 1 / 4))
    assert ncc.confidence(x, 0) == pytest.approx((1 / 4) / (1 / 3 + 1 / 4))
    assert ncc.confidence(np.array([3.0, 4.0]), 1) == 1.0  # on the centroid itself
    assert ncc.confidence(np.array([3.0, 4.0]), 0) == 0.0


def test_nearest_centroid_confidence_ignores_untrained_classes():
    """An untrained class can never be predicted, so it must get no confidence.

    Its centroid storage is the zero vector; it must not act as a centroid at the origin.
    """
    ncc = NearestCentroid(4)
    ncc.update(np.array([0, 1]), 0)
    ncc.update(np.array([1, 2]), 0)
    for x in (np.array([], dtype=np.int64), np.array([3]), np.array([0, 1])):
        assert ncc.predict(x) == 0
        assert ncc.confidence(x, 1) == 0.0
        assert ncc.confidence(x, 0) == 1.0


# -- perceptron -------------------------------------------------------------------------------


def test_perceptron_one_pass_agrees_with_sklearn(separable_data):
    x_train, y_train, x_test, y_test = separable_data
    ours = Perceptron(N_FEATURES).fit(x_train, y_train)
    sk = sk_perceptron(x_train, y_train)
    ours_pred = ours.predict_many(x_test)
    sk_pred = sk.predict(x_test.toarray())
    assert np.mean(ours_pred == sk_pred) >= 0.99  # measured: 0.999 (both 99.9% and 100% accurate)
    assert ours.accuracy(x_test, y_test) >= 0.98
    assert np.mean(sk_pred == y_test) >= 0.98


def test_perceptron_without_ties_equals_sklearn_exactly(binary_data):
    """Start both from bias 0.5: scores are then never 0, and both rules train iff wrong."""
    x_train, y_train, x_test, _ = binary_data
    ours = Perceptron(N_FEATURES, fixed_point=False)
    ours.b = np.float64(0.5)
    train_online(ours, x_train, y_train)
    sk = sk_perceptron(x_train, y_train, intercept_init=np.array([0.5]))
    np.testing.assert_array_equal(ours.w, sk.coef_.ravel())
    assert ours.b == sk.intercept_[0]
    np.testing.assert_array_equal(ours.predict_many(x_test), sk.predict(x_test.toarray()))
    np.testing.assert_array_equal(ours.margins_many(x_test),
                                  sk.decision_function(x_test.toarray()))


def test_perceptron_tie_handling_differs_from_sklearn():
    """scikit-learn trains when ``y * score <= 0`` (y in {-1, +1}) and predicts class 0 at score 0.

    Ours predicts class 1 when ``score >= 0`` and trains only when the prediction is wrong.  So at
    score 0 a class-1 sample trains scikit-learn but not ours; a class-0 sample trains both.
    """
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([1, 0])

    # scikit-learn: sample 0 has score 0 and y = +1, so y * score = 0 <= 0: it trains,
    # w = [1, 0], b = 1; sample 1 has score 1 with y = -1: it trains, w = [1, -1], b = 0.
    sk = sk_perceptron(x, y)
    np.testing.assert_array_equal(sk.coef_, [[1.0, -1.0]])
    np.testing.assert_array_equal(sk.intercept_, [0.0])

    # ours: sample 0 has score 0, predicted 1: right, no update; sample 1 has score 0,
    # predicted 1: wrong, w = [0, -1], b = -1.
    ours = Perceptron(2)
    first = ours.update(np.array([0]), 1)
    assert first == UpdatePlan(0, 0, False)
    second = ours.update(np.array([1]), 0)
    assert second.trains
    np.testing.assert_array_equal(ours.w, [0, -1])
    assert ours.b == -1

    # the two models now disagree on sample 0 (ours -1, sklearn +1)
    assert ours.predict(np.array([0])) == 0
    assert sk.predict(x[:1])[0] == 1

    # at score exactly 0 the predictions differ too: same weights, opposite class
    tie = np.array([[1.0, 1.0]])
    assert sk.decision_function(tie)[0] == 0.0
    assert sk.predict(tie)[0] == 0
    same = Perceptron(2)
    same.w[:] = [1, -1]
    assert same.margin(np.array([0, 1])) == 0.0
    assert same.predict(np.array([0, 1])) == 1
    assert same.predict_many(sparse.csr_matrix(tie)).tolist() == [1]


def test_perceptron_three_updates_by_hand():
    p = Perceptron(4)
    assert p.w.dtype == np.int64

    # score 0 -> predicts 1, label 0: w[0], w[2], b -= 1 (all three slots were zero)
    assert p.update(np.array([0, 2]), 0) == UpdatePlan(3, 0, True)
    np.testing.assert_array_equal(p.w, [-1, 0, -1, 0])
    assert p.b == -1

    # score -1 + 0 - 1 = -2 -> predicts 0, label 1: w[1], w[2], b += 1 (w[1] was zero: a new
    # slot; w[2] and b go from -1 to 0: two cleared slots)
    assert p.update(np.array([1, 2]), 1) == UpdatePlan(1, 0, True, cleared_slots=2)
    np.testing.assert_array_equal(p.w, [-1, 1, 0, 0])
    assert p.b == 0

    # score 0 - 1 + 0 = -1 -> predicts 0, label 1: w[0], w[3], b += 1 (w[3] and b were zero:
    # new; w[0] goes from -1 to 0: cleared)
    assert p.update(np.array([0, 3]), 1) == UpdatePlan(2, 0, True, cleared_slots=1)
    np.testing.assert_array_equal(p.w, [0, 1, 0, 1])
    assert p.b == 1

    # score 1 + 1 + 1 = 3 -> predicts 1, label 1: right, nothing is written
    assert p.plan_update(np.array([1, 3]), 1) == UpdatePlan(0, 0, False)
    assert p.update(np.array([1, 3]), 1) == UpdatePlan(0, 0, False)
    np.testing.assert_array_equal(p.w, [0, 1, 0, 1])
    assert p.b == 1


def test_perceptron_learning_rate_scales_the_steps():
    p = Perceptron(3, learning_rate=3)
    p.update(np.array([0, 2]), 0)
    p.update(np.array([1]), 1)  # score -3 -> predicts 0
    np.testing.assert_array_equal(p.w, [-3, 3, -3])
    assert p.b == 0
    with pytest.raises(ValueError):
        Perceptron(3, learning_rate=0.5)
    assert Perceptron(3, learning_rate=0.5, fixed_point=False).lr == 0.5


def test_perceptron_fit_is_the_online_rule(binary_data):
    x_train, y_train, x_test, _ = binary_data
    for epochs in (1, 2):
        fitted = Perceptron(N_FEATURES, epochs=epochs).fit(x_train, y_train)
        online = Perceptron(N_FEATURES)
        for _ in range(epochs):
            train_online(online, x_train, y_train)
        np.testing.assert_array_equal(fitted.w, online.w)
        assert fitted.b == online.b
        np.testing.assert_array_equal(fitted.predict_many(x_test), online.predict_many(x_test))
    # fit starts again from zero weights
    refit = Perceptron(N_FEATURES).fit(x_train, y_train).fit(x_train, y_train)
    once = Perceptron(N_FEATURES).fit(x_train, y_train)
    np.testing.assert_array_equal(refit.w, once.w)


def test_perceptron_fixed_point_equals_float_for_integer_rate(binary_data):
    x_train, y_train, x_test, _ = binary_data
    fixed = Perceptron(N_FEATURES).fit(x_train, y_train)
    real = Perceptron(N_FEATURES, fixed_point=False).fit(x_train, y_train)
    np.testing.assert_array_equal(fixed.w, real.w)
    np.testing.assert_array_equal(fixed.predict_many(x_test), real.predict_many(x_test))


def test_perceptron_predict_and_confidence(binary_data):
    x_train, y_train, x_test, _ = binary_data
    p = Perceptron(N_FEATURES).fit(x_train, y_train)
    many = p.predict_many(x_test)
    margins = p.margins_many(x_test)
    for i, x in enumerate(rows(x_test)):
        assert p.predict(x) == many[i]
        assert p.margin(x) == margins[i]
        c0, c1 = p.confidence(x, 0), p.confidence(x, 1)
        assert 0.0 <= c0 <= 1.0 and 0.0 <= c1 <= 1.0
        assert math.isclose(c0 + c1, 1.0, rel_tol=1e-12)
        assert (c1 >= 0.5) == (many[i] == 1)


def test_perceptron_confidence_is_monotone_in_the_margin(binary_data):
    # one sample, margin moved through the bias
    p = Perceptron(5)
    x = np.array([0, 1, 3])
    conf = []
    for b in range(-20, 21):
        p.b = np.int64(b)
        assert p.margin(x) == b
        conf.append(p.confidence(x, 1))
    assert np.all(np.diff(conf) > 0)
    assert conf[20] == 0.5
    # squashed margin over sqrt(|x|): logistic(margin / sqrt(3))
    assert conf[-1] == pytest.approx(1 / (1 + math.exp(-20 / math.sqrt(3))))

    # many samples of the same length: confidence ordered as the margin
    x_train, y_train, x_test, _ = binary_data
    p = Perceptron(N_FEATURES).fit(x_train, y_train)
    samples = rows(x_test)
    lengths = np.array([len(s) for s in samples])
    length = np.bincount(lengths).argmax()
    chosen = [s for s in samples if len(s) == length]
    assert len(chosen) > 30
    margins = np.array([p.margin(s) for s in chosen])
    confs = np.array([p.confidence(s, 1) for s in chosen])
    order = np.argsort(margins, kind="stable")
    assert np.all(np.diff(confs[order]) >= 0)
    assert np.all(np.diff(1 - confs[order]) <= 0)


def test_perceptron_rejects_more_than_two_classes():
    with pytest.raises(ValueError):
        Perceptron(4, 3)


# -- gas: slots written by an update and read by a prediction -------------------------------


def test_perceptron_update_plan_does_not_mutate_and_read_slots():
    p = Perceptron(6)
    plan = p.plan_update(np.array([1, 4]), 0)
    assert plan == UpdatePlan(3, 0, True)
    assert not p.w.any() and p.b == 0  # planning writes nothing
    p.apply_update(np.array([1, 4]), 0, plan)
    np.testing.assert_array_equal(p.w, [0, -1, 0, 0, -1, 0])
    assert p.read_slots(np.array([1, 4])) == 3
    assert p.read_slots(np.array([], dtype=np.int64)) == 1
    dense = Perceptron(6, sparse_input=False)
    assert dense.read_slots(np.zeros(6)) == 7
    # dense input: present features are the non-zero entries
    assert dense.plan_update(np.array([0, 1.0, 0, 0, 1.0, 0]), 0) == UpdatePlan(3, 0, True)


def test_naive_bayes_update_plans_by_hand():
    nb = NaiveBayes(5)
    # fresh class 0: two feature counts, the class count and the feature total are all new
    assert nb.plan_update(np.array([1, 3]), 0) == UpdatePlan(4, 0, True)
    assert not nb.feature_counts.any() and not nb.class_counts.any()
    assert nb.update(np.array([1, 3]), 0) == UpdatePlan(4, 0, True)
    # feature 4 is new; feature 3, the class count and the total are overwritten
    assert nb.update(np.array([3, 4]), 0) == UpdatePlan(1, 3, True)
    # class 1 is still empty: everything is new
    assert nb.update(np.array([3]), 1) == UpdatePlan(3, 0, True)
    assert nb.update(np.array([0, 3]), 1) == UpdatePlan(1, 3, True)
    np.testing.assert_array_equal(nb.feature_counts, [[0, 1, 0, 2, 1], [1, 0, 0, 2, 0]])
    np.testing.assert_array_equal(nb.class_counts, [2, 2])
    np.testing.assert_array_equal(nb.feature_totals, [4, 3])
    # a prediction reads, per class, the sample's feature counts, the class count and the total
    assert nb.read_slots(np.array([1, 3])) == 2 * (2 + 2)
    assert NaiveBayes(5, 3).read_slots(np.array([0])) == 3 * (1 + 2)
    assert NaiveBayes(5, sparse_input=False).read_slots(np.zeros(5)) == 2 * (5 + 2)
    dense = NaiveBayes(5, sparse_input=False)
    assert dense.update(np.array([0, 2.0, 0, 1.0, 0]), 0) == UpdatePlan(4, 0, True)
    np.testing.assert_array_equal(dense.feature_counts[0], [0, 2, 0, 1, 0])
    assert dense.feature_totals[0] == 3


@pytest.mark.parametrize("fixed_point", [False, True])
def test_nearest_centroid_update_plans_by_hand(fixed_point):
    ncc = NearestCentroid(4, fixed_point=fixed_point)
    s = SCALE if fixed_point else 1
    # fresh class 0: centroid becomes [1, 0, 1, 0]; two new coordinates and the new count
    assert ncc.plan_update(np.array([0, 2]), 0) == UpdatePlan(3, 0, True)
    assert not ncc.centroids.any()
    assert ncc.update(np.array([0, 2]), 0) == UpdatePlan(3, 0, True)
    np.testing.assert_array_equal(ncc.centroids[0], np.array([1, 0, 1, 0]) * s)
    # mean of [1,0,1,0] and [0,0,1,1] = [.5, 0, 1, .5]: coordinate 3 is new, 0 and the count change
    assert ncc.update(np.array([2, 3]), 0) == UpdatePlan(1, 2, True)
    np.testing.assert_array_equal(ncc.centroids[0] / s, [0.5, 0, 1, 0.5])
    # an empty sample shrinks every non-zero coordinate: [1/3, 0, 2/3, 1/3]
    assert ncc.update(np.array([], dtype=np.int64), 0) == UpdatePlan(0, 4, True)
    if fixed_point:
        np.testing.assert_array_equal(ncc.centroids[0], [s // 3, 0, 2 * s // 3, s // 3])
    else:
        np.testing.assert_allclose(ncc.centroids[0], [1 / 3, 0, 2 / 3, 1 / 3])
    # fresh class 1
    assert ncc.update(np.array([1]), 1) == UpdatePlan(2, 0, True)
    np.testing.assert_array_equal(ncc.counts, [3, 1])
    # a prediction reads every centroid coordinate and every count
    assert ncc.read_slots(np.array([0])) == 2 * (4 + 1)
    assert NearestCentroid(4, 3).read_slots(np.array([0])) == 3 * (4 + 1)


# -- shared behaviour -------------------------------------------------------------------------


#: Every registered model (built-ins and any installed plug-in) must pass the shared tests.
MODELS = {kind: p.impl for kind, p in registry.plugins("models").items()}


def make_model(name: str, n_features: int, sparse_input: bool):
    return MODELS[name](n_features, sparse_input=sparse_input)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dense", [False, True])
def test_empty_matrix(name, dense, binary_data):
    x_train, y_train, _, _ = binary_data
    model = make_model(name, N_FEATURES, True).fit(x_train, y_train)
    empty = (np.zeros((0, N_FEATURES)) if dense
             else sparse.csr_matrix((0, N_FEATURES), dtype=np.float64))
    pred = model.predict_many(empty)
    assert pred.shape == (0,)
    assert math.isnan(model.accuracy(empty, np.zeros(0, dtype=np.int64)))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dense_and_sparse_input_give_the_same_model(name, binary_data):
    x_train, y_train, x_test, _ = binary_data
    x_train, y_train = x_train[:500], y_train[:500]
    x_dense, x_test_dense = x_train.toarray(), x_test.toarray()

    sparse_fit = make_model(name, N_FEATURES, True).fit(x_train, y_train)
    dense_fit = make_model(name, N_FEATURES, False).fit(x_dense, y_train)
    sparse_online = train_online(make_model(name, N_FEATURES, True), x_train, y_train)
    dense_online = train_online(make_model(name, N_FEATURES, False), x_dense, y_train)

    reference = sparse_fit.predict_many(x_test)
    for model in (dense_fit, sparse_online, dense_online):
        np.testing.assert_array_equal(model.predict_many(x_test), reference)
        np.testing.assert_array_equal(model.predict_many(x_test_dense), reference)
    for i in range(0, N_TEST, 20):
        assert sparse_fit.predict(row(x_test, i)) == reference[i]
        assert dense_fit.predict(x_test_dense[i]) == reference[i]
        assert dense_online.predict(x_test_dense[i]) == reference[i]

    for i in range(0, 100, 10):
        xi, yi = row(x_train, i), int(y_train[i])
        assert sparse_online.plan_update(xi, yi) == dense_online.plan_update(x_dense[i], yi)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_dense_and_sparse_input_give_the_same_confidence(name, binary_data):
    x_train, y_train, x_test, _ = binary_data
    sparse_model = make_model(name, N_FEATURES, True).fit(x_train, y_train)
    dense_model = make_model(name, N_FEATURES, False).fit(x_train.toarray(), y_train)
    for i in range(0, N_TEST, 50):
        for label in (0, 1):
            assert dense_model.confidence(x_test[i].toarray().ravel(), label) == pytest.approx(
                sparse_model.confidence(row(x_test, i), label), rel=1e-9, abs=1e-12)


def test_invalid_arguments():
    with pytest.raises(ValueError):
        NaiveBayes(3, alpha=0.0)
    for cls in (NaiveBayes, NearestCentroid):
        with pytest.raises(ValueError):
            cls(3, 1)


def test_copy_is_independent(binary_data):
    x_train, y_train, _, _ = binary_data
    for name in sorted(MODELS):
        model = make_model(name, N_FEATURES, True).fit(x_train[:200], y_train[:200])
        clone = model.copy()
        before = clone.predict_many(x_train[:200]).copy()
        train_online(model, x_train[200:400], 1 - y_train[200:400])
        np.testing.assert_array_equal(clone.predict_many(x_train[:200]), before)


def test_fixed_point_nearest_centroid_refuses_what_int64_cannot_hold() -> None:
    """``(c * n + x * 1e9) // (n + 1)`` in int64 wraps around silently in numpy: data whose
    values could make it pass 2**63 are refused before a run, and an update that would is
    refused rather than computed (a centroid of 4e18 must not turn negative)."""
    from sumsim.models.nearest_centroid import NearestCentroid

    m = NearestCentroid(3, 2, sparse_input=False, fixed_point=True)
    x = np.full((320, 3), 4.0e9)
    with pytest.raises(ValueError, match=r"feature values up to 4e\+09 with up to 320 samples "
                                         r"in a class pass 2\*\*63 .* or set "
                                         r"model\.fixed_point = false"):
        m.check_data(x)
    m.check_data(np.full((320, 3), 1.0e4))  # 1e4 * 1e9 * 321 fits
    m.fit(x[:1], np.array([0]))
    assert (m.centroids[0] == 4_000_000_000 * 10**9).all()
    assert m.plan_update(x[0], 0).trains  # 4e18 * 1 + 4e18 fits
    m.counts[0] = 2  # 4e18 * 2 + 4e18 does not
    with pytest.raises(ValueError, match="pass 2\\*\\*63"):
        m.plan_update(x[0], 0)


# -- contributions that must not train ------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(registry.plugins("models")))
@pytest.mark.parametrize("why", ["a defense stores it untrained", "the mechanism trains later"])
def test_a_contribution_that_must_not_train_leaves_every_model_alone(kind: str,
                                                                     why: str) -> None:
    """Stored without training (a defense's "accept without training" or review, a
    prediction market's participation phase): the model, whatever its kind, is unchanged."""
    import pickle

    import simpy

    from sumsim.chain import SUCCESS, Chain, Tx
    from sumsim.contract.trainer import CollaborativeTrainer
    from sumsim.defenses.confidence_threshold import (
        ConfidenceThreshold,
        ConfidenceThresholdConfig,
    )
    from sumsim.mechanisms.drt import DepositRefundTake, DRTConfig

    class Later(DepositRefundTake):
        trains_on_add = False

    plugin = registry.get("models", kind)
    model = plugin.impl.from_config(plugin.config(kind=kind), 6, 2, True)
    model.fit(*to_binary_csr_pair())
    env = simpy.Environment()
    chain = Chain(env, block_time_s=12, gas_price_wei=1)
    chain.ledger.open("alice", 10**24)
    im = (Later if why.startswith("the mechanism") else DepositRefundTake).from_config(
        DRTConfig())
    trainer = CollaborativeTrainer("contract", chain.ledger, model, im)
    chain.deploy(trainer)
    if why.startswith("a defense"):
        gate = ConfidenceThreshold(ConfidenceThresholdConfig(
            kind="confidence_threshold", threshold=1.0, action="accept_without_training"))
        gate.model = model  # (what wiring it into a run's world does)
        trainer.gates = [gate]
    before = pickle.dumps(model)
    for x, y in [([0, 2], 1), ([1, 3, 5], 0), ([4], 1)]:
        tx = chain.submit(Tx("alice", "contract", "add_data", (np.array(x), y), 10**21,
                             3_000_000, 1))
        env.run(until=env.now + 13)
        assert tx.receipt is not None and tx.receipt.status == SUCCESS, tx.receipt
    assert len(trainer.data.records) == 3
    assert pickle.dumps(model) == before


def to_binary_csr_pair() -> tuple[sparse.csr_matrix, np.ndarray]:
    """Six samples of six features, both classes (an initial fit for any model)."""
    rows_ = [[0, 1], [2, 3], [4, 5], [0, 2], [1, 3], [5]]
    x = sparse.csr_matrix((np.ones(sum(map(len, rows_))), np.concatenate(rows_),
                           np.cumsum([0] + [len(r) for r in rows_])), shape=(6, 6))
    return to_binary_csr(x), np.array([0, 1, 0, 1, 0, 1])


def test_fixed_point_weights_that_could_wrap_around_are_refused() -> None:
    """int64 weights move by learning_rate x feature: dense features of billions with a step
    of a billion would pass 2**63 within a few updates and wrap (a model learning garbage
    silently); refused before a run, while the same data with a step of 1 is taken."""
    x = np.array([[9e9, 0.0], [0.0, 8e9]] * 100)
    big = Perceptron(2, learning_rate=10**9, sparse_input=False)
    with pytest.raises(ValueError, match=r"beyond 2\*\*63 \(the weights would wrap around\)"):
        big.check_data(x)
    Perceptron(2, learning_rate=1, sparse_input=False).check_data(x)
    Perceptron(2, learning_rate=10**9, sparse_input=False, fixed_point=False).check_data(x)
