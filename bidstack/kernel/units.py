"""One unit in one interval: its limits from availability and ramp rates, and how tied bands
share a price level. Numba kernels on scalars and small arrays; see :mod:`bidstack.kernel.network`.

Limits (``T`` minutes, base ``b`` the MW the ramp rates count from; NaN: no ramp terms)::

    U = min(sum of band volumes, availability, b + ramp_up_rate * T)
    L = max(0, b - ramp_down_rate * T)

When ``L > U`` the ramp-down limit and availability conflict. NEMDE resolves it by its
constraint-violation penalties, in which the ramp-down limit outranks availability: the unit is
held at ``L`` (``RampPriority.nemde``; DDPS1 on 2022-01-01 rebid 0 MW while running 453 MW and
came down 10 MW an interval). MW of ``L`` beyond the unit's bands is *forced excess*: dispatched
whatever the price and never price-setting. ``RampPriority.availability`` cuts ``L`` to ``U``.

Each band's share of the limits: ``lo`` is its part of the forced energy ``L`` (which fills the
unit's cheapest bands first), ``hi`` its part of ``U``. Only ``hi - lo`` is free to clear.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bidstack.kernel.enums import LimitFlag, RampPriority

BANDS = 10
RAMP_UP = LimitFlag.ramp_up
RAMP_DOWN = LimitFlag.ramp_down
RAMP_DOWN_OVER_AVAILABILITY = LimitFlag.ramp_down_over_availability
NEMDE = RampPriority.nemde


@njit(cache=True)
def unit_limits_nb(band_avail, max_avail, base, ramp_up_rate, ramp_down_rate, minutes, priority):
    """``(L, U, forced_excess, limit_flags)`` of one unit (see the module docstring).

    ``band_avail`` (10,) MW; ``max_avail`` MW (inf: none); ``base`` MW (NaN: no ramp limit);
    rates MW/min (inf: none); ``priority`` a :data:`RampPriority` code.
    """
    total = 0.0
    for k in range(BANDS):
        total += band_avail[k]
    upper = min(total, max_avail)
    lower = 0.0
    flags = 0
    if not np.isnan(base):
        ramp_upper = base + ramp_up_rate * minutes
        if ramp_upper < upper:
            upper = max(ramp_upper, 0.0)
            flags |= RAMP_UP
        ramp_lower = base - ramp_down_rate * minutes
        if ramp_lower > 0.0:
            lower = ramp_lower
            flags |= RAMP_DOWN
    excess = 0.0
    if lower > upper:
        flags |= RAMP_DOWN_OVER_AVAILABILITY
        if priority == NEMDE:
            upper = lower
            excess = max(0.0, lower - total)
        else:
            lower = upper
    return lower, upper, excess, flags


@njit(cache=True)
def band_bounds_nb(band_avail, lower, upper, lo, hi):
    """Fill ``lo`` and ``hi`` (10,) with each band's part of ``L`` and ``U`` (cheapest first)."""
    start = 0.0
    for k in range(BANDS):
        end = start + band_avail[k]
        lo[k] = min(max(lower - start, 0.0), band_avail[k])
        hi[k] = min(max(upper - start, 0.0), band_avail[k])
        start = end


@njit(cache=True)
def share_level_nb(amount, volume, lo, hi, out):
    """Share ``amount`` MW of free energy among tied bands as AEMO does: dispatch / volume equal.

    Band ``j`` is dispatched ``x = clamp(theta * volume[j], lo[j], hi[j])`` with one ``theta``
    such that ``sum(x - lo) == amount`` (``0 <= amount <= sum(hi - lo)``); ``out`` gets
    ``x - lo``. This is the least ``sum(x**2 / volume)``: equal fractions, except where a band's
    forced part or its unit's limit holds it. Exact: ``theta`` is found among the breakpoints
    ``lo / volume`` and ``hi / volume`` of the piecewise-linear total.
    """
    n = volume.shape[0]
    room = 0.0
    for j in range(n):
        room += hi[j] - lo[j]
    if amount >= room:
        for j in range(n):
            out[j] = hi[j] - lo[j]
        return
    if amount <= 0.0:
        for j in range(n):
            out[j] = 0.0
        return
    points = np.empty(2 * n)
    count = 0
    for j in range(n):
        if volume[j] > 0.0:
            points[count] = lo[j] / volume[j]
            points[count + 1] = hi[j] / volume[j]
            count += 2
    points = np.sort(points[:count])
    target = amount
    for j in range(n):
        target += lo[j]
    # the total at each breakpoint rises with theta; find the bracket holding the target
    below_theta, below_total = 0.0, _total(0.0, volume, lo, hi)
    theta = points[count - 1]
    for p in range(count):
        total = _total(points[p], volume, lo, hi)
        if total >= target:
            if total > below_total:
                theta = below_theta + (target - below_total) * (points[p] - below_theta) / (
                    total - below_total
                )
            else:
                theta = points[p]
            break
        below_theta, below_total = points[p], total
    for j in range(n):
        out[j] = min(max(theta * volume[j], lo[j]), hi[j]) - lo[j]


@njit(cache=True)
def _total(theta, volume, lo, hi):
    total = 0.0
    for j in range(volume.shape[0]):
        total += min(max(theta * volume[j], lo[j]), hi[j])
    return total
