"""The base of every configuration section, money and time types, and distributions.

A leaf module: plug-ins of every kind declare their options by subclassing :class:`Section`
(unknown keys are errors, values are re-validated on assignment) and use :data:`Ether` /
:data:`Gwei` for amounts (written in ether/gwei, held as exact integer wei) and
:data:`Distribution` for waiting times.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from sumsim.errors import FieldError
from sumsim.units import WEI_PER_ETHER, WEI_PER_GWEI, from_wei, to_wei


class Section(BaseModel):
    """A configuration section: unknown keys are errors; assignments are validated (so setting
    ``agent.balance = 500`` from Python converts 500 ether to wei exactly as a TOML file does)."""

    model_config = ConfigDict(extra="forbid", validate_default=True, validate_assignment=True)


def _non_negative_wei(unit: int):  # type: ignore[no-untyped-def]
    def conv(v: Any) -> int:
        wei = to_wei(v, unit)
        if wei < 0:
            raise ValueError("must not be negative")
        return wei

    return conv


#: An amount written in ether, held as non-negative integer wei; serialised back to ether.
Ether = Annotated[
    int,
    BeforeValidator(_non_negative_wei(WEI_PER_ETHER)),
    PlainSerializer(lambda w: from_wei(w), return_type=str),
    Field(json_schema_extra={"type": ["number", "string"], "description": "ether"}),
]
#: An amount written in gwei, held as integer wei.
Gwei = Annotated[
    int,
    BeforeValidator(_non_negative_wei(WEI_PER_GWEI)),
    PlainSerializer(lambda w: from_wei(w, WEI_PER_GWEI), return_type=str),
    Field(json_schema_extra={"type": ["number", "string"], "description": "gwei"}),
]


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def sample(self, rng: np.random.Generator) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


class Constant(_Dist):
    dist: Literal["constant"]
    value: float = Field(ge=0)

    def sample(self, rng: np.random.Generator) -> float:
        return self.value


class Normal(_Dist):
    """Normal, truncated at 0 (a waiting time is never negative)."""

    dist: Literal["normal"]
    mean: float = Field(ge=0)
    sd: float = Field(ge=0)

    def sample(self, rng: np.random.Generator) -> float:
        return max(0.0, float(rng.normal(self.mean, self.sd)))


class Exponential(_Dist):
    """Exponential (Poisson arrivals) with the given mean."""

    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.exponential(self.mean))


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise FieldError("must be >= low", "high")
        return self

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))


class LogNormal(_Dist):
    """Log-normal with the given *mean* of the waiting time and shape ``sigma``."""

    dist: Literal["lognormal"]
    mean: float = Field(gt=0)
    sigma: float = Field(ge=0)

    def sample(self, rng: np.random.Generator) -> float:
        mu = np.log(self.mean) - self.sigma**2 / 2
        return float(rng.lognormal(mu, self.sigma))


Distribution = Annotated[
    Constant | Normal | Exponential | Uniform | LogNormal, Field(discriminator="dist")
]


class PluginConfig(Section):
    """The config section of a plug-in of any group: a literal ``kind`` plus its own options.

    Subclasses narrow ``kind`` to a ``Literal`` (the registry reads the kind from it).
    """

    kind: str

    def check_scenario(self, scenario: Any, at: tuple[str | int, ...]) -> None:
        """Cross-section checks once the whole scenario is parsed (e.g. "needs another
        defense").  Raise :class:`~sumsim.errors.FieldError` with a path starting at ``at``
        (this section's place in the scenario) to name the field at fault."""
