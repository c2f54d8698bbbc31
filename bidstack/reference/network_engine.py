"""The reference as a dispatch engine: :func:`dispatch_network_nb`'s arrays in, its arrays out.

``bidstack.stages.dispatch.dispatch(..., engine="reference")`` (the fleet file's ``[market]
dispatch_engine = "reference"``) solves every interval with
:func:`bidstack.reference.network_lp.dispatch_network` instead of the kernel: nempy's MIP and LP
on HiGHS, thousands of times slower, for checking a result or a question the kernel's tests do not
cover. It reads the same :class:`~bidstack.kernel.network.DispatchLayout`,
:class:`~bidstack.kernel.network.OfferArrays` and :class:`~bidstack.kernel.network.LinkArrays`
and returns the same tuples, so the stage's frames, problems and checks are shared.

What is not the solver's answer follows the kernel's definitions: a unit's ramp base chains from
its own dispatch in the interval before (or ``initial_mw``, or the offer's ``ramp_base``), its
limit flags are :func:`bidstack.kernel.units.unit_limits_nb`'s, a region's marginal unit is the
first (in unit, then band, order) of its bands at the region's unclamped price, and a link's
marginal loss and limit flags are computed from its flow as the kernel computes them.
"""

from __future__ import annotations

import numpy as np

from bidstack.kernel.enums import RAMP_PRIORITIES, LinkState, PriceSource
from bidstack.kernel.network import LinkArrays, output_arrays
from bidstack.kernel.scratch import TOLERANCE_MW
from bidstack.kernel.units import unit_limits_nb
from bidstack.reference.network_lp import dispatch_network
from bidstack.reference.network_model import Link


def dispatch_network_reference(layout, offers, links, ramp_priority: int, max_nodes: int = 0):
    """Every interval of ``layout`` on the reference; returns ``(units, regions, links,
    nodes)`` shaped as :func:`bidstack.kernel.network.solve_network` returns them
    (``nodes`` is 1 for every interval: the reference proves each optimum; ``max_nodes`` is
    not used)."""
    n_rows, n_link = offers.row_unit.shape[0], links.link_from.shape[0]
    n_int, n_reg = layout.demand.shape
    units, regions, link_out = output_arrays(n_rows, n_int, n_reg, n_link)
    n_units = layout.initial_mw.size
    region_of_unit = np.searchsorted(layout.region_units, np.arange(n_units), "right") - 1
    last_mw = np.full(layout.initial_mw.size, np.nan)
    last_interval = np.full(layout.initial_mw.size, -1)
    for i in range(n_int):
        rows = np.arange(layout.interval_rows[i], layout.interval_rows[i + 1])
        unit = offers.row_unit[rows]
        base = offers.ramp_base[rows].copy()
        chain = np.isnan(base)
        first = chain & (last_interval[unit] < 0) & (i == 0)
        base[first] = layout.initial_mw[unit[first]]
        follows = chain & (last_interval[unit] == i - 1) & bool(layout.follows_previous[i])
        base[follows] = last_mw[unit[follows]]
        _interval(i, layout, offers, links, ramp_priority, rows, base, region_of_unit,
                  units, regions, link_out)  # fmt: skip
        last_mw[unit] = units[0][rows]
        last_interval[unit] = i
    return units, regions, link_out, np.ones(n_int, np.int64)


def _interval(i, layout, offers, links, priority, rows, base, region_of_unit, units, regions,
              link_out) -> None:  # fmt: skip
    """Solve interval ``i`` and write its rows, regions and links."""
    present = np.flatnonzero(~np.isnan(layout.demand[i]))
    local = np.full(layout.demand.shape[1], -1)
    local[present] = np.arange(present.size)
    unit = offers.row_unit[rows]
    minutes = float(layout.minutes[i])
    limits = [
        unit_limits_nb(offers.band_avail[row], offers.max_avail[row], b,
                       offers.ramp_up_rate[row], offers.ramp_down_rate[row], minutes, priority)
        for row, b in zip(rows, base, strict=True)
    ]  # fmt: skip
    on = [
        lk
        for lk in range(links.link_from.shape[0])
        if local[links.link_from[lk]] >= 0
        and local[links.link_to[lk]] >= 0
        and not np.isnan(links.lower[i, lk])
    ]
    price_band = offers.band_price[offers.row_price_set[rows]]
    ramp = ~np.isnan(base)
    answer = dispatch_network(
        local[region_of_unit[unit]],
        price_band,
        offers.band_avail[rows],
        layout.demand[i, present],
        links=[_link(links, i, lk, local) for lk in on],
        exclusive=[(on.index(lk), on.index(int(links.exclusive[lk])))
                   for lk in on if links.exclusive[lk] > lk and links.exclusive[lk] in on
                   and _can_close(links, i, lk) and _can_close(links, i, links.exclusive[lk])],
        max_avail=np.where(np.isinf(offers.max_avail[rows]), np.nan, offers.max_avail[rows]),
        ramp_base=base,
        ramp_up_rate=np.where(ramp & np.isfinite(offers.ramp_up_rate[rows]),
                              offers.ramp_up_rate[rows], np.nan),
        ramp_down_rate=np.where(ramp & np.isfinite(offers.ramp_down_rate[rows]),
                                offers.ramp_down_rate[rows], np.nan),
        interval_minutes=minutes,
        ramp_priority=RAMP_PRIORITIES[priority],
        market_price_cap=float(layout.market_price_cap[i]),
        market_floor_price=float(layout.market_floor_price[i]),
    )  # fmt: skip
    dispatch_mw, lower_mw, upper_mw, ramp_base_mw, forced_mw, flags = units
    dispatch_mw[rows] = answer.dispatch_mw
    lower_mw[rows], upper_mw[rows] = answer.lower_mw, answer.upper_mw
    ramp_base_mw[rows], forced_mw[rows] = base, answer.forced_mw
    flags[rows] = [flag for *_, flag in limits]
    price, raw, unserved, oversupply, dispatched, marginal, source = regions
    price[i, present], raw[i, present] = answer.price, answer.raw_price
    unserved[i, present], oversupply[i, present] = answer.unserved_mw, answer.oversupply_mw
    np.add.at(dispatched[i], region_of_unit[unit], answer.dispatch_mw)
    for r, g in enumerate(present):
        cap, floor = layout.market_price_cap[i], layout.market_floor_price[i]
        at_price = np.flatnonzero(
            (local[region_of_unit[unit]] == r)[:, None]
            & np.isclose(price_band, answer.raw_price[r], rtol=1e-9, atol=1e-6)
            & (offers.band_avail[rows] > 0)
        )
        if answer.raw_price[r] > cap:
            source[i, g] = PriceSource.market_price_cap
        elif answer.raw_price[r] < floor:
            source[i, g] = PriceSource.market_floor_price
        elif at_price.size:
            source[i, g] = PriceSource.offer
            marginal[i, g] = rows[at_price[0] // price_band.shape[1]]
        else:
            source[i, g] = PriceSource.interconnector
    for k, lk in enumerate(on):
        _write_link(i, lk, links, answer.flow_mw[k], answer.losses_mw[k], link_out)


def _link(links, i: int, lk: int, local: np.ndarray) -> Link:
    """Link ``lk`` of the kernel's arrays in interval ``i`` as the reference's :class:`Link`."""
    points = links.breakpoints[links.bp_offsets[lk] : links.bp_offsets[lk + 1]]
    return Link(
        int(local[links.link_from[lk]]),
        int(local[links.link_to[lk]]),
        float(links.lower[i, lk]),
        float(links.upper[i, lk]),
        points,
        _losses(links, i, lk, points),
        from_share=float(links.share[lk]),
        from_factor=float(links.alpha_from[lk]),
        to_factor=float(links.alpha_to[lk]),
    )


def _losses(links, i: int, lk: int, flow):
    return links.loss_linear[i, lk] * flow + 0.5 * links.flow_coefficient[lk] * flow**2


def _write_link(i: int, lk: int, links, flow: float, losses: float, link_out) -> None:
    flow_out, losses_out, withdrawn, injected, marginal_loss, flags = link_out
    share, alpha_from, alpha_to = links.share[lk], links.alpha_from[lk], links.alpha_to[lk]
    flow_out[i, lk], losses_out[i, lk] = flow, losses
    withdrawn[i, lk] = alpha_from * flow + share * losses
    injected[i, lk] = alpha_to * flow - (1.0 - share) * losses
    points = links.breakpoints[links.bp_offsets[lk] : links.bp_offsets[lk + 1]]
    k = min(max(np.searchsorted(points, flow, side="right") - 1, 0), points.size - 2)
    ends = _losses(links, i, lk, points[k : k + 2])
    slope = (ends[1] - ends[0]) / (points[k + 1] - points[k])
    marginal_loss[i, lk] = (alpha_from + share * slope) / (alpha_to - (1.0 - share) * slope)
    state = 0
    if flow >= links.upper[i, lk] - TOLERANCE_MW:
        state |= LinkState.at_export_limit
    if flow <= links.lower[i, lk] + TOLERANCE_MW:
        state |= LinkState.at_import_limit
    flags[i, lk] = state


def _can_close(links: LinkArrays, i: int, lk: int) -> bool:
    """Whether link ``lk`` may carry 0 MW in interval ``i``: a pair with a link held at a flow
    (an MNSP at its history, :mod:`bidstack.mnsp`) is one-way already, with no choice to make."""
    return bool(links.lower[i, lk] <= 0.0 <= links.upper[i, lk])
