"""Units as dense codes, and a quick proof that no unit has two rows for one interval.

``allocate`` needs one row per (duid, interval). Counting the distinct pairs by hashing both
columns of every row costs more than the allocation itself; but rows come grouped by unit or in
interval-major order (AEMO's), and in both each unit's intervals increase from row to row. One
pass that checks exactly that proves the pairs distinct; when it does not hold, the caller counts
them the slow way. The codes also tell the allocation kernel where each unit's offer is cached.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_FIRST_BITS = 12
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True)
def _grown(table_hash, table_code, bits):
    """The open-addressing table's entries in a new table of ``2**bits`` slots."""
    new_hash = np.zeros(1 << bits, dtype=np.uint64)
    new_code = np.full(1 << bits, -1, dtype=np.int32)
    shift, mask = np.uint64(64 - bits), (1 << bits) - 1
    for s in range(table_hash.size):
        if table_code[s] >= 0:
            t = np.int64((table_hash[s] * _FIBONACCI) >> shift)
            while new_code[t] >= 0:
                t = (t + 1) & mask
            new_hash[t] = table_hash[s]
            new_code[t] = table_code[s]
    return new_hash, new_code


@njit(cache=True)
def unit_codes_nb(unit_hash: np.ndarray) -> tuple[np.ndarray, int]:
    """A dense code per row (int32, numbered by first appearance) and the number of codes.

    ``unit_hash`` uint64[n]: a hash of each row's unit, equal for equal units. Two units with
    the same hash share a code; callers treat a code as a hint, or fall back when that matters.
    An open-addressing table, slots by Fibonacci hashing, kept at most a quarter full.
    """
    bits = _FIRST_BITS
    table_hash = np.zeros(1 << bits, dtype=np.uint64)
    table_code = np.full(1 << bits, -1, dtype=np.int32)
    codes = np.empty(unit_hash.size, dtype=np.int32)
    n_codes = 0
    for r in range(unit_hash.size):
        h = unit_hash[r]
        shift, mask = np.uint64(64 - bits), (1 << bits) - 1
        s = np.int64((h * _FIBONACCI) >> shift)
        while True:
            code = table_code[s]
            if code < 0:
                table_hash[s] = h
                table_code[s] = n_codes
                code = n_codes
                n_codes += 1
                if 4 * n_codes > table_hash.size:
                    bits += 1
                    table_hash, table_code = _grown(table_hash, table_code, bits)
                break
            if table_hash[s] == h:
                break
            s = (s + 1) & mask
        codes[r] = code
    return codes, n_codes


@njit(cache=True)
def intervals_increase_nb(unit_code: np.ndarray, n_codes: int, interval: np.ndarray) -> bool:
    """True if, row by row, each unit's intervals strictly increase (so no pair repeats).

    ``unit_code`` int32[n] below ``n_codes`` (units sharing a code make the answer False more
    often, never wrongly True); ``interval`` int64[n].
    """
    last = np.full(n_codes, np.iinfo(np.int64).min, dtype=np.int64)
    for r in range(unit_code.size):
        code = unit_code[r]
        if interval[r] <= last[code]:
            return False
        last[code] = interval[r]
    return True
