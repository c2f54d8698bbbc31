"""Random networks of regions for comparing the dispatch kernel with the reference (tests and
bench): 1-5 regions as the NEM joins them or as random trees, parallel links, Basslink-like
exclusive pairs, AEMO-style loss curves, binding and slack limits, positive and negative prices.

Many cases run through the kernel in one call: case ``c`` is interval ``c`` of a run whose regions,
units and links are those of every case, each present only in its own interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bidstack.kernel.network import (
    DispatchLayout,
    LinkArrays,
    OfferArrays,
    solve_network,
)
from bidstack.reference.network_lp import Link, dispatch_network

PRICE_GRID = np.array([-1000.0, -50, -10, 0, 15, 20, 35, 50, 80, 100, 150, 300, 1000, 5000])
PRIORITIES = ("nemde", "availability")


@dataclass
class LinkSpec:
    """One link: flow limits, breakpoints and the loss function ``a f + k / 2 f**2``."""

    from_region: int
    to_region: int
    lower: float
    upper: float
    breakpoints: np.ndarray
    a: float
    k: float
    share: float
    alpha_from: float = 1.0
    alpha_to: float = 1.0

    @property
    def losses(self) -> np.ndarray:
        return self.a * self.breakpoints + 0.5 * self.k * self.breakpoints**2


@dataclass
class NetworkCase:
    """One interval of one network; per-unit arrays use NaN for "not given"."""

    unit_region: np.ndarray
    price_band: np.ndarray
    band_avail: np.ndarray
    mlf: np.ndarray
    max_avail: np.ndarray
    ramp_base: np.ndarray
    ramp_up_rate: np.ndarray
    ramp_down_rate: np.ndarray
    demand: np.ndarray
    links: list[LinkSpec] = field(default_factory=list)
    exclusive: list[tuple[int, int]] = field(default_factory=list)
    ramp_priority: str = "nemde"
    minutes: float = 5.0

    def reference(self, price_range: bool = False):
        links = [
            Link(
                s.from_region,
                s.to_region,
                s.lower,
                s.upper,
                s.breakpoints,
                s.losses,
                from_share=s.share,
                from_factor=s.alpha_from,
                to_factor=s.alpha_to,
            )
            for s in self.links
        ]
        return dispatch_network(
            self.unit_region,
            self.price_band,
            self.band_avail,
            self.demand,
            links=links,
            exclusive=self.exclusive,
            mlf=self.mlf,
            max_avail=self.max_avail,
            ramp_base=self.ramp_base,
            ramp_up_rate=self.ramp_up_rate,
            ramp_down_rate=self.ramp_down_rate,
            interval_minutes=self.minutes,
            ramp_priority=self.ramp_priority,
            price_range=price_range,
        )


def random_network(rng: np.random.Generator, negative: bool = False) -> NetworkCase:
    """A random network: see the module docstring. ``negative`` makes most bands and demand
    low enough that prices fall below zero, where losses are worth inflating."""
    n_regions = int(rng.integers(1, 6))
    edges = _nem_edges() if n_regions == 5 and rng.random() < 0.4 else _random_tree(rng, n_regions)
    unit_region = np.concatenate(
        [np.full(int(rng.integers(1, 7)), g) for g in range(n_regions)]
    ).astype(np.int64)
    n = unit_region.size
    grid = rng.random() < 0.4  # grid prices tie within a region; never across (mlf differs)
    if grid:
        price = np.stack([np.sort(rng.choice(PRICE_GRID, 10, replace=False)) for _ in range(n)])
        mlf = 1.0 + unit_region * 0.0137 + rng.choice([0.0, -0.031], n) * (rng.random(n) < 0.2)
    else:
        price = np.sort(rng.uniform(-200 if negative else -100, 400, (n, 10)), axis=1)
        mlf = rng.choice([1.0, 0.96, 1.02], n)
    if negative:
        price = price - rng.uniform(100, 600)
    avail = rng.uniform(0, 80, (n, 10)) * (rng.random((n, 10)) < 0.7)
    total = avail.sum(axis=1)
    maybe = lambda values, p: np.where(rng.random(n) < p, values, np.nan)  # noqa: E731
    case = NetworkCase(
        unit_region=unit_region,
        price_band=price,
        band_avail=avail,
        mlf=mlf,
        max_avail=maybe(rng.uniform(0, 1.1, n) * total, 0.3),
        ramp_base=maybe(rng.uniform(0, 1.2, n) * total, 0.5),
        ramp_up_rate=maybe(rng.uniform(0, 8, n), 0.6),
        ramp_down_rate=maybe(rng.uniform(0, 8, n), 0.6),
        demand=np.zeros(n_regions),
        ramp_priority=str(rng.choice(PRIORITIES, p=[0.8, 0.2])),
    )
    for a, b in edges:
        count = 2 if rng.random() < 0.25 else 1
        if rng.random() < 0.15:  # an MNSP's two one-way links, never flowing together
            first = len(case.links)
            case.links += [_link(rng, a, b, one_way=True), _link(rng, b, a, one_way=True)]
            case.exclusive.append((first, first + 1))
            continue
        case.links += [_link(rng, a, b) for _ in range(count)]
    lower, upper, _ = _limits(case)
    capacity = np.bincount(unit_region, upper, n_regions)
    floor = np.bincount(unit_region, lower, n_regions)
    scale = rng.uniform(0.0, 0.5) if negative else rng.uniform(0.2, 1.15)
    case.demand = floor + scale * (capacity - floor) * rng.uniform(0.5, 1.5, n_regions)
    return case


def _limits(case: NetworkCase):
    from bidstack.reference.network_lp import unit_limits

    return unit_limits(
        case.band_avail,
        case.max_avail,
        case.ramp_base,
        case.ramp_up_rate,
        case.ramp_down_rate,
        case.minutes,
        case.ramp_priority,
    )


def _nem_edges() -> list[tuple[int, int]]:
    """QLD1(0)-NSW1(1)-VIC1(2)-SA1(3), TAS1(4)-VIC1(2)."""
    return [(1, 0), (2, 1), (2, 3), (4, 2)]


def _random_tree(rng: np.random.Generator, n_regions: int) -> list[tuple[int, int]]:
    edges = []
    for r in range(1, n_regions):
        parent = int(rng.integers(0, r))
        edges.append((r, parent) if rng.random() < 0.5 else (parent, r))
    return edges


def _link(rng: np.random.Generator, a: int, b: int, one_way: bool = False) -> LinkSpec:
    lower = 0.0 if one_way else -float(rng.uniform(20, 600))
    upper = float(rng.uniform(20, 600))
    step = float(rng.uniform(15, 80))
    points = np.arange(lower - 1.0, upper + 1.0 + step, step)
    points[-1] = max(points[-1], upper + 1.0)
    share = 1.0 if one_way else float(rng.choice([0.0, 1.0, rng.uniform(0, 1)], p=[0.1, 0.1, 0.8]))
    alphas = (float(rng.uniform(0.97, 1.0)), float(rng.uniform(0.97, 1.0))) if one_way else (1, 1)
    return LinkSpec(
        a,
        b,
        lower,
        upper,
        points,
        float(rng.uniform(-0.04, 0.06)),
        float(rng.uniform(5e-5, 4e-4)),
        share,
        *alphas,
    )


def run_kernel(cases: list[NetworkCase], max_nodes: int = 4096):
    """Every case through the kernel in one call; returns its raw outputs and, per case, the
    indices of its units, regions and links in them."""
    unit_off = np.cumsum([0] + [c.unit_region.size for c in cases])
    region_off = np.cumsum([0] + [c.demand.size for c in cases])
    link_off = np.cumsum([0] + [len(c.links) for c in cases])
    n_int, n_reg, n_link = len(cases), int(region_off[-1]), int(link_off[-1])
    demand = np.full((n_int, n_reg), np.nan)
    lower, upper = np.full((n_int, n_link), np.nan), np.full((n_int, n_link), np.nan)
    linear = np.zeros((n_int, n_link))
    parent = np.full(n_reg, -1, np.int64)
    specs, exclusive = [], np.full(n_link, -1, np.int64)
    for i, case in enumerate(cases):
        demand[i, region_off[i] : region_off[i + 1]] = case.demand
        for j, spec in enumerate(case.links):
            lower[i, link_off[i] + j], upper[i, link_off[i] + j] = spec.lower, spec.upper
            linear[i, link_off[i] + j] = spec.a
            specs.append((spec, region_off[i]))
        for first, second in case.exclusive:
            exclusive[link_off[i] + first] = link_off[i] + second
            exclusive[link_off[i] + second] = link_off[i] + first
        parent[region_off[i] : region_off[i + 1]] = _parents(case) + np.where(
            _parents(case) >= 0, region_off[i], 0
        )
    order = _order(parent)
    region_units = np.zeros(n_reg + 1, np.int64)
    regions = np.concatenate([c.unit_region + region_off[i] for i, c in enumerate(cases)])
    np.add.at(region_units, regions + 1, 1)
    layout = DispatchLayout(
        unit_off.astype(np.int64),
        np.zeros(n_int, np.bool_),
        demand,
        np.full(n_int, 15000.0),
        np.full(n_int, -1000.0),
        np.array([c.minutes for c in cases]),
        np.cumsum(region_units),
        np.full(unit_off[-1], np.nan),
        parent,
        order,
    )
    inf = lambda v: np.where(np.isnan(v), np.inf, v)  # noqa: E731
    cat = lambda name: np.concatenate([getattr(c, name) for c in cases])  # noqa: E731
    offers = OfferArrays(
        np.arange(unit_off[-1], dtype=np.int64),
        np.arange(unit_off[-1], dtype=np.int64),
        np.ascontiguousarray(cat("band_avail")),
        inf(cat("max_avail")),
        inf(cat("ramp_up_rate")),
        inf(cat("ramp_down_rate")),
        cat("ramp_base"),
        np.ascontiguousarray(cat("price_band") / cat("mlf")[:, None]),
    )
    links = LinkArrays(
        np.array([s.from_region + o for s, o in specs], np.int64),
        np.array([s.to_region + o for s, o in specs], np.int64),
        np.cumsum([0] + [s.breakpoints.size for s, _ in specs]).astype(np.int64),
        np.concatenate([s.breakpoints for s, _ in specs] or [np.zeros(0)]),
        np.array([s.k for s, _ in specs]),
        linear,
        lower,
        upper,
        np.array([s.alpha_from for s, _ in specs]),
        np.array([s.alpha_to for s, _ in specs]),
        np.array([s.share for s, _ in specs]),
        exclusive,
    )
    priorities = {c.ramp_priority for c in cases}
    assert len(priorities) == 1, "one ramp priority per kernel call"
    out = solve_network(layout, offers, links, PRIORITIES.index(priorities.pop()), max_nodes)
    return out, unit_off, region_off, link_off


def _parents(case: NetworkCase) -> np.ndarray:
    """Each region's parent, rooting the case's tree at region 0."""
    neighbours: dict[int, set[int]] = {g: set() for g in range(case.demand.size)}
    for spec in case.links:
        neighbours[spec.from_region].add(spec.to_region)
        neighbours[spec.to_region].add(spec.from_region)
    parent = np.full(case.demand.size, -1, np.int64)
    seen, stack = {0}, [0]
    while stack:
        g = stack.pop()
        for h in neighbours[g] - seen:
            seen.add(h)
            parent[h] = g
            stack.append(h)
    return parent


def _order(parent: np.ndarray) -> np.ndarray:
    depth = np.zeros(parent.size, np.int64)
    for g in range(parent.size):
        p = parent[g]
        while p >= 0:
            depth[g] += 1
            p = parent[p]
    return np.argsort(-depth, kind="stable").astype(np.int64)
