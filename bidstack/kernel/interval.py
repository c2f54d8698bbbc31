"""One interval of :mod:`bidstack.kernel.network` before and after its solve
(:mod:`bidstack.kernel.tree`): each unit's limits and each region's own curve from the interval's
offer rows, the links' loss curves and the root node's flow ranges; then the solution written out
(tied levels shared as AEMO shares them), with each unit's dispatch carried to the next interval.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bidstack.kernel.enums import LinkState, PriceSource
from bidstack.kernel.scratch import PENALTY, TOLERANCE_MW
from bidstack.kernel.units import BANDS, band_bounds_nb, share_level_nb, unit_limits_nb


@njit(cache=True)
def prepare_interval_nb(i, layout, offers, links, s, ramp_priority, on, range_a, range_b):
    """Unit limits, each present region's own curve, the links' loss curves and open links
    (``on``), and the root node's flow ranges, for interval ``i``."""
    first, end = layout.interval_rows[i], layout.interval_rows[i + 1]
    n_reg = layout.demand.shape[1]
    for g in range(n_reg):
        s.present[g] = not np.isnan(layout.demand[i, g])
    for row in range(first, end):
        u = offers.row_unit[row]
        s.row_of[u] = row
        if offers.row_price_set[row] != s.price_set[u]:
            s.price_set[u] = offers.row_price_set[row]
            g = _region_of(layout.region_units, u)
            local = u - layout.region_units[g]
            at = s.merit_off[g] + local * BANDS
            s.keys[at : at + BANDS] = offers.band_price[s.price_set[u]]
            s.stale[g] = True
    for g in range(n_reg):
        if s.stale[g]:
            _sort_merit(s, g)
            s.stale[g] = False
    big = 1.0
    for row in range(first, end):
        u = offers.row_unit[row]
        base = offers.ramp_base[row]
        if np.isnan(base):
            if s.last_interval[u] < 0:
                # the MW before the run holds at the run's first interval only: a unit that
                # first offers later starts after a gap, without a ramp limit
                if i == 0:
                    base = layout.initial_mw[u]
            elif s.last_interval[u] == i - 1 and layout.follows_previous[i]:
                base = s.last_mw[u]
        lower, upper, excess, flags = unit_limits_nb(
            offers.band_avail[row],
            offers.max_avail[row],
            base,
            offers.ramp_up_rate[row],
            offers.ramp_down_rate[row],
            layout.minutes[i],
            ramp_priority,
        )
        s.base[u], s.lower[u], s.upper[u], s.excess[u], s.flags[u] = (
            base,
            lower,
            upper,
            excess,
            flags,
        )
        band_bounds_nb(offers.band_avail[row], lower, upper, s.lo[u], s.hi[u])
        big += upper
    for g in range(n_reg):
        if s.present[g]:
            big += abs(layout.demand[i, g])
    for lk in range(links.link_from.shape[0]):
        on[lk] = (
            s.present[links.link_from[lk]]
            and s.present[links.link_to[lk]]
            and not np.isnan(links.lower[i, lk])
        )
        range_a[lk] = links.lower[i, lk] if on[lk] else 0.0
        range_b[lk] = links.upper[i, lk] if on[lk] else 0.0
        big += abs(range_a[lk]) + abs(range_b[lk])
        for k in range(links.bp_offsets[lk], links.bp_offsets[lk + 1]):
            f = links.breakpoints[k]
            s.bp_loss[k] = links.loss_linear[i, lk] * f + 0.5 * links.flow_coefficient[lk] * f * f
    s.big[0] = 2.0 * big + 1e3
    s.reuse[0] = False
    for g in range(n_reg):
        if s.present[g]:
            _own_curve(s, g, layout.demand[i, g], layout.region_units)


@njit(cache=True)
def _region_of(region_units, u):
    return np.searchsorted(region_units, u, side="right") - 1


@njit(cache=True)
def _sort_merit(s, g):
    """A region's bands in merit order (cheapest first; ties in unit, then band, order)."""
    first, end = s.merit_off[g], s.merit_off[g + 1]
    keys = s.keys[first:end]
    order = np.argsort(keys, kind="mergesort")
    for j in range(order.shape[0]):
        local, band = divmod(order[j], BANDS)
        s.merit_unit[first + j] = local
        s.merit_band[first + j] = band
        s.merit_price[first + j] = keys[order[j]]


@njit(cache=True)
def _own_curve(s, g, demand, region_units):
    """Region ``g``'s net export against its price: the oversupply piece at ``-PENALTY``, the
    free room of its bands by price level, the unserved piece at ``+PENALTY``."""
    at = s.own_off[g]
    big = s.big[0]
    s.own_price[at], s.own_len[at], s.own_m0[at], s.own_m1[at] = -PENALTY, big, -1, -1
    n = 1
    forced = 0.0
    for u in range(region_units[g], region_units[g + 1]):
        if s.row_of[u] >= 0:
            forced += s.lower[u]
    for j in range(s.merit_off[g], s.merit_off[g + 1]):
        u = region_units[g] + s.merit_unit[j]
        if s.row_of[u] < 0:
            continue
        k = s.merit_band[j]
        room = s.hi[u, k] - s.lo[u, k]
        if room <= 0.0:
            continue
        if n > 1 and s.own_price[at + n - 1] == s.merit_price[j]:
            s.own_len[at + n - 1] += room
            s.own_m1[at + n - 1] = j + 1
        else:
            s.own_price[at + n], s.own_len[at + n] = s.merit_price[j], room
            s.own_m0[at + n], s.own_m1[at + n] = j, j + 1
            n += 1
    s.own_price[at + n], s.own_len[at + n], s.own_m0[at + n], s.own_m1[at + n] = (
        PENALTY,
        big,
        -1,
        -1,
    )
    s.own_n[g] = n + 1
    s.own_qlo[g] = forced - demand - big
    cost = 0.0  # the cost of every piece up to each used, summed in order as the solve sums it
    for k in range(n + 1):
        length = s.own_len[at + k]
        if k == 0:
            cost += PENALTY * (length - length)
        elif k == n:
            cost += PENALTY * length
        else:
            cost += length * s.own_price[at + k]
        s.own_cost[at + k] = cost
    s.own_tie[g] = False
    for k in range(1, n + 1):
        s.own_tie[g] = s.own_tie[g] or s.own_price[at + k] == s.own_price[at + k - 1]


@njit(cache=True)
def write_interval_nb(i, layout, offers, links, s, on, unit_out, region_out, link_out):
    """Write interval ``i``'s solution: units (tied levels shared as AEMO does), regions and
    links; carry each unit's dispatch to the next interval."""
    dispatch_mw, lower_mw, upper_mw, ramp_base_mw, forced_mw, limit_flags = unit_out
    price_out, raw_out, unserved, oversupply, dispatched, marginal, source = region_out
    first, end = layout.interval_rows[i], layout.interval_rows[i + 1]
    for row in range(first, end):
        u = offers.row_unit[row]
        dispatch_mw[row] = s.lower[u]
        lower_mw[row], upper_mw[row] = s.lower[u], s.upper[u]
        ramp_base_mw[row], forced_mw[row], limit_flags[row] = s.base[u], s.excess[u], s.flags[u]
    for g in range(layout.demand.shape[1]):
        if not s.present[g]:
            continue
        own, n = s.own_off[g], s.own_n[g]
        raw = s.price[g]
        for p in range(n):  # what the solve used of each own piece
            price, length = s.own_price[own + p], s.own_len[own + p]
            s.own_used[own + p] = (
                length if price < raw else (length * s.tie_frac[g] if price == raw else 0.0)
            )
        own_level = -1
        base = layout.region_units[g]
        for p in range(1, n - 1):
            used = s.own_used[own + p]
            if s.own_price[own + p] == raw:
                own_level = p
            if used >= s.own_len[own + p]:  # the whole level: every band to its room
                for j in range(s.own_m0[own + p], s.own_m1[own + p]):
                    u = base + s.merit_unit[j]
                    if s.row_of[u] >= 0:
                        k = s.merit_band[j]
                        dispatch_mw[s.row_of[u]] += s.hi[u, k] - s.lo[u, k]
            elif used > 0.0:
                _allocate_tied(
                    used, s.own_m0[own + p], s.own_m1[own + p], base, s.merit_unit,
                    s.merit_band, s.row_of, s.lo, s.hi, offers.band_avail, dispatch_mw,
                )  # fmt: skip
        unserved[i, g] = s.own_used[own + n - 1]
        oversupply[i, g] = s.own_len[own] - s.own_used[own]
        raw_out[i, g] = raw
        price_out[i, g] = min(max(raw, layout.market_floor_price[i]), layout.market_price_cap[i])
        if raw > layout.market_price_cap[i]:
            source[i, g] = PriceSource.market_price_cap
        elif raw < layout.market_floor_price[i]:
            source[i, g] = PriceSource.market_floor_price
        elif own_level > 0:
            source[i, g] = PriceSource.offer
            j = s.own_m0[own + own_level]
            marginal[i, g] = s.row_of[layout.region_units[g] + s.merit_unit[j]]
        else:
            source[i, g] = PriceSource.interconnector
    for row in range(first, end):
        u = offers.row_unit[row]
        g = np.searchsorted(layout.region_units, u, side="right") - 1
        dispatched[i, g] += dispatch_mw[row]
        s.last_mw[u] = dispatch_mw[row]
        s.last_interval[u] = i
        s.row_of[u] = -1
    _write_links(i, links, s, on, link_out)


@njit(cache=True)
def _allocate_tied(used, m0, m1, unit_base, merit_unit, merit_band, row_of, lo_mw, hi_mw,
                   band_avail, dispatch_mw):  # fmt: skip
    """Share ``used`` MW of a level among its tied bands (merit entries ``m0:m1``) as AEMO
    does, adding each band's share to its unit's dispatch."""
    count = m1 - m0
    volume, lo, hi = np.zeros(count), np.zeros(count), np.zeros(count)
    rows = np.full(count, -1, np.int64)
    for j in range(m0, m1):
        u = unit_base + merit_unit[j]
        row = row_of[u]
        if row < 0:
            continue
        k = merit_band[j]
        rows[j - m0] = row
        volume[j - m0] = band_avail[row, k]
        lo[j - m0], hi[j - m0] = lo_mw[u, k], hi_mw[u, k]
    share = np.zeros(count)
    share_level_nb(used, volume, lo, hi, share)
    for j in range(count):
        if rows[j] >= 0:
            dispatch_mw[rows[j]] += share[j]


@njit(cache=True)
def _write_links(i, links, s, on, link_out):
    flow, losses, withdrawn, injected, marginal_loss, flags = link_out
    for lk in range(links.link_from.shape[0]):
        if not on[lk]:
            continue
        f, loss = s.link_f[lk], s.link_loss[lk]
        share = links.share[lk]
        flow[i, lk], losses[i, lk] = f, loss
        withdrawn[i, lk] = links.alpha_from[lk] * f + share * loss
        injected[i, lk] = links.alpha_to[lk] * f - (1.0 - share) * loss
        first, end = links.bp_offsets[lk], links.bp_offsets[lk + 1]
        k = min(
            max(np.searchsorted(links.breakpoints[first:end], f, side="right") - 1, 0),
            end - first - 2,
        )
        bp, values = (
            links.breakpoints[first + k : first + k + 2],
            s.bp_loss[first + k : first + k + 2],
        )
        slope = (values[1] - values[0]) / (bp[1] - bp[0])
        marginal_loss[i, lk] = (links.alpha_from[lk] + share * slope) / (
            links.alpha_to[lk] - (1.0 - share) * slope
        )
        state = 0
        if f >= links.upper[i, lk] - TOLERANCE_MW:
            state |= LinkState.at_export_limit
        if f <= links.lower[i, lk] + TOLERANCE_MW:
            state |= LinkState.at_import_limit
        if s.link_off[lk]:
            state |= LinkState.off_curve
        flags[i, lk] = state
