"""The allocation rules as Polars expressions: the fastest pure-Polars version we could write.

A baseline for the benchmark (and a second reference in the tests). It works in stages, each a
``with_columns`` over a lazy frame: the mlf-referred prices and the validity of each row; the band
each distinct term picks; the cell each row lands in (an integer, one ``when/then`` per table); and
finally band, outcome and within-limits per variant. PT and PP must be given;
:func:`price_type` derives PT from ``frrp`` as one expression (SPEC §3).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import polars as pl

from bidstack.kernel import codes
from bidstack.rules import Cell, Term, Variant, numbered_cells

_BANDS = range(1, 11)
_THRESHOLDS = {"TPmin": "tp_min", "TPmax": "tp_max", "SRMC+": "srmc_plus"}
_CELL = "__cell"
_INVALID = "__invalid"


def _referred(k: int) -> str:
    return f"__referred{k}"


def _term_column(term: Term) -> str:
    return f"__term{term.code}"


def _term(term: Term) -> pl.Expr:
    """``>X``: one more than the number of bands priced at or below X (bands ascend);
    ``<X``: the number of bands priced below X; null when no band qualifies."""
    x = pl.col(_THRESHOLDS[term.reference])
    referred = [pl.col(_referred(k)) for k in _BANDS]
    if term.direction == ">":
        band = pl.sum_horizontal([(r <= x).cast(pl.Int8) for r in referred]) + 1
        return pl.when(band <= 10).then(band).cast(pl.Int8).alias(_term_column(term))
    band = pl.sum_horizontal([(r < x).cast(pl.Int8) for r in referred])
    return pl.when(band >= 1).then(band).cast(pl.Int8).alias(_term_column(term))


def _invalid() -> pl.Expr:
    prices = [pl.col(f"priceband{k}") for k in _BANDS]
    params = [pl.col(c) for c in ("max_capacity", "tp_min", "tp_max", "srmc_plus", "mlf")]
    missing = pl.any_horizontal([x.is_null() | x.is_nan() for x in [*prices, *params]])
    not_ascending = pl.any_horizontal([b <= a for a, b in itertools.pairwise(prices)])
    pt, pp = pl.col("price_type"), pl.col("price_phase")
    bad_code = (
        ~pt.is_in(list(codes.PRICE_TYPES)).fill_null(False)
        | ~pp.is_in(list(codes.PRICE_PHASES)).fill_null(False)
        | ((pp == 10) & (pt != 10))
        | ~pl.col("constraint_status").is_in([-1, 0, 1]).fill_null(False)
        | pl.col("semidispatchcap").is_null()
    )
    invalid = missing | not_ascending | (pl.col("mlf") <= 0) | (pl.col("max_capacity") < 0)
    return (invalid | bad_code).fill_null(True).alias(_INVALID)


def _cell_index() -> pl.Expr:
    """The cell within a table: PP row x 3 + PT column, or the PT = 10 cell (kernel numbering)."""
    pt, pp = pl.col("price_type"), pl.col("price_phase")
    row_col = pl.lit(0, dtype=pl.Int16)
    for (r, phase), (c, type_) in itertools.product(
        enumerate(codes.TABLE_PRICE_PHASES), enumerate(codes.TABLE_PRICE_TYPES)
    ):
        row_col = pl.when((pp == phase) & (pt == type_)).then(r * 3 + c).otherwise(row_col)
    return pl.when(pt == 10).then(codes.CELL_PRICE_TYPE_10).otherwise(row_col).cast(pl.Int16)


def _variant_cell(variant: Variant) -> pl.Expr:
    """The cell of each row under ``variant``: its table (by status and cap), then the cell."""
    status, sdc = pl.col("constraint_status"), pl.col("semidispatchcap")
    slot = (
        pl.when(status == -1)
        .then(codes.SLOT_CONSTRAINED_ON)
        .when((status == 1) & pl.lit("constrained_off" in variant.tables))
        .then(codes.SLOT_CONSTRAINED_OFF)
        .when(sdc)
        .then(codes.SLOT_SDC_TRUE)
        .otherwise(codes.SLOT_SDC_FALSE)
    )
    cell = pl.col(_CELL)
    in_table = slot * codes.CELLS_PER_TABLE + cell
    return pl.when(cell == codes.CELL_PRICE_TYPE_10).then(cell).otherwise(in_table).cast(pl.Int16)


def _band(variant: Variant, cell: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """The band each row's cell picks (null for none), and whether the cell is N/A. Cells
    with the same text share one branch."""
    branches: dict[str, tuple[Cell, list[int]]] = {}
    not_applicable = []
    for index, c in numbered_cells(variant):
        if c.op == "N/A":
            not_applicable.append(index)
        else:
            branches.setdefault(c.text, (c, []))[1].append(index)
    chain = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int8))
    for c, indices in branches.values():
        bands = [
            pl.lit(t.band, dtype=pl.Int8) if not t.direction else pl.col(_term_column(t))
            for t in c.terms
        ]
        value = pl.max_horizontal(bands) if c.op == "max" else pl.min_horizontal(bands)
        chain = chain.when(cell.is_in(indices)).then(value)
    return chain.otherwise(None), cell.is_in(not_applicable)


def price_type(order: str = "thresholds_first") -> pl.Expr:
    """PT (Int8) from ``frrp``, ``tp_min``, ``tp_max`` and ``srmc_plus``, null where any of them
    is missing; ``order`` as in :data:`bidstack.kernel.codes.PRICE_TYPE_ORDERS`."""
    if order not in codes.PRICE_TYPE_ORDERS:
        raise ValueError(f"unknown price type order {order!r}")
    frrp, tp_min, tp_max, srmc_plus = (
        pl.col(c).cast(pl.Float64) for c in ("frrp", "tp_min", "tp_max", "srmc_plus")
    )
    missing = pl.any_horizontal(
        [x.is_null() | x.is_nan() for x in (frrp, tp_min, tp_max, srmc_plus)]
    )
    derived = pl.when(frrp > tp_max).then(10)
    if order == "thresholds_first":
        derived = (
            derived.when(frrp <= tp_min).then(-10).when(frrp > srmc_plus).then(1).otherwise(-1)
        )
    else:
        derived = derived.when(frrp > srmc_plus).then(1).when(frrp > tp_min).then(-1).otherwise(-10)
    return pl.when(missing).then(None).otherwise(derived).cast(pl.Int8).alias("price_type")


def allocate_polars(
    frame: pl.LazyFrame | pl.DataFrame, variants: Sequence[Variant]
) -> pl.LazyFrame:
    """The input with ``band_<name>``, ``outcome_<name>``, ``within_limits_<name>`` per variant.

    ``frame`` needs ``mlf`` and ``srmc_plus`` columns (no defaults are filled in here). Variants
    with FRRP terms are not supported.
    """
    for variant in variants:
        if variant.uses_frrp:
            raise ValueError(f"{variant.name}: the Polars baseline has no per-interval FRRP terms")
    cells = [c for v in variants for _, c in numbered_cells(v)]
    terms = {t for c in cells for t in c.terms if t.direction}
    stage = [f"__stage_{v.name}" for v in variants]
    helpers = [_INVALID, _CELL, *(_referred(k) for k in _BANDS), *map(_term_column, terms)]
    lazy = frame.lazy().with_columns(
        _invalid(),
        _cell_index().alias(_CELL),
        *((pl.col(f"priceband{k}") / pl.col("mlf")).alias(_referred(k)) for k in _BANDS),
    )
    lazy = lazy.with_columns(*(_term(t) for t in terms))
    lazy = lazy.with_columns(
        _variant_cell(v).alias(f"{s}_cell") for v, s in zip(variants, stage, strict=True)
    )
    columns = []
    for variant, s in zip(variants, stage, strict=True):
        band, not_applicable = _band(variant, pl.col(f"{s}_cell"))
        invalid = pl.col(_INVALID)
        columns += [
            pl.when(invalid | not_applicable).then(None).otherwise(band).alias(f"{s}_band"),
            (not_applicable & ~invalid).alias(f"{s}_na"),
        ]
    lazy = lazy.with_columns(columns)
    outputs = []
    for variant, s in zip(variants, stage, strict=True):
        band = pl.col(f"{s}_band")
        outcome = (
            pl.when(pl.col(_INVALID))
            .then(pl.lit("invalid_input"))
            .when(pl.col(f"{s}_na"))
            .then(pl.lit("not_applicable"))
            .when(band.is_null())
            .then(pl.lit("no_band"))
            .otherwise(pl.lit("allocated"))
            .cast(pl.Enum(list(codes.OUTCOME_NAMES)))
        )
        price = pl.coalesce([pl.when(band == k).then(pl.col(_referred(k))) for k in _BANDS])
        in_range = (pl.col("tp_min") <= price) & (price <= pl.col("tp_max"))
        within = pl.when(band.is_not_null()).then((band == 1) | in_range)
        outputs += [
            band.alias(f"band_{variant.name}"),
            outcome.alias(f"outcome_{variant.name}"),
            within.alias(f"within_limits_{variant.name}"),
        ]
        helpers += [f"{s}_cell", f"{s}_band", f"{s}_na"]
    return lazy.with_columns(outputs).drop(helpers)
