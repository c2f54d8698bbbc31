"""Price type and price phase from a price forecast (SPEC §3), over each unit's own intervals.

Mirrors :func:`bidstack.reference.allocation.derive_price_type` and ``derive_price_phases``.
Rows may come in any order: :func:`group_units` finds each unit's rows in time order (without
moving anything when the input is already sorted by unit and time, the usual case), and
:func:`derive_price_type_phase` then scans each unit backwards once, in parallel over units.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from bidstack.kernel.codes import MISSING_CODE, ORDER_SRMC_FIRST

_FAR = np.iinfo(np.int64).max


@njit(cache=True)
def group_units(unit_code, n_codes, interval):
    """Group rows by unit, each unit's rows in time order (stable for equal times).

    ``unit_code``: uint32[n], any code per unit below ``n_codes``; ``interval``: int64[n] times.
    Returns ``(order, unit_start, unit_of_code)``: ``order`` int64[n] lists row numbers unit by
    unit, or is empty when the rows already are in that order; the rows of unit ``u`` are
    ``order[unit_start[u]:unit_start[u + 1]]``; ``unit_of_code[c]`` is the unit of code ``c``
    (-1 for codes not present). Units are numbered by first appearance.
    """
    n = unit_code.size
    unit_of_code = np.full(n_codes, -1, dtype=np.int64)
    counts = np.zeros(n_codes + 1, dtype=np.int64)
    n_units = 0
    in_order = True
    for i in range(n):
        unit = unit_of_code[unit_code[i]]
        is_new = unit < 0
        if is_new:
            unit = n_units
            unit_of_code[unit_code[i]] = unit
            n_units += 1
        if i > 0:
            if unit == unit_of_code[unit_code[i - 1]]:
                in_order = in_order and interval[i] >= interval[i - 1]
            else:
                in_order = in_order and is_new
        counts[unit + 1] += 1
    unit_start = np.cumsum(counts[: n_units + 1])
    if in_order:
        return np.empty(0, dtype=np.int64), unit_start, unit_of_code
    order = np.empty(n, dtype=np.int64)
    fill = unit_start[:n_units].copy()
    for i in range(n):
        unit = unit_of_code[unit_code[i]]
        order[fill[unit]] = i
        fill[unit] += 1
    for u in range(n_units):
        rows = order[unit_start[u] : unit_start[u + 1]]
        times = interval[rows]
        if np.any(times[1:] < times[:-1]):
            order[unit_start[u] : unit_start[u + 1]] = rows[np.argsort(times, kind="mergesort")]
    return order, unit_start, unit_of_code


@njit(cache=True)
def _price_type(frrp, tp_min, tp_max, srmc_plus, price_type_order):
    """PT of one interval, tested in ``price_type_order`` (``codes.PRICE_TYPE_ORDERS``): 10
    above TPmax; then -10 at or below TPmin, 1 above SRMC+, else -1 (``ORDER_THRESHOLDS_FIRST``)
    or 1 above SRMC+, -1 above TPmin, else -10 (``ORDER_SRMC_FIRST``); missing if any is NaN."""
    if np.isnan(frrp) or np.isnan(tp_min) or np.isnan(tp_max) or np.isnan(srmc_plus):
        return MISSING_CODE
    if frrp > tp_max:
        return 10
    if price_type_order == ORDER_SRMC_FIRST:
        if frrp > srmc_plus:
            return 1
        return -1 if frrp > tp_min else -10
    if frrp <= tp_min:
        return -10
    return 1 if frrp > srmc_plus else -1


@njit(cache=True, parallel=True)
def derive_price_type_phase(
    order,
    unit_start,
    horizon,
    interval,
    step,
    frrp,
    tp_min,
    tp_max,
    srmc_plus,
    price_type_order,
    price_type_out,
    price_phase_out,
):
    """Write PT and PP (int8[n], ``MISSING_CODE`` where unknown) for every row.

    ``order``/``unit_start`` come from :func:`group_units`; ``horizon`` int64[n_units] is each
    unit's phase horizon in intervals (below 1: unknown, so its rows' PP is missing);
    ``interval`` int64[n] the rows' times and ``step`` the interval length in the same unit;
    ``frrp``, ``tp_min``, ``tp_max``, ``srmc_plus`` are float64[n]
    (NaN: missing), and ``price_type_order`` is the code (``codes.ORDER_*``) of the order PT is
    tested in. PP at a row of time ``t`` is the lowest PT other than 10 over the unit's rows in
    ``[t, t + horizon × step)`` (its intervals ``t .. t+H-1``: an interval it has no row for
    has no PT, and the window never reaches past it to a later row; cut at the unit's last
    row), 10 when all are 10; a missing PT in the window leaves PP missing unless a -10
    settles it. Where PT is 10, PP does not matter (SPEC §2) and is written as 10.
    """
    n_units = unit_start.size - 1
    ordered = order.size == 0
    for u in prange(n_units):
        first = unit_start[u]
        window = horizon[u]
        next_low = _FAR  # next position with PT = -10
        next_mid = _FAR  # PT = -1
        next_high = _FAR  # PT = 1
        next_missing = _FAR
        for j in range(unit_start[u + 1] - 1, first - 1, -1):
            i = j if ordered else order[j]
            pt = _price_type(frrp[i], tp_min[i], tp_max[i], srmc_plus[i], price_type_order)
            price_type_out[i] = pt
            if pt == -10:
                next_low = j
            elif pt == -1:
                next_mid = j
            elif pt == 1:
                next_high = j
            elif pt == MISSING_CODE:
                next_missing = j
            end = interval[i] + window * step  # the first time past the window
            if pt == 10:
                pp = 10  # PP does not matter when PT = 10 (SPEC §2); never leave it unknown
            elif window < 1:
                pp = MISSING_CODE
            elif _before(next_low, end, interval, order):
                pp = -10
            elif _before(next_missing, end, interval, order):
                pp = MISSING_CODE
            elif _before(next_mid, end, interval, order):
                pp = -1
            elif _before(next_high, end, interval, order):
                pp = 1
            else:
                pp = 10
            price_phase_out[i] = pp


@njit(cache=True)
def _before(position, end, interval, order):
    """Whether the row at ``position`` (``_FAR``: none) comes before time ``end``."""
    if position == _FAR:
        return False
    return interval[position if order.size == 0 else order[position]] < end


@njit(cache=True, parallel=True)
def unit_values(values, order, unit_start, first_out, varies_out):
    """One value per unit: ``first_out[u]`` the unit's first value (NaN if missing), and
    ``varies_out[u]`` True when the unit's values (NaN = missing) are not all equal.

    ``values`` is int64[n] or float64[n] (NaN = missing).
    """
    ordered = order.size == 0
    for u in prange(unit_start.size - 1):
        first = values[unit_start[u] if ordered else order[unit_start[u]]]
        varies = False
        for j in range(unit_start[u] + 1, unit_start[u + 1]):
            value = values[j if ordered else order[j]]
            if value != first and not (np.isnan(value) and np.isnan(first)):
                varies = True
                break
        first_out[u] = first
        varies_out[u] = varies
