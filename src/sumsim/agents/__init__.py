"""Agent strategies.  Each module holds one strategy; importing this package registers them."""

from sumsim.agents.base import Agent, AgentConfig, ClaimBook, Pool, World
from sumsim.agents.honest import Honest, HonestConfig
from sumsim.agents.label_flip import Attacker, AttackerConfig, LabelFlip, LabelFlipConfig
from sumsim.scenario.registry import register_agent

register_agent("honest", HonestConfig, Honest,
               "Contributes true labels from the pool; claims refunds; reports bad data.")
register_agent("label_flip", LabelFlipConfig, LabelFlip,
               "Submits pool samples with flipped labels within a finite budget.")

__all__ = [
    "Agent", "AgentConfig", "Attacker", "AttackerConfig", "ClaimBook", "Honest", "HonestConfig",
    "LabelFlip", "LabelFlipConfig", "Pool", "World",
]
