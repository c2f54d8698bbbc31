"""Integer codes of the dispatch kernels, and what each means.

The kernels see only small integers; the stages decode them by name through these tuples, as
vectorbt keeps its codes (``vectorbt/portfolio/enums.py``).
"""

from __future__ import annotations

from typing import NamedTuple


class PriceSourceT(NamedTuple):
    """What set a region's price in an interval (stored as int8)."""

    offer: int = 0
    market_price_cap: int = 1
    market_floor_price: int = 2
    interconnector: int = 3


PriceSource = PriceSourceT()
PRICE_SOURCES: tuple[str, ...] = PriceSourceT._fields


class LimitFlagT(NamedTuple):
    """Bits of a unit's ``limit_flags``: where its limits in an interval came from."""

    ramp_up: int = 1
    ramp_down: int = 2
    ramp_down_over_availability: int = 4


LimitFlag = LimitFlagT()


class RampPriorityT(NamedTuple):
    """How a ramp-down limit above a unit's availability is resolved."""

    nemde: int = 0
    availability: int = 1


RampPriority = RampPriorityT()
RAMP_PRIORITIES: tuple[str, ...] = RampPriorityT._fields


class LinkStateT(NamedTuple):
    """Bits of an interconnector link's ``link_flags`` in an interval."""

    at_export_limit: int = 1
    at_import_limit: int = 2
    off_curve: int = 4


LinkState = LinkStateT()
