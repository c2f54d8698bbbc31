"""Integer codes shared by the allocation kernel, the rule compiler and the frame API.

The kernel sees only small integers; this module is the one place that says what they mean.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Outcome(NamedTuple):
    """Outcome of one unit-interval under one rule variant (stored as uint8)."""

    allocated: int = 0
    not_applicable: int = 1
    no_band: int = 2
    invalid_input: int = 3


OUTCOME = Outcome()
OUTCOME_NAMES: tuple[str, ...] = Outcome._fields

#: Price type (PT) and price phase (PP) values, as in SPEC §1.
PRICE_TYPES = (10, 1, -1, -10)
PRICE_PHASES = (10, 1, -1, -10)
#: Column order of a rule table (PT) and row order (PP); PT = 10 has its own single cell.
TABLE_PRICE_TYPES = (-10, -1, 1)
TABLE_PRICE_PHASES = (1, -1, -10)

#: PT or PP value + 10 -> position in TABLE_PRICE_TYPES / TABLE_PRICE_PHASES; 3 for the value 10,
#: -1 for anything else (invalid). Indexed with ``value + 10`` for values in [-10, 10].
PT_INDEX = np.full(21, -1, dtype=np.int8)
PP_INDEX = np.full(21, -1, dtype=np.int8)
for _i, _v in enumerate(TABLE_PRICE_TYPES):
    PT_INDEX[_v + 10] = _i
for _i, _v in enumerate(TABLE_PRICE_PHASES):
    PP_INDEX[_v + 10] = _i
PT_INDEX[20] = 3
PP_INDEX[20] = 3

#: The order in which PT is derived from frrp (SPEC §3, an assumption the user may override), by
#: code. ``thresholds_first`` (SPEC §3, the default): 10 if frrp > TPmax, -10 if frrp <= TPmin,
#: 1 if frrp > SRMC+, else -1. ``srmc_first``: 10 if frrp > TPmax, 1 if frrp > SRMC+, -1 if
#: frrp > TPmin, else -10. They differ only where SRMC+ < frrp <= min(TPmin, TPmax).
PRICE_TYPE_ORDERS = ("thresholds_first", "srmc_first")
ORDER_THRESHOLDS_FIRST, ORDER_SRMC_FIRST = range(len(PRICE_TYPE_ORDERS))

#: Rule tables, in slot order. ``constrained_off`` is optional in a variant file.
TABLES = ("sdc_false", "sdc_true", "constrained_on", "constrained_off")
SLOT_SDC_FALSE, SLOT_SDC_TRUE, SLOT_CONSTRAINED_ON, SLOT_CONSTRAINED_OFF = range(4)
CELLS_PER_TABLE = len(TABLE_PRICE_PHASES) * len(TABLE_PRICE_TYPES)
#: The cell that applies when PT = 10, after the four tables' 36 cells.
CELL_PRICE_TYPE_10 = len(TABLES) * CELLS_PER_TABLE
N_CELLS = CELL_PRICE_TYPE_10 + 1

#: Cell operators: N/A, the lowest of the terms' bands, the highest of them.
OP_NOT_APPLICABLE, OP_MIN, OP_MAX = 0, 1, 2
MAX_TERMS = 4

#: Term codes: 1..10 = PBk; then ``>X`` and ``<X`` for each reference price X.
REFERENCES = ("TPmin", "TPmax", "SRMC+", "FRRP")
REF_TP_MIN, REF_TP_MAX, REF_SRMC_PLUS, REF_FRRP = range(4)
TERM_NONE = 0
TERM_ABOVE = 11  # ``>X`` is TERM_ABOVE + ref
TERM_BELOW = 15  # ``<X`` is TERM_BELOW + ref
N_TERMS = 19

#: What a term answers, and a cell resolves to, when no band satisfies it (bands are 1..10).
BAND_NONE = 0

#: Sentinel for a PT, PP, constraint status or semi-dispatch cap that is missing.
MISSING_CODE = -128

#: Why a row is ``invalid_input`` (uint8; 0 = the row is valid). The first check that fails wins.
INVALID_REASONS = (
    "",
    "price band missing (or not finite)",
    "band prices not strictly ascending",
    "mlf missing or not positive (or not finite)",
    "tp_min, tp_max or SRMC+ missing (or not finite)",
    "max_capacity missing or negative (or not finite)",
    "constraint_status missing or not one of -1, 0, 1",
    "semidispatchcap missing",
    "price_type missing or not one of 10, 1, -1, -10",
    "price_phase missing or not one of 10, 1, -1, -10",
    "price_phase 10 with a price_type other than 10",
    "frrp missing (or not finite) where a rule cell needs it",
)
(
    REASON_NONE,
    REASON_PRICE_MISSING,
    REASON_NOT_ASCENDING,
    REASON_MLF,
    REASON_THRESHOLD_MISSING,
    REASON_CAPACITY,
    REASON_CONSTRAINT_STATUS,
    REASON_SEMIDISPATCHCAP,
    REASON_PRICE_TYPE,
    REASON_PRICE_PHASE,
    REASON_PHASE_PAIR,
    REASON_FRRP_MISSING,
) = range(len(INVALID_REASONS))
