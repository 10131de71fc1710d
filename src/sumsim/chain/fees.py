"""Gas-price and ether-price processes.

``ConstantFees`` keeps the scenario's gas price.  ``BaseFeeProcess`` is a bounded, seeded,
EIP-1559-style base fee: after every slot it moves by ``adjust * (fullness - target) / target``
(times a log-normal shock), where a slot's fullness is the gas the simulated contract used plus
background demand from the rest of the chain (a seeded draw around ``background``).  Slots
without simulated transactions are not sealed as blocks (:meth:`ConstantFees.pass_empty`): their
effect on the base fee is applied in one vectorised step before the next block is priced, so
that block pays the base fee those slots left; beyond ``AGGREGATE_SLOTS`` empty slots (e.g.
sub-second slots over days without a transaction) their summed log change is drawn at once from
its normal limit (mean and variance of one slot's change times the number of slots), so cost
and memory do not grow with the gap.  A transaction whose max fee is under the base fee waits
in the mempool; an EIP-1559 transaction pays the base fee plus its tip, at most its max fee.

The ether price follows a seeded geometric Brownian motion (``eth_usd_volatility`` per
sqrt(day)); it only converts figures to USD.
"""

from __future__ import annotations

import math

import numpy as np


class ConstantFees:
    """A fixed gas price that agents pay by default; any bid is included (no floor)."""

    #: Whether the prices move as blocks are sealed (when not, the chain does not report
    #: each block to :meth:`advance`).
    moves = False

    def __init__(self, gas_price_wei: int, eth_usd: float):
        self.base_fee = gas_price_wei
        self.eth_usd = eth_usd

    @property
    def floor(self) -> int:
        """The least gas price a transaction must bid to be included."""
        return 0

    #: A wallet's max fee per gas, in base fees, before its tip (``Agent.gas_price``): here
    #: one, the gas price, which is what it pays (the price never moves).
    bid_base_fees = 1

    def pass_empty(self, slots: int) -> None:
        """Let ``slots`` slots pass without a block of this chain (before the next is priced)."""

    def advance(self, now: float, used_fraction: float) -> None:
        """Move the prices past the slot just sealed at ``now``, ``used_fraction`` full."""


#: Empty slots between two blocks beyond which their base-fee moves are drawn as one sum (see
#: the module docstring): 65,536 slots is 9 days of 12-second slots, or 66 seconds of
#: millisecond ones.  A sum of that many independent bounded moves is normal to well within
#: what the model claims, and drawing each costs time in proportion to the gap (a million
#: draws a block made millisecond slots with a contribution every 1,000 s take minutes).
AGGREGATE_SLOTS = 1 << 16
#: Largest log change applied at once (the fee is clamped to its bounds anyway; exp() of more
#: would overflow).
_MAX_LOG_CHANGE = 700.0
#: Nodes of the quadrature giving one empty slot's mean and variance.
_QUADRATURE_POINTS = 201


class BaseFeeProcess(ConstantFees):
    moves = True

    def __init__(self, gas_price_wei: int, eth_usd: float, rng: np.random.Generator, *,
                 min_wei: int, max_wei: int, target: float = 0.5, adjust: float = 0.125,
                 background: float = 0.5, background_sd: float = 0.15, shock_sd: float = 0.0,
                 eth_usd_volatility: float = 0.0):
        super().__init__(gas_price_wei, eth_usd)
        self.rng = rng
        self.min_wei, self.max_wei = min_wei, max_wei
        self.target, self.adjust = target, adjust
        self.background, self.background_sd = background, background_sd
        self.shock_sd = shock_sd
        self.vol = eth_usd_volatility
        self._last_time = 0.0
        self._moments: tuple[float, float] | None = None

    @property
    def floor(self) -> int:
        return self.base_fee

    def _log_factors(self, fullness: np.ndarray) -> np.ndarray:
        """Each slot's log change of the base fee at ``fullness`` (shock aside)."""
        return np.log(1.0 + self.adjust * (np.clip(fullness, 0.0, 1.0) - self.target)
                      / self.target)

    def _slot_moments(self) -> tuple[float, float]:
        """Mean and variance of an empty slot's log change (Gauss-Hermite quadrature over the
        background demand's normal)."""
        if self._moments is None:
            z, w = np.polynomial.hermite_e.hermegauss(_QUADRATURE_POINTS)
            f = self._log_factors(self.background + self.background_sd * z)
            w = w / w.sum()
            mean = float(w @ f)
            self._moments = (mean, float(w @ (f - mean) ** 2))
        return self._moments

    def _move(self, log_change: float, slots: int) -> None:
        if self.shock_sd:
            log_change += float(self.rng.normal(0.0, self.shock_sd) * math.sqrt(slots))
        log_change = min(_MAX_LOG_CHANGE, max(-_MAX_LOG_CHANGE, log_change))
        fee = self.base_fee * math.exp(log_change)
        self.base_fee = int(min(self.max_wei, max(self.min_wei, fee)))

    #: Twice the base fee (plus the tip), as wallets bid: a bid that stays above a base fee
    #: rising by an eighth a block for six full blocks; the transaction pays the base fee of
    #: its block plus the tip.
    bid_base_fees = 2

    def pass_empty(self, slots: int) -> None:
        empty = slots
        if empty > AGGREGATE_SLOTS:
            mean, var = self._slot_moments()
            self._move(empty * mean + math.sqrt(empty * var) * float(self.rng.normal()), empty)
        elif empty > 0:
            self._move(float(np.sum(self._log_factors(
                self.rng.normal(self.background, self.background_sd, size=empty)))), empty)

    def advance(self, now: float, used_fraction: float) -> None:
        self._move(float(self._log_factors(np.array(
            [used_fraction + self.rng.normal(self.background, self.background_sd)]))[0]), 1)
        if self.vol:
            days = (now - self._last_time) / 86_400
            z = self.rng.normal()
            self.eth_usd *= math.exp(-0.5 * self.vol**2 * days + self.vol * math.sqrt(days) * z)
        self._last_time = now
