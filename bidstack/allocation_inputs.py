"""The frame side of the allocation kernel: input columns checked, cast and handed over.

One policy for every array the kernels see: read-only, C-contiguous, converted once
(:func:`readonly`); :func:`kernel_inputs` gives :func:`bidstack.kernel.allocation.allocate_rows`
its data arguments as one :class:`AllocationInputs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa

from bidstack.columns import PRICE_BANDS
from bidstack.errors import InputError
from bidstack.kernel import codes
from bidstack.kernel.keys import unit_codes_nb

REQUIRED = (
    "duid",
    "interval_datetime",
    *PRICE_BANDS,
    "max_capacity",
    "tp_min",
    "tp_max",
    "srmc",
    "constraint_status",
    "semidispatchcap",
)


def as_frame(frame: pl.DataFrame | pa.Table) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pa.Table | pa.RecordBatch):
        return pl.DataFrame(frame)
    raise InputError(
        f"allocate() takes a Polars DataFrame or an Arrow table, not {type(frame).__name__}"
    )


def needed_columns(uses_frrp: bool, derived: bool, fcas_liability: bool) -> list[str]:
    needed = list(REQUIRED)
    if derived or uses_frrp:
        needed.append("frrp")
    if not derived:
        needed += ["price_type", "price_phase"]
    if fcas_liability:
        needed.append("fcas_liability")
    return needed


def checked(
    data: pl.DataFrame, needed: Sequence[str], derived: bool, written: Sequence[str] = ()
) -> pl.DataFrame:
    """Check names and dtypes of the input columns; cast what can be cast, or raise.

    Callers then call :func:`check_unique` (it needs the columns this checks)."""
    missing = [name for name in needed if name not in data.columns]
    if missing:
        why = " (PT and PP are derived from it)" if derived and "frrp" in missing else ""
        raise InputError(f"input is missing column(s) {', '.join(map(repr, missing))}{why}")
    clashes = [name for name in written if name in data.columns]
    if clashes:
        raise InputError(
            f"input already has column(s) {', '.join(map(repr, clashes))}, which allocate() "
            "would write; rename or drop them first"
        )
    casts = {}
    for name in [*needed, *(["mlf"] if "mlf" in data.columns else [])]:
        dtype = data.schema[name]
        if name == "duid":
            continue
        if name == "interval_datetime":
            if not (isinstance(dtype, pl.Datetime) or dtype == pl.Date):
                casts[name] = pl.Datetime
        elif not (dtype.is_numeric() or dtype == pl.Boolean or dtype == pl.Null):
            casts[name] = pl.Float64
    for name, target in casts.items():
        try:
            data = data.with_columns(pl.col(name).cast(target, strict=True))
        except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
            raise InputError(
                f"column {name!r} has dtype {data.schema[name]} and cannot be cast to {target}: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
    return data


class UnitCodes(NamedTuple):
    """A dense code per row for its unit (int32; units whose duids share a hash share a code, so
    a code is a hint, as the allocation kernel's offer cache uses it) and the number of codes."""

    code: np.ndarray
    n_units: int


def check_unique(data: pl.DataFrame) -> UnitCodes:
    """Raise :class:`InputError` if a unit has two rows for one interval (which is its offer?).

    Rows grouped by unit or in interval-major order prove themselves in the pass that numbers the
    units (each unit's intervals increase); other orders are counted in full. Returns the units'
    codes.
    """
    key = ["duid", "interval_datetime"]
    code, n_units, increase = unit_codes(data.get_column("duid"), _interval_keys(data))
    units = UnitCodes(code, n_units)
    if data.height < 2 or increase:
        return units
    if data.select(key).n_unique() == data.height:
        return units
    repeated = data.with_row_index("row").filter(pl.struct(key).is_duplicated())
    first = repeated.row(0, named=True)
    count = repeated.select(key).n_unique()
    raise InputError(
        f"input has {repeated.height} rows for {count} (duid, interval_datetime) pair(s) given "
        f"more than once, first duid {first['duid']!r} at {first['interval_datetime']} (row "
        f"{first['row']}): one row per unit and interval"
    )


def unit_codes(duid: pl.Series, interval: np.ndarray) -> tuple[np.ndarray, int, bool]:
    """:func:`bidstack.kernel.keys.unit_codes_nb` of a duid column, without hashing the strings
    where it can: a String column's Arrow views (each holds a duid of up to 12 bytes whole), or a
    Categorical's or Enum's physical codes; else Polars' hash of each duid."""
    code = np.empty(duid.len(), dtype=np.int32)
    views = _string_views(duid)
    if views is not None:
        n_units, increase = unit_codes_nb(views, interval, code)
        if n_units >= 0:
            return code, n_units, increase
    if isinstance(duid.dtype, pl.Categorical | pl.Enum):
        words = duid.to_physical().cast(pl.UInt64).fill_null(1 << 32)
    else:
        words = duid.hash()
    keys = np.zeros((duid.len(), 2), dtype=np.uint64)
    keys[:, 1] = words.to_numpy()
    return code, *unit_codes_nb(readonly(keys), interval, code)


def _string_views(duid: pl.Series) -> np.ndarray | None:
    """uint64[n, 2]: the Arrow string views of a String column without nulls, in one chunk (its
    buffer, not a copy); None for any other column."""
    if duid.dtype != pl.String or duid.n_chunks() != 1 or duid.null_count():
        return None
    array = duid.to_arrow(compat_level=pl.CompatLevel.newest())
    if not isinstance(array, pa.StringViewArray):
        return None
    views = np.frombuffer(array.buffers()[1], dtype=np.uint64).reshape(-1, 2)
    return readonly(views[array.offset : array.offset + len(array)])


def _interval_keys(data: pl.DataFrame) -> np.ndarray:
    """int64[n]: the physical intervals, for the proof that pairs are distinct; int64[0] when
    there is nothing to prove it with (not temporal, or missing values)."""
    interval = data.get_column("interval_datetime")
    if not interval.dtype.is_temporal() or interval.has_nulls():
        return readonly(np.empty(0, dtype=np.int64))
    return readonly(interval.to_physical().cast(pl.Int64).to_numpy())


def batches(data: pl.DataFrame) -> list[pl.DataFrame]:
    """Slices of the frame along the chunks of its price columns, so none of them is copied."""
    lengths = data.get_column(PRICE_BANDS[0]).chunk_lengths()
    if len(lengths) <= 1:
        return [data]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return [
        data.slice(int(start), int(length)) for start, length in zip(starts, lengths, strict=True)
    ]


class AllocationInputs(NamedTuple):
    """The arguments of :func:`bidstack.kernel.allocation.allocate_rows` that come from data."""

    price_band: tuple[np.ndarray, ...]
    mlf: np.ndarray
    tp_min: np.ndarray
    tp_max: np.ndarray
    srmc_plus: np.ndarray
    frrp: np.ndarray
    max_capacity: np.ndarray
    constraint_status: np.ndarray
    semidispatchcap: np.ndarray
    price_type: np.ndarray
    price_phase: np.ndarray
    unit_code: np.ndarray
    n_units: int


def float_column(column: str) -> pl.Expr:
    """A float64 column for the kernels: NaN where missing or not finite (an infinite price or
    capacity is as unusable as a missing one)."""
    value = pl.col(column).cast(pl.Float64)
    return pl.when(value.is_finite()).then(value).otherwise(math.nan).alias(column)


def srmc_plus_column(fcas_liability: bool) -> pl.Expr:
    srmc = float_column("srmc")
    return (srmc + float_column("fcas_liability") if fcas_liability else srmc).alias("srmc_plus")


def code_column(dtype: pl.DataType, column: str, allowed: Sequence[int]) -> pl.Expr:
    """An int8 code column; values outside ``allowed`` (and nulls) become MISSING_CODE.

    Int8 and Boolean columns pass as they are (the kernel checks their values itself).
    """
    missing = pl.lit(codes.MISSING_CODE, dtype=pl.Int8)
    if dtype in (pl.Int8, pl.Boolean):
        return pl.col(column).cast(pl.Int8).fill_null(missing)
    value = pl.col(column).cast(pl.Float64)
    return (
        pl.when(value.is_in([float(a) for a in allowed]))
        .then(value.cast(pl.Int8))
        .otherwise(missing)
    )


def _int8_codes(column: pl.Series) -> np.ndarray | None:
    """int8[n] of an Int8 or Boolean column without nulls, without Polars' cast: an Int8 column's
    buffer, a Boolean column's bits unpacked (a tenth of the cast's time); else None."""
    if column.null_count() or column.dtype not in (pl.Int8, pl.Boolean):
        return None
    if column.dtype == pl.Int8:
        return column.to_numpy()
    array = column.rechunk().to_arrow()
    bits = np.frombuffer(array.buffers()[1], dtype=np.uint8)
    unpacked = np.unpackbits(bits, count=array.offset + len(array), bitorder="little")
    return unpacked[array.offset :].view(np.int8)


def kernel_inputs(
    batch: pl.DataFrame, fcas_liability: bool, needs_frrp: bool, units: UnitCodes
) -> AllocationInputs:
    """The batch's columns as the kernel's arrays, without a copy where a column is already
    Float64 with no nulls (the kernel treats NaN and infinities as missing); ``units`` are the
    codes of the batch's rows (:func:`check_unique`)."""
    schema = batch.schema
    floats = [*PRICE_BANDS, "tp_min", "tp_max", "max_capacity", *(["frrp"] if needs_frrp else [])]
    if "mlf" in batch.columns:
        floats.append("mlf")
    arrays = {name: float_array(batch.get_column(name)) for name in floats}
    srmc = float_array(batch.get_column("srmc"))
    if fcas_liability:
        srmc = readonly(srmc + float_array(batch.get_column("fcas_liability")))
    allowed = {
        "constraint_status": (-1, 0, 1),
        "semidispatchcap": (0, 1),
        "price_type": codes.PRICE_TYPES,
        "price_phase": codes.PRICE_PHASES,
    }
    as_they_are = {name: _int8_codes(batch.get_column(name)) for name in allowed}
    coded = batch.select(
        code_column(schema[name], name, values)
        for name, values in allowed.items()
        if as_they_are[name] is None
    )
    status, sdc, price_type, price_phase = (
        readonly(coded.get_column(name).to_numpy() if codes_ is None else codes_)
        for name, codes_ in as_they_are.items()
    )
    return AllocationInputs(
        tuple(arrays[name] for name in PRICE_BANDS),
        arrays["mlf"] if "mlf" in arrays else readonly(np.ones(batch.height)),
        arrays["tp_min"],
        arrays["tp_max"],
        srmc,
        arrays["frrp"] if needs_frrp else readonly(np.empty(0)),
        arrays["max_capacity"],
        status,
        sdc,
        price_type,
        price_phase,
        readonly(units.code),
        units.n_units,
    )


def float_array(column: pl.Series) -> np.ndarray:
    """A float64 array of the column, NaN where null: a view of its buffer when it has one."""
    if column.dtype != pl.Float64:
        column = column.cast(pl.Float64)
    if column.null_count():
        column = column.fill_null(math.nan)
    return readonly(column.to_numpy())


def readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view, so the kernels always see one array type and compile once."""
    array = np.ascontiguousarray(array)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array
