"""Metering: energy (MWh) per unit and interval.

Measured energy comes first where a scenario has it (the historical baseline: the store's
``DISPATCH_UNIT_SCADA``, or NEM12 interval data for a unit whose fleet entry names its NMI); every
other unit-interval is metered as its dispatch target × the interval length. A demand bid's
energy is what its retailer consumed: the bid MW not "generated" back, as a negative number.

NEM12 channels: a suffix starting ``B`` is energy sent into the network (positive), ``E`` energy
taken from it (negative); other channels (reactive energy) are ignored. Reads longer than the
dispatch interval are spread evenly over the dispatch intervals they cover.
"""

from __future__ import annotations

import polars as pl

from bidstack.columns import DEMAND_BID_PREFIX

ENERGY_SCHEMA = {
    "duid": pl.String,
    "interval_datetime": pl.Datetime("us"),
    "energy_mwh": pl.Float64,
    "source": pl.String,
}


def meter(
    dispatched: pl.DataFrame,
    offers: pl.DataFrame,
    interval_minutes: float,
    measured: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Energy per unit and interval: ``duid, interval_datetime, energy_mwh, source``.

    ``dispatched``: the dispatch stage's ``units`` (``duid, interval_datetime, dispatch_mw``).
    ``offers``: the scenario's offers (for the MW of demand bids). ``measured``: optional
    ``duid, interval_datetime, energy_mwh, source``, used instead of the dispatch target for
    the unit-intervals dispatched (the first row per unit-interval wins).
    """
    hours = interval_minutes / 60.0
    keys = ["duid", "interval_datetime"]
    is_bid = pl.col("duid").str.starts_with(DEMAND_BID_PREFIX)
    bids = offers.filter(is_bid).select(*keys, pl.col("bandavail1").alias("bid_mw"))
    energy = (
        dispatched.select(*keys, "dispatch_mw")
        .join(bids, on=keys, how="left")
        .select(
            *keys,
            pl.when(is_bid)
            .then(-(pl.col("bid_mw") - pl.col("dispatch_mw")) * hours)
            .otherwise(pl.col("dispatch_mw") * hours)
            .alias("energy_mwh"),
            pl.when(is_bid)
            .then(pl.lit("demand bid"))
            .otherwise(pl.lit("dispatch"))
            .alias("source"),
        )
    )
    if measured is not None and not measured.is_empty():
        measured = measured.select(
            *keys, pl.col("energy_mwh").alias("m"), pl.col("source").alias("s")
        )
        energy = (
            energy.join(measured.unique(keys, keep="first"), on=keys, how="left")
            .with_columns(
                pl.coalesce("m", "energy_mwh").alias("energy_mwh"),
                pl.coalesce("s", "source").alias("source"),
            )
            .drop("m", "s")
        )
    return energy.cast(ENERGY_SCHEMA).sort(keys)


def scada_energy(scada: pl.DataFrame, interval_minutes: float) -> pl.DataFrame:
    """``DISPATCH_UNIT_SCADA`` (MW at the end of each interval) as energy per interval."""
    return scada.select(
        "duid",
        pl.col("settlementdate").alias("interval_datetime"),
        (pl.col("scadavalue") * interval_minutes / 60.0).alias("energy_mwh"),
        pl.lit("scada").alias("source"),
    ).drop_nulls("energy_mwh")


def nem12_energy(
    reads: pl.DataFrame, nmi_of_unit: dict[str, str], interval_minutes: float
) -> pl.DataFrame:
    """NEM12 interval reads of the units' NMIs as energy per unit and dispatch interval."""
    if reads.is_empty() or not nmi_of_unit:
        return pl.DataFrame(schema=ENERGY_SCHEMA)
    units = pl.DataFrame({"duid": list(nmi_of_unit), "nmi": list(nmi_of_unit.values())})
    sign = (
        pl.when(pl.col("nmi_suffix").str.starts_with("B"))
        .then(1.0)
        .when(pl.col("nmi_suffix").str.starts_with("E"))
        .then(-1.0)
    )
    channels = reads.join(units, on="nmi").with_columns(sign.alias("sign")).drop_nulls("sign")
    parts = (pl.col("interval_minutes") / interval_minutes).round(0).cast(pl.Int64).clip(1)
    spread = channels.with_columns(parts.alias("parts")).with_columns(
        pl.int_ranges(0, pl.col("parts")).alias("k")
    )
    spread = spread.explode("k").with_columns(
        (pl.col("interval_datetime") - pl.duration(minutes=pl.col("k") * interval_minutes)).alias(
            "interval_datetime"
        ),
        (pl.col("sign") * pl.col("energy_mwh") / pl.col("parts")).alias("energy_mwh"),
    )
    return (
        spread.group_by("duid", "interval_datetime")
        .agg(pl.col("energy_mwh").sum())
        .with_columns(pl.lit("nem12").alias("source"))
        .select(list(ENERGY_SCHEMA))
    )
