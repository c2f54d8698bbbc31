"""``bidstack.allocate``: the rule tables of SPEC §2 over a frame of unit-intervals.

The frame goes in as Polars (or Arrow); its columns are checked once, at this edge
(:mod:`bidstack.allocation_inputs`), then handed to the kernels in :mod:`bidstack.kernel` as
NumPy arrays without copying where the data allows it; PT and PP, when not given, are derived
by :mod:`bidstack.phase`. The
result is the input, in input order, with the allocation of each rule variant appended.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

from bidstack.allocation_inputs import (
    UnitCodes,
    as_frame,
    batches,
    check_unique,
    checked,
    kernel_inputs,
    needed_columns,
)
from bidstack.columns import BAND_VOLUMES, ArrowColumns
from bidstack.config import INTERVAL_MINUTES
from bidstack.errors import InputError
from bidstack.kernel import codes
from bidstack.kernel.allocation import allocate_rows
from bidstack.phase import (
    PhaseHorizon,
    PriceTypeOrder,
    derive_codes,
    derive_price_type_phase,
    price_type_order_code,
    price_type_phase_columns,
)
from bidstack.rules import compile_variants, load_variants

__all__ = ["Allocation", "allocate", "allocate_with_report", "derive_price_type_phase",
           "output_columns"]  # fmt: skip

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
    interval_minutes: float = INTERVAL_MINUTES,
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
    else -10); they differ only where SRMC+ < frrp <= min(TPmin, TPmax). ``interval_minutes``
    (used only when deriving PP) is the length of the intervals ``phase_horizon`` counts: PP at
    ``t`` looks at the unit's rows in ``[t, t + horizon × interval_minutes)``, so that a gap in
    its rows is not crossed (5, the dispatch interval; 30 for trading intervals before
    five-minute settlement).

    Returns the input rows in input order with, per variant, ``band`` (Int8, null when none),
    ``outcome`` (Enum: allocated, not_applicable, no_band, invalid_input) and ``within_limits``
    (Boolean, null when nothing is allocated); see :func:`output_columns` for their names.
    Rows that cannot be evaluated come out as ``invalid_input``; :func:`allocate_with_report`
    says which and why. Raises :class:`~bidstack.errors.InputError` (missing column, a dtype that
    cannot be cast, bad ``phase_horizon`` or ``price_type_order``) or
    :class:`~bidstack.errors.RuleError` before any work.
    """
    return _Run(
        frame, variants, phase_horizon, fcas_liability, bandavail, lookahead, price_type_order,
        interval_minutes,
    ).frame  # fmt: skip


def allocate_with_report(
    frame: pl.DataFrame | pa.Table,
    variants: Sequence[VariantSpec] | VariantSpec = ("v2",),
    *,
    phase_horizon: PhaseHorizon = None,
    fcas_liability: bool = False,
    bandavail: bool = False,
    lookahead: pl.DataFrame | None = None,
    price_type_order: PriceTypeOrder = "thresholds_first",
    interval_minutes: float = INTERVAL_MINUTES,
) -> Allocation:
    """:func:`allocate`, with counts per variant and outcome and the list of rejected rows."""
    run = _Run(
        frame, variants, phase_horizon, fcas_liability, bandavail, lookahead, price_type_order,
        interval_minutes,
    )  # fmt: skip
    derived = run.price_type_phase and price_type_phase_columns(*run.price_type_phase)
    return Allocation(run.frame, run.variant_names, run.counts(), run.rejected(), derived)


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
        interval_minutes: float,
    ) -> None:
        source = as_frame(frame)
        order_code = price_type_order_code(price_type_order)
        loaded = load_variants(variants)
        self.variant_names = tuple(v.name for v in loaded)
        self.rules = compile_variants(loaded)
        self.derived = "price_type" not in source.columns and "price_phase" not in source.columns
        self.columns = output_columns(self.variant_names, bandavail=bandavail)
        needed = needed_columns(self.rules.uses_frrp, self.derived, fcas_liability)
        written = [name for out in self.columns.values() for name in out.values()]
        data = checked(source, needed, self.derived, written)
        units = check_unique(data)
        if self.derived:
            price_type, price_phase = derive_codes(
                data, phase_horizon, fcas_liability, lookahead, order_code, interval_minutes
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
        for batch in batches(data):
            stop = offset + batch.height
            if self.derived:
                batch = batch.with_columns(
                    price_type=price_type[offset:stop], price_phase=price_phase[offset:stop]
                )
            batch_units = UnitCodes(units.code[offset:stop], units.n_units)
            pieces.append(self._allocate_batch(batch, batch_units, fcas_liability, bandavail))
            offset = stop
        self.frame = source.hstack(pl.concat(pieces, rechunk=False).get_columns())

    def _allocate_batch(
        self, batch: pl.DataFrame, units: UnitCodes, fcas_liability: bool, bandavail: bool
    ) -> pl.DataFrame:
        inputs = kernel_inputs(batch, fcas_liability, self.rules.uses_frrp, units)
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
