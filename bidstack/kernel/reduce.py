"""Sums in a fixed order: every group's rows added one after another, by one thread.

Mirrors ``DataFrame.group_by(keys).agg(pl.col(c).sum())``, whose float sums have no fixed order
in Polars (pola-rs/polars#25163): here each group's values are added in row order, so a sum has
the same bits for any thread count and every run.
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
