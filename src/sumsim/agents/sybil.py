"""Sybils: one strategy and one budget spread over ``addresses`` wallets.

Per-address defenses (rate limits) see N small actors, and the rule that an author cannot take
its own deposit no longer binds: one sybil address with refunded data can take another's.  The
balance (and budget) is split evenly; with ``scale_interval`` each address acts N times less
often, so the strategy's total rate is unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from sumsim.agents.base import Agent, AgentConfig, Attacker
from sumsim.errors import FieldError
from sumsim.registry import Plugin, get, plugins
from sumsim.units import to_wei


class SybilConfig(AgentConfig):
    kind: Literal["sybil"]
    addresses: int = Field(5, ge=1, le=10_000, description="Wallets the strategy and its "
                           "budget are spread over.")
    strategy: dict[str, Any] = Field(description="The wrapped strategy's options, with its "
                                     "`kind` (any registered attacker).")
    scale_interval: bool = Field(True, description="Keep the strategy's total rate.")

    @model_validator(mode="after")
    def _strategy(self) -> SybilConfig:
        self.inner_configs()
        return self

    def check_scenario(self, scenario: Any, at: tuple[str | int, ...]) -> None:
        """The wrapped strategy's own checks against the scenario (a mechanism without a view
        it reads, say), naming its fields inside ``strategy``."""
        self.inner_configs()[0].check_scenario(scenario, (*at, "strategy"))

    def address_names(self) -> list[str]:
        return [f"{self.name}-{i}" for i in range(self.addresses)]

    def inner_configs(self) -> list[AgentConfig]:
        kind = self.strategy.get("kind")
        plugin = plugins("agents").get(str(kind))
        if plugin is None or kind == "sybil":
            raise FieldError(f"{kind!r} is not a registered strategy to wrap", "strategy", "kind")
        if not plugin.impl.is_attacker:
            raise FieldError(f"{kind!r} is not an attacker", "strategy", "kind")
        n = self.addresses
        out = []
        for key in ("name", "balance"):
            if key in self.strategy:
                raise FieldError("set on the sybil itself, not inside its strategy",
                                 "strategy", key)
        budget = self.strategy.get("budget")
        names = self.address_names()
        for i in range(n):
            share = self.balance // n + (self.balance % n if i == 0 else 0)
            opts = {k: v for k, v in self.strategy.items() if k != "budget"}
            opts.update(name=names[i], balance=f"{share}e-18")
            if budget is not None:
                try:
                    total = to_wei(budget)
                except ValueError as e:
                    raise FieldError(str(e), "strategy", "budget") from None
                b = total // n + (total % n if i == 0 else 0)
                opts["budget"] = f"{b}e-18"
            try:
                out.append(plugin.config.model_validate(opts))
            except ValidationError as e:  # name the field inside the wrapped strategy
                err = e.errors()[0]
                msg = err["msg"].removeprefix("Value error, ")
                inner = (err.get("ctx") or {}).get("error")
                path = tuple(inner.path) if isinstance(inner, FieldError) else ()
                raise FieldError(msg, "strategy", *err["loc"], *path) from None
        return out  # type: ignore[return-value]


class Sybil(Attacker):
    """Never runs itself: :meth:`expand` turns it into the wrapped strategy's addresses."""

    config: SybilConfig  # type: ignore[assignment]

    @classmethod
    def expand(cls, config: AgentConfig) -> list[tuple[AgentConfig, type[Agent], float]]:
        assert isinstance(config, SybilConfig)
        inner = get("agents", config.strategy["kind"]).impl
        scale = float(config.addresses) if config.scale_interval else 1.0
        return [(c, inner, scale) for c in config.inner_configs()]


plugin = Plugin(SybilConfig, Sybil, "Spreads another attacker's budget over N addresses.")
