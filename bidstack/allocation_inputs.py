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
    """Check names and dtypes of the input columns; cast what can be cast, or raise."""
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
    check_unique(data)
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


def check_unique(data: pl.DataFrame) -> None:
    """Raise :class:`InputError` if a unit has two rows for one interval (which is its offer?)."""
    key = ["duid", "interval_datetime"]
    if data.height < 2 or data.select(key).n_unique() == data.height:
        return
    repeated = data.with_row_index("row").filter(pl.struct(key).is_duplicated())
    first = repeated.row(0, named=True)
    count = repeated.select(key).n_unique()
    raise InputError(
        f"input has {repeated.height} rows for {count} (duid, interval_datetime) pair(s) given "
        f"more than once, first duid {first['duid']!r} at {first['interval_datetime']} (row "
        f"{first['row']}): one row per unit and interval"
    )


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


def kernel_inputs(batch: pl.DataFrame, fcas_liability: bool, needs_frrp: bool) -> AllocationInputs:
    mlf = float_column("mlf") if "mlf" in batch.columns else pl.lit(1.0, dtype=pl.Float64)
    schema = batch.schema
    selected = batch.select(
        *(float_column(c) for c in PRICE_BANDS),
        mlf.alias("mlf"),
        float_column("tp_min"),
        float_column("tp_max"),
        srmc_plus_column(fcas_liability),
        float_column("max_capacity"),
        code_column(schema["constraint_status"], "constraint_status", (-1, 0, 1)),
        code_column(schema["semidispatchcap"], "semidispatchcap", (0, 1)),
        code_column(schema["price_type"], "price_type", codes.PRICE_TYPES),
        code_column(schema["price_phase"], "price_phase", codes.PRICE_PHASES),
        *([float_column("frrp")] if needs_frrp else []),
    )
    arrays = [readonly(s.to_numpy()) for s in selected.get_columns()]
    frrp = arrays.pop() if needs_frrp else readonly(np.empty(0))
    (mlf_, tp_min, tp_max, srmc_plus, capacity, status, sdc, price_type, price_phase) = arrays[10:]
    return AllocationInputs(
        tuple(arrays[:10]),
        mlf_,
        tp_min,
        tp_max,
        srmc_plus,
        frrp,
        capacity,
        status,
        sdc,
        price_type,
        price_phase,
    )


def readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view, so the kernels always see one array type and compile once."""
    array = np.ascontiguousarray(array)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array
