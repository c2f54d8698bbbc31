"""Content checks that JSON Schema cannot express, made by the dispatch stage's own checks
(:func:`bidstack.stages.dispatch_checks.offer_checks`), so that the service refuses exactly
what dispatch would leave out, under the same kinds."""

from __future__ import annotations

from functools import cache

import polars as pl

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.service.problems import ProblemItem
from bidstack.stages.dispatch_checks import offer_checks, screen

#: Dispatch checks of what a bid does not carry (loss factor, forecast, ramp base, demand).
NOT_CARRIED = frozenset({"bad_mlf", "bad_uigf", "bad_ramp_base", "offer_without_demand"})
#: Checks of the day's prices: for offers only (a rebid keeps the day's prices).
PRICE_KINDS = frozenset({"missing_price", "prices_not_ascending"})
_SCHEMA = {
    "duid": pl.String,
    "interval_datetime": pl.Datetime("us"),
    **dict.fromkeys((*PRICE_BANDS, *BAND_VOLUMES, "maxavail", "rocup", "rocdown"), pl.Float64),
}


def content_problems(rows: list[dict], *, prices: bool) -> list[ProblemItem]:
    """What the dispatch stage would refuse in these bids (``duid``, ``interval_datetime``, the
    volumes, and with ``prices`` the day's price bands), one item per fault, in order."""
    frame = pl.DataFrame(rows, schema=_SCHEMA).with_columns(
        pl.lit(None, pl.String).alias("regionid"),
        pl.struct("duid", "interval_datetime").is_duplicated().alias("_duplicate"),
    )
    checks = _checks(prices)
    flagged = frame.select(pl.any_horizontal(condition for _, condition, _ in checks).any())
    if not flagged.item():  # the usual case: one pass of the conditions, no problem rows built
        return []
    _, found = screen(frame, checks, pl.col("duid"))
    items: list[ProblemItem] = []
    for row in found.iter_rows(named=True):
        day_wide = row["kind"] in PRICE_KINDS  # one fault of the day, not of each interval
        item = ProblemItem(
            kind=row["kind"],
            detail=row["detail"],
            duid=row["duid"],
            interval_datetime=None if day_wide else row["interval_datetime"],
        )
        if item not in items:
            items.append(item)
    return items


@cache
def _checks(prices: bool) -> list:
    """The dispatch checks that apply to what a request carries (built once)."""
    return [
        check
        for check in offer_checks()
        if check[0] not in NOT_CARRIED and (prices or check[0] not in PRICE_KINDS)
    ]
