"""The SUM contract: trainer, data handler, the gate protocol and the mechanism interface."""

from sumsim.contract.data_handler import Contribution, DataHandler
from sumsim.contract.mechanism import IncentiveMechanism, MechanismConfig, transaction
from sumsim.contract.trainer import CollaborativeTrainer

__all__ = [
    "CollaborativeTrainer", "Contribution", "DataHandler", "IncentiveMechanism",
    "MechanismConfig", "transaction",
]
