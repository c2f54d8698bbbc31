"""Settlement: energy × spot price × loss factor, net positions, statements to the cent.

Money never passes through a float sum. Prices are turned into integer cents exactly (the
dispatch price is read as an exact decimal of up to eight places). Each unit-interval's amount is
carried unrounded to the cent, as AEMO carries it, in integer *micro-dollars*
(``amount_microdollars``: the product energy × price × loss factor rounded once, half away from
zero, to $0.000001); every sum after that is a sum of integers, exact. Cents appear only where a
statement shows a figure (:func:`bidstack.stages.statements.statements`):

- a participant's figure for a settlement date (``daily.net_cents``) is that day's exact sum of
  micro-dollars rounded half away from zero to the cent;
- its figure for the whole run (``totals.net_cents``) is the sum of its daily figures, so a
  statement's days add up to its total to the cent; ``totals.rounding_microdollars`` is what the
  daily rounding left out (the exact sum less the total figure: at most half a cent per day).

:func:`bidstack.stages.statements.reconcile` checks every one of these relations.

Spot prices follow AEMO: intervals ending up to 2021-10-01 00:00 (before five-minute settlement)
settle at the 30-minute trading price, the mean of the six 5-minute dispatch prices of the
half-hour rounded to 2 dp; later intervals settle at their own 5-minute dispatch price rounded to
2 dp. Ties round half away from zero, which reproduces AEMO's published TRADINGPRICE.RRP.
Timestamps are AEMO's: market time (AEST, no daylight saving), period ending.

AEMO settles by calendar *settlement date*: date ``D`` holds the intervals ending in
``(D 00:00, D+1 00:00]`` (period ending, so the interval ending at midnight belongs to the day
before). The trading day (04:00 to 04:00) is the bidding day only. A unit-interval settles with
the registration in force on its settlement date, so on 1 July the intervals ending 00:05 to
04:00 take the loss factors that start that day, although their bids belong to the trading day
of 30 June.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl

from bidstack.errors import InputError
from bidstack.joins import join_unique
from bidstack.sorting import sorted_rows

#: The first interval settled on its own 5-minute price ends just after this instant.
FIVE_MINUTE_SETTLEMENT = datetime(2021, 10, 1)
#: Dispatch prices are read exactly to this many decimal places.
PRICE_DECIMALS = 8
_SCALE = 10**PRICE_DECIMALS
_CENTS_PER_SCALED = _SCALE // 100
#: Amounts are carried in micro-dollars: this many to the cent.
MICRODOLLARS_PER_CENT = 10_000


def round_half_away(numerator: pl.Expr, denominator: int) -> pl.Expr:
    """Integer ``numerator / denominator`` rounded half away from zero (exact, no floats)."""
    magnitude = numerator.abs()
    quotient = magnitude // denominator
    up = (magnitude % denominator) * 2 >= denominator
    rounded = quotient + up.cast(pl.Int64)
    return pl.when(numerator < 0).then(-rounded).otherwise(rounded)


def settlement_date(interval: pl.Expr | datetime) -> pl.Expr | date:
    """The settlement date of a period-ending interval: date ``D`` holds the intervals ending in
    ``(D 00:00, D+1 00:00]``.

    >>> settlement_date(datetime(2024, 7, 1, 0, 0)), settlement_date(datetime(2024, 7, 1, 0, 5))
    (datetime.date(2024, 6, 30), datetime.date(2024, 7, 1))
    """
    if isinstance(interval, pl.Expr):
        return interval.dt.offset_by("-1us").dt.date()
    return (interval - timedelta(microseconds=1)).date()


def trading_interval_end(interval: pl.Expr) -> pl.Expr:
    """The end of the 30-minute trading interval an interval (period ending) belongs to."""
    return interval.dt.offset_by("-1us").dt.truncate("30m").dt.offset_by("30m")


def settlement_prices(dispatch_prices: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Spot prices in cents per region and 5-minute interval, and the intervals with none.

    ``dispatch_prices`` has ``regionid``, ``interval_datetime`` (5-minute, period ending) and
    ``price`` ($/MWh, the dispatch RRP). Returns ``(prices, missing)``: ``prices`` has
    ``regionid``, ``interval_datetime``, ``settlement_interval`` (the end of the interval that
    sets the price: its trading half-hour before five-minute settlement, else itself) and
    ``spot_price_cents`` (Int64); ``missing`` lists the intervals of a half-hour with fewer
    than six dispatch prices, or of a 5-minute interval without its price (a null or NaN price
    is none), which cannot be settled (``regionid``, ``interval_datetime``). A region and
    interval given twice is an :class:`~bidstack.errors.InputError`: which price holds is
    unclear.
    """
    repeated = dispatch_prices.filter(pl.struct("regionid", "interval_datetime").is_duplicated())
    if repeated.height:
        region, at = repeated.select("regionid", "interval_datetime").row(0)
        raise InputError(
            f"settlement prices: {repeated.height} rows repeat a region and interval, the first "
            f"{region} at {at}; give one dispatch price per region and interval"
        )
    scaled = (pl.col("price").fill_nan(None) * _SCALE).round(0).cast(pl.Int64)
    frame = dispatch_prices.select(
        "regionid",
        "interval_datetime",
        scaled.alias("scaled"),
        pl.when(pl.col("interval_datetime") <= FIVE_MINUTE_SETTLEMENT)
        .then(trading_interval_end(pl.col("interval_datetime")))
        .otherwise(pl.col("interval_datetime"))
        .alias("settlement_interval"),
    )
    per_settlement = frame.group_by("regionid", "settlement_interval").agg(
        pl.col("scaled").sum().alias("total"), pl.col("scaled").count().alias("n")
    )
    half_hourly = pl.col("settlement_interval") <= FIVE_MINUTE_SETTLEMENT
    per_settlement = per_settlement.with_columns(
        pl.when(half_hourly)
        .then(round_half_away(pl.col("total"), 6 * _CENTS_PER_SCALED))
        .otherwise(round_half_away(pl.col("total"), _CENTS_PER_SCALED))
        .alias("spot_price_cents"),
        (pl.col("n") != pl.when(half_hourly).then(6).otherwise(1)).alias("incomplete"),
    )
    joined = frame.join(per_settlement, on=["regionid", "settlement_interval"], how="left")
    missing = joined.filter("incomplete").select("regionid", "interval_datetime")
    prices = joined.filter(~pl.col("incomplete")).select(
        "regionid", "interval_datetime", "settlement_interval", "spot_price_cents"
    )
    return prices.sort("regionid", "interval_datetime"), missing.sort(
        "regionid", "interval_datetime"
    )


def trading_prices(dispatch_prices: pl.DataFrame) -> pl.DataFrame:
    """AEMO's TRADINGPRICE.RRP rebuilt from dispatch prices, in cents: one row per region and
    settlement interval (30-minute before five-minute settlement, 5-minute after) with
    ``spot_price_cents``, for the complete intervals only."""
    prices, _ = settlement_prices(dispatch_prices)
    return (
        prices.group_by("regionid", "settlement_interval")
        .agg(pl.col("spot_price_cents").first())
        .rename({"settlement_interval": "interval_datetime"})
        .sort("regionid", "interval_datetime")
    )


UNIT_ENERGY_COLUMNS = ("duid", "interval_datetime", "energy_mwh")
UNIT_COLUMNS = ("duid", "participantid", "regionid", "mlf")
#: The unit order of statements and amounts.
STATEMENT_KEYS = ("participantid", "duid")


def loss_factor() -> pl.Expr:
    """The loss factor a unit-interval settles at: ``mlf`` (what the unit sends out: TLF x DLF,
    or for a bidirectional unit its SECONDARY_TLF x DLF) where its energy is positive,
    ``load_mlf`` (what it consumes: the primary TLF x DLF) where it is negative."""
    return (
        pl.when(pl.col("energy_mwh") < 0)
        .then(pl.col("load_mlf"))
        .otherwise(pl.col("mlf"))
        .alias("loss_factor")
    )


def settle(
    energy: pl.DataFrame, units: pl.DataFrame, prices: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Amounts per unit and interval, and the unit-intervals that cannot be settled.

    ``energy``: ``duid``, ``interval_datetime``, ``energy_mwh`` (sent out positive; a load's
    consumption negative). ``units``: ``duid``, ``participantid``, ``regionid``, ``mlf`` and
    optionally ``load_mlf`` (the loss factor of consumption; ``mlf`` where absent), one row
    per unit, or with a ``settlement_date`` column one row per unit and settlement date (the
    registration in force that day; see :func:`settlement_date`).
    ``prices``: from :func:`settlement_prices`. The amount is ``energy_mwh × spot price ×
    loss_factor`` in micro-dollars (``amount_microdollars``), rounded once, where
    ``loss_factor`` is ``mlf`` for energy sent out and ``load_mlf`` for energy consumed (AEMO
    settles a bidirectional unit's generation at its secondary TLF and its consumption at its
    primary TLF, each times the DLF): positive is paid to the participant, negative charged to
    it. ``amounts`` carry each row's
    ``settlement_date``. Returns ``(amounts, unsettled)``; ``unsettled`` names each
    unit-interval without a unit record, a loss factor or a price, with ``reason``.
    """
    for name, frame, columns in (
        ("energy", energy, UNIT_ENERGY_COLUMNS),
        ("units", units, UNIT_COLUMNS),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"settlement {name} is missing column(s) {', '.join(missing)}")
    if "trading_day" in units.columns and "settlement_date" not in units.columns:
        raise InputError(
            "settlement units are given per trading_day: settlement takes the registration in "
            "force on each settlement date (give a settlement_date column)"
        )
    if "load_mlf" not in units.columns:
        units = units.with_columns(pl.col("mlf").alias("load_mlf"))
    day = settlement_date(pl.col("interval_datetime")).alias("settlement_date")
    energy = energy.with_columns(day)
    keys = ["duid", "settlement_date"] if "settlement_date" in units.columns else ["duid"]
    units = units.select(*keys[1:], *UNIT_COLUMNS, "load_mlf")
    _one_row_each(units, keys, "units")
    _one_row_each(prices, ["regionid", "interval_datetime"], "prices")
    with_unit = join_unique(
        energy, units.join(_statement_order(units), on=STATEMENT_KEYS, how="left"), keys
    ).with_columns(loss_factor())
    with_price = join_unique(
        with_unit,
        prices.select("regionid", "interval_datetime", "spot_price_cents"),
        ["regionid", "interval_datetime"],
    )
    usable_factor = pl.col("loss_factor").is_finite() & (pl.col("loss_factor") > 0)
    unsettled = with_price.filter(
        pl.col("participantid").is_null()
        | pl.col("spot_price_cents").is_null()
        | pl.col("energy_mwh").is_null()
        | pl.col("energy_mwh").is_nan()
        | ~usable_factor.fill_null(False)
    ).select(
        "duid",
        "interval_datetime",
        pl.when(pl.col("participantid").is_null())
        .then(pl.lit("no unit record (participant, region, mlf)"))
        .when(pl.col("spot_price_cents").is_null())
        .then(pl.lit("no spot price for the region and interval"))
        .when(pl.col("energy_mwh").is_null() | pl.col("energy_mwh").is_nan())
        .then(pl.lit("no energy"))
        .otherwise(
            pl.format(
                "no usable loss factor ({})",
                pl.col("loss_factor").cast(pl.String).fill_null("none"),
            )
        )
        .alias("reason"),
    )
    micro = (
        pl.col("energy_mwh")
        * pl.col("spot_price_cents")
        * pl.col("loss_factor")
        * MICRODOLLARS_PER_CENT
    )
    amounts = with_price
    if unsettled.height:
        amounts = amounts.join(
            unsettled.select("duid", "interval_datetime"), on=["duid", "interval_datetime"],
            how="anti",
        )  # fmt: skip
    amounts = amounts.with_columns(
        (micro.sign() * (micro.abs() + 0.5).floor()).cast(pl.Int64).alias("amount_microdollars")
    ).drop("mlf", "load_mlf")
    # by participant, unit and time: the units' place in that order, found among the few
    # hundred units rather than ranking the text of every row
    in_order = sorted_rows(amounts, "statement_order", "interval_datetime")
    return in_order.drop("statement_order"), unsettled


def _one_row_each(frame: pl.DataFrame, keys: list[str], name: str) -> None:
    """Raise :class:`InputError` if ``frame`` repeats a key: each repeat would settle the
    energy again."""
    repeated = frame.filter(pl.struct(keys).is_duplicated())
    if repeated.height:
        first = ", ".join(f"{key} {value}" for key, value in zip(keys, repeated.select(keys).row(0),
                                                                  strict=True))  # fmt: skip
        raise InputError(
            f"settlement {name}: {repeated.height} rows repeat a {', '.join(keys)} (the first: "
            f"{first}); give one row for each"
        )


def _statement_order(units: pl.DataFrame) -> pl.DataFrame:
    """Each (participant, unit) pair of ``units`` with its place in :data:`STATEMENT_KEYS`
    order (``statement_order``, UInt32)."""
    return (
        units.select(STATEMENT_KEYS)
        .drop_nulls()
        .unique()
        .sort(STATEMENT_KEYS)
        .with_row_index("statement_order")
    )
