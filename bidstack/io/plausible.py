"""The values a column may plausibly hold, held as data: a value outside is rejected where it
enters, naming its file and line (or row) and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from bidstack.io.registered import REGISTERED

if TYPE_CHECKING:
    from bidstack.io.schema import TableSpec


@dataclass(frozen=True)
class Plausible:
    """The values a column may plausibly hold: from ``low`` to ``high`` (both included), in
    ``unit``. A number must also be finite. A value outside is rejected where it enters, naming
    its file and line (or row) and column."""

    low: float | datetime
    high: float | datetime
    unit: str = ""

    def __str__(self) -> str:
        if isinstance(self.low, datetime):
            return f"the plausible dates {self.low:%Y-%m-%d} to {self.high:%Y-%m-%d}"
        unit = f" {self.unit}" if self.unit else ""
        return f"the plausible range {self.low:,.10g} to {self.high:,.10g}{unit}"


#: Plausible values of the numeric columns of the tables bidstack reads (:data:`REGISTERED`), by
#: pattern over the upper-case MMS name (the first that matches applies). Deliberately wide: far
#: beyond anything the market's rules allow (a market price cap of $20,300/MWh, a floor of
#: -$1,000/MWh, the largest unit under 1,000 MW, the NEM's demand under 40 GW), so that only a
#: corrupt or hostile value fails, while every real AEMO value passes (the real samples include
#: an ROP of $119,722/MWh and a CUMUL_PRE_AP_ENERGY_PRICE of 1.09 million).
VALUE_RANGES: tuple[tuple[str, Plausible], ...] = (
    (r"CUMUL_.*|.*_THRESHOLD", Plausible(-1e10, 1e10, "$/MWh summed over intervals")),
    (
        r"PRICEBAND\d+|.*RRP|.*ROP|EEP|.*PRICE|VOLL|MARKETPRICEFLOOR|LOCAL_PRICE_ADJUSTMENT.*"
        r"|APCVALUE|APFVALUE",
        Plausible(-1e6, 1e6, "$/MWh"),
    ),
    (r"TRANSMISSIONLOSSFACTOR|DISTRIBUTIONLOSSFACTOR|SECONDARY_TLF", Plausible(0.0, 10.0)),
    (
        r"BANDAVAIL\d+|MAXAVAIL|PASAAVAILABILITY|TOTALCLEARED|INITIALMW|AVAILABILITY|UIGF"
        r"|TOTALDEMAND|DISPATCHABLEGENERATION|DISPATCHABLELOAD|NETINTERCHANGE|CLEAREDSUPPLY"
        r"|AVAILABLEGENERATION|AVAILABLELOAD|SCADAVALUE|MAXCAPACITY|REGISTEREDCAPACITY|MWFLOW"
        r"|METEREDMWFLOW|MWLOSSES|IMPORTLIMIT|EXPORTLIMIT|MAXMWIN|MAXMWOUT|MWBREAKPOINT",
        Plausible(-1e5, 1e5, "MW"),
    ),
)
#: Every other number of every table: finite, and within what any MMS quantity can be.
ANY_NUMBER = Plausible(-1e15, 1e15)
#: Interval times (the time and partition columns): from before the NEM's start (December 1998;
#: registration rows date from 1997) to this century's end.
INTERVAL_DATES = Plausible(datetime(1990, 1, 1), datetime(2100, 1, 1))
#: Other dates, such as an effective-until date, which AEMO writes as 2999-12-31 for "no end".
OTHER_DATES = Plausible(datetime(1900, 1, 1), datetime(3000, 1, 1))


@cache
def plausible_values(spec: TableSpec) -> dict[str, Plausible]:
    """The plausible values of each numeric and date column of ``spec``'s table."""
    ranges = VALUE_RANGES if spec.name in REGISTERED else ()
    interval = (spec.time_column, spec.partition_column)
    plausible = {}
    for column in spec.columns:
        if column.kind == "float":
            upper = column.name.upper()
            found = (bounds for pattern, bounds in ranges if re.fullmatch(pattern, upper))
            plausible[column.name] = next(found, ANY_NUMBER)
        elif column.kind in ("datetime", "date"):
            plausible[column.name] = INTERVAL_DATES if column.name in interval else OTHER_DATES
    return plausible
