"""Incentive mechanisms."""

from sumsim.contract.incentives.base import IncentiveMechanism
from sumsim.contract.incentives.drt import DepositRefundTake

__all__ = ["DepositRefundTake", "IncentiveMechanism"]
