"""A plug-in that gives the contract something it cannot use, or raises, is named.

Each plug-in below is a small, deliberately broken subclass of a built-in, registered for the
test the way an entry point registers one; the run must stop with an error (or a note on the
plug-in's own exception) that names the plug-in's class, method and module, rather than fail
later somewhere else (a ledger refusing a float, a JSON encoder refusing a NumPy integer) or
quietly price gas from a negative slot count.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pytest

import sumsim
import sumsim.registry as registry
from sumsim.contract.data_handler import Contribution
from sumsim.errors import RunCannotFinish
from sumsim.mechanisms.drt import DepositRefundTake, DRTConfig
from sumsim.models.base import Model, UpdatePlan
from sumsim.models.perceptron import Perceptron, PerceptronConfig
from sumsim.registry import Plugin

HERE = __name__
SMALL = {"data.max_pool": 60, "metrics.counterfactual": False}


# -- mechanisms ----------------------------------------------------------------------------

class ThirdDepositConfig(DRTConfig):
    kind: Literal["third_deposit"] = "third_deposit"  # type: ignore[assignment]


class ThirdDeposit(DepositRefundTake):
    """Asks a third of the deposit, as a float."""

    def required_deposit(self, now: int) -> int:
        return super().required_deposit(now) / 3  # type: ignore[return-value]


class FloatRefundConfig(DRTConfig):
    kind: Literal["float_refund"] = "float_refund"  # type: ignore[assignment]


class FloatRefund(DepositRefundTake):
    """Refunds a float."""

    def check_refund(self, rec: Contribution, sender: str, now: int, agrees: bool) -> int:
        return float(super().check_refund(rec, sender, now, agrees))  # type: ignore[return-value]


class NegativeRefundConfig(DRTConfig):
    kind: Literal["negative_refund"] = "negative_refund"  # type: ignore[assignment]


class NegativeRefund(DepositRefundTake):
    """Refunds -1 wei."""

    def check_refund(self, rec: Contribution, sender: str, now: int, agrees: bool) -> int:
        super().check_refund(rec, sender, now, agrees)
        return -1


class NumpyKeepConfig(DRTConfig):
    kind: Literal["numpy_keep"] = "numpy_keep"  # type: ignore[assignment]


class NumpyKeep(DepositRefundTake):
    """Keeps the deposit as a NumPy integer."""

    def check_add(self, now: int, value: int) -> int:
        return np.int64(super().check_add(now, value))  # type: ignore[return-value]


class NanTimesConfig(DRTConfig):
    kind: Literal["nan_times"] = "nan_times"  # type: ignore[assignment]


class NanTimes(DepositRefundTake):
    """Cannot say when a claim opens."""

    def claim_times(self, rec: Contribution) -> tuple[float, float]:  # type: ignore[override]
        return math.nan, math.nan


class NeverTakenConfig(DRTConfig):
    kind: Literal["never_taken"] = "never_taken"  # type: ignore[assignment]


class NeverTaken(DepositRefundTake):
    """Nobody may ever take what is left: the any-address wait never ends."""

    def claim_times(self, rec: Contribution) -> tuple[float, float]:  # type: ignore[override]
        return rec.added_time + self.t_r, math.inf

    def check_report(self, rec: Contribution, reporter: str, now: int, agrees: bool,
                     owner: str) -> int:
        from sumsim.chain.tx import Revert
        raise Revert("Never.")


class NumpySummaryConfig(DRTConfig):
    kind: Literal["numpy_summary"] = "numpy_summary"  # type: ignore[assignment]


class NumpySummary(DepositRefundTake):
    """Reports its counters as NumPy values (and, when asked to, an object JSON cannot hold)."""

    odd = False

    def summary(self) -> dict[str, Any]:
        out = {**super().summary(), "good_np": np.int64(self.total_good),
               "rate_np": np.float64(0.5), "seen": np.arange(3)}
        if self.odd:
            out["when"] = {"first": object()}
        return out


# -- models --------------------------------------------------------------------------------

class NegativeSlotsConfig(PerceptronConfig):
    kind: Literal["negative_slots"] = "negative_slots"  # type: ignore[assignment]


class NegativeSlots(Perceptron):
    """Reads -5 slots per prediction."""

    def read_slots(self, x: np.ndarray) -> int:
        return -5


class HalfSlotConfig(PerceptronConfig):
    kind: Literal["half_slot"] = "half_slot"  # type: ignore[assignment]


class HalfSlot(Perceptron):
    """Plans to write one and a half new slots."""

    def plan_update(self, x: np.ndarray, y: int) -> UpdatePlan:
        plan = super().plan_update(x, y)
        return UpdatePlan(1.5, plan.updated_slots, True) if plan.trains else plan  # type: ignore[arg-type]


class BrokenFitConfig(PerceptronConfig):
    kind: Literal["broken_fit"] = "broken_fit"  # type: ignore[assignment]


class BrokenFit(Perceptron):
    """Fails to train off-chain."""

    def fit(self, x: Any, y: np.ndarray) -> Perceptron:
        raise KeyError("no such column")


class BrokenUpdateConfig(PerceptronConfig):
    kind: Literal["broken_update"] = "broken_update"  # type: ignore[assignment]


class BrokenUpdate(Perceptron):
    """Fails while applying an on-chain update."""

    def apply_update(self, x: np.ndarray, y: int, plan: UpdatePlan) -> None:
        if plan.trains:
            raise IndexError("weight out of range")


PLUGINS = {
    "mechanisms": [Plugin(ThirdDepositConfig, ThirdDeposit), Plugin(FloatRefundConfig, FloatRefund),
                   Plugin(NegativeRefundConfig, NegativeRefund),
                   Plugin(NumpyKeepConfig, NumpyKeep), Plugin(NanTimesConfig, NanTimes),
                   Plugin(NeverTakenConfig, NeverTaken),
                   Plugin(NumpySummaryConfig, NumpySummary)],
    "models": [Plugin(NegativeSlotsConfig, NegativeSlots), Plugin(HalfSlotConfig, HalfSlot),
               Plugin(BrokenFitConfig, BrokenFit), Plugin(BrokenUpdateConfig, BrokenUpdate)],
}


@pytest.fixture(autouse=True)
def registered() -> Iterator[None]:
    for group, plugins in PLUGINS.items():
        for p in plugins:
            registry.register(group, p, origin="test")
    yield
    for group, plugins in PLUGINS.items():
        for p in plugins:
            registry.unregister(group, p.kind)


def mechanism(kind: str, **more: Any) -> dict[str, Any]:
    return {**SMALL, "incentive.kind": kind, **more}


def model(kind: str) -> dict[str, Any]:
    return {**SMALL, "model.kind": kind}


@pytest.mark.parametrize(("overrides", "message"), [
    (mechanism("third_deposit"),
     rf"ThirdDeposit\.required_deposit \({HERE}\) gave [0-9.e+]+ \(float\): amounts are "
     r"whole wei, a Python int no less than 0"),
    (mechanism("float_refund"),
     rf"FloatRefund\.check_refund \({HERE}\) gave [0-9.e+]+ \(float\): amounts are whole wei"),
    (mechanism("negative_refund"),
     rf"NegativeRefund\.check_refund \({HERE}\) gave -1 \(int\): amounts are whole wei, a "
     r"Python int no less than 0"),
    (mechanism("numpy_keep", **{"incentive.cost_weight": "0.001"}),  # (fits in 64 bits)
     rf"NumpyKeep\.check_add \({HERE}\) gave np\.int64\(\d+\) \(int64\): amounts are whole wei"),
    (mechanism("nan_times"),
     rf"NanTimes\.claim_times \({HERE}\) gave \(nan, nan\) for contribution 0: .* not NaN"),
    (model("negative_slots"),
     rf"NegativeSlots\.read_slots, plan_update or compute_gas \({HERE}\) gave read_slots = -5: "
     r"slot counts are whole numbers no less than 0"),
    (model("half_slot"),
     rf"HalfSlot\.read_slots, plan_update or compute_gas \({HERE}\) gave new_slots = 1\.5"),
])
def test_an_answer_the_contract_cannot_use_names_the_plugin(overrides: dict[str, Any],
                                                            message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        sumsim.run("quickstart", seed=3, overrides=overrides)


@pytest.mark.parametrize(("overrides", "error", "note"), [
    (model("broken_fit"), KeyError, f"in BrokenFit.fit, of the model plug-in 'broken_fit' "
     f"({HERE})"),
    (model("broken_update"), IndexError, f"in BrokenUpdate.apply_update, of the model plug-in "
     f"'broken_update' ({HERE})"),
])
def test_a_plugins_own_exception_carries_a_note_naming_it(overrides: dict[str, Any],
                                                          error: type[Exception],
                                                          note: str) -> None:
    with pytest.raises(error) as err:
        sumsim.run("quickstart", seed=3, overrides=overrides)
    notes = list(getattr(err.value, "__notes__", None) or [])
    assert note in notes
    notes.remove(note)
    # (fit runs before the simulation; an update inside it is placed in the run)
    assert notes == [] if error is KeyError else \
        re.fullmatch(r"at simulated day \d+\.\d \([\d,]+ s\), after block [\d,]+", notes[0])


def test_the_command_reports_a_plugins_bug_in_a_few_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No traceback through sumsim's frames for a bug in an installed plug-in: the error, the
    plug-in, when in the run, and how to see the traceback (exit 1)."""
    from sumsim.cli import main

    args = ["run", "quickstart", "--seed", "3", "--out", str(tmp_path / "o"), "--one-process",
            "-q", "--set", "incentive.kind=float_refund", "--set", "data.max_pool=60",
            "--set", "metrics.counterfactual=false"]
    monkeypatch.delenv("SUMSIM_TRACEBACK", raising=False)
    assert main(args) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith(f"error: PluginBug: FloatRefund.check_refund ({HERE}) gave ")
    assert re.fullmatch(r"  at simulated day \d+\.\d \([\d,]+ s\), after block [\d,]+",
                        err[1])
    assert err[2] == (f"a bug in the mechanism plug-in 'float_refund' (test, {HERE}); "
                      "SUMSIM_TRACEBACK=1 shows the traceback")
    assert len(err) == 3 and "Traceback" not in "".join(err)
    monkeypatch.setenv("SUMSIM_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="FloatRefund.check_refund"):
        main([*args, "--force"])


def test_a_summary_with_numpy_values_is_written_as_plain_json(tmp_path: Path) -> None:
    res = sumsim.run("quickstart", seed=3, overrides=mechanism("numpy_summary"))
    res.write(tmp_path / "out", figure=False)
    inc = json.loads((tmp_path / "out" / "summary.json").read_text())["incentive"]
    assert inc["good_np"] == inc["total_good"] and type(inc["good_np"]) is int
    assert inc["rate_np"] == 0.5 and inc["seen"] == [0, 1, 2]


def test_a_summary_value_json_cannot_hold_names_the_plugin(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(NumpySummary, "odd", True)
    with pytest.raises(TypeError, match=rf"NumpySummary\.summary\(\) \({HERE}\) returned an? "
                       r"object at when\.first: a summary section holds only"):
        _ = sumsim.run("quickstart", seed=3, overrides=mechanism("numpy_summary")).summary


def test_a_claim_window_that_never_closes_is_named_by_the_idle_guard() -> None:
    """Reports always revert and the any-address wait never ends: agents would look at the
    flipped contributions for ever.  The idle guard says so and points at duration_s."""
    with pytest.raises(RunCannotFinish, match=r"made no progress .* agents still look again "
                       r"and again at \d+ contribution\(s\) still open to a claim .* "
                       r"set scenario\.duration_s"):
        sumsim.run("quickstart", seed=3, overrides=mechanism(
            "never_taken", **{"scenario.max_idle_s": 20 * 86_400.0}))


class NanScoresConfig(PerceptronConfig):
    kind: Literal["nan_scores"] = "nan_scores"  # type: ignore[assignment]


class NanScores(Perceptron):
    """Scores every test sample NaN, through the base class's predict_many."""

    def scores_many(self, x: Any) -> np.ndarray:
        return np.full((x.shape[0], 2), np.nan)

    predict_many = Model.predict_many  # (the perceptron's own skips scores_many)


class FlatScoresConfig(PerceptronConfig):
    kind: Literal["flat_scores"] = "flat_scores"  # type: ignore[assignment]


class FlatScores(NanScores):
    """One score per sample, not one per class."""

    def scores_many(self, x: Any) -> np.ndarray:
        return np.zeros(x.shape[0])


@pytest.mark.parametrize(("kind", "message"), [
    ("nan_scores", rf"NanScores\.scores_many \({HERE}\) gave an array of shape \(\d+, 2\) "
     r"holding \d+ NaN: scores of shape \(rows, classes\)"),
    ("flat_scores", rf"FlatScores\.scores_many \({HERE}\) gave an array of shape \(\d+,\): "),
])
def test_scores_the_evaluation_cannot_use_name_the_model(kind: str, message: str) -> None:
    plugin = Plugin(NanScoresConfig if kind == "nan_scores" else FlatScoresConfig,
                    NanScores if kind == "nan_scores" else FlatScores)
    registry.register("models", plugin, origin="test")
    try:
        with pytest.raises(ValueError, match=message):
            sumsim.run("quickstart", seed=3, overrides=model(kind))
    finally:
        registry.unregister("models", kind)


def test_a_plugin_configs_own_validator_failing_is_named() -> None:
    """pydantic turns a validator's ValueError into a field error; anything else it lets
    through, and that is the plug-in's bug: the notes say where and whose."""
    from pydantic import field_validator

    class PickyConfig(DRTConfig):
        kind: Literal["picky"] = "picky"  # type: ignore[assignment]

        @field_validator("refund_wait_s")
        @classmethod
        def _check(cls, v: int) -> int:
            raise RuntimeError("lookup table missing")

    registry.register("mechanisms", Plugin(PickyConfig, DepositRefundTake), origin="test")
    try:
        with pytest.raises(RuntimeError, match="lookup table missing") as err:
            sumsim.run("quickstart", overrides=mechanism("picky"))
    finally:
        registry.unregister("mechanisms", "picky")
    notes = getattr(err.value, "__notes__", [])
    assert notes[-1] == (f"in test_a_plugin_configs_own_validator_failing_is_named.<locals>."
                         f"PickyConfig._check, of the mechanism plug-in 'picky' ({HERE})")
    assert any(n.startswith("while checking") for n in notes)


def test_a_sweep_records_which_plugin_failed_a_run(tmp_path: Path) -> None:
    """A sweep keeps going past a failed run and records its error: the error names the
    plug-in at fault, as the run's own traceback does."""
    table = sumsim.sweep("quickstart", points=[
        {"data.max_pool": 60}, {"data.max_pool": 60, "model.kind": "broken_fit"}],
        executor="local", out=tmp_path / "out")
    assert table["status"].to_list() == ["ok", "failed"]
    assert table["error"][1] == ("KeyError: 'no such column' (in BrokenFit.fit, of the model "
                                 f"plug-in 'broken_fit' ({HERE}))")


def test_claim_waits_longer_than_the_idle_guard_are_named_as_such() -> None:
    """Refunds that open only after a year are not a window that never closes: the message
    says when the next look is and which setting to change."""
    with pytest.raises(RunCannotFinish, match=r"made no progress .* agents wait to look at "
                       r"\d+ contribution\(s\) still open to a claim, the next at day "
                       r"46[0-9]\.\d, when a claim may open \(waits longer than "
                       r"scenario\.max_idle_s"):
        sumsim.run("quickstart", seed=3, overrides={
            **SMALL, "incentive.refund_wait_s": 40_000_000,
            "incentive.any_address_claim_wait_s": 40_000_000})


def test_the_idle_guard_names_agents_not_started_and_deposits_they_cannot_pay() -> None:
    """A late start_s kept a finished run waiting, and an attacker too poor for the deposit
    kept it looking at a pool that seemed empty: the message says which and why."""
    with pytest.raises(RunCannotFinish, match=r"not started yet \(start_s\): bad \(day 90\.0\)"):
        sumsim.run("quickstart", seed=3, overrides={**SMALL, "agents[1].start_s": 7_776_000})
    with pytest.raises(RunCannotFinish, match=r"the deposit \([\d.]+ ether\) is above what "
                       r"max_deposit lets them pay: good"):
        sumsim.run("quickstart", seed=3, overrides={
            **SMALL, "agents[0].max_deposit": "0.000001", "agents[1].balance": 0})
