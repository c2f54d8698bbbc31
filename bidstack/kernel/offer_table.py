"""An offer's table of packed allocations: the allocation kernel's per-offer work (SPEC §2).

:func:`resolve_offer` validates an offer (ten band prices, mlf, TPmin, TPmax, SRMC+) and
answers its threshold terms; :func:`resolve_entries` turns those answers into every variant's
packed allocation for each row key, the table :mod:`bidstack.kernel.allocation` looks rows up
in. Cells with FRRP terms are answered per interval by :func:`frrp_entry`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

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
#: Row keys: 3 constraint statuses x 2 semi-dispatch caps x 4 PT x 4 PP, then the key of rows
#: whose codes are out of range (or PP = 10 with PT != 10), always ``invalid_input``.
N_KEYS = 3 * 2 * 16
KEY_INVALID = N_KEYS

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

# Resolving a cell without branches (:func:`cell_program`, :func:`resolve_entries`). A cell
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
    raise RuntimeError("resolve_entries takes the lowest of exactly four picks per cell")


@njit(cache=True)
def resolve_slot(slot, offer, cached_referred, cached_answers, cached_within, cached_entries,
                  cell_pick, cell_offset, cell_of_key, pick, entry_of, cell_entry):  # fmt: skip
    """Resolve ``offer`` into cache slot ``slot`` (:func:`resolve_offer`, then every variant's
    entries, all ``invalid_input`` for an invalid offer); return why it is invalid, or 0."""
    answers, within, entries = cached_answers[slot], cached_within[slot], cached_entries[slot]
    reason = resolve_offer(offer, cached_referred[slot], answers, within)
    if reason == REASON_NONE:
        resolve_entries(
            answers, within, cell_pick, cell_offset, cell_of_key, pick, entry_of, cell_entry,
            entries,
        )  # fmt: skip
        entries[:, N_KEYS] = INVALID_INPUT
    else:
        entries[:, :] = INVALID_INPUT
    return reason


@njit(cache=True)
def resolve_offer(offer, referred, answers, within):
    """Validate an offer and answer its threshold terms; return why it is invalid, or 0.

    Fills ``referred[k]`` (price of band k+1 divided by mlf), ``answers[term]`` (the band each
    non-FRRP term picks, 0 when none does) and ``within[band]`` (1 if the band may be given
    volume within [TPmin, TPmax], PB1 always).
    """
    for k in range(N_BANDS):
        if not np.isfinite(offer[k]):
            return REASON_PRICE_MISSING
    for k in range(1, N_BANDS):
        if not offer[k] > offer[k - 1]:
            return REASON_NOT_ASCENDING
    mlf = offer[N_BANDS]
    if not 0.0 < mlf < np.inf:
        return REASON_MLF
    for k in range(N_BANDS + 1, N_OFFER):
        if not np.isfinite(offer[k]):
            return REASON_THRESHOLD_MISSING
    for k in range(N_BANDS):
        referred[k] = offer[k] / mlf
    for term in range(1, N_BANDS + 1):
        answers[term] = term
    for ref in range(REF_FRRP):
        answer_threshold(referred, offer[N_BANDS + 1 + ref], ref, answers)
    tp_min = offer[N_BANDS + 1]
    tp_max = offer[N_BANDS + 2]
    within[0] = 0
    within[1] = 1
    for band in range(2, N_BANDS + 1):
        price = referred[band - 1]
        within[band] = 1 if tp_min <= price <= tp_max else 0
    return REASON_NONE


@njit(cache=True)
def answer_threshold(referred, threshold, ref, answers):
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
def row_reason(offer_reason, max_capacity, status, sdc, pt, pp):
    """Why a row is invalid (the first check that fails), or 0 if it is valid."""
    if offer_reason != REASON_NONE:
        return offer_reason
    if not 0.0 <= max_capacity < np.inf:
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
def key_cell(route, v, key):
    """The cell of variant ``v`` that a row key selects (SPEC §2, "which table applies")."""
    status_sdc, pt_pp = divmod(key, 16)
    pti, ppi = divmod(pt_pp, 4)
    if pti == 3:
        return CELL_PRICE_TYPE_10
    status, sdc = divmod(status_sdc, 2)
    return route[v, status, sdc] * CELLS_PER_TABLE + ppi * 3 + pti


@njit(cache=True)
def has_frrp_term(terms, v, cell):
    for t in range(MAX_TERMS):
        if terms[v, cell, t] in (TERM_ABOVE + REF_FRRP, TERM_BELOW + REF_FRRP):
            return True
    return False


@njit(cache=True)
def cell_program(op, terms, route):
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
            elif has_frrp_term(terms, v, cell):
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
            cell_of_key[v, key] = key_cell(route, v, key)
    return cell_pick, cell_offset, cell_of_key, per_interval


@njit(cache=True)
def resolve_entries(answers, within, cell_pick, cell_offset, cell_of_key, pick, entry_of,
                     cell_entry, entries):  # fmt: skip
    """Every variant's packed allocation for each row key under the current offer.

    ``answers`` and ``within`` come from :func:`resolve_offer`; ``pick``, ``entry_of`` and
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
def resolve_cell(op, terms, v, cell, answers):
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
def frrp_entry(op, terms, v, cell, answers, referred, within, frrp):
    """The packed allocation of a cell with FRRP terms for one interval's ``frrp``, or
    ENTRY_PER_INTERVAL if it is missing."""
    if not np.isfinite(frrp):
        return ENTRY_PER_INTERVAL
    answer_threshold(referred, frrp, REF_FRRP, answers)
    band = resolve_cell(op, terms, v, cell, answers)
    if band == BAND_NONE:
        return NO_BAND
    return band | ALLOCATED | (within[band] + 1) << WITHIN_SHIFT
