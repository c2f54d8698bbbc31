"""One region-interval of merit-order dispatch as a linear programme, solved by scipy's HiGHS.

The independent reference for :mod:`bidstack.kernel.dispatch`, written from the problem statement
rather than from the kernel's greedy walk; tests and ``bench/`` share it. It needs scipy (a ``dev``
dependency), imported here only.

The programme, over band dispatch ``x[u, k]`` and two slacks::

    minimise   sum p[u, k] * x[u, k] + penalty * (unserved + oversupply)
    subject to sum x + unserved - oversupply = demand
               L[u] <= sum_k x[u, k] <= U[u]
               0 <= x[u, k] <= q[u, k]

with ``p`` the offer prices divided by ``mlf`` and the unit limits of the issue::

    U = min(max_avail, sum_k q, initial_mw + ramp_up_rate * minutes)
    L = max(0, initial_mw - ramp_down_rate * minutes), cut to U

(a NaN argument drops its term). The penalty exceeds every price, so the slacks are used only when
demand exceeds ``sum U`` or falls below ``sum L``.

Price, by the convention of the kernel (the last band dispatched): the market price cap when energy
is unserved; otherwise the highest price among bands carrying *free* energy (dispatch beyond the
unit's forced energy ``L``, which fills its cheapest bands first); the market floor price when no
band does. Quantities up to ``tolerance`` count as zero.

Ties: when several bands share the marginal price the first solve leaves their split arbitrary,
so a second solve fixes every other band and minimises the largest fraction of *remaining
quantity* (band quantity less the unit's forced energy in it) dispatched among the tied bands.
That optimum is unique: the tied bands' free energy is ``min(theta * remaining, headroom)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import linprog


@dataclass(frozen=True)
class ReferenceDispatch:
    """The reference's answer for one region-interval (units in input order)."""

    price: float
    dispatch_mw: np.ndarray
    unserved_mw: float
    oversupply_mw: float
    balance_dual: float
    """HiGHS's marginal of the energy balance in the first solve. When an offer sets the price and
    demand falls strictly inside the marginal price level it equals ``price``; at degenerate points
    (a band boundary, forced energy only) it is any price between the neighbouring levels, and with
    a slack in use it is the penalty."""


def dispatch_interval(
    price_band: np.ndarray,
    band_avail: np.ndarray,
    demand: float,
    *,
    mlf: np.ndarray | None = None,
    max_avail: np.ndarray | None = None,
    initial_mw: np.ndarray | None = None,
    ramp_up_rate: np.ndarray | None = None,
    ramp_down_rate: np.ndarray | None = None,
    interval_minutes: float = 5.0,
    market_price_cap: float = 15000.0,
    market_floor_price: float = -1000.0,
    tolerance: float = 1e-6,
) -> ReferenceDispatch:
    """Dispatch one region-interval: ``price_band`` and ``band_avail`` are (units, 10) arrays;
    the optional per-unit arrays use NaN for "not given"."""
    n_units, n_bands = band_avail.shape
    absent = np.full(n_units, np.nan)
    mlf = np.ones(n_units) if mlf is None else mlf
    price = (price_band / mlf[:, None]).ravel()
    quantity = band_avail.ravel()
    lower, upper = unit_limits(
        band_avail,
        absent if max_avail is None else max_avail,
        absent if initial_mw is None else initial_mw,
        absent if ramp_up_rate is None else ramp_up_rate,
        absent if ramp_down_rate is None else ramp_down_rate,
        interval_minutes,
    )
    forced = np.clip(lower[:, None] - _band_starts(band_avail), 0.0, band_avail).ravel()
    unit_rows = sparse.kron(sparse.eye_array(n_units), np.ones((1, n_bands)), format="csr")
    penalty = 1.0 + 2.0 * np.abs(price).max(initial=0.0)

    first = linprog(
        np.concatenate([price, [penalty, penalty]]),
        A_ub=sparse.vstack([_pad(unit_rows, 2), -_pad(unit_rows, 2)]),
        b_ub=np.concatenate([upper, -lower]),
        A_eq=np.concatenate([np.ones(price.size), [1.0, -1.0]])[None, :],
        b_eq=[demand],
        bounds=[*((0.0, q) for q in quantity), (0.0, None), (0.0, None)],
        method="highs",
    )
    if first.status != 0:
        raise RuntimeError(f"reference LP failed: {first.message}")
    x = first.x[: price.size]
    unserved, oversupply = first.x[price.size :]
    free = x - forced > tolerance
    if unserved > tolerance:
        clearing = market_price_cap
    elif not free.any():
        clearing = market_floor_price
    else:
        clearing = price[free].max()
        tied = price == clearing
        if tied.sum() > 1:
            x = _share_ties(x, tied, quantity, forced, unit_rows, upper, lower, demand)
    return ReferenceDispatch(
        price=float(clearing),
        dispatch_mw=x.reshape(n_units, n_bands).sum(axis=1),
        unserved_mw=float(unserved),
        oversupply_mw=float(oversupply),
        balance_dual=float(first.eqlin.marginals[0]),
    )


def unit_limits(
    band_avail: np.ndarray,
    max_avail: np.ndarray,
    initial_mw: np.ndarray,
    ramp_up_rate: np.ndarray,
    ramp_down_rate: np.ndarray,
    interval_minutes: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's ``(L, U)`` in MW; NaN in an argument drops the term it appears in."""
    upper = np.fmin(band_avail.sum(axis=1), max_avail)
    upper = np.fmin(upper, initial_mw + ramp_up_rate * interval_minutes)
    lower = np.fmax(0.0, initial_mw - ramp_down_rate * interval_minutes)
    return np.minimum(lower, upper), upper


def _share_ties(x, tied, quantity, forced, unit_rows, upper, lower, demand):
    """Second solve: every untied band fixed, minimise the largest tied fraction ``t``."""
    remaining = quantity - forced
    n = x.size
    ties = sparse.csr_array(
        (np.ones(tied.sum()), (np.arange(tied.sum()), np.flatnonzero(tied))), shape=(tied.sum(), n)
    )
    fixed = np.clip(x, 0.0, quantity)
    bounds = [(0.0, q) if t else (f, f) for q, t, f in zip(quantity, tied, fixed, strict=True)]
    second = linprog(
        np.concatenate([np.zeros(n), [1.0]]),
        A_ub=sparse.vstack(
            [
                _pad(unit_rows, 1),
                -_pad(unit_rows, 1),
                sparse.hstack([ties, -remaining[tied][:, None]]),
            ]
        ),
        b_ub=np.concatenate([upper, -lower, forced[tied]]),
        A_eq=np.concatenate([np.ones(n), [0.0]])[None, :],
        b_eq=[demand],
        bounds=[*bounds, (0.0, None)],
        method="highs",
    )
    if second.status != 0:
        raise RuntimeError(f"reference tie-break LP failed: {second.message}")
    return second.x[:n]


def _band_starts(band_avail: np.ndarray) -> np.ndarray:
    """MW at which each band starts within its unit (0 for the first band)."""
    return np.cumsum(band_avail, axis=1) - band_avail


def _pad(matrix, columns: int):
    """``matrix`` with ``columns`` zero columns appended (for the slack variables)."""
    return sparse.hstack([matrix, sparse.csr_array((matrix.shape[0], columns))], format="csr")
