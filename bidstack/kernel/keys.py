"""Units as dense codes, and a quick proof that no unit has two rows for one interval.

``allocate`` needs one row per (duid, interval). Counting the distinct pairs by hashing both
columns of every row costs more than the allocation itself; but rows come grouped by unit or in
interval-major order (AEMO's), and in both each unit's intervals increase from row to row. The
pass that numbers the units checks exactly that, which proves the pairs distinct; when it does
not hold, the caller counts them the slow way. The codes also tell the allocation kernel where
each unit's offer is cached.

The pass is parallel: each task numbers the units of its :data:`CHUNK_ROWS` rows by first
appearance and checks their intervals; a short merge numbers the tasks' units in task order (so
codes still count units by first appearance in the table) and checks each unit's intervals
across tasks; last, a task's codes are renumbered where its numbering differs from the merged one.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

#: Rows per parallel task.
CHUNK_ROWS = 1 << 16
#: Rows :func:`_chunk_period` compares between checks for a miss.
_RUN_ROWS = 1 << 10
_FIRST_BITS = 12
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)
_LOW_HALF = np.uint64(0xFFFFFFFF)
#: The longest string an Arrow string view holds whole (the bytes after its 4-byte length).
_INLINE_BYTES = np.uint64(12)


@njit(cache=True)
def _slot(table_hash, table_code, shift, h):
    """The slot of ``h`` in an open-addressing table of ``2**(64 - shift)`` slots (Fibonacci
    hashing, linear probing): where it is, or the empty slot where it goes (code -1)."""
    mask = table_hash.size - 1
    s = np.int64((h * _FIBONACCI) >> shift)
    while table_code[s] >= 0 and table_hash[s] != h:
        s = (s + 1) & mask
    return s


@njit(cache=True)
def _number_chunk(keys, interval, lo, hi, bits, code, unit_hash, first, last):
    """Number the units of rows ``lo..hi-1`` by first appearance into ``code``, the hash of the
    chunk's unit ``u`` into ``unit_hash[lo + u]``, its first and last interval into ``first`` and
    ``last`` (when checked).

    Returns the number of units (-1 when they are more than a quarter of ``2**bits``, the size of
    the table: call again with a larger one), whether every key holds its string whole, and
    whether each unit's intervals increase within the chunk.

    Rows in interval-major order usually list the same units in the same order interval after
    interval: when the chunk's rows repeat with a period of distinct units
    (:func:`_chunk_period`), only the first period is looked up, and its codes repeat.
    """
    period = _chunk_period(keys, interval, lo, hi)
    if period:
        n_units, whole, increase = _number_rows(
            keys, interval, lo, lo + period, bits, code, unit_hash, first, last
        )
        if n_units < 0:  # the table is full, and would be for the whole chunk: call again
            return n_units, whole, increase
        if n_units == period:
            for r in range(lo + period, hi):
                code[r] = code[r - period]
            for r in range(hi - period, hi):
                last[lo + code[r]] = interval[r]
            return n_units, whole, increase
    return _number_rows(keys, interval, lo, hi, bits, code, unit_hash, first, last)


@njit(cache=True)
def _chunk_period(keys, interval, lo, hi):
    """The rows from ``lo`` to the next row with its key, when every row of ``lo..hi-1`` after
    that many has the key of the row that many before it, at a later interval; else 0 (as when
    intervals are not checked, or the next row has the same key: rows grouped by unit)."""
    if interval.size == 0:
        return 0
    period = 1
    while lo + period < hi and (
        keys[lo + period, 0] != keys[lo, 0] or keys[lo + period, 1] != keys[lo, 1]
    ):
        period += 1
    if period == 1 or lo + period == hi:
        return 0
    # in short runs that vectorise, stopping at the first run with a miss
    for start in range(lo + period, hi, _RUN_ROWS):
        stop = min(hi, start + _RUN_ROWS)
        now0, now1, now_t = keys[start:stop, 0], keys[start:stop, 1], interval[start:stop]
        before = slice(start - period, stop - period)
        then0, then1, then_t = keys[before, 0], keys[before, 1], interval[before]
        miss = False
        for j in range(stop - start):
            miss |= (now0[j] != then0[j]) | (now1[j] != then1[j]) | (now_t[j] <= then_t[j])
        if miss:
            return 0
    return period


@njit(cache=True)
def _number_rows(keys, interval, lo, hi, bits, code, unit_hash, first, last):
    """:func:`_number_chunk` row by row, each new key looked up in a hash table."""
    table_hash = np.zeros(1 << bits, dtype=np.uint64)
    table_code = np.full(1 << bits, -1, dtype=np.int32)
    shift = np.uint64(64 - bits)
    limit = table_hash.size // 4
    n_units = 0
    whole = True
    unit = 0
    before0, before1 = ~keys[lo, 0], keys[lo, 1]
    for r in range(lo, hi):
        word0, word1 = keys[r, 0], keys[r, 1]
        # a row of the same unit as the row before (rows grouped by unit) needs no look-up
        if word0 != before0 or word1 != before1:
            before0, before1 = word0, word1
            whole &= (word0 & _LOW_HALF) <= _INLINE_BYTES
            h = (word0 * _FIBONACCI) ^ word1
            s = _slot(table_hash, table_code, shift, h)
            unit = table_code[s]
            if unit < 0:
                # past a quarter full, stop adding (so that probes still end): the answer is -1
                unit = min(n_units, limit)
                n_units += 1
                if n_units <= limit:
                    table_hash[s] = h
                    table_code[s] = unit
                    unit_hash[lo + unit] = h
                    if interval.size:
                        first[lo + unit] = interval[r]
        code[r] = unit
    if n_units > limit:
        return -1, whole, False
    increase = interval.size > 0 and _intervals_increase(
        code[lo:hi], interval[lo:hi], last[lo : lo + n_units]
    )
    return n_units, whole, increase


@njit(cache=True)
def _intervals_increase(code, interval, last):
    """Whether, row by row, the intervals of each code increase; ``last`` (one per code) gets
    each code's last interval."""
    last[:] = np.iinfo(np.int64).min
    for r in range(code.size):
        u = code[r]
        if interval[r] <= last[u]:
            return False
        last[u] = interval[r]
    return True


@njit(cache=True)
def _merge(unit_hash, first, last, n_units, bits, renumber, as_is):
    """Number the chunks' units (:func:`_number_chunk`) across the table, chunk by chunk: each
    chunk's own code ``u`` -> ``renumber[c * CHUNK_ROWS + u]``, ``as_is[c]`` where they are all
    the same. Returns the number of codes (-1 when more than a quarter of ``2**bits``), and
    whether each unit's intervals increase from chunk to chunk (False when not checked)."""
    check = first.size > 0
    table_hash = np.zeros(1 << bits, dtype=np.uint64)
    table_code = np.full(1 << bits, -1, dtype=np.int32)
    shift = np.uint64(64 - bits)
    last_of = np.empty(n_units.sum() if check else 0, dtype=np.int64)
    n_codes = 0
    increase = check
    for c in range(n_units.size):
        base = c * CHUNK_ROWS
        as_is[c] = True
        for u in range(n_units[c]):
            s = _slot(table_hash, table_code, shift, unit_hash[base + u])
            g = table_code[s]
            if g < 0:
                g = n_codes
                n_codes += 1
                if 4 * n_codes > table_hash.size:
                    return -1, False
                table_hash[s] = unit_hash[base + u]
                table_code[s] = g
            elif check:
                increase &= first[base + u] > last_of[g]
            if check:
                last_of[g] = last[base + u]
            renumber[base + u] = g
            as_is[c] &= g == u
    return n_codes, increase


@njit(cache=True, parallel=True)
def unit_codes_nb(keys: np.ndarray, interval: np.ndarray, code: np.ndarray) -> tuple[int, bool]:
    """Each row's unit as a dense code, into ``code`` (int32[n]); and whether each unit's
    intervals increase.

    ``keys`` uint64[n, 2], C-contiguous: each row's unit as 16 bytes, equal for equal units, laid
    out as an Arrow string view (read as two little-endian words): a 4-byte length, then for a
    length up to 12 the bytes themselves, zero-padded. A String column's views are its keys as
    they are; a hash or code of the duid goes in the second word, with length 0. ``interval``
    int64[n], or int64[0] not to check.

    Codes are numbered by first appearance. Returns ``(n_codes, increase)``: the number of codes,
    or -1 when some key is longer than 12 bytes (a view then holds a prefix and where the string
    is, not the string: hash the strings instead); and True if, row by row, each unit's intervals
    strictly increase (so no (unit, interval) pair repeats; always False when not checked). Units
    whose keys hash alike share a code: callers treat a code as a hint (units sharing one make
    ``increase`` False more often, never wrongly True). The caller allocates ``code`` (NumPy
    backs a large array with huge pages: cheaper to fill than Numba's allocation).
    """
    n = keys.shape[0]
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    check = interval.size > 0
    # per chunk c, at c * CHUNK_ROWS + its own code: each unit's hash, first and last interval
    unit_hash = np.empty(n, dtype=np.uint64)
    first = np.empty(n if check else 0, dtype=np.int64)
    last = np.empty(n if check else 0, dtype=np.int64)
    n_units = np.full(n_chunks, -1, dtype=np.int64)
    whole = np.empty(n_chunks, dtype=np.bool_)
    increase = np.empty(n_chunks, dtype=np.bool_)
    for c in prange(n_chunks):
        lo, hi = c * CHUNK_ROWS, min(n, (c + 1) * CHUNK_ROWS)
        bits = _FIRST_BITS
        while n_units[c] < 0:
            n_units[c], whole[c], increase[c] = _number_chunk(
                keys, interval, lo, hi, bits, code, unit_hash, first, last
            )
            bits += 2
    if not whole.all():
        return -1, False
    renumber = np.empty(n, dtype=np.int32)
    as_is = np.empty(n_chunks, dtype=np.bool_)
    n_codes, bits = -1, _FIRST_BITS
    while n_codes < 0:
        n_codes, increase_across = _merge(unit_hash, first, last, n_units, bits, renumber, as_is)
        bits += 2
    for c in prange(n_chunks):
        if not as_is[c]:
            base = c * CHUNK_ROWS
            for r in range(base, min(n, base + CHUNK_ROWS)):
                code[r] = renumber[base + code[r]]
    return n_codes, increase_across and increase.all()
