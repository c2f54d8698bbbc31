"""The tree solve of one interval of :mod:`bidstack.kernel.network`: build each region's curve
bottom-up (its own bands merged with its children's, carried through their link groups), clear
each root, push quantities and prices back down, and find each link's operating point. The
interval's inputs and outputs are :mod:`bidstack.kernel.interval`'s; every array lives in one
:class:`~bidstack.kernel.scratch.Scratch`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bidstack.kernel import curves
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
    parent = layout.region_parent
    for lk in range(links.link_from.shape[0]):
        if on[lk]:
            lo_bp, hi_bp = links.bp_offsets[lk], links.bp_offsets[lk + 1]
            at = s.pt_off[lk]
            reverse = _reversed(s, lk)
            s.pt_n[lk] = curves.link_points_nb(
                links.breakpoints[lo_bp:hi_bp],
                s.bp_loss[lo_bp:hi_bp],
                range_a[lk],
                range_b[lk],
                links.alpha_from[lk],
                links.alpha_to[lk],
                links.share[lk],
                reverse,
                s.pt_f[at:],
                s.pt_y[at:],
                s.pt_z[at:],
                s.pt_loss[at:],
            )
    for g in range(n_reg):
        active[g] = False
        if parent[g] >= 0 and s.present[g] and s.present[parent[g]]:
            for j in range(s.grp_off[g], s.grp_off[g + 1]):
                active[g] = active[g] or on[s.grp_link[j]]
        if active[g]:
            _group_curves(s, g, on, links.exclusive)
    for g in layout.region_order:
        if s.present[g]:
            _total_curve(s, g, active)
            if active[g]:
                _transform(s, g)
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
def _reversed(s, lk):
    """Whether link ``lk`` runs from its group's parent region to the child."""
    for j in range(s.grp_link.shape[0]):
        if s.grp_link[j] == lk:
            return s.grp_rev[j]
    return False


@njit(cache=True)
def _group_curves(s, g, on, exclusive):
    """The upper (links' curves by decreasing gain) and lower (chords by increasing gain) curves
    of the group joining region ``g`` to its parent, in child-to-parent orientation."""
    members = s.grp_off[g + 1] - s.grp_off[g]
    starts = np.zeros(members, np.int64)
    counts = np.zeros(members, np.int64)
    member = np.empty(s.seg_off[g + 1] - s.seg_off[g], np.int64)
    y0 = 0.0
    z0 = 0.0
    n_tmp = 0
    for m in range(members):
        lk = s.grp_link[s.grp_off[g] + m]
        starts[m] = n_tmp
        if not on[lk]:
            continue
        at, n = s.pt_off[lk], s.pt_n[lk]
        y0 += s.pt_y[at]
        z0 += s.pt_z[at]
        for k in range(n - 1):
            dy = s.pt_y[at + k + 1] - s.pt_y[at + k]
            s.tmp_gain[n_tmp] = (s.pt_z[at + k + 1] - s.pt_z[at + k]) / dy if dy > 0.0 else 0.0
            s.tmp_index[n_tmp] = k
            member[n_tmp] = lk
            n_tmp += 1
        counts[m] = n - 1
    out = s.seg_off[g]
    order = np.empty(n_tmp, np.int64)
    total = curves.merge_segments_nb(starts, counts, s.tmp_gain, True, order)
    for j in range(total):
        lk = member[order[j]]
        k = s.tmp_index[order[j]]
        at = s.pt_off[lk]
        s.up_len[out + j] = s.pt_y[at + k + 1] - s.pt_y[at + k]
        s.up_gain[out + j] = s.tmp_gain[order[j]]
        s.up_link[out + j] = lk
        s.up_seg[out + j] = k
    s.n_up[g] = total
    chord_gain = np.zeros(members)
    chord_len = np.zeros(members)
    chord_count = np.zeros(members, np.int64)
    for m in range(members):
        lk = s.grp_link[s.grp_off[g] + m]
        starts[m] = m
        partner = exclusive[lk]
        if partner >= 0 and not (s.pt_n[partner] > 1 and on[partner] and s.pt_n[lk] > 1):
            partner = -1  # one of the pair is closed: the other is a link like any other
        if partner >= 0 and partner < lk and on[lk]:
            continue  # the pair's one chord is its first link's
        if on[lk] and s.pt_n[lk] > 1:
            at, n = s.pt_off[lk], s.pt_n[lk]
            chord_len[m] = s.pt_y[at + n - 1] - s.pt_y[at]
            rise = s.pt_z[at + n - 1] - s.pt_z[at]
            if partner > lk:
                # an exclusive pair (Basslink's two one-way links) is one curve from one link's
                # far end through both at 0 to the other's: its hull has that curve's chord
                other, count = s.pt_off[partner], s.pt_n[partner]
                chord_len[m] += s.pt_y[other + count - 1] - s.pt_y[other]
                rise += s.pt_z[other + count - 1] - s.pt_z[other]
            if chord_len[m] > 0.0:
                chord_gain[m] = rise / chord_len[m]
                chord_count[m] = 1
    order = np.empty(members, np.int64)
    total = curves.merge_segments_nb(starts, chord_count, chord_gain, False, order)
    for j in range(total):
        m = order[j]
        s.dn_len[out + j] = chord_len[m]
        s.dn_gain[out + j] = chord_gain[m]
        s.dn_link[out + j] = s.grp_link[s.grp_off[g] + m]
    s.n_dn[g] = total
    s.grp_y0[g] = y0
    s.grp_z0[g] = z0


@njit(cache=True)
def _total_curve(s, g, active):
    """Region ``g``'s own curve merged with its active children's transformed curves (own pieces
    first at a tie, then children in order); each piece's start ``tot_ya``. The own curve is long
    and the children's short: own pieces are copied in runs up to the next child piece."""
    at = s.tot_off[g]
    own, n_own = s.own_off[g], s.own_n[g]
    qlo = s.own_qlo[g]
    sources = np.empty(s.child_off[g + 1] - s.child_off[g], np.int64)
    position = np.zeros(sources.shape[0], np.int64)
    n_src = 0
    for j in range(s.child_off[g], s.child_off[g + 1]):
        c = s.child_list[j]
        if active[c]:
            sources[n_src] = c
            n_src += 1
            qlo += s.tr_qlo[c]
    n = 0
    k = 0
    y = qlo
    while True:
        best = -1
        best_price = np.inf
        for r in range(n_src):
            c = sources[r]
            if position[r] < s.tr_n[c]:
                p = s.tr_price[s.tr_off[c] + position[r]]
                if best < 0 or p < best_price:
                    best, best_price = r, p
        while k < n_own and (best < 0 or s.own_price[own + k] <= best_price):
            length = s.own_len[own + k]
            s.tot_price[at + n] = s.own_price[own + k]
            s.tot_len[at + n] = length
            s.tot_src[at + n] = OWN
            s.tot_idx[at + n] = k
            s.tot_ya[at + n] = y
            y = y + length
            k += 1
            n += 1
        if best < 0:
            break
        c = sources[best]
        length = s.tr_len[s.tr_off[c] + position[best]]
        s.tot_price[at + n] = best_price
        s.tot_len[at + n] = length
        s.tot_src[at + n] = c
        s.tot_idx[at + n] = position[best]
        s.tot_ya[at + n] = y
        y = y + length
        position[best] += 1
        n += 1
    s.tot_n[g] = n
    s.tot_qlo[g] = qlo


@njit(cache=True)
def _transform(s, g):
    """Region ``g``'s total curve as its parent sees it through their link group."""
    at, out = s.tot_off[g], s.tr_off[g]
    seg = s.seg_off[g]
    qlo, n = curves.transform_nb(
        s.tot_qlo[g],
        s.tot_price[at:],
        s.tot_len[at:],
        s.tot_ya[at:],
        s.tot_n[g],
        s.grp_y0[g],
        s.grp_z0[g],
        s.up_len[seg:],
        s.up_gain[seg:],
        s.n_up[g],
        s.dn_len[seg:],
        s.dn_gain[seg:],
        s.n_dn[g],
        s.tr_price[out:],
        s.tr_len[out:],
        s.tr_ya[out:],
        s.tr_gain[out:],
        s.tr_cprice[out:],
    )
    s.tr_qlo[g] = qlo
    s.tr_n[g] = n


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
    children (ties pro rata); set each child's export and price; return the own pieces' cost."""
    at, n = s.tot_off[g], s.tot_n[g]
    price = s.price[g]
    below = s.tot_qlo[g]
    tied = 0.0
    for j in range(n):
        p = s.tot_price[at + j]
        if p < price:
            below += s.tot_len[at + j]
        elif p == price:
            tied += s.tot_len[at + j]
    amount = min(max(s.y_target[g] - below, 0.0), tied)
    if tied - amount <= TOLERANCE_MW:
        amount = tied
    fraction = amount / tied if tied > 0.0 else 0.0
    for j in range(s.child_off[g], s.child_off[g + 1]):
        c = s.child_list[j]
        s.z_child[c] = s.tr_qlo[c]
    cost = 0.0
    own = s.own_off[g]
    for j in range(n):
        p = s.tot_price[at + j]
        used = (
            s.tot_len[at + j]
            if p < price
            else (s.tot_len[at + j] * fraction if p == price else 0.0)
        )
        c = s.tot_src[at + j]
        if c == OWN:
            piece = s.tot_idx[at + j]
            s.own_used[own + piece] = used
            if piece == 0:  # the oversupply piece: what is not used of it is oversupplied
                cost += PENALTY * (s.tot_len[at + j] - used)
            elif piece == s.own_n[g] - 1:
                cost += PENALTY * used
            else:
                cost += used * p
        else:
            s.z_child[c] += used
    for j in range(s.child_off[g], s.child_off[g + 1]):
        c = s.child_list[j]
        if active[c]:
            s.y_target[c], s.price[c] = _push_down(s, c, s.z_child[c], price)
    return cost


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
