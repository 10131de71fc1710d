"""Third-party strategies: registration through the `sumsim.agents` entry-point group."""

from __future__ import annotations

from typing import Literal

import pytest

from sumsim.agents.label_flip import LabelFlip, LabelFlipConfig
from sumsim.cli import main
from sumsim.scenario import registry
from sumsim.scenario.loader import parse_scenario
from sumsim.scenario.schema import scenario_model


class LoudFlipConfig(LabelFlipConfig):
    kind: Literal["loud_flip"]  # type: ignore[assignment]
    shout: int = 3


class LoudFlip(LabelFlip):
    config: LoudFlipConfig  # type: ignore[assignment]


def register() -> None:
    registry.register_agent("loud_flip", LoudFlipConfig, LoudFlip, "A third-party flipper.",
                            origin="example-plugin")


class FakeEntryPoint:
    name = "loud"

    def load(self):  # type: ignore[no-untyped-def]
        return register


@pytest.fixture
def plugin_installed(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "entry_points",
                        lambda group: [FakeEntryPoint()] if group == "sumsim.agents" else [])
    scenario_model.cache_clear()
    yield
    registry.AGENTS.pop("loud_flip", None)
    scenario_model.cache_clear()


def test_entry_point_strategy_is_listed_and_validated(plugin_installed, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "loud_flip" in out and "example-plugin" in out
    sc = parse_scenario({"agents": [
        {"name": "good", "kind": "honest", "balance": 10},
        {"name": "loud", "kind": "loud_flip", "balance": 10, "shout": 5}]})
    assert sc.agents[1].shout == 5
    with pytest.raises(Exception, match=r"agents\[1\]\.shout"):
        parse_scenario({"agents": [
            {"name": "good", "kind": "honest", "balance": 10},
            {"name": "loud", "kind": "loud_flip", "balance": 10, "shout": "x"}]})


def test_a_kind_cannot_be_registered_twice_by_different_code() -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register_agent("honest", LabelFlipConfig, LabelFlip, "clash")
