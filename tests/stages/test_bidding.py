"""The bidding round: gate closure, the fleet re-bid per variant, demand bids."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import polars as pl
import pytest

from bidstack.errors import InputError
from bidstack.fleet import parse_fleet
from bidstack.stages.bidding import BASELINE, bidding_round
from bidstack.stages.offers import build_offers

from pipeline_frames import FIRST, MIDNIGHT, day_bid, registration, times, volume_bids

FLEET = parse_fleet(
    {
        "units": {
            "GEN1": {"tp_min": 10.0, "tp_max": 200.0, "srmc": 70.0},
            "MISSING": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5},
        }
    },
    source="fleet.toml",
)


def book(n: int = 4):
    late = MIDNIGHT + timedelta(hours=3, minutes=30)  # after gate closure for 04:05 and 04:10
    volumes = pl.DataFrame(volume_bids("GEN1", n) + volume_bids("OTHER", n, offerdate=late))
    prices = pl.DataFrame([day_bid("GEN1"), day_bid("OTHER")])
    return build_offers(volumes, prices, registration("GEN1", "OTHER")).offers


def frrp(values: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"regionid": "SA1", "interval_datetime": times(len(values)), "frrp": values}
    )


def test_historical_bids_are_accepted_and_unknown_fleet_units_are_reported() -> None:
    """The _D tables hold the bids AEMO dispatched: a late historical rebid is still history."""
    offers = book()
    result = bidding_round(offers, FLEET, [], frrp=frrp([50.0] * 4), interval_minutes=5)
    assert result.problems.filter(pl.col("kind") == "late_bid").is_empty()
    unknown = result.problems.filter(pl.col("kind") == "fleet_unit_unknown")
    assert unknown.get_column("duid").to_list() == ["MISSING"]
    baseline = result.scenarios[BASELINE]
    assert sorted(baseline.get_column("duid").unique()) == ["GEN1", "OTHER"]
    assert result.allocation is None


def test_gate_closure_applies_to_history_when_asked() -> None:
    fleet = replace(FLEET, market=replace(FLEET.market, history_gate_closure=True))
    result = bidding_round(book(), fleet, [], frrp=frrp([50.0] * 4), interval_minutes=5)
    late = result.problems.filter(pl.col("kind") == "late_bid")
    # submitted 03:30; the interval ending 04:25 starts 04:20, gate closure 03:20: late
    assert late.get_column("duid").to_list() == ["OTHER"] * 4
    assert sorted(result.scenarios[BASELINE].get_column("duid").unique()) == ["GEN1"]


def test_fleet_rebids_its_capacity_in_the_chosen_band() -> None:
    offers = book()
    # frrp 100: SRMC 70 < 100 <= TPmax 200, so PT = 1; PP = 1 with a one-interval horizon
    result = bidding_round(offers, FLEET, ["v1", "v2"], frrp=frrp([100.0] * 4), interval_minutes=5)
    # v1 SDC FALSE PP=1 PT=1 is >TPmin: PB4 (30 > 10); v2 min(>TPmin, <SRMC+) = min(PB4, PB5)
    for name in ("v1", "v2"):
        gen = result.scenarios[name].filter(pl.col("duid") == "GEN1")
        volumes = gen.select([f"bandavail{k}" for k in range(1, 11)]).row(0)
        assert volumes == tuple(200.0 if k == 4 else 0.0 for k in range(1, 11))
        assert gen.get_column("maxavail").to_list() == [100.0] * 4
    counts = result.allocation.counts
    assert counts.get_column("allocated").to_list() == [4, 4]


def test_the_fleet_files_price_type_order_reaches_the_allocation() -> None:
    units = {"GEN1": {"tp_min": 80.0, "tp_max": 200.0, "srmc": 40.0}}
    # SRMC 40 < frrp 60 <= TPmin 80: PT -10 by default (SPEC §3), 1 when SRMC+ is tested first
    for order, expected in (("thresholds_first", -10), ("srmc_first", 1)):
        fleet = parse_fleet(
            {"market": {"price_type_order": order}, "units": units}, source="fleet.toml"
        )
        result = bidding_round(book(), fleet, ["v1"], frrp=frrp([60.0] * 4), interval_minutes=5)
        assert result.allocation.derived.get_column("price_type").to_list() == [expected] * 4


def test_missing_forecast_makes_the_fleet_offer_nothing_and_is_counted() -> None:
    result = bidding_round(
        book(), FLEET, ["v2"], frrp=frrp([100.0, None, 100.0, 100.0]), interval_minutes=5
    )
    assert result.allocation.counts.get_column("invalid_input").to_list() == [1]
    rejected = result.allocation.rejected
    assert rejected.get_column("interval_datetime").to_list() == [FIRST + timedelta(minutes=5)]
    gen = result.scenarios["v2"].filter(
        pl.col("interval_datetime") == FIRST + timedelta(minutes=5), pl.col("duid") == "GEN1"
    )
    assert gen.select(pl.sum_horizontal(f"bandavail{k}" for k in range(1, 11))).item() == 0.0


def test_demand_bids_become_virtual_units_and_extra_demand() -> None:
    bids = pl.DataFrame(
        {
            "regionid": "SA1",
            "interval_datetime": times(2),
            "participantid": "RETAIL",
            "price": [300.0, 300.0],
            "mw": [40.0, -1.0],
            "submitted": [MIDNIGHT, FIRST],  # the second is late as well as negative
        }
    )
    result = bidding_round(
        book(2), FLEET, [], frrp=frrp([50.0] * 2), interval_minutes=5, demand_bids=bids
    )
    virtual = result.scenarios[BASELINE].filter(pl.col("duid").str.starts_with("DEMAND:"))
    assert virtual.height == 1
    row = virtual.row(0, named=True)
    assert row["bandavail1"] == 40.0 and row["priceband1"] == 300.0 and row["priceband2"] > 300.0
    assert result.extra_demand.get_column("demand_bid_mw").to_list() == [40.0]
    demand = result.problems.filter(pl.col("duid").str.starts_with("DEMAND:"))
    # the late bid is reported as late, named as its virtual unit would be in dispatch
    assert demand.select("kind", "duid").rows() == [("late_bid", "DEMAND:RETAIL:SA1@300.0")]
    with pytest.raises(InputError, match="demand bids are missing column"):
        bidding_round(
            book(2),
            FLEET,
            [],
            frrp=frrp([50.0] * 2),
            interval_minutes=5,
            demand_bids=bids.drop("mw"),
        )


def test_every_variant_is_a_scenario_even_without_fleet_offers() -> None:
    absent = parse_fleet(
        {"units": {"NOSUCH": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5}}}, source="fleet.toml"
    )
    result = bidding_round(book(), absent, ["v1", "v2"], frrp=frrp([50.0] * 4), interval_minutes=5)
    assert list(result.scenarios) == ["baseline", "v1", "v2"]
    assert result.scenarios["v2"].equals(result.scenarios["baseline"])
    assert result.allocation is None


def test_demand_bids_without_finite_mw_or_price_are_reported_not_lost() -> None:
    bids = pl.DataFrame(
        {
            "regionid": "SA1",
            "interval_datetime": times(4),
            "participantid": "RETAIL",
            "price": [300.0, 300.0, 300.0, float("inf")],
            "mw": [40.0, None, float("nan"), 10.0],
        }
    )
    result = bidding_round(
        book(4), FLEET, [], frrp=frrp([50.0] * 4), interval_minutes=5, demand_bids=bids
    )
    bad = result.problems.filter(pl.col("kind") == "bad_demand_bid")
    assert bad.get_column("interval_datetime").to_list() == times(4)[1:]
    # named as the virtual unit would be in dispatch
    assert bad.get_column("duid").to_list() == [
        "DEMAND:RETAIL:SA1@300.0",
        "DEMAND:RETAIL:SA1@300.0",
        "DEMAND:RETAIL:SA1@inf",
    ]
    assert result.extra_demand.get_column("demand_bid_mw").to_list() == [40.0]


@pytest.mark.parametrize(
    ("offset", "late"),
    [(timedelta(0), False), (-timedelta(microseconds=1), False),
     (timedelta(microseconds=1), True)],
)  # fmt: skip
def test_gate_closure_is_the_interval_start_less_the_timeout(offset, late) -> None:
    from bidstack.stages.bidding import _gate_closure

    interval = datetime(2024, 9, 1, 12, 5)  # the interval 12:00..12:05
    closure = datetime(2024, 9, 1, 11, 0)  # 3600 s before its start
    bids = pl.DataFrame(
        {"regionid": ["SA1"], "duid": ["AGLHAL"], "interval_datetime": [interval],
         "offerdate": [closure + offset]}
    )  # fmt: skip
    on_time, rejected = _gate_closure(bids, "offerdate", 3600.0, 5.0)
    assert (rejected.height, on_time.height) == ((1, 0) if late else (0, 1))
    if late:
        assert rejected["detail"][0].endswith("after gate closure at 2024-09-01 11:00:00.000000")
