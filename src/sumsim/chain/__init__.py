"""The simulated blockchain: ledger, gas, transactions, blocks and receipts on SimPy."""

from sumsim.chain.chain import FEE_SINK, CallContext, Chain, Contract
from sumsim.chain.evm_gas import Fork, Pricer
from sumsim.chain.ledger import InsufficientFunds, Ledger
from sumsim.chain.receipts import LoggedTx, ReceiptLog
from sumsim.chain.tx import REJECTED, REVERTED, SUCCESS, OutOfGas, Receipt, Revert, Tx

__all__ = [
    "FEE_SINK", "CallContext", "Chain", "Contract", "Fork", "InsufficientFunds", "Ledger",
    "LoggedTx", "ReceiptLog", "REJECTED", "REVERTED", "SUCCESS", "OutOfGas", "Pricer", "Receipt",
    "Revert", "Tx",
]
