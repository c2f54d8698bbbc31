"""What a month keeps of each scenario's offers once they are dispatched
(:func:`bidstack.month.settling_offers`): the rows metering and the bid stack read, and the same
energy and bid stack as from every offer."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from bidstack.columns import BAND_VOLUMES, DEMAND_BID_PREFIX, PRICE_BANDS
from bidstack.month import settling_offers
from bidstack.stages.metering import meter
from bidstack.summary import Peak, bid_stack

START = datetime(2024, 3, 1, 4, 5)
TIMES = [START + timedelta(minutes=5 * i) for i in range(3)]


@pytest.fixture
def offers() -> pl.DataFrame:
    bid = f"{DEMAND_BID_PREFIX}R1"
    units = [("GEN1", "NSW1"), ("GEN2", "NSW1"), ("GEN3", "VIC1"), (bid, "NSW1")]
    rows = [
        {"duid": duid, "regionid": region, "interval_datetime": time, "mlf": 1.0,
         "maxavail": 100.0 + n, **{p: 10.0 * (k + 1) for k, p in enumerate(PRICE_BANDS)},
         **{b: 10.0 + n for b in BAND_VOLUMES}}
        for n, (duid, region) in enumerate(units)
        for time in TIMES
    ]  # fmt: skip
    return pl.DataFrame(rows)


def test_the_demand_bids_and_the_peak_region_interval_are_kept(offers) -> None:
    peak = Peak("NSW1", TIMES[1], 9000.0)
    kept = settling_offers(offers, peak)
    assert kept.columns == offers.columns
    assert sorted(zip(kept["duid"], kept["interval_datetime"], strict=True)) == sorted(
        [(f"{DEMAND_BID_PREFIX}R1", t) for t in TIMES] + [("GEN1", TIMES[1]), ("GEN2", TIMES[1])]
    )
    only_bids = settling_offers(offers, None)
    assert set(only_bids["duid"]) == {f"{DEMAND_BID_PREFIX}R1"} and only_bids.height == 3


def test_metering_and_the_bid_stack_read_the_same_from_the_rows_kept(offers) -> None:
    """The bid stack: the region's three units (a demand bid among them), ten bands each."""
    peak = Peak("NSW1", TIMES[1], 9000.0)
    kept = settling_offers(offers, peak)
    dispatched = offers.select(
        "duid", "interval_datetime", pl.lit(5.0).alias("dispatch_mw"),
        pl.lit(None, pl.Float64).alias("ramp_base_mw"),
    )  # fmt: skip
    assert meter(dispatched, kept, 5)[0].equals(meter(dispatched, offers, 5)[0])
    regions = pl.DataFrame(
        {"regionid": ["NSW1"], "interval_datetime": [TIMES[1]], "price": [30.0], "demand": [9000.0]}
    )
    stack = bid_stack("v1", kept, regions, peak, ["GEN1"])
    assert stack.height == 30 and stack.equals(bid_stack("v1", offers, regions, peak, ["GEN1"]))
