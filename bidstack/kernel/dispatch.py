"""Merit-order dispatch of the NEM energy market, one region at a time: numba kernels on arrays.

Mirrors an energy-only NEMDE without network, interconnectors or FCAS; the stage that owns frames,
validation and column names is :mod:`bidstack.stages.dispatch`, the independent reference is
:mod:`bidstack.reference.dispatch_lp`.

What one region-interval solves
-------------------------------
Fixed demand ``D`` MW. Every unit ``u`` offering in the interval has ten bands: a price
``p[u, k]`` already referred to the regional reference node (offer price / marginal loss factor,
strictly ascending in ``k``) and a quantity ``q[u, k] >= 0`` MW. Its limits are::

    U[u] = min(max_avail[u], sum_k q[u, k], base[u] + ramp_up_rate[u] * minutes)
    L[u] = max(0, base[u] - ramp_down_rate[u] * minutes), cut to U[u] when it exceeds it

where ``base[u]`` is the unit's ramp base (below; NaN means no ramp limit: both ramp terms drop
out) and an infinite ``max_avail`` or rate means no limit. Dispatch ``x[u, k]`` minimises
``sum p * x`` subject to ``sum x = D``, ``0 <= x[u, k] <= q[u, k]`` and
``L[u] <= sum_k x[u, k] <= U[u]``. The kernel solves it greedily, which is exact here because
each unit's cost is convex in its output: every unit first takes ``L[u]`` from its own cheapest
bands (the *forced* energy), then the remaining demand ``R = D - sum L`` is served cheapest band
first (*free* energy). Bands are compared by referred price only, so equal prices tie across units.

* Ties: all bands at the price level that meets the last of ``R`` share it pro rata to their
  *remaining quantity* ``a = q[u, k]`` minus the unit's forced energy in that band, each capped by
  the unit's headroom ``U[u] - (output so far)`` (water-filling: ``x = min(theta * a, headroom)``
  with one ``theta`` for the level). This is the allocation that minimises the largest fraction
  ``free / a`` among the tied bands, which is how the reference LP breaks ties.
* Price: the left derivative of the least dispatch cost in demand (the value of the last MW
  served), i.e. the referred price of the most expensive band carrying free energy: the last band
  dispatched in merit order, as in nempy. Where an LP's dual is ambiguous this picks the low end:
  demand met exactly at a band boundary is priced at the band below the boundary, not the next
  one. Forced energy never sets the price.
* Unserved energy: ``sum U < D`` puts every unit at ``U``; ``D - sum U`` is unserved and the price
  is the interval's market price cap.
* No free energy: ``sum L >= D`` puts every unit at ``L``; ``sum L - D`` is oversupply and the price
  is the interval's market floor price. This includes ``sum L == D`` (demand met entirely by
  forced energy, where removing a MW is infeasible) and ``D == 0`` with no forced energy.
* Quantities within ``TOLERANCE_MW`` are equal: a price level whose room comes within it of the
  remaining demand is dispatched whole and is marginal (the next level stays at zero), and the
  unserved and no-free-energy tests above compare with it.

Ramp base
---------
Intervals of a region are processed in time order. A unit's ramp base in interval ``i`` is its
dispatch in interval ``i - 1`` of its region when it was dispatched there and
``follows_previous[i]`` holds (no gap in time); at the unit's first interval in the input it is
``initial_mw[u]`` (NaN: none); after a gap (the unit or the region missing an interval) there is
none, so the unit is not ramp-limited in the interval that follows the gap: the model has no output
to ramp from, and inventing one (zero, or the output before the gap) would be a silent guess.

Merit order
-----------
Band prices are fixed per unit and trading day, so a price set is stored once in ``band_price``
and each row points at one. A region's merit order (a stable argsort of its units'
current band prices, ties in unit then band order) is rebuilt only in intervals where some unit's
price set differs from its previous one; other intervals only walk it.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BANDS = 10
TOLERANCE_MW = 1e-6

# price_source codes: what set an interval's price
PRICE_FROM_OFFER = 0
PRICE_FROM_CAP = 1
PRICE_FROM_FLOOR = 2
PRICE_SOURCES = ("offer", "market_price_cap", "market_floor_price")

# limit_flags bits: where a unit's limits came from
RAMP_UP_LIMIT = 1
RAMP_DOWN_LIMIT = 2
RAMP_DOWN_CUT = 4


@njit(cache=True, parallel=True)
def dispatch_regions(
    region_intervals,
    interval_rows,
    follows_previous,
    demand,
    market_price_cap,
    market_floor_price,
    interval_minutes,
    region_units,
    row_unit,
    row_price_set,
    band_avail,
    max_avail,
    ramp_up_rate,
    ramp_down_rate,
    initial_mw,
    band_price,
):
    """Dispatch every region (in parallel) over its intervals (in time order).

    Shapes: G regions, I intervals, N units, M offer rows, S price sets. Intervals are grouped by
    region and ascending in time within it; rows are grouped by interval; units by region.

    Parameters
    ----------
    region_intervals : int64 (G + 1,)
        Region ``g`` owns intervals ``region_intervals[g] : region_intervals[g + 1]``.
    interval_rows : int64 (I + 1,)
        Interval ``i`` owns rows ``interval_rows[i] : interval_rows[i + 1]`` (at least one; at most
        one row per unit).
    follows_previous : bool (I,)
        Interval ``i`` starts exactly when interval ``i - 1`` of the same region ends.
    demand, market_price_cap, market_floor_price : float64 (I,)
        Fixed demand (MW) and the price cap and floor ($/MWh) of each interval.
    interval_minutes : float64 (G,)
        Interval length of each region, in minutes (scales the ramp rates).
    region_units : int64 (G + 1,)
        Region ``g`` owns units ``region_units[g] : region_units[g + 1]``.
    row_unit : int64 (M,)
        Unit of each row, in its region's range.
    row_price_set : int64 (M,)
        Row of ``band_price`` holding each row's band prices; a price set belongs to one unit.
    band_avail : float64 (M, 10)
        Band quantities (MW), finite and ``>= 0``.
    max_avail : float64 (M,)
        Unit availability (MW), ``>= 0``; ``inf`` for no cap beyond the bands.
    ramp_up_rate, ramp_down_rate : float64 (M,)
        Ramp rates (MW/min), ``>= 0``; ``inf`` for no limit.
    initial_mw : float64 (N,)
        Output of each unit before its first row (MW, ``>= 0``); NaN for none.
    band_price : float64 (S, 10)
        Band prices referred to the regional reference node ($/MWh), finite, strictly ascending.

    Returns
    -------
    Per row, float64 (M,) unless said: ``dispatch_mw``; ``lower_mw`` and ``upper_mw`` (the limits
    ``L`` and ``U``); ``ramp_base_mw`` (NaN: no ramp limit); ``limit_flags`` int8, a sum of
    ``RAMP_UP_LIMIT`` (``U`` is the ramp-up limit, below availability), ``RAMP_DOWN_LIMIT`` (``L``
    is the ramp-down limit, above zero) and ``RAMP_DOWN_CUT`` (that ramp-down limit exceeded ``U``
    and was cut to it). Per interval, float64 (I,) unless said: ``price`` ($/MWh at the regional
    reference node); ``unserved_mw``; ``oversupply_mw``; ``dispatched_mw`` (sum of the rows'
    dispatch); ``marginal_row`` int64 (first row, in merit order, of the price-setting level; -1
    when the price is the cap or floor); ``price_source`` int8 (``PRICE_FROM_OFFER``,
    ``PRICE_FROM_CAP`` or ``PRICE_FROM_FLOOR``, named in ``PRICE_SOURCES``).
    """
    n_rows = row_unit.shape[0]
    n_intervals = demand.shape[0]
    rows_out = (
        np.empty(n_rows),
        np.empty(n_rows),
        np.empty(n_rows),
        np.empty(n_rows),
        np.zeros(n_rows, np.int8),
    )
    intervals_out = (
        np.empty(n_intervals),
        np.zeros(n_intervals),
        np.zeros(n_intervals),
        np.empty(n_intervals),
        np.full(n_intervals, -1, np.int64),
        np.empty(n_intervals, np.int8),
    )
    for g in prange(region_intervals.shape[0] - 1):
        _dispatch_region(
            region_intervals[g],
            region_intervals[g + 1],
            region_units[g],
            region_units[g + 1],
            interval_minutes[g],
            interval_rows,
            follows_previous,
            demand,
            market_price_cap,
            market_floor_price,
            row_unit,
            row_price_set,
            band_avail,
            max_avail,
            ramp_up_rate,
            ramp_down_rate,
            initial_mw,
            band_price,
            rows_out,
            intervals_out,
        )
    return rows_out + intervals_out


@njit(cache=True)
def _dispatch_region(
    first_interval,
    end_interval,
    first_unit,
    end_unit,
    minutes,
    interval_rows,
    follows_previous,
    demand,
    market_price_cap,
    market_floor_price,
    row_unit,
    row_price_set,
    band_avail,
    max_avail,
    ramp_up_rate,
    ramp_down_rate,
    initial_mw,
    band_price,
    rows_out,
    intervals_out,
):
    """The driver loop of one region: its intervals in time order, carrying each unit's output."""
    dispatch_mw, lower_mw, upper_mw, ramp_base_mw, limit_flags = rows_out
    price, unserved_mw, oversupply_mw, dispatched_mw, marginal_row, price_source = intervals_out
    n_units = end_unit - first_unit
    price_set = np.full(n_units, -1, np.int64)
    row_of = np.full(n_units, -1, np.int64)
    last_mw = np.full(n_units, np.nan)
    last_interval = np.full(n_units, -1, np.int64)
    keys = np.full(n_units * BANDS, np.inf)
    merit = (np.empty(n_units * BANDS, np.int64), np.empty(n_units * BANDS, np.int64), keys.copy())
    cumulative = np.zeros((n_units, BANDS + 1))
    lower = np.empty(n_units)
    upper = np.empty(n_units)
    level = np.empty(n_units)
    scratch = (np.empty(n_units, np.int64), np.empty(n_units), np.empty(n_units))

    for i in range(first_interval, end_interval):
        rows = range(interval_rows[i], interval_rows[i + 1])
        stale = False
        for row in rows:
            u = row_unit[row] - first_unit
            row_of[u] = row
            if row_price_set[row] != price_set[u]:
                price_set[u] = row_price_set[row]
                keys[u * BANDS : (u + 1) * BANDS] = band_price[price_set[u]]
                stale = True
        if stale:
            _sort_merit_order(keys, merit)

        total_lower = 0.0
        total_upper = 0.0
        for row in rows:
            u = row_unit[row] - first_unit
            if last_interval[u] < 0:
                base = initial_mw[row_unit[row]]
            elif last_interval[u] == i - 1 and follows_previous[i]:
                base = last_mw[u]
            else:
                base = np.nan
            lower[u], upper[u], limit_flags[row] = _unit_limits(
                band_avail[row],
                max_avail[row],
                base,
                ramp_up_rate[row],
                ramp_down_rate[row],
                minutes,
                cumulative[u],
            )
            ramp_base_mw[row] = base
            total_lower += lower[u]
            total_upper += upper[u]

        if total_upper < demand[i] - TOLERANCE_MW:
            for row in rows:
                level[row_unit[row] - first_unit] = upper[row_unit[row] - first_unit]
            price[i] = market_price_cap[i]
            price_source[i] = PRICE_FROM_CAP
            unserved_mw[i] = demand[i] - total_upper
        elif demand[i] - total_lower <= TOLERANCE_MW:
            for row in rows:
                level[row_unit[row] - first_unit] = lower[row_unit[row] - first_unit]
            price[i] = market_floor_price[i]
            price_source[i] = PRICE_FROM_FLOOR
            oversupply_mw[i] = max(0.0, total_lower - demand[i])
        else:
            for row in rows:
                level[row_unit[row] - first_unit] = lower[row_unit[row] - first_unit]
            price[i], marginal_row[i] = _fill_merit_order(
                demand[i] - total_lower,
                merit,
                row_of,
                cumulative,
                lower,
                upper,
                level,
                scratch,
            )
            price_source[i] = PRICE_FROM_OFFER

        total = 0.0
        for row in rows:
            u = row_unit[row] - first_unit
            dispatch_mw[row] = level[u]
            lower_mw[row] = lower[u]
            upper_mw[row] = upper[u]
            total += level[u]
            last_mw[u] = level[u]
            last_interval[u] = i
            row_of[u] = -1
        dispatched_mw[i] = total


@njit(cache=True)
def _unit_limits(quantity, max_avail, base, ramp_up_rate, ramp_down_rate, minutes, cumulative):
    """One unit's limits ``(L, U, limit_flags)``; fills ``cumulative`` (11,) with its band edges."""
    cumulative[0] = 0.0
    for k in range(BANDS):
        cumulative[k + 1] = cumulative[k] + quantity[k]
    upper = min(cumulative[BANDS], max_avail)
    lower = 0.0
    flags = 0
    if not np.isnan(base):
        ramp_upper = base + ramp_up_rate * minutes
        if ramp_upper < upper:
            upper = ramp_upper
            flags |= RAMP_UP_LIMIT
        ramp_lower = base - ramp_down_rate * minutes
        if ramp_lower > upper:
            lower = upper
            flags |= RAMP_DOWN_LIMIT | RAMP_DOWN_CUT
        elif ramp_lower > 0.0:
            lower = ramp_lower
            flags |= RAMP_DOWN_LIMIT
    return lower, upper, flags


@njit(cache=True)
def _sort_merit_order(keys, merit):
    """Fill ``merit`` = (unit, band, price) of every band, cheapest first, from ``keys`` (prices
    at ``unit * BANDS + band``); ties stay in unit, then band, order."""
    merit_unit, merit_band, merit_price = merit
    order = np.argsort(keys, kind="mergesort")
    for j in range(order.shape[0]):
        merit_unit[j], merit_band[j] = divmod(order[j], BANDS)
        merit_price[j] = keys[order[j]]


@njit(cache=True)
def _fill_merit_order(residual, merit, row_of, cumulative, lower, upper, level, scratch):
    """Serve ``residual`` MW of free energy up the merit order, raising ``level`` (MW) in place.

    Walks price levels (runs of equal prices in ``merit``); a level that fits is taken whole, the
    one that does not is shared by :func:`_water_fill`. Returns the price of the last level that
    received energy and the row of its first member (-1 if none did).
    """
    merit_unit, merit_band, merit_price = merit
    member, share, room = scratch
    price = np.nan
    marginal = -1
    j = 0
    while residual > TOLERANCE_MW and j < merit_price.shape[0]:
        level_price = merit_price[j]
        members = 0
        level_room = 0.0
        while j < merit_price.shape[0] and merit_price[j] == level_price:
            u, k = merit_unit[j], merit_band[j]
            j += 1
            if row_of[u] < 0:
                continue
            unit_room = min(cumulative[u, k + 1], upper[u]) - level[u]
            if unit_room <= 0.0:
                continue
            member[members] = u
            share[members] = cumulative[u, k + 1] - max(cumulative[u, k], lower[u])
            room[members] = unit_room
            level_room += unit_room
            members += 1
        if members == 0:
            continue
        price = level_price
        marginal = row_of[member[0]]
        if level_room <= residual + TOLERANCE_MW:
            for m in range(members):
                level[member[m]] += room[m]
            residual -= level_room
        else:
            _water_fill(residual, members, member, share, room, level)
            residual = 0.0
    return price, marginal


@njit(cache=True)
def _water_fill(quantity, members, member, share, room, level):
    """Share ``quantity`` MW as ``min(theta * share, room)`` over the members, one ``theta``.

    Needs ``sum(room) > quantity`` and ``0 < room <= share``; raises ``level[member]`` in place.
    Members whose room binds are fixed at it and ``theta`` is recomputed for the rest.
    """
    capped = np.zeros(members, np.bool_)
    remaining = quantity
    share_left = 0.0
    for m in range(members):
        share_left += share[m]
    theta = 0.0
    changed = True
    while changed and share_left > 0.0:
        theta = remaining / share_left
        changed = False
        for m in range(members):
            if not capped[m] and theta * share[m] >= room[m]:
                capped[m] = True
                level[member[m]] += room[m]
                remaining -= room[m]
                share_left -= share[m]
                changed = True
    for m in range(members):
        if not capped[m]:
            level[member[m]] += theta * share[m]
