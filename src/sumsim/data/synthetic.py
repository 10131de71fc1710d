"""A seeded sparse "sentiment-like" text generator: the offline default dataset.

Words follow a Zipfian frequency law over a vocabulary of ``n_features`` words.  A share
``sentiment_share`` of the words carries a polarity ``phi ~ N(0, 1)``; a class-``c`` document
draws word ``i`` with probability proportional to ``zipf_i * exp(s_c * separability * phi_i)``
(``s_1 = +1``, ``s_0 = -1``), so common neutral words dominate and sentiment words tilt the
balance, as in movie reviews.  Document lengths are Poisson; a document is the set of words it
drew (binary presence).  A share ``ambiguous_share`` of documents draws half its words from each
class and gets a coin-flip label: no model can do better than chance on them.  Label noise flips
a further share of labels.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from sumsim.data.base import Dataset, to_binary_csr

#: Words drawn at a time (bounds the memory a large dataset needs while it is generated).
BLOCK_WORDS = 1 << 20


def _blocks(lens: np.ndarray, words: int) -> list[tuple[int, int]]:
    """Consecutive document ranges of about ``words`` words each."""
    ends = np.searchsorted(np.cumsum(lens), np.arange(words, int(lens.sum()), words),
                           side="right")
    bounds = [0, *sorted(set(ends.tolist()) - {0, len(lens)}), len(lens)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _draw_words(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``np.searchsorted(cdf, u, side="right")``, exactly, for uniform draws ``u`` in [0, 1).

    A binary search per draw is most of a small dataset's generation (a cache miss per step),
    so the unit interval is cut into ``m`` equal buckets (a power of two: ``u * m`` and the
    bucket edges ``j / m`` are exact), each bucket's two counts are tabled once, by counting
    (no search): a draw in bucket ``j`` has at least as many cdf values at or below it as the
    bucket's left edge has, and at most as many as lie strictly below its right edge.  Where
    the two counts agree (every bucket but the at most ``len(cdf)`` that hold a cdf value)
    that is the answer; the few draws in the other buckets are searched as before.  ``cdf``:
    sorted, within [0, 1]."""
    n = len(u)
    # About a bucket for every four draws, within [1024, 2**20]: the table costs little next
    # to the draws, and few draws land in a bucket that holds a cdf value.
    m = 1 << min(20, max(10, n.bit_length() - 2))
    # cdf values at or below the left edge j / m: those with ceil(cdf * m) <= j; strictly
    # below the right edge (j + 1) / m: those with floor(cdf * m) <= j (cdf * m is exact).
    scaled = cdf * m
    at_least = np.cumsum(np.bincount(np.ceil(scaled).astype(np.intp), minlength=m + 1))
    at_most = np.cumsum(np.bincount(np.floor(scaled).astype(np.intp), minlength=m + 1))
    bucket = (u * m).astype(np.intp)
    words = at_least[bucket]
    unsure = np.flatnonzero(words != at_most[bucket])
    if unsure.size:
        words[unsure] = np.searchsorted(cdf, u[unsure], side="right")
    return words


def _distinct(keys: np.ndarray) -> np.ndarray:
    """The distinct values of ``keys``, sorted (``np.unique``'s answer, by a sort: the keys come
    almost in order, and numpy's hash-based ``unique`` took 20 times longer on them)."""
    keys = np.sort(keys)
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def _documents(rng: np.random.Generator, probs: np.ndarray, labels: np.ndarray,
               ambiguous: np.ndarray, mean_words: float) -> sparse.csr_matrix:
    """Binary CSR of the documents: each row the distinct words its draws hit.

    Words are drawn a block of documents at a time (the same stream as one draw of all of
    them: a generator produces its doubles in sequence) and only each document's distinct
    words are kept, as sorted ``row * vocab + word`` keys, so memory stays a few bytes per
    distinct word rather than tens per draw."""
    n, vocab = len(labels), probs.shape[1]
    lengths = np.maximum(1, rng.poisson(mean_words, size=n))
    parts: list[np.ndarray] = []
    for c in range(probs.shape[0]):
        for amb in (False, True):
            sel = np.flatnonzero((labels == c) & (ambiguous == amb))
            if sel.size == 0:
                continue
            lens = lengths[sel]
            if amb:
                p = probs.mean(axis=0)
            else:
                p = probs[c]
            cdf = np.cumsum(p)
            cdf /= cdf[-1]
            for lo, hi in _blocks(lens, BLOCK_WORDS):
                words = _draw_words(cdf, rng.random(int(lens[lo:hi].sum())))
                keys = np.repeat(sel[lo:hi].astype(np.int64) * vocab, lens[lo:hi])
                keys += np.minimum(words, vocab - 1)
                parts.append(_distinct(keys))
    keys = np.empty(sum(len(k) for k in parts), dtype=np.int64)
    at = 0
    while parts:
        k = parts.pop(0)
        keys[at:at + len(k)] = k
        at += len(k)
    keys.sort()
    indptr = np.searchsorted(keys, np.arange(n + 1, dtype=np.int64) * vocab)
    index_dtype = np.int32 if len(keys) < 2**31 else np.int64
    indices = (keys % vocab).astype(np.int32)
    del keys
    m = sparse.csr_matrix((np.ones(len(indices)), indices, indptr.astype(index_dtype)),
                          shape=(n, vocab))
    return to_binary_csr(m)


def make_synthetic(*, seed: int = 0, n_train: int = 4000, n_test: int = 2000,
                   n_features: int = 1000, zipf_exponent: float = 1.05,
                   mean_words: float = 60.0, sentiment_share: float = 0.2,
                   separability: float = 0.7, ambiguous_share: float = 0.1,
                   label_noise: float = 0.03) -> Dataset:
    """Generate a learnable but imperfect binary sentiment-like dataset (seeded)."""
    if n_train < 2 or n_test < 1 or n_features < 2:
        raise ValueError("need n_train >= 2, n_test >= 1 and n_features >= 2")
    for name, v in (("sentiment_share", sentiment_share), ("ambiguous_share", ambiguous_share),
                    ("label_noise", label_noise)):
        if not 0.0 <= v <= 1.0:
            raise ValueError(f"{name} must be within [0, 1]")
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_features + 1, dtype=np.float64)
    zipf = ranks ** (-zipf_exponent)
    phi = rng.standard_normal(n_features) * (rng.random(n_features) < sentiment_share)
    probs = np.vstack([zipf * np.exp(-separability * phi), zipf * np.exp(separability * phi)])
    probs /= probs.sum(axis=1, keepdims=True)

    n = n_train + n_test
    labels = rng.integers(0, 2, size=n)
    ambiguous = rng.random(n) < ambiguous_share
    x = _documents(rng, probs, labels, ambiguous, mean_words)
    y = labels.copy()
    y[ambiguous] = rng.integers(0, 2, size=int(ambiguous.sum()))
    noisy = rng.random(n) < label_noise
    y[noisy] = 1 - y[noisy]
    return Dataset(
        name="synthetic",
        x_train=x[:n_train],
        y_train=y[:n_train].astype(np.int64),
        x_test=x[n_train:],
        y_test=y[n_train:].astype(np.int64),
        feature_names=tuple(f"w{i}" for i in range(n_features)),
        class_names=("negative", "positive"),
        ambiguous_train=ambiguous[:n_train],
    )
