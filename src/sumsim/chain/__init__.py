"""The simulated blockchain: ledger, gas, transactions, blocks and receipts on SimPy."""

from sumsim.chain.chain import FEE_SINK, CallContext, Chain, Contract
from sumsim.chain.gas import GasSchedule
from sumsim.chain.ledger import InsufficientFunds, Ledger
from sumsim.chain.tx import REJECTED, REVERTED, SUCCESS, OutOfGas, Receipt, Revert, Tx

__all__ = [
    "FEE_SINK", "CallContext", "Chain", "Contract", "GasSchedule", "InsufficientFunds", "Ledger",
    "REJECTED", "REVERTED", "SUCCESS", "OutOfGas", "Receipt", "Revert", "Tx",
]
