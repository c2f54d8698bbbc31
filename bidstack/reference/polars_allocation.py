"""The allocation rules as Polars expressions: the fastest pure-Polars version we could write.

A baseline for the benchmark (and a second reference in the tests). It works in stages, each a
``with_columns`` over a lazy frame: the mlf-referred prices and the validity of each row; the band
each distinct term picks; the cell each row lands in (an integer, one ``when/then`` per table); and
finally band, outcome and within-limits per variant. PT and PP must be given.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import polars as pl

from bidstack.kernel import codes
from bidstack.rules import Term, Variant

_BANDS = range(1, 11)
_THRESHOLDS = {"TPmin": "tp_min", "TPmax": "tp_max", "SRMC+": "srmc_plus"}
_CELL = "__cell"
_INVALID = "__invalid"


def _referred(k: int) -> str:
    return f"__referred{k}"


def _term_column(term: Term) -> str:
    return f"__term{term.code}"


def _term(term: Term) -> pl.Expr:
    """``>X``: the first band from PB1 up priced above X; ``<X``: the first from PB10 down below."""
    x = pl.col(_THRESHOLDS[term.reference])
    bands = list(reversed(_BANDS)) if term.direction == "<" else list(_BANDS)
    met = [
        pl.col(_referred(k)) > x if term.direction == ">" else pl.col(_referred(k)) < x
        for k in bands
    ]
    return pl.coalesce(
        [pl.when(m).then(pl.lit(k, dtype=pl.Int8)) for m, k in zip(met, bands, strict=True)]
    ).alias(_term_column(term))


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
    """The kernel's cell numbering: table slot x 9 + PP row x 3 + PT column, or the PT = 10 cell."""
    pt, pp = pl.col("price_type"), pl.col("price_phase")
    row_col = pl.lit(0, dtype=pl.Int16)
    for (r, phase), (c, type_) in itertools.product(
        enumerate(codes.TABLE_PRICE_PHASES), enumerate(codes.TABLE_PRICE_TYPES)
    ):
        row_col = pl.when((pp == phase) & (pt == type_)).then(r * 3 + c).otherwise(row_col)
    return pl.when(pt == 10).then(codes.CELL_PRICE_TYPE_10).otherwise(row_col)


def _band(variant: Variant) -> pl.Expr:
    """The band of each row under ``variant`` (null for N/A or no band), from the cell column."""
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
    cell = pl.when(pl.col(_CELL) == codes.CELL_PRICE_TYPE_10).then(pl.col(_CELL))
    cell = cell.otherwise(slot * codes.CELLS_PER_TABLE + pl.col(_CELL))
    chain = pl.when(pl.lit(False)).then(pl.lit(None, dtype=pl.Int8))
    numbered = [(codes.CELL_PRICE_TYPE_10, variant.price_type_10)]
    for s, table in enumerate(codes.TABLES):
        for (phase, type_), c in variant.tables.get(table, {}).items():
            index = (
                s * codes.CELLS_PER_TABLE
                + codes.TABLE_PRICE_PHASES.index(phase) * 3
                + codes.TABLE_PRICE_TYPES.index(type_)
            )
            numbered.append((index, c))
    for index, c in numbered:
        if c.op == "N/A":
            continue
        bands = [
            pl.lit(t.band, dtype=pl.Int8) if not t.direction else pl.col(_term_column(t))
            for t in c.terms
        ]
        value = pl.max_horizontal(bands) if c.op == "max" else pl.min_horizontal(bands)
        chain = chain.when(cell == index).then(value)
    not_applicable = cell.is_in([i for i, c in numbered if c.op == "N/A"])
    return chain.otherwise(None), not_applicable


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
    cells = [c for v in variants for t in v.tables.values() for c in t.values()]
    cells += [v.price_type_10 for v in variants]
    terms = {t for c in cells for t in c.terms if t.direction}
    lazy = frame.lazy()
    helpers = [_INVALID, _CELL, *(_referred(k) for k in _BANDS), *map(_term_column, terms)]
    lazy = lazy.with_columns(
        _invalid(),
        _cell_index().alias(_CELL),
        *((pl.col(f"priceband{k}") / pl.col("mlf")).alias(_referred(k)) for k in _BANDS),
    )
    lazy = lazy.with_columns(*(_term(t) for t in terms))
    outputs = []
    for variant in variants:
        band_or_none, not_applicable = _band(variant)
        invalid = pl.col(_INVALID)
        band = pl.when(invalid | not_applicable).then(None).otherwise(band_or_none)
        outcome = (
            pl.when(invalid)
            .then(pl.lit("invalid_input"))
            .when(not_applicable)
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
    return lazy.with_columns(outputs).drop(helpers)
