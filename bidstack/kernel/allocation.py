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
2. at the start of each segment validates the offer, answers its threshold terms once, and
   resolves every cell of every variant into a table of 97 entries per variant: the packed band,
   outcome and within-limits flag of each key;
3. looks each row of the segment up in that table, a gather per variant and row;
4. unpacks the block into the buffers of the Arrow output columns while they are in cache.

Rows whose thresholds change every interval make one-row segments and are resolved on their
own; cells with FRRP terms, which change per interval by nature, are resolved row by row.

Each task remembers the offers it has resolved (:data:`CACHE_SETS` sets of two, found by a hash
of the offer's fourteen values), so that rows in interval-major order — AEMO's order, where
every row starts a segment — look a unit's offer up instead of resolving it again: allocation
runs as fast on them as on rows grouped by unit, with the same answers.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from bidstack.kernel.codes import (
    BAND_NONE,
    CELL_PRICE_TYPE_10,
    CELLS_PER_TABLE,
    MAX_TERMS,
    N_CELLS,
    N_TERMS,
    OP_MAX,
    OP_NOT_APPLICABLE,
    OUTCOME,
    PP_INDEX,
    PT_INDEX,
    REASON_CAPACITY,
    REASON_CONSTRAINT_STATUS,
    REASON_FRRP_MISSING,
    REASON_MLF,
    REASON_NONE,
    REASON_NOT_ASCENDING,
    REASON_PHASE_PAIR,
    REASON_PRICE_MISSING,
    REASON_PRICE_PHASE,
    REASON_PRICE_TYPE,
    REASON_SEMIDISPATCHCAP,
    REASON_THRESHOLD_MISSING,
    REF_FRRP,
    TERM_ABOVE,
    TERM_BELOW,
    TERM_NONE,
)

N_BANDS = 10
#: Offer fields: ten prices, then mlf, TPmin, TPmax, SRMC+.
N_OFFER = N_BANDS + 4
#: Rows per parallel task.
CHUNK_ROWS = 1 << 16
#: Rows a task handles at a time (steps 1-4 above). A multiple of 8, so that a block fills whole
#: bytes of the output bitmaps, and a divisor of CHUNK_ROWS; large enough for the column passes
#: to stream from memory, small enough for the block's scratch to stay in the core's L2 cache.
BLOCK_ROWS = 1 << 14
#: Row keys: 3 constraint statuses x 2 semi-dispatch caps x 4 PT x 4 PP, then the key of rows
#: whose codes are out of range (or PP = 10 with PT != 10), always ``invalid_input``.
N_KEYS = 3 * 2 * 16
KEY_INVALID = N_KEYS
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

#: A unit-interval's allocation under one variant, packed in one byte: the band (bits 0-3,
#: 0 = none), the outcome code (bits 4-5) and within limits (bits 6-7: 0 null, 1 false, 2 true).
OUTCOME_SHIFT = 4
WITHIN_SHIFT = 6
NOT_APPLICABLE = OUTCOME.not_applicable << OUTCOME_SHIFT
NO_BAND = OUTCOME.no_band << OUTCOME_SHIFT
INVALID_INPUT = OUTCOME.invalid_input << OUTCOME_SHIFT
ALLOCATED = OUTCOME.allocated << OUTCOME_SHIFT
#: The entry of a cell with an FRRP term, resolved per interval; no packed allocation reaches
#: this value (the largest is 10 | 3 << 4 | 2 << 6 = 186).
ENTRY_PER_INTERVAL = 255

# Resolving a cell without branches (:func:`_cell_program`, :func:`_resolve_entries`). A cell
# takes the lowest (``min``) or highest (``max``) band its terms answer, ignoring terms that no
# band satisfies. Per offer, ``pick`` holds each term's answer twice: as is for ``min`` cells,
# mirrored (11 - band) for ``max`` cells, with NO_PICK where no band satisfies the term and for
# TERM_NONE; so a cell of either kind is the minimum of its terms' picks, NO_PICK if none
# answered. ``entry_of[pick + offset]`` then gives the packed entry, the offset saying which
# half of the table to read (or pointing at the N/A and per-interval entries).
NO_PICK = N_BANDS + 1
OFFSET_MIN = 0  # entries at 1..11
OFFSET_MAX = NO_PICK + 1  # entries at 13..23
OFFSET_NOT_APPLICABLE = OFFSET_MAX + 1  # no terms, so always entry_of[NO_PICK + 13]
OFFSET_PER_INTERVAL = OFFSET_MAX + 2  # no terms kept, so always entry_of[NO_PICK + 14]
N_ENTRY_OF = OFFSET_PER_INTERVAL + NO_PICK + 1
if MAX_TERMS != 4:  # pragma: no cover - a guard for whoever changes the rule grammar
    raise RuntimeError("_resolve_entries takes the lowest of exactly four picks per cell")

#: Sets of the offer cache of a task (two offers each): ample for the ~500 units of the NEM.
CACHE_SETS = 1 << 11
_SET_SHIFT = np.uint64(64 - 11)
_FNV_BASIS = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)

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
def _mark_keys(constraint_status, semidispatchcap, price_type, price_phase, max_capacity, lo,
               hi, code, key):  # fmt: skip
    """Each row's key (KEY_INVALID where a code or max_capacity is invalid); return how many
    rows of ``lo..hi-1`` have KEY_INVALID.

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
            & (pt >= 0) & (pt <= 20) & (pp >= 0) & (pp <= 20) & (capacity[j] >= 0.0)
        )  # fmt: skip
        code[j] = ((status * 2 + sdc) * 21 + pt) * 21 + pp if valid else N_CODES
    n_invalid = 0
    for j in range(hi - lo):
        key[j] = KEY_OF_CODE[code[j]]
        n_invalid += key[j] == KEY_INVALID
    return n_invalid


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
def _cached_slot(offer, offer_bits, cached_offer, older):
    """The cache slot holding ``offer`` and True, or the slot to resolve it into and False.

    ``offer_bits`` is ``offer`` viewed as uint64; ``cached_offer`` float64[2 * CACHE_SETS,
    N_OFFER] (NaN where empty, so a missing value never matches); ``older`` int64[CACHE_SETS],
    the least recently used slot of each set (0 or 1), the one a new offer replaces.
    """
    h = _FNV_BASIS
    for k in range(N_OFFER):
        h = (h ^ offer_bits[k]) * _FNV_PRIME
    s = np.int64(h >> _SET_SHIFT)
    for way in range(2):
        slot = 2 * s + way
        same = True
        for k in range(N_OFFER):
            if cached_offer[slot, k] != offer[k]:
                same = False
                break
        if same:
            older[s] = 1 - way
            return slot, True
    way = older[s]
    older[s] = 1 - way
    slot = 2 * s + way
    cached_offer[slot, :] = offer
    return slot, False


@njit(cache=True)
def _resolve_offer(offer, referred, answers, within):
    """Validate an offer and answer its threshold terms; return why it is invalid, or 0.

    Fills ``referred[k]`` (price of band k+1 divided by mlf), ``answers[term]`` (the band each
    non-FRRP term picks, 0 when none does) and ``within[band]`` (1 if the band may be given
    volume within [TPmin, TPmax], PB1 always).
    """
    for k in range(N_BANDS):
        if np.isnan(offer[k]):
            return REASON_PRICE_MISSING
    for k in range(1, N_BANDS):
        if not offer[k] > offer[k - 1]:
            return REASON_NOT_ASCENDING
    mlf = offer[N_BANDS]
    if not mlf > 0.0:
        return REASON_MLF
    for k in range(N_BANDS + 1, N_OFFER):
        if np.isnan(offer[k]):
            return REASON_THRESHOLD_MISSING
    for k in range(N_BANDS):
        referred[k] = offer[k] / mlf
    for term in range(1, N_BANDS + 1):
        answers[term] = term
    for ref in range(REF_FRRP):
        _answer_threshold(referred, offer[N_BANDS + 1 + ref], ref, answers)
    tp_min = offer[N_BANDS + 1]
    tp_max = offer[N_BANDS + 2]
    within[0] = 0
    within[1] = 1
    for band in range(2, N_BANDS + 1):
        price = referred[band - 1]
        within[band] = 1 if tp_min <= price <= tp_max else 0
    return REASON_NONE


@njit(cache=True)
def _answer_threshold(referred, threshold, ref, answers):
    """``>X``: the lowest band priced above X; ``<X``: the highest band priced below X."""
    above = BAND_NONE
    below = BAND_NONE
    for k in range(N_BANDS):
        if referred[k] < threshold:
            below = k + 1
        if above == BAND_NONE and referred[k] > threshold:
            above = k + 1
    answers[TERM_ABOVE + ref] = above
    answers[TERM_BELOW + ref] = below


@njit(cache=True)
def _row_reason(offer_reason, max_capacity, status, sdc, pt, pp):
    """Why a row is invalid (the first check that fails), or 0 if it is valid."""
    if offer_reason != REASON_NONE:
        return offer_reason
    if not max_capacity >= 0.0:
        return REASON_CAPACITY
    if not -1 <= status <= 1:
        return REASON_CONSTRAINT_STATUS
    if not 0 <= sdc <= 1:
        return REASON_SEMIDISPATCHCAP
    if not (-10 <= pt <= 10 and PT_INDEX[pt + 10] >= 0):
        return REASON_PRICE_TYPE
    if not (-10 <= pp <= 10 and PP_INDEX[pp + 10] >= 0):
        return REASON_PRICE_PHASE
    if pp == 10 and pt != 10:
        return REASON_PHASE_PAIR
    return REASON_NONE


@njit(cache=True)
def _key_cell(route, v, key):
    """The cell of variant ``v`` that a row key selects (SPEC §2, "which table applies")."""
    status_sdc, pt_pp = divmod(key, 16)
    pti, ppi = divmod(pt_pp, 4)
    if pti == 3:
        return CELL_PRICE_TYPE_10
    status, sdc = divmod(status_sdc, 2)
    return route[v, status, sdc] * CELLS_PER_TABLE + ppi * 3 + pti


@njit(cache=True)
def _has_frrp_term(terms, v, cell):
    for t in range(MAX_TERMS):
        if terms[v, cell, t] in (TERM_ABOVE + REF_FRRP, TERM_BELOW + REF_FRRP):
            return True
    return False


@njit(cache=True)
def _cell_program(op, terms, route):
    """What resolving each cell needs, from the compiled rules (once per call).

    Returns ``cell_pick`` int64[V, N_CELLS, MAX_TERMS] (where each term's pick is in ``pick``),
    ``cell_offset`` int64[V, N_CELLS] (its offset in ``entry_of``), ``cell_of_key`` int64[V,
    N_KEYS] (the cell each row key selects) and ``per_interval`` bool[V] (the variant has cells
    with FRRP terms).
    """
    n_variants = op.shape[0]
    cell_pick = np.zeros((n_variants, N_CELLS, MAX_TERMS), dtype=np.int64)
    cell_offset = np.empty((n_variants, N_CELLS), dtype=np.int64)
    per_interval = np.zeros(n_variants, dtype=np.bool_)
    for v in range(n_variants):
        for cell in range(N_CELLS):
            if op[v, cell] == OP_NOT_APPLICABLE:
                cell_offset[v, cell] = OFFSET_NOT_APPLICABLE
            elif _has_frrp_term(terms, v, cell):
                cell_offset[v, cell] = OFFSET_PER_INTERVAL
                per_interval[v] = True
            else:
                is_max = op[v, cell] == OP_MAX
                cell_offset[v, cell] = OFFSET_MAX if is_max else OFFSET_MIN
                ended = False
                for t in range(MAX_TERMS):
                    ended = ended or terms[v, cell, t] == TERM_NONE
                    term = TERM_NONE if ended else terms[v, cell, t]
                    cell_pick[v, cell, t] = term + (N_TERMS if is_max else 0)
    cell_of_key = np.empty((n_variants, N_KEYS), dtype=np.int64)
    for v in range(n_variants):
        for key in range(N_KEYS):
            cell_of_key[v, key] = _key_cell(route, v, key)
    return cell_pick, cell_offset, cell_of_key, per_interval


@njit(cache=True)
def _resolve_entries(answers, within, cell_pick, cell_offset, cell_of_key, pick, entry_of,
                     cell_entry, entries):  # fmt: skip
    """Every variant's packed allocation for each row key under the current offer.

    ``answers`` and ``within`` come from :func:`_resolve_offer`; ``pick``, ``entry_of`` and
    ``cell_entry`` are scratch; ``entries`` is uint8[V, N_KEYS + 1], its last column left as it
    is (``invalid_input``).
    """
    for term in range(N_TERMS):
        answer = answers[term]
        pick[term] = answer if answer != BAND_NONE else NO_PICK
        pick[N_TERMS + term] = NO_PICK - answer if answer != BAND_NONE else NO_PICK
    pick[TERM_NONE] = NO_PICK
    pick[N_TERMS + TERM_NONE] = NO_PICK
    for band in range(1, N_BANDS + 1):
        entry = band | ALLOCATED | (within[band] + 1) << WITHIN_SHIFT
        entry_of[OFFSET_MIN + band] = entry
        entry_of[OFFSET_MAX + NO_PICK - band] = entry
    entry_of[OFFSET_MIN + NO_PICK] = NO_BAND
    entry_of[OFFSET_MAX + NO_PICK] = NO_BAND
    entry_of[OFFSET_NOT_APPLICABLE + NO_PICK] = NOT_APPLICABLE
    entry_of[OFFSET_PER_INTERVAL + NO_PICK] = ENTRY_PER_INTERVAL
    for v in range(cell_pick.shape[0]):
        for cell in range(N_CELLS):
            lowest = min(
                min(pick[cell_pick[v, cell, 0]], pick[cell_pick[v, cell, 1]]),
                min(pick[cell_pick[v, cell, 2]], pick[cell_pick[v, cell, 3]]),
            )
            cell_entry[cell] = entry_of[lowest + cell_offset[v, cell]]
        for key in range(N_KEYS):
            entries[v, key] = cell_entry[cell_of_key[v, key]]


@njit(cache=True)
def _resolve_cell(op, terms, v, cell, answers):
    """The band cell ``cell`` of variant ``v`` picks from ``answers`` (FRRP terms included),
    BAND_NONE when no term is met: the per-interval path of cells with FRRP terms."""
    band = BAND_NONE
    for t in range(MAX_TERMS):
        term = terms[v, cell, t]
        if term == TERM_NONE:
            break
        answer = answers[term]
        if answer == BAND_NONE:
            continue
        if band == BAND_NONE or (answer > band if op[v, cell] == OP_MAX else answer < band):
            band = answer
    return band


@njit(cache=True)
def _frrp_entry(op, terms, v, cell, answers, referred, within, frrp):
    """The packed allocation of a cell with FRRP terms for one interval's ``frrp``, or
    ENTRY_PER_INTERVAL if it is missing."""
    if np.isnan(frrp):
        return ENTRY_PER_INTERVAL
    _answer_threshold(referred, frrp, REF_FRRP, answers)
    band = _resolve_cell(op, terms, v, cell, answers)
    if band == BAND_NONE:
        return NO_BAND
    return band | ALLOCATED | (within[band] + 1) << WITHIN_SHIFT


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
    constraint_status, semidispatchcap, price_type, price_phase, op, terms, program,
    band_out, outcome_out, band_valid_out, within_out, within_valid_out, reason_out,
):  # fmt: skip
    cell_pick, cell_offset, cell_of_key, per_interval = program
    n_variants = op.shape[0]
    offer = np.full(N_OFFER, np.nan)
    offer_bits = offer.view(np.uint64)
    # each cached offer's resolution: why it is invalid, the fields of _resolve_offer, and
    # every variant's entries (the last column of each always ``invalid_input``)
    slots = 2 * CACHE_SETS
    cached_offer = np.full((slots, N_OFFER), np.nan)
    older = np.zeros(CACHE_SETS, dtype=np.int64)
    cached_reason = np.zeros(slots, dtype=np.int64)
    cached_referred = np.empty((slots, N_BANDS))
    cached_answers = np.zeros((slots, N_TERMS), dtype=np.int8)
    cached_within = np.zeros((slots, N_BANDS + 1), dtype=np.int8)
    cached_entries = np.empty((slots, n_variants, N_KEYS + 1), dtype=np.uint8)
    referred, answers = cached_referred[0], cached_answers[0]
    within, entries = cached_within[0], cached_entries[0]
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
        _mark_offer_changes(
            price_band, mlf, tp_min, tp_max, srmc_plus, block_lo, block_lo + m, first, changed
        )
        n_invalid = _mark_keys(
            constraint_status, semidispatchcap, price_type, price_phase, max_capacity,
            block_lo, block_lo + m, code, key,
        )  # fmt: skip
        start = 0
        while start < m:
            stop = start + 1
            while stop < m and not changed[stop]:
                stop += 1
            if changed[start]:
                _load_offer(price_band, mlf, tp_min, tp_max, srmc_plus, block_lo + start, offer)
                slot, known = _cached_slot(offer, offer_bits, cached_offer, older)
                referred, answers = cached_referred[slot], cached_answers[slot]
                within, entries = cached_within[slot], cached_entries[slot]
                if known:
                    offer_reason = cached_reason[slot]
                else:
                    offer_reason = _resolve_offer(offer, referred, answers, within)
                    if offer_reason == REASON_NONE:
                        _resolve_entries(
                            answers, within, cell_pick, cell_offset, cell_of_key, pick,
                            entry_of, cell_entry, entries,
                        )  # fmt: skip
                        entries[:, N_KEYS] = INVALID_INPUT
                    else:
                        entries[:, :] = INVALID_INPUT
                    cached_reason[slot] = offer_reason
            keys = key[start:stop]
            for v in range(n_variants):
                table, out = entries[v], packed[v, start:stop]
                for j in range(stop - start):
                    out[j] = table[keys[j]]
            if offer_reason != REASON_NONE or n_invalid:
                for j in range(start, stop):
                    if offer_reason != REASON_NONE or key[j] == KEY_INVALID:
                        i = block_lo + j
                        reason_out[i] = _row_reason(
                            offer_reason, max_capacity[i], constraint_status[i],
                            semidispatchcap[i], price_type[i], price_phase[i],
                        )  # fmt: skip
            for v in range(n_variants):
                if not per_interval[v]:
                    continue
                for j in range(start, stop):
                    if packed[v, j] == ENTRY_PER_INTERVAL:
                        i = block_lo + j
                        cell = cell_of_key[v, key[j]]
                        entry = _frrp_entry(op, terms, v, cell, answers, referred, within, frrp[i])
                        if entry == ENTRY_PER_INTERVAL:
                            reason_out[i] = REASON_FRRP_MISSING
                            entry = INVALID_INPUT
                        packed[v, j] = entry
            start = stop
        _emit(
            packed, block_lo, m, band_out, outcome_out, band_valid_out, within_out,
            within_valid_out,
        )  # fmt: skip


@njit(cache=True, parallel=True)
def allocate_rows(
    price_band, mlf, tp_min, tp_max, srmc_plus, frrp, max_capacity,
    constraint_status, semidispatchcap, price_type, price_phase, op, terms, route,
    band_out, outcome_out, band_valid_out, within_out, within_valid_out, reason_out,
):  # fmt: skip
    """Allocate every row under every compiled variant, in one parallel pass.

    Parameters (n rows, V variants; every array C-contiguous and read-only):

    - ``price_band``: tuple of ten float64[n], PB1..PB10 as offered ($/MWh).
    - ``mlf``, ``tp_min``, ``tp_max``, ``srmc_plus``, ``max_capacity``: float64[n]. NaN = missing.
    - ``frrp``: float64[n], or float64[0] when no variant has an FRRP term.
    - ``constraint_status``: int8[n] in {-1, 0, 1}; ``semidispatchcap``: int8[n] in {0, 1};
      ``price_type``, ``price_phase``: int8[n] in {10, 1, -1, -10}. Any other value (for example
      ``codes.MISSING_CODE``) makes the row ``invalid_input``.
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
    program = _cell_program(op, terms, route)
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    for c in prange(n_chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        _allocate_chunk(
            lo, hi, price_band, mlf, tp_min, tp_max, srmc_plus, frrp, max_capacity,
            constraint_status, semidispatchcap, price_type, price_phase, op, terms, program,
            band_out, outcome_out, band_valid_out, within_out, within_valid_out, reason_out,
        )  # fmt: skip
