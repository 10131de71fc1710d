"""Exact ether <-> wei conversion.

Amounts are written in ether as integers, floats or decimal strings and converted through
`decimal.Decimal` (floats via their shortest repr), so "0.1" is exactly 10**17 wei; more than 18
decimal places cannot be represented in wei and is an error.  Money inside sumsim is always an
integer number of wei.
"""

from __future__ import annotations

import numbers
from decimal import Decimal, InvalidOperation
from typing import Any

WEI_PER_ETHER = 10**18
WEI_PER_GWEI = 10**9
#: The largest amount sumsim holds: results store wei as Parquet ``Decimal(38, 0)``, whose
#: largest value is ``10**38 - 1``; any balance, price or total must stay at or below it.
MAX_WEI = 10**38 - 1
#: :func:`to_wei` refuses amounts of more digits (in wei) before computing them, so that
#: "1e100000000" is rejected at once instead of building a 100-million-digit integer.
MAX_DIGITS = 100


def to_wei(value: Any, unit: int = WEI_PER_ETHER) -> int:
    """Convert an amount in ether (or gwei with ``unit=WEI_PER_GWEI``) exactly to integer wei.

    Integer arithmetic on the decimal digits, so no precision limit applies (below
    10**:data:`MAX_DIGITS` wei; the config types then bound amounts by :data:`MAX_WEI`).
    """
    if isinstance(value, bool):
        raise ValueError("expected an amount (number or decimal string), got a boolean")
    if isinstance(value, int):
        return value * unit
    numpy = type(value).__module__ == "numpy"  # (a grid made with numpy: its scalars)
    if numpy and isinstance(value, numbers.Integral):
        return int(value) * unit
    if isinstance(value, float) or (numpy and isinstance(value, numbers.Real)):
        dec = Decimal(repr(float(value)))  # (a numpy float's repr names its type)
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
    # Bound the size before expanding: "1e100000000" must not build a 10**8-digit integer.
    if not dec:
        return 0  # "0E+100000000" too, without computing 10**100000000
    places = len(str(unit)) - 1
    if dec.adjusted() + places >= MAX_DIGITS:
        raise ValueError(f"amount too large: more than {MAX_DIGITS} digits of wei (money "
                         f"columns hold at most 10**38 - 1 wei)")
    if dec.adjusted() < -places:
        raise ValueError(f"has more decimal places than {places}: wei cannot represent it")
    sign, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)
    mantissa = int("".join(map(str, digits)) or "0")
    scaled = mantissa * unit
    if exponent >= 0:
        wei = scaled * 10**exponent
    else:
        wei, rest = divmod(scaled, 10**-exponent)
        if rest:
            raise ValueError(f"has more decimal places than {places}: wei cannot represent it")
    return -wei if sign else wei


def check_wei(wei: int, what: str = "amount") -> int:
    """``wei`` itself, or a ValueError when it is above :data:`MAX_WEI`."""
    if wei > MAX_WEI:
        raise ValueError(f"{what} too large: at most 10**38 - 1 wei (about 1e20 ether), what "
                         "a Decimal(38, 0) results column holds")
    return wei


def from_wei(wei: int, unit: int = WEI_PER_ETHER) -> str:
    """Exact decimal string of a wei amount in ether (or gwei)."""
    whole, frac = divmod(abs(wei), unit)
    sign = "-" if wei < 0 else ""
    if not frac:
        return f"{sign}{whole}"
    width = len(str(unit)) - 1
    return f"{sign}{whole}." + str(frac).rjust(width, "0").rstrip("0")
