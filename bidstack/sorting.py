"""Rows sorted by unit (or participant) and time: the order metering, settlement and the offer
book work in.

Polars sorts on text and time columns by encoding every row's key; for the millions of
unit-intervals of a month that was most of those stages' time. Here the few hundred names of a
text column are sorted once and each row's name becomes its rank; the keys, as integers, are
packed into one int64 where they fit, and one stable argsort orders the rows: the same order as
``frame.sort(*keys)``, several times faster. Where the packed keys are distinct and span few
more values than there are rows (a month's unit-intervals), each row is put at its key in a table
instead: one pass, no comparisons (:func:`key_order`, :func:`key_table`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

#: A text column is ranked run by run where its first PROBE rows, and then the whole column, hold
#: at least RUN_ROWS rows a run of equal values.
PROBE, RUN_ROWS = 4096, 16
#: Packed keys that span at most this many times the rows are placed through a table indexed by
#: the key (8 bytes a key of the span) rather than sorted.
DENSE = 2


def sorted_rows(frame: pl.DataFrame, *keys: str) -> pl.DataFrame:
    """``frame.sort(*keys, maintain_order=True)``: rows equal in every key keep their order.

    Keys are text, integer, date or time columns; with a null in a key, or another dtype, it is
    Polars' sort.
    """
    if in_key_order(frame, keys):
        return frame
    ranks = key_ranks(frame, keys)
    if ranks is None:
        return frame.sort(*keys, maintain_order=True)
    packed = packed_ranks(ranks)  # not in order: in_key_order saw the same ranked dtypes
    order = np.lexsort(ranks[::-1]) if packed is None else key_order(packed)
    return frame[order]


def key_order(packed: np.ndarray) -> np.ndarray:
    """``np.argsort(packed, kind="stable")`` of packed ranks (:func:`packed_ranks`): read off
    the :func:`key_table` where there is one (distinct keys: any sort is the stable one)."""
    table = key_table(packed)
    if table is None:
        return np.argsort(packed, kind="stable")
    return table[table >= 0]


def key_table(packed: np.ndarray, span: int | None = None) -> np.ndarray | None:
    """Each key's row (int64, -1 where no row has it) in a table of ``span`` keys (default:
    up to the largest), or None where a key is repeated or the span is more than :data:`DENSE`
    times the rows."""
    if packed.size == 0:
        return None
    span = int(packed.max()) + 1 if span is None else span
    if span > DENSE * packed.size:
        return None
    table = np.full(span, -1, np.int64)
    table[packed] = np.arange(packed.size)
    if np.count_nonzero(table >= 0) != packed.size:
        return None
    return table


def in_key_order(frame: pl.DataFrame, keys: Sequence[str], *, strict: bool = False) -> bool:
    """Whether ``frame``'s rows are sorted by ``keys`` (``strict``: and no two rows share them),
    with no null in a key: one pass comparing each row with the one before. Keys are text,
    integer, date or time columns (False for others: their order is Polars' to decide)."""
    if not all(_rankable(frame.get_column(key)) for key in keys):
        return False
    if frame.height < 2:
        return True
    tied = None  # each row against the one before: equal in every key so far
    for key in keys:
        column = frame.get_column(key)
        now, before = column.slice(1), column.slice(0, frame.height - 1)
        earlier = now < before
        if (earlier if tied is None else earlier & tied).any():
            return False
        same = now == before
        tied = same if tied is None else tied & same
        if not tied.any():  # every row is after the one before: later keys cannot matter
            return True
    return not strict


def duplicated_rows(frame: pl.DataFrame, *keys: str) -> pl.Series:
    """Boolean: the rows whose ``keys`` another row shares
    (``pl.struct(*keys).is_duplicated()``), by comparing neighbours in key order rather than
    hashing every row's key."""
    ranks = key_ranks(frame, keys)
    packed = None if ranks is None else packed_ranks(ranks)
    if packed is None:
        return frame.select(pl.struct(*keys).is_duplicated()).to_series()
    span = int(packed.max()) + 1
    if span <= DENSE * packed.size:  # count each key's rows in a table indexed by the key
        return pl.Series(np.bincount(packed, minlength=span)[packed] > 1)
    ascending = bool(np.all(packed[1:] >= packed[:-1]))
    order = None if ascending else np.argsort(packed, kind="stable")
    in_order = packed if order is None else packed[order]
    same = in_order[1:] == in_order[:-1]
    shared = np.zeros(packed.size, np.bool_)
    shared[1:] |= same
    shared[:-1] |= same
    if order is not None:
        shared[order] = shared.copy()
    return pl.Series(shared)


def key_ranks(frame: pl.DataFrame, keys: Sequence[str]) -> list[np.ndarray] | None:
    """Each key column as int64 ranks in its order, or None where one is not text, integer, date
    or time, or has a null (or the frame has fewer than two rows): a text value's place among
    the column's sorted distinct values (:func:`_text_values` says which rows are ranked), an
    integer or time by :func:`_distances`."""
    return stacked_ranks([frame], keys)


def stacked_ranks(frames: Sequence[pl.DataFrame], keys: Sequence[str]) -> list[np.ndarray] | None:
    """:func:`key_ranks` of ``frames`` stacked (their key columns of one dtype), each frame's
    text ranked on its own against the names of all, so that each keeps its own fast path
    (runs, a repeated block) where the stack would have none."""
    named = list(dict.fromkeys(keys))  # a key may be named twice
    stacked = pl.concat([frame.select(named) for frame in frames])
    if stacked.height < 2 or any(not _rankable(stacked.get_column(key)) for key in keys):
        return None
    ranks = []
    for key in keys:
        if stacked.schema[key] != pl.String:
            ranks.append(_distances(stacked.get_column(key)))
            continue
        shapes = [_text_values(frame.get_column(key)) for frame in frames if frame.height]
        names = pl.concat([values for values, _ in shapes]).unique().sort()
        ranks.append(np.concatenate([spread(_ranked(values, names)) for values, spread in shapes]))
    return ranks


def packed_ranks(ranks: list[np.ndarray]) -> np.ndarray | None:
    """The ranks of several keys as one int64 in the same order, or None if they do not fit."""
    spans = [int(rank.max()) + 1 for rank in ranks]
    if np.prod([float(span) for span in spans]) >= 2.0**62:
        return None
    packed = ranks[0]
    for rank, span in zip(ranks[1:], spans[1:], strict=True):
        packed = packed * span + rank
    return packed


def _rankable(column: pl.Series) -> bool:
    dtype = column.dtype
    ordered = dtype == pl.String or dtype.is_integer() or dtype.is_temporal()
    return ordered and not column.has_nulls()


def _distances(column: pl.Series) -> np.ndarray:
    """int64 from 0, in an integer or time column's order: each value's distance from the
    smallest in steps of the values' greatest common divisor (five-minute intervals count 0, 1,
    2, ... rather than in microseconds)."""
    values = column.to_physical().cast(pl.Int64).to_numpy()
    distance = values - values.min()
    step = int(np.gcd.reduce(distance))
    return distance // step if step > 1 else distance


def _text_values(column: pl.Series) -> tuple[pl.Series, Callable[[np.ndarray], np.ndarray]]:
    """The values of a text column to rank, and how their ranks spread to its rows. Where the
    column repeats one block of values (a frame in time order with the same units every
    interval), the block; where equal values come in long runs (a frame in unit or participant
    order), each run's value; else every row's."""
    n = column.len()
    period = _period(column) if n > 1 else None
    if period:
        return column.head(period), lambda ranks: np.tile(ranks, -(-n // period))[:n]
    if column.head(PROBE).rle_id().max() * RUN_ROWS < PROBE:
        runs = column.rle().struct.unnest()
        if runs.height * RUN_ROWS <= n:  # else the runs grow shorter past the first rows
            lengths = runs.get_column("len").to_numpy()
            return runs.get_column("value"), lambda ranks: np.repeat(ranks, lengths)
    return column, lambda ranks: ranks


def _ranked(values: pl.Series, names: pl.Series) -> np.ndarray:
    """Each of ``values``' place (int64) among ``names`` (sorted, holding every value)."""
    return values.cast(pl.Enum(names)).to_physical().to_numpy().astype(np.int64)


def _period(column: pl.Series) -> int | None:
    """The length of the block a column of text without nulls repeats (row ``i`` equal to row
    ``i - period`` throughout), where its first value recurs within the first PROBE rows;
    None otherwise."""
    recurs = column.head(PROBE).eq(column[0]).arg_true()
    if recurs.len() < 2:
        return None
    period = int(recurs[1])
    same = column.slice(period).eq(column.slice(0, column.len() - period)).all()
    return period if same else None
