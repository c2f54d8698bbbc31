"""Supply curves of regions and interconnectors in one interval: numba helpers of
:mod:`bidstack.kernel.network`, which states the problem they solve.

A *curve* is a region's (or a subtree's) net export as a non-decreasing step function of its
price: a start quantity ``qlo`` (the export below every price) and *pieces* ``(price, length)``
in ascending price: at ``price`` the export can take any value in the piece. Pieces at the same
price are a tie.

A *link curve* is what an interconnector group does with a flow, in child-to-parent orientation:
``y`` MW withdrawn from the child region and ``z`` MW injected into the parent region, as
segments of constant gain ``dz/dy`` from the group's start point ``(Y0, Z0)``. The *upper* curve
(the links' own loss curves merged by decreasing gain) is concave; the *lower* curve (each link's
chord between its range ends, merged by increasing gain) is convex. Between the two lies the convex
hull of what the links can do, the relaxation the branch and bound of the network kernel solves.
"""

from __future__ import annotations

import numpy as np
from numba import njit

INFLATION = np.inf  # gain of the piece where losses are free (parent price 0, hull interior)


@njit(cache=True)
def link_points_nb(bp, bp_loss, a, b, alpha_from, alpha_to, share, reverse, f, y, z, loss):
    """The points of one link over the flow range ``[a, b]``: ``a``, the breakpoints strictly
    inside, ``b``; returns their count. ``f`` is the link's own flow, ``loss`` the losses
    interpolated between breakpoints ``bp`` (values ``bp_loss``); ``y``/``z`` are withdrawn and
    injected MW in child-to-parent orientation (``reverse``: the link runs parent to child, and
    the points come out in descending ``f``)."""
    count = 0
    f[count] = a
    count += 1
    for j in range(bp.shape[0]):
        if a < bp[j] < b:
            f[count] = bp[j]
            count += 1
    if b > a:
        f[count] = b
        count += 1
    for j in range(count):
        loss[j] = interpolate_nb(bp, bp_loss, f[j])
        withdrawn = alpha_from * f[j] + share * loss[j]
        injected = alpha_to * f[j] - (1.0 - share) * loss[j]
        if reverse:
            y[j], z[j] = -injected, -withdrawn
        else:
            y[j], z[j] = withdrawn, injected
    if reverse:
        f[:count] = f[:count][::-1].copy()
        y[:count] = y[:count][::-1].copy()
        z[:count] = z[:count][::-1].copy()
        loss[:count] = loss[:count][::-1].copy()
    return count


@njit(cache=True)
def interpolate_nb(x, values, at):
    """``values`` interpolated at ``at`` between ascending ``x`` (clamped at the ends)."""
    n = x.shape[0]
    if at <= x[0]:
        return values[0]
    if at >= x[n - 1]:
        return values[n - 1]
    j = np.searchsorted(x, at, side="right")
    left, right = x[j - 1], x[j]
    return values[j - 1] + (values[j] - values[j - 1]) * (at - left) / (right - left)


@njit(cache=True)
def merge_segments_nb(starts, counts, gain, order_desc, out_index):
    """Merge per-link segment runs (each run sorted by gain in ``order_desc`` order) into one
    order, written to ``out_index`` (indices into ``gain``); ties keep run order. Returns the
    count."""
    runs = starts.shape[0]
    position = np.zeros(runs, np.int64)
    total = 0
    for r in range(runs):
        total += counts[r]
    for m in range(total):
        best = -1
        for r in range(runs):
            if position[r] < counts[r]:
                if best < 0:
                    best = r
                else:
                    g = gain[starts[r] + position[r]]
                    h = gain[starts[best] + position[best]]
                    if (order_desc and g > h) or (not order_desc and g < h):
                        best = r
        out_index[m] = starts[best] + position[best]
        position[best] += 1
    return total


@njit(cache=True)
def transform_nb(
    qlo,
    price,
    length,
    start_y,
    count,
    Y0,
    Z0,
    up_len,
    up_gain,
    n_up,
    dn_len,
    dn_gain,
    n_dn,
    out_price,
    out_len,
    out_ya,
    out_gain,
    out_cprice,
):
    """A child subtree's curve (its export ``y`` against its price) seen by the parent through a
    link group: the parent's delivered MW ``z`` against the parent's price. Returns
    ``(out_qlo, count)``.

    Where the child's price is negative the group acts by its lower curve (losses free to
    inflate, the relaxation), where positive by its upper curve; at price 0 the parent may take
    anything between the two (a piece of gain ``INFLATION``). Child pieces outside the group's
    range ``[Y0, Y1]`` do not cross. Each output piece records the child price and gain it came
    from and its ``y`` start ``out_ya``. Pieces and segments both ascend in ``y``, so one walk
    over each suffices; ``start_y`` (each piece's ``y`` start, ``qlo`` plus the lengths before it)
    lets the walk start at the first piece ending above ``Y0`` and stop at the first starting at
    ``Y1``: the pieces outside cross nothing (a price-0 jump outside the range carries nothing
    below it and only the jump at ``Y1`` above it).
    """
    Y1 = Y0
    for s in range(n_up):
        Y1 += up_len[s]
    up = np.array([0.0, Y0])  # cursor: segment index, its start
    down = np.array([0.0, Y0])
    n = 0
    y = qlo
    low, high = 0, count  # the first piece ending above Y0
    while low < high:
        mid = (low + high) // 2
        if start_y[mid] + length[mid] > Y0:
            high = mid
        else:
            low = mid + 1
    zero_done = low > 0 and price[low - 1] >= 0.0
    if low > 0:
        y = start_y[low - 1] + length[low - 1]
    for j in range(low, count):
        ya, yb = start_y[j], start_y[j] + length[j]
        y = yb
        if ya >= Y1:
            y = ya
            break
        if price[j] >= 0.0 and not zero_done:
            # the price-0 jump: from the lower curve to the upper curve at the crossing
            y0 = min(max(ya, Y0), Y1)
            y0b = min(max(yb, Y0), Y1) if price[j] == 0.0 else y0
            n = _jump(Z0, Y0, up_len, up_gain, n_up, dn_len, dn_gain, n_dn, y0, y0b, n,
                      out_price, out_len, out_ya, out_gain, out_cprice)  # fmt: skip
            zero_done = True
            if price[j] == 0.0:
                continue
        lo_, hi_ = max(ya, Y0), min(yb, Y1)
        if hi_ <= lo_:
            continue
        if price[j] < 0.0:
            n = _map_piece(price[j], lo_, hi_, dn_len, dn_gain, n_dn, down, n,
                           out_price, out_len, out_ya, out_gain, out_cprice)  # fmt: skip
        else:
            n = _map_piece(price[j], lo_, hi_, up_len, up_gain, n_up, up, n,
                           out_price, out_len, out_ya, out_gain, out_cprice)  # fmt: skip
    if not zero_done:
        # every child piece is negative: the parent may still take the jump at price 0
        y0 = min(max(y, Y0), Y1)
        n = _jump(Z0, Y0, up_len, up_gain, n_up, dn_len, dn_gain, n_dn, y0, y0, n,
                  out_price, out_len, out_ya, out_gain, out_cprice)  # fmt: skip
    return Z0, n


@njit(cache=True)
def _jump(Z0, Y0, up_len, up_gain, n_up, dn_len, dn_gain, n_dn, y0, y0b, n,
          out_price, out_len, out_ya, out_gain, out_cprice):  # fmt: skip
    """Append the piece at parent price 0: from the lower curve at ``y0`` to the upper at
    ``y0b``."""
    z_lo_at = _curve_z(Z0, Y0, dn_len, dn_gain, n_dn, y0)
    z_up = _curve_z(Z0, Y0, up_len, up_gain, n_up, y0b)
    if z_up - z_lo_at > 0.0:
        out_price[n] = 0.0
        out_len[n] = z_up - z_lo_at
        out_ya[n] = y0
        out_gain[n] = INFLATION
        out_cprice[n] = 0.0
        n += 1
    return n


@njit(cache=True)
def _map_piece(cprice, ya, yb, seg_len, seg_gain, n_seg, cursor, n,
               out_price, out_len, out_ya, out_gain, out_cprice):  # fmt: skip
    """Append the part of a child piece ``[ya, yb]`` at child price ``cprice`` that each segment
    of a link curve carries: parent price ``cprice / gain``, delivered MW ``gain * dy``.
    ``cursor`` (segment, its start) moves forward only: pieces come in ascending ``y``."""
    s, start = int(cursor[0]), cursor[1]
    while s < n_seg and start + seg_len[s] <= ya:
        start += seg_len[s]
        s += 1
    while s < n_seg:
        end = start + seg_len[s]
        lo_, hi_ = max(ya, start), min(yb, end)
        if hi_ > lo_:
            out_price[n] = cprice / seg_gain[s]
            out_len[n] = seg_gain[s] * (hi_ - lo_)
            out_ya[n] = lo_
            out_gain[n] = seg_gain[s]
            out_cprice[n] = cprice
            n += 1
        if end >= yb:
            break
        start = end
        s += 1
    cursor[0], cursor[1] = s, start
    return n


@njit(cache=True)
def _curve_z(Z0, Y0, seg_len, seg_gain, n_seg, y):
    """``z`` of a link curve at ``y``."""
    z = Z0
    start = Y0
    for s in range(n_seg):
        if y <= start:
            break
        step = min(seg_len[s], y - start)
        z += seg_gain[s] * step
        start += seg_len[s]
    return z


@njit(cache=True)
def curve_z_nb(Z0, Y0, seg_len, seg_gain, n_seg, y):
    """``z`` of a link curve at ``y`` (public wrapper)."""
    return _curve_z(Z0, Y0, seg_len, seg_gain, n_seg, y)


@njit(cache=True)
def gains_at_nb(Y0, seg_len, seg_gain, n_seg, y, tolerance):
    """``(gain_left, gain_right)`` of a link curve at ``y``: the gain of the segment just below
    and just above it (NaN beyond the curve's ends; equal inside a segment)."""
    start = Y0
    left = np.nan
    right = np.nan
    for s in range(n_seg):
        end = start + seg_len[s]
        if y < start - tolerance:
            break
        if y <= start + tolerance:
            right = seg_gain[s]
            break
        if y < end - tolerance:
            left = seg_gain[s]
            right = seg_gain[s]
            break
        left = seg_gain[s]
        start = end
    return left, right
