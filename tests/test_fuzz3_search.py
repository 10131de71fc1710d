"""Fuzzing round 3: search files and search folders edited or damaged by hand."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from sumsim.errors import InputError
from sumsim.searches import RUNS, STUDY_DB, _read_runs, load_search, run_search

TINY = {"data.max_pool": 60, "data.synthetic.n_train": 200, "data.synthetic.n_test": 60,
        "metrics.figure": False, "metrics.eval_every_s": 86_400}


def write_search(folder: Path, **search: Any) -> Path:
    doc = {"search": {"name": "t", "base": "quickstart", "seeds": 1, "trials": 1, **search},
           "overrides": TINY, "objectives": [{"metric": "accuracy.final"}],
           "space": {"agents[1].max_deposit": {"low": 10, "high": 100}}}
    path = folder / "search.toml"
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/x", "", "a b"])
def test_a_search_name_must_name_a_folder_of_its_own(tmp_path: Path, name: str) -> None:
    """The name is the default output folder (sumsim-out/NAME): '../../x' or an absolute path
    wrote the search outside sumsim-out, anywhere."""
    with pytest.raises(InputError, match=r"search\.name: .*cannot name an output folder"):
        load_search(write_search(tmp_path, name=name))


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("search")
    spec = write_search(folder)
    run_search(load_search(spec), folder / "out", executor="local")
    return spec, folder / "out"


def _copy(src: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(src, dest)
    return dest


@pytest.mark.parametrize(("text", "why"), [
    ("{x", "Expecting property name"), ("[1]", "expected an object with a fingerprint"),
    ("{}", "expected an object with a fingerprint"),
    ('{"fingerprint": 3}', "expected an object with a fingerprint")])
def test_a_damaged_search_stamp_is_an_input_error(
        searched: tuple[Path, Path], tmp_path: Path, text: str, why: str) -> None:
    spec, out = searched
    out = _copy(out, tmp_path / "out")
    (out / "search.json").write_text(text)
    with pytest.raises(InputError, match=rf"search\.json: not a search stamp \({why}") as info:
        run_search(load_search(spec), out, executor="local", trials=2)
    assert "remove the file to resume" in str(info.value)


def test_lines_of_runs_jsonl_edited_into_something_else_are_skipped(
        searched: tuple[Path, Path], tmp_path: Path) -> None:
    spec, out = searched
    out = _copy(out, tmp_path / "out")
    before = _read_runs(out)
    with open(out / RUNS, "ab") as f:
        f.write(b'[1, 2]\n{"a": 1}\n{"run_id": 5}\n\xff\xfe\nnull\n')
    assert _read_runs(out) == before and before
    res = run_search(load_search(spec), out, executor="local", trials=2)
    assert res.trials.height == 2


def test_a_study_file_that_is_not_a_database_is_an_input_error(
        searched: tuple[Path, Path], tmp_path: Path) -> None:
    spec, out = searched
    out = _copy(out, tmp_path / "out")
    (out / STUDY_DB).write_text("garbage")
    with pytest.raises(InputError, match=r"search\.db: not a readable Optuna study \(file is "
                       r"not a database\)"):
        run_search(load_search(spec), out, executor="local", trials=2)
    assert json.loads((out / "search.json").read_text())["fingerprint"]  # (left as it was)


def test_a_search_that_runs_no_trial_is_an_error(tmp_path: Path) -> None:
    """Its wall-clock allowance spent before the first trial: no result, an error (as for a
    search whose trials all failed), not a quiet "0 trials"."""
    from sumsim.searches import NoTrialCompleted

    with pytest.raises(NoTrialCompleted, match="no trial was run"):
        run_search(load_search(write_search(tmp_path)), tmp_path / "out", executor="local",
                   max_wall_s=1e-9)


def test_a_full_disk_under_the_study_is_one_line_and_keeps_the_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite failing to commit for want of space (Optuna wraps it in an error blaming
    "invalid data") is a write error naming the study's file, and the runs stay."""
    import sqlite3

    import optuna

    import sumsim.searches as searches
    from sumsim.errors import WriteError

    def full(*_: Any) -> Any:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError as e:
            raise optuna.exceptions.StorageInternalError(
                "An exception is raised during the commit.") from e

    monkeypatch.setattr(searches, "_tell", full)
    out = tmp_path / "out"
    with pytest.raises(WriteError, match=r"cannot write: the study's database: database or "
                       r"disk is full \(free some space"):
        run_search(load_search(write_search(tmp_path)), out, executor="local")
    assert _read_runs(out)  # the finished run is kept
