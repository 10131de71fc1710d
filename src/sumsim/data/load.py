"""Turning a scenario's ``[data]`` section into a Dataset (with an in-process cache)."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from sumsim.data.base import Dataset
from sumsim.errors import DataError, InputError
from sumsim.scenario.schema import DataSection

#: The in-process cache holds at most this many datasets and this many bytes of arrays
#: (least recently used first out).  A sweep cycles through its seeds once per grid point, so
#: the cache must hold every seed's dataset or it misses every time.
CACHE_ENTRIES = 64
CACHE_BYTES = 1 << 30
_CACHE: OrderedDict[str, tuple[Dataset, int]] = OrderedDict()


def _nbytes(x: object) -> int:
    if sparse.issparse(x):
        return sum(int(getattr(x, a).nbytes) for a in ("data", "indices", "indptr")
                   if hasattr(x, a))
    return int(x.nbytes) if isinstance(x, np.ndarray) else 0


def dataset_nbytes(ds: Dataset) -> int:
    """Bytes held by a dataset's arrays."""
    return sum(_nbytes(x) for x in (ds.x_train, ds.y_train, ds.x_test, ds.y_test,
                                    ds.ambiguous_train))


def _cached(key: str, section_json: str, data_seed: int, path: str | None) -> Dataset:
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit[0]
    ds = _build(section_json, data_seed, path)
    size = dataset_nbytes(ds)
    _CACHE[key] = (ds, size)
    total = sum(n for _, n in _CACHE.values())
    while len(_CACHE) > 1 and (len(_CACHE) > CACHE_ENTRIES or total > CACHE_BYTES):
        _, (_, n) = _CACHE.popitem(last=False)
        total -= n
    return ds


def _build(section_json: str, data_seed: int, path: str | None) -> Dataset:
    sec = DataSection.model_validate_json(section_json)
    if sec.dataset == "synthetic":
        from sumsim.data.synthetic import make_synthetic

        params = sec.synthetic.model_dump(exclude={"seed"})
        return make_synthetic(seed=data_seed, **params)
    if sec.dataset == "imdb":
        from sumsim.data.imdb import load_imdb

        return load_imdb(path, num_words=sec.num_words)
    from sumsim.data.tabular import load_table

    if path is None:
        raise DataError(f"dataset {sec.dataset!r} needs a path", field="data.path")
    if _is_folder(Path(path)):
        raise DataError(f"dataset {sec.dataset!r} reads a .{sec.dataset} file, got a folder "
                        f"({str(path)!r})")
    if Path(path).suffix.lower() != f".{sec.dataset}":  # (the loader goes by the suffix)
        raise DataError(f"dataset {sec.dataset!r} reads a .{sec.dataset} file, got "
                        f"{Path(path).name!r}; set data.dataset to match the file")
    return load_table(path, label_column=sec.label_column, text_column=sec.text_column,
                      feature_columns=sec.feature_columns, text_features=sec.text_features,
                      num_words=sec.num_words, test_fraction=sec.test_fraction, seed=data_seed)


def _is_folder(path: Path) -> bool:
    """Whether ``path`` is a folder (a path the system cannot take is not: the loader's own
    checks word that)."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def check_data_path(sec: DataSection, data_path: object, option: str) -> None:
    """Refuse a dataset path given for synthetic data (it would be silently ignored).
    ``option``: how the caller names it (``--data-path``, ``data_path``)."""
    if data_path is not None and sec.dataset == "synthetic":
        raise InputError("the scenario's dataset is 'synthetic', which reads no file; drop "
                         f"{option} or set data.dataset", field=option)


def scenario_data_file(sec: DataSection, base_dir: Path | None) -> str | None:
    """The file ``data.path`` names: relative to the scenario file's folder (``base_dir``) when
    it is relative and that folder is known."""
    if not sec.path:
        return None
    p = Path(sec.path).expanduser()
    return str(p if p.is_absolute() or base_dir is None else (base_dir / p).absolute())


def path_origin(sec: DataSection, path_override: object, option: str) -> str:
    """Where the dataset path :func:`load_dataset` reads comes from, for its errors: the
    caller's ``option`` (``--data-path``), ``SUMSIM_IMDB`` or ``data.path``."""
    origin = _data_source(sec, path_override, None)[1]
    return option if origin == _OVERRIDE else origin


def load_dataset(sec: DataSection, scenario_seed: int, path_override: str | None = None,
                 base_dir: Path | None = None) -> Dataset:
    """Build (or fetch from the in-process cache) the dataset a scenario names.

    For IMDB the path comes from ``path_override`` (``--data-path``), then ``SUMSIM_IMDB``,
    then the scenario's ``data.path`` (relative to the scenario file), then the loader's own
    cache/download.
    """
    path = _data_source(sec, path_override, base_dir)[0]
    data_seed = sec.synthetic.seed if sec.synthetic.seed is not None else scenario_seed
    relevant = sec.model_dump_json(exclude={"init_train_fraction", "shuffle", "max_pool",
                                            "max_test"})
    return _cached(relevant + str(data_seed) + str(path) + _version(path), relevant, data_seed,
                   path)


#: :func:`_data_source`'s name for a path the caller gave (``--data-path``, ``data_path``).
_OVERRIDE = "override"


def _data_source(sec: DataSection, path_override: Any, base_dir: Path | None
                 ) -> tuple[str | None, str]:
    """The file or folder :func:`load_dataset` reads (None: synthetic data, or IMDB's own
    cache) and where it comes from (:data:`_OVERRIDE`, ``SUMSIM_IMDB`` or ``data.path``),
    in the order they take precedence."""
    if path_override is not None:
        return path_override, _OVERRIDE
    if sec.dataset == "imdb" and os.environ.get("SUMSIM_IMDB") is not None:
        return os.environ["SUMSIM_IMDB"], "SUMSIM_IMDB"
    return scenario_data_file(sec, base_dir), "data.path"



def data_version(sec: DataSection, path_override: str | None = None,
                 base_dir: Path | None = None) -> str:
    """What identifies the data :func:`load_dataset` would read now: its path, modification
    time and size (two processes reading "the same" data compare it: one edited in between
    is another)."""
    path = _data_source(sec, path_override, base_dir)[0]
    return str(path) + _version(path)


def _version(path: str | None) -> str:
    """The file's modification time and size: a file edited between two runs of one process
    (a notebook) is read again, not served from the cache."""
    try:
        st = os.stat(path) if path is not None else None
    except (OSError, ValueError):  # (the loader names what is wrong with the path)
        return ""
    return "" if st is None else f":{st.st_mtime_ns}:{st.st_size}"


def forget_datasets() -> None:
    """Empty the in-process cache (a process that has run its last scenario frees the data
    before writing large outputs)."""
    _CACHE.clear()
