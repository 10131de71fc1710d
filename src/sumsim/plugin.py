"""The stable surface for plug-in authors: everything a new agent strategy, defense, model or
incentive mechanism may build on.  Nothing outside this module is promised to stay put.

A plug-in is one module holding a config class, an implementation and ``plugin``::

    from typing import Literal
    from sumsim.plugin import Attacker, AttackerConfig, Plugin

    class SleeperConfig(AttackerConfig):
        kind: Literal["sleeper"]
        wake_s: float = 86_400

    class Sleeper(Attacker):
        \"\"\"Contributes honestly until ``wake_s``, then flips labels.\"\"\"
        config: SleeperConfig
        def contribute(self) -> None: ...

    plugin = Plugin(SleeperConfig, Sleeper)

and one entry point in its package's ``pyproject.toml``::

    [project.entry-points."sumsim.agents"]      # or sumsim.defenses / .models / .mechanisms
    sleeper = "my_package.sleeper:plugin"

Property-test a mechanism with :mod:`sumsim.testing`.
"""

from __future__ import annotations

from sumsim.agents.base import Agent, AgentConfig, Attacker, AttackerConfig, ClaimBook
from sumsim.chain.chain import CallContext
from sumsim.chain.evm_gas import MechanismWork
from sumsim.chain.tx import Receipt, Revert, Tx
from sumsim.config import (
    Constant,
    Distribution,
    Ether,
    Exponential,
    Gwei,
    LogNormal,
    Normal,
    PluginConfig,
    Section,
    Uniform,
)
from sumsim.contract.data_handler import Contribution
from sumsim.contract.mechanism import IncentiveMechanism, MechanismConfig, transaction
from sumsim.contract.trainer import CollaborativeTrainer
from sumsim.data.base import Matrix, row, rows
from sumsim.defenses.base import DefenseConfig, Flag, Gate, GateLog, Verdict
from sumsim.errors import FieldError, InputError
from sumsim.models.base import ComputeGas, Model, ModelConfig, UpdatePlan, as_matrix
from sumsim.registry import Plugin
from sumsim.units import WEI_PER_ETHER, WEI_PER_GWEI, from_wei, to_wei
from sumsim.world import Pool, World

__all__ = [
    "WEI_PER_ETHER", "WEI_PER_GWEI", "Agent", "AgentConfig", "Attacker", "AttackerConfig",
    "CallContext", "ClaimBook", "CollaborativeTrainer", "ComputeGas", "Constant", "Contribution",
    "DefenseConfig", "Distribution", "Ether", "Exponential", "FieldError", "Flag", "Gate",
    "GateLog", "Gwei", "IncentiveMechanism", "InputError", "LogNormal", "Matrix",
    "MechanismConfig", "MechanismWork", "Model", "ModelConfig", "Normal", "Plugin",
    "PluginConfig", "Pool", "Receipt", "Revert", "Section", "Tx", "Uniform", "UpdatePlan",
    "Verdict", "World",
    "as_matrix", "from_wei", "row", "rows", "to_wei", "transaction",
]
