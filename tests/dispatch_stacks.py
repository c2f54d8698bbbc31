"""Random single-region stacks for comparing the dispatch stage with the reference (tests only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bidstack.reference.network_lp import dispatch_network, unit_limits

PRICE_GRID = np.array([-1000.0, -50, -10, 0, 15, 20, 35, 50, 80, 100, 150, 300, 1000, 5000, 15000])


@dataclass
class Stack:
    """One region-interval; per-unit arrays use NaN for "not given"."""

    price_band: np.ndarray
    band_avail: np.ndarray
    mlf: np.ndarray
    max_avail: np.ndarray
    initial_mw: np.ndarray
    ramp_up_rate: np.ndarray
    ramp_down_rate: np.ndarray
    demand: float
    minutes: float = 5.0

    def reference(self, price_range: bool = False):
        return dispatch_network(
            np.zeros(len(self.mlf), np.int64),
            self.price_band,
            self.band_avail,
            np.array([self.demand]),
            mlf=self.mlf,
            max_avail=self.max_avail,
            ramp_base=self.initial_mw,
            ramp_up_rate=self.ramp_up_rate,
            ramp_down_rate=self.ramp_down_rate,
            interval_minutes=self.minutes,
            price_range=price_range,
        )

    def limits(self):
        lower, upper, _ = unit_limits(
            self.band_avail,
            self.max_avail,
            self.initial_mw,
            self.ramp_up_rate,
            self.ramp_down_rate,
            self.minutes,
        )
        return lower, upper


def random_stack(rng: np.random.Generator) -> Stack:
    """A stack with ties, zero bands, negative prices, mlf != 1, caps and ramp limits, and a
    demand that is interior, at a band boundary, unserved, oversupplied or met by forced energy."""
    n = int(rng.integers(1, 13))
    if rng.random() < 0.7:
        price = np.stack([np.sort(rng.choice(PRICE_GRID, 10, replace=False)) for _ in range(n)])
    else:
        price = np.sort(rng.uniform(-1000, 1000, (n, 10)), axis=1)
    mlf = rng.choice([1.0, 1.0, 0.93, 1.04], n) if rng.random() < 0.5 else np.ones(n)
    avail = rng.uniform(0, 60, (n, 10)) * (rng.random((n, 10)) < 0.6)
    total = avail.sum(axis=1)
    maybe = lambda values, p: np.where(rng.random(n) < p, values, np.nan)  # noqa: E731
    stack = Stack(
        price_band=price,
        band_avail=avail,
        mlf=mlf,
        max_avail=maybe(rng.uniform(0, 1.1, n) * total, 0.4),
        initial_mw=maybe(rng.uniform(0, 1.2, n) * total, 0.5),
        ramp_up_rate=maybe(rng.uniform(0, 8, n), 0.7),
        ramp_down_rate=maybe(rng.uniform(0, 8, n), 0.7),
        demand=0.0,
    )
    stack.demand = _demand(rng, stack)
    return stack


def _demand(rng: np.random.Generator, stack: Stack) -> float:
    lower, upper = stack.limits()
    scenario = rng.choice(["interior"] * 4 + ["boundary"] * 3 + ["unserved", "over", "forced"])
    if scenario == "unserved":
        return upper.sum() + rng.uniform(1, 50)
    if scenario == "over":
        return lower.sum() * rng.uniform(0, 1)
    if scenario == "forced":
        return lower.sum()
    if scenario == "boundary":
        # supply offered up to and including one price level, by the unit limits
        level = rng.choice(np.unique(stack.price_band / stack.mlf[:, None]))
        referred = stack.price_band / stack.mlf[:, None]
        offered = (stack.band_avail * (referred <= level)).sum(axis=1)
        return float(np.clip(offered, lower, upper).sum())
    return lower.sum() + rng.uniform(0, 1.1) * (upper.sum() - lower.sum())
