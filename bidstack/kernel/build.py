"""The bottom-up half of :mod:`bidstack.kernel.tree`'s solve: each open link's points over its
flow range, each link group's upper and lower curves, each region's total curve (its own merged
with its children's) and that curve carried through the region's group into its parent's price.

Within an interval the branch and bound solves node after node that differ in one link's range or
a few: what a solve builds is kept in the :class:`~bidstack.kernel.scratch.Scratch`, and the next
solve builds again only what a changed range reaches (the link's group, then the total and
transformed curves on the path to the root); the rest is reused as it is, so a node costs what
its changed path costs and the results are those of a full build.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from bidstack.kernel import curves

__all__ = ["build_nb"]


@njit(cache=True)
def build_nb(layout, links, s, on, range_a, range_b, active):
    """Build every present region's total curve and every active region's transformed curve for
    the links' flow ranges ``[range_a, range_b]``, reusing what the interval's last build made
    where no range below it changed. Sets ``active[g]`` for regions whose group has an open
    link."""
    n_reg = layout.demand.shape[1]
    n_link = links.link_from.shape[0]
    parent = layout.region_parent
    reuse = s.reuse[0]
    for lk in range(n_link):
        s.link_dirty[lk] = on[lk] and (
            not reuse or range_a[lk] != s.done_a[lk] or range_b[lk] != s.done_b[lk]
        )
        if s.link_dirty[lk]:
            s.done_a[lk], s.done_b[lk] = range_a[lk], range_b[lk]
            lo_bp, hi_bp = links.bp_offsets[lk], links.bp_offsets[lk + 1]
            at = s.pt_off[lk]
            reverse = False  # the link runs from its group's parent region to the child
            for j in range(s.grp_link.shape[0]):
                if s.grp_link[j] == lk:
                    reverse = s.grp_rev[j]
                    break
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
    # only what the changed ranges reach is built again: a group with a changed link, then
    # every total and transformed curve on the path from it to the root
    for g in range(n_reg):
        active[g] = False
        s.grp_dirty[g] = not reuse
        if parent[g] >= 0 and s.present[g] and s.present[parent[g]]:
            for j in range(s.grp_off[g], s.grp_off[g + 1]):
                lk = s.grp_link[j]
                active[g] = active[g] or on[lk]
                partner = links.exclusive[lk]
                s.grp_dirty[g] = (
                    s.grp_dirty[g] or s.link_dirty[lk] or (partner >= 0 and s.link_dirty[partner])
                )
        if active[g] and s.grp_dirty[g]:
            _group_curves(s, g, on, links.exclusive)
    own_curve = (s.own_off, s.own_n, s.own_qlo, s.own_tie, s.own_price, s.own_len)
    tr_curve = (s.tr_off, s.tr_n, s.tr_qlo, s.tr_price, s.tr_len)
    tot_curve = (s.tot_off, s.tot_n, s.tot_qlo, s.tot_tie, s.tot_price, s.tot_len, s.tot_ya)
    for g in layout.region_order:
        if s.present[g]:
            s.tot_dirty[g] = not reuse
            for j in range(s.child_off[g], s.child_off[g + 1]):
                c = s.child_list[j]
                s.tot_dirty[g] = s.tot_dirty[g] or (active[c] and s.tr_dirty[c])
            if s.tot_dirty[g]:
                _total_curve(own_curve, tr_curve, tot_curve, s.child_off, s.child_list, g, active)
            s.tr_dirty[g] = active[g] and (s.tot_dirty[g] or s.grp_dirty[g])
            if s.tr_dirty[g]:
                at, out, seg = s.tot_off[g], s.tr_off[g], s.seg_off[g]
                s.tr_qlo[g], s.tr_n[g] = curves.transform_nb(
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
                z = s.tr_qlo[g]
                for j in range(s.tr_off[g], s.tr_off[g] + s.tr_n[g]):
                    z = z + s.tr_len[j]
                    s.tr_zend[j] = z
    s.reuse[0] = True


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
def _total_curve(own_curve, tr_curve, tot_curve, child_off, child_list, g, active):
    """Region ``g``'s own curve merged with its active children's transformed curves (own pieces
    first at a tie, then children in order); each piece's start ``tot_ya``. The own curve is long
    and the children's short: own pieces are copied in runs, each up to the next child piece.
    ``tot_tie``: the first piece at the price of the one before, for the levels' walks. Takes the
    arrays it uses, not the scratch: a call passing the scratch costs more than the merge."""
    own_off, own_n, own_qlo, own_tie, own_price, own_len = own_curve
    tr_off, tr_n, tr_qlo, tr_price, tr_len = tr_curve
    tot_off, tot_n, tot_qlo, tot_tie, tot_price, tot_len, tot_ya = tot_curve
    at = tot_off[g]
    own, n_own = own_off[g], own_n[g]
    qlo = own_qlo[g]
    sources = np.empty(child_off[g + 1] - child_off[g], np.int64)
    position = np.zeros(sources.shape[0], np.int64)
    n_src = 0
    for j in range(child_off[g], child_off[g + 1]):
        c = child_list[j]
        if active[c]:
            sources[n_src] = c
            n_src += 1
            qlo += tr_qlo[c]
    n = 0
    k = 0
    y = qlo
    tie = 0 if own_tie[g] else tot_off[g + 1] - at  # ties come only with child pieces
    while True:
        best = -1
        best_price = np.inf
        for r in range(n_src):
            c = sources[r]
            if position[r] < tr_n[c]:
                p = tr_price[tr_off[c] + position[r]]
                if best < 0 or p < best_price:
                    best, best_price = r, p
        end = n_own  # the own run: up to the first own piece above the child piece
        if best >= 0:
            low = k
            while low < end:
                mid = (low + end) // 2
                if own_price[own + mid] > best_price:
                    end = mid
                else:
                    low = mid + 1
        count = end - k
        tot_price[at + n : at + n + count] = own_price[own + k : own + end]
        tot_len[at + n : at + n + count] = own_len[own + k : own + end]
        for m in range(own + k, own + end):
            tot_ya[at + n] = y
            y = y + own_len[m]
            n += 1
        k = end
        if best < 0:
            break
        c = sources[best]
        length = tr_len[tr_off[c] + position[best]]
        if n > 0 and n < tie and tot_price[at + n - 1] == best_price:
            tie = n
        tot_price[at + n] = best_price
        tot_len[at + n] = length
        tot_ya[at + n] = y
        y = y + length
        position[best] += 1
        n += 1
    tot_n[g] = n
    tot_qlo[g] = qlo
    tot_tie[g] = min(tie, n)
