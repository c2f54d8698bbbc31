"""One interval of a network of regions joined by interconnector links, solved as nempy does:
a mixed-integer programme on scipy's HiGHS, then a linear programme for the prices.

The independent reference for the network dispatch kernel, written from the problem statement
(``../shared/design/fidelity.md`` §3.2, §4) and nempy's ``SpotMarket.set_interconnectors`` and
``set_interconnector_losses``, not from the kernel. It needs scipy (a ``dev`` dependency).

**Units.** Referred price ``p[u, k] = price_band[u, k] / mlf[u]``; band total ``B = sum_k q[u, k]``
(``q = band_avail``); availability ``A = max_avail``; with a ramp base ``b``::

    U1 = min(B, A, b + ramp_up_rate * minutes)          L = max(0, b - ramp_down_rate * minutes)

(a NaN argument drops its term; no base: ``L = 0``). ``ramp_priority="nemde"`` (NEMDE's
constraint-violation order, the ramp-down limit outranks availability): ``U = max(U1, L)``, and
``E = max(0, L - B)`` MW is *forced energy beyond the bands*, dispatched at no cost and never
price-setting. ``"availability"``: ``L = min(L, U1)``, ``U = U1``, ``E = 0``. Unit dispatch is
``x[u] = sum_k x[u, k] + E[u]`` with ``0 <= x[u, k] <= q[u, k]`` and ``L <= x[u] <= U``.

**Links** (:class:`Link`): flow ``f`` in ``[min_flow, max_flow]``; losses ``Λ`` interpolated
between breakpoints by SOS2 weights ``w`` (``sum w = 1``, ``sum w bp = f``, ``sum w loss = Λ``,
at most two adjacent weights nonzero). The SOS2 condition takes one binary ``y[j]`` per segment,
``sum y = 1``, and for every breakpoint ``t``: ``sum_{j<t} y[j] <= sum_{i<=t} w[i] <= sum_{j<=t}
y[j]`` (all the weight lies at or left of ``t`` when the chosen segment does, none when it lies
right of ``t``); this implies the textbook ``w[i] <= y[i-1] + y[i]`` with a tighter relaxation. The
link adds ``-(from_factor f + s Λ)`` to its from region's balance and ``+(to_factor f - (1 - s)
Λ)`` to its to region's (``s = from_share``). A pair in ``exclusive`` (Basslink's two one-way
links) never carries flow on both links: a binary ``z`` with ``min_flow z <= f_first <= max_flow
z`` and ``min_flow (1 - z) <= f_second <= max_flow (1 - z)``.

**The programme**::

    minimise   sum p[u, k] x[u, k] + P * sum_r (unserved[r] + oversupply[r])
    subject to sum_{u in r} x[u] + unserved[r] - oversupply[r] + link terms = demand[r]   (π_r)

``P = 10 (max |p| + |cap| + |floor| + 1) G``, where ``G`` is the product over links of each link's
largest exchange ratio ``(from_factor + s m) / (to_factor - (1 - s) m)`` or its inverse over the
loss slopes ``m``: no chain of offers and links costs more than a slack, so slacks serve only
what no offer can. Links whose slopes would let flow create energy are refused.

**Procedure** (nempy's). (1) Solve the MIP: first its LP relaxation (every binary in
``[0, 1]``); when that optimum already has each link's losses on its curve and no exclusive pair
both flowing it is the MIP's optimum (as it is wherever losses cost money on convex curves), and
its duals are prices. Otherwise ``milp`` (``mip_rel_gap = 0``, tolerances ``MIP_TOLERANCE``).
(2) Fix the MIP's binaries and solve the LP with ``linprog(method="highs")``; prices are the
balances' ``eqlin.marginals`` (scipy's sign: the derivative of the objective with respect to the
right-hand side, i.e. to demand). A choice the MIP's solution leaves open stays open in the LP: a
flow on an inner breakpoint keeps both segments around it, a pair of exclusive links both at 0 MW
keeps both links; fixing either would add a bound that is not in the problem and could give a
region any price. If that LP leaves a loss curve or runs both links of a pair (it can at negative
prices), the MIP's choices are fixed instead, and a region priced through that choice may then
get a bound's dual, up to the penalty: its price is not unique there (see the price range).
Every LP kept this way has the MIP's optimal cost, and dispatch, flows and losses are its solution.
``price`` is the dual clamped to ``[market_floor_price, market_price_cap]``.

**Ties** (AEMO's, within each region after the LP): bands of one region with equal referred price
share their level's total so that ``x[u, k] = clamp(θ q[u, k], lo, hi)``, one ``θ`` per (region,
price level); ``lo`` is the band's forced part (``L`` filled into the unit's cheapest bands first)
and ``hi = min(q, max(0, U - MW of the unit's cheaper bands))``; θ by bisection. Prices are
compared exactly; ties across regions are not shared.

**Price range.** With ``price_range=True``, ``price_left``/``price_right`` are the one-sided
derivatives of the optimal cost with respect to each region's demand, ``(V(d) - V(d - δ e_r)) /
δ`` and ``(V(d + δ e_r) - V(d)) / δ``, each ``V`` a full MIP-then-LP solve, both clamped. A price
is valid iff it lies between them; it is unique when they agree. Losses make ``V`` non-convex at
negative prices, so ``price_left > price_right`` can happen.

>>> prices = np.array([[10.0 + k for k in range(10)], [50.0 + k for k in range(10)]])
>>> volume = np.zeros((2, 10))
>>> volume[:, 0] = 100.0
>>> lossless = Link(0, 1, -500.0, 500.0, [-500.0, 500.0], [0.0, 0.0], from_share=0.5)
>>> result = dispatch_network(np.array([0, 1]), prices, volume, np.array([60.0, 90.0]),
...                           links=[lossless])
>>> result.price.tolist(), result.flow_mw.round(6).tolist()
([50.0, 50.0], [40.0])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, OptimizeResult, linprog, milp
from scipy.sparse import vstack

from bidstack.reference.network_model import (
    Link,
    Programme,
    build_programme,
    check_inputs,
    penalty_price,
    share_ties,
    unit_limits,
)

__all__ = ["Link", "NetworkDispatch", "dispatch_network", "unit_limits"]

MIP_TOLERANCE = 1e-9
"""HiGHS's integrality and row feasibility tolerances for the MIP (defaults 1e-6 and 1e-7): a
binary at 1e-6 would let a flow stray 1e-3 MW beyond its segment on a 1000 MW link, enough to
pick the wrong segment when the price range moves demand by ``delta``."""


@dataclass(frozen=True)
class NetworkDispatch:
    """The reference's answer for one interval: units, regions and links in input order."""

    dispatch_mw: np.ndarray
    """(N,) unit dispatch, forced energy beyond the bands included."""
    band_dispatch: np.ndarray
    """(N, K) dispatch of each band, ties shared."""
    lower_mw: np.ndarray
    upper_mw: np.ndarray
    forced_mw: np.ndarray
    """(N,) ``L``, ``U`` and forced energy beyond the bands ``E``, as :func:`unit_limits`."""
    price: np.ndarray
    """(R,) ``raw_price`` clamped to ``[market_floor_price, market_price_cap]``."""
    raw_price: np.ndarray
    """(R,) dual of each regional balance in the LP."""
    unserved_mw: np.ndarray
    oversupply_mw: np.ndarray
    flow_mw: np.ndarray
    """(links,) flow, positive from ``from_region`` to ``to_region``."""
    losses_mw: np.ndarray
    segment: np.ndarray
    """(links,) ``j`` with ``breakpoints[j] <= flow < breakpoints[j + 1]`` (the last segment
    keeps its right end); a flow within ``tolerance`` of a breakpoint counts as on it."""
    objective: float
    """``sum p x + P * slacks`` of the LP (forced energy beyond the bands costs nothing)."""
    price_left: np.ndarray
    price_right: np.ndarray
    """(R,) clamped one-sided derivatives of the cost in demand; NaN unless asked for."""


def dispatch_network(
    unit_region: np.ndarray,
    price_band: np.ndarray,
    band_avail: np.ndarray,
    demand: np.ndarray,
    *,
    links: Sequence[Link] = (),
    exclusive: Sequence[tuple[int, int]] = (),
    mlf: np.ndarray | None = None,
    max_avail: np.ndarray | None = None,
    ramp_base: np.ndarray | None = None,
    ramp_up_rate: np.ndarray | None = None,
    ramp_down_rate: np.ndarray | None = None,
    interval_minutes: float = 5.0,
    ramp_priority: str = "nemde",
    market_price_cap: float = 15000.0,
    market_floor_price: float = -1000.0,
    tolerance: float = 1e-6,
    price_range: bool = False,
    delta: float = 1e-4,
) -> NetworkDispatch:
    """Dispatch one interval: ``unit_region`` (N,) region index of each unit, ``price_band`` and
    ``band_avail`` (N, K), ``demand`` (R,) MW; ``exclusive`` lists pairs of link indices that
    may not both carry flow. Optional per-unit arrays use NaN for "not given"; quantities up to
    ``tolerance`` MW count as zero. ``price_range=True`` adds the price range (``delta`` MW).
    Raises ``ValueError`` (:class:`~bidstack.errors.InputError`) on inputs the model refuses."""
    unit_region, price_band, band_avail, demand = (
        np.asarray(a) for a in (unit_region, price_band, band_avail, demand)
    )
    n_units = band_avail.shape[0] if band_avail.ndim == 2 else 0
    given = {"mlf": mlf, "max_avail": max_avail, "ramp_base": ramp_base}
    given |= {"ramp_up_rate": ramp_up_rate, "ramp_down_rate": ramp_down_rate}
    unit = {
        name: np.full(n_units, 1.0 if name == "mlf" else np.nan)
        if values is None
        else np.asarray(values, dtype=float)
        for name, values in given.items()
    }
    check_inputs(unit_region, price_band, band_avail, demand, unit, links, exclusive, ramp_priority)
    price = price_band / unit["mlf"][:, None]
    limits = unit_limits(
        band_avail,
        unit["max_avail"],
        unit["ramp_base"],
        unit["ramp_up_rate"],
        unit["ramp_down_rate"],
        interval_minutes,
        ramp_priority,
    )
    penalty = penalty_price(price, links, market_price_cap, market_floor_price)
    programme = build_programme(
        unit_region, price, band_avail, limits, demand.astype(float), links, exclusive, penalty
    )
    lp = _solve(programme, tolerance)
    x = lp.x
    lower_mw, upper_mw, forced = limits
    bands = share_ties(x[programme.bands], price, band_avail, unit_region, lower_mw, upper_mw)
    raw_price = lp.eqlin.marginals[: demand.size]

    def clamp(values: np.ndarray) -> np.ndarray:
        return np.clip(values, market_floor_price, market_price_cap)

    left = right = np.full(demand.size, np.nan)
    if price_range:
        left, right = (clamp(v) for v in _price_range(programme, lp.fun, delta, tolerance))
    flow = x[programme.flow]
    return NetworkDispatch(
        dispatch_mw=bands.sum(axis=1) + forced,
        band_dispatch=bands,
        lower_mw=lower_mw,
        upper_mw=upper_mw,
        forced_mw=forced,
        price=clamp(raw_price),
        raw_price=raw_price,
        unserved_mw=x[programme.unserved],
        oversupply_mw=x[programme.oversupply],
        flow_mw=flow,
        losses_mw=x[programme.losses],
        segment=np.array(
            [_segment(k, f, tolerance) for k, f in zip(links, flow, strict=True)], dtype=int
        ),
        objective=float(lp.fun),
        price_left=left,
        price_right=right,
    )


def _solve(programme: Programme, tolerance: float) -> OptimizeResult:
    """nempy's procedure: the MIP, then the LP with the MIP's choices (see the module docstring)."""
    p = programme
    relaxed = _lp(p, p.lower, p.upper)
    if _allowed(p, relaxed.x, tolerance):
        return relaxed
    with warnings.catch_warnings():  # scipy warns that it passes the tolerances on verbatim
        warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
        mip = milp(
            p.cost,
            integrality=p.integer.astype(int),
            bounds=Bounds(p.lower, p.upper),
            constraints=LinearConstraint(p.matrix, p.row_lower, p.row_upper),
            options={
                "mip_rel_gap": 0.0,
                "presolve": False,  # halves the time on these small models
                "mip_feasibility_tolerance": MIP_TOLERANCE,
                "primal_feasibility_tolerance": MIP_TOLERANCE,
            },
        )
    if mip.status != 0:
        raise RuntimeError(f"reference MIP failed: {mip.message}")
    lp = _lp(p, *_choices(p, mip.x, tolerance, keep_open=True))
    if not _allowed(p, lp.x, tolerance):
        lp = _lp(p, *_choices(p, mip.x, tolerance, keep_open=False))
    return lp


def _choices(
    p: Programme, mip_x: np.ndarray, tolerance: float, keep_open: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Variable bounds for the LP: every binary fixed at the MIP's value, except (``keep_open``)
    the two segments around a flow on an inner breakpoint and a pair of links both at 0 MW.

    "On" means within ``tolerance`` plus what the MIP's tolerances let a flow stray outside its
    segment (``10 * MIP_TOLERANCE`` times the link's largest breakpoint magnitude)."""
    lower, upper = p.lower.copy(), p.upper.copy()
    lower[p.integer] = upper[p.integer] = np.round(mip_x[p.integer])
    if not keep_open:
        return lower, upper
    flow = mip_x[p.flow]
    near = [tolerance + 10 * MIP_TOLERANCE * np.abs(k.breakpoints).max() for k in p.links]
    for j, link in enumerate(p.links):
        on = np.flatnonzero(np.abs(link.breakpoints[1:-1] - flow[j]) <= near[j])
        if on.size:
            both = p.segments[j][on[0] : on[0] + 2]
            lower[both], upper[both] = 0.0, 1.0
    for z, pair in zip(p.choice, p.exclusive, strict=True):
        if all(abs(flow[j]) <= near[j] for j in pair):
            lower[z], upper[z] = 0.0, 1.0
    return lower, upper


def _allowed(p: Programme, x: np.ndarray, tolerance: float) -> bool:
    """Whether ``x`` is feasible for the MIP: losses on each link's curve, no pair both flowing."""
    flow, losses = x[p.flow], x[p.losses]
    on_curve = all(
        abs(np.interp(f, k.breakpoints, k.losses) - loss) <= tolerance
        for k, f, loss in zip(p.links, flow, losses, strict=True)
    )
    one_way = all((np.abs(flow[list(pair)]) > tolerance).sum() < 2 for pair in p.exclusive)
    return on_curve and one_way


def _segment(link: Link, flow: float, tolerance: float) -> int:
    """Index of the loss segment holding ``flow`` (the upper one on a breakpoint)."""
    found = np.searchsorted(link.breakpoints, flow + tolerance, side="right") - 1
    return int(min(found, link.breakpoints.size - 2))


def _lp(p: Programme, lower: np.ndarray, upper: np.ndarray) -> OptimizeResult:
    """The programme as an LP with the given variable bounds; balance rows come first in
    ``A_eq``, so ``eqlin.marginals[:R]`` are the regional prices."""
    equal = p.row_lower == p.row_upper
    above = ~equal & np.isfinite(p.row_upper)
    below = ~equal & np.isfinite(p.row_lower)
    rows = np.flatnonzero
    result = linprog(
        p.cost,
        A_ub=vstack([p.matrix[rows(above)], -p.matrix[rows(below)]]),
        b_ub=np.concatenate([p.row_upper[above], -p.row_lower[below]]),
        A_eq=p.matrix[rows(equal)],
        b_eq=p.row_upper[equal],
        bounds=np.column_stack([lower, upper]),
        method="highs",
    )
    if result.status != 0:
        raise RuntimeError(f"reference LP failed: {result.message}")
    return result


def _price_range(
    p: Programme, objective: float, delta: float, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per region, ``(left, right)`` derivatives of the optimal cost in its demand."""
    left, right = np.empty(p.unserved.size), np.empty(p.unserved.size)
    for region in range(p.unserved.size):

        def cost(step: float, region: int = region) -> float:
            lower, upper = p.row_lower.copy(), p.row_upper.copy()
            lower[region] += step
            upper[region] += step
            return _solve(replace(p, row_lower=lower, row_upper=upper), tolerance).fun

        left[region] = (objective - cost(-delta)) / delta
        right[region] = (cost(delta) - objective) / delta
    return left, right
