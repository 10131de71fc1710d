"""The line coverage `sumsim invariants` and `sumsim.testing.check` report counts the lines the
examples can reach: a mechanism's config class (its validators run when the setup is read,
before any transaction) is not listed as "never ran", which no number of examples could fix.
And a bad mechanism option is one line naming that option."""

from __future__ import annotations

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
                              "refund_wait_s <= owner_claim_wait_s <= any_address_claim_wait_s")
    with pytest.raises(InputError, match=r"^mechanism 'deposit_refund_take': nope: unknown "
                                         r"field$"):
        check({"kind": "deposit_refund_take", "nope": 1})


def test_the_command_line_names_the_option_at_fault(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["invariants", "--mechanism", "deposit_refund_take", "--set",
                 "refund_wait_s=10", "--set", "any_address_claim_wait_s=5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("mechanism 'deposit_refund_take': refund_wait_s: need refund_wait_s "
                        "<= owner_claim_wait_s <= any_address_claim_wait_s"), err
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
