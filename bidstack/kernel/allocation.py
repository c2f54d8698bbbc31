"""Allocation kernel: a rule table over every unit-interval of a fleet, several variants at once.

Mirrors :mod:`bidstack.reference.allocation` (plain Python, SPEC §2). Arrays in, arrays out; the
frame API in :mod:`bidstack.allocation` owns columns, dtypes and validation of shapes.

The thresholds a term compares against (TPmin, TPmax, SRMC+) and the band prices change per unit
and trading day, not per interval. Each thread therefore keeps the *offer* of the previous row
(ten prices, mlf, TPmin, TPmax, SRMC+) and, for that offer, an *entry* per variant and row key
(constraint status, semi-dispatch cap, PT, PP: 96 keys) holding the resolved band, outcome and
within-limits flag. While consecutive rows share an offer, as a unit-day's 288 intervals do, a row
costs one comparison of its offer and one table look-up per variant; the bands are searched once.
Rows whose thresholds change every interval miss that cache and are resolved on their own; terms
on FRRP, which changes per interval by nature, are always resolved per row.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from bidstack.kernel.codes import (
    BAND_NONE,
    CELL_NOT_APPLICABLE,
    CELL_PER_INTERVAL,
    CELL_PRICE_TYPE_10,
    CELLS_PER_TABLE,
    MAX_TERMS,
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
#: Offer fields compared row to row: ten prices, then mlf, TPmin, TPmax, SRMC+.
N_OFFER = N_BANDS + 4
#: Rows per parallel task; each task starts with an empty cache.
CHUNK_ROWS = 1 << 16
#: Rows per parallel task of :func:`unpack_allocation` (a multiple of 8, for the bitmaps).
UNPACK_ROWS = 1 << 13
#: Row keys: 3 constraint statuses x 2 semi-dispatch caps x 4 PT x 4 PP.
N_KEYS = 3 * 2 * 16
#: Entries not resolved yet for the current offer, or resolved per interval (FRRP terms); no
#: packed allocation reaches these values (the largest is 10 | 3 << 4 | 2 << 6 = 186).
ENTRY_UNRESOLVED = 255
ENTRY_PER_INTERVAL = 254

#: A unit-interval's allocation under one variant, packed in one byte: the band (bits 0-3,
#: 0 = none), the outcome code (bits 4-5) and within limits (bits 6-7: 0 null, 1 false, 2 true).
OUTCOME_SHIFT = 4
WITHIN_SHIFT = 6
NOT_APPLICABLE = OUTCOME.not_applicable << OUTCOME_SHIFT
NO_BAND = OUTCOME.no_band << OUTCOME_SHIFT
INVALID_INPUT = OUTCOME.invalid_input << OUTCOME_SHIFT
ALLOCATED = OUTCOME.allocated << OUTCOME_SHIFT


@njit(cache=True)
def _load_offer(price_band, mlf, tp_min, tp_max, srmc_plus, i, offer):
    """Copy row ``i``'s offer into ``offer``; return True if it differed from what was there."""
    changed = False
    for k in range(N_BANDS):
        value = price_band[k][i]
        if value != offer[k]:
            changed = True
            offer[k] = value
    for k, value in enumerate((mlf[i], tp_min[i], tp_max[i], srmc_plus[i])):
        if value != offer[N_BANDS + k]:
            changed = True
            offer[N_BANDS + k] = value
    return changed


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
def _row_key(status, sdc, pt, pp):
    """The row's key in 0..N_KEYS-1, or -1 if a code is outside its set or PP = 10 < PT."""
    if not (-1 <= status <= 1 and 0 <= sdc <= 1 and -10 <= pt <= 10 and -10 <= pp <= 10):
        return -1
    pti = PT_INDEX[pt + 10]
    ppi = PP_INDEX[pp + 10]
    if pti < 0 or ppi < 0 or (ppi == 3 and pti != 3):
        return -1
    return ((status + 1) * 2 + sdc) * 16 + pti * 4 + ppi


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
def _resolve_cell(op, terms, answers, with_frrp):
    """The band a cell picks, BAND_NONE when no term is met, or CELL_NOT_APPLICABLE.

    Without ``with_frrp`` a cell with an FRRP term returns CELL_PER_INTERVAL instead.
    """
    if op == OP_NOT_APPLICABLE:
        return CELL_NOT_APPLICABLE
    band = BAND_NONE
    for t in range(MAX_TERMS):
        term = terms[t]
        if term == TERM_NONE:
            break
        if not with_frrp and (term == TERM_ABOVE + REF_FRRP or term == TERM_BELOW + REF_FRRP):
            return CELL_PER_INTERVAL
        answer = answers[term]
        if answer == BAND_NONE:
            continue
        if band == BAND_NONE or (answer > band if op == OP_MAX else answer < band):
            band = answer
    return band


@njit(cache=True)
def _resolve_frrp_cell(op, terms, answers, referred, frrp):
    """Resolve a cell with FRRP terms for one interval; CELL_PER_INTERVAL if FRRP is missing."""
    if np.isnan(frrp):
        return CELL_PER_INTERVAL
    _answer_threshold(referred, frrp, REF_FRRP, answers)
    return _resolve_cell(op, terms, answers, True)


@njit(cache=True)
def _entry(band, within):
    """The packed allocation of a resolved cell."""
    if band == CELL_NOT_APPLICABLE:
        return NOT_APPLICABLE
    if band == BAND_NONE:
        return NO_BAND
    return band | ALLOCATED | (within[band] + 1) << WITHIN_SHIFT


@njit(cache=True)
def _allocate_chunk(
    lo, hi, price_band, mlf, tp_min, tp_max, srmc_plus, frrp, max_capacity,
    constraint_status, semidispatchcap, price_type, price_phase, op, terms, route,
    allocation_out, reason_out,
):  # fmt: skip
    n_variants = op.shape[0]
    offer = np.full(N_OFFER, np.nan)
    referred = np.empty(N_BANDS)
    answers = np.zeros(N_TERMS, dtype=np.int8)
    within = np.zeros(N_BANDS + 1, dtype=np.int8)
    entries = np.empty((n_variants, N_KEYS), dtype=np.uint8)
    offer_reason = REASON_NONE
    for i in range(lo, hi):
        if _load_offer(price_band, mlf, tp_min, tp_max, srmc_plus, i, offer):
            offer_reason = _resolve_offer(offer, referred, answers, within)
            entries[:, :] = ENTRY_UNRESOLVED
        status, sdc = constraint_status[i], semidispatchcap[i]
        pt, pp = price_type[i], price_phase[i]
        key = _row_key(status, sdc, pt, pp)
        if offer_reason != REASON_NONE or key < 0 or not max_capacity[i] >= 0.0:
            reason_out[i] = _row_reason(offer_reason, max_capacity[i], status, sdc, pt, pp)
            for v in range(n_variants):
                allocation_out[v, i] = INVALID_INPUT
            continue
        for v in range(n_variants):
            entry = entries[v, key]
            if entry >= ENTRY_PER_INTERVAL:
                cell = _key_cell(route, v, key)
                if entry == ENTRY_UNRESOLVED:
                    band = _resolve_cell(op[v, cell], terms[v, cell], answers, False)
                    entry = (
                        ENTRY_PER_INTERVAL if band == CELL_PER_INTERVAL else _entry(band, within)
                    )
                    entries[v, key] = entry
                if entry == ENTRY_PER_INTERVAL:
                    band = _resolve_frrp_cell(
                        op[v, cell], terms[v, cell], answers, referred, frrp[i]
                    )
                    if band == CELL_PER_INTERVAL:
                        reason_out[i] = REASON_FRRP_MISSING
                        entry = INVALID_INPUT
                    else:
                        entry = _entry(band, within)
            allocation_out[v, i] = entry


@njit(cache=True, parallel=True)
def allocate_rows(
    price_band, mlf, tp_min, tp_max, srmc_plus, frrp, max_capacity,
    constraint_status, semidispatchcap, price_type, price_phase, op, terms, route,
    allocation_out, reason_out,
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

    Outputs, written in place; entry i of each belongs to input row i:

    - ``allocation_out``: uint8[V, n], the packed allocation: band 1..10 in bits 0-3 (0 when
      none), the :data:`bidstack.kernel.codes.OUTCOME` code in bits 4-5, and within limits in
      bits 6-7 (2 if the band is PB1 or priced over mlf within [TPmin, TPmax], 1 if not, 0 when
      nothing was allocated). :func:`unpack_allocation` splits it into Arrow-ready buffers.
    - ``reason_out``: uint8[n], zeroed by the caller; set where a row is ``invalid_input`` under
      some variant, to why (:data:`bidstack.kernel.codes.INVALID_REASONS`).
    """
    n = max_capacity.size
    n_chunks = (n + CHUNK_ROWS - 1) // CHUNK_ROWS
    for c in prange(n_chunks):
        lo = c * CHUNK_ROWS
        hi = min(n, lo + CHUNK_ROWS)
        _allocate_chunk(
            lo, hi, price_band, mlf, tp_min, tp_max, srmc_plus, frrp, max_capacity,
            constraint_status, semidispatchcap, price_type, price_phase, op, terms, route,
            allocation_out, reason_out,
        )  # fmt: skip


@njit(cache=True, parallel=True)
def unpack_allocation(allocation, band, band_valid, outcome, within, within_valid):
    """Split packed allocations (uint8[V, n]) into the buffers of three Arrow columns per variant.

    Writes ``band`` int8[V, n] and ``outcome`` uint8[V, n], and the little-endian bitmaps
    (uint8[V, ceil(n / 8)]) ``band_valid`` (a band was chosen), ``within`` (within limits) and
    ``within_valid`` (something was allocated).
    """
    n_variants, n = allocation.shape
    n_blocks = (n + UNPACK_ROWS - 1) // UNPACK_ROWS
    for task in prange(n_variants * n_blocks):
        v = task // n_blocks
        lo = (task - v * n_blocks) * UNPACK_ROWS
        hi = min(n, lo + UNPACK_ROWS)
        for i in range(lo, hi):
            packed = allocation[v, i]
            band[v, i] = packed & 0xF
            outcome[v, i] = (packed >> OUTCOME_SHIFT) & 0x3
        for b in range(lo // 8, (hi + 7) // 8):
            has_band = 0
            is_within = 0
            has_within = 0
            for j in range(min(8, n - b * 8)):
                packed = allocation[v, b * 8 + j]
                flag = packed >> WITHIN_SHIFT
                has_band |= np.uint8((packed & 0xF) != 0) << j
                has_within |= np.uint8(flag != 0) << j
                is_within |= np.uint8(flag == 2) << j
            band_valid[v, b] = has_band
            within[v, b] = is_within
            within_valid[v, b] = has_within
