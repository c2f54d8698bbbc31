"""Sums in a fixed order: every group's rows added one after another, by one thread.

:func:`group_sums_nb` mirrors ``DataFrame.group_by(keys).agg(pl.col(c).sum())``, whose float
sums have no fixed order in Polars (pola-rs/polars#25163): here each group's values are added in
row order, so a sum has the same bits for any thread count and every run.

:func:`window_sums_nb` mirrors ``rolling_sum_by(time, window_size)``, whose float sums carry
their rounding along the series (each step adds the newest value and subtracts the oldest), so
a row's sum depends on where the series starts: here each row's window is added afresh, oldest
first, and its sum has the same bits whatever came before the window.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def group_sums_nb(values: np.ndarray, group: np.ndarray, groups: int) -> np.ndarray:
    """Column sums of ``values`` (n, k; float64 or int64, C order) per group.

    ``group`` (n,) int64: each row's group, 0 <= group < ``groups``. Returns (groups, k) of
    ``values``' dtype, each group's sum accumulated from its first row to its last.
    """
    n, k = values.shape
    out = np.zeros((groups, k), values.dtype)
    for r in range(n):
        g = group[r]
        for c in range(k):
            out[g, c] += values[r, c]
    return out


@njit(cache=True)
def window_sums_nb(
    group: np.ndarray, times: np.ndarray, values: np.ndarray, valid: np.ndarray, span: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's sum of the ``valid`` ``values`` of its group's rows at times in
    ``(time - span, time]``, added from the oldest to the row itself.

    ``group`` (n,) int64: rows grouped, each group's rows in ascending ``times`` (int64, a time
    once per group); ``values`` (n,) float64; ``valid`` (n,) bool. Returns ``(sums, found)``:
    ``found`` is False where the window holds no valid value (its sum is then 0.0).
    """
    n = values.shape[0]
    sums = np.zeros(n)
    found = np.zeros(n, np.bool_)
    first = 0
    for row in range(n):
        if row == 0 or group[row] != group[row - 1]:
            first = row
        while times[first] <= times[row] - span:
            first += 1
        total = 0.0
        for j in range(first, row + 1):
            if valid[j]:
                total += values[j]
                found[row] = True
        sums[row] = total
    return sums, found
