"""The window's interconnectors as the fleet file asks for them (``[market] interconnectors``):
``"optimised"``, the network of :mod:`bidstack.network` with each MNSP held at the flow AEMO
dispatched (:mod:`bidstack.mnsp`, ``[market] mnsp``); ``"historical"``, every flow as AEMO
dispatched it; or ``"none"``; and the intervals whose historical flow lies beyond its own
limits."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import polars as pl

from bidstack import mnsp
from bidstack.errors import InputError
from bidstack.fleet import Fleet
from bidstack.network import NetworkTables, in_force, network
from bidstack.problems import PROBLEM_SCHEMA
from bidstack.stages.network import Network


def in_force_over(frame: pl.DataFrame, entity: str, first: date, last: date) -> pl.DataFrame:
    """The rows of every version of ``frame`` in force on some day from ``first`` to ``last``
    (as :func:`in_force` reads a day: from its midnight), each once: an interconnector that
    becomes an MNSP, or comes into force, within a window is one of the window's.

    >>> rows = pl.DataFrame({"id": ["A", "A", "B"], "effectivedate": [datetime(2020, 7, 1),
    ...     datetime(2021, 7, 10), datetime(2021, 8, 1)], "versionno": 1, "x": [1, 2, 3]})
    >>> in_force_over(rows, "id", date(2021, 7, 1), date(2021, 7, 31))["x"].to_list()
    [1, 2]
    """
    start, end = (datetime.combine(day, datetime.min.time()) for day in (first, last))
    if frame.is_empty():
        return frame
    later = (
        frame.filter((pl.col("effectivedate") > start) & (pl.col("effectivedate") <= end))
        .get_column("effectivedate")
        .unique()
        .sort()
        .to_list()
    )
    versions = [in_force(frame, entity, when) for when in [start, *later]]
    return pl.concat(versions).unique(maintain_order=True)


def window_network(
    tables: NetworkTables,
    flows: pl.DataFrame,
    sums: pl.DataFrame,
    fleet: Fleet,
    store: str | os.PathLike = "the store",
) -> tuple[Network | None, str, pl.DataFrame]:
    """The interconnectors of the window, the mode they run in (``[market]``
    ``interconnectors``: ``"optimised"``, the default when the store has the network tables,
    ``"historical"`` or ``"none"``) and problem rows (MNSPs whose flow is unknown, see
    :mod:`bidstack.mnsp`). ``flows``: as AEMO dispatched them
    (:func:`bidstack.market_reads.interconnector_history`); ``sums``: DISPATCHREGIONSUM
    (:func:`bidstack.market_reads.region_sums`)."""
    options = fleet.market
    mode = options.interconnectors or ("none" if tables.empty else "optimised")
    problems = pl.DataFrame(schema=PROBLEM_SCHEMA)
    if mode != "optimised":
        return None, mode, problems
    if tables.empty:
        raise InputError(
            f"{store}: interconnectors = optimised needs INTERCONNECTORCONSTRAINT, LOSSMODEL and "
            "LOSSFACTORMODEL in the store (ingest them), or set [market] interconnectors"
        )
    loss_demand = sums.select(
        "regionid",
        "interval_datetime",
        (pl.col("initialsupply") + pl.col("demandforecast")).alias("loss_demand"),
    )
    limits = flows if options.interconnector_limits == "dispatch" else None
    held = None
    if options.mnsp == "historical" and not sums.is_empty():
        starts = sums.get_column("interval_datetime") - timedelta(minutes=5)
        first, last = starts.min().date(), starts.max().date()
        if options.network_as_of is not None:
            first = last = options.network_as_of
        constraint = in_force_over(tables.constraint, "interconnectorid", first, last)
        held, problems = mnsp.held_flows(constraint, tables.interconnector, flows, sums)
    built = network(
        tables, loss_demand, dispatch_limits=limits, as_of=options.network_as_of, held_flows=held
    )
    return built, mode, problems


def flows_beyond_limits(history: pl.DataFrame) -> pl.DataFrame:
    """Problem rows for intervals whose historical flow lies beyond its own export or import
    limit (``flow_beyond_limits``): the limits NEMDE reported are then not the ones it applied."""
    tolerance = 1e-3
    beyond = (pl.col("mwflow") > pl.col("exportlimit") + tolerance) | (
        pl.col("mwflow") < pl.col("importlimit") - tolerance
    )
    return (
        history.filter(beyond.fill_null(False))
        .select(
            pl.lit("flow_beyond_limits").alias("kind"),
            pl.lit(None, pl.String).alias("regionid"),
            pl.col("interconnectorid").alias("duid"),
            "interval_datetime",
            pl.format(
                "MWFLOW {} outside its limits [{}, {}]", "mwflow", "importlimit", "exportlimit"
            ).alias("detail"),
        )
        .cast(PROBLEM_SCHEMA)
    )


def historical_links(history: pl.DataFrame) -> pl.DataFrame:
    """The flows of :func:`interconnector_history` in the dispatch stage's ``links`` columns, for
    ``interconnectors = "historical"``, where flows are held at history."""
    return history.select(
        pl.col("interconnectorid").alias("linkid"),
        "interconnectorid",
        pl.lit(None, pl.String).alias("from_region"),
        pl.lit(None, pl.String).alias("to_region"),
        "interval_datetime",
        pl.col("mwflow").alias("flow_mw"),
        pl.col("mwlosses").alias("losses_mw"),
        pl.lit(None, pl.Float64).alias("withdrawn_mw"),
        pl.lit(None, pl.Float64).alias("injected_mw"),
        pl.col("marginalloss").alias("marginal_loss"),
        (pl.col("mwflow") >= pl.col("exportlimit") - 1e-3).alias("at_export_limit"),
        (pl.col("mwflow") <= pl.col("importlimit") + 1e-3).alias("at_import_limit"),
    )
