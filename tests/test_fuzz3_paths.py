"""Fuzzing round 3: paths the system cannot take (too long, a NUL, a loop of links), sweep
bases that are not scenarios, and outputs that cannot be written."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import polars as pl
import pytest

from sumsim.cli import main
from sumsim.errors import InputError, WriteError
from sumsim.io import atomic_write, check_folder, write_parquet
from sumsim.scenario.loader import read_toml

LONG = "a" * 5000  # (longer than any file name the system takes)
TINY = ["--set", "data.synthetic.n_train=200", "--set", "data.synthetic.n_test=50",
        "--set", "metrics.figure=false"]


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize("value", [f"{LONG}.csv", "a\\u0000b.csv"])
def test_a_data_path_the_system_cannot_take_is_an_input_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    code = main(["run", "quickstart", "--out", str(tmp_path / "o"), "-q", *TINY,
                 "--set", 'data.dataset="csv"', "--set", f'data.path="{value}"'])
    assert code == 2
    assert "data.path" in _one_line(capsys)


def test_an_imdb_path_the_system_cannot_take_is_an_input_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "quickstart", "--out", str(tmp_path / "o"), "-q",
                 "--set", 'data.dataset="imdb"', "--set", f'data.path="{LONG}"'])
    assert code == 2
    assert "cannot use this path: File name too long" in _one_line(capsys)


@pytest.mark.parametrize("out", [LONG, f"x/{LONG}/y"])
def test_an_out_folder_the_system_cannot_take_is_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], out: str) -> None:
    code = main(["run", "quickstart", "--out", str(tmp_path / out), "-q", *TINY])
    assert code == 2
    assert "--out" in _one_line(capsys)


def test_a_loop_of_links_as_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(InputError, match="--out.*symbolic links"):
        check_folder(tmp_path / "a")


def test_a_scenario_path_with_a_nul_is_an_input_error() -> None:
    with pytest.raises(InputError, match="NUL"):
        read_toml("a\x00b.toml")


def _sweep(folder: Path, base: str) -> Path:
    path = folder / "sweep.toml"
    path.write_text(f'[sweep]\nbase = {base}\n[grid]\n"chain.block_time_s" = [12]\n')
    return path


@pytest.mark.parametrize(("base", "expected"), [
    (f'"{LONG}"', "File name too long"),
    ('"a\\u0000b"', "NUL"),
    ('""', "got an empty name"),
    ('"sweep.toml"', "is a sweep file, not a scenario"),
    ('"/dev/null"', "not a regular file"),
])
def test_a_sweep_base_that_is_not_a_scenario_names_the_sweep_file_and_field(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], base: str, expected: str) -> None:
    path = _sweep(tmp_path, base)
    code = main(["sweep", str(path), "--out", str(tmp_path / "o"), "--executor", "local", "-q"])
    assert code == 2
    line = _one_line(capsys)
    assert line.startswith(f"{path}: sweep.base: ") and expected in line


def test_an_unwritable_out_folder_is_refused_before_the_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """(As root, a folder's mode does not stop writes: a read-only disk does; ``os.access`` is
    what tells, and what the check asks.)"""
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != locked and
                        real(p, mode, **kw))
    code = main(["run", "quickstart", "--out", str(locked / "o"), "-q", *TINY])
    assert code == 2
    assert "is read-only or may not be written" in _one_line(capsys)
    with pytest.raises(WriteError, match="--out"):
        check_folder(locked / "sweep")


def test_a_disk_that_fills_up_while_a_run_is_written_is_one_line_and_leaves_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sumsim.outputs as outputs

    def full(path: Path, df: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(outputs, "write_parquet", full)
    out = tmp_path / "o"
    code = main(["run", "quickstart", "--out", str(out), "-q", *TINY])
    assert code == 2
    assert f"{out}: cannot write: No space left on device" in _one_line(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_atomic_write_is_a_write_error_naming_the_file(tmp_path: Path) -> None:
    folder = tmp_path / "results.parquet"
    folder.mkdir()
    with pytest.raises(WriteError, match="results.parquet: cannot write"):
        write_parquet(folder, pl.DataFrame({"x": [1]}))
    assert [p.name for p in tmp_path.iterdir()] == ["results.parquet"]


def test_polars_reporting_a_full_disk_is_a_write_error(tmp_path: Path) -> None:
    def write(p: Path) -> None:
        raise pl.exceptions.ComputeError("parquet: File out of specification: Invalid thrift: "
                                         "transport error")

    with pytest.raises(WriteError, match="is the disk full"):
        atomic_write(tmp_path / "t.parquet", write)

    def bug(p: Path) -> None:
        raise pl.exceptions.ComputeError("a column of the wrong type")

    with pytest.raises(pl.exceptions.ComputeError):  # (not every ComputeError is a write's)
        atomic_write(tmp_path / "t.parquet", bug)


def test_replacing_a_run_folder_whose_parent_cannot_be_written_is_refused_before_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The outputs are made in a sibling folder and renamed into place: with --force on a
    writable folder in a read-only one, the run went on and its outputs could not be written."""
    from sumsim.outputs import check_free

    parent = tmp_path / "ro"
    (parent / "out").mkdir(parents=True)
    (parent / "out" / "old").write_text("x")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != parent and
                        real(p, mode, **kw))
    with pytest.raises(WriteError, match="ro is read-only or may not be written"):
        check_free(parent / "out", force=True)
