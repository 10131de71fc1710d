"""The line coverage `sumsim invariants` and `sumsim.testing.check` report counts the lines the
examples can reach: a mechanism's config class (its validators run when the setup is read,
before any transaction) is not listed as "never ran", which no number of examples could fix.
And a bad mechanism option is one line naming that option."""

from __future__ import annotations

from pathlib import Path

import pytest

from sumsim.cli import main
from sumsim.errors import InputError
from sumsim.testing import check


def test_config_validators_are_not_counted_as_mechanism_lines() -> None:
    report = check("deposit_refund_take", examples=3, steps=5, shrink=False)
    assert report.ok, report.summary()
    assert report.coverage is not None
    measured = set(report.coverage.functions)
    assert not any(name.startswith("DRTConfig.") for name in measured), sorted(measured)
    assert "DepositRefundTake.check_refund" in measured
    assert "DRTConfig" not in report.summary()


def test_a_bad_option_names_the_option_at_fault() -> None:
    """A validator that checks several options together names the one at fault (FieldError),
    without pydantic's "Value error," prefix, as a scenario's errors do."""
    with pytest.raises(InputError) as err:
        check({"kind": "deposit_refund_take", "refund_wait_s": 10,
               "any_address_claim_wait_s": 5})
    assert str(err.value) == ("mechanism 'deposit_refund_take': refund_wait_s: need "
                              "refund_wait_s <= owner_claim_wait_s <= any_address_claim_wait_s "
                              "(got 10 s, 5 s, 5 s)")
    with pytest.raises(InputError, match=r"^mechanism 'deposit_refund_take': nope: unknown "
                                         r"field$"):
        check({"kind": "deposit_refund_take", "nope": 1})


def test_the_command_line_names_the_option_at_fault(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invariants", "--mechanism", "deposit_refund_take", "--set",
                 "refund_wait_s=10", "--set", "any_address_claim_wait_s=5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("mechanism 'deposit_refund_take': refund_wait_s: need refund_wait_s "
                        "<= owner_claim_wait_s <= any_address_claim_wait_s (got 10 s, 5 s, "
                        "5 s)"), err
    assert "Value error" not in err and "Traceback" not in err


def test_a_defense_under_test_gets_its_own_line_coverage() -> None:
    """`check(..., defenses=[...])` (and `sumsim invariants --defense`) reports which lines of
    each defense's module the examples ran, beside the mechanism's."""
    report = check("deposit_refund_take", defenses=[{"kind": "rate_limit"}], examples=5,
                   steps=10, shrink=False)
    assert report.ok, report.summary()
    cov = report.defense_coverage["rate_limit"]
    assert any(name.endswith(".check") for name in cov.functions), sorted(cov.functions)
    ran, total = cov.ran()
    assert 0 < ran <= total
    assert f"defense 'rate_limit' lines run: {ran}/{total}" in report.summary()
    # without defenses, no such line
    assert "defense " not in check("deposit_refund_take", examples=2, steps=3,
                                   shrink=False).summary()


PACKAGE = '''
from typing import Literal

import numpy as np

from sumsim.agents.label_flip import LabelFlip, LabelFlipConfig
from sumsim.defenses.rate_limit import RateLimit, RateLimitConfig
from sumsim.mechanisms.drt import DepositRefundTake, DRTConfig
from sumsim.models.perceptron import Perceptron, PerceptronConfig
from sumsim.registry import Plugin


def halve(amount):
    return amount // 2


class HaircutConfig(DRTConfig):
    kind: Literal["haircut"] = "haircut"


class Haircut(DepositRefundTake):
    def check_refund(self, rec, sender, now, agrees):
        return halve(super().check_refund(rec, sender, now, agrees))


class VotesConfig(PerceptronConfig):
    kind: Literal["votes"] = "votes"


class Votes(Perceptron):
    def predict(self, x):
        return int(np.add.reduce(self.w.take(x)) + self.b >= 0)


class BurstConfig(LabelFlipConfig):
    kind: Literal["burst"] = "burst"


class Burst(LabelFlip):
    def next_turn_s(self):
        return 1.0


class GateConfig(RateLimitConfig):
    kind: Literal["gate"] = "gate"


class Gate(RateLimit):
    def check(self, ctx, x, y):
        return super().check(ctx, x, y)


plugins = {"mechanisms": Plugin(HaircutConfig, Haircut), "models": Plugin(VotesConfig, Votes),
           "agents": Plugin(BurstConfig, Burst), "defenses": Plugin(GateConfig, Gate)}
'''


def test_only_the_plugin_under_test_is_counted_in_a_module_holding_several(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """One package module with a mechanism, a model, an agent and a defense: the mechanism's
    lines are its class's and the module's functions, the defense's its own class's; the
    agent's and the model's code, which the machine never runs as plug-ins, is in neither."""
    import importlib

    import sumsim.registry as registry

    (tmp_path / "one_module_pkg.py").write_text(PACKAGE)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("one_module_pkg")
    for group, plugin in mod.plugins.items():
        registry.register(group, plugin, origin="test")
    try:
        report = check("haircut", defenses=["gate"], examples=5, steps=10, shrink=False)
        assert report.coverage is not None
        assert set(report.coverage.functions) == {"halve", "Haircut.check_refund"}
        assert set(report.defense_coverage["gate"].functions) == {"halve", "Gate.check"}
        assert report.coverage.ran()[0] > 0 and report.defense_coverage["gate"].ran()[0] > 0
        assert "Votes" not in report.summary() and "Burst" not in report.summary()
        # the command line takes the model too, and says which one ran
        assert main(["invariants", "--mechanism", "haircut", "--model", "votes",
                     "--examples", "3", "--steps", "5"]) == 0
        assert "mechanism 'haircut' on model 'votes'" in capsys.readouterr().out
        assert main(["invariants", "--mechanism", "haircut", "--model", "nope"]) == 2
    finally:
        for group, plugin in mod.plugins.items():
            registry.unregister(group, plugin.kind)


# -- a mechanism's own transactions; a replacement class's coverage; bad arguments -----------

def test_a_mechanism_transaction_that_pays_out_of_the_contract_is_caught() -> None:
    """The machine sends the mechanism's own ``@transaction`` methods too (any sender, with
    and without ether, arguments drawn from the signature): one paying its caller from the
    contract's funds breaks solvency."""
    from typing import Literal

    import sumsim.registry as registry
    from sumsim.mechanisms.drt import DepositRefundTake, DRTConfig
    from sumsim.plugin import Plugin, transaction

    class BonusConfig(DRTConfig):
        kind: Literal["bonus_drt"] = "bonus_drt"  # type: ignore[assignment]

    class Bonus(DepositRefundTake):
        @transaction()
        def bonus(self, contract: object, ctx: object, cid: int) -> int:
            rec = contract.data.get(cid)  # type: ignore[attr-defined]
            if rec is None:
                return 0
            contract.pay(ctx, ctx.sender, 1, "bonus")  # type: ignore[attr-defined]
            return 1

    registry.register("mechanisms", Plugin(BonusConfig, Bonus), origin="test")
    try:
        report = check("bonus_drt", examples=100, steps=30)
    finally:
        registry.unregister("mechanisms", "bonus_drt")
    assert not report.ok
    assert "mechanism_transaction" in report.failure and "'bonus'" in report.failure
    assert any(key[0] == "bonus" for key in report.outcomes)


def test_a_replacement_class_is_measured_with_the_mechanism_it_replaces() -> None:
    """``check(..., mechanism_class=Sub)`` with ``Sub`` written here: the registered
    mechanism's lines and Sub's own methods are counted (not this file's tests), and the
    method Sub overrides is replaced by Sub's."""
    from sumsim.mechanisms.drt import DepositRefundTake

    class Same(DepositRefundTake):
        def check_refund(self, rec, sender, now, agrees):  # type: ignore[no-untyped-def]
            return super().check_refund(rec, sender, now, agrees)

    report = check("deposit_refund_take", examples=20, steps=20, mechanism_class=Same)
    assert report.ok, report.summary()
    assert report.coverage is not None
    names = set(report.coverage.functions)
    same = f"{Same.__qualname__}.check_refund"
    assert same in names and "DepositRefundTake.check_refund" not in names
    assert "DepositRefundTake.check_report" in names
    assert not any("test_" in n.split(".")[0] for n in names - {same}), sorted(names)
    assert not report.missed("check_refund")  # Same's lines ran
    assert set(report.missed("check_report")) <= {"DepositRefundTake.check_report"}


@pytest.mark.parametrize(("spec", "message"), [
    ({"deposit": 1}, r"^mechanism \{'deposit': 1\} names no 'kind' \(one of \["),
    (42, r"^a mechanism is given as its kind's name, a dict with 'kind' and its options, or "
         r"its config object; got 42$"),
])
def test_a_mechanism_not_given_as_one_is_said_so(spec: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        check(spec)


def test_the_command_sets_defense_and_model_options(capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``--set KIND.OPTION=VALUE`` reaches a defense given with --defense, ``model.OPTION``
    the model; anything else dotted is refused naming the three forms."""
    import sumsim.testing as testing

    seen: dict[str, object] = {}
    real_check = testing.check

    def fake_check(mechanism: object, **kw: object) -> object:
        seen.update(mechanism=mechanism, **kw)
        return real_check(mechanism, **{**kw, "examples": 2, "steps": 3})  # type: ignore[arg-type]

    monkeypatch.setattr(testing, "check", fake_check)
    assert main(["invariants", "--mechanism", "deposit_refund_take", "--defense", "rate_limit",
                 "--set", "rate_limit.max_contributions=3", "--set", "model.learning_rate=2",
                 "--set", "refund_wait_s=60"]) == 0
    assert seen["defenses"] == [{"kind": "rate_limit", "max_contributions": 3}]
    assert seen["model"] == {"kind": "perceptron", "learning_rate": 2}
    assert seen["mechanism"] == {"kind": "deposit_refund_take", "refund_wait_s": 60}
    capsys.readouterr()
    assert main(["invariants", "--mechanism", "deposit_refund_take", "--set",
                 "rate_limit.max_contributions=3"]) == 2
    assert "a defense's as KIND.OPTION=VALUE (defenses given: none)" in \
        capsys.readouterr().err


def test_an_option_given_to_the_wrong_plugin_is_pointed_at_the_right_form(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invariants", "--mechanism", "deposit_refund_take", "--defense", "rate_limit",
                 "--set", "max_contributions=2"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "max_contributions: unknown field (a defense's option is set as KIND.OPTION=VALUE, a "
        "model's as model.OPTION=VALUE)")
    assert main(["invariants", "--mechanism", "deposit_refund_take", "--set",
                 "cost_weigth=0.1"]) == 2
    assert capsys.readouterr().err.strip().endswith(
        "cost_weigth: unknown field; did you mean 'cost_weight'?")
