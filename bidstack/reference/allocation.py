"""Plain-Python reference for the allocation kernel, written straight from SPEC §2 and §3.

Slow and obvious on purpose: one row at a time, cells read from their text. Tests compare it with
:func:`bidstack.allocate` cell by cell and on random frames; benchmarks time it next to the kernel.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bidstack.kernel.codes import PRICE_TYPE_ORDERS
from bidstack.rules import Variant

PRICE_TYPES = {10, 1, -1, -10}
_TERM = re.compile(r"PB(\d+)|([<>])(TPmin|TPmax|SRMC\+|FRRP)")


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def allocate_row(row: Mapping[str, Any], variant: Variant) -> tuple[int | None, str, bool | None]:
    """``(band, outcome, within_limits)`` of one unit-interval under one variant.

    ``row`` holds ``priceband1..10``, ``max_capacity``, ``tp_min``, ``tp_max``, ``srmc_plus``,
    ``mlf``, ``constraint_status``, ``semidispatchcap``, ``price_type``, ``price_phase`` and, for
    variants with FRRP terms, ``frrp``; any of them may be None.
    """
    prices = [row[f"priceband{k}"] for k in range(1, 11)]
    params = [row[name] for name in ("max_capacity", "tp_min", "tp_max", "srmc_plus", "mlf")]
    status, sdc = row["constraint_status"], row["semidispatchcap"]
    pt, pp = row["price_type"], row["price_phase"]
    invalid = (None, "invalid_input", None)
    if any(_missing(x) for x in [*prices, *params, status, sdc, pt, pp]):
        return invalid
    if row["max_capacity"] < 0 or row["mlf"] <= 0:
        return invalid
    if any(not later > earlier for earlier, later in itertools.pairwise(prices)):
        return invalid
    if pt not in PRICE_TYPES or pp not in PRICE_TYPES or status not in (-1, 0, 1):
        return invalid
    if sdc not in (True, False, 0, 1):
        return invalid
    if pp == 10 and pt != 10:
        return invalid

    if pt == 10:
        cell = variant.price_type_10.text
    else:
        if status == -1:
            table = "constrained_on"
        elif status == 1 and "constrained_off" in variant.tables:
            table = "constrained_off"
        else:
            table = "sdc_true" if sdc else "sdc_false"
        cell = variant.cell(table, price_phase=pp, price_type=pt).text
    if cell == "N/A":
        return None, "not_applicable", None

    referred = [price / row["mlf"] for price in prices]
    thresholds = {
        "TPmin": row["tp_min"],
        "TPmax": row["tp_max"],
        "SRMC+": row["srmc_plus"],
        "FRRP": row.get("frrp"),
    }
    bands = []
    for band_text, direction, reference in _TERM.findall(cell):
        if band_text:
            bands.append(int(band_text))
            continue
        x = thresholds[reference]
        if _missing(x):
            return invalid
        if direction == ">":
            met = [k for k in range(1, 11) if referred[k - 1] > x]
            if met:
                bands.append(min(met))
        else:
            met = [k for k in range(1, 11) if referred[k - 1] < x]
            if met:
                bands.append(max(met))
    if not bands:
        return None, "no_band", None
    band = max(bands) if cell.startswith("max") else min(bands)
    within = band == 1 or row["tp_min"] <= referred[band - 1] <= row["tp_max"]
    return band, "allocated", within


def derive_price_type(
    frrp: float,
    tp_min: float,
    tp_max: float,
    srmc_plus: float,
    order: str = "thresholds_first",
) -> int | None:
    """SPEC §3: PT from FRRP, None if any input is missing.

    ``order`` ``"thresholds_first"`` (SPEC §3) tests TPmax, TPmin, then SRMC+; ``"srmc_first"``
    tests TPmax, SRMC+, then TPmin.
    """
    if order not in PRICE_TYPE_ORDERS:
        raise ValueError(f"unknown price type order {order!r}")
    if any(_missing(x) for x in (frrp, tp_min, tp_max, srmc_plus)):
        return None
    if frrp > tp_max:
        return 10
    if order == "thresholds_first":
        if frrp <= tp_min:
            return -10
        return 1 if frrp > srmc_plus else -1
    if frrp > srmc_plus:
        return 1
    if frrp > tp_min:
        return -1
    return -10


def derive_price_phases(
    price_types: Sequence[int | None], horizon: int, times: Sequence[int] | None = None
) -> list[int | None]:
    """SPEC §3: PP for one unit's intervals in time order (None where it cannot be known).

    PP at t is the lowest PT other than 10 over t .. t+horizon-1 (cut at the end), 10 when all of
    them are 10. An unknown PT in the window leaves PP unknown unless a -10 settles it. Where PT
    is 10, PP does not matter and is 10. ``times``: the intervals' numbers (consecutive
    intervals differ by 1), where the unit has gaps: an interval it has no row for has no PT,
    and the window ends at ``t + horizon`` whatever rows lie beyond.
    """
    times = list(range(len(price_types))) if times is None else list(times)
    phases: list[int | None] = []
    for t in range(len(price_types)):
        if price_types[t] == 10:
            phases.append(10)  # PP does not matter when PT = 10 (SPEC §2)
            continue
        window = [pt for pt, at in zip(price_types, times, strict=True)
                  if times[t] <= at < times[t] + horizon]  # fmt: skip
        known = [pt for pt in window if pt is not None and pt != 10]
        if -10 in known:
            phases.append(-10)
        elif any(pt is None for pt in window):
            phases.append(None)
        else:
            phases.append(min(known) if known else 10)
    return phases
