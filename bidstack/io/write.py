"""``write_table``: a frame into the store, typed by the rules ingest uses and written as ingest
writes, atomically, with the manifest's record of where its rows came from."""

from __future__ import annotations

import os

import polars as pl

from bidstack.errors import InputError
from bidstack.io.report import SourceReport
from bidstack.io.schema import TableSpec, table_spec
from bidstack.io.semantics import row_order
from bidstack.io.store import PANDAS_INDEX, open_for_writing, utc_now
from bidstack.io.values import DATE_FORMS, bad_values, to_kind


def write_table(
    store: str | os.PathLike,
    table: str,
    frame: pl.DataFrame | pl.LazyFrame,
    *,
    source: str = "",
    intervention: int | None = None,
) -> int:
    """Write ``frame`` into ``store`` as table ``table``; return the number of rows written.

    The frame's columns are matched by name (any case) to the table's columns and typed by the
    rules ingest uses (:mod:`bidstack.io.values`): date-time text in AEMO's
    ``YYYY/MM/DD HH:MM:SS`` or ISO 8601, integral numbers (``'0'``, ``'0.0'``, ``1.0``) in integer
    columns, numeric text in float columns. pandas' ``__index_level_0__`` column is dropped;
    columns the frame lacks are stored as nulls. Rows are stored in the order ``read`` returns
    them (by time, then key, as AEMO's files hold them; rows equal in that order keep theirs), so
    that a read's sort finds them sorted; they are partitioned by month and written
    atomically, exactly as ``bidstack ingest`` writes them, and the manifest records them under
    ``source`` (default ``"write_table:<table>"``). Writing again under the same ``source``
    replaces those rows.

    A pricing-run table (DISPATCHPRICE, DISPATCHLOAD, DISPATCHREGIONSUM,
    DISPATCHINTERCONNECTORRES) needs an INTERVENTION value in every row, since ``read`` keeps the
    pricing run (INTERVENTION = 0). ``intervention=0`` says the frame holds the pricing run only:
    INTERVENTION is then filled with 0 where the frame lacks it (a row with another value is an
    error).

    Raises :class:`InputError` for an unknown table or column, a value that does not convert
    (naming the column, row and value, and for dates the formats accepted), a missing
    interval-column value, or a pricing-run table without INTERVENTION.
    """
    spec = table_spec(table)
    collected = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    typed = _conform(spec, collected, intervention).sort(
        row_order(spec), nulls_last=False, maintain_order=True
    )
    key = source or f"write_table:{spec.store_name}"
    report = SourceReport(key, "frame")
    report.stored(spec.store_name, typed.height)
    with open_for_writing(store) as writer, writer.staging(key) as staging:
        if typed.height:
            staging.write(spec, typed.to_arrow().cast(spec.arrow_schema))
        entry = report.as_manifest() | {"sha256": None, "bytes": None, "ingested_at": utc_now()}
        writer.commit(staging, entry)
    return typed.height


#: What a value of each kind must be, as :func:`write_table`'s errors say.
EXPECTED = {
    "datetime": f"a date-time ({DATE_FORMS})",
    "date": f"a date ({DATE_FORMS})",
    "int": "an integral number",
    "float": "a number",
    "string": "text",
}


def _conform(spec: TableSpec, frame: pl.DataFrame, intervention: int | None) -> pl.DataFrame:
    """``frame`` in ``spec``'s schema, or an :class:`InputError` saying why it cannot be."""
    frame = frame.drop(PANDAS_INDEX, strict=False)
    lower = [name.lower() for name in frame.columns]
    if len(set(lower)) != len(lower):
        raise InputError(f"{spec.name}: a column is named twice (names are matched in any case)")
    renamed = frame.rename(dict(zip(frame.columns, lower, strict=True)))
    unknown = sorted(set(renamed.columns) - set(spec.kinds))
    if unknown:
        raise InputError(f"{spec.name} has no column(s) {', '.join(unknown)}")
    columns = {
        column.name: _typed_column(spec, column.name, column.kind, renamed[column.name])
        for column in spec.columns
        if column.name in renamed.columns
    }
    if intervention is not None:
        columns["intervention"] = _filled_intervention(
            spec, columns.get("intervention"), intervention, renamed.height
        )
    for name in spec.required_columns:
        if name not in columns:
            raise InputError(_missing_column(spec, name))
        if nulls := columns[name].null_count():
            raise InputError(f"{spec.name}: {nulls} row(s) without a {name} value")
    return pl.DataFrame(
        [
            columns[name]
            if name in columns
            else pl.repeat(None, renamed.height, dtype=dtype, eager=True).alias(name)
            for name, dtype in spec.polars_schema.items()
        ]
    )


def _typed_column(spec: TableSpec, name: str, kind: str, values: pl.Series) -> pl.Series:
    """``values`` typed as ``kind``, or an :class:`InputError` naming the first bad value."""
    dtype = spec.polars_schema[name].base_type()
    try:
        typed = to_kind(values, kind)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{spec.name}.{name}: cannot store {values.dtype} as {dtype}") from exc
    bad = bad_values(values, typed)
    if bad.any():
        position = int(bad.arg_true()[0])
        more = int(bad.sum()) - 1
        others = f" (and {more} more row(s))" if more else ""
        raise InputError(
            f"{spec.name}.{name}: cannot store {values[position]!r} (row index {position}) as "
            f"{dtype}: not {EXPECTED[kind]}{others}"
        )
    return typed.alias(name)


def _filled_intervention(
    spec: TableSpec, given: pl.Series | None, intervention: int, height: int
) -> pl.Series:
    """INTERVENTION filled with ``intervention`` where the frame has no value."""
    if "intervention" not in spec.kinds:
        raise InputError(f"{spec.name} has no INTERVENTION column; intervention= does not apply")
    if isinstance(intervention, bool) or intervention not in (0, 1):
        raise InputError(f"intervention must be 0 (the pricing run) or 1, not {intervention!r}")
    if given is None:
        return pl.repeat(intervention, height, dtype=pl.Int64, eager=True).alias("intervention")
    other = given.is_not_null() & (given != intervention)
    if other.any():
        raise InputError(
            f"{spec.name}: intervention={intervention} was given, but {int(other.sum())} row(s) "
            f"have another INTERVENTION value"
        )
    return given.fill_null(intervention)


def _missing_column(spec: TableSpec, name: str) -> str:
    if name == "intervention":
        return (
            f"{spec.name}: no INTERVENTION column; read keeps the pricing run "
            "(INTERVENTION = 0), so every row needs one: pass intervention=0 if the frame holds "
            "the pricing run only"
        )
    return f"{spec.name}: no {name} column; every row needs a {name} value"
