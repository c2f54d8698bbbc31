"""Grouped sums that come out with the same bits in every run (pipeline.md §5, option A).

Each group's values are added in the rows' order (after a stable sort by ``order``, if given) by
:func:`bidstack.kernel.reduce.group_sums_nb`; Polars' own ``group_by`` sums of floats have no
fixed order. So a frame whose row order is fixed (sorted, or built in a fixed order) always sums
to the same bits. Integer columns are summed the same way (exactly, in any order).

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

from bidstack.kernel.reduce import group_sums_nb
from bidstack.sorting import key_ranks, packed_ranks, sorted_rows


def group_sums(
    frame: pl.DataFrame,
    by: Sequence[str],
    columns: Sequence[str],
    *,
    order: Sequence[str] | None = None,
) -> pl.DataFrame:
    """One row per distinct ``by``, sorted by it: ``by`` and the sum of each of ``columns``
    (nulls count as nothing), each group's rows added in row order, after a stable sort of the
    rows by ``order`` if given."""
    by, columns = list(by), list(columns)
    if order:
        frame = sorted_rows(frame, *order)
    keys, group = _groups(frame, by)
    sums = [keys]
    floats = [c for c in columns if frame.schema[c].is_float()]
    integers = [c for c in columns if c not in floats]
    for names, dtype in ((floats, np.float64), (integers, np.int64)):
        if not names:
            continue
        values = frame.select(pl.col(names).fill_null(0)).to_numpy().astype(dtype, order="C")
        summed = group_sums_nb(values.reshape(frame.height, len(names)), group, keys.height)
        sums.append(pl.DataFrame(dict(zip(names, summed.T, strict=True))))
    table = pl.concat(sums, how="horizontal").sort(by)
    return table.select(*by, *(pl.col(c).cast(frame.schema[c]) for c in columns))


def _groups(frame: pl.DataFrame, by: list[str]) -> tuple[pl.DataFrame, np.ndarray]:
    """The distinct ``by`` values and each row's group among them (int64)."""
    ranks = key_ranks(frame, by)
    packed = None if ranks is None else packed_ranks(ranks)
    if packed is not None:  # integer keys: no hashing of text
        group, row = _packed_groups(packed)
        return frame.select(by)[row], group
    keys = frame.select(by).unique(maintain_order=True).with_row_index("_group")
    group = (
        frame.select(by)
        .join(keys, on=by, how="left", nulls_equal=True, maintain_order="left")
        .get_column("_group")
        .to_numpy()
        .astype(np.int64)
    )
    return keys.drop("_group"), group


def _packed_groups(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group (int64, numbered in key order, as ``np.unique`` numbers them) and a row
    of each group, from packed key ranks: by a table indexed by the key where the keys are few
    enough for one (a month's intervals times its participants), else by sorting."""
    span = int(packed.max()) + 1
    if span > 4 * len(packed):
        _, row, group = np.unique(packed, return_index=True, return_inverse=True)
        return group.astype(np.int64).reshape(-1), row
    present = np.zeros(span, bool)
    present[packed] = True
    number = np.cumsum(present) - 1
    group = number[packed]
    row = np.empty(int(number[-1]) + 1, np.int64)
    row[group] = np.arange(len(packed))  # any of a group's rows: they share its keys
    return group, row


def total(values: pl.Series) -> float:
    """The sum of a float series, first row to last (nulls count as nothing)."""
    array = values.fill_null(0.0).to_numpy().astype(np.float64).reshape(-1, 1)
    return float(group_sums_nb(array, np.zeros(len(array), np.int64), 1)[0, 0])
