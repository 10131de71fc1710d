"""The SUM contract: trainer, data handler and incentive mechanisms."""

from sumsim.contract.data_handler import Contribution, DataHandler
from sumsim.contract.incentives import DepositRefundTake, IncentiveMechanism
from sumsim.contract.trainer import CollaborativeTrainer

__all__ = [
    "CollaborativeTrainer", "Contribution", "DataHandler", "DepositRefundTake",
    "IncentiveMechanism",
]
