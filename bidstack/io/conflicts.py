"""Rows of a new source that other sources already stored with other values: found at ingest,
before the source is committed, and resolved by one rule.

A row is identified by its table's ``identity`` (its key, less constant or derived columns; see
:mod:`bidstack.io.schema`). When a source being ingested holds a row whose identity is already
stored from another source:

- the same values (a value missing on either side aside, and the version column and where the
  row came from aside): nothing to say, and :func:`bidstack.io.read` returns the row once;
- other values and a later version than the stored row's (a later ``LASTCHANGED``, or for NEM12
  a later ``UPDATE_DATETIME``: see :attr:`~bidstack.io.schema.TableSpec.version_order`): the row
  is stored, a warning names the earlier source, and ``read`` returns the later version;
- other values otherwise (no version column, or not later): the new row is rejected, naming the
  earlier source, the row's key and the values that differ, and the stored row stays.

So the first source of a row wins unless the later one says, by its version column, that it is
a later version. Only the month partitions the new source writes to are compared, and only where
another source has files there, so ingesting months not yet stored costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from bidstack.io.report import SourceReport
from bidstack.io.schema import TableSpec, table_spec
from bidstack.sorting import duplicated_rows, in_key_order

#: Columns that say where a row came from, not what it says: not compared.
PROVENANCE = ("source_file", "source_line")
#: Differing values shown in a message.
SHOWN_VALUES = 3


def resolve_conflicts(
    root: Path,
    sources: Mapping[str, str],
    staged: Path,
    stem: str,
    files: list[str],
    report: SourceReport,
) -> dict[str, pl.Series]:
    """The rows to drop from each staged file of one source (a mask per file name, True where
    the row is rejected), reporting each conflict with the stored rows of other sources.

    ``root`` is the store, ``sources`` maps a stored file's stem (source id) to its source's key,
    ``staged`` the folder holding the new source's ``files`` (``table/month=.../stem.parquet``).
    """
    dropped = {}
    for name in files:
        spec = table_spec(Path(name).parts[0])
        rejected = _repeated(spec, staged / name, report)
        others = sorted(
            path for path in (root / name).parent.glob("*.parquet") if path.stem != stem
        )
        if others and (rejected is None or not rejected.all()):
            stored = _compare(spec, staged / name, others, sources, report, rejected)
            if stored is not None:
                rejected = stored if rejected is None else rejected | stored
        if rejected is not None and rejected.any():
            dropped[name] = rejected
    return dropped


def _repeated(spec: TableSpec, path: Path, report: SourceReport) -> pl.Series | None:
    """Which rows of the staged file ``path`` repeat the identity of an earlier row of the same
    source with other values, refused by the rule for other sources (None: none). Without this
    the store would hold both and :func:`bidstack.io.read` return one, silently.

    The identity is the key columns the source has (a column null in every row, as DIRECTION
    before BIDPEROFFER_D v3, is none). Where the source lacks a key column and most of its rows
    repeat the rest of the key (DUID dropped from a file or a cache), none is stored: its rows
    cannot be told apart. NEM12's reader judges its repeated days itself, by line.
    """
    order = spec.version_order
    values = [name for name in spec.kinds if name not in (*spec.primary_key, *order, *PROVENANCE)]
    if "source_line" in order or not values:
        return None
    identity = [c for c in spec.identity or spec.primary_key if c in spec.kinds]
    keys = pl.read_parquet(path, columns=identity)
    height = keys.height
    key = [c for c in identity if keys[c].null_count() < height]
    if not key or _unique(keys.select(key), spec):
        return None
    repeats = duplicated_rows(keys, *key)
    del keys
    changed = list(order[:1])
    repeated = (  # the values of the rows that share a key only
        pl.scan_parquet(path)
        .select(*key, *values, *changed)
        .with_row_index("_row")
        .filter(repeats)
        .collect()
    )
    first = repeated.group_by(key, maintain_order=True).first()
    joined = repeated.join(first, on=key, suffix="_stored", nulls_equal=True).filter(
        pl.col("_row") != pl.col("_row_stored")
    )
    differ = [
        (pl.col(name) != pl.col(f"{name}_stored")).fill_null(False).alias(f"_differs_{name}")
        for name in values
    ]
    later = (
        (pl.col(changed[0]) > pl.col(f"{changed[0]}_stored")).fill_null(False)
        if changed
        else pl.lit(False)
    )
    conflicts = joined.with_columns(*differ, later.alias("_later")).filter(
        pl.any_horizontal(pl.col(f"_differs_{name}") for name in values)
    )
    if not conflicts.height:
        return None
    absent = [name.upper() for name in identity if name not in key]
    if absent and 2 * repeated.height > height:  # a key column lost: nothing to tell rows apart
        first_row = conflicts.row(0, named=True)
        named = ", ".join(f"{name.upper()} {first_row[name]}" for name in key)
        report.add(
            "rejected",
            report.path,
            f"no row of {spec.name} has a {', '.join(absent)} value, and rows alike in the rest "
            f"of its key (first: {named}) say other things: its {height} rows cannot be "
            "told apart, none is stored",
            height,
        )
        return pl.repeat(True, height, eager=True)
    columns = (key, values, changed[0] if changed else "lastchanged")
    for (is_later,), group in conflicts.group_by("_later", maintain_order=True):
        first_row = group.row(0, named=True)
        source = "an earlier row of this file"
        report.add(*_issue(report.path, spec, source, is_later, first_row, columns, group.height))
    refused = conflicts.filter(~pl.col("_later"))["_row"]
    return pl.int_range(height, eager=True).is_in(refused.implode())


def _unique(keys: pl.DataFrame, spec: TableSpec) -> bool:
    """Whether no two rows of ``keys`` are the same: one pass where the rows are in key order
    (as AEMO's files hold them: the table's columns in order, or the key's, either with the
    time first), else by ranking the keys (:func:`~bidstack.sorting.duplicated_rows`)."""
    in_columns = [column.name for column in spec.columns if column.name in keys.columns]
    orders = [in_columns, keys.columns]
    orders += [sorted(order, key=lambda name: name != spec.time_column) for order in orders]
    if any(in_key_order(keys, order, strict=True) for order in orders):
        return True
    return not duplicated_rows(keys, *keys.columns).any()


def _compare(
    spec: TableSpec,
    new_path: Path,
    others: list[Path],
    sources: Mapping[str, str],
    report: SourceReport,
    refused_here: pl.Series | None = None,
) -> pl.Series | None:
    """Which rows of the staged file ``new_path`` are refused (None: none conflict), leaving
    out those ``refused_here`` (by :func:`_repeated`: each is reported once)."""
    key = list(spec.identity or spec.primary_key)
    order = spec.version_order
    values = [name for name in spec.kinds if name not in (*spec.primary_key, *order, *PROVENANCE)]
    if not values:
        return None
    changed = list(order[:1])
    new = pl.read_parquet(new_path, columns=[*key, *values, *changed]).with_row_index("_row")
    height = new.height
    if refused_here is not None:
        new = new.filter(~refused_here)
    old = pl.concat(
        pl.scan_parquet(path)
        .select(*key, *values, *changed)
        .with_columns(pl.lit(sources.get(path.stem, path.stem)).alias("_source"))
        for path in others
    )
    joined = (
        new.lazy().join(old, on=key, how="inner", suffix="_stored", nulls_equal=False).collect()
    )
    if not joined.height:
        return None
    differ = [
        (pl.col(name) != pl.col(f"{name}_stored")).fill_null(False).alias(f"_differs_{name}")
        for name in values
    ]
    joined = joined.with_columns(pl.any_horizontal(differ).alias("_differs"), *differ)
    conflicts = joined.filter("_differs")
    if not conflicts.height:
        return None
    later = (
        (pl.col(changed[0]) > pl.col(f"{changed[0]}_stored")).fill_null(False)
        if changed
        else pl.lit(False)
    )
    conflicts = conflicts.with_columns(later.alias("_later"))
    refused = conflicts.group_by("_row").agg(pl.col("_later").all()).filter(~pl.col("_later"))
    refused_rows = set(refused["_row"].to_list())
    for (source, is_later), group in conflicts.group_by("_source", "_later", maintain_order=True):
        rows = group.filter(pl.col("_row").is_in(refused_rows) != is_later)["_row"].unique()
        if not rows.len():
            continue
        first = group.filter(pl.col("_row") == rows.min()).row(0, named=True)
        where = report.path
        columns = (key, values, changed[0] if changed else "lastchanged")
        report.add(*_issue(where, spec, source, is_later, first, columns, rows.len()))
    return pl.int_range(height, eager=True).is_in(refused["_row"].implode())


def _issue(
    where: str,
    spec: TableSpec,
    source: str,
    later: bool,
    row: dict,
    columns: tuple[list[str], list[str], str],
    count: int,
) -> tuple[str, str, str, int]:
    """(severity, where, message, rows) of the conflicts of one table with one stored source;
    ``columns`` are the key, the values compared and the version column."""
    key, values, version = columns
    named = ", ".join(f"{name.upper()} {row[name]}" for name in key)
    differ = [name for name in values if row[f"_differs_{name}"]]
    shown = "; ".join(
        f"{name.upper()} {row[f'{name}_stored']} there, {row[name]} here"
        for name in differ[:SHOWN_VALUES]
    )
    more = f" and {len(differ) - SHOWN_VALUES} more" if len(differ) > SHOWN_VALUES else ""
    rows, come = (
        (f"{count} rows of {spec.name}", "come")
        if count > 1
        else (f"a row of {spec.name}", "comes")
    )
    if later:
        return (
            "warning",
            where,
            f"{rows} stored from {source} with other values (first: {named}: {shown}{more}) "
            f"{come} again with a later {version.upper()}: stored, and read returns the later",
            0,
        )
    return (
        "rejected",
        where,
        f"{rows} stored from {source} with other values (first: {named}: {shown}{more}) "
        f"{come} again without a later {version.upper()}: refused, the rows first stored are kept",
        count,
    )
