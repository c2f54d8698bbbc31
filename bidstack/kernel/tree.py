"""The tree solve of one interval of :mod:`bidstack.kernel.network`: build each region's curve
bottom-up (its own bands merged with its children's, carried through their link groups), clear
each root, push quantities and prices back down, and find each link's operating point. The
interval's inputs and outputs are :mod:`bidstack.kernel.interval`'s; every array lives in one
:class:`~bidstack.kernel.scratch.Scratch`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bidstack.kernel import build, curves
from bidstack.kernel.scratch import OWN, PENALTY, TOLERANCE_MW

__all__ = ["OWN", "PENALTY", "TOLERANCE_MW", "solve_nb"]


@njit(cache=True)
def solve_nb(layout, links, s, on, range_a, range_b, active):
    """Solve the interval's relaxation for the links' flow ranges ``[range_a, range_b]``.

    Returns ``(cost, (branch_link, low, high))``: the relaxation's cost, and the link to branch
    on (-1 when every link sits on its loss curve and no exclusive pair flows both ways: the
    solution is feasible) with the segment of its range holding its flow (NaN: branch on
    exclusivity).
    ``active[g]`` is set for regions whose group has an open link (they clear through it).

    Top-down, each region's export ``y_target`` at its price is split among its own curve and
    its children (ties pro rata, the tied share kept in ``tie_frac``), and each child gets its
    export and price from its transformed curve; the cost is the own pieces'. Each sum is the one a
    walk over the pieces in order makes, read from the running sums the build and the interval
    keep (``tot_ya``, ``tr_zend``, ``own_cost``) up to the price, so only the tied level is
    walked. The steps are written out here rather than called with the scratch: a call passing
    the scratch's hundred arrays costs more than most steps.
    """
    n_reg = layout.demand.shape[1]
    build.build_nb(layout, links, s, on, range_a, range_b, active)
    curve = (s.tot_off, s.tot_n, s.tot_tie, s.tot_ya, s.tot_len, s.tot_price, s.tot_qlo)
    cost = 0.0
    for order_j in range(n_reg - 1, -1, -1):
        g = layout.region_order[order_j]
        if not s.present[g]:
            continue
        if not active[g]:
            s.price[g] = _clear(curve, g)
            s.y_target[g] = 0.0
        at, n = s.tot_off[g], s.tot_n[g]
        price = s.price[g]
        lo = _first_at_least(s.tot_price, at, n, price)
        if lo < n:
            below = s.tot_ya[at + lo]
        else:
            below = s.tot_ya[at + n - 1] + s.tot_len[at + n - 1] if n > 0 else s.tot_qlo[g]
        tied = 0.0
        for j in range(at + lo, at + n):
            if s.tot_price[j] != price:
                break
            tied += s.tot_len[j]
        amount = min(max(s.y_target[g] - below, 0.0), tied)
        if tied - amount <= TOLERANCE_MW:
            amount = tied
        fraction = amount / tied if tied > 0.0 else 0.0
        s.tie_frac[g] = fraction
        own, n_own = s.own_off[g], s.own_n[g]
        k = _first_at_least(s.own_price, own, n_own, price)
        own_cost = s.own_cost[own + k - 1] if k > 0 else 0.0
        if k == 0 and n_own > 0 and s.own_price[own] > price:
            own_cost += PENALTY * (s.own_len[own] - 0.0)  # nothing used of the oversupply piece
        while k < n_own and s.own_price[own + k] == price:
            used = s.own_len[own + k] * fraction
            if k == 0:  # the oversupply piece: what is not used of it is oversupplied
                own_cost += PENALTY * (s.own_len[own + k] - used)
            elif k == n_own - 1:
                own_cost += PENALTY * used
            else:
                own_cost += used * s.own_price[own + k]
            k += 1
        cost += own_cost
        for j in range(s.child_off[g], s.child_off[g + 1]):
            c = s.child_list[j]
            s.z_child[c] = s.tr_qlo[c]
            if not active[c]:
                continue
            first = s.tr_off[c]
            m = _first_at_least(s.tr_price, first, s.tr_n[c], price)
            if m > 0:
                s.z_child[c] = s.tr_zend[first + m - 1]
            while m < s.tr_n[c] and s.tr_price[first + m] == price:
                s.z_child[c] += s.tr_len[first + m] * fraction
                m += 1
            # the child's point: inside a piece the child's price is the piece's; at a boundary
            # (a limit, a breakpoint, a flat) the lowest price both its curve and the link allow
            out, n_tr = s.tr_off[c], s.tr_n[c]
            position = s.z_child[c] - s.tr_qlo[c]
            cumulative = 0.0
            seg = s.seg_off[c]
            y = s.grp_y0[c]
            for q in range(s.n_up[c]):
                y += s.up_len[seg + q]
            inside = False
            for q in range(n_tr):
                length = s.tr_len[out + q]
                if position <= cumulative + TOLERANCE_MW:
                    y = s.tr_ya[out + q]
                    break
                if position < cumulative + length - TOLERANCE_MW:
                    gain = s.tr_gain[out + q]
                    inside = True
                    if gain == curves.INFLATION:
                        s.y_target[c], s.price[c] = s.tr_ya[out + q], 0.0
                    else:
                        s.y_target[c] = s.tr_ya[out + q] + (position - cumulative) / gain
                        s.price[c] = s.tr_cprice[out + q]
                    break
                cumulative += length
            if inside:
                continue
            low, high = _curve_range(curve, c, y)
            if price < 0.0:
                left, right = curves.gains_at_nb(
                    s.grp_y0[c], s.dn_len[seg:], s.dn_gain[seg:], s.n_dn[c], y, TOLERANCE_MW
                )
            else:
                left, right = curves.gains_at_nb(
                    s.grp_y0[c], s.up_len[seg:], s.up_gain[seg:], s.n_up[c], y, TOLERANCE_MW
                )
            if not np.isnan(right):
                low = max(low, right * price)
            if not np.isnan(left):
                high = min(high, left * price)
            s.y_target[c] = y
            s.price[c] = high if low == -np.inf or low > high else low
    return cost, _positions(s, layout, links, on, active, range_a, range_b)


@njit(cache=True)
def _clear(curve, g):
    """The lowest price at which region ``g``'s total curve reaches zero export."""
    tot_off, tot_n, tot_tie, tot_ya, tot_len, tot_price, tot_qlo = curve
    at, n = tot_off[g], tot_n[g]
    j = _single_levels(tot_n, tot_tie, g)
    low, high = 0, j  # where each level is one piece, its end is the next piece's start
    while low < high:
        mid = (low + high) // 2
        if tot_ya[at + mid] + tot_len[at + mid] >= -TOLERANCE_MW:
            high = mid
        else:
            low = mid + 1
    if low < j:
        return tot_price[at + low]
    q = tot_ya[at + j] if j < n else tot_qlo[g]
    while j < n:
        price = tot_price[at + j]
        level = 0.0
        while j < n and tot_price[at + j] == price:
            level += tot_len[at + j]
            j += 1
        if q + level >= -TOLERANCE_MW:
            return price
        q += level
    return tot_price[at + n - 1]


@njit(cache=True)
def _single_levels(tot_n, tot_tie, g):
    """How many of region ``g``'s total curve's first pieces are each a price level alone: up
    to there a level's start is its piece's ``tot_ya``, the sum a walk over the levels makes."""
    n, tie = tot_n[g], tot_tie[g]
    return n if tie >= n else max(tie - 1, 0)


@njit(cache=True)
def _first_at_least(values, first, n, x):
    """The first ``j`` in ``[0, n)`` with ``values[first + j] >= x`` (``n`` if none): ``values``
    ascends there."""
    low, high = 0, n
    while low < high:
        mid = (low + high) // 2
        if values[first + mid] >= x:
            high = mid
        else:
            low = mid + 1
    return low


@njit(cache=True)
def _curve_range(curve, g, y):
    """The prices at which region ``g``'s total curve exports ``y``: ``(low, high)``."""
    tot_off, tot_n, tot_tie, tot_ya, tot_len, tot_price, tot_qlo = curve
    at, n = tot_off[g], tot_n[g]
    j = _single_levels(tot_n, tot_tie, g)
    low, high = 0, j  # the first single level that holds y or starts above it
    while low < high:
        mid = (low + high) // 2
        start = tot_ya[at + mid]
        if y <= start + TOLERANCE_MW or y < start + tot_len[at + mid] - TOLERANCE_MW:
            high = mid
        else:
            low = mid + 1
    if low < j:
        price = tot_price[at + low]
        if y <= tot_ya[at + low] + TOLERANCE_MW:
            return (tot_price[at + low - 1] if low > 0 else -np.inf), price
        return price, price
    q = tot_ya[at + j] if j < n else tot_qlo[g]
    previous = tot_price[at + j - 1] if j > 0 else -np.inf
    while j < n:
        price = tot_price[at + j]
        level = 0.0
        while j < n and tot_price[at + j] == price:
            level += tot_len[at + j]
            j += 1
        if y <= q + TOLERANCE_MW:
            return previous, price
        if y < q + level - TOLERANCE_MW:
            return price, price
        q += level
        previous = price
    return previous, np.inf


@njit(cache=True)
def _positions(s, layout, links, on, active, range_a, range_b):
    """Each open link's flow and losses at its group's operating point; returns the link to
    branch on and the segment of its range holding its flow (``(-1, nan, nan)``: every link on
    its curve; ``(link, nan, nan)``: an exclusive pair to branch on)."""
    n_link = links.link_from.shape[0]
    pair = -1
    for lk in range(n_link):
        s.link_off[lk] = False
        at = s.pt_off[lk]
        s.link_f[lk] = s.pt_f[at] if on[lk] else 0.0
        s.link_loss[lk] = s.pt_loss[at] if on[lk] else 0.0
    for c in range(layout.demand.shape[1]):
        if not active[c]:
            continue
        seg = s.seg_off[c]
        y = s.y_target[c]
        parent_price = s.price[layout.region_parent[c]]
        upper_z = curves.curve_z_nb(
            s.grp_z0[c], s.grp_y0[c], s.up_len[seg:], s.up_gain[seg:], s.n_up[c], y
        )
        on_upper = parent_price > 0.0 or (
            parent_price == 0.0 and abs(s.z_child[c] - upper_z) <= TOLERANCE_MW
        )
        cumulative = s.grp_y0[c]
        if on_upper:
            for j in range(s.n_up[c]):
                lk, k, length = s.up_link[seg + j], s.up_seg[seg + j], s.up_len[seg + j]
                at = s.pt_off[lk]
                share = (
                    1.0 if cumulative + length <= y + TOLERANCE_MW else (y - cumulative) / length
                )
                share = max(share, 0.0)
                s.link_f[lk] = s.pt_f[at + k] + share * (s.pt_f[at + k + 1] - s.pt_f[at + k])
                s.link_loss[lk] = s.pt_loss[at + k] + share * (
                    s.pt_loss[at + k + 1] - s.pt_loss[at + k]
                )
                cumulative += length
                if cumulative >= y + TOLERANCE_MW:
                    break
        else:
            for j in range(s.n_dn[c]):
                lk, length = s.dn_link[seg + j], s.dn_len[seg + j]
                full = cumulative + length <= y + TOLERANCE_MW
                share = max(1.0 if full else (y - cumulative) / length, 0.0)
                inside = TOLERANCE_MW < y - cumulative < length - TOLERANCE_MW
                partner = links.exclusive[lk]
                if partner >= 0 and on[partner] and s.pt_n[partner] > 1 and s.pt_n[lk] > 1:
                    # the pair's chord: its ends are each link alone at its far end
                    for member in (lk, partner):
                        at, n = s.pt_off[member], s.pt_n[member]
                        k = at + n - 1 if share >= 0.5 else at
                        s.link_f[member], s.link_loss[member] = s.pt_f[k], s.pt_loss[k]
                    if inside:
                        pair = lk
                else:
                    at, last = s.pt_off[lk], s.pt_off[lk] + s.pt_n[lk] - 1
                    s.link_f[lk] = s.pt_f[at] + share * (s.pt_f[last] - s.pt_f[at])
                    s.link_loss[lk] = s.pt_loss[at] + share * (s.pt_loss[last] - s.pt_loss[at])
                    s.link_off[lk] = s.pt_n[lk] > 2 and inside
                cumulative += length
                if cumulative >= y + TOLERANCE_MW:
                    break
    if pair >= 0:  # inside an exclusive pair's chord: branch on which link flows
        s.link_off[pair] = True
        return pair, np.nan, np.nan
    widest, gap = -1, 0.0  # the link whose losses lie furthest above its curve
    for lk in range(n_link):
        if s.link_off[lk]:
            first, end = links.bp_offsets[lk], links.bp_offsets[lk + 1]
            curve = curves.interpolate_nb(links.breakpoints[first:end], s.bp_loss[first:end],
                                          s.link_f[lk])  # fmt: skip
            if widest < 0 or s.link_loss[lk] - curve > gap:
                widest, gap = lk, s.link_loss[lk] - curve
    if widest >= 0:
        low, high = _split(links, widest, range_a[widest], range_b[widest], s.link_f[widest])
        return widest, low, high
    for lk in range(n_link):
        m = links.exclusive[lk]
        both = abs(s.link_f[lk]) > TOLERANCE_MW and abs(s.link_f[m]) > TOLERANCE_MW
        if m > lk and on[lk] and on[m] and both:
            return lk, np.nan, np.nan
    return -1, np.nan, np.nan


@njit(cache=True)
def _split(links, lk, a, b, f):
    """The breakpoints of link ``lk`` around ``f`` inside ``[a, b]``: the segment holding the flow,
    ``(low, high)``; its ends are ``a`` or ``b`` where no breakpoint lies between."""
    low, high = a, b
    for k in range(links.bp_offsets[lk], links.bp_offsets[lk + 1]):
        bp = links.breakpoints[k]
        if a < bp <= f and bp > low:
            low = bp
        if f < bp < b and bp < high:
            high = bp
    return low, high
