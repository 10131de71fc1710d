"""Text to binary word-presence features, shared by every text dataset (IMDB, CSV text).

A document becomes the set of its tokens; a vocabulary (the most frequent words, or hashed
buckets) maps the present tokens to feature indices, giving one row of a binary CSR matrix.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
from scipy import sparse

from sumsim.data.base import to_binary_csr
from sumsim.errors import InputError

_BREAK = re.compile(r"<br\s*/?>")
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Split a text into lower-case word tokens.

    The rule: lower-case the text, replace HTML line breaks (``<br />``, ``<br/>``, ``<br>``) by a
    space and map the typographic apostrophe ``’`` to ``'``.  A token is then a maximal run of
    letters and digits (Unicode, underscore excluded), where runs joined by a single apostrophe
    stay one token: ``"Don't"`` -> ``"don't"``.  Apostrophes at the start or end of a word are not
    part of it (``"'quoted'"`` -> ``"quoted"``, ``"actors'"`` -> ``"actors"``); every other
    character (punctuation, whitespace, ``_``) separates tokens.
    """
    return _TOKEN.findall(_BREAK.sub(" ", text.lower()).replace("\u2019", "'"))


def rank_vocabulary(counts: Counter[str], num_words: int) -> list[str]:
    """The ``num_words`` most frequent words, by decreasing count, ties broken alphabetically."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [w for w, _ in ranked[:num_words]]


def presence_csr(
    token_lists: Iterable[list[str]], index: Callable[[set[str]], list[int]], n_features: int
) -> sparse.csr_matrix:
    """Binary presence matrix: row ``i`` holds ``index(set(tokens_i))``, the present features."""
    indptr = [0]
    indices: list[int] = []
    for tokens in token_lists:
        indices.extend(index(set(tokens)))
        indptr.append(len(indices))
    n_rows = len(indptr) - 1
    m = sparse.csr_matrix(
        (
            np.ones(len(indices), dtype=np.float64),
            np.asarray(indices, dtype=np.int32),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(n_rows, n_features),
    )
    return to_binary_csr(m)


def vocabulary_index(words: list[str]) -> Callable[[set[str]], list[int]]:
    """Feature lookup for `presence_csr`: the positions in ``words`` of the present words."""
    vocab = {w: i for i, w in enumerate(words)}
    keys = vocab.keys()

    def index(present: set[str]) -> list[int]:
        return [vocab[w] for w in keys & present]

    return index


def hashed_index(n_buckets: int) -> Callable[[set[str]], list[int]]:
    """Feature lookup for `presence_csr`: CRC-32 of the UTF-8 token modulo ``n_buckets``.

    CRC-32 is stable across processes and platforms (unlike Python's salted ``hash``).
    """

    def index(present: set[str]) -> list[int]:
        return list({zlib.crc32(w.encode("utf-8")) % n_buckets for w in present})

    return index


def check_num_words(num_words: object, source: str | None = None) -> int:
    if isinstance(num_words, bool) or not isinstance(num_words, int | np.integer):
        raise InputError(
            f"expected a positive integer, got {num_words!r}", source=source, field="num_words"
        )
    if num_words < 1:
        raise InputError(
            f"expected a positive integer, got {num_words}", source=source, field="num_words"
        )
    return int(num_words)
