"""The scratch arrays of :mod:`bidstack.kernel.network`: every array one interval's solve uses,
allocated once per run with each region's capacity, so that an interval allocates nothing."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from bidstack.kernel.units import BANDS

TOLERANCE_MW = 1e-6
PENALTY = 1e7
OWN = -1


class Scratch(NamedTuple):
    child_off: np.ndarray
    child_list: np.ndarray
    grp_off: np.ndarray
    grp_link: np.ndarray
    grp_rev: np.ndarray
    merit_off: np.ndarray
    merit_unit: np.ndarray
    merit_band: np.ndarray
    merit_price: np.ndarray
    keys: np.ndarray
    stale: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    excess: np.ndarray
    flags: np.ndarray
    base: np.ndarray
    row_of: np.ndarray
    price_set: np.ndarray
    last_mw: np.ndarray
    last_interval: np.ndarray
    own_off: np.ndarray
    own_price: np.ndarray
    own_len: np.ndarray
    own_m0: np.ndarray
    own_m1: np.ndarray
    own_n: np.ndarray
    own_qlo: np.ndarray
    pt_off: np.ndarray
    pt_f: np.ndarray
    pt_y: np.ndarray
    pt_z: np.ndarray
    pt_loss: np.ndarray
    pt_n: np.ndarray
    bp_loss: np.ndarray
    seg_off: np.ndarray
    up_len: np.ndarray
    up_gain: np.ndarray
    up_link: np.ndarray
    up_seg: np.ndarray
    n_up: np.ndarray
    dn_len: np.ndarray
    dn_gain: np.ndarray
    dn_link: np.ndarray
    n_dn: np.ndarray
    grp_y0: np.ndarray
    grp_z0: np.ndarray
    tmp_gain: np.ndarray
    tmp_index: np.ndarray
    tot_off: np.ndarray
    tot_price: np.ndarray
    tot_len: np.ndarray
    tot_ya: np.ndarray  # export where each piece starts: qlo plus the lengths before it
    tot_n: np.ndarray
    tot_qlo: np.ndarray
    tr_off: np.ndarray
    tr_price: np.ndarray
    tr_len: np.ndarray
    tr_ya: np.ndarray
    tr_gain: np.ndarray
    tr_cprice: np.ndarray
    tr_n: np.ndarray
    tr_qlo: np.ndarray
    present: np.ndarray
    price: np.ndarray
    y_target: np.ndarray
    z_child: np.ndarray
    own_used: np.ndarray
    link_f: np.ndarray
    link_loss: np.ndarray
    link_off: np.ndarray
    big: np.ndarray
    # what the last solve of the interval left, for the next to reuse: each link's range, and
    # which links, groups, total and transformed curves it changed; reuse[0] is False until the
    # interval's first solve (its own curves are new)
    done_a: np.ndarray
    done_b: np.ndarray
    link_dirty: np.ndarray
    grp_dirty: np.ndarray
    tot_dirty: np.ndarray
    tr_dirty: np.ndarray
    reuse: np.ndarray
    own_cost: np.ndarray  # the own pieces' cost when every piece up to this one is used
    tr_zend: np.ndarray  # a transformed curve's export at each piece's end
    tie_frac: np.ndarray  # the share of its tied price level a region's solve used
    tot_tie: np.ndarray  # a total curve's first piece at the price of the one before (n: none)
    own_tie: np.ndarray  # an own curve has two pieces at one price (bands at the penalty prices)


@njit(cache=True)
def make_scratch_nb(layout, links):
    """Allocate every buffer of a run, sized by the regions' units and the links' breakpoints."""
    n_reg = layout.demand.shape[1]
    n_units = layout.initial_mw.shape[0]
    n_link = links.link_from.shape[0]
    parent = layout.region_parent
    child_off = np.zeros(n_reg + 1, np.int64)
    for g in range(n_reg):
        if parent[g] >= 0:
            child_off[parent[g] + 1] += 1
    child_off = np.cumsum(child_off)
    child_list = np.empty(max(child_off[n_reg], 1), np.int64)
    fill = child_off[:-1].copy()
    for g in range(n_reg):
        if parent[g] >= 0:
            child_list[fill[parent[g]]] = g
            fill[parent[g]] += 1
    grp_off = np.zeros(n_reg + 1, np.int64)
    link_child = np.full(n_link, -1, np.int64)
    for lk in range(n_link):
        a, b = links.link_from[lk], links.link_to[lk]
        link_child[lk] = a if parent[a] == b else b
        grp_off[link_child[lk] + 1] += 1
    grp_off = np.cumsum(grp_off)
    grp_link = np.empty(max(n_link, 1), np.int64)
    grp_rev = np.zeros(max(n_link, 1), np.bool_)
    fill = grp_off[:-1].copy()
    for lk in range(n_link):
        c = link_child[lk]
        grp_link[fill[c]] = lk
        grp_rev[fill[c]] = links.link_from[lk] != c
        fill[c] += 1
    pt_off = np.zeros(n_link + 1, np.int64)
    for lk in range(n_link):
        pt_off[lk + 1] = pt_off[lk] + links.bp_offsets[lk + 1] - links.bp_offsets[lk] + 2
    units_of = layout.region_units[1:] - layout.region_units[:-1]
    own_off = np.zeros(n_reg + 1, np.int64)
    seg_off = np.zeros(n_reg + 1, np.int64)
    for g in range(n_reg):
        own_off[g + 1] = own_off[g] + BANDS * units_of[g] + 2
        segs = 0
        for j in range(grp_off[g], grp_off[g + 1]):
            segs += pt_off[grp_link[j] + 1] - pt_off[grp_link[j]]
        seg_off[g + 1] = seg_off[g] + segs
    tot_cap = np.zeros(n_reg, np.int64)
    tr_cap = np.zeros(n_reg, np.int64)
    for g in layout.region_order:
        tot_cap[g] = own_off[g + 1] - own_off[g]
        for j in range(child_off[g], child_off[g + 1]):
            tot_cap[g] += tr_cap[child_list[j]]
        tr_cap[g] = 2 * tot_cap[g] + seg_off[g + 1] - seg_off[g] + 4
    tot_off = np.concatenate((np.zeros(1, np.int64), np.cumsum(tot_cap)))
    tr_off = np.concatenate((np.zeros(1, np.int64), np.cumsum(tr_cap)))
    merit_off = BANDS * layout.region_units
    n_merit = merit_off[n_reg]
    n_pts, n_own, n_seg = pt_off[n_link], own_off[n_reg], seg_off[n_reg]
    n_tot, n_tr = tot_off[n_reg], tr_off[n_reg]
    return Scratch(
        child_off,
        child_list,
        grp_off,
        grp_link,
        grp_rev,
        merit_off,
        np.zeros(n_merit, np.int64),
        np.zeros(n_merit, np.int64),
        np.zeros(n_merit),
        np.full(n_merit, np.inf),
        np.zeros(n_reg, np.bool_),
        np.zeros((n_units, BANDS)),
        np.zeros((n_units, BANDS)),
        np.zeros(n_units),
        np.zeros(n_units),
        np.zeros(n_units),
        np.zeros(n_units, np.int8),
        np.zeros(n_units),
        np.full(n_units, -1, np.int64),
        np.full(n_units, -1, np.int64),
        np.zeros(n_units),
        np.full(n_units, -1, np.int64),
        own_off,
        np.zeros(n_own),
        np.zeros(n_own),
        np.zeros(n_own, np.int64),
        np.zeros(n_own, np.int64),
        np.zeros(n_reg, np.int64),
        np.zeros(n_reg),
        pt_off,
        np.zeros(n_pts),
        np.zeros(n_pts),
        np.zeros(n_pts),
        np.zeros(n_pts),
        np.zeros(n_link, np.int64),
        np.zeros(links.breakpoints.shape[0]),
        seg_off,
        np.zeros(n_seg),
        np.zeros(n_seg),
        np.zeros(n_seg, np.int64),
        np.zeros(n_seg, np.int64),
        np.zeros(n_reg, np.int64),
        np.zeros(n_seg),
        np.zeros(n_seg),
        np.zeros(n_seg, np.int64),
        np.zeros(n_reg, np.int64),
        np.zeros(n_reg),
        np.zeros(n_reg),
        np.zeros(max(n_seg, 1)),
        np.zeros(max(n_seg, 1), np.int64),
        tot_off,
        np.zeros(n_tot),
        np.zeros(n_tot),
        np.zeros(n_tot),
        np.zeros(n_reg, np.int64),
        np.zeros(n_reg),
        tr_off,
        np.zeros(n_tr),
        np.zeros(n_tr),
        np.zeros(n_tr),
        np.zeros(n_tr),
        np.zeros(n_tr),
        np.zeros(n_reg, np.int64),
        np.zeros(n_reg),
        np.zeros(n_reg, np.bool_),
        np.zeros(n_reg),
        np.zeros(n_reg),
        np.zeros(n_reg),
        np.zeros(n_own),
        np.zeros(n_link),
        np.zeros(n_link),
        np.zeros(n_link, np.bool_),
        np.zeros(1),
        np.zeros(n_link),
        np.zeros(n_link),
        np.zeros(n_link, np.bool_),
        np.zeros(n_reg, np.bool_),
        np.zeros(n_reg, np.bool_),
        np.zeros(n_reg, np.bool_),
        np.zeros(1, np.bool_),
        np.zeros(n_own),
        np.zeros(n_tr),
        np.zeros(n_reg),
        np.zeros(n_reg, np.int64),
        np.zeros(n_reg, np.bool_),
    )
