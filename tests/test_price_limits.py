"""The market price cap and floor of each trading day come from MARKET_PRICE_THRESHOLDS."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from bidstack.errors import InputError
from bidstack.fleet import parse_fleet
from bidstack.inputs import with_price_limits
from bidstack.io import read

UNITS = {"units": {"X": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5}}}


def demand(*times: datetime) -> pl.DataFrame:
    return pl.DataFrame({"regionid": "SA1", "interval_datetime": list(times), "demand": 1.0})


def test_the_cap_in_force_each_trading_day_is_the_stored_one(sample_ingest) -> None:
    store, _ = sample_ingest
    # VOLL 14,200 from 2017-07-01, 14,500 from 2018-07-01, 14,700 from 2019-07-01; the interval
    # ending 04:00 on 1 July belongs to the trading day of 30 June
    frame, problems = with_price_limits(
        demand(datetime(2018, 4, 10, 12), datetime(2019, 7, 1, 4, 0), datetime(2019, 7, 1, 4, 5)),
        read(store, "MARKET_PRICE_THRESHOLDS").collect(),
    )
    assert problems.height == 0
    assert frame.select("market_price_cap", "market_floor_price").rows() == [
        (14200.0, -1000.0),
        (14500.0, -1000.0),
        (14700.0, -1000.0),
    ]


def test_days_the_store_does_not_cover_take_the_fleet_file_or_fail(tmp_path) -> None:
    store = tmp_path / "empty"
    store.mkdir()
    rows = read(store, "MARKET_PRICE_THRESHOLDS").collect()
    with pytest.raises(InputError, match="empty: MARKET_PRICE_THRESHOLDS has no row in force on "
                       "trading day 2024-09-01"):  # fmt: skip
        with_price_limits(demand(datetime(2024, 9, 1, 12)), rows, parse_fleet(UNITS, source="f"),
                          store)  # fmt: skip
    fleet = parse_fleet(
        {"market": {"market_price_cap": 17500.0, "market_floor_price": -1000.0}} | UNITS,
        source="f",
    )
    frame, problems = with_price_limits(demand(datetime(2024, 9, 1, 12)), rows, fleet, store)
    assert frame["market_price_cap"].to_list() == [17500.0]
    assert problems["kind"].to_list() == ["thresholds_from_fleet"]
