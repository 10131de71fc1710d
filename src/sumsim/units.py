"""Exact ether <-> wei conversion.

Amounts are written in ether as integers, floats or decimal strings and converted through
`decimal.Decimal` (floats via their shortest repr), so "0.1" is exactly 10**17 wei; more than 18
decimal places cannot be represented in wei and is an error.  Money inside sumsim is always an
integer number of wei.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

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
