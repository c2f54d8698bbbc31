"""Interconnectors as the dispatch stage takes them: two frames in, kernel arrays out.

A :class:`Network` holds

- ``links``: one row per link: ``linkid``, ``interconnectorid``, ``from_region``, ``to_region``,
  ``breakpoints`` (list of MW of flow at which the loss function is sampled, ascending),
  ``flow_coefficient`` (AEMO's LOSSFLOWCOEFFICIENT), ``alpha_from`` and ``alpha_to`` (the flow
  coefficients at each end: 1 for a regulated interconnector, the MNSP link's loss factors for
  Basslink), ``from_share`` (FROMREGIONLOSSSHARE) and ``exclusive_with`` (the link that may not
  carry flow at the same time: Basslink's other direction; null for none);
- ``limits``: one row per link and interval: ``linkid``, ``interval_datetime``, ``lower_mw``
  and ``upper_mw`` (flow limits: ``-IMPORTLIMIT`` and ``EXPORTLIMIT``) and ``loss_linear``,
  the interval's linear loss coefficient ``LOSSCONSTANT - 1 + sum DEMANDCOEFFICIENT * demand``.

Losses at flow ``f`` are ``loss_linear * f + flow_coefficient / 2 * f**2`` at each breakpoint,
interpolated between them (AEMO's interconnector loss model; :mod:`bidstack.network` builds both
frames from the MMS tables). The regions and their links must form a forest: the NEM is a tree.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import polars as pl

from bidstack.errors import InputError
from bidstack.kernel.network import LinkArrays, no_links

LINK_COLUMNS = {
    "linkid": pl.String,
    "interconnectorid": pl.String,
    "from_region": pl.String,
    "to_region": pl.String,
    "breakpoints": pl.List(pl.Float64),
    "flow_coefficient": pl.Float64,
    "alpha_from": pl.Float64,
    "alpha_to": pl.Float64,
    "from_share": pl.Float64,
    "exclusive_with": pl.String,
}
LIMIT_COLUMNS = {
    "linkid": pl.String,
    "interval_datetime": pl.Datetime("us"),
    "lower_mw": pl.Float64,
    "upper_mw": pl.Float64,
    "loss_linear": pl.Float64,
}


@dataclass(frozen=True)
class Network:
    """Interconnector links and their limits per interval (see the module docstring)."""

    links: pl.DataFrame
    limits: pl.DataFrame

    def __post_init__(self) -> None:
        for name, frame, columns in (
            ("links", self.links, LINK_COLUMNS),
            ("limits", self.limits, LIMIT_COLUMNS),
        ):
            missing = [c for c in columns if c not in frame.columns]
            if missing:
                raise InputError(f"network {name} is missing column(s) {', '.join(missing)}")
        repeated = self.links.filter(pl.col("linkid").is_duplicated())["linkid"]
        if len(repeated):
            raise InputError(f"network links: linkid {repeated[0]} is given twice")


@dataclass(frozen=True)
class Topology:
    """Regions as the kernel numbers them, each region's parent in the forest, and an order in
    which every region comes after its children."""

    regions: list[str]
    parent: np.ndarray
    order: np.ndarray


def topology(regions: list[str], links: pl.DataFrame | None) -> Topology:
    """Root each tree of the region graph at its first region (in ``regions`` order).

    >>> t = topology(["NSW1", "QLD1", "VIC1"], pl.DataFrame(
    ...     {"from_region": ["NSW1", "VIC1"], "to_region": ["QLD1", "NSW1"]}))
    >>> t.parent.tolist(), t.order.tolist()
    ([-1, 0, 0], [1, 2, 0])
    """
    index = {region: g for g, region in enumerate(regions)}
    neighbours: dict[int, set[int]] = {g: set() for g in range(len(regions))}
    if links is not None:
        for a, b in links.select("from_region", "to_region").unique().iter_rows():
            for region in (a, b):
                if region not in index:
                    raise InputError(
                        f"interconnector links name region {region}, which has no demand"
                    )
            if a == b:
                raise InputError(f"an interconnector link joins region {a} to itself")
            neighbours[index[a]].add(index[b])
            neighbours[index[b]].add(index[a])
    parent = np.full(len(regions), -1, np.int64)
    seen = np.zeros(len(regions), bool)
    order: list[int] = []
    for root in range(len(regions)):
        if seen[root]:
            continue
        stack, visit = [root], []
        seen[root] = True
        while stack:
            g = stack.pop()
            visit.append(g)
            for h in sorted(neighbours[g]):
                if h == parent[g]:
                    continue
                if seen[h]:
                    raise InputError(
                        f"the interconnectors form a loop through {regions[g]} and {regions[h]}: "
                        "bidstack dispatches regions joined as a tree, as the NEM is"
                    )
                seen[h] = True
                parent[h] = g
                stack.append(h)
        order.extend(reversed(visit))
    return Topology(regions, parent, np.array(order, np.int64))


def link_arrays(
    network: Network | None, topo: Topology, intervals: pl.Series
) -> tuple[LinkArrays, pl.DataFrame]:
    """The kernel's :class:`LinkArrays` for ``intervals`` (the run's interval ends, ascending),
    and the links frame in kernel order. A link without a limits row in an interval is out of
    service then (its limits are NaN for the kernel)."""
    if network is None or network.links.is_empty():
        return no_links(len(intervals)), pl.DataFrame(schema=LINK_COLUMNS)
    links = network.links.cast(LINK_COLUMNS).sort("linkid")
    _check_links(links)
    index = {region: g for g, region in enumerate(topo.regions)}
    ids = links["linkid"].to_list()
    position = {linkid: lk for lk, linkid in enumerate(ids)}
    grid = pl.DataFrame({"interval_datetime": intervals}).with_row_index("i")
    limits = (
        network.limits.cast(LIMIT_COLUMNS)
        .filter(pl.col("linkid").is_in(ids))
        .join(grid, on="interval_datetime", how="inner")
    )
    repeated = limits.filter(pl.struct("linkid", "i").is_duplicated())
    if len(repeated):
        row = repeated.row(0, named=True)
        raise InputError(
            f"network limits: link {row['linkid']} has two rows at {row['interval_datetime']}"
        )
    shape = (len(intervals), len(ids))
    lower, upper = np.full(shape, np.nan), np.full(shape, np.nan)
    loss_linear = np.zeros(shape)
    if len(limits):
        i = limits["i"].to_numpy()
        lk = limits["linkid"].replace_strict(position, return_dtype=pl.Int64).to_numpy()
        lower[i, lk] = limits["lower_mw"].to_numpy()
        upper[i, lk] = limits["upper_mw"].to_numpy()
        loss_linear[i, lk] = limits["loss_linear"].to_numpy()
    breakpoints = links["breakpoints"].to_list()
    exclusive = [position.get(other, -1) if other else -1 for other in links["exclusive_with"]]
    arrays = LinkArrays(
        links["from_region"].replace_strict(index, return_dtype=pl.Int64).to_numpy(),
        links["to_region"].replace_strict(index, return_dtype=pl.Int64).to_numpy(),
        np.concatenate([[0], np.cumsum([len(b) for b in breakpoints])]).astype(np.int64),
        np.concatenate([np.asarray(b, np.float64) for b in breakpoints]),
        links["flow_coefficient"].to_numpy().astype(np.float64),
        loss_linear,
        lower,
        upper,
        links["alpha_from"].to_numpy().astype(np.float64),
        links["alpha_to"].to_numpy().astype(np.float64),
        links["from_share"].to_numpy().astype(np.float64),
        np.asarray(exclusive, np.int64),
    )
    _check_limits(arrays, ids, intervals)
    return arrays, links


def _check_links(links: pl.DataFrame) -> None:
    """Every link needs a loss model the kernel can use: ascending breakpoints, a convex loss
    curve, positive flow coefficients and a share in [0, 1]."""
    for row in links.iter_rows(named=True):
        name = f"interconnector link {row['linkid']}"
        points = row["breakpoints"]
        if (
            points is None
            or len(points) < 2
            or any(p is None or not np.isfinite(p) for p in points)
        ):
            raise InputError(f"{name}: no loss model (fewer than two breakpoints)")
        if any(b <= a for a, b in itertools.pairwise(points)):
            raise InputError(f"{name}: loss model breakpoints are not ascending")
        values = [row[c] for c in ("flow_coefficient", "alpha_from", "alpha_to", "from_share")]
        if any(v is None or not np.isfinite(v) for v in values):
            raise InputError(f"{name}: loss model coefficients missing or not finite")
        if row["flow_coefficient"] < 0:
            raise InputError(f"{name}: the loss curve is not convex (LOSSFLOWCOEFFICIENT < 0)")
        if not 0.0 <= row["from_share"] <= 1.0:
            raise InputError(f"{name}: from_share {row['from_share']} is outside [0, 1]")
        if row["alpha_from"] <= 0 or row["alpha_to"] <= 0:
            raise InputError(f"{name}: flow coefficients at its ends must be positive")


def _check_limits(arrays: LinkArrays, ids: list[str], intervals: pl.Series) -> None:
    """Limits ordered and inside the breakpoints; both ends' MW rising with the flow."""
    for lk, linkid in enumerate(ids):
        points = arrays.breakpoints[arrays.bp_offsets[lk] : arrays.bp_offsets[lk + 1]]
        lower, upper = arrays.lower[:, lk], arrays.upper[:, lk]
        given = ~(np.isnan(lower) & np.isnan(upper))
        bad = given & ~(np.isfinite(lower) & np.isfinite(upper) & (lower <= upper))
        bad |= given & ((lower < points[0] - 1e-9) | (upper > points[-1] + 1e-9))
        slopes = (points[:-1] + points[1:]) / 2
        m = arrays.loss_linear[:, lk : lk + 1] + arrays.flow_coefficient[lk] * slopes[None, :]
        share = arrays.share[lk]
        bad |= given & ((arrays.alpha_from[lk] + share * m) <= 0).any(axis=1)
        bad |= given & ((arrays.alpha_to[lk] - (1 - share) * m) <= 0).any(axis=1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"interconnector link {linkid} at {intervals[i]}: limits "
                f"[{lower[i]}, {upper[i]}] are not ordered or not inside its loss model's "
                f"breakpoints [{points[0]}, {points[-1]}], or its losses fall faster than its flow"
            )
