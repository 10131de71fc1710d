"""Defenses on the contract's acceptance path.  Each module holds one defense and its
``plugin`` (registered through the ``sumsim.defenses`` entry-point group)."""

from sumsim.defenses.base import DefenseConfig, Flag, Gate, GateLog, Verdict

__all__ = ["DefenseConfig", "Flag", "Gate", "GateLog", "Verdict"]
