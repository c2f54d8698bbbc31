"""Offers: what each unit offers in each interval, from the store's bids and registration.

An offer row joins a unit's energy volumes for one interval (``BIDPEROFFER_D``: ``bandavail1..10``,
``maxavail``, ``rocup``/``rocdown`` in MW/min) to its prices for that trading day
(``BIDDAYOFFER_D``: ``priceband1..10``) and to its registration in force on the interval's
calendar date (``DUDETAILSUMMARY``: region, participant, loss factor, dispatch type;
``DUDETAIL``: maximum capacity). The offer's submission time is the later of the two bids'
``OFFERDATE``.

Registration is read by calendar date, as settlement reads it (the interval's settlement date,
:func:`bidstack.stages.settlement.settlement_date`), not by the bids' trading day: DUDETAIL and
DUDETAILSUMMARY date their rows by calendar date from 00:00 (the MMS data model: "effective
calendar date of record"; every START_DATE in AEMO's DUDETAILSUMMARY is at 00:00), and nempy,
checked against NEMDE's outcomes, takes a unit's loss factor by the interval's time while it
takes bids by trading day. So on 1 July the intervals ending 00:05 to 04:00, whose bids belong
to the trading day of 30 June, are dispatched (their band prices referred) and settled at the
loss factors that start on 1 July.

Rows that cannot become offers are reported, one per unit-interval, never dropped silently:
``no_price_bands`` (volumes without that day's prices), ``no_registration`` (a unit that bids but
has no DUDETAIL/DUDETAILSUMMARY row in force), and ``load_not_modelled`` (scheduled loads and the
LOAD side of bidirectional units: their consumption stays as history has it, inside regional
demand, and their bids are not re-dispatched).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.io import effective_on
from bidstack.joins import join_unique
from bidstack.problems import PROBLEM_SCHEMA
from bidstack.sorting import sorted_rows
from bidstack.stages.settlement import settlement_date

UNIT_SCHEMA = {
    "settlement_date": pl.Date,
    "duid": pl.String,
    "regionid": pl.String,
    "participantid": pl.String,
    "mlf": pl.Float64,
    "load_mlf": pl.Float64,
    "dispatchtype": pl.String,
    "schedule_type": pl.String,
    "max_capacity": pl.Float64,
}
#: How loss factors refer prices and energy to the regional reference node.
LOSS_FACTORS = ("tlf_dlf", "tlf")


@dataclass(frozen=True)
class OfferBook:
    """``offers``: one row per generating unit and interval: ``duid``, ``regionid``,
    ``participantid``, ``interval_datetime``, ``trading_day``, ``priceband1..10``,
    ``bandavail1..10``, ``maxavail``, ``rocup``, ``rocdown``, ``mlf``, ``max_capacity``,
    ``schedule_type``, ``offerdate``; in time order, then by unit, as AEMO's files and the store
    hold them (so that the month's joins onto DISPATCHLOAD and the dispatch layout find them in
    order). ``units``: the registration of each unit per calendar date (:data:`UNIT_SCHEMA`).
    ``problems``: ``kind, regionid, duid, interval_datetime, detail``."""

    offers: pl.DataFrame
    units: pl.DataFrame
    problems: pl.DataFrame


def registration(
    summary: pl.DataFrame, detail: pl.DataFrame, days: list, loss_factors: str = "tlf_dlf"
) -> pl.DataFrame:
    """Each unit's registration in force on each of ``days`` (from its 00:00), for the
    intervals of that settlement date (columns of :data:`UNIT_SCHEMA`; a window's offers need
    the days of :func:`offer_dates`).

    ``mlf`` is the loss factor of what the unit sends out: TLF x DLF (``loss_factors =
    "tlf_dlf"``, as AEMO refers prices and settles energy), or TLF alone (``"tlf"``); a
    bidirectional unit's generation uses its SECONDARY_TLF where it has one. ``load_mlf`` is
    the loss factor of what it consumes (the primary TLF). ``max_capacity`` is DUDETAIL's
    MAXCAPACITY, or REGISTEREDCAPACITY where MAXCAPACITY is missing.
    """
    if loss_factors not in LOSS_FACTORS:
        raise ValueError(f"loss_factors must be one of {', '.join(LOSS_FACTORS)}")
    if not days or summary.is_empty():
        return pl.DataFrame(schema=UNIT_SCHEMA)
    summary = _with_columns(summary, {"distributionlossfactor": pl.Float64,
                                      "secondary_tlf": pl.Float64, "schedule_type": pl.String})
    detail = _with_columns(detail, {"maxcapacity": pl.Float64, "registeredcapacity": pl.Float64})
    in_force = effective_on(summary, "DUDETAILSUMMARY", days).collect()
    capacity = (
        effective_on(detail, "DUDETAIL", days)
        .collect()
        .select("date", "duid", pl.coalesce("maxcapacity", "registeredcapacity").alias("cap"))
        if not detail.is_empty()
        else pl.DataFrame(
            schema={"date": pl.Datetime("us"), "duid": pl.String, "cap": pl.Float64}
        )
    )
    dlf = pl.col("distributionlossfactor").fill_null(1.0) if loss_factors == "tlf_dlf" else 1.0
    primary = pl.col("transmissionlossfactor") * dlf
    sent_out = pl.when(pl.col("dispatchtype") == "BIDIRECTIONAL").then(
        pl.coalesce("secondary_tlf", "transmissionlossfactor") * dlf
    ).otherwise(primary)  # fmt: skip
    return (
        in_force.join(capacity, on=["date", "duid"], how="left")
        .select(
            pl.col("date").dt.date().alias("settlement_date"),
            "duid",
            "regionid",
            "participantid",
            sent_out.alias("mlf"),
            primary.alias("load_mlf"),
            "dispatchtype",
            "schedule_type",
            pl.col("cap").alias("max_capacity"),
        )
        .cast(UNIT_SCHEMA)
    )


def _with_columns(frame: pl.DataFrame, columns: dict) -> pl.DataFrame:
    """``frame`` with each of ``columns`` it lacks added as nulls (older table versions)."""
    absent = [pl.lit(None, t).alias(c) for c, t in columns.items() if c not in frame.columns]
    return frame.with_columns(absent) if absent else frame


#: BIDPEROFFER_D's columns :func:`build_offers` uses: a reader need not read the rest.
VOLUME_COLUMNS = (
    "duid", "settlementdate", "interval_datetime", "direction", "offerdate", *BAND_VOLUMES,
    "maxavail", "rocup", "rocdown",
)  # fmt: skip


def build_offers(volumes: pl.DataFrame, prices: pl.DataFrame, units: pl.DataFrame) -> OfferBook:
    """Join volumes to prices and registration; see the module docstring for what is reported."""
    units = _with_columns(units, {c: t for c, t in UNIT_SCHEMA.items() if c != "settlement_date"})
    volumes = volumes.with_columns(
        pl.col("settlementdate").dt.date().alias("trading_day"),
        settlement_date(pl.col("interval_datetime")).alias("settlement_date"),
        _direction(volumes),
    )
    prices = prices.with_columns(
        pl.col("settlementdate").dt.date().alias("trading_day"), _direction(prices)
    ).select(
        "duid",
        "trading_day",
        "direction",
        *PRICE_BANDS,
        pl.col("offerdate").alias("day_offerdate"),
        "participantid",
    )
    joined = join_unique(volumes, prices, ["duid", "trading_day", "direction"])
    registered = units.rename({"participantid": "registered_participant"})
    joined = join_unique(joined, registered, ["settlement_date", "duid"])
    no_prices = pl.col("priceband1").is_null()
    no_unit = pl.col("regionid").is_null()
    load = (pl.col("direction") == "LOAD") | (pl.col("dispatchtype") == "LOAD")
    problems = pl.concat(
        [
            _problems(
                joined,
                no_prices,
                "no_price_bands",
                "energy volumes without the trading day's BIDDAYOFFER_D prices",
            ),
            _problems(
                joined,
                ~no_prices & no_unit,
                "no_registration",
                "no DUDETAIL/DUDETAILSUMMARY row in force on the interval's settlement date",
            ),
            _problems(
                joined,
                ~no_prices & ~no_unit & load,
                "load_not_modelled",
                "load bids are not re-dispatched; the load stays in regional demand",
            ),
        ]
    )
    offers = joined.filter(~no_prices & ~no_unit & ~load).select(
        "duid",
        "regionid",
        pl.coalesce("registered_participant", "participantid").alias("participantid"),
        "interval_datetime",
        "trading_day",
        *PRICE_BANDS,
        *BAND_VOLUMES,
        "maxavail",
        "rocup",
        "rocdown",
        pl.col("mlf").fill_null(1.0),
        "max_capacity",
        "schedule_type",
        pl.max_horizontal("offerdate", "day_offerdate").alias("offerdate"),
    )
    return OfferBook(sorted_rows(offers, "interval_datetime", "duid"), units, problems)


def offer_dates(volumes: pl.DataFrame) -> list[date]:
    """The settlement dates of the intervals of ``volumes`` (BIDPEROFFER_D): the days whose
    :func:`registration` :func:`build_offers` reads (a trading day's intervals fall on two)."""
    day = settlement_date(pl.col("interval_datetime"))
    return volumes.select(day.unique().sort()).to_series().to_list()


def _direction(frame: pl.DataFrame) -> pl.Expr:
    """Bids before BIDPEROFFER_D v3 carry no DIRECTION: they are all GEN."""
    if "direction" not in frame.columns:
        return pl.lit("GEN").alias("direction")
    return pl.col("direction").fill_null("GEN")


def _problems(frame: pl.DataFrame, where: pl.Expr, kind: str, detail: str) -> pl.DataFrame:
    return (
        frame.filter(where)
        .select(
            pl.lit(kind).alias("kind"),
            pl.col("regionid"),
            "duid",
            "interval_datetime",
            pl.lit(detail).alias("detail"),
        )
        .cast(PROBLEM_SCHEMA)
    )
