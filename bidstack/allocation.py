"""``bidstack.allocate``: the rule tables of SPEC §2 over a frame of unit-intervals.

The frame goes in as Polars (or Arrow); its columns are checked once, here, then handed to the
kernels in :mod:`bidstack.kernel` as NumPy arrays without copying where the data allows it. The
result is the input, in input order, with the allocation of each rule variant appended.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import polars as pl
import pyarrow as pa

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS, ArrowColumns
from bidstack.errors import InputError
from bidstack.kernel import codes, phase
from bidstack.kernel.allocation import allocate_rows
from bidstack.rules import compile_variants, load_variants

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
RESULT_FIELDS = ("band", "outcome", "within_limits")

#: Reasons as reported when PT and PP were derived from ``frrp`` rather than given.
_DERIVED_REASONS = {
    codes.REASON_PRICE_TYPE: "frrp missing (or not finite), so price_type cannot be derived",
    codes.REASON_PRICE_PHASE: (
        "price_phase unknown: an frrp in the unit's phase horizon is missing or not finite, or "
        "the unit's horizon, duid or interval_datetime is missing"
    ),
}

VariantSpec = str | Path
PhaseHorizon = int | str | Mapping[str, int] | None
#: The order in which PT's tests run when it is derived from frrp (``codes.PRICE_TYPE_ORDERS``).
PriceTypeOrder = Literal["thresholds_first", "srmc_first"]


@dataclass(frozen=True)
class Allocation:
    """The result of :func:`allocate_with_report`.

    ``frame`` is what :func:`allocate` returns. ``counts`` has one row per variant: ``variant``,
    the number of rows of each outcome (``allocated``, ``not_applicable``, ``no_band``,
    ``invalid_input``) and how many allocations were within limits (``within_limits``).
    ``rejected`` lists every row that is ``invalid_input`` under some variant: its position in
    the input (``row``), ``duid``, ``interval_datetime`` and ``reason``. ``derived``, when PT and
    PP were derived from ``frrp``, holds them row by row (``price_type``, ``price_phase``, Int8,
    null where unknown).
    """

    frame: pl.DataFrame
    variants: tuple[str, ...]
    counts: pl.DataFrame
    rejected: pl.DataFrame
    derived: pl.DataFrame | None = None


def output_columns(variant_names: Sequence[str], *, bandavail: bool = False) -> dict[str, dict]:
    """The result columns of each variant: ``{variant: {"band": name, ...}}``.

    With one variant the columns are ``band``, ``outcome``, ``within_limits`` (and
    ``bandavail1..10``); with several, each name ends in ``_<variant name>``, e.g. ``band_v1``.
    """
    fields = RESULT_FIELDS + (BAND_VOLUMES if bandavail else ())
    if len(variant_names) == 1:
        return {variant_names[0]: {field: field for field in fields}}
    return {name: {field: f"{field}_{name}" for field in fields} for name in variant_names}


def allocate(
    frame: pl.DataFrame | pa.Table,
    variants: Sequence[VariantSpec] | VariantSpec = ("v2",),
    *,
    phase_horizon: PhaseHorizon = None,
    fcas_liability: bool = False,
    bandavail: bool = False,
    lookahead: pl.DataFrame | None = None,
    price_type_order: PriceTypeOrder = "thresholds_first",
) -> pl.DataFrame:
    """Allocate each unit-interval's capacity to one price band under each rule variant.

    ``frame`` has one row per unit-interval with columns ``duid``, ``interval_datetime``,
    ``priceband1..priceband10``, ``max_capacity``, ``tp_min``, ``tp_max``, ``srmc``,
    ``constraint_status`` (-1, 0, 1), ``semidispatchcap`` (bool), optionally ``mlf`` (default
    1.0) and ``fcas_liability``, and either ``price_type`` and ``price_phase`` or ``frrp`` (PT and
    PP are then derived as in SPEC §3; a variant with FRRP terms needs ``frrp`` in any case).

    ``variants`` are built-in names (``"v1"``, ``"v2"``) or paths to rule files. ``phase_horizon``
    (used only when deriving PP) is the number of intervals PP looks ahead: an int for every unit,
    a mapping ``{duid: int}``, or the name of a column holding it per unit; by default the
    ``min_run_time`` column (in intervals, at least 1) if there is one, else 1. With
    ``fcas_liability`` SRMC+ is ``srmc + fcas_liability``, else ``srmc``. With ``bandavail`` the
    BIDPEROFFER-shaped volumes ``bandavail1..10`` (max_capacity in the chosen band) are added.
    ``lookahead``, for a frame that is one chunk of a longer run, holds the units' intervals that
    follow it (``duid``, ``interval_datetime``, ``frrp``, the thresholds and the horizon column):
    PP looks ahead into them as if they were part of the frame; they are not allocated.
    ``price_type_order`` (used only when deriving PT) is the order of PT's tests: by default
    ``"thresholds_first"`` (SPEC §3: 10 if frrp > TPmax, -10 if frrp <= TPmin, 1 if frrp > SRMC+,
    else -1), or ``"srmc_first"`` (10 if frrp > TPmax, 1 if frrp > SRMC+, -1 if frrp > TPmin,
    else -10); they differ only where SRMC+ < frrp <= min(TPmin, TPmax).

    Returns the input rows in input order with, per variant, ``band`` (Int8, null when none),
    ``outcome`` (Enum: allocated, not_applicable, no_band, invalid_input) and ``within_limits``
    (Boolean, null when nothing is allocated); see :func:`output_columns` for their names.
    Rows that cannot be evaluated come out as ``invalid_input``; :func:`allocate_with_report`
    says which and why. Raises :class:`~bidstack.errors.InputError` (missing column, a dtype that
    cannot be cast, bad ``phase_horizon`` or ``price_type_order``) or
    :class:`~bidstack.errors.RuleError` before any work.
    """
    return _Run(
        frame, variants, phase_horizon, fcas_liability, bandavail, lookahead, price_type_order
    ).frame


def allocate_with_report(
    frame: pl.DataFrame | pa.Table,
    variants: Sequence[VariantSpec] | VariantSpec = ("v2",),
    *,
    phase_horizon: PhaseHorizon = None,
    fcas_liability: bool = False,
    bandavail: bool = False,
    lookahead: pl.DataFrame | None = None,
    price_type_order: PriceTypeOrder = "thresholds_first",
) -> Allocation:
    """:func:`allocate`, with counts per variant and outcome and the list of rejected rows."""
    run = _Run(
        frame, variants, phase_horizon, fcas_liability, bandavail, lookahead, price_type_order
    )
    derived = run.price_type_phase and _price_type_phase_columns(*run.price_type_phase)
    return Allocation(run.frame, run.variant_names, run.counts(), run.rejected(), derived)


def derive_price_type_phase(
    frame: pl.DataFrame | pa.Table,
    *,
    phase_horizon: PhaseHorizon = None,
    fcas_liability: bool = False,
    lookahead: pl.DataFrame | None = None,
    price_type_order: PriceTypeOrder = "thresholds_first",
) -> pl.DataFrame:
    """The input with ``price_type`` and ``price_phase`` (Int8) derived from ``frrp`` (SPEC §3).

    Needs ``duid``, ``interval_datetime``, ``frrp``, ``tp_min``, ``tp_max``, ``srmc`` (and
    ``fcas_liability`` when enabled); ``phase_horizon``, ``lookahead`` and ``price_type_order``
    are as for :func:`allocate`. Where PT or PP cannot be known (a missing forecast or threshold)
    the value is null. The input must not have ``price_type`` or ``price_phase`` columns already.
    """
    source = _as_frame(frame)
    order_code = _price_type_order_code(price_type_order)
    present = [c for c in ("price_type", "price_phase") if c in source.columns]
    if present:
        raise InputError(f"input already has column(s) {', '.join(map(repr, present))}")
    needed = ["duid", "interval_datetime", "frrp", "tp_min", "tp_max", "srmc"]
    data = _checked(source, needed + (["fcas_liability"] if fcas_liability else []), True)
    price_type, price_phase = _derive(data, phase_horizon, fcas_liability, lookahead, order_code)
    return source.hstack(_price_type_phase_columns(price_type, price_phase).get_columns())


def _price_type_phase_columns(price_type: np.ndarray, price_phase: np.ndarray) -> pl.DataFrame:
    """Derived PT and PP as Int8 columns, null where they cannot be known."""
    return pl.DataFrame({"price_type": price_type, "price_phase": price_phase}).with_columns(
        pl.all().replace(codes.MISSING_CODE, None)
    )


class _Run:
    """One call of :func:`allocate`: checks, kernels, and the raw codes for the report."""

    def __init__(
        self,
        frame: pl.DataFrame | pa.Table,
        variants: Sequence[VariantSpec] | VariantSpec,
        phase_horizon: PhaseHorizon,
        fcas_liability: bool,
        bandavail: bool,
        lookahead: pl.DataFrame | None,
        price_type_order: PriceTypeOrder,
    ) -> None:
        source = _as_frame(frame)
        order_code = _price_type_order_code(price_type_order)
        loaded = load_variants(variants)
        self.variant_names = tuple(v.name for v in loaded)
        self.rules = compile_variants(loaded)
        self.derived = "price_type" not in source.columns and "price_phase" not in source.columns
        self.columns = output_columns(self.variant_names, bandavail=bandavail)
        needed = _needed_columns(self.rules.uses_frrp, self.derived, fcas_liability)
        written = [name for out in self.columns.values() for name in out.values()]
        data = _checked(source, needed, self.derived, written)
        if self.derived:
            price_type, price_phase = _derive(
                data, phase_horizon, fcas_liability, lookahead, order_code
            )
            self.price_type_phase = (price_type, price_phase)
        elif phase_horizon is not None or lookahead is not None:
            raise InputError(
                "phase_horizon and lookahead apply only when PT and PP are derived from frrp"
            )
        else:
            self.price_type_phase = None
        self.data = data
        self.outcomes: list[np.ndarray] = []
        self.within: list[np.ndarray] = []
        self.reasons: list[np.ndarray] = []
        pieces: list[pl.DataFrame] = []
        offset = 0
        for batch in _batches(data):
            if self.derived:
                stop = offset + batch.height
                batch = batch.with_columns(
                    price_type=price_type[offset:stop], price_phase=price_phase[offset:stop]
                )
                offset = stop
            pieces.append(self._allocate_batch(batch, fcas_liability, bandavail))
        self.frame = source.hstack(pl.concat(pieces, rechunk=False).get_columns())

    def _allocate_batch(
        self, batch: pl.DataFrame, fcas_liability: bool, bandavail: bool
    ) -> pl.DataFrame:
        inputs = _kernel_inputs(batch, fcas_liability, self.rules.uses_frrp)
        n_variants, n = len(self.variant_names), batch.height
        band = np.empty((n_variants, n), dtype=np.int8)
        outcome = np.empty((n_variants, n), dtype=np.uint8)
        band_valid, within, within_valid = np.empty((3, n_variants, (n + 7) // 8), np.uint8)
        reason = np.zeros(n, dtype=np.uint8)
        allocate_rows(
            *inputs, self.rules.op, self.rules.terms, self.rules.route,
            band, outcome, band_valid, within, within_valid, reason,
        )  # fmt: skip
        self.outcomes.append(outcome)
        self.within.append(within)
        self.reasons.append(reason)
        columns = ArrowColumns()
        for v, name in enumerate(self.variant_names):
            out = self.columns[name]
            columns.int8(out["band"], band[v], band_valid[v])
            columns.enum(out["outcome"], outcome[v], codes.OUTCOME_NAMES)
            columns.boolean(out["within_limits"], n, within[v], within_valid[v])
            if bandavail:
                for k, column in enumerate(BAND_VOLUMES, start=1):
                    columns.float64(out[column], np.where(band[v] == k, inputs.max_capacity, 0.0))
        return columns.frame()

    def counts(self) -> pl.DataFrame:
        """One row per variant: rows per outcome, then allocations within limits."""
        n_outcomes = len(codes.OUTCOME_NAMES)
        rows = []
        for v, name in enumerate(self.variant_names):
            per_outcome = sum(np.bincount(o[v], minlength=n_outcomes) for o in self.outcomes)
            within = sum(int(np.bitwise_count(w[v]).sum()) for w in self.within)
            rows.append([name, *(int(x) for x in per_outcome), within])
        schema = {"variant": pl.String} | {
            name: pl.Int64 for name in (*codes.OUTCOME_NAMES, "within_limits")
        }
        return pl.DataFrame(rows, schema=schema, orient="row")

    def rejected(self) -> pl.DataFrame:
        reason = np.concatenate(self.reasons) if self.reasons else np.empty(0, np.uint8)
        rows = np.flatnonzero(reason)
        texts = list(codes.INVALID_REASONS)
        if self.derived:
            for code, text in _DERIVED_REASONS.items():
                texts[code] = text
        return (
            self.data.select("duid", "interval_datetime")
            .gather(rows)
            .select(
                pl.Series("row", rows, dtype=pl.UInt64),
                "duid",
                "interval_datetime",
                pl.Series("reason", [texts[code] for code in reason[rows]], dtype=pl.String),
            )
        )


def _price_type_order_code(price_type_order: PriceTypeOrder) -> int:
    if price_type_order not in codes.PRICE_TYPE_ORDERS:
        raise InputError(
            f"price_type_order must be one of {', '.join(codes.PRICE_TYPE_ORDERS)}; "
            f"got {price_type_order!r}"
        )
    return codes.PRICE_TYPE_ORDERS.index(price_type_order)


def _as_frame(frame: pl.DataFrame | pa.Table) -> pl.DataFrame:
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pa.Table | pa.RecordBatch):
        return pl.DataFrame(frame)
    raise InputError(
        f"allocate() takes a Polars DataFrame or an Arrow table, not {type(frame).__name__}"
    )


def _needed_columns(uses_frrp: bool, derived: bool, fcas_liability: bool) -> list[str]:
    needed = list(REQUIRED)
    if derived or uses_frrp:
        needed.append("frrp")
    if not derived:
        needed += ["price_type", "price_phase"]
    if fcas_liability:
        needed.append("fcas_liability")
    return needed


def _checked(
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
    _check_unique(data)
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


def _check_unique(data: pl.DataFrame) -> None:
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


def _batches(data: pl.DataFrame) -> list[pl.DataFrame]:
    """Slices of the frame along the chunks of its price columns, so none of them is copied."""
    lengths = data.get_column(PRICE_BANDS[0]).chunk_lengths()
    if len(lengths) <= 1:
        return [data]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return [
        data.slice(int(start), int(length)) for start, length in zip(starts, lengths, strict=True)
    ]


class _KernelInputs(NamedTuple):
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


def _float(column: str) -> pl.Expr:
    """A float64 column for the kernels: NaN where missing or not finite (an infinite price or
    capacity is as unusable as a missing one)."""
    value = pl.col(column).cast(pl.Float64)
    return pl.when(value.is_finite()).then(value).otherwise(math.nan).alias(column)


def _srmc_plus(fcas_liability: bool) -> pl.Expr:
    srmc = _float("srmc")
    return (srmc + _float("fcas_liability") if fcas_liability else srmc).alias("srmc_plus")


def _code(dtype: pl.DataType, column: str, allowed: Sequence[int]) -> pl.Expr:
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


def _kernel_inputs(batch: pl.DataFrame, fcas_liability: bool, needs_frrp: bool) -> _KernelInputs:
    mlf = _float("mlf") if "mlf" in batch.columns else pl.lit(1.0, dtype=pl.Float64)
    schema = batch.schema
    selected = batch.select(
        *(_float(c) for c in PRICE_BANDS),
        mlf.alias("mlf"),
        _float("tp_min"),
        _float("tp_max"),
        _srmc_plus(fcas_liability),
        _float("max_capacity"),
        _code(schema["constraint_status"], "constraint_status", (-1, 0, 1)),
        _code(schema["semidispatchcap"], "semidispatchcap", (0, 1)),
        _code(schema["price_type"], "price_type", codes.PRICE_TYPES),
        _code(schema["price_phase"], "price_phase", codes.PRICE_PHASES),
        *([_float("frrp")] if needs_frrp else []),
    )
    arrays = [_readonly(s.to_numpy()) for s in selected.get_columns()]
    frrp = arrays.pop() if needs_frrp else _readonly(np.empty(0))
    (mlf_, tp_min, tp_max, srmc_plus, capacity, status, sdc, price_type, price_phase) = arrays[10:]
    return _KernelInputs(
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


def _readonly(array: np.ndarray) -> np.ndarray:
    """A read-only view, so the kernels always see one array type and compile once."""
    array = np.ascontiguousarray(array)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def _derive(
    data: pl.DataFrame,
    phase_horizon: PhaseHorizon,
    fcas_liability: bool,
    lookahead: pl.DataFrame | None,
    order_code: int,
) -> tuple[np.ndarray, np.ndarray]:
    """PT and PP for every row (SPEC §3), ``codes.MISSING_CODE`` where they cannot be known.

    ``lookahead`` rows follow ``data`` in time: they take part in PP's windows only.
    ``order_code`` is the code of the order PT is tested in (``codes.ORDER_*``).
    """
    n = data.height
    if lookahead is not None and lookahead.height:
        data = _with_lookahead(data, lookahead, phase_horizon, fcas_liability)
    unit_code, n_codes = _unit_codes(data)
    interval = _readonly(
        data.get_column("interval_datetime").to_physical().cast(pl.Int64).fill_null(0).to_numpy()
    )
    order, unit_start, unit_of_code = phase.group_units(unit_code, n_codes, interval)
    first_rows = order[unit_start[:-1]] if order.size else unit_start[:-1]
    horizon = _horizon(data, phase_horizon, order, unit_start, first_rows)
    if n_codes > 0 and unit_of_code[n_codes - 1] >= 0 and data.get_column("duid").has_nulls():
        horizon[unit_of_code[n_codes - 1]] = 0  # the rows without a duid
    selected = data.select(
        _float("frrp"), _float("tp_min"), _float("tp_max"), _srmc_plus(fcas_liability)
    )
    arrays = [_readonly(s.to_numpy()) for s in selected.get_columns()]
    price_type = np.empty(data.height, dtype=np.int8)
    price_phase = np.empty(data.height, dtype=np.int8)
    phase.derive_price_type_phase(
        order, unit_start, horizon, *arrays, order_code, price_type, price_phase
    )
    if data.get_column("interval_datetime").has_nulls():
        unknown = data.get_column("interval_datetime").is_null().to_numpy()
        price_phase[unknown] = codes.MISSING_CODE
    return price_type[:n], price_phase[:n]


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
    ahead = _checked(_as_frame(lookahead), columns, True).select(columns)
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
    return _readonly(codes_), n_codes


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
    values = _readonly(values)
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
