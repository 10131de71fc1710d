"""Agent strategies.  Each module holds one strategy; importing this package registers them."""

from sumsim.agents.base import Agent, AgentConfig, ClaimBook, Pool, World
from sumsim.agents.boundary import Boundary, BoundaryConfig
from sumsim.agents.front_runner import FrontRunner, FrontRunnerConfig
from sumsim.agents.honest import Honest, HonestConfig
from sumsim.agents.label_flip import Attacker, AttackerConfig, LabelFlip, LabelFlipConfig
from sumsim.agents.near_duplicate import NearDuplicate, NearDuplicateConfig
from sumsim.agents.sybil import Sybil, SybilConfig
from sumsim.scenario.registry import register_agent

register_agent("honest", HonestConfig, Honest,
               "Contributes true labels from the pool; claims refunds; reports bad data.")
register_agent("label_flip", LabelFlipConfig, LabelFlip,
               "Submits pool samples with flipped labels within a finite budget.")
register_agent("near_duplicate", NearDuplicateConfig, NearDuplicate,
               "Farms refunds with k-feature perturbations of confidently classified data.")
register_agent("boundary", BoundaryConfig, Boundary,
               "Mislabels the candidates nearest the decision boundary (confidence poisoning).")
register_agent("sybil", SybilConfig, Sybil,
               "Spreads another attacker's budget over N addresses.")
register_agent("front_runner", FrontRunnerConfig, FrontRunner,
               "Watches the mempool and outbids others' report transactions.")

__all__ = [
    "Agent", "AgentConfig", "Attacker", "AttackerConfig", "ClaimBook", "Honest", "HonestConfig",
    "LabelFlip", "LabelFlipConfig", "Pool", "World", "Boundary", "BoundaryConfig",
    "NearDuplicate", "NearDuplicateConfig", "Sybil", "SybilConfig", "FrontRunner",
    "FrontRunnerConfig",
]
