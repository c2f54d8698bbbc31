"""Sums in a fixed order: :func:`bidstack.kernel.reduce.window_sums_nb` against a plain loop."""

from __future__ import annotations

import numpy as np

from bidstack.kernel.reduce import window_sums_nb


def test_window_sums_add_each_window_afresh_within_its_group() -> None:
    rng = np.random.default_rng(3)
    n = 400
    group = np.repeat(np.arange(3, dtype=np.int64), [150, 1, 249])
    # ascending times within each group, with gaps longer than the window
    times = np.concatenate(
        [np.cumsum(rng.choice([1, 2, 9], size)) for size in (150, 1, 249)]
    ).astype(np.int64)
    values = rng.uniform(-100.0, 100.0, n)
    valid = rng.random(n) < 0.7
    valid[200:230] = False  # a stretch with no valid value: nothing found where it fills a window
    sums, found = window_sums_nb(group, times, values, valid, 8)
    for row in range(n):
        total, seen = 0.0, False
        for j in range(n):
            inside = group[j] == group[row] and times[row] - 8 < times[j] <= times[row]
            if inside and valid[j]:
                total += values[j]  # oldest first: the rows are in time order
                seen = True
        assert found[row] == seen, row
        assert sums[row] == total, row  # the same bits: the same additions in the same order
    assert not found.all()
