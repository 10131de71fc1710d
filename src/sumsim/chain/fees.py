"""Gas-price and ether-price processes.

``ConstantFees`` keeps the scenario's gas price.  ``BaseFeeProcess`` is a bounded, seeded,
EIP-1559-style base fee: after every slot it moves by ``adjust * (fullness - target) / target``
(times a log-normal shock), where a slot's fullness is the gas the simulated contract used plus
background demand from the rest of the chain (a seeded draw around ``background``).  Slots
without simulated transactions are not sealed as blocks, but their effect on the base fee is
applied in one vectorised step when the next block is sealed.  A transaction bidding less than
the base fee waits in the mempool.

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

    def advance(self, now: float, slots: int, used_fraction: float) -> None:
        """Move the prices to ``now``: ``slots`` slots elapsed, the last ``used_fraction`` full."""


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

    @property
    def floor(self) -> int:
        return self.base_fee

    def _step(self, fullness: np.ndarray) -> None:
        factors = 1.0 + self.adjust * (np.clip(fullness, 0.0, 1.0) - self.target) / self.target
        log_change = float(np.sum(np.log(factors)))
        if self.shock_sd:
            log_change += float(self.rng.normal(0.0, self.shock_sd) * math.sqrt(len(fullness)))
        fee = self.base_fee * math.exp(log_change)
        self.base_fee = int(min(self.max_wei, max(self.min_wei, fee)))

    def advance(self, now: float, slots: int, used_fraction: float) -> None:
        if slots > 1:  # the empty slots since the previous block
            self._step(self.rng.normal(self.background, self.background_sd, size=slots - 1))
        self._step(np.array([used_fraction + self.rng.normal(self.background,
                                                             self.background_sd)]))
        if self.vol:
            days = (now - self._last_time) / 86_400
            z = self.rng.normal()
            self.eth_usd *= math.exp(-0.5 * self.vol**2 * days + self.vol * math.sqrt(days) * z)
        self._last_time = now
