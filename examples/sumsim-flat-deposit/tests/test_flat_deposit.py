"""The flat-deposit mechanism under sumsim's fund-invariant state machine: a few lines."""

from sumsim.testing import check


def test_flat_deposit_keeps_every_fund_invariant() -> None:
    report = check({"kind": "flat_deposit", "deposit": "2"}, examples=100)
    assert report.ok, report.summary()
    # every line of the claim rules ran at least once
    assert not report.missed("check_add", "check_refund", "check_report"), report.summary()
