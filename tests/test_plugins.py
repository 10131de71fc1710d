"""The plug-in registry: one mechanism for agents, defenses, models and mechanisms."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any, Literal

import pytest

import sumsim.registry as registry
from sumsim.agents.label_flip import LabelFlip, LabelFlipConfig
from sumsim.cli import main
from sumsim.registry import Plugin
from sumsim.scenario.loader import parse_scenario


class LoudFlipConfig(LabelFlipConfig):
    kind: Literal["loud_flip"]  # type: ignore[assignment]
    shout: int = 3


class LoudFlip(LabelFlip):
    """A third-party flipper."""

    config: LoudFlipConfig  # type: ignore[assignment]


@pytest.fixture
def loud_flip():  # type: ignore[no-untyped-def]
    registry.register("agents", Plugin(LoudFlipConfig, LoudFlip), origin="example-plugin")
    yield
    registry.unregister("agents", "loud_flip")


def test_a_registered_strategy_is_listed_and_validated(loud_flip, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "loud_flip" in out and "A third-party flipper." in out and "[example-plugin]" in out
    sc = parse_scenario({"agents": [
        {"name": "good", "kind": "honest", "balance": 10},
        {"name": "loud", "kind": "loud_flip", "balance": 10, "shout": 5}]})
    assert sc.agents[1].shout == 5
    with pytest.raises(Exception, match=r"agents\[1\]\.shout"):
        parse_scenario({"agents": [
            {"name": "good", "kind": "honest", "balance": 10},
            {"name": "loud", "kind": "loud_flip", "balance": 10, "shout": "x"}]})


class QuietFlipConfig(LabelFlipConfig):
    kind: Literal["quiet_flip"]  # type: ignore[assignment]


class QuietFlip(LabelFlip):
    config: QuietFlipConfig  # type: ignore[assignment]


def test_a_plugin_without_a_docstring_is_listed_saying_where_a_description_goes(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert QuietFlip.__doc__ is None  # (a class's docstring is not inherited)
    registry.register("agents", Plugin(QuietFlipConfig, QuietFlip), origin="example-plugin")
    try:
        assert main(["plugins"]) == 0
        line = next(ln for ln in capsys.readouterr().out.splitlines() if "quiet_flip" in ln)
        assert "(no description: give the class a docstring, or Plugin(..., " \
            "description=...))  [example-plugin]" in line
        assert main(["plugins", "quiet_flip"]) == 0
        assert capsys.readouterr().out.startswith(
            "quiet_flip (agent, from example-plugin): (no description")
    finally:
        registry.unregister("agents", "quiet_flip")


def test_unregistering_removes_the_kind_from_the_schema(loud_flip) -> None:  # type: ignore[no-untyped-def]
    registry.unregister("agents", "loud_flip")
    with pytest.raises(Exception, match=r"unknown kind 'loud_flip'"):
        parse_scenario({"agents": [{"name": "loud", "kind": "loud_flip", "balance": 10}]})


def test_a_kind_cannot_be_registered_twice_by_different_code() -> None:
    with pytest.raises(ValueError, match="already registered"):
        registry.register("agents", Plugin(HonestClash, LabelFlip))


class HonestClash(LabelFlipConfig):
    kind: Literal["honest"]  # type: ignore[assignment]


def test_kind_is_read_from_the_config_literal() -> None:
    assert Plugin(LoudFlipConfig, LoudFlip).kind == "loud_flip"
    with pytest.raises(TypeError, match="Literal"):
        Plugin(LabelFlipConfig.__bases__[0], LoudFlip)  # AttackerConfig: kind is a plain str


@pytest.mark.parametrize("group", registry.GROUPS)
def test_every_builtin_module_is_registered_through_an_entry_point(group: str) -> None:
    """Built-ins are plug-ins like any other: each module with a `plugin` has an entry point
    (so a module without one would silently be missing from installed copies)."""
    pkg = importlib.import_module(f"sumsim.{group}")
    declared = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"sumsim.{group}.{info.name}")
        if isinstance(getattr(mod, "plugin", None), Plugin):
            declared[mod.plugin.kind] = mod.plugin
    installed = registry.plugins(group)
    assert declared, f"no built-in {group}"
    for kind, plugin in declared.items():
        assert installed[kind].impl is plugin.impl
        assert installed[kind].origin == "sumsim"


def test_unknown_group_and_kind_are_named() -> None:
    with pytest.raises(ValueError, match="unknown plug-in group"):
        registry.register("widgets", Plugin(LoudFlipConfig, LoudFlip))
    with pytest.raises(KeyError, match=r"no model kind 'svm'; installed: \["):
        registry.get("models", "svm")


class _EntryPoint:
    """What the registry reads of an installed entry point."""

    def __init__(self, name: str, value: str, load: Any, dist: str = "their-package"):
        self.name, self.value, self._load = name, value, load
        self.dist = type("Dist", (), {"name": dist})()

    def load(self) -> Any:
        return self._load()


def _fails(message: str) -> Any:
    def load() -> Any:
        raise ImportError(message)
    return load


@pytest.mark.parametrize(("name", "load", "why"), [
    ("gone", _fails("No module named 'their_package'"), "ImportError: No module named"),
    ("loud_flip", lambda: 42, "does not name a sumsim Plugin"),
    ("other_name", lambda: Plugin(LoudFlipConfig, LoudFlip),
     "its kind is 'loud_flip': name the entry point after the kind"),
    ("honest", lambda: Plugin(HonestClash, LabelFlip), "'honest' is already registered by sumsim"),
])
def test_a_broken_installed_plugin_is_left_out_naming_it(name: str, load: Any,
                                                         why: str) -> None:
    """One broken package must not stop every command: it is left out with a warning naming
    the entry point, its package and the reason, and a scenario asking for it is told so."""
    before = dict(registry.plugins("agents"))
    ep = _EntryPoint(name, f"their_package.{name}:plugin", load)
    with pytest.warns(registry.PluginWarning) as warned:
        registry._register_entry_point("agents", ep, registry._origin(ep, {}))
    line = str(warned[0].message)
    assert line.startswith(f"entry point {name} = their_package.{name}:plugin (group "
                           "sumsim.agents, from their-package): left out: ")
    assert why in line
    try:
        assert registry.plugins("agents") == before  # the built-ins untouched
        with pytest.raises(KeyError, match="left out: "):
            registry.get("agents", "nonexistent")
    finally:
        registry.broken.remove(line)


def test_a_plugin_of_another_group_is_refused() -> None:
    """An agent listed under ``sumsim.mechanisms`` (or registered there from code) would fail
    deep inside a run (no ``from_config``): it is left out, naming the base it lacks."""
    before = dict(registry.plugins("mechanisms"))
    ep = _EntryPoint("loud_flip", "their_package.flip:plugin",
                     lambda: Plugin(LoudFlipConfig, LoudFlip))
    with pytest.warns(registry.PluginWarning) as warned:
        registry._register_entry_point("mechanisms", ep, registry._origin(ep, {}))
    line = str(warned[0].message)
    try:
        assert "left out: TypeError: not a plug-in of the group 'mechanisms': its " \
            "implementation" in line
        assert "does not derive from sumsim.contract.mechanism.IncentiveMechanism" in line
        assert "its config" in line and "MechanismConfig" in line
        assert registry.plugins("mechanisms") == before
    finally:
        registry.broken.remove(line)
    with pytest.raises(TypeError, match="not a plug-in of the group 'models'"):
        registry.register("models", Plugin(LoudFlipConfig, LoudFlip))
    assert "loud_flip" not in registry.plugins("models")


def test_a_plugin_is_checked_where_it_is_declared() -> None:
    from pydantic import BaseModel

    class Plain(BaseModel):
        kind: Literal["plain"]

    with pytest.raises(TypeError, match="subclass of sumsim.config.PluginConfig"):
        Plugin(Plain, LoudFlip)
    with pytest.raises(TypeError, match="implementation must be a class, got 42"):
        Plugin(LoudFlipConfig, 42)


def test_a_plugins_own_bug_says_whose_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception from a strategy's contribute() or a defense's check() is a bug in that
    plug-in (exit code 1, with its traceback); its note names the plug-in."""
    import sumsim
    from sumsim.agents.honest import Honest
    from sumsim.defenses.rate_limit import RateLimit

    def broken(self: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Honest, "contribute", broken)
    with pytest.raises(RuntimeError, match="boom") as err:
        sumsim.run("quickstart", overrides={"data.max_pool": 50})
    assert getattr(err.value, "__notes__", None) == [
        "in the contribute() of agent 'good' (kind 'honest', sumsim.agents.honest)",
        "at simulated day 0.0 (0 s), after block 0"]
    monkeypatch.undo()

    monkeypatch.setattr(RateLimit, "check", lambda self, ctx, x, y: "yes")
    with pytest.raises(ValueError, match="too many values to unpack") as err2:
        sumsim.run("sybil-rate-limit", overrides={"data.max_pool": 50})
    notes = getattr(err2.value, "__notes__", None) or \
        getattr(err2.value.__cause__, "__notes__", None)
    assert notes is not None and notes[0] == (
        "in the check() of defense RateLimit (sumsim.defenses.rate_limit), which must return "
        "(verdict, reason)")
    assert notes[1:] == [] or notes[1].startswith("at simulated day ")


@pytest.mark.parametrize("wait", [-1.0, float("nan"), float("inf"), None, "10"])
def test_a_strategy_asking_for_an_impossible_wait_is_named(monkeypatch: pytest.MonkeyPatch,
                                                           wait: Any) -> None:
    """A strategy whose ``next_turn_s()`` gives a negative, NaN, infinite or non-numeric wait
    (its next turn in the past, nowhere, never, or a TypeError deep in the scheduler) stops
    the run naming the strategy."""
    import sumsim
    from sumsim.agents.label_flip import LabelFlip

    monkeypatch.setattr(LabelFlip, "next_turn_s", lambda self: wait)
    with pytest.raises(ValueError, match=r"agent 'bad' \(kind 'label_flip', "
                       r"sumsim.agents.label_flip\) asked to wait .* s for its next turn"):
        sumsim.run("quickstart", overrides={"data.max_pool": 50})


def test_a_strategy_hooks_own_bug_says_whose_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception from another hook of a strategy (here ``has_material()``) carries a note
    naming the agent, as one from ``contribute()`` does."""
    import sumsim
    from sumsim.agents.label_flip import LabelFlip

    def broken(self: Any) -> bool:
        raise KeyError("oops")

    monkeypatch.setattr(LabelFlip, "has_material", broken)
    with pytest.raises(KeyError) as err:
        sumsim.run("quickstart", overrides={"data.max_pool": 50})
    assert getattr(err.value, "__notes__", None) == [
        "in a turn of agent 'bad' (kind 'label_flip', sumsim.agents.label_flip)",
        "at simulated day 0.0 (0 s), after block 0"]



def test_the_command_shows_a_left_out_plugin_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """On the command line a plug-in left out is one ``warning:`` line on stderr (not
    Python's warning format with a source line under it); other warnings keep theirs."""
    import warnings

    real = registry.plugins

    def plugins(group: str) -> Any:
        warnings.warn("entry point gone = their_package.gone:plugin (group sumsim.agents): "
                      "left out: ImportError: nope", registry.PluginWarning, stacklevel=2)
        return real(group)

    monkeypatch.setattr(registry, "plugins", plugins)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["plugins"]) == 0
    err = capsys.readouterr().err
    assert err.splitlines()[0] == ("warning: entry point gone = their_package.gone:plugin "
                                   "(group sumsim.agents): left out: ImportError: nope")
    assert "warnings.warn" not in err and "PluginWarning" not in err
    assert warnings.showwarning.__module__ != "sumsim.cli"  # (restored after the command)


def test_a_left_out_plugin_is_named_once_by_a_sweep_with_workers(tmp_path: Path) -> None:
    """Each process-pool worker reads the entry points again; only the sweep's own process
    names a plug-in left out (once, in one line), not every worker in Python's format."""
    import os
    import subprocess
    import sys

    info = tmp_path / "site" / "brokenplug-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[sumsim.agents]\nbroken = no_such_module_x:plugin\n")
    point = '"data.max_pool" = 30\n"metrics.counterfactual" = false\n"metrics.figure" = false\n'
    (tmp_path / "sw.toml").write_text(
        '[sweep]\nbase = "quickstart"\nseeds = 2\n'
        f'[[points]]\n{point}"agents[1].budget" = 100\n'
        f'[[points]]\n{point}"agents[1].budget" = 200\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(tmp_path / "site"), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "sumsim", "sweep", str(tmp_path / "sw.toml"),
                           "--out", str(tmp_path / "out"), "--workers", "2", "-q"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    named = [ln for ln in done.stderr.splitlines() if "no_such_module_x" in ln]
    assert len(named) == 1 and named[0].startswith("warning: entry point broken = "), \
        done.stderr


def test_one_kinds_options_are_listed_with_types_defaults_and_meanings(
        loud_flip, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """``sumsim plugins KIND`` prints each option of the kind's config as a scenario file
    writes it: amounts in ether, waits as distributions, the plug-in's own options too."""
    assert main(["plugins", "loud_flip", "perceptron"]) == 0
    out = capsys.readouterr().out
    head, *rest = out.splitlines()
    assert head.startswith("loud_flip (agent, from example-plugin): A third-party flipper.")
    options = {ln.split()[0]: ln.split(None, 1)[1] for ln in rest
               if ln.startswith("  ") and not ln.startswith("   ")}
    assert options["shout"].split() == ["int", "default", "3"]
    assert options["balance"].split() == ["ether", "default", "(required)"]
    assert options["budget"].split()[:3] == ["ether", "|", "None"]
    assert options["interval_s"].startswith("distribution  default {\"dist\": \"exponential\"")
    assert "perceptron (model, from sumsim)" in out and "'standard' | 'original'" in out
    assert main(["plugins", "no_such_kind"]) == 2
    assert "plugins: no plug-in kind 'no_such_kind'; installed: " in capsys.readouterr().err
