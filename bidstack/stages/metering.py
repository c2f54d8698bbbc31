"""Metering: energy (MWh) per unit and interval.

Measured energy comes first where a scenario has it (the historical baseline: the store's
``DISPATCH_UNIT_SCADA``, or NEM12 interval data for a unit whose fleet entry names its NMI); every
other unit-interval is metered from its dispatch. A demand bid's energy is what its retailer
consumed: the bid MW not "generated" back, as a negative number.

Energy in an interval (period ending, length ``h``) is the trapezoid of the unit's output at the
interval's start and end, as AEMO's meter data integrates it:

- SCADA: ``DISPATCH_UNIT_SCADA.SCADAVALUE`` at ``T`` is the unit's output at the *start* of the
  interval ending ``T`` (it equals ``DISPATCHLOAD.INITIALMW`` of that interval: 2,880 of 2,880
  unit-intervals in the 2024-09 sample). So the interval ending ``T`` has
  ``(SCADA(T) + SCADA(T + h)) / 2 × h``. Where ``SCADA(T + h)`` is missing (the end of the data,
  a gap) the start value is held over the interval (``SCADA(T) × h``, source ``scada_held``) and
  the unit-interval is reported (``meter_end_missing``); a null ``SCADA(T)`` meters nothing there
  (the dispatch is used instead) and is reported (``meter_value_missing``).
- Dispatch: a target is the MW to reach at the interval's end from the MW the unit starts it at,
  so its energy is ``(start + target) / 2 × h``. The start is the dispatch stage's
  ``ramp_base_mw`` (the MW its ramp limits counted from: history's INITIALMW, or the unit's own
  previous dispatch); where that is null, the unit's dispatch in the interval just before; where
  neither exists (its first interval without an INITIALMW, or after a gap in its offers) the
  start is taken to be the target (``target × h``, source ``dispatch_flat``) and the
  unit-interval is reported (``energy_start_unknown``).
- A demand bid's MW hold over the whole interval: ``-(bid MW - MW supplied back) × h``.

NEM12 (:func:`nem12_energy`): a unit's energy is its NMI's master active-energy channels, the NMI
suffixes starting ``B`` (energy into the network, positive) and ``E`` (energy taken from it,
negative), in an energy unit (Wh, kWh, MWh), read with quality ``A``, ``E``, ``F`` or ``S``.
Reads longer than the dispatch interval are spread evenly over the dispatch intervals they cover.
What cannot be used is reported, never metered as zero, and the unit-interval is metered from SCADA
(or its dispatch) instead: a ``B``/``E`` channel in a unit of power or anything else not energy,
an interval of quality ``N`` (null data) or ``V`` (variable, no ``400`` record), a value above
what the unit's capacity can deliver in the interval (each named by file and line). Other
channels are reported once and not used: average (``A``, ``D``) and check-meter (``C``, ``F``)
streams repeat the master streams, a net stream (``N``) nets them, and the rest (reactive
energy, power factor, ...) are not active energy (NMI suffixes as AEMO's NMI Procedure lists
them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from bidstack.columns import DEMAND_BID_PREFIX
from bidstack.joins import join_unique
from bidstack.problems import PROBLEM_SCHEMA
from bidstack.sorting import duplicated_rows, sorted_rows
from bidstack.stages.settlement import settlement_date

ENERGY_SCHEMA = {
    "duid": pl.String,
    "interval_datetime": pl.Datetime("us"),
    "energy_mwh": pl.Float64,
    "source": pl.String,
}
KEYS = ["duid", "interval_datetime"]


def meter(
    dispatched: pl.DataFrame,
    offers: pl.DataFrame,
    interval_minutes: float,
    measured: pl.DataFrame | None = None,
    by_unit: np.ndarray | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Energy per unit and interval (``duid, interval_datetime, energy_mwh, source``), and
    problem rows (``energy_start_unknown``).

    ``dispatched``: the dispatch stage's ``units`` (``duid, interval_datetime, dispatch_mw`` and
    ``ramp_base_mw``, the MW each unit starts the interval from). ``offers``: the scenario's
    offers (for the MW of demand bids). ``measured``: optional ``duid, interval_datetime,
    energy_mwh, source``, used instead of the dispatch for the unit-intervals dispatched (the
    first row per unit-interval wins). ``by_unit``: the rows of ``dispatched`` in unit and time
    order, where known (:attr:`~bidstack.stages.dispatch.DispatchResult.by_unit`; else they are
    sorted here). See the module docstring for the energy of a dispatch.

    >>> from datetime import datetime
    >>> units = pl.DataFrame({"duid": ["A", "A"], "dispatch_mw": [100.0, 40.0],
    ...     "interval_datetime": [datetime(2024, 1, 1, 0, 5), datetime(2024, 1, 1, 0, 10)],
    ...     "ramp_base_mw": [60.0, None]})
    >>> energy, _ = meter(units, units.head(0).select("duid", "interval_datetime"), 5)
    >>> energy.get_column("energy_mwh").round(6).to_list()  # (60 + 100) / 2, (100 + 40) / 2 MW
    [6.666667, 5.833333]
    """
    hours = interval_minutes / 60.0
    step = timedelta(minutes=interval_minutes)
    is_bid = pl.col("duid").str.starts_with(DEMAND_BID_PREFIX)
    bid_mw = (
        offers.filter(is_bid).select(*KEYS, pl.col("bandavail1").alias("bid_mw"))
        if "bandavail1" in offers.columns
        else pl.DataFrame(schema={"duid": pl.String, "interval_datetime": pl.Datetime("us"),
                                  "bid_mw": pl.Float64})
    )  # fmt: skip
    base = pl.col("ramp_base_mw") if "ramp_base_mw" in dispatched.columns else pl.lit(None)
    # rows sorted by unit and time: the row before is the unit's previous interval, if it is
    # the same unit's and ends as this one starts
    same_unit = pl.col("duid") == pl.col("duid").shift(1)
    follows = same_unit & (
        (pl.col("interval_datetime") - pl.col("interval_datetime").shift(1)) == pl.lit(step)
    )
    previous = pl.col("dispatch_mw").shift(1)
    rows = dispatched.select(*KEYS, "dispatch_mw", base.cast(pl.Float64).alias("start_mw"))
    rows = (rows[by_unit] if by_unit is not None else sorted_rows(rows, *KEYS)).with_columns(
        pl.coalesce("start_mw", pl.when(follows).then(previous)).alias("start_mw")
    )
    rows = (
        rows.join(bid_mw, on=KEYS, how="left", maintain_order="left")
        if bid_mw.height
        else rows.with_columns(pl.lit(None, pl.Float64).alias("bid_mw"))
    )
    flat = ~is_bid & pl.col("start_mw").is_null()
    energy = rows.select(
        *KEYS,
        pl.when(is_bid)
        .then(-(pl.col("bid_mw") - pl.col("dispatch_mw")) * hours)
        .when(flat)
        .then(pl.col("dispatch_mw") * hours)
        .otherwise((pl.col("start_mw") + pl.col("dispatch_mw")) / 2.0 * hours)
        .alias("energy_mwh"),
        pl.when(is_bid)
        .then(pl.lit("demand bid"))
        .when(flat)
        .then(pl.lit("dispatch_flat"))
        .otherwise(pl.lit("dispatch"))
        .alias("source"),
    )
    if measured is not None and not measured.is_empty():
        measured = measured.select(
            *KEYS, pl.col("energy_mwh").alias("m"), pl.col("source").alias("s")
        )
        if duplicated_rows(measured, *KEYS).any():
            measured = measured.unique(KEYS, keep="first")
        energy = (
            join_unique(energy, measured, KEYS)
            .with_columns(
                pl.coalesce("m", "energy_mwh").alias("energy_mwh"),
                pl.coalesce("s", "source").alias("source"),
            )
            .drop("m", "s")
        )
    problems = energy.filter(pl.col("source") == "dispatch_flat").select(
        pl.lit("energy_start_unknown").alias("kind"),
        pl.lit(None, pl.String).alias("regionid"),
        "duid",
        "interval_datetime",
        pl.lit(
            "no MW at the interval's start (no INITIALMW, no dispatch in the interval before): "
            "metered as the target held over the interval"
        ).alias("detail"),
    )
    return energy.cast(ENERGY_SCHEMA), problems.cast(PROBLEM_SCHEMA)  # sorted by KEYS


def scada_energy(
    scada: pl.DataFrame, interval_minutes: float, until: datetime | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``DISPATCH_UNIT_SCADA`` (``duid, settlementdate, scadavalue``: MW at the *start* of each
    interval) as energy per interval, by the trapezoid of the interval's start and end values,
    and problem rows (``meter_end_missing``, ``meter_value_missing``); see the module docstring.

    Intervals ending after ``until`` (if given) are not metered: give the interval after the
    last one to meter, whose value is that interval's end.

    >>> from datetime import datetime
    >>> t = [datetime(2024, 9, 1, 0, 5), datetime(2024, 9, 1, 0, 10)]
    >>> scada = pl.DataFrame({"duid": "A", "settlementdate": t, "scadavalue": [60.0, 84.0]})
    >>> energy, _ = scada_energy(scada, 5, until=t[0])
    >>> energy.rows()  # (60 + 84) / 2 MW for 5 minutes
    [('A', datetime.datetime(2024, 9, 1, 0, 5), 6.0, 'scada')]
    """
    hours = interval_minutes / 60.0
    step = timedelta(minutes=interval_minutes)
    rows = sorted_rows(
        scada.select("duid", pl.col("settlementdate").alias("interval_datetime"), "scadavalue"),
        *KEYS,
    )
    # sorted by unit and time, an interval's end value is the next row's start value, if that
    # row is the same unit's next interval (a join where a unit-interval repeats)
    same_unit = pl.col("duid").shift(-1) == pl.col("duid")
    gap = pl.col("interval_datetime").shift(-1) - pl.col("interval_datetime")
    if rows.select((same_unit & (gap == timedelta(0))).any()).item():
        following = rows.select(
            "duid",
            (pl.col("interval_datetime") - step).alias("interval_datetime"),
            pl.col("scadavalue").alias("end_mw"),
        )
        joined = join_unique(rows, following, KEYS)
    else:
        end = pl.when(same_unit & (gap == step)).then(pl.col("scadavalue").shift(-1))
        joined = rows.with_columns(end.alias("end_mw"))
    if until is not None:
        joined = joined.filter(pl.col("interval_datetime") <= until)
    missing = joined.filter(pl.col("scadavalue").is_null())
    usable = joined.filter(pl.col("scadavalue").is_not_null())
    held = pl.col("end_mw").is_null()
    energy = usable.select(
        *KEYS,
        pl.when(held)
        .then(pl.col("scadavalue") * hours)
        .otherwise((pl.col("scadavalue") + pl.col("end_mw")) / 2.0 * hours)
        .alias("energy_mwh"),
        pl.when(held).then(pl.lit("scada_held")).otherwise(pl.lit("scada")).alias("source"),
    )
    problems = pl.concat(
        [
            _problems(
                usable.filter(held),
                "meter_end_missing",
                "no DISPATCH_UNIT_SCADA value at the interval's end: its start value is held "
                "over the interval",
            ),
            _problems(
                missing,
                "meter_value_missing",
                "DISPATCH_UNIT_SCADA value is null: the interval is metered from dispatch",
            ),
        ]
    )
    return energy.cast(ENERGY_SCHEMA), problems


def _problems(frame: pl.DataFrame, kind: str, detail: str) -> pl.DataFrame:
    return frame.select(
        pl.lit(kind).alias("kind"),
        pl.lit(None, pl.String).alias("regionid"),
        "duid",
        "interval_datetime",
        pl.lit(detail).alias("detail"),
    ).cast(PROBLEM_SCHEMA)


def nem12_energy(
    reads: pl.DataFrame,
    nmi_of_unit: dict[str, str],
    interval_minutes: float,
    capacity: dict[str, float] | pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """NEM12 interval reads of the units' NMIs as energy per unit and dispatch interval, and
    problem rows for what cannot be used (see the module docstring).

    ``reads``: rows of the ``nem12_interval`` table. ``capacity``: MW per unit, to refuse values
    no unit of that size could deliver (10% over it, for meter and rounding tolerance): a dict,
    or a frame of ``duid, settlement_date, max_capacity`` (the capacity in force on each
    settlement date of a read's end, so that a read is judged alike whatever window holds it).
    """
    empty = pl.DataFrame(schema=ENERGY_SCHEMA), pl.DataFrame(schema=PROBLEM_SCHEMA)
    if reads.is_empty() or not nmi_of_unit:
        return empty
    units = pl.DataFrame({"duid": list(nmi_of_unit), "nmi": list(nmi_of_unit.values())})
    channels = reads.join(units, on="nmi").with_columns(pl.col("energy_mwh").cast(pl.Float64))
    if channels.is_empty():
        return empty
    first = pl.col("nmi_suffix").str.slice(0, 1).str.to_uppercase()
    master = first.is_in(["B", "E"])
    problems = [_unused_channels(channels.filter(~master))]
    rows = _with_capacity(channels.filter(master), capacity).with_columns(
        pl.when(first == "B").then(1.0).otherwise(-1.0).alias("sign"),
        _unusable().alias("unusable"),
    )
    problems.append(_unusable_reads(rows.filter(pl.col("unusable").is_not_null())))
    parts = (pl.col("interval_minutes") / interval_minutes).round(0).cast(pl.Int64).clip(1)
    spread = rows.with_columns(parts.alias("parts")).with_columns(
        pl.int_ranges(0, pl.col("parts")).alias("k")
    )
    spread = spread.explode("k").with_columns(
        (pl.col("interval_datetime") - pl.duration(minutes=pl.col("k") * interval_minutes)).alias(
            "interval_datetime"
        ),
        (pl.col("sign") * pl.col("energy_mwh") / pl.col("parts")).alias("energy_mwh"),
    )
    energy = (
        spread.group_by("duid", "interval_datetime")
        .agg(pl.col("energy_mwh").sum(), pl.col("unusable").is_null().all().alias("usable"))
        .filter("usable")
        .with_columns(pl.lit("nem12").alias("source"))
        .select(list(ENERGY_SCHEMA))
    )
    return energy.cast(ENERGY_SCHEMA), pl.concat(problems).cast(PROBLEM_SCHEMA)


def _with_capacity(
    rows: pl.DataFrame, capacity: dict[str, float] | pl.DataFrame | None
) -> pl.DataFrame:
    """``rows`` with each unit's ``capacity_mw`` (null: unknown) on its read's settlement date."""
    if capacity is None or isinstance(capacity, dict):
        mw = pl.col("duid").replace_strict(capacity or {}, default=None, return_dtype=pl.Float64)
        return rows.with_columns(mw.alias("capacity_mw"))
    day = settlement_date(pl.col("interval_datetime")).alias("settlement_date")
    in_force = capacity.select(
        "duid", pl.col("settlement_date").cast(pl.Date), pl.col("max_capacity").alias("capacity_mw")
    ).unique(["duid", "settlement_date"], keep="first")
    return (
        rows.with_columns(day)
        .join(in_force, on=["duid", "settlement_date"], how="left", maintain_order="left")
        .drop("settlement_date")
    )


def _unusable() -> pl.Expr:
    """Why a master channel's read cannot be metered, or null."""
    flag = pl.col("quality_method").str.slice(0, 1)
    limit = pl.col("capacity_mw") * 1.1 * pl.col("interval_minutes") / 60.0
    return (
        pl.when(pl.col("energy_mwh").is_null())
        .then(pl.format("unit of measure {} is not energy", "uom"))
        .when(flag == "N")
        .then(pl.lit("quality N: null data"))
        .when(flag == "V")
        .then(pl.lit("quality V without a 400 record"))
        .when(pl.col("energy_mwh") > limit)
        .then(
            pl.format(
                "{} MWh in {} minutes is more than the unit's capacity delivers",
                pl.col("energy_mwh").round(6),
                "interval_minutes",
            )
        )
    )


def _unusable_reads(rows: pl.DataFrame) -> pl.DataFrame:
    """One problem row per unit, day's record and reason: where, how many intervals, why."""
    return (
        rows.group_by("duid", "nmi", "nmi_suffix", "source_file", "source_line", "unusable")
        .agg(pl.col("interval_datetime").min(), pl.len().alias("n"))
        .sort("duid", "interval_datetime")
        .select(
            pl.lit("meter_read_not_used").alias("kind"),
            pl.lit(None, pl.String).alias("regionid"),
            "duid",
            "interval_datetime",
            pl.format(
                "NEM12 {}:{} NMI {} {}: {} ({} interval(s) from this one); metered from SCADA "
                "or dispatch instead",
                "source_file",
                "source_line",
                "nmi",
                "nmi_suffix",
                "unusable",
                "n",
            ).alias("detail"),
        )
    )


def _unused_channels(rows: pl.DataFrame) -> pl.DataFrame:
    """One problem row per unit and channel that is not a master active-energy stream."""
    first = pl.col("nmi_suffix").str.slice(0, 1).str.to_uppercase()
    why = (
        pl.when(first.is_in(["A", "D"]))
        .then(pl.lit("an average stream, which repeats the master streams"))
        .when(first.is_in(["C", "F"]))
        .then(pl.lit("a check-meter stream, which repeats the master streams"))
        .when(first == "N")
        .then(pl.lit("a net stream, which nets the master streams"))
        .otherwise(pl.lit("not an active-energy stream"))
    )
    return (
        rows.group_by("duid", "nmi", "nmi_suffix", "uom")
        .agg(pl.col("interval_datetime").min(), pl.col("source_file").first(), pl.len())
        .sort("duid", "nmi_suffix")
        .select(
            pl.lit("meter_channel_not_used").alias("kind"),
            pl.lit(None, pl.String).alias("regionid"),
            "duid",
            "interval_datetime",
            pl.format(
                "NEM12 NMI {} channel {} ({}, {} interval(s), {}) is {}: not used",
                "nmi",
                "nmi_suffix",
                "uom",
                "len",
                "source_file",
                why,
            ).alias("detail"),
        )
    )
