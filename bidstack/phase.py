"""``bidstack.derive_price_type_phase``: PT and PP derived from frrp (SPEC §3), frame to frame.

:func:`derive_codes` is the part :func:`bidstack.allocate` shares: the unit codes, phase horizons
and look-ahead rows of a frame, handed to :mod:`bidstack.kernel.phase`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Literal

import numpy as np
import polars as pl
import pyarrow as pa

from bidstack.allocation_inputs import (
    as_frame,
    check_unique,
    checked,
    float_column,
    readonly,
    srmc_plus_column,
)
from bidstack.config import INTERVAL_MINUTES
from bidstack.errors import InputError
from bidstack.kernel import codes, phase

PhaseHorizon = int | str | Mapping[str, int] | None
#: The order in which PT's tests run when it is derived from frrp (``codes.PRICE_TYPE_ORDERS``).
PriceTypeOrder = Literal["thresholds_first", "srmc_first"]


def derive_price_type_phase(
    frame: pl.DataFrame | pa.Table,
    *,
    phase_horizon: PhaseHorizon = None,
    fcas_liability: bool = False,
    lookahead: pl.DataFrame | None = None,
    price_type_order: PriceTypeOrder = "thresholds_first",
    interval_minutes: float = INTERVAL_MINUTES,
) -> pl.DataFrame:
    """The input with ``price_type`` and ``price_phase`` (Int8) derived from ``frrp`` (SPEC §3).

    Needs ``duid``, ``interval_datetime``, ``frrp``, ``tp_min``, ``tp_max``, ``srmc`` (and
    ``fcas_liability`` when enabled); ``phase_horizon``, ``lookahead``, ``price_type_order`` and
    ``interval_minutes`` are as for :func:`allocate`. Where PT or PP cannot be known (a missing
    forecast or threshold) the value is null. The input must not have ``price_type`` or
    ``price_phase`` columns already.
    """
    source = as_frame(frame)
    order_code = price_type_order_code(price_type_order)
    present = [c for c in ("price_type", "price_phase") if c in source.columns]
    if present:
        raise InputError(f"input already has column(s) {', '.join(map(repr, present))}")
    needed = ["duid", "interval_datetime", "frrp", "tp_min", "tp_max", "srmc"]
    data = checked(source, needed + (["fcas_liability"] if fcas_liability else []), True)
    check_unique(data)
    price_type, price_phase = derive_codes(
        data, phase_horizon, fcas_liability, lookahead, order_code, interval_minutes
    )
    return source.hstack(price_type_phase_columns(price_type, price_phase).get_columns())


def price_type_phase_columns(price_type: np.ndarray, price_phase: np.ndarray) -> pl.DataFrame:
    """Derived PT and PP as Int8 columns, null where they cannot be known."""
    return pl.DataFrame({"price_type": price_type, "price_phase": price_phase}).with_columns(
        pl.all().replace(codes.MISSING_CODE, None)
    )


def price_type_order_code(price_type_order: PriceTypeOrder) -> int:
    if price_type_order not in codes.PRICE_TYPE_ORDERS:
        raise InputError(
            f"price_type_order must be one of {', '.join(codes.PRICE_TYPE_ORDERS)}; "
            f"got {price_type_order!r}"
        )
    return codes.PRICE_TYPE_ORDERS.index(price_type_order)


def derive_codes(
    data: pl.DataFrame,
    phase_horizon: PhaseHorizon,
    fcas_liability: bool,
    lookahead: pl.DataFrame | None,
    order_code: int,
    interval_minutes: float = INTERVAL_MINUTES,
) -> tuple[np.ndarray, np.ndarray]:
    """PT and PP for every row (SPEC §3), ``codes.MISSING_CODE`` where they cannot be known.

    ``lookahead`` rows follow ``data`` in time: they take part in PP's windows only.
    ``order_code`` is the code of the order PT is tested in (``codes.ORDER_*``);
    ``interval_minutes`` the length of the intervals the horizon counts.
    """
    if not (isinstance(interval_minutes, int | float) and interval_minutes > 0):
        raise InputError(f"interval_minutes must be a positive number; got {interval_minutes!r}")
    n = data.height
    if lookahead is not None and lookahead.height:
        data = _with_lookahead(data, lookahead, phase_horizon, fcas_liability)
    unit_code, n_codes = _unit_codes(data)
    interval = readonly(
        data.get_column("interval_datetime").to_physical().cast(pl.Int64).fill_null(0).to_numpy()
    )
    order, unit_start, unit_of_code = phase.group_units(unit_code, n_codes, interval)
    first_rows = order[unit_start[:-1]] if order.size else unit_start[:-1]
    horizon = _horizon(data, phase_horizon, order, unit_start, first_rows)
    if n_codes > 0 and unit_of_code[n_codes - 1] >= 0 and data.get_column("duid").has_nulls():
        horizon[unit_of_code[n_codes - 1]] = 0  # the rows without a duid
    selected = data.select(
        float_column("frrp"),
        float_column("tp_min"),
        float_column("tp_max"),
        srmc_plus_column(fcas_liability),
    )
    arrays = [readonly(s.to_numpy()) for s in selected.get_columns()]
    price_type = np.empty(data.height, dtype=np.int8)
    price_phase = np.empty(data.height, dtype=np.int8)
    step = _step(data.get_column("interval_datetime").dtype, interval_minutes)
    phase.derive_price_type_phase(
        order, unit_start, horizon, interval, step, *arrays, order_code, price_type, price_phase
    )
    if data.get_column("interval_datetime").has_nulls():
        unknown = data.get_column("interval_datetime").is_null().to_numpy()
        price_phase[unknown] = codes.MISSING_CODE
    return price_type[:n], price_phase[:n]


def _step(dtype: pl.DataType, interval_minutes: float) -> int:
    """An interval's length in the units of ``interval_datetime``'s physical values."""
    per_second = {"ns": 10**9, "us": 10**6, "ms": 10**3}[getattr(dtype, "time_unit", None) or "us"]
    return round(interval_minutes * 60 * per_second)


def _with_lookahead(
    data: pl.DataFrame, lookahead: pl.DataFrame, phase_horizon: PhaseHorizon, fcas_liability: bool
) -> pl.DataFrame:
    """The derivation's columns of ``data`` followed by those of the look-ahead rows."""
    columns = ["duid", "interval_datetime", "frrp", "tp_min", "tp_max", "srmc"]
    columns += ["fcas_liability"] if fcas_liability else []
    if isinstance(phase_horizon, str):
        columns.append(phase_horizon)
    elif phase_horizon is None and "min_run_time" in data.columns:
        columns.append("min_run_time")
    missing = [c for c in columns if c not in lookahead.columns]
    if missing:
        raise InputError(f"lookahead is missing column(s) {', '.join(map(repr, missing))}")
    ahead = checked(as_frame(lookahead), columns, True).select(columns)
    check_unique(ahead)
    both = [frame.select(columns).with_columns(pl.col("duid").cast(pl.String))
            for frame in (data, ahead)]  # fmt: skip
    return pl.concat(both, how="vertical_relaxed")


def _unit_codes(data: pl.DataFrame) -> tuple[np.ndarray, int]:
    """A uint32 code per row identifying its unit (rows without a duid share the last code)."""
    duid = data.get_column("duid")
    if isinstance(duid.dtype, pl.Categorical | pl.Enum):
        physical = duid.to_physical()
    else:
        physical = _run_codes(duid)
        if physical is None:
            physical = duid.cast(pl.String).cast(pl.Categorical).to_physical()
    n_codes = int(physical.max() or 0) + 2
    codes_ = physical.cast(pl.UInt32).fill_null(n_codes - 1).to_numpy()
    return readonly(codes_), n_codes


def _run_codes(duid: pl.Series) -> pl.Series | None:
    """The run number of each row when every unit's rows are together (the usual order), which
    then identifies its unit; None when a unit's rows are in several runs or a duid is null."""
    if duid.is_empty() or duid.has_nulls():
        return None
    runs = duid.rle_id()
    numbers = runs.to_numpy()
    starts = np.searchsorted(numbers, np.arange(numbers[-1] + 1, dtype=numbers.dtype))
    return runs if duid.gather(starts).n_unique() == starts.size else None


def _horizon(
    data: pl.DataFrame,
    phase_horizon: PhaseHorizon,
    order: np.ndarray,
    unit_start: np.ndarray,
    first_rows: np.ndarray,
) -> np.ndarray:
    """Each unit's phase horizon in intervals (int64[n_units]); 0 where it is missing."""
    n_units = unit_start.size - 1
    if phase_horizon is None:
        if "min_run_time" not in data.columns:
            return np.ones(n_units, dtype=np.int64)
        horizon = _per_unit(data, "min_run_time", order, unit_start, first_rows)
        return np.where(np.isnan(horizon), 0, np.maximum(horizon, 1)).astype(np.int64)
    if isinstance(phase_horizon, str):
        if phase_horizon not in data.columns:
            raise InputError(
                f"phase_horizon names column {phase_horizon!r}, which is not in the input"
            )
        horizon = _per_unit(data, phase_horizon, order, unit_start, first_rows)
        below = np.flatnonzero(horizon < 1)
        if below.size:
            duid = data.get_column("duid")[int(first_rows[below[0]])]
            raise InputError(f"column {phase_horizon!r} is below 1 for unit {duid!r}")
        return np.where(np.isnan(horizon), 0, horizon).astype(np.int64)
    if isinstance(phase_horizon, Mapping):
        for duid, value in phase_horizon.items():
            _check_horizon(value, f"phase_horizon[{duid!r}]")
        names = data.get_column("duid").gather(first_rows).cast(pl.String).to_list()
        return np.array([phase_horizon.get(name, 1) for name in names], dtype=np.int64)
    _check_horizon(phase_horizon, "phase_horizon")
    return np.full(n_units, phase_horizon, dtype=np.int64)


def _check_horizon(value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{where} must be a whole number of intervals, at least 1; got {value!r}")


def _per_unit(
    data: pl.DataFrame,
    column: str,
    order: np.ndarray,
    unit_start: np.ndarray,
    first_rows: np.ndarray,
) -> np.ndarray:
    """A column's value per unit (float64, NaN where missing); raise if it changes in a unit."""
    series = data.get_column(column)
    if not series.dtype.is_numeric():
        raise InputError(
            f"column {column!r} must hold whole numbers of intervals, not {series.dtype}"
        )
    if series.dtype.is_integer() and not series.has_nulls():
        values = series.cast(pl.Int64).to_numpy()  # no copy for Int64, the usual dtype
    else:
        values = series.cast(pl.Float64).fill_null(math.nan).to_numpy()
    values = readonly(values)
    n_units = unit_start.size - 1
    value, varies = np.empty(n_units), np.empty(n_units, dtype=np.bool_)
    phase.unit_values(values, order, unit_start, value, varies)
    known = ~np.isnan(value)
    for problem, units in (
        ("changes within", varies),
        ("is not a whole number of intervals for", known & (value != np.floor(value))),
    ):
        if units.any():
            duid = data.get_column("duid")[int(first_rows[np.argmax(units)])]
            raise InputError(f"column {column!r} {problem} unit {duid!r}; give one whole number")
    return value
