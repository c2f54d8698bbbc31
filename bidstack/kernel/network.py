"""Energy dispatch of the NEM across regions linked by interconnectors: numba kernel on arrays.

Mirrors NEMDE's energy dispatch without FCAS or generic constraints, as nempy formulates it
(``SpotMarket`` with interconnectors and SOS2 loss segments); the stage that owns frames and
validation is :mod:`bidstack.stages.dispatch`, the independent reference is
:mod:`bidstack.reference.network_lp`.

The problem of one interval
---------------------------
Regions ``r`` with demand ``D[r]``; units with ten bands of referred price ``p`` (offer price /
loss factor) and volume ``q``, and limits ``L <= x <= U`` (:mod:`bidstack.kernel.units`);
interconnector links ``l`` from region ``a`` to ``b`` with flow ``f`` in ``[lo, hi]`` and losses
``loss(f)``: the loss function interpolated between its breakpoints (a convex piecewise-linear
curve). Link ``l`` takes ``alpha_from * f + share * loss`` from ``a`` and gives
``alpha_to * f - (1 - share) * loss`` to ``b``. Minimise ``sum p * x`` plus a penalty on unserved
and oversupplied MW, subject to each region's balance; the region's price is the marginal value
of its balance, clamped to the market price cap and floor.

How it is solved
----------------
The regions must form a forest (the NEM is a tree; parallel links between two regions form a
*group*). Bottom-up, each region's *curve* (net export against its price, a step function) is
merged with its children's curves transformed through their link groups into its own price
(``curves.transform_nb``): a child's piece at price ``pi`` carried by a link segment of gain
``g = dz/dy`` appears at ``pi / g``, scaled by ``g``. Each root clears at the lowest price where
its curve reaches zero (the last band dispatched, as an island does), and the quantities are
pushed back down: a child whose group runs inside a segment takes the parent's price times the
gain; one at a limit or a breakpoint takes the lowest price both its own curve and the link allow.
This is exact for the convex problem, the case whenever losses cost money, and costs O(bands +
segments) per interval, where an LP or MIP takes thousands of times longer.

Losses are a cost only at positive prices. Where a region's price is negative, burning energy in
losses pays, and the optimum (nempy's MIP) drives flows along the loss curve's outside. The kernel
then runs a branch and bound over the links' flow ranges: each node solves the convex hull
relaxation (the group's lower curve, each link's chord, where prices are negative) exactly as
above; a node whose links all sit on their loss curves is feasible; otherwise the range of the
link whose losses lie furthest above its curve is split in two at the end of the flow's segment
nearer the flow (SOS2 branching). Exclusive pairs (Basslink's two one-way links) branch on which
one is closed. The search goes depth first, the flow's side of each split first, until a feasible
node is found, then takes the open node of lowest bound (its parent's relaxation cost); a node
whose bound or cost reaches the best feasible cost is dropped. Knowing the optimum's cost from the
start would save only about 5% of the nodes (two synthetic days of ``bench/bench_dispatch.py``):
the nodes go to proving the optimum, not to finding it, and the work is in making a node cheap.
A node's solve builds again only what its changed flow ranges reach (the link's group, then the
total and transformed curves on the path to the root, :mod:`bidstack.kernel.build`) and keeps
the rest from the interval's last solve; a region's split at its price reads running sums the
build keeps instead of walking its curve; and no step taken per region or per child is a call
passing the scratch (its hundred arrays cost about a microsecond a call). The results are bit for
bit those of solving every node from scratch: on the bench's synthetic year (62% of intervals
with a negative price somewhere, 21.8 nodes an interval) the kernel's output is identical to the
version before these changes, in 80 s where that took 278 s, one after the other on one machine.

Ties: equal-priced bands of a region share as AEMO shares them
(:func:`bidstack.kernel.units.share_level_nb`); equal-priced pieces of different regions at a
root share in proportion to their length.

Islands are the forest without links: every region is a root.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from bidstack.kernel import interval, scratch, tree
from bidstack.kernel.scratch import PENALTY, TOLERANCE_MW

__all__ = [
    "PENALTY",
    "TOLERANCE_MW",
    "DispatchLayout",
    "LinkArrays",
    "OfferArrays",
    "dispatch_network_nb",
    "no_links",
    "output_arrays",
    "solve_network",
]


class DispatchLayout(NamedTuple):
    """Intervals, regions and units of a dispatch run (I intervals, G regions, N units)."""

    interval_rows: np.ndarray  # int64 (I+1,): interval i owns rows [i], [i+1]; rows by unit
    follows_previous: np.ndarray  # bool (I,): interval i starts when interval i-1 ends
    demand: np.ndarray  # float64 (I, G) MW; NaN: the region is not in the interval
    market_price_cap: np.ndarray  # float64 (I,)
    market_floor_price: np.ndarray  # float64 (I,)
    minutes: np.ndarray  # float64 (I,) interval length
    region_units: np.ndarray  # int64 (G+1,): units are numbered region by region
    initial_mw: np.ndarray  # float64 (N,) output before the first interval; NaN: none
    region_parent: np.ndarray  # int64 (G,): parent region in the forest, -1 for a root
    region_order: np.ndarray  # int64 (G,): every region after its children


class OfferArrays(NamedTuple):
    """The offer rows (M rows, S price sets)."""

    row_unit: np.ndarray  # int64 (M,)
    row_price_set: np.ndarray  # int64 (M,) row of band_price
    band_avail: np.ndarray  # float64 (M, 10) MW
    max_avail: np.ndarray  # float64 (M,) MW; inf: no cap beyond the bands
    ramp_up_rate: np.ndarray  # float64 (M,) MW/min; inf: none
    ramp_down_rate: np.ndarray  # float64 (M,)
    ramp_base: np.ndarray  # float64 (M,) MW; NaN: chain from the unit's own dispatch
    band_price: np.ndarray  # float64 (S, 10) referred prices, strictly ascending


class LinkArrays(NamedTuple):
    """Interconnector links (L links, K breakpoints in all)."""

    link_from: np.ndarray  # int64 (L,) region
    link_to: np.ndarray  # int64 (L,)
    bp_offsets: np.ndarray  # int64 (L+1,)
    breakpoints: np.ndarray  # float64 (K,) ascending per link, MW of flow
    flow_coefficient: np.ndarray  # float64 (L,): loss(f) = a f + flow_coefficient / 2 f^2
    loss_linear: np.ndarray  # float64 (I, L): a, per interval (it depends on demand)
    lower: np.ndarray  # float64 (I, L) flow limits; NaN: the link is out of service
    upper: np.ndarray  # float64 (I, L)
    alpha_from: np.ndarray  # float64 (L,)
    alpha_to: np.ndarray  # float64 (L,)
    share: np.ndarray  # float64 (L,) losses taken from the from-region
    exclusive: np.ndarray  # int64 (L,) the link this one may not flow with; -1: none


def no_links(intervals: int) -> LinkArrays:
    """The :class:`LinkArrays` of a run of islands."""
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0)
    grid = np.zeros((intervals, 0))
    return LinkArrays(
        empty_i,
        empty_i,
        np.zeros(1, np.int64),
        empty_f,
        empty_f,
        grid,
        grid,
        grid.copy(),
        empty_f,
        empty_f,
        empty_f,
        empty_i,
    )


def solve_network(layout, offers, links, ramp_priority, max_nodes):
    """:func:`dispatch_network_nb` into fresh :func:`output_arrays`."""
    n_int, n_reg = layout.demand.shape
    outputs = output_arrays(offers.row_unit.shape[0], n_int, n_reg, links.link_from.shape[0])
    return dispatch_network_nb(layout, offers, links, ramp_priority, max_nodes, *outputs)


@njit(cache=True, nogil=True)
def dispatch_network_nb(layout, offers, links, ramp_priority, max_nodes, unit_out, region_out,
                        link_out):  # fmt: skip
    """Dispatch every interval in time order; see the module docstring. Releases the GIL: a
    backtest settles one scenario while it dispatches the next.

    Writes into ``unit_out``, ``region_out`` and ``link_out`` (as :func:`output_arrays` makes
    them) and returns ``(units, regions, links, nodes)``: per row ``dispatch_mw, lower_mw, upper_mw,
    ramp_base_mw`` (NaN: no ramp limit), ``forced_mw`` (excess beyond the bands) and
    ``limit_flags`` (int8, :data:`LimitFlag` bits); per interval and region ``price``
    (clamped), ``raw_price``, ``unserved_mw, oversupply_mw, dispatched_mw``, ``marginal_row``
    (int64: the first row of the price-setting band level; -1 when the price came from elsewhere)
    and ``price_source`` (int8, :data:`PriceSource`); per interval and link ``flow_mw,
    losses_mw, withdrawn_mw`` (at its from-region), ``injected_mw`` (at its to-region),
    ``marginal_loss`` (to-price / from-price for the loss segment the flow lies in) and
    ``link_flags`` (int8, :data:`LinkState`); and the branch-and-bound nodes solved in each
    interval (negative: the search stopped at ``max_nodes`` before proving its best solution the
    least cost; that solution is kept, or the relaxation's where none had every link on its
    loss curve).
    """
    s = scratch.make_scratch_nb(layout, links)
    n_int, n_reg = layout.demand.shape
    n_link = links.link_from.shape[0]
    nodes = np.zeros(n_int, np.int64)
    on = np.zeros(n_link, np.bool_)
    active = np.zeros(n_reg, np.bool_)
    root_a, root_b = np.zeros(n_link), np.zeros(n_link)
    best_a, best_b = np.zeros(n_link), np.zeros(n_link)
    depth = 3 * max_nodes + 3
    stack_a, stack_b = np.zeros((depth, n_link)), np.zeros((depth, n_link))
    for i in range(n_int):
        interval.prepare_interval_nb(i, layout, offers, links, s, ramp_priority, on, root_a, root_b)
        nodes[i] = _branch_and_bound(
            layout,
            links,
            s,
            on,
            active,
            root_a,
            root_b,
            best_a,
            best_b,
            stack_a,
            stack_b,
            max_nodes,
        )
        if nodes[i] != 1:
            tree.solve_nb(layout, links, s, on, best_a, best_b, active)
        interval.write_interval_nb(i, layout, offers, links, s, on, unit_out, region_out, link_out)
    return unit_out, region_out, link_out, nodes


def output_arrays(n_rows, n_int, n_reg, n_link):
    """The empty ``(units, regions, links)`` outputs of :func:`dispatch_network_nb` (see its
    docstring for each array), for ``n_rows`` offer rows, ``n_int`` intervals, ``n_reg`` regions
    and ``n_link`` links. Allocated by NumPy, which backs a large array with huge pages (Numba's
    allocation takes a page fault every 4 KiB of a month's rows)."""
    units = (
        np.zeros(n_rows),
        np.zeros(n_rows),
        np.zeros(n_rows),
        np.full(n_rows, np.nan),
        np.zeros(n_rows),
        np.zeros(n_rows, np.int8),
    )
    shape = (n_int, n_reg)
    regions = (
        np.full(shape, np.nan),
        np.full(shape, np.nan),
        np.zeros(shape),
        np.zeros(shape),
        np.zeros(shape),
        np.full(shape, -1, np.int64),
        np.full(shape, -1, np.int8),
    )
    shape = (n_int, n_link)
    links = (
        np.zeros(shape),
        np.zeros(shape),
        np.zeros(shape),
        np.zeros(shape),
        np.full(shape, np.nan),
        np.zeros(shape, np.int8),
    )
    return units, regions, links


@njit(cache=True)
def _branch_and_bound(
    layout, links, s, on, active, root_a, root_b, best_a, best_b, stack_a, stack_b, max_nodes
):
    """Find the flow ranges whose relaxation is the least-cost solution with every link on its
    loss curve; leave them in ``best_a``/``best_b``. Returns the nodes solved (1: the root
    relaxation was already feasible, and the scratch holds its solution).

    Depth first (the side of a split holding the flow first) until a solution on every curve is
    found, then the open node of lowest bound (its parent's relaxation cost) next: the fewest
    nodes to prove that solution the best. A range is split in two at a breakpoint, as SOS2
    branching does: at the end of the flow's segment nearer the flow (on the first week of
    ``bench/bench_dispatch.py``'s year, 9.4 nodes an interval against 11.4 when the flow's
    segment was cut out as a third range, which peels one segment at a time off long loss
    curves).
    """
    bound = np.empty(stack_a.shape[0])
    stack_a[0], stack_b[0], bound[0] = root_a, root_b, -np.inf
    top = 1
    nodes = 0
    found = False
    best_cost = np.inf
    while top > 0:
        pick = top - 1
        if found:
            for j in range(top - 1):
                if bound[j] < bound[pick]:
                    pick = j
        a, b = stack_a[pick].copy(), stack_b[pick].copy()
        parent_bound = bound[pick]
        top -= 1
        stack_a[pick], stack_b[pick], bound[pick] = stack_a[top], stack_b[top], bound[top]
        if found and parent_bound >= best_cost - 1e-9 * max(1.0, abs(best_cost)):
            continue
        cost, branch = tree.solve_nb(layout, links, s, on, a, b, active)
        link, low, high = branch
        nodes += 1
        if found and cost >= best_cost - 1e-9 * max(1.0, abs(best_cost)):
            continue
        if link < 0:
            found = True
            best_cost = cost
            best_a[:], best_b[:] = a, b
            continue
        if nodes >= max_nodes:
            continue
        if np.isnan(low):  # an exclusive pair both flowing: close one, then the other
            partner = links.exclusive[link]
            for closed in (partner, link):
                stack_a[top], stack_b[top], bound[top] = a, b, cost
                stack_a[top, closed], stack_b[top, closed] = 0.0, 0.0
                top += 1
            continue
        # two ranges, split at the end of the flow's segment nearest the flow that lies inside
        # the range (SOS2 branching); the flow's side is searched first
        flow = s.link_f[link]
        split = low
        if low <= a[link] or (high < b[link] and high - flow < flow - low):
            split = high
        flow_high = flow >= split
        for side in range(2):
            low_side = (side == 0) == flow_high  # the flow's side pushed second, popped first
            stack_a[top], stack_b[top], bound[top] = a, b, cost
            if low_side:
                stack_b[top, link] = split
            else:
                stack_a[top, link] = split
            top += 1
    if not found:
        best_a[:], best_b[:] = root_a, root_b
    return -nodes if nodes >= max_nodes else nodes
