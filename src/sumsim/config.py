"""The base of every configuration section, money and time types, and distributions.

A leaf module: plug-ins of every kind declare their options by subclassing :class:`Section`
(unknown keys are errors, values are re-validated on assignment) and use :data:`Ether` /
:data:`Gwei` for amounts (written in ether/gwei, held as exact integer wei) and
:data:`Distribution` for waiting times.

Rules every section gets without asking (a plug-in cannot forget them):

- a boolean is not a number: ``seed = true`` is an error, not 1; and a switch takes only
  ``true``/``false`` (not 1 or "yes");
- numbers are finite: ``inf`` and ``nan`` are errors;
- a plain integer option fits in 64 bits (numpy holds it), money at most
  :data:`~sumsim.units.MAX_WEI` wei (what a ``Decimal(38, 0)`` results column holds).
"""

from __future__ import annotations

import math
import re
import types
import typing
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from sumsim.errors import FieldError, InputError, shown
from sumsim.units import MAX_WEI, WEI_PER_ETHER, WEI_PER_GWEI, check_wei, from_wei, to_wei

#: Plain integer options are held by numpy as int64.
INT64_MAX = 2**63 - 1


def _number_kind(annotation: Any, metadata: list[Any]) -> str:
    """How the generic rules treat a field: "int" (plain integer), "number" (a float, or an
    amount with its own converter: no booleans), "bool" (only booleans), or "" (anything
    else)."""
    if any(isinstance(m, BeforeValidator) for m in metadata):
        return "number"
    args = [a for a in typing.get_args(annotation) if a is not type(None)] \
        if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]
    if args == [bool]:
        return "bool"
    if bool in args or not args:
        return ""
    if all(a is int for a in args):
        return "int"
    if all(a in (int, float) for a in args):
        return "number"
    if all(typing.get_origin(a) is Annotated for a in args):
        inner = [typing.get_args(a) for a in args]
        if all(i[0] is int and any(isinstance(m, BeforeValidator) for m in i[1:])
               for i in inner):
            return "number"
    return ""


_KINDS: dict[type[BaseModel], dict[str, str]] = {}


def _generic_rules(cls: type[BaseModel], data: Any) -> Any:
    """Booleans are not numbers; plain integers fit in int64; numbers are finite (see the
    module docstring).  Runs on the raw input of a section (and on assignment)."""
    if not isinstance(data, dict):
        return data
    kinds = _KINDS.get(cls)
    if kinds is None:
        kinds = _KINDS[cls] = {name: _number_kind(f.annotation, f.metadata)
                               for name, f in cls.model_fields.items()}
    for name, value in data.items():
        kind = kinds.get(name, "") if isinstance(name, str) else ""
        if not kind:
            continue
        if kind == "bool":
            if value is not None and not isinstance(value, bool):
                raise FieldError(f"expected true or false, got {value!r}", name)
            continue
        if isinstance(value, bool):
            raise FieldError(f"expected {'an integer' if kind == 'int' else 'a number'}, "
                             f"got a boolean ({str(value).lower()})", name)
        if kind == "int" and isinstance(value, int) and abs(value) > INT64_MAX:
            raise FieldError("too large: integers here are at most 2**63 - 1", name)
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldError(f"expected a finite number, got {value}", name)
    return data


#: A name used as one folder name: no separators, no leading dot, so output paths built from it
#: stay inside the output folder.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=-]{0,99}")


def safe_name(value: str) -> str:
    """``value`` if it is usable as one folder name, else a ValueError saying what is."""
    if not SAFE_NAME.fullmatch(value):
        raise ValueError(f"{value!r} cannot name an output folder: use 1-100 letters, digits "
                         "and _ . + = - (not starting with . + = -)")
    return value


#: A folder-safe name (see :func:`safe_name`).
SafeName = Annotated[str, AfterValidator(safe_name)]


class Section(BaseModel):
    """A configuration section: unknown keys are errors; assignments are validated (so setting
    ``agent.balance = 500`` from Python converts 500 ether to wei exactly as a TOML file does);
    the generic rules of the module docstring apply to every field."""

    model_config = ConfigDict(extra="forbid", validate_default=True, validate_assignment=True,
                              allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _generic(cls, data: Any) -> Any:
        return _generic_rules(cls, data)

    def __setattr__(self, name: str, value: Any) -> None:
        """An assignment the field refuses is an :class:`~sumsim.errors.InputError` naming the
        field and what was wrong, as a scenario file's would be (not pydantic's report)."""
        try:
            super().__setattr__(name, value)
        except ValidationError as e:
            import difflib

            first = e.errors()[0]
            msg = str(first["msg"]).removeprefix("Value error, ")
            if first["type"] == "no_such_attribute":
                close = difflib.get_close_matches(name, sorted(type(self).model_fields), n=1)
                msg = "unknown field" + (f"; did you mean {close[0]!r}?" if close else "")
            elif repr(value) not in msg:
                msg += f" (got {shown(value)})"
            if e.error_count() > 1:
                msg += f" (+{e.error_count() - 1} more)"
            where = ".".join(str(p) for p in (name, *first["loc"][1:]))
            raise InputError(msg, field=f"{type(self).__name__} {where}") from None


def _non_negative_wei(unit: int):  # type: ignore[no-untyped-def]
    def conv(v: Any) -> int:
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"expected a finite amount, got {v}")
        wei = to_wei(v, unit)
        if wei < 0:
            raise ValueError("must not be negative")
        if wei > MAX_WEI and unit == WEI_PER_ETHER:  # (an amount written in wei, most likely)
            text = str(v)  # (cut short: a 4,000-digit number makes an unreadable line)
            if len(text) > 40:
                text = f"{text[:20]}... ({len(text):,} characters)"
            raise ValueError(f"too large: {text} ether (at most 10**38 - 1 wei, about 1e20 "
                             "ether, what a results column holds); amounts here are in ether "
                             "(write '<n>e-18' for n wei)")
        return check_wei(wei)

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


#: The longest waiting time a distribution may describe (about 31,700 years): keeps every
#: sample finite (a normal's ``mean + 5 sd`` must not overflow to infinity).
MAX_WAIT_S = 1e12


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _generic(cls, data: Any) -> Any:
        return _generic_rules(cls, data)

    def __setattr__(self, name: str, value: Any) -> None:
        """A distribution is set whole (its options are checked together: a mean with its
        spread): changing one option is an :class:`~sumsim.errors.InputError` saying so."""
        fields = type(self).model_fields
        what = ("is set as a whole" if name in fields else
                f"has no option {name!r} (it has {', '.join(repr(f) for f in fields)})")
        example = {**self.model_dump(), **({name: value} if name in fields else {})}
        kind = getattr(self, "dist", "")
        raise InputError(f"a {kind} distribution {what}: assign the whole table to the field "
                         f"holding it, e.g. agent.interval_s = {example!r}",
                         field=f"{type(self).__name__} {name}")

    def sample(self, rng: np.random.Generator) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def mean_s(self) -> float:  # pragma: no cover - abstract
        """The mean of what :meth:`sample` returns."""
        raise NotImplementedError

    def median_s(self) -> float:  # pragma: no cover - abstract
        """The median of what :meth:`sample` returns (half the waits are shorter)."""
        raise NotImplementedError


class Constant(_Dist):
    dist: Literal["constant"]
    value: float = Field(ge=0, le=MAX_WAIT_S)

    def sample(self, rng: np.random.Generator) -> float:
        return self.value

    def mean_s(self) -> float:
        return self.value

    def median_s(self) -> float:
        return self.value


class Normal(_Dist):
    """Normal, truncated at 0 (a waiting time is never negative)."""

    dist: Literal["normal"]
    mean: float = Field(ge=0, le=MAX_WAIT_S)
    sd: float = Field(ge=0, le=MAX_WAIT_S)

    def sample(self, rng: np.random.Generator) -> float:
        return max(0.0, float(rng.normal(self.mean, self.sd)))

    def mean_s(self) -> float:
        if self.sd == 0:
            return self.mean
        z = self.mean / self.sd  # E[max(0, X)] for X ~ N(mean, sd)
        cdf = 0.5 * math.erfc(-z / math.sqrt(2))
        pdf = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        return self.mean * cdf + self.sd * pdf

    def median_s(self) -> float:
        return self.mean  # (truncating at 0 moves no mass across a median >= 0)


class Exponential(_Dist):
    """Exponential (Poisson arrivals) with the given mean."""

    dist: Literal["exponential"]
    mean: float = Field(gt=0, le=MAX_WAIT_S)

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.exponential(self.mean))

    def median_s(self) -> float:
        return self.mean * math.log(2)

    def mean_s(self) -> float:
        return self.mean


class Uniform(_Dist):
    dist: Literal["uniform"]
    low: float = Field(ge=0, le=MAX_WAIT_S)
    high: float = Field(ge=0, le=MAX_WAIT_S)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise FieldError("must be >= low", "high")
        return self

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def mean_s(self) -> float:
        return (self.low + self.high) / 2

    def median_s(self) -> float:
        return (self.low + self.high) / 2


class LogNormal(_Dist):
    """Log-normal with the given *mean* of the waiting time and shape ``sigma``."""

    dist: Literal["lognormal"]
    mean: float = Field(gt=0, le=MAX_WAIT_S)
    sigma: float = Field(ge=0, le=10)

    def sample(self, rng: np.random.Generator) -> float:
        mu = np.log(self.mean) - self.sigma**2 / 2
        return float(rng.lognormal(mu, self.sigma))

    def mean_s(self) -> float:
        return self.mean

    def median_s(self) -> float:
        return self.mean * math.exp(-self.sigma**2 / 2)


def _plain_number_is_constant(value: Any) -> Any:
    """``interval_s = 600`` means a constant 600 s (a number where a distribution is
    expected); booleans stay errors."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"dist": "constant", "value": value}
    if isinstance(value, str | list):
        raise ValueError('expected seconds as a number (a constant) or a distribution such as '
                         '{ dist = "normal", mean = 600, sd = 60 }, { dist = "exponential", '
                         'mean = 600 }, { dist = "uniform", low = 0, high = 1200 }, '
                         '{ dist = "lognormal", mean = 600, sigma = 0.5 }')
    return value


#: A waiting-time distribution: ``{ dist = "normal", mean = 600, sd = 60 }``,
#: ``{ dist = "exponential", mean = 600 }``, ``{ dist = "uniform", low = 0, high = 1200 }``,
#: ``{ dist = "lognormal", mean = 600, sigma = 0.5 }``, ``{ dist = "constant", value = 600 }``,
#: or a plain number (a constant).
Distribution = Annotated[
    Constant | Normal | Exponential | Uniform | LogNormal, Field(discriminator="dist"),
    BeforeValidator(_plain_number_is_constant),
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
