"""The dispatch kernel's offer rows, laid out in one pass each: band columns gathered into kernel
order, and each unit's runs of unchanged referred prices numbered once (the kernel's price sets).

Mirrors what NumPy did in :mod:`bidstack.stages.dispatch_layout` (gather ten columns, divide by
the loss factor, sort rows by unit, compare each row with the one before): the same numbers, with
no sort. Rows are moved into kernel order by scattering each input row's ten values to one place,
which reads the columns in sequence (gathering them reads ten places at random for every row).
"""

from __future__ import annotations

import numpy as np
from numba import njit

N_BANDS = 10


@njit(cache=True)
def gather_bands_nb(columns, order, out, kernel_row):
    """Row ``k`` of ``out`` (float64[len(order), 10]) gets ``columns[b][order[k]]`` for each band
    ``b``; ``kernel_row`` (int64[len(order)]) is scratch. Returns ``out``.

    Written by a scatter, input row by input row (``order`` inverted), so that each row's ten
    values are read in sequence and written to one place, rather than read from ten. The caller
    allocates both arrays: NumPy backs a large array with huge pages, where Numba's allocation
    takes a page fault every 4 KiB (three times the scatter's time for a month's offers)."""
    for k in range(order.size):
        kernel_row[order[k]] = k
    for r in range(order.size):
        k = kernel_row[r]
        for b in range(N_BANDS):
            out[k, b] = columns[b][r]
    return out


@njit(cache=True)
def price_sets_nb(price_band, mlf, order, row_unit, n_units):
    """Each kernel row's price set and the referred prices of every set.

    ``price_band``: ten float64[n] columns of offer prices; ``mlf``: float64[n] (no missing
    values); ``order``: int64[n], the input row of each kernel row; ``row_unit``: int64[n], the
    unit of each kernel row (below ``n_units``; rows of a unit in time order). A unit starts a
    new set at its first row and wherever a referred price (offer price / mlf) differs from its
    row before (a NaN always does). Sets are numbered unit by unit, in time order within a unit.
    Returns ``(price_set int64[n], band_price float64[S, 10])``.
    """
    n = order.size
    sets = np.zeros(n_units, np.int64)
    last = np.empty((n_units, N_BANDS))
    seen = np.zeros(n_units, np.bool_)
    starts = np.empty(n, np.bool_)
    referred = np.empty(N_BANDS)
    for k in range(n):
        r, u = order[k], row_unit[k]
        new = not seen[u]
        for b in range(N_BANDS):
            referred[b] = price_band[b][r] / mlf[r]
            if referred[b] != last[u, b]:
                new = True
        if new:
            last[u, :] = referred
            seen[u] = True
            sets[u] += 1
        starts[k] = new
    next_set = np.zeros(n_units, np.int64)
    for u in range(1, n_units):
        next_set[u] = next_set[u - 1] + sets[u - 1]
    total = next_set[n_units - 1] + sets[n_units - 1] if n_units else 0
    band_price = np.empty((total, N_BANDS))
    price_set = np.empty(n, np.int64)
    current = np.full(n_units, -1, np.int64)
    for k in range(n):
        u = row_unit[k]
        if starts[k]:
            current[u] = next_set[u]
            next_set[u] += 1
            r = order[k]
            for b in range(N_BANDS):
                band_price[current[u], b] = price_band[b][r] / mlf[r]
        price_set[k] = current[u]
    return price_set, band_price
