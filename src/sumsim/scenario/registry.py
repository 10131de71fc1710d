"""Registries of agent strategies and defenses, including third-party plug-ins.

A strategy is a config model (pydantic, with a literal ``kind``) plus the class that runs it.
Built-ins register when `sumsim.agents` / `sumsim.defenses` are imported; third-party packages
register through the ``sumsim.agents`` and ``sumsim.defenses`` entry-point groups, each entry
point naming a module (or callable) that calls :func:`register_agent` / :func:`register_defense`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Plugin:
    kind: str
    config: type[BaseModel]
    impl: Any
    description: str
    origin: str


AGENTS: dict[str, Plugin] = {}
DEFENSES: dict[str, Plugin] = {}
_loaded = False


def _register(table: dict[str, Plugin], kind: str, config: type[BaseModel], impl: Any,
              description: str, origin: str) -> None:
    if kind in table and table[kind].impl is not impl:
        raise ValueError(f"{kind!r} is already registered by {table[kind].origin}")
    table[kind] = Plugin(kind, config, impl, description, origin)


def register_agent(kind: str, config: type[BaseModel], impl: Any, description: str,
                   origin: str = "sumsim") -> None:
    _register(AGENTS, kind, config, impl, description, origin)


def register_defense(kind: str, config: type[BaseModel], impl: Any, description: str,
                     origin: str = "sumsim") -> None:
    _register(DEFENSES, kind, config, impl, description, origin)


def load_plugins() -> None:
    """Import the built-ins and every installed entry point (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    importlib.import_module("sumsim.agents")
    importlib.import_module("sumsim.defenses")
    for group in ("sumsim.agents", "sumsim.defenses"):
        for ep in entry_points(group=group):
            obj = ep.load()
            if callable(obj):
                obj()
