"""The MMS semantics :func:`bidstack.io.read` applies to a table's rows (the module docstring of
:mod:`bidstack.io.read` lists them): which versions of a row count, and the rows' order.

The latest row per key is found by sorting, not hashing: one stable sort brings each key's rows
together with the greatest version last, which is also the order ``read`` returns rows in. Every
step takes a LazyFrame or a DataFrame; on a DataFrame, rows already in order (as a store written
in read order holds them) are not sorted again (:func:`bidstack.sorting.sorted_rows`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from bidstack.io.schema import TableSpec
from bidstack.sorting import in_key_order, sorted_rows

#: Bid tables: the latest offer per key wins, ordered by these columns.
BID_ORDER = ("versionno", "offerdate")
BID_TABLES = frozenset({"BIDDAYOFFER_D", "BIDPEROFFER_D", "BIDDAYOFFER", "BIDPEROFFER"})

Frame = pl.LazyFrame | pl.DataFrame


def over(expression: pl.Expr, keys: Sequence[str]) -> pl.Expr:
    return expression.over(keys) if keys else expression


def latest(frame: Frame, keys: Sequence[str], order: Sequence[str]) -> Frame:
    """One row per ``keys``: the greatest by ``order`` (nulls last), ties broken arbitrarily."""
    for column in order:
        frame = frame.filter(pl.col(column).eq_missing(over(pl.col(column).max(), keys)))
    return frame.unique(subset=list(keys) or None, keep="any")


def ordered(frame: Frame, by: Sequence[str]) -> Frame:
    """``frame.sort(by, maintain_order=True)`` (nulls first); a DataFrame already in that order
    comes back as it is."""
    if isinstance(frame, pl.DataFrame):
        return sorted_rows(frame, *by)
    return frame.sort(by, nulls_last=False, maintain_order=True)


def latest_versions(frame: Frame, spec: TableSpec, columns: Sequence[str]) -> Frame:
    """The rows of the latest version of each entity for each effective date, each row once
    (the one last changed), in :func:`row_order`."""
    if "versionno" in columns:
        newest = over(pl.col("versionno").max(), [*spec.entity, spec.effective_date])
        frame = frame.filter(pl.col("versionno").eq_missing(newest))
    order = ["lastchanged"] if "lastchanged" in columns else []
    return latest_sorted(frame, spec, [key for key in spec.primary_key if key in columns], order)


def in_force(
    frame: pl.LazyFrame, spec: TableSpec, begin: datetime | None, finish: datetime | None
) -> pl.LazyFrame:
    """Registration rows in force at some time in ``(begin, finish]``."""
    effective = pl.col(spec.effective_date)
    if finish is not None:
        frame = frame.filter(effective <= finish)
    if begin is None:
        return frame
    in_force_at_begin = over(pl.when(effective <= begin).then(effective).max(), spec.entity)
    return frame.filter((effective > begin) | effective.eq_missing(in_force_at_begin))


def mms_semantics(frame: pl.LazyFrame, spec: TableSpec, bidtype: str | None) -> pl.LazyFrame:
    """The rows MMS semantics keep (this module's docstring), in :func:`row_order`."""
    return latest_rows(kept_runs(frame, spec, bidtype), spec)


def kept_runs(frame: Frame, spec: TableSpec, bidtype: str | None) -> Frame:
    """The rows of the pricing run (``pricing_run`` tables) and of ``bidtype`` (bid tables)."""
    if spec.pricing_run:
        frame = frame.filter(pl.col("intervention") == 0)
    if spec.name in BID_TABLES and bidtype is not None:
        frame = frame.filter(pl.col("bidtype") == bidtype)
    return frame


def latest_rows(frame: Frame, spec: TableSpec) -> Frame:
    """The latest version of each row (:func:`kept_runs` applied first), in :func:`row_order`."""
    if spec.name in BID_TABLES:
        key = [column for column in spec.primary_key if column not in BID_ORDER]
        return latest_sorted(frame, spec, key, BID_ORDER)
    if spec.effective_date:
        return latest_versions(frame, spec, list(spec.kinds))
    return latest_sorted(frame, spec, spec.identity or spec.primary_key, spec.version_order)


def semantic_columns(spec: TableSpec) -> frozenset[str]:
    """The columns :func:`kept_runs` and :func:`latest_rows` read: a reader of a few columns
    reads these too."""
    named = (
        *row_order(spec), spec.effective_date, *spec.identity, *spec.entity, *spec.version_order,
        *BID_ORDER, "intervention", "bidtype", "lastchanged",
    )  # fmt: skip
    return frozenset(column for column in named if column in spec.kinds)


def row_order(spec: TableSpec) -> list[str]:
    """The order of the rows :func:`read` returns: by time, then by key."""
    return list(dict.fromkeys(c for c in (spec.time_column, *spec.primary_key) if c))


def latest_sorted(
    frame: Frame, spec: TableSpec, keys: Sequence[str], order: Sequence[str]
) -> Frame:
    """:func:`latest` in :func:`row_order`, by sorting rather than hashing.

    One stable sort brings each key's rows together, the greatest by ``order`` last (nulls
    least; of rows equal in ``order``, the greatest by the rest of the primary key, then the
    last stored); a comparison of each row with the next keeps the last of each key. Where the
    key columns lead the row order, as in the bid tables and DISPATCHLOAD, that sort is the
    only one: window maxima over millions of keys cost many times more. A DataFrame whose rows
    are already in key order, each key once (one version of each row, stored in read order), is
    neither sorted nor filtered.
    """
    by = row_order(spec)
    if not keys:
        return ordered(latest(frame, keys, order), by)
    first = [c for c in by if c in keys] + [c for c in keys if c not in by]
    rest = [c for c in by if c not in first]
    if not (isinstance(frame, pl.DataFrame) and in_key_order(frame, first, strict=True)):
        frame = ordered(frame, [*first, *order, *rest])
        last_of_key = pl.any_horizontal(
            pl.col(c).ne_missing(pl.col(c).shift(-1)) for c in first
        ) | (pl.int_range(pl.len()) == pl.len() - 1)
        frame = frame.filter(last_of_key)
    return frame if by[: len(first)] == first else ordered(frame, by)
