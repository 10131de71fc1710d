"""The public API's scenario sources: a bundled name is not shadowed by a folder of that name."""

from __future__ import annotations

from pathlib import Path

import pytest

import sumsim
from sumsim.errors import InputError


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


def test_a_loaded_scenario_takes_a_kind_override_as_its_file_would() -> None:
    """A Scenario was copied with every default filled in, so switching a kind left the old
    kind's options behind (``model.variant: unknown field``); now what was written or
    assigned is copied, and a switch the file's own options block says how to replace the
    table."""
    sc = sumsim.load("quickstart")
    sc.agents[1].balance = 500  # (assigned: kept)
    nb = sumsim.load(sc, overrides={"model.kind": "naive_bayes"})
    assert nb.model.kind == "naive_bayes" and nb.agents[1].balance == 500 * 10**18
    assert sumsim.load(sc).model_dump() == sc.model_dump()
    with pytest.raises(InputError, match=r"incentive\.cost_weight: unknown field "
                       r"\(overrides\['incentive\.kind'\] changes the kind only: .* e\.g\. "
                       r"overrides=\{'incentive': \{'kind': 'points'\}\}\)"):
        sumsim.load(sc, overrides={"incentive.kind": "points"})
    assert sumsim.load(sc, overrides={"incentive": {"kind": "points"}}).incentive.kind == \
        "points"


def test_an_assignment_a_field_refuses_is_an_input_error_naming_it() -> None:
    """Setting a field from Python is checked as the file's value would be, and refused as
    sumsim refuses input: an InputError naming the field and what was wrong."""
    sc = sumsim.load("quickstart")
    with pytest.raises(InputError, match=r"LabelFlipConfig budget: expected a decimal "
                       r"amount, got 'abc'"):
        sc.agents[1].budget = "abc"
    with pytest.raises(InputError, match=r"seed: Input should be greater than or "
                       r"equal to 0 \(got -1\)"):
        sc.scenario.seed = -1
    with pytest.raises(InputError, match=r"sed: unknown field; did you mean 'seed'\?"):
        sc.scenario.sed = 1  # type: ignore[attr-defined]
    sc.agents[1].budget = 300  # (and a good one converts, ether to wei)
    assert sc.agents[1].budget == 300 * 10**18
    # A distribution is set whole (its options are checked together): one option alone is
    # refused likewise, saying what to assign.
    with pytest.raises(InputError, match=r"Normal mean: a normal distribution is set as a "
                       r"whole: assign the whole table to the field holding it, e\.g\. "
                       r"agent\.interval_s = \{'dist': 'normal', 'mean': 900, 'sd': 1\.0\}"):
        sc.agents[1].interval_s.mean = 900  # type: ignore[misc]
    sc.agents[1].interval_s = {"dist": "normal", "mean": 900, "sd": 1.0}
    assert sc.agents[1].interval_s.mean == 900


def test_a_value_put_in_a_list_unchecked_is_refused_without_pydantic_noise(
        recwarn: pytest.WarningsRecorder) -> None:
    """Lists are not watched on assignment (``sc.agents.append(5)``): the scenario is validated
    again when it is used, and the error is sumsim's alone."""
    sc = sumsim.load("quickstart")
    sc.agents.append(5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"<scenario>: agents\[2\]: Input should be a valid "
                       r"dictionary"):
        sumsim.load(sc)
    assert not [w for w in recwarn.list if "Pydantic" in str(w.message)]
