"""The NEM's interconnectors from the MMS tables, as the dispatch stage takes them.

Read as in force on each interval's day (or on one date for every interval, ``as_of``):

- INTERCONNECTOR: ``REGIONFROM``, ``REGIONTO`` (positive flow runs from -> to);
- INTERCONNECTORCONSTRAINT: ``IMPORTLIMIT``, ``EXPORTLIMIT``, ``LOSSCONSTANT``,
  ``LOSSFLOWCOEFFICIENT``, ``FROMREGIONLOSSSHARE``, ``ICTYPE`` (REGULATED or MNSP);
- LOSSFACTORMODEL: ``DEMANDCOEFFICIENT`` per region;
- LOSSMODEL: the loss segments' ``MWBREAKPOINT``;
- MNSP_INTERCONNECTOR: an MNSP's one-way links (Basslink: BLNKTAS, BLNKVIC), with the loss
  factor at each end and ``MAXCAPACITY``;
- DISPATCHINTERCONNECTORRES (optional): each interval's ``EXPORTLIMIT`` and ``IMPORTLIMIT`` as
  NEMDE derived them from its constraints.

AEMO's loss model (*Marginal Loss Factors*, sections 3-5; nempy's
``historical_inputs/interconnectors.py::create_loss_functions``): the interconnector's marginal
loss factor at flow ``f`` is ``LOSSCONSTANT + sum_r DEMANDCOEFFICIENT_r * D_r +
LOSSFLOWCOEFFICIENT * f`` with ``D_r = INITIALSUPPLY + DEMANDFORECAST`` of region ``r``
(DISPATCHREGIONSUM), and losses are its integral less the flow:
``(LOSSCONSTANT - 1 + sum coef * D) * f + LOSSFLOWCOEFFICIENT / 2 * f**2``, evaluated at the
breakpoints and interpolated between them. ``FROMREGIONLOSSSHARE`` of the losses falls on the
from-region. An MNSP's links carry its loss function in their own direction (``LHSFACTOR`` -1
reverses it) with the whole loss on the sending region, as nempy sets Basslink's share.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import polars as pl

from bidstack import mnsp
from bidstack.errors import InputError
from bidstack.stages.network import LIMIT_COLUMNS, LINK_COLUMNS, Network

#: The tables the optimised network needs, and the optional per-interval limits.
TABLES = (
    "INTERCONNECTOR",
    "INTERCONNECTORCONSTRAINT",
    "LOSSFACTORMODEL",
    "LOSSMODEL",
    "MNSP_INTERCONNECTOR",
)
VERSION_KEYS = ("effectivedate", "versionno")


@dataclass(frozen=True)
class NetworkTables:
    """The network's MMS tables, whole (every version), lower-case columns as in the store."""

    interconnector: pl.DataFrame
    constraint: pl.DataFrame
    loss_factor_model: pl.DataFrame
    loss_model: pl.DataFrame
    mnsp: pl.DataFrame = field(default_factory=pl.DataFrame)

    @property
    def empty(self) -> bool:
        return self.constraint.is_empty()


def in_force(frame: pl.DataFrame, entity: str, when: datetime) -> pl.DataFrame:
    """The rows of ``frame`` of the version in force at ``when`` for each ``entity``: the latest
    ``effectivedate`` on or before it, then the latest ``versionno``; every row of that version
    (a loss model's segments, a loss factor model's regions) is kept together.

    >>> rows = pl.DataFrame({"id": ["A", "A", "A"], "effectivedate": [datetime(2020, 7, 1),
    ...     datetime(2021, 7, 1), datetime(2021, 7, 1)], "versionno": [1, 1, 2], "x": [1, 2, 3]})
    >>> in_force(rows, "id", datetime(2021, 8, 1))["x"].to_list()
    [3]
    """
    if frame.is_empty():
        return frame
    current = frame.filter(pl.col("effectivedate") <= when)
    latest = current.group_by(entity).agg(pl.max("effectivedate"))
    current = current.join(latest, on=[entity, "effectivedate"])
    version = current.group_by(entity).agg(pl.max("versionno"))
    return current.join(version, on=[entity, "versionno"])


def network(
    tables: NetworkTables,
    loss_demand: pl.DataFrame,
    *,
    dispatch_limits: pl.DataFrame | None = None,
    as_of: date | None = None,
    held_flows: pl.DataFrame | None = None,
) -> Network:
    """The :class:`Network` for the intervals of ``loss_demand`` (``regionid, interval_datetime,
    loss_demand``: INITIALSUPPLY + DEMANDFORECAST), one link per regulated interconnector and per
    MNSP link in force. ``dispatch_limits`` (``interconnectorid, interval_datetime,
    exportlimit, importlimit``) narrows each interval's limits to NEMDE's; ``as_of`` reads
    every table as in force on that date (for stores whose network tables are a snapshot);
    ``held_flows`` (``interconnectorid, interval_datetime, mwflow``) holds MNSPs at those flows
    (:func:`bidstack.mnsp.hold`)."""
    intervals = loss_demand.select("interval_datetime").unique().sort("interval_datetime")
    day = (pl.col("interval_datetime") - timedelta(minutes=5)).dt.date()
    intervals = intervals.with_columns(
        (pl.lit(as_of) if as_of is not None else day).cast(pl.Date).alias("day")
    )
    demand = loss_demand.pivot(on="regionid", index="interval_datetime", values="loss_demand")
    # what is in force changes only on the tables' effective dates: the days between two of
    # them have the same links, read once and dated with each day
    changes = _effective_dates(tables)
    read: dict[int, pl.DataFrame] = {}
    links, limits = [], []
    for (on_day,), times in intervals.group_by(["day"], maintain_order=True):
        when = datetime.combine(on_day, datetime.min.time())
        known = bisect_right(changes, when)
        if known not in read:
            read[known] = _links_on(tables, when)
        day = pl.lit(on_day, pl.Date).alias("day")
        day_links = read[known].with_columns(day)
        links.append(day_links)
        limits.append(_limits(day_links, times, demand, dispatch_limits).with_columns(day))
    every = pl.concat(links, how="vertical_relaxed")
    defined = every.drop("day").unique(maintain_order=True)
    if defined["linkid"].is_duplicated().any():  # a link defined differently on some days
        versions = pl.col("linkid") + "@" + pl.col("day").cast(pl.String)
        every = every.with_columns(versions.alias("linkid"))
        limits = [frame.with_columns(versions.alias("linkid")) for frame in limits]
        defined = every.drop("day").unique(maintain_order=True)
    return Network(
        defined.select(list(LINK_COLUMNS)).cast(LINK_COLUMNS),
        mnsp.hold(pl.concat(limits), held_flows if held_flows is not None else pl.DataFrame())
        .select(list(LIMIT_COLUMNS))
        .cast(LIMIT_COLUMNS),
    )


def _links_on(tables: NetworkTables, when: datetime) -> pl.DataFrame:
    """One row per link in force at ``when``: the columns of :data:`LINK_COLUMNS` and the loss
    model's constant, demand coefficients and limits."""
    constraint = in_force(tables.constraint, "interconnectorid", when)
    if constraint.is_empty():
        raise InputError(
            f"no INTERCONNECTORCONSTRAINT row is in force on {when:%Y-%m-%d}: ingest the network "
            "tables for that date, set [market] network_as_of to the date of the ones you have, "
            'or set [market] interconnectors = "none"'
        )
    regions = tables.interconnector.select("interconnectorid", "regionfrom", "regionto").unique(
        "interconnectorid", keep="last"
    )
    joined = constraint.join(regions, on="interconnectorid", how="left")
    orphan = joined.filter(pl.col("regionfrom").is_null())
    if len(orphan):
        raise InputError(
            f"interconnector {orphan['interconnectorid'][0]} has limits in force on "
            f"{when:%Y-%m-%d} but no INTERCONNECTOR row naming its regions"
        )
    segments = in_force(tables.loss_model, "interconnectorid", when)
    factors = in_force(tables.loss_factor_model, "interconnectorid", when)
    mnsp = in_force(tables.mnsp, "linkid", when) if not tables.mnsp.is_empty() else tables.mnsp
    rows = []
    for ic in joined.sort("interconnectorid").iter_rows(named=True):
        name = ic["interconnectorid"]
        points = segments.filter(pl.col("interconnectorid") == name).sort("losssegment")
        if points.height < 2:
            raise InputError(
                f"interconnector {name}: no LOSSMODEL breakpoints in force on {when:%Y-%m-%d}"
            )
        coefficients = dict(
            factors.filter(pl.col("interconnectorid") == name)
            .select("regionid", "demandcoefficient")
            .iter_rows()
        )
        base = {
            "interconnectorid": name,
            "flow_coefficient": ic["lossflowcoefficient"],
            "loss_constant": ic["lossconstant"],
            "demand_coefficients": coefficients,
            "day": when.date(),
            "mnsp": ic["ictype"] == "MNSP",
        }
        breakpoints = points["mwbreakpoint"].cast(pl.Float64).to_list()
        if ic["ictype"] == "MNSP" and not mnsp.is_empty():
            pair = mnsp.filter(pl.col("interconnectorid") == name).sort("linkid")
            ids = pair["linkid"].to_list()
            for link in pair.iter_rows(named=True):
                sign = -1.0 if (link["lhsfactor"] or 1.0) < 0 else 1.0
                rows.append(
                    base
                    | {
                        "linkid": link["linkid"],
                        "from_region": link["fromregion"],
                        "to_region": link["toregion"],
                        "breakpoints": sorted(sign * b for b in breakpoints),
                        "sign": sign,
                        "alpha_from": link["from_region_tlf"] or 1.0,
                        "alpha_to": link["to_region_tlf"] or 1.0,
                        "from_share": 1.0,
                        "exclusive_with": next(
                            (other for other in ids if other != link["linkid"]), None
                        ),
                        "lower_static": 0.0,
                        "upper_static": link["maxcapacity"],
                    }
                )
            continue
        rows.append(
            base
            | {
                "linkid": name,
                "from_region": ic["regionfrom"],
                "to_region": ic["regionto"],
                "breakpoints": breakpoints,
                "sign": 1.0,
                "alpha_from": 1.0,
                "alpha_to": 1.0,
                "from_share": ic["fromregionlossshare"],
                "exclusive_with": None,
                "lower_static": -ic["importlimit"],
                "upper_static": ic["exportlimit"],
            }
        )
    return pl.DataFrame(
        rows,
        schema_overrides={
            "breakpoints": pl.List(pl.Float64),
            "exclusive_with": pl.String,
            "demand_coefficients": pl.Object,
        },
    )


def _effective_dates(tables: NetworkTables) -> list[datetime]:
    """The effective dates of the tables read as in force, in order, each once."""
    versioned = (tables.constraint, tables.loss_model, tables.loss_factor_model, tables.mnsp)
    return sorted({
        when
        for frame in versioned
        if "effectivedate" in frame.columns
        for when in frame["effectivedate"].drop_nulls().cast(pl.Datetime("us")).to_list()
    })  # fmt: skip


def _limits(
    links: pl.DataFrame,
    times: pl.DataFrame,
    demand: pl.DataFrame,
    dispatch_limits: pl.DataFrame | None,
) -> pl.DataFrame:
    """Each link's limits and linear loss coefficient in each of ``times`` (``demand``: the
    loss demand, a column per region)."""
    grid = times.select("interval_datetime").join(demand, on="interval_datetime", how="left")
    frames = []
    for link in links.iter_rows(named=True):
        linear = pl.lit(link["loss_constant"] - 1.0)
        for region, coefficient in link["demand_coefficients"].items():
            if region not in grid.columns:
                raise InputError(
                    f"interconnector {link['interconnectorid']}: its loss model needs "
                    f"the demand of {region}, which DISPATCHREGIONSUM lacks: ingest "
                    "DISPATCHREGIONSUM for every region, or set [market] interconnectors = "
                    '"none" in the fleet file (a fleet file of [market] alone, with '
                    "--baseline-only)"
                )
            linear = linear + coefficient * pl.col(region)
        frame = grid.select(
            "interval_datetime",
            linkid=pl.lit(link["linkid"]),
            interconnectorid=pl.lit(link["interconnectorid"]),
            loss_linear=linear * link["sign"],
            lower_mw=pl.lit(float(link["lower_static"])),
            upper_mw=pl.lit(float(link["upper_static"])),
            sign=pl.lit(link["sign"]),
            mnsp=pl.lit(link["mnsp"]),
            paired=pl.lit(link["exclusive_with"] is not None),
        )
        frames.append(frame)
    limits = pl.concat(frames)
    missing = limits.filter(pl.col("loss_linear").is_null())
    if len(missing):
        row = missing.row(0, named=True)
        raise InputError(
            f"interconnector {row['interconnectorid']} at {row['interval_datetime']}: "
            "no regional demand for its loss model (DISPATCHREGIONSUM)"
        )
    if dispatch_limits is not None and not dispatch_limits.is_empty():
        limits = _narrow(limits, dispatch_limits)
    return limits


def _narrow(limits: pl.DataFrame, dispatch: pl.DataFrame) -> pl.DataFrame:
    """Each interval's limits narrowed to NEMDE's (``EXPORTLIMIT`` >= flow >= ``IMPORTLIMIT``
    in the interconnector's direction; an MNSP link takes the side of its own direction)."""
    joined = limits.join(
        dispatch.select("interconnectorid", "interval_datetime", "exportlimit", "importlimit"),
        on=["interconnectorid", "interval_datetime"],
        how="left",
    )
    forward = pl.col("sign") > 0
    upper = pl.when(forward).then(pl.col("exportlimit")).otherwise(-pl.col("importlimit"))
    lower = pl.when(forward).then(pl.col("importlimit")).otherwise(-pl.col("exportlimit"))
    return (
        joined.with_columns(
            pl.min_horizontal("upper_mw", upper).alias("upper_mw"),
            pl.max_horizontal("lower_mw", lower).alias("lower_mw"),
        )
        .with_columns(
            # a limit narrowed past the other (as when a one-way link's direction is closed)
            pl.when(pl.col("upper_mw") < pl.col("lower_mw"))
            .then(pl.col("lower_mw"))
            .otherwise(pl.col("upper_mw"))
            .alias("upper_mw")
        )
        .drop("exportlimit", "importlimit")
    )
