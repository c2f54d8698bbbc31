"""The dispatch stage: offers and demand frames in; dispatch per unit, price per region out.

This module owns columns, validation and problem reporting; the merit-order loop and the exact
semantics (limits, ties, price at band boundaries, forced energy, ramp base after a gap) are in
:mod:`bidstack.kernel.dispatch`.

Bad values never become zeros. A frame that cannot be read (a missing column, a column that cannot
be cast, a null key, a unit in two regions) raises :class:`~bidstack.errors.InputError` before any
work. A bad row is left out of dispatch and reported in ``problems`` with one row per fault, so
every offer row comes out either in ``units`` or in ``problems``:

=========================  =============================================================
kind                       row left out
=========================  =============================================================
``missing_price``          offer with a null or non-finite band price
``missing_availability``   offer with a null or non-finite band quantity, or NaN maxavail
``negative_availability``  offer with a negative band quantity or maxavail
``prices_not_ascending``   offer whose band prices do not strictly ascend
``bad_mlf``                offer whose mlf is not finite and positive
``bad_ramp_rate``          offer with a negative or NaN rocup / rocdown
``duplicate_offer``        every offer of a unit that appears twice in an interval
``offer_without_demand``   offer whose region-interval has no usable demand row
``missing_demand``         demand row with a null or non-finite demand (``duid`` null)
``duplicate_demand``       every demand row of a region-interval given twice (``duid`` null)
``bad_price_limits``       demand row whose cap or floor is not finite or cap <= floor
``demand_without_offers``  usable demand row with no valid offer (``duid`` null)
=========================  =============================================================
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import polars as pl

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.errors import InputError
from bidstack.kernel import dispatch as kernel

KEYS = ("regionid", "interval_datetime")

OFFER_COLUMNS = {
    "regionid": pl.String,
    "duid": pl.String,
    "interval_datetime": pl.Datetime,
    **dict.fromkeys(PRICE_BANDS + BAND_VOLUMES, pl.Float64),
}
OPTIONAL_OFFER_COLUMNS = dict.fromkeys(("maxavail", "rocup", "rocdown", "mlf"), pl.Float64)
DEMAND_COLUMNS = {"regionid": pl.String, "interval_datetime": pl.Datetime, "demand": pl.Float64}
OPTIONAL_DEMAND_COLUMNS = dict.fromkeys(("market_price_cap", "market_floor_price"), pl.Float64)
INITIAL_MW_COLUMNS = {"duid": pl.String, "initial_mw": pl.Float64}

Check = tuple[str, pl.Expr, pl.Expr]
"""A fault: its ``kind``, the condition flagging a row, and an expression describing it."""


@dataclass(frozen=True)
class DispatchResult:
    """What :func:`dispatch` returns.

    ``units``: one row per dispatched offer: ``duid, regionid, interval_datetime, dispatch_mw,
    lower_mw, upper_mw`` (the unit's limits in that interval), ``ramp_base_mw`` (the output its
    ramp rates count from: its previous dispatch, or ``initial_mw`` at its first interval; null
    after a gap or without ``initial_mw``, when no ramp limit applies), ``ramp_up_limited`` (the
    upper limit is the ramp-up limit), ``ramp_down_limited`` (the lower limit is the ramp-down
    limit) and ``ramp_down_cut`` (that limit exceeded the upper limit and was cut to it).

    ``regions``: one row per dispatched region-interval: ``regionid, interval_datetime, price``
    ($/MWh at the regional reference node), ``demand, dispatched_mw, unserved_mw, oversupply_mw,
    marginal_duid`` (the first unit, in merit order, of the price-setting band; null when the cap
    or floor sets the price), ``price_source`` (``offer``, ``market_price_cap`` or
    ``market_floor_price``) and ``interval_minutes``.

    ``problems``: ``kind, regionid, duid, interval_datetime, detail``, one row per fault found.
    """

    units: pl.DataFrame
    regions: pl.DataFrame
    problems: pl.DataFrame


def dispatch(
    offers: pl.DataFrame,
    demand: pl.DataFrame,
    *,
    initial_mw: pl.DataFrame | None = None,
    market_price_cap: float = 15000.0,
    market_floor_price: float = -1000.0,
    interval_minutes: float | None = None,
) -> DispatchResult:
    """Dispatch each region and interval by merit order.

    ``offers``: ``regionid, duid, interval_datetime`` (period ending), ``priceband1..10`` ($/MWh as
    offered), ``bandavail1..10`` (MW), and optionally ``maxavail`` (MW; null: no cap beyond the
    bands), ``rocup`` / ``rocdown`` (MW/min; null: no limit) and ``mlf`` (null: 1.0). ``demand``:
    ``regionid, interval_datetime, demand`` (MW), and optionally per-row ``market_price_cap`` and
    ``market_floor_price`` (null: the keyword's value). ``initial_mw``: ``duid, initial_mw``, each
    unit's output before its first interval (null or absent: no ramp limit in that interval).

    The interval length of each region is the smallest spacing of its intervals (offers and demand
    together); every spacing must be a whole number of it, so one call covers one interval length
    (5 minutes since 2021-10-01, 30 before). ``interval_minutes`` overrides it for all regions and
    is required when a region has a single interval.
    """
    _check_limits(market_price_cap, market_floor_price)
    if interval_minutes is not None and not interval_minutes > 0:
        raise InputError(f"interval_minutes must be positive, not {interval_minutes}")
    offers = _conform(offers, "offers", OFFER_COLUMNS, OPTIONAL_OFFER_COLUMNS)
    time_dtype = offers.schema["interval_datetime"]
    demand = _conform(demand, "demand", DEMAND_COLUMNS, OPTIONAL_DEMAND_COLUMNS, time_dtype)
    initial = _initial_mw(initial_mw)
    _check_unit_regions(offers)

    demand = demand.with_columns(
        pl.col("market_price_cap").fill_null(market_price_cap),
        pl.col("market_floor_price").fill_null(market_floor_price),
    )
    demand_ok, demand_problems = _screen(demand, _demand_checks(), duid=pl.lit(None, pl.String))
    usable = demand.filter(demand_ok)
    has_demand = offers.select(KEYS).join(
        usable.select(*KEYS, _has_demand=pl.lit(True)), on=KEYS, how="left", maintain_order="left"
    )["_has_demand"]
    order, rows = _layout(offers)
    offers = offers.with_columns(has_demand.fill_null(False), _duplicate=_duplicates(order, rows))
    offer_ok, offer_problems = _screen(offers, _offer_checks(), duid=pl.col("duid"))
    offered = offers.select(KEYS).filter(offer_ok).unique()
    orphans = usable.join(offered, on=KEYS, how="anti")
    problems = pl.concat(
        [
            offer_problems,
            demand_problems,
            _problem_rows(
                orphans, "demand_without_offers", pl.lit(None, pl.String), pl.lit("no valid offer")
            ),
        ]
    ).sort("regionid", "interval_datetime", "duid", "kind", nulls_last=True)

    times = pl.concat([offers.select(KEYS), demand.select(KEYS)]).join(
        offered, on="regionid", how="semi"
    )
    minutes = _interval_minutes(times.unique(), interval_minutes)
    keep = offer_ok.to_numpy()[order]
    units, regions = _run_kernel(offers, order[keep], rows.filter(keep), usable, initial, minutes)
    return DispatchResult(units=units, regions=regions, problems=problems)


def _conform(
    frame: pl.DataFrame,
    name: str,
    required: dict,
    optional: dict,
    time_dtype: pl.DataType | None = None,
) -> pl.DataFrame:
    """``frame`` reduced to the known columns, cast to their dtypes; absent optionals are null."""
    if not isinstance(frame, pl.DataFrame):
        raise InputError(f"{name} must be a polars DataFrame, not {type(frame).__name__}")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InputError(f"{name} is missing column(s): {', '.join(missing)}")
    columns = []
    for column, dtype in (required | optional).items():
        if column not in frame.columns:
            columns.append(pl.lit(None, dtype).alias(column))
        elif dtype == pl.Datetime:
            columns.append(_time_column(frame, name, column, time_dtype))
        else:
            columns.append(_cast_column(frame, name, column, dtype))
    selected = frame.select(columns)
    keys = [column for column, dtype in required.items() if dtype != pl.Float64]
    for column, nulls in zip(keys, selected.select(pl.col(keys).null_count()).row(0), strict=True):
        if nulls:
            raise InputError(f"{name}.{column} has {nulls} null value(s)")
    return selected


def _time_column(
    frame: pl.DataFrame, name: str, column: str, time_dtype: pl.DataType | None
) -> pl.Expr:
    dtype = frame.schema[column]
    if not isinstance(dtype, pl.Datetime):
        raise InputError(f"{name}.{column} must be a Datetime column, not {dtype}")
    if time_dtype is not None and dtype.time_zone != time_dtype.time_zone:
        raise InputError(
            f"{name}.{column} has time zone {dtype.time_zone}, offers have {time_dtype.time_zone}"
        )
    return pl.col(column).dt.cast_time_unit("us")


def _cast_column(frame: pl.DataFrame, name: str, column: str, dtype: pl.DataType) -> pl.Expr:
    actual = frame.schema[column]
    if actual == dtype:
        return pl.col(column)
    readable = actual in (pl.String, pl.Null) or (
        actual.is_numeric() if dtype == pl.Float64 else isinstance(actual, pl.Categorical)
    )
    if readable:
        try:
            frame.select(pl.col(column).cast(dtype, strict=True))
        except pl.exceptions.PolarsError:
            readable = False
    if not readable:
        raise InputError(f"{name}.{column} cannot be read as {dtype} (it is {actual})")
    return pl.col(column).cast(dtype)


def _initial_mw(initial_mw: pl.DataFrame | None) -> pl.DataFrame:
    """The ``initial_mw`` frame checked: one finite, non-negative value (or null) per unit."""
    if initial_mw is None:
        return pl.DataFrame(schema=INITIAL_MW_COLUMNS)
    initial = _conform(initial_mw, "initial_mw", INITIAL_MW_COLUMNS, {})
    repeated = initial.filter(pl.col("duid").is_duplicated())["duid"].unique().sort()
    if len(repeated):
        raise InputError(f"initial_mw gives more than one value for duid {repeated[0]}")
    value = pl.col("initial_mw")
    bad = initial.filter((value < 0) | ~value.is_finite())
    if len(bad):
        duid, mw = bad.row(0)
        raise InputError(f"initial_mw for duid {duid} is {mw}; it must be a finite MW >= 0")
    return initial


def _check_limits(market_price_cap: float, market_floor_price: float) -> None:
    if not (np.isfinite(market_price_cap) and np.isfinite(market_floor_price)):
        raise InputError("market_price_cap and market_floor_price must be finite")
    if market_price_cap <= market_floor_price:
        raise InputError(
            f"market_price_cap ({market_price_cap}) must exceed "
            f"market_floor_price ({market_floor_price})"
        )


def _check_unit_regions(offers: pl.DataFrame) -> None:
    pairs = offers.select("duid", "regionid").unique()
    split = pairs.filter(pl.col("duid").is_duplicated()).sort("duid", "regionid")
    if len(split):
        duid = split["duid"][0]
        names = ", ".join(split.filter(duid=duid)["regionid"])
        raise InputError(f"offers: duid {duid} offers in more than one region ({names})")


def _interval_minutes(times: pl.DataFrame, interval_minutes: float | None) -> pl.DataFrame:
    """``regionid, interval_minutes`` for each region in ``times`` (its distinct intervals in
    offers and demand together): the smallest spacing, of which every spacing is a multiple."""
    steps = (
        times.sort(KEYS)
        .with_columns(
            step=(pl.col("interval_datetime").diff().dt.total_microseconds() / 60e6).over(
                "regionid"
            )
        )
        .group_by("regionid")
        .agg(pl.col("step").drop_nulls())
        .sort("regionid")
    )
    lengths = []
    for region, step in steps.iter_rows():
        if interval_minutes is not None:
            minutes = float(interval_minutes)
        elif step:
            minutes = min(step)
        else:
            raise InputError(
                f"region {region} has a single interval; give interval_minutes= to dispatch it"
            )
        uneven = [s for s in step if abs(s / minutes - round(s / minutes)) > 1e-9]
        if uneven:
            raise InputError(
                f"region {region}: intervals {uneven[0]} minutes apart do not fit an interval "
                f"length of {minutes} minutes; dispatch data of different interval lengths apart"
            )
        lengths.append((region, minutes))
    return pl.DataFrame(
        lengths, schema={"regionid": pl.String, "interval_minutes": pl.Float64}, orient="row"
    )


def _column_check(kind: str, columns: dict[str, pl.Expr]) -> Check:
    """A fault found column by column: flagged when any condition holds; the detail names each
    column that fails with its value (``bandavail2=-5.0``)."""
    conditions = {column: condition.fill_null(False) for column, condition in columns.items()}
    detail = pl.concat_str(
        [
            pl.when(condition).then(
                pl.concat_str(
                    pl.lit(f"{column}="), pl.col(column).cast(pl.String).fill_null("null")
                )
            )
            for column, condition in conditions.items()
        ],
        separator=", ",
        ignore_nulls=True,
    )
    return kind, pl.any_horizontal(list(conditions.values())), detail


def _missing(column: str) -> pl.Expr:
    return pl.col(column).is_null() | ~pl.col(column).is_finite()


def _offer_checks() -> list[Check]:
    ascending = {
        high: (pl.col(high) <= pl.col(low)) & pl.col(high).is_finite() & pl.col(low).is_finite()
        for low, high in itertools.pairwise(PRICE_BANDS)
    }
    repeats = pl.len().over("duid", "interval_datetime")  # in details: only on flagged rows
    return [
        _column_check("missing_price", {c: _missing(c) for c in PRICE_BANDS}),
        _column_check(
            "missing_availability",
            {c: _missing(c) for c in BAND_VOLUMES} | {"maxavail": pl.col("maxavail").is_nan()},
        ),
        _column_check(
            "negative_availability", {c: pl.col(c) < 0 for c in (*BAND_VOLUMES, "maxavail")}
        ),
        _column_check("prices_not_ascending", ascending),
        _column_check("bad_mlf", {"mlf": (pl.col("mlf") <= 0) | ~pl.col("mlf").is_finite()}),
        _column_check(
            "bad_ramp_rate", {c: (pl.col(c) < 0) | pl.col(c).is_nan() for c in ("rocup", "rocdown")}
        ),
        (
            "duplicate_offer",
            pl.col("_duplicate"),
            pl.format("{} offers for this unit and interval", repeats),
        ),
        (
            "offer_without_demand",
            ~pl.col("_has_demand"),
            pl.lit("no usable demand row for this region and interval"),
        ),
    ]


def _demand_checks() -> list[Check]:
    cap, floor = pl.col("market_price_cap"), pl.col("market_floor_price")
    repeats = pl.len().over(KEYS)
    limits = (cap <= floor) | ~cap.is_finite() | ~floor.is_finite()
    return [
        _column_check("missing_demand", {"demand": _missing("demand")}),
        (
            "duplicate_demand",
            pl.struct(KEYS).is_duplicated(),
            pl.format("{} demand rows for this interval", repeats),
        ),
        _column_check(
            "bad_price_limits",
            {"market_price_cap": limits, "market_floor_price": limits},
        ),
    ]


def _screen(
    frame: pl.DataFrame, checks: list[Check], duid: pl.Expr
) -> tuple[pl.Series, pl.DataFrame]:
    """The mask of rows no check flags, and one problem row per (row, fault)."""
    flags = frame.select(condition.alias(kind) for kind, condition, _ in checks)
    problems = [
        _problem_rows(frame.filter(flags[kind]), kind, duid, detail) for kind, _, detail in checks
    ]
    return ~flags.select(pl.any_horizontal(pl.all())).to_series(), pl.concat(problems)


def _problem_rows(frame: pl.DataFrame, kind: str, duid: pl.Expr, detail: pl.Expr) -> pl.DataFrame:
    return frame.select(
        kind=pl.lit(kind),
        regionid="regionid",
        duid=duid,
        interval_datetime="interval_datetime",
        detail=detail,
    )


def _layout(offers: pl.DataFrame) -> tuple[np.ndarray, pl.DataFrame]:
    """The arg-sort of the offers by (region, interval, duid), the kernel's row order, and their
    ``duid, regionid, interval_datetime`` in that order. Every later step gathers columns through
    it: the wide frame is never sorted or filtered whole."""
    order = offers.select(pl.arg_sort_by("regionid", "interval_datetime", "duid")).to_series()
    return _array(order, np.int64), offers.select("duid", "regionid", "interval_datetime")[order]


def _duplicates(order: np.ndarray, rows: pl.DataFrame) -> pl.Series:
    """Per offer row: whether another has the same duid and interval (a neighbour in ``rows``)."""
    same = (pl.col("duid") == pl.col("duid").shift(1)) & (
        pl.col("interval_datetime") == pl.col("interval_datetime").shift(1)
    )
    repeated = rows.select((same | same.shift(-1)).fill_null(False)).to_series().to_numpy()
    duplicate = np.empty(len(order), np.bool_)
    duplicate[order] = repeated
    return pl.Series(duplicate)


def _run_kernel(
    offers: pl.DataFrame,
    order: np.ndarray,
    rows: pl.DataFrame,
    demand: pl.DataFrame,
    initial: pl.DataFrame,
    minutes: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Run :func:`bidstack.kernel.dispatch.dispatch_regions` on the valid offer rows ``order``
    (positions in ``offers``, in kernel order; ``rows`` holds their keys) and frame its results."""
    units = rows.select("regionid", "duid").unique().sort("regionid", "duid")
    row_unit = _array(rows["duid"].cast(pl.Enum(units["duid"])).to_physical(), np.int64)
    row_price_set, band_price = _price_sets(offers, order, row_unit)
    new_interval = (pl.col("interval_datetime") != pl.col("interval_datetime").shift(1)) | (
        pl.col("regionid") != pl.col("regionid").shift(1)
    )
    starts = np.flatnonzero(rows.select(new_interval.fill_null(True)).to_series().to_numpy())
    intervals = (
        rows.select(KEYS)[starts]
        .join(demand, on=KEYS, how="left", maintain_order="left")
        .join(minutes, on="regionid", how="left", maintain_order="left")
    )
    elapsed = pl.col("interval_datetime").diff().dt.total_microseconds()
    follows = (pl.col("regionid") == pl.col("regionid").shift(1)) & (
        elapsed == (pl.col("interval_minutes") * 60e6).round().cast(pl.Int64)
    )
    regions = intervals.group_by("regionid", maintain_order=True).agg(
        pl.len().alias("_intervals"), pl.first("interval_minutes")
    )
    initial_mw = units.join(initial, on="duid", how="left", maintain_order="left")["initial_mw"]

    def per_row(column: str) -> np.ndarray:
        return offers[column].fill_null(np.inf).to_numpy()[order]

    band_avail = np.empty((len(order), kernel.BANDS))
    for k, column in enumerate(BAND_VOLUMES):
        band_avail[:, k] = offers[column].to_numpy()[order]
    (
        dispatch_mw,
        lower_mw,
        upper_mw,
        ramp_base_mw,
        limit_flags,
        price,
        unserved_mw,
        oversupply_mw,
        dispatched_mw,
        marginal_row,
        price_source,
    ) = kernel.dispatch_regions(
        _offsets(regions["_intervals"]),
        np.append(starts, len(order)).astype(np.int64),
        _array(intervals.select(follows.fill_null(False)).to_series(), np.bool_),
        _array(intervals["demand"], np.float64),
        _array(intervals["market_price_cap"], np.float64),
        _array(intervals["market_floor_price"], np.float64),
        _array(regions["interval_minutes"], np.float64),
        _offsets(units.group_by("regionid", maintain_order=True).len()["len"]),
        row_unit,
        row_price_set,
        band_avail,
        per_row("maxavail"),
        per_row("rocup"),
        per_row("rocdown"),
        _array(initial_mw.fill_null(np.nan), np.float64),
        band_price,
    )
    units_out = rows.with_columns(
        dispatch_mw=dispatch_mw,
        lower_mw=lower_mw,
        upper_mw=upper_mw,
        ramp_base_mw=pl.Series(ramp_base_mw).fill_nan(None),
        ramp_up_limited=(limit_flags & kernel.RAMP_UP_LIMIT) > 0,
        ramp_down_limited=(limit_flags & kernel.RAMP_DOWN_LIMIT) > 0,
        ramp_down_cut=(limit_flags & kernel.RAMP_DOWN_CUT) > 0,
    )
    marginal = pl.Series(marginal_row)
    regions_out = intervals.select(
        "regionid",
        "interval_datetime",
        price=price,
        demand="demand",
        dispatched_mw=dispatched_mw,
        unserved_mw=unserved_mw,
        oversupply_mw=oversupply_mw,
        marginal_duid=rows["duid"].gather(
            pl.select(pl.when(marginal >= 0).then(marginal)).to_series()
        ),
        price_source=pl.Series(price_source).replace_strict(
            dict(enumerate(kernel.PRICE_SOURCES)), return_dtype=pl.String
        ),
        interval_minutes="interval_minutes",
    )
    return units_out, regions_out


def _price_sets(
    offers: pl.DataFrame, order: np.ndarray, row_unit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Number each unit's runs of unchanged referred band prices: ``row_price_set`` for the rows
    in kernel order, and ``band_price``, one row of referred prices per set."""
    # each unit's rows in time order; a small integer type lets numpy radix-sort
    by_unit = np.argsort(
        row_unit.astype(np.min_scalar_type(row_unit.max(initial=0))), kind="stable"
    )
    source = order[by_unit]
    changed = np.ones(len(source), np.bool_)
    changed[1:] = row_unit[by_unit][1:] != row_unit[by_unit][:-1]
    mlf = offers["mlf"].fill_null(1.0)
    for column in PRICE_BANDS:
        price = (offers[column] / mlf).to_numpy()[source]
        changed[1:] |= price[1:] != price[:-1]
    row_price_set = np.empty(len(source), np.int64)
    row_price_set[by_unit] = np.cumsum(changed) - 1
    firsts = offers[source[changed]]
    return row_price_set, _matrix(firsts.select(pl.col(PRICE_BANDS) / pl.col("mlf").fill_null(1.0)))


def _offsets(counts: pl.Series) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]`` as int64: where each group starts, and the end."""
    return np.concatenate([[0], np.cumsum(counts.to_numpy(), dtype=np.int64)])


def _matrix(frame: pl.DataFrame) -> np.ndarray:
    """A frame of Float64 columns as a (rows, columns) float64 array for the kernel."""
    return np.require(frame.to_numpy(), np.float64, "CW")


def _array(series: pl.Series, dtype: type) -> np.ndarray:
    """A series as a writable C-ordered array: the one array type the kernel is compiled for."""
    return np.require(series.to_numpy(), dtype, "CW")
