"""Allocation kernel: a rule table over every unit-interval of a fleet, several variants at once.

Mirrors :mod:`bidstack.reference.allocation` (plain Python, SPEC §2). Arrays in, arrays out; the
frame API in :mod:`bidstack.allocation` owns columns, dtypes and validation of shapes.

The thresholds a term compares against (TPmin, TPmax, SRMC+) and the band prices change per unit
and trading day, not per interval. The kernel therefore works in *segments*: runs of rows that
share an offer (ten prices, mlf, TPmin, TPmax, SRMC+), as a unit-day's 288 intervals do. Each
parallel task takes its rows in blocks of :data:`BLOCK_ROWS` and, for a block,

1. marks the rows whose offer differs from the row before and gives each row its *key*:
   constraint status, semi-dispatch cap, PT and PP, 96 keys in all, plus one for a row whose
   codes are out of range (loops that vectorise);
2. at the start of each segment finds the offer in the task's cache, or validates it, answers
   its threshold terms and resolves every cell of every variant into a table of 97 entries per
   variant: the packed band, outcome and within-limits flag of each key
   (:mod:`bidstack.kernel.offer_table`);
3. looks each row of the segment up in that table, a gather per variant and row;
4. unpacks the block into the buffers of the Arrow output columns while they are in cache.

Rows whose thresholds change every interval make one-row segments and are resolved on their
own; cells with FRRP terms, which change per interval by nature, are resolved row by row.

Each task remembers the last offer it resolved for each unit (``unit_code``, from
:mod:`bidstack.kernel.keys`), so that rows in interval-major order — AEMO's order, where every
row starts a segment — compare the row's offer with its unit's instead of resolving it again.
A block where most rows are another unit than the row before skips step 1's comparison (it
would find nothing) and marks every row.
A unit code is only a hint (two units may share one): an offer is reused only when all fourteen
values are equal, so the answers are the same in any row order.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from bidstack.kernel.codes import (
    N_CELLS,
    N_TERMS,
    PP_INDEX,
    PT_INDEX,
    REASON_FRRP_MISSING,
    REASON_NONE,
)
from bidstack.kernel.offer_table import (
    ENTRY_PER_INTERVAL,
    INVALID_INPUT,
    KEY_INVALID,
    N_BANDS,
    N_ENTRY_OF,
    N_KEYS,
    N_OFFER,
    OUTCOME_SHIFT,
    cell_program,
    frrp_entry,
    resolve_slot,
    row_reason,
)

#: Rows per parallel task.
CHUNK_ROWS = 1 << 16
#: Rows a task handles at a time (steps 1-4 above). A multiple of 8, so that a block fills whole
#: bytes of the output bitmaps, and a divisor of CHUNK_ROWS; large enough for the column passes
#: to stream from memory, small enough for the block's scratch to stay in the core's L2 cache.
BLOCK_ROWS = 1 << 14
#: Row codes: constraint status + 1 (0..2), semi-dispatch cap (0..1), PT + 10 and PP + 10
#: (0..20 each), mixed-radix; N_CODES stands for any value out of those ranges.
N_CODES = 3 * 2 * 21 * 21


def _key_of_code() -> np.ndarray:
    """uint8[N_CODES + 1]: the row key of each row code (KEY_INVALID for an invalid PT or PP)."""
    table = np.full(N_CODES + 1, KEY_INVALID, dtype=np.uint8)
    for status_sdc in range(6):
        for pt in range(21):
            for pp in range(21):
                pti, ppi = int(PT_INDEX[pt]), int(PP_INDEX[pp])
                if pti >= 0 and ppi >= 0 and (ppi != 3 or pti == 3):
                    table[(status_sdc * 21 + pt) * 21 + pp] = status_sdc * 16 + pti * 4 + ppi
    return table


KEY_OF_CODE = _key_of_code()


# Constants of the bitmap packing in :func:`_emit`, as uint64 so that Numba keeps the arithmetic
# unsigned: the low bit of each byte, and the multiplier that gathers those eight bits into the
# top byte (bit j from byte j).
_LOW_BITS = np.uint64(0x0101010101010101)
_GATHER_BITS = np.uint64(0x0102040810204080)
_U1, _U2, _U3, _U6, _U7, _U56 = (np.uint64(s) for s in (1, 2, 3, 6, 7, 56))


@njit(cache=True)
def _mark_offer_changes(price_band, mlf, tp_min, tp_max, srmc_plus, lo, hi, first, changed):
    """Flag the rows of ``lo..hi-1`` whose offer differs from the row before.

    Row ``lo`` is flagged outright when ``first`` (the start of a task: nothing is resolved).
    One loop compares all fourteen columns, so that it vectorises and streams each column once.
    NaN differs from everything, so a row with a missing value always starts a segment.
    """
    start = lo + 1 if first else lo
    if first:
        changed[0] = True
    p0, q0 = price_band[0][start:hi], price_band[0][start - 1 : hi - 1]
    p1, q1 = price_band[1][start:hi], price_band[1][start - 1 : hi - 1]
    p2, q2 = price_band[2][start:hi], price_band[2][start - 1 : hi - 1]
    p3, q3 = price_band[3][start:hi], price_band[3][start - 1 : hi - 1]
    p4, q4 = price_band[4][start:hi], price_band[4][start - 1 : hi - 1]
    p5, q5 = price_band[5][start:hi], price_band[5][start - 1 : hi - 1]
    p6, q6 = price_band[6][start:hi], price_band[6][start - 1 : hi - 1]
    p7, q7 = price_band[7][start:hi], price_band[7][start - 1 : hi - 1]
    p8, q8 = price_band[8][start:hi], price_band[8][start - 1 : hi - 1]
    p9, q9 = price_band[9][start:hi], price_band[9][start - 1 : hi - 1]
    r0, s0 = mlf[start:hi], mlf[start - 1 : hi - 1]
    r1, s1 = tp_min[start:hi], tp_min[start - 1 : hi - 1]
    r2, s2 = tp_max[start:hi], tp_max[start - 1 : hi - 1]
    r3, s3 = srmc_plus[start:hi], srmc_plus[start - 1 : hi - 1]
    flags = changed[start - lo : hi - lo]
    for j in range(hi - start):
        flags[j] = (
            (p0[j] != q0[j]) | (p1[j] != q1[j]) | (p2[j] != q2[j]) | (p3[j] != q3[j])
            | (p4[j] != q4[j]) | (p5[j] != q5[j]) | (p6[j] != q6[j]) | (p7[j] != q7[j])
            | (p8[j] != q8[j]) | (p9[j] != q9[j]) | (r0[j] != s0[j]) | (r1[j] != s1[j])
            | (r2[j] != s2[j]) | (r3[j] != s3[j])
        )  # fmt: skip


@njit(cache=True)
def _unit_changes(unit_code, lo, hi):
    """How many rows of ``lo+1..hi-1`` have a unit code other than the row before's.

    Where most rows do (interval-major order), comparing each row's offer with the row before's
    finds nothing to reuse: the kernel marks every row changed and compares with its unit's
    cached offer instead.
    """
    after, before = unit_code[lo + 1 : hi], unit_code[lo : hi - 1]
    count = 0
    for j in range(hi - lo - 1):
        count += after[j] != before[j]
    return count


@njit(cache=True)
def _mark_keys(constraint_status, semidispatchcap, price_type, price_phase, max_capacity, lo,
               hi, code, key):  # fmt: skip
    """Each row's key (KEY_INVALID where a code or max_capacity is invalid).

    The first loop packs the codes as they are into ``code``, with no table look-up, so that it
    vectorises; the second looks the keys up.
    """
    status_, sdc_ = constraint_status[lo:hi], semidispatchcap[lo:hi]
    pt_, pp_, capacity = price_type[lo:hi], price_phase[lo:hi], max_capacity[lo:hi]
    for j in range(hi - lo):
        status = np.int32(status_[j]) + np.int32(1)
        sdc = np.int32(sdc_[j])
        pt = np.int32(pt_[j]) + np.int32(10)
        pp = np.int32(pp_[j]) + np.int32(10)
        valid = (
            (status >= 0) & (status <= 2) & (sdc >= 0) & (sdc <= 1)
            & (pt >= 0) & (pt <= 20) & (pp >= 0) & (pp <= 20)
            & (capacity[j] >= 0.0) & (capacity[j] < np.inf)
        )  # fmt: skip
        code[j] = ((status * 2 + sdc) * 21 + pt) * 21 + pp if valid else N_CODES
    for j in range(hi - lo):
        key[j] = KEY_OF_CODE[code[j]]


@njit(cache=True)
def _load_offer(price_band, mlf, tp_min, tp_max, srmc_plus, i, offer):
    """Copy row ``i``'s offer into ``offer``."""
    for k in range(N_BANDS):
        offer[k] = price_band[k][i]
    offer[N_BANDS] = mlf[i]
    offer[N_BANDS + 1] = tp_min[i]
    offer[N_BANDS + 2] = tp_max[i]
    offer[N_BANDS + 3] = srmc_plus[i]


@njit(cache=True)
def _is_cached(price_band, mlf, tp_min, tp_max, srmc_plus, i, cache, slot):
    """Whether row ``i``'s offer is ``cache[slot]`` (float64[N_OFFER]; NaN where empty, so that
    a missing value never matches). Indexes the cache rather than taking a view of its row: a
    view costs a reference count, row by row in interval-major order."""
    for k in range(N_BANDS):
        if price_band[k][i] != cache[slot, k]:
            return False
    return (
        (mlf[i] == cache[slot, N_BANDS]) & (tp_min[i] == cache[slot, N_BANDS + 1])
        & (tp_max[i] == cache[slot, N_BANDS + 2]) & (srmc_plus[i] == cache[slot, N_BANDS + 3])
    )  # fmt: skip


@njit(cache=True)
def _emit(packed, lo, m, band_out, outcome_out, band_valid_out, within_out, within_valid_out):
    """Write a block's packed allocations (uint8[V, BLOCK_ROWS], ``m`` rows, starting at row
    ``lo``, a multiple of 8) as the buffers of the Arrow columns."""
    n_bytes = (m + 7) // 8
    first_byte = lo // 8
    for v in range(packed.shape[0]):
        row, band, outcome = packed[v], band_out[v, lo : lo + m], outcome_out[v, lo : lo + m]
        for j in range(m):
            band[j] = row[j] & 0xF
            outcome[j] = (row[j] >> OUTCOME_SHIFT) & 0x3
        row[m : n_bytes * 8] = 0
        words = row.view(np.uint64)
        for b in range(n_bytes):
            # Each byte of ``word`` is one row (on a little-endian machine); gather one flag bit
            # per byte, then the eight flags into one byte, row j at bit j (Arrow's bitmaps).
            word = words[b]
            has_band = (word | word >> _U1 | word >> _U2 | word >> _U3) & _LOW_BITS
            has_within = (word >> _U6 | word >> _U7) & _LOW_BITS
            is_within = (word >> _U7) & _LOW_BITS
            band_valid_out[v, first_byte + b] = (has_band * _GATHER_BITS) >> _U56
            within_valid_out[v, first_byte + b] = (has_within * _GATHER_BITS) >> _U56
            within_out[v, first_byte + b] = (is_within * _GATHER_BITS) >> _U56


@njit(cache=True)
def _allocate_chunk(
    lo, hi, price_band, mlf, tp_min, tp_max, srmc_plus, frrp, max_capacity,
    constraint_status, semidispatchcap, price_type, price_phase, unit_code, n_units, op, terms,
    program, band_out, outcome_out, band_valid_out, within_out, within_valid_out, reason_out,
):  # fmt: skip
    cell_pick, cell_offset, cell_of_key, per_interval = program
    n_variants = op.shape[0]
    # each unit's last offer and its resolution: why it is invalid, the fields of
    # resolve_offer, and every variant's entries (the last column of each ``invalid_input``)
    slots = n_units
    cached_offer = np.full((slots, N_OFFER), np.nan)
    cached_reason = np.zeros(slots, dtype=np.int64)
    cached_referred = np.empty((slots, N_BANDS))
    cached_answers = np.zeros((slots, N_TERMS), dtype=np.int8)
    cached_within = np.zeros((slots, N_BANDS + 1), dtype=np.int8)
    cached_entries = np.empty((slots, n_variants, N_KEYS + 1), dtype=np.uint8)
    slot = 0
    pick = np.empty(2 * N_TERMS, dtype=np.int64)
    entry_of = np.empty(N_ENTRY_OF, dtype=np.uint8)
    cell_entry = np.empty(N_CELLS, dtype=np.uint8)
    changed = np.empty(BLOCK_ROWS, dtype=np.bool_)
    code = np.empty(BLOCK_ROWS, dtype=np.int32)
    key = np.empty(BLOCK_ROWS, dtype=np.uint8)
    packed = np.empty((n_variants, BLOCK_ROWS), dtype=np.uint8)
    offer_reason = REASON_NONE
    for block_lo in range(lo, hi, BLOCK_ROWS):
        m = min(hi, block_lo + BLOCK_ROWS) - block_lo
        first = block_lo == lo
        if 4 * _unit_changes(unit_code, block_lo, block_lo + m) < m:
            _mark_offer_changes(
                price_band, mlf, tp_min, tp_max, srmc_plus, block_lo, block_lo + m, first, changed
            )
        else:
            changed[:m] = True
        _mark_keys(
            constraint_status, semidispatchcap, price_type, price_phase, max_capacity,
            block_lo, block_lo + m, code, key,
        )  # fmt: skip
        # row by row, indexing the cache rather than taking views of it, so that rows in
        # interval-major order (every row a new segment) cost no more than the gathers
        any_per_interval = per_interval.any()
        for j in range(m):
            if changed[j]:
                i = block_lo + j
                slot = unit_code[i]
                if not _is_cached(
                    price_band, mlf, tp_min, tp_max, srmc_plus, i, cached_offer, slot
                ):
                    offer = cached_offer[slot]
                    _load_offer(price_band, mlf, tp_min, tp_max, srmc_plus, i, offer)
                    cached_reason[slot] = resolve_slot(
                        slot, offer, cached_referred, cached_answers, cached_within,
                        cached_entries, cell_pick, cell_offset, cell_of_key, pick, entry_of,
                        cell_entry,
                    )  # fmt: skip
                offer_reason = cached_reason[slot]
            row_key = key[j]
            for v in range(n_variants):
                packed[v, j] = cached_entries[slot, v, row_key]
            if offer_reason != REASON_NONE or row_key == KEY_INVALID:
                i = block_lo + j
                reason_out[i] = row_reason(
                    offer_reason, max_capacity[i], constraint_status[i], semidispatchcap[i],
                    price_type[i], price_phase[i],
                )  # fmt: skip
            if any_per_interval:
                for v in range(n_variants):
                    if per_interval[v] and packed[v, j] == ENTRY_PER_INTERVAL:
                        i = block_lo + j
                        entry = frrp_entry(
                            op, terms, v, cell_of_key[v, row_key], cached_answers[slot],
                            cached_referred[slot], cached_within[slot], frrp[i],
                        )  # fmt: skip
                        if entry == ENTRY_PER_INTERVAL:
                            reason_out[i] = REASON_FRRP_MISSING
                            entry = INVALID_INPUT
                        packed[v, j] = entry
        _emit(
            packed, block_lo, m, band_out, outcome_out, band_valid_out, within_out,
            within_valid_out,
        )  # fmt: skip


@njit(cache=True, parallel=True)
def allocate_rows(
    price_band, mlf, tp_min, tp_max, srmc_plus, frrp, max_capacity,
    constraint_status, semidispatchcap, price_type, price_phase, unit_code, n_units, op, terms,
    route, band_out, outcome_out, band_valid_out, within_out, within_valid_out, reason_out,
):  # fmt: skip
    """Allocate every row under every compiled variant, in one parallel pass.

    Parameters (n rows, V variants; every array C-contiguous and read-only):

    - ``price_band``: tuple of ten float64[n], PB1..PB10 as offered ($/MWh).
    - ``mlf``, ``tp_min``, ``tp_max``, ``srmc_plus``, ``max_capacity``: float64[n]. NaN or an
      infinity = missing.
    - ``frrp``: float64[n], or float64[0] when no variant has an FRRP term.
    - ``constraint_status``: int8[n] in {-1, 0, 1}; ``semidispatchcap``: int8[n] in {0, 1};
      ``price_type``, ``price_phase``: int8[n] in {10, 1, -1, -10}. Any other value (for example
      ``codes.MISSING_CODE``) makes the row ``invalid_input``.
    - ``unit_code``: int32[n], each row's unit, below ``n_units`` (where its offer is cached).
    - ``op``, ``terms``, ``route``: a :class:`bidstack.rules.CompiledRules`.

    Outputs, written in place, row i of each belonging to input row i; they are the buffers of
    each variant's three Arrow columns:

    - ``band_out``: int8[V, n], the band 1..10 (0 when none) and ``band_valid_out``: uint8[V,
      ceil(n / 8)], its validity bitmap (a band was chosen);
    - ``outcome_out``: uint8[V, n], the :data:`bidstack.kernel.codes.OUTCOME` code;
    - ``within_out``, ``within_valid_out``: uint8[V, ceil(n / 8)], bitmaps of within limits (the
      band is PB1, or priced over mlf within [TPmin, TPmax]) and of its validity (something was
      allocated);
    - ``reason_out``: uint8[n], zeroed by the caller; set where a row is ``invalid_input`` under
      some variant, to why (:data:`bidstack.kernel.codes.INVALID_REASONS`).
    """
    n = max_capacity.size
    program = cell_program(op, terms, route)
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    for c in prange(n_chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        _allocate_chunk(
            lo, hi, price_band, mlf, tp_min, tp_max, srmc_plus, frrp, max_capacity,
            constraint_status, semidispatchcap, price_type, price_phase, unit_code, n_units, op,
            terms, program, band_out, outcome_out, band_valid_out, within_out, within_valid_out,
            reason_out,
        )  # fmt: skip
