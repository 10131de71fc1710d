"""The public API's scenario sources: a bundled name is not shadowed by a folder of that name."""

from __future__ import annotations

from pathlib import Path

import pytest

import sumsim


def test_a_bundled_name_loads_beside_a_folder_of_that_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "quickstart").mkdir()          # e.g. `sumsim run --out quickstart`
    monkeypatch.chdir(tmp_path)
    sc = sumsim.load("quickstart")
    assert sc.scenario.name == "quickstart"
    assert [a.name for a in sc.agents] == ["good", "bad"]


def test_a_file_beside_shadows_the_bundled_name(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "quickstart.toml").write_text(
        '[scenario]\nname = "mine"\n[[agents]]\nname = "a"\nkind = "honest"\nbalance = 1\n')
    monkeypatch.chdir(tmp_path)
    assert sumsim.load("quickstart.toml").scenario.name == "mine"
