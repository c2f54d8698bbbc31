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
    """
    n_reg = layout.demand.shape[1]
    build.build_nb(layout, links, s, on, range_a, range_b, active)
    cost = 0.0
    for j in range(n_reg - 1, -1, -1):
        g = layout.region_order[j]
        if not s.present[g]:
            continue
        if not active[g]:
            s.price[g] = _clear(s, g)
            s.y_target[g] = 0.0
        cost += _distribute(s, g, active)
    return cost, _positions(s, layout, links, on, active, range_a, range_b)


@njit(cache=True)
def _clear(s, g):
    """The lowest price at which region ``g``'s total curve reaches zero export."""
    at, n = s.tot_off[g], s.tot_n[g]
    q = s.tot_qlo[g]
    j = 0
    while j < n:
        price = s.tot_price[at + j]
        level = 0.0
        while j < n and s.tot_price[at + j] == price:
            level += s.tot_len[at + j]
            j += 1
        if q + level >= -TOLERANCE_MW:
            return price
        q += level
    return s.tot_price[at + n - 1]


@njit(cache=True)
def _distribute(s, g, active):
    """Split region ``g``'s export ``y_target`` at its price among its own curve and its
    children (ties pro rata, the tied share kept in ``tie_frac``); set each child's export and
    price; return the own pieces' cost. Each sum is the one a walk over the pieces in order
    makes, read from the running sums the build and the interval keep (``tot_ya``, ``tr_zend``,
    ``own_cost``) up to the price, so only the tied level is walked."""
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
    cost = s.own_cost[own + k - 1] if k > 0 else 0.0
    if k == 0 and n_own > 0 and s.own_price[own] > price:
        cost += PENALTY * (s.own_len[own] - 0.0)  # nothing used of the oversupply piece
    while k < n_own and s.own_price[own + k] == price:
        used = s.own_len[own + k] * fraction
        if k == 0:  # the oversupply piece: what is not used of it is oversupplied
            cost += PENALTY * (s.own_len[own + k] - used)
        elif k == n_own - 1:
            cost += PENALTY * used
        else:
            cost += used * s.own_price[own + k]
        k += 1
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
        s.y_target[c], s.price[c] = _push_down(s, c, s.z_child[c], price)
    return cost


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
def _push_down(s, c, z, parent_price):
    """Region ``c``'s export and price when its parent, at ``parent_price``, takes ``z`` MW from
    it through their group: inside a piece the child's price is the piece's; at a boundary (a
    limit, a breakpoint, a flat) it is the lowest price both the child's curve and the link
    allow."""
    out, n = s.tr_off[c], s.tr_n[c]
    position = z - s.tr_qlo[c]
    cumulative = 0.0
    seg = s.seg_off[c]
    y = s.grp_y0[c]
    for k in range(s.n_up[c]):
        y += s.up_len[seg + k]
    for j in range(n):
        length = s.tr_len[out + j]
        if position <= cumulative + TOLERANCE_MW:
            y = s.tr_ya[out + j]
            break
        if position < cumulative + length - TOLERANCE_MW:
            gain = s.tr_gain[out + j]
            if gain == curves.INFLATION:
                return s.tr_ya[out + j], 0.0
            return s.tr_ya[out + j] + (position - cumulative) / gain, s.tr_cprice[out + j]
        cumulative += length
    low, high = _curve_range(s, c, y)
    if parent_price < 0.0:
        left, right = curves.gains_at_nb(
            s.grp_y0[c], s.dn_len[seg:], s.dn_gain[seg:], s.n_dn[c], y, TOLERANCE_MW
        )
    else:
        left, right = curves.gains_at_nb(
            s.grp_y0[c], s.up_len[seg:], s.up_gain[seg:], s.n_up[c], y, TOLERANCE_MW
        )
    if not np.isnan(right):
        low = max(low, right * parent_price)
    if not np.isnan(left):
        high = min(high, left * parent_price)
    if low == -np.inf or low > high:
        return y, high
    return y, low


@njit(cache=True)
def _curve_range(s, g, y):
    """The prices at which region ``g``'s total curve exports ``y``: ``(low, high)``."""
    at, n = s.tot_off[g], s.tot_n[g]
    q = s.tot_qlo[g]
    previous = -np.inf
    j = 0
    while j < n:
        price = s.tot_price[at + j]
        level = 0.0
        while j < n and s.tot_price[at + j] == price:
            level += s.tot_len[at + j]
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
