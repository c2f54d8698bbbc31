"""Request and response bodies. Field names are the MMS columns' (lower-cased), so a bid reads
as the BIDPEROFFER_D row it becomes.

Interval times are period-ending NEM time: an aware time is converted, a naive one is NEM
time already; each must fall on a 5-minute boundary (``misaligned_interval``), and a meter
upload reads each interval once (``duplicate_read``, naming the repeat ``reads.{k}``). What JSON
Schema can say (non-negative MW, finite numbers, ten bands, the quality method's form) is in
the schema; what it cannot (ascending prices, a bid inside its trading day) is checked after,
with the dispatch stage's problem kinds.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.io.nem12_records import INTERVAL_MINUTES, QUALITY_METHOD
from bidstack.io.read import DISPATCH_INTERVAL, TRADING_DAY_START
from bidstack.service.clock import NemTime, nem_time
from bidstack.service.keys import DUID, NMI

#: Interval times the service takes (a bid for 1900 or 2200 is a mistake, not a bid).
FIRST_YEAR, LAST_YEAR = 2000, 2099
MAX_BIDS = 2016  # a week of 5-minute intervals
MAX_READS = 8928  # a 31-day month of 5-minute reads


#: ISO 8601 text: a date, or a date and time (pydantic alone also takes Unix timestamps).
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ].*)?", re.DOTALL)


def _iso(pattern: re.Pattern, what: str):
    """A check, before parsing, that a value is ISO 8601 text (or already a date or time)."""

    def check(value):
        if isinstance(value, date) or (isinstance(value, str) and pattern.fullmatch(value)):
            return value
        raise PydanticCustomError(
            "not_iso_8601", "{value} is not an ISO 8601 {what}", {"value": str(value), "what": what}
        )

    return BeforeValidator(check)


def _out_of_range(value) -> PydanticCustomError:
    return PydanticCustomError(
        "interval_out_of_range",
        "{value} is not a time in the years {first} to {last}",
        {"value": str(value), "first": FIRST_YEAR, "last": LAST_YEAR},
    )


def _market_date(value: date) -> date:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise _out_of_range(value)
    return value


def _market_time(value: datetime) -> datetime:
    try:
        moment = nem_time(value)
    except OverflowError:
        moment = None
    if moment is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise _out_of_range(value)
    return moment


def _interval_end(value: datetime) -> datetime:
    moment = _market_time(value)
    if moment.second or moment.microsecond or moment.minute % 5:
        raise PydanticCustomError(
            "misaligned_interval",
            "{value} does not end a 5-minute interval (period-ending NEM time)",
            {"value": moment.isoformat()},
        )
    return moment


#: A date, from ISO 8601 text alone.
IsoDate = Annotated[date, _iso(ISO_DATE, "date (YYYY-MM-DD)")]
#: A trading day in the years the service takes.
MarketDate = Annotated[IsoDate, AfterValidator(_market_date)]
#: A moment, as naive NEM time.
MarketTime = Annotated[datetime, _iso(ISO_TIME, "date and time"), AfterValidator(_market_time)]
#: The end of a 5-minute interval, as naive NEM time.
IntervalEnd = Annotated[datetime, _iso(ISO_TIME, "date and time"), AfterValidator(_interval_end)]
Megawatts = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Minutes = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Price = Annotated[float, Field(allow_inf_nan=False)]
Duid = Annotated[str, Field(pattern=f"^{DUID.pattern}$")]
Nmi = Annotated[str, Field(pattern=f"^{NMI.pattern}$")]


def trading_date(interval_end: datetime) -> date:
    """The trading day (04:00 to 04:00) of a period-ending interval."""
    return (interval_end - TRADING_DAY_START - timedelta(microseconds=1)).date()


def first_interval(day: date) -> datetime:
    """The end of a trading day's first interval."""
    return datetime.combine(day, datetime.min.time()) + TRADING_DAY_START + DISPATCH_INTERVAL


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_Volumes = create_model(
    "_Volumes",
    __base__=_Strict,
    maxavail=(Megawatts, Field(description="MW available")),
    **{name: (Megawatts, Field(description="MW in this band")) for name in BAND_VOLUMES},
    rocup=(Megawatts, Field(description="ramp-up rate, MW/min")),
    rocdown=(Megawatts, Field(description="ramp-down rate, MW/min")),
    min_run_time_minutes=(Minutes | None, None),
)


class IntervalVolumes(_Volumes):
    """A unit's bid for one interval: MW per band, availability, ramp rates."""

    interval_datetime: IntervalEnd


class BidIn(IntervalVolumes):
    duid: Duid


class BidsIn(_Strict):
    """Rebids: each replaces the unit's bid for its interval (prices stay the day's)."""

    bids: list[BidIn] = Field(min_length=1, max_length=MAX_BIDS)


_Prices = create_model(
    "_Prices",
    __base__=_Strict,
    **{name: (Price, Field(description="$/MWh, ascending")) for name in PRICE_BANDS},
)


class OfferIn(_Prices):
    """A unit's offer for a trading day: the day's ten price bands, and its bids for any of
    the day's intervals (the rest can follow as rebids)."""

    duid: Duid
    trading_date: MarketDate
    bids: list[IntervalVolumes] = Field(default_factory=list, max_length=288)

    @model_validator(mode="after")
    def _inside_the_day(self) -> OfferIn:
        for k, bid in enumerate(self.bids):
            if trading_date(bid.interval_datetime) != self.trading_date:
                raise PydanticCustomError(
                    "interval_outside_trading_day",
                    "bids[{k}]: the interval ending {value} is not in trading day {day}",
                    {
                        "k": k,
                        "value": bid.interval_datetime.isoformat(),
                        "day": self.trading_date.isoformat(),
                    },
                )
        return self


class BidOut(_Volumes):
    bid_id: int
    submission_id: int
    duid: str
    interval_datetime: NemTime
    trading_date: date
    versionno: int
    received_at: NemTime
    gate_closes_at: NemTime


class DayOfferOut(_Prices):
    duid: str
    trading_date: date
    versionno: int
    received_at: NemTime


class Submission(BaseModel):
    """What one POST of offers or bids stored."""

    submission_id: int
    kind: Literal["offer", "bid"]
    received_at: NemTime
    day_offer: DayOfferOut | None = None
    bids: list[BidOut]


class BidList(BaseModel):
    bids: list[BidOut]


class Read(_Strict):
    interval_datetime: IntervalEnd
    value: Megawatts = Field(description="energy in the interval, in the request's uom")
    quality_method: str = Field(pattern=f"^(?:{QUALITY_METHOD.pattern})$")


class MeterReadsIn(_Strict):
    """Interval reads of one NMI's data stream, as a NEM12 ``200`` record and its values."""

    nmi: Nmi
    nmi_suffix: str = Field(pattern="^[A-Z][0-9A-Z]$")
    uom: Literal["kWh", "MWh", "Wh"]
    interval_minutes: Literal[INTERVAL_MINUTES]  # type: ignore[valid-type]
    reads: list[Read] = Field(min_length=1, max_length=MAX_READS)

    @model_validator(mode="after")
    def _aligned(self) -> MeterReadsIn:
        for k, read in enumerate(self.reads):
            end = read.interval_datetime
            if (end.hour * 60 + end.minute) % self.interval_minutes:
                raise PydanticCustomError(
                    "misaligned_interval",
                    "reads[{k}]: {value} does not end a {minutes}-minute interval",
                    {"k": k, "value": end.isoformat(), "minutes": self.interval_minutes},
                )
        return self

    @model_validator(mode="after")
    def _one_read_per_interval(self) -> MeterReadsIn:
        first: dict[datetime, int] = {}
        repeats = []
        for k, read in enumerate(self.reads):
            end = read.interval_datetime
            if end in first:
                error = PydanticCustomError(
                    "duplicate_read",
                    "reads[{k}]: the interval ending {value} is read already, in reads[{first}]",
                    {"k": k, "value": end.isoformat(), "first": first[end]},
                )
                repeats.append(InitErrorDetails(type=error, loc=("reads", k), input=end))
            first.setdefault(end, k)
        if repeats:
            raise ValidationError.from_exception_data(type(self).__name__, repeats)
        return self


class MeterUpload(BaseModel):
    """What one POST of meter reads stored."""

    upload_id: int
    kind: Literal["json", "nem12"]
    filename: str | None
    received_at: NemTime
    rows: int
    nmis: list[str]
    first_interval: NemTime
    last_interval: NemTime
    warnings: list[str] = []


class MeterRead(BaseModel):
    upload_id: int
    nmi: str
    nmi_suffix: str
    uom: str
    interval_minutes: int
    interval_datetime: NemTime
    value: float
    energy_mwh: float | None
    quality_method: str
    received_at: NemTime


class MeterReadList(BaseModel):
    reads: list[MeterRead]


class StatementDay(BaseModel):
    settlement_date: date
    energy_mwh: float
    net_microdollars: int
    net_cents: int


class StatementTotals(BaseModel):
    energy_mwh: float
    net_microdollars: int
    net_cents: int
    rounding_microdollars: int
    days: int
    first_interval: NemTime
    last_interval: NemTime


class Statement(BaseModel):
    """A participant's settlement statement from a backtest's results: the run's totals, and
    the settlement dates asked for."""

    participantid: str
    scenario: str
    totals: StatementTotals
    daily: list[StatementDay]


class ServerTime(BaseModel):
    nem_time: NemTime
    utc: datetime
    gate_closure_seconds: float
    interval_minutes: int


class Health(BaseModel):
    status: Literal["ok"]
