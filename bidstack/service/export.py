"""``bidstack service export``: a month of accepted bids and meter reads into the Parquet store.

Bids become the rows ``bidstack backtest`` reads: for each unit and trading day of the month
(trading day ``D`` runs from ``D`` 04:00 to ``D+1`` 04:00), BIDDAYOFFER_D holds the latest day
offer's price bands, and BIDPEROFFER_D the latest bid for each interval, with ``OFFERDATE``
the time the service received it and ``VERSIONNO`` its version for that unit and day. Latest
means the highest ``VERSIONNO``: versions are given in the order submissions are received and
committed (:meth:`bidstack.service.runtime.Service.submit`), so OFFERDATE rises with it. Meter
reads of the month's days become ``nem12_interval`` rows, the latest received for each NMI,
data stream and interval. Each table is written with :func:`bidstack.io.write_table` under
the source ``service:<table>:<month>``, so exporting the month again replaces exactly those
rows, atomically.
"""

from __future__ import annotations

import os
import re
from datetime import date

import polars as pl
from sqlalchemy import Engine, select

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.errors import ConfigError
from bidstack.io import write_table
from bidstack.io.read import DISPATCH_INTERVAL, TRADING_DAY_START
from bidstack.service.db import READ_COLUMNS, bids, day_offers, meter_reads, meter_uploads

MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
BID_KEYS = {"bidtype": "ENERGY", "direction": "GEN"}


def month_days(month: str) -> tuple[date, date]:
    """The first day of ``YYYY-MM`` and of the month after."""
    match = MONTH.fullmatch(month)
    if match is None:
        raise ConfigError(f"--month {month!r} is not YYYY-MM")
    year, number = int(match[1]), int(match[2])
    after = date(year + number // 12, number % 12 + 1, 1)
    return date(year, number, 1), after


def _latest(frame: pl.DataFrame, keys: list[str], order: list[str]) -> pl.DataFrame:
    return frame.sort(order).unique(subset=keys, keep="last", maintain_order=True)


def _midnight(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.Datetime("us")).alias("settlementdate")


def export(engine: Engine, store: str | os.PathLike, month: str) -> dict[str, int]:
    """Write the month; return the rows written per table."""
    first, after = month_days(month)
    with engine.connect() as connection:
        offers = pl.DataFrame(
            connection.execute(
                select(day_offers)
                .where(day_offers.c.trading_date >= first)
                .where(day_offers.c.trading_date < after)
            )
            .mappings()
            .all(),
            schema=_schema(day_offers),
        )
        volumes = pl.DataFrame(
            connection.execute(
                select(bids).where(bids.c.trading_date >= first).where(bids.c.trading_date < after)
            )
            .mappings()
            .all(),
            schema=_schema(bids),
        )
        reads = pl.DataFrame(
            connection.execute(
                select(meter_reads, meter_uploads.c.received_at)
                .join(meter_uploads, meter_uploads.c.upload_id == meter_reads.c.upload_id)
                .where(meter_reads.c.interval_date >= first)
                .where(meter_reads.c.interval_date < after)
            )
            .mappings()
            .all(),
            schema=_schema(meter_reads) | {"received_at": pl.Datetime("us")},
        )
    day_rows = _latest(offers, ["duid", "trading_date"], ["versionno", "day_offer_id"]).select(
        _midnight("trading_date"),
        "duid",
        *(pl.lit(v).alias(k) for k, v in BID_KEYS.items()),
        "participant_id",
        "versionno",
        pl.col("received_at").alias("offerdate"),
        *PRICE_BANDS,
        pl.col("received_at").alias("lastchanged"),
    )
    opening = pl.col("trading_date").cast(pl.Datetime("us")) + TRADING_DAY_START
    minutes = int(DISPATCH_INTERVAL.total_seconds() // 60)
    interval_rows = _latest(
        volumes, ["duid", "interval_datetime"], ["versionno", "bid_id"]
    ).select(
        _midnight("trading_date"),
        "duid",
        *(pl.lit(v).alias(k) for k, v in BID_KEYS.items()),
        "interval_datetime",
        ((pl.col("interval_datetime") - opening).dt.total_minutes() // minutes).alias("periodid"),
        "versionno",
        pl.col("received_at").alias("offerdate"),
        "maxavail",
        "rocup",
        "rocdown",
        *BAND_VOLUMES,
        pl.col("received_at").alias("lastchanged"),
    )
    read_rows = _latest(
        reads, ["nmi", "nmi_suffix", "interval_datetime"], ["received_at", "read_id"]
    ).select(list(READ_COLUMNS))
    tables = {
        "BIDDAYOFFER_D": day_rows.rename({"participant_id": "participantid"}),
        "BIDPEROFFER_D": interval_rows,
        "nem12_interval": read_rows,
    }
    return {
        table: write_table(store, table, frame, source=f"service:{table}:{month}")
        for table, frame in tables.items()
    }


def _schema(table) -> dict[str, pl.DataType]:
    """A table's columns as Polars types (an empty query still has every column)."""
    kinds = {"INTEGER": pl.Int64, "FLOAT": pl.Float64, "DATE": pl.Date, "DATETIME": pl.Datetime}
    schema = {}
    for column in table.columns:
        name = type(column.type).__name__.upper()
        dtype = kinds.get(name, pl.String)
        schema[column.name] = pl.Datetime("us") if dtype is pl.Datetime else dtype
    return schema
