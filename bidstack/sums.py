"""Grouped sums that come out with the same bits in every run (pipeline.md §5, option A).

Rows are sorted by their group and then by a row key, and each group's values are added in that
order by :func:`bidstack.kernel.reduce.segment_sums_nb`; Polars' own ``group_by`` sums of floats
have no fixed order. Integer columns are summed the same way (exactly, in any order).

>>> import polars as pl
>>> frame = pl.DataFrame({"region": ["B", "A", "A"], "duid": ["x", "y", "x"],
...                       "mw": [1.0, 0.1, 0.2]})
>>> group_sums(frame, ["region"], ["mw"], order=["duid"]).rows()
[('A', 0.30000000000000004), ('B', 1.0)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from bidstack.kernel.reduce import segment_sums_nb


def group_sums(
    frame: pl.DataFrame,
    by: Sequence[str],
    columns: Sequence[str],
    *,
    order: Sequence[str] = (),
    presorted: bool = False,
) -> pl.DataFrame:
    """One row per distinct ``by``, sorted by it: ``by`` and the sum of each of ``columns``
    (nulls count as nothing), added in the order of ``(*by, *order)``, which should make rows
    unique. ``presorted``: ``frame`` is already in that order."""
    by, columns = list(by), list(columns)
    if not presorted:
        frame = frame.sort([*by, *order])
    starts = segment_starts(frame, by)
    keys = frame.select(by)[starts] if starts.size else frame.select(by).clear()
    sums = [keys]
    floats = [c for c in columns if frame.schema[c].is_float()]
    integers = [c for c in columns if c not in floats]
    for names, dtype in ((floats, np.float64), (integers, np.int64)):
        if not names:
            continue
        values = frame.select(pl.col(names).fill_null(0)).to_numpy().astype(dtype, order="C")
        summed = segment_sums_nb(values.reshape(frame.height, len(names)), starts)
        sums.append(pl.DataFrame(dict(zip(names, summed.T, strict=True))))
    table = pl.concat(sums, how="horizontal")
    return table.select(*by, *(pl.col(c).cast(frame.schema[c]) for c in columns))


def total(values: pl.Series) -> float:
    """The sum of a float series, first row to last (nulls count as nothing)."""
    array = values.fill_null(0.0).to_numpy().astype(np.float64).reshape(-1, 1)
    return float(segment_sums_nb(array, np.zeros(1, np.int64))[0, 0]) if len(values) else 0.0


def segment_starts(frame: pl.DataFrame, by: Sequence[str]) -> np.ndarray:
    """The first row of each run of equal ``by`` values (int64)."""
    if frame.height == 0:
        return np.zeros(0, np.int64)
    if not by:
        return np.zeros(1, np.int64)
    changed = pl.any_horizontal(pl.col(c).ne_missing(pl.col(c).shift(1)) for c in by)
    flags = frame.select(changed.fill_null(True)).to_series().to_numpy()
    flags[0] = True
    return np.flatnonzero(flags).astype(np.int64)
