"""The synthetic market's history (:mod:`bidstack.demo`): its bids dispatched once with the
regions joined by the network, written as AEMO's dispatch tables (DISPATCHPRICE,
DISPATCHREGIONSUM, DISPATCHLOAD, DISPATCHINTERCONNECTORRES, DISPATCH_UNIT_SCADA)."""

from __future__ import annotations

import polars as pl

from bidstack.network import NetworkTables, network
from bidstack.stages.dispatch import dispatch
from bidstack.stages.offers import build_offers, offer_dates, registration

PRICE_CAP = 16600.0  # the 2023-24 market price cap, $/MWh
PRICE_FLOOR = -1000.0


def market_history(
    volumes: pl.DataFrame,
    prices: pl.DataFrame,
    forecasts: pl.DataFrame,
    summary: pl.DataFrame,
    detail: pl.DataFrame,
    demand: pl.DataFrame,
    initial_mw: pl.DataFrame | None,
    grid: NetworkTables,
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """Dispatch the synthetic bids once, the regions joined by the network: the market's
    prices, flows, unit dispatch and SCADA, and each unit's last dispatch (where the next month's
    ramp limits start)."""
    book = build_offers(volumes, prices, registration(summary, detail, offer_dates(volumes)))
    keys = ["duid", "interval_datetime"]
    offers = book.offers.join(forecasts, on=keys, how="left")
    demand_rows = demand.select(
        "regionid",
        pl.col("settlementdate").alias("interval_datetime"),
        pl.col("totaldemand").alias("demand"),
    )
    links = network(grid, demand.select(
        "regionid", pl.col("settlementdate").alias("interval_datetime"),
        (pl.col("initialsupply") + pl.col("demandforecast")).alias("loss_demand"),
    ))
    result = dispatch(
        offers,
        demand_rows,
        network=links,
        initial_mw=initial_mw,
        market_price_cap=PRICE_CAP,
        market_floor_price=PRICE_FLOOR,
    )
    regions = result.regions
    unit_rows = result.units.join(offers.select(*keys, "maxavail", "uigf", "rocup", "rocdown"),
                                  on=keys)
    last = (
        result.units.sort("interval_datetime")
        .unique("duid", keep="last")
        .select("duid", pl.col("dispatch_mw").alias("initial_mw"))
    )
    when = pl.col("interval_datetime").alias("settlementdate")
    generation = unit_rows.group_by("regionid", "interval_datetime").agg(
        pl.col("dispatch_mw").sum().alias("dispatchablegeneration")
    )
    tables = {
        "DISPATCHPRICE": regions.select(
            when, pl.lit(1).alias("runno"), "regionid", pl.lit(0).alias("intervention"),
            pl.col("price").alias("rrp"),
        ),
        "DISPATCHREGIONSUM": demand.join(
            generation.rename({"interval_datetime": "settlementdate"}),
            on=["regionid", "settlementdate"], how="left",
        ).with_columns(
            (pl.col("dispatchablegeneration") - pl.col("totaldemand")).alias("netinterchange")
        ),
        "DISPATCHLOAD": unit_rows.select(
            when,
            pl.lit(1).alias("runno"),
            "duid",
            pl.lit(0).alias("intervention"),
            pl.col("ramp_base_mw").fill_null(pl.col("dispatch_mw")).alias("initialmw"),
            pl.col("dispatch_mw").alias("totalcleared"),
            pl.coalesce("uigf", "maxavail").alias("availability"),
            "uigf",
            (pl.col("rocup") * 60.0).alias("rampuprate"),
            (pl.col("rocdown") * 60.0).alias("rampdownrate"),
            (pl.col("uigf").is_not_null() & (pl.col("dispatch_mw") < pl.col("uigf") - 1e-6))
            .cast(pl.Int64)
            .alias("semidispatchcap"),
        ),
        "DISPATCHINTERCONNECTORRES": interconnector_results(result.links, grid),
        # SCADA at T is the output at the interval's start, as AEMO's (= DISPATCHLOAD.INITIALMW)
        "DISPATCH_UNIT_SCADA": unit_rows.select(
            when,
            "duid",
            (pl.col("ramp_base_mw").fill_null(pl.col("dispatch_mw")) * 0.995)
            .round(3)
            .alias("scadavalue"),
        ),
    }
    return tables, last


def interconnector_results(links: pl.DataFrame, grid: NetworkTables) -> pl.DataFrame:
    """DISPATCHINTERCONNECTORRES from the links' flows: an MNSP's two one-way links make one
    interconnector flow, signed in its from -> to direction."""
    direction = grid.interconnector.select("interconnectorid", "regionfrom")
    signed = links.join(direction, on="interconnectorid").with_columns(
        sign=pl.when(pl.col("from_region") == pl.col("regionfrom")).then(1.0).otherwise(-1.0)
    )
    return (
        signed.group_by("interconnectorid", "interval_datetime")
        .agg(
            (pl.col("flow_mw") * pl.col("sign")).sum().alias("mwflow"),
            pl.col("losses_mw").sum().alias("mwlosses"),
            pl.col("marginal_loss").first().alias("marginalloss"),
        )
        .select(
            pl.col("interval_datetime").alias("settlementdate"),
            pl.lit(1).alias("runno"),
            "interconnectorid",
            pl.lit(0).alias("intervention"),
            "mwflow",
            "mwlosses",
            "marginalloss",
        )
        .sort("interconnectorid", "settlementdate")
    )
