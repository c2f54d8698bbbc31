"""Sums in a fixed order: each segment's rows added one after another, by one thread.

Mirrors ``DataFrame.group_by(keys).agg(pl.col(c).sum())`` on rows sorted by their keys, whose
float sums have no fixed order in Polars (pola-rs/polars#25163): here the order is the rows', so
a sum has the same bits for any thread count and every run.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def segment_sums_nb(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Column sums of each segment of ``values`` (n, k; float64 or int64, C order).

    ``starts`` (m,) int64: the first row of each segment, ascending, ``starts[0] == 0`` when
    n > 0; segment s runs to the next start (the last to row n). Returns (m, k) of ``values``'
    dtype, each sum accumulated from the segment's first row to its last.
    """
    n, k = values.shape
    m = starts.size
    out = np.zeros((m, k), values.dtype)
    for s in range(m):
        end = starts[s + 1] if s + 1 < m else n
        for r in range(starts[s], end):
            for c in range(k):
                out[s, c] += values[r, c]
    return out
