"""Exact ether -> wei conversion and the distributions scenario files use for timings.

Amounts are written in ether as integers, floats or decimal strings and converted through
`decimal.Decimal` (floats via their shortest repr), so "0.1" is exactly 10**17 wei; more than 18
decimal places cannot be represented in wei and is an error.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
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

WEI_PER_ETHER = 10**18
WEI_PER_GWEI = 10**9


def to_wei(value: Any, unit: int = WEI_PER_ETHER) -> int:
    """Convert an amount in ether (or gwei with ``unit=WEI_PER_GWEI``) exactly to integer wei.

    Integer arithmetic on the decimal digits, so no precision limit applies.
    """
    if isinstance(value, bool):
        raise ValueError("expected an amount (number or decimal string), got a boolean")
    if isinstance(value, int):
        return value * unit
    if isinstance(value, float):
        dec = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip().replace("_", ""))
        except InvalidOperation:
            raise ValueError(f"expected a decimal amount, got {value!r}") from None
    elif isinstance(value, Decimal):
        dec = value
    else:
        kind = type(value).__name__
        raise ValueError(f"expected an amount (number or decimal string), got {kind}")
    if not dec.is_finite():
        raise ValueError("expected a finite amount")
    sign, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)) or "0")
    scaled = mantissa * unit
    if exponent >= 0:
        wei = scaled * 10**exponent
    else:
        wei, rest = divmod(scaled, 10**-exponent)
        if rest:
            places = len(str(unit)) - 1
            raise ValueError(f"has more decimal places than {places}: wei cannot represent it")
    return -wei if sign else wei


def from_wei(wei: int, unit: int = WEI_PER_ETHER) -> str:
    """Exact decimal string of a wei amount in ether (or gwei)."""
    whole, frac = divmod(abs(wei), unit)
    sign = "-" if wei < 0 else ""
    if not frac:
        return f"{sign}{whole}"
    width = len(str(unit)) - 1
    return f"{sign}{whole}." + str(frac).rjust(width, "0").rstrip("0")


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
