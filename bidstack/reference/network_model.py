"""Parts of :mod:`bidstack.reference.network_lp`: the ``Link`` record, input checks, unit limits,
the mixed-integer programme's rows, and AEMO's tie-break within a region.

The programme these functions build is stated in :mod:`bidstack.reference.network_lp`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from bidstack.errors import InputError

RAMP_PRIORITIES = ("nemde", "availability")


@dataclass(frozen=True, eq=False)
class Link:
    """One interconnector link (an MNSP direction, or a whole regulated interconnector).

    ``f`` MW flows from ``from_region`` to ``to_region`` (negative: the other way) within
    ``[min_flow, max_flow]``. Losses are ``losses`` MW at each of the ascending ``breakpoints``
    (which cover the flow range), interpolated between them; ``from_share`` of them falls in the
    from region and the rest in the to region. ``from_factor`` and ``to_factor`` scale the flow at
    each end (an MNSP's loss factors; 1 for a regulated link).
    """

    from_region: int
    to_region: int
    min_flow: float
    max_flow: float
    breakpoints: np.ndarray
    losses: np.ndarray
    from_share: float
    from_factor: float = 1.0
    to_factor: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "breakpoints", np.asarray(self.breakpoints, dtype=float))
        object.__setattr__(self, "losses", np.asarray(self.losses, dtype=float))

    def exchange_ratios(self) -> np.ndarray:
        """Per loss segment: MW the from region gives up per MW the to region gains when the
        flow rises, ``(from_factor + s m) / (to_factor - (1 - s) m)`` for loss slope ``m``."""
        slope = np.diff(self.losses) / np.diff(self.breakpoints)
        share = self.from_share
        return (self.from_factor + share * slope) / (self.to_factor - (1 - share) * slope)


def check_inputs(
    unit_region: np.ndarray,
    price_band: np.ndarray,
    band_avail: np.ndarray,
    demand: np.ndarray,
    unit_arrays: dict[str, np.ndarray],
    links: Sequence[Link],
    exclusive: Sequence[tuple[int, int]],
    ramp_priority: str,
) -> None:
    """Raise :class:`InputError` (a ``ValueError``) naming the first input that breaks the model's
    assumptions; ``unit_arrays`` maps each optional per-unit argument's name to its array."""
    n_units = band_avail.shape[0] if band_avail.ndim == 2 else -1
    if band_avail.ndim != 2 or price_band.shape != band_avail.shape:
        raise InputError(
            f"price_band {price_band.shape} and band_avail {band_avail.shape} "
            "must both be (units, bands)"
        )
    if demand.ndim != 1 or not np.isfinite(demand).all():
        raise InputError(f"demand must be a finite (regions,) array, got shape {demand.shape}")
    for name, values in {"unit_region": unit_region, **unit_arrays}.items():
        if values.shape != (n_units,):
            raise InputError(f"{name} has shape {values.shape}, expected ({n_units},)")
    if not np.issubdtype(unit_region.dtype, np.integer) or (
        n_units and (unit_region.min() < 0 or unit_region.max() >= demand.size)
    ):
        raise InputError(f"unit_region must hold integer region indices in [0, {demand.size})")
    if not (np.isfinite(price_band).all() and (np.diff(price_band, axis=1) > 0).all()):
        raise InputError("price_band must be finite and strictly ascending within each unit")
    if not (np.isfinite(band_avail).all() and (band_avail >= 0).all()):
        raise InputError("band_avail must be finite and >= 0")
    if not (unit_arrays["mlf"] > 0).all():
        raise InputError("mlf must be > 0")
    for name in ("max_avail", "ramp_base", "ramp_up_rate", "ramp_down_rate"):
        if (unit_arrays[name] < 0).any():
            raise InputError(f"{name} must be >= 0 (NaN: not given)")
    if ramp_priority not in RAMP_PRIORITIES:
        raise InputError(f"ramp_priority must be one of {RAMP_PRIORITIES}, got {ramp_priority!r}")
    for index, link in enumerate(links):
        _check_link(index, link, demand.size)
    for first, second in exclusive:
        if first == second or not (min(first, second) >= 0 and max(first, second) < len(links)):
            raise InputError(f"exclusive pair ({first}, {second}) must name two distinct links")
        for index in (first, second):
            if not links[index].min_flow <= 0 <= links[index].max_flow:
                raise InputError(f"link {index} is in an exclusive pair but cannot carry 0 MW")


def _check_link(index: int, link: Link, n_regions: int) -> None:
    where = f"link {index}"
    regions = (link.from_region, link.to_region)
    if link.from_region == link.to_region or not all(0 <= r < n_regions for r in regions):
        raise InputError(f"{where}: regions {regions} must be two distinct indices < {n_regions}")
    if not link.min_flow <= link.max_flow:
        raise InputError(f"{where}: min_flow {link.min_flow} exceeds max_flow {link.max_flow}")
    points = link.breakpoints
    if points.ndim != 1 or points.size < 2 or not (np.diff(points) > 0).all():
        raise InputError(f"{where}: breakpoints must be at least two strictly ascending values")
    if not points[0] <= link.min_flow <= link.max_flow <= points[-1]:
        raise InputError(
            f"{where}: breakpoints [{points[0]}, {points[-1]}] do not cover the "
            f"flow range [{link.min_flow}, {link.max_flow}]"
        )
    if link.losses.shape != points.shape or not np.isfinite(link.losses).all():
        raise InputError(f"{where}: losses must hold one finite value per breakpoint")
    if not 0 <= link.from_share <= 1:
        raise InputError(f"{where}: from_share {link.from_share} is outside [0, 1]")
    if not (link.from_factor > 0 and link.to_factor > 0):
        raise InputError(f"{where}: from_factor and to_factor must be > 0")
    share, slope = link.from_share, np.diff(link.losses) / np.diff(points)
    given, received = link.from_factor + share * slope, link.to_factor - (1 - share) * slope
    if (given <= 0).any() or (received <= 0).any():
        raise InputError(f"{where}: a loss slope is so steep that flow would create energy")


def unit_limits(
    band_avail: np.ndarray,
    max_avail: np.ndarray,
    ramp_base: np.ndarray,
    ramp_up_rate: np.ndarray,
    ramp_down_rate: np.ndarray,
    interval_minutes: float,
    ramp_priority: str = "nemde",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each unit's ``(L, U, E)`` in MW: dispatch lies in ``[L, U]`` and ``E`` of it is forced
    energy beyond the unit's bands. NaN in an argument drops the term it appears in.

    >>> one = np.array
    >>> unit_limits(one([[300.0]]), one([0.0]), one([453.0]), one([np.nan]), one([2.0]), 5.0)
    (array([443.]), array([443.]), array([143.]))
    """
    total = band_avail.sum(axis=1)
    upper = np.fmin(np.fmin(total, max_avail), ramp_base + ramp_up_rate * interval_minutes)
    lower = np.fmax(0.0, ramp_base - ramp_down_rate * interval_minutes)
    if ramp_priority == "availability":
        return np.minimum(lower, upper), upper, np.zeros_like(lower)
    return lower, np.maximum(upper, lower), np.maximum(0.0, lower - total)


def penalty_price(price: np.ndarray, links: Sequence[Link], cap: float, floor: float) -> float:
    """The cost of a MW of unserved energy or oversupply: ten times the largest price magnitude
    in play, times the product over links of each link's largest exchange ratio (either way),
    so that no chain of offers and links is ever dearer than a slack."""
    gain = np.prod([np.maximum(r, 1 / r).max() for r in (k.exchange_ratios() for k in links)])
    return float(10.0 * (np.abs(price).max(initial=0.0) + abs(cap) + abs(floor) + 1.0) * gain)


@dataclass(frozen=True)
class Programme:
    """``min cost·v`` subject to ``row_lower <= matrix·v <= row_upper``, ``lower <= v <= upper``
    and ``v[integer]`` integral. Rows ``0 .. R-1`` are the regional balances; the index arrays
    say which column holds which variable."""

    cost: np.ndarray
    matrix: sparse.csr_array
    row_lower: np.ndarray
    row_upper: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    integer: np.ndarray
    bands: np.ndarray
    unserved: np.ndarray
    oversupply: np.ndarray
    flow: np.ndarray
    losses: np.ndarray
    segments: list[np.ndarray]
    choice: np.ndarray
    links: Sequence[Link]
    exclusive: Sequence[tuple[int, int]]


class _Columns:
    """Variables added in blocks: bounds, costs and integrality, each block's column indices."""

    def __init__(self) -> None:
        self.lower: list[np.ndarray] = []
        self.upper: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.integer: list[np.ndarray] = []
        self.count = 0

    def take(self, n, lower, upper, cost=0.0, integer=False) -> np.ndarray:
        for store, value in zip(
            (self.lower, self.upper, self.cost, self.integer),
            (lower, upper, cost, integer),
            strict=True,
        ):
            store.append(np.broadcast_to(np.asarray(value), (n,)))
        self.count += n
        return np.arange(self.count - n, self.count)


class _Rows:
    """Constraint rows ``lower <= sum coefficient * v[column] <= upper``."""

    def __init__(self) -> None:
        self.row: list[int] = []
        self.column: list[int] = []
        self.coefficient: list[float] = []
        self.lower: list[float] = []
        self.upper: list[float] = []

    def add(self, columns, coefficients, lower: float, upper: float) -> None:
        columns = np.atleast_1d(columns)
        self.row += [len(self.lower)] * columns.size
        self.column += columns.tolist()
        self.coefficient += np.broadcast_to(coefficients, columns.shape).tolist()
        self.lower.append(lower)
        self.upper.append(upper)


def build_programme(
    unit_region: np.ndarray,
    price: np.ndarray,
    band_avail: np.ndarray,
    limits: tuple[np.ndarray, np.ndarray, np.ndarray],
    demand: np.ndarray,
    links: Sequence[Link],
    exclusive: Sequence[tuple[int, int]],
    penalty: float,
) -> Programme:
    """The mixed-integer programme of :mod:`~bidstack.reference.network_lp` for one interval;
    ``price`` is the referred band price and ``limits`` is :func:`unit_limits`' ``(L, U, E)``."""
    lower_mw, upper_mw, forced = limits
    n_units, n_bands = band_avail.shape
    columns, rows = _Columns(), _Rows()
    bands = columns.take(band_avail.size, 0.0, band_avail.ravel(), price.ravel()).reshape(
        n_units, n_bands
    )
    unserved = columns.take(demand.size, 0.0, np.inf, penalty)
    oversupply = columns.take(demand.size, 0.0, np.inf, penalty)
    flow = columns.take(len(links), [k.min_flow for k in links], [k.max_flow for k in links])
    losses = columns.take(len(links), -np.inf, np.inf)
    weights = [columns.take(k.breakpoints.size, 0.0, 1.0) for k in links]
    segments = [columns.take(k.breakpoints.size - 1, 0.0, 1.0, integer=True) for k in links]
    choice = columns.take(len(exclusive), 0.0, 1.0, integer=True)

    for region, region_demand in enumerate(demand):
        units = np.flatnonzero(unit_region == region)
        terms = [(bands[units].ravel(), 1.0), (unserved[region], 1.0), (oversupply[region], -1.0)]
        for j, link in enumerate(links):
            if link.from_region == region:
                terms += [(flow[j], -link.from_factor), (losses[j], -link.from_share)]
            if link.to_region == region:
                terms += [(flow[j], link.to_factor), (losses[j], link.from_share - 1.0)]
        rhs = region_demand - forced[units].sum()
        rows.add(*_concat(terms), rhs, rhs)
    for unit in range(n_units):
        rows.add(bands[unit], 1.0, lower_mw[unit] - forced[unit], upper_mw[unit] - forced[unit])
    for j, link in enumerate(links):
        w, y = weights[j], segments[j]
        rows.add(w, 1.0, 1.0, 1.0)
        rows.add(np.append(w, flow[j]), np.append(link.breakpoints, -1.0), 0.0, 0.0)
        rows.add(np.append(w, losses[j]), np.append(link.losses, -1.0), 0.0, 0.0)
        rows.add(y, 1.0, 1.0, 1.0)
        for t in range(y.size):  # SOS2: the weight up to breakpoint t is 1 left of segment t
            rows.add(
                np.append(w[: t + 1], y[: t + 1]), [1.0] * (t + 1) + [-1.0] * (t + 1), -np.inf, 0
            )
            rows.add(np.append(w[: t + 1], y[:t]), [1.0] * (t + 1) + [-1.0] * t, 0.0, np.inf)
    for z, (first, second) in zip(choice, exclusive, strict=True):  # z = 1: only `first` flows
        one, two = links[first], links[second]
        rows.add([flow[first], z], [1.0, -one.max_flow], -np.inf, 0.0)
        rows.add([flow[first], z], [1.0, -one.min_flow], 0.0, np.inf)
        rows.add([flow[second], z], [1.0, two.max_flow], -np.inf, two.max_flow)
        rows.add([flow[second], z], [1.0, two.min_flow], two.min_flow, np.inf)

    matrix = sparse.csr_array(
        (rows.coefficient, (rows.row, rows.column)), shape=(len(rows.lower), columns.count)
    )
    return Programme(
        cost=np.concatenate(columns.cost).astype(float),
        matrix=matrix,
        row_lower=np.array(rows.lower),
        row_upper=np.array(rows.upper),
        lower=np.concatenate(columns.lower).astype(float),
        upper=np.concatenate(columns.upper).astype(float),
        integer=np.concatenate(columns.integer).astype(bool),
        bands=bands,
        unserved=unserved,
        oversupply=oversupply,
        flow=flow,
        losses=losses,
        segments=segments,
        choice=choice,
        links=links,
        exclusive=exclusive,
    )


def _concat(terms: list[tuple[np.ndarray | int, float]]) -> tuple[np.ndarray, np.ndarray]:
    """``(columns, coefficients)`` of a row given as ``(columns, coefficient)`` pairs."""
    columns = [np.atleast_1d(c) for c, _ in terms]
    return np.concatenate(columns), np.concatenate(
        [np.full(c.size, value) for c, (_, value) in zip(columns, terms, strict=True)]
    )


def share_ties(
    band_mw: np.ndarray,
    price: np.ndarray,
    band_avail: np.ndarray,
    unit_region: np.ndarray,
    lower_mw: np.ndarray,
    upper_mw: np.ndarray,
) -> np.ndarray:
    """Band dispatch with every region's equal-priced bands sharing their level's total so that
    ``x = clamp(theta * band_avail, lo, hi)``, one ``theta`` per (region, referred price).

    ``lo`` is the band's forced part (``L`` filled into the unit's cheapest bands first) and
    ``hi = min(band_avail, max(0, U - MW of the unit's cheaper bands))``; this ``x`` is the
    unique minimiser of ``sum x**2 / band_avail`` over those bounds and the level's total.
    """
    start = np.cumsum(band_avail, axis=1) - band_avail
    lo = np.clip(lower_mw[:, None] - start, 0.0, band_avail)
    hi = np.minimum(band_avail, np.maximum(0.0, upper_mw[:, None] - start))
    region = np.broadcast_to(unit_region[:, None], price.shape)
    live = band_avail > 0
    shared = band_mw.copy()
    for level in sorted(set(zip(region[live].tolist(), price[live].tolist(), strict=True))):
        group = live & (region == level[0]) & (price == level[1])
        if group.sum() > 1:
            shared[group] = _fill(band_mw[group].sum(), band_avail[group], lo[group], hi[group])
    return shared


def _fill(total: float, volume: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``clamp(theta * volume, lo, hi)`` summing to ``total``, ``theta`` found by bisection."""
    total = min(max(total, lo.sum()), hi.sum())
    below, above = 0.0, 1.0  # hi <= volume, so theta = 1 reaches every band's hi
    for _ in range(100):
        theta = (below + above) / 2
        if np.clip(theta * volume, lo, hi).sum() < total:
            below = theta
        else:
            above = theta
    return np.clip(above * volume, lo, hi)
