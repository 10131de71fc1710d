"""Agent strategies.  Each module holds one strategy and its ``plugin`` (registered through
the ``sumsim.agents`` entry-point group, like third-party strategies)."""

from sumsim.agents.base import Agent, AgentConfig, Attacker, AttackerConfig, ClaimBook

__all__ = ["Agent", "AgentConfig", "Attacker", "AttackerConfig", "ClaimBook"]
