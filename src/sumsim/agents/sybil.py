"""Sybils: one strategy and one budget spread over ``addresses`` wallets.

Per-address defenses (rate limits) see N small actors, and the rule that an author cannot take
its own deposit no longer binds: one sybil address with refunded data can take another's.  The
balance (and budget) is split evenly; with ``scale_interval`` each address acts N times less
often, so the strategy's total rate is unchanged.  Every agent option but the sybil's own
(name, balance, addresses, scale_interval) is the strategy's, set inside ``strategy``.

A run ends once every address has taken a turn with nothing left to do: with many addresses
each acting rarely (the default interval of an hour, times N), that can be weeks after the
last transaction; the strategy's ``interval_s`` or ``scenario.duration_s`` shortens it.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from sumsim.agents.base import Agent, AgentConfig, Attacker
from sumsim.errors import FieldError
from sumsim.registry import Plugin, get, plugins
from sumsim.units import to_wei

#: The sybil's own options; every other agent option belongs inside ``strategy``.
_OWN = {"name", "kind", "balance", "addresses", "strategy", "scale_interval"}


class SybilConfig(AgentConfig):
    kind: Literal["sybil"]
    addresses: int = Field(5, ge=1, le=10_000, description="Wallets the strategy and its "
                           "budget are spread over.")
    strategy: dict[str, Any] = Field(description="The wrapped strategy's options, with its "
                                     "`kind` (any registered attacker).")
    scale_interval: bool = Field(True, description="Keep the strategy's total rate.")

    @model_validator(mode="after")
    def _strategy(self) -> SybilConfig:
        # The addresses run the wrapped strategy with its options: an agent option set on the
        # sybil itself would do nothing (a scenario written back holds every default, which
        # is left alone).
        for name in sorted(self.model_fields_set - _OWN):
            field = type(self).model_fields[name]
            if getattr(self, name) != field.get_default(call_default_factory=True):
                raise FieldError(f"a sybil's addresses take their options from its strategy: "
                                 f"set {name} inside it (strategy.{name})", name)
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
