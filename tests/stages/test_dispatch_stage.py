"""The dispatch stage: ramp carry-over by hand, interval length from data, bad-input reporting."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.errors import InputError
from bidstack.stages.dispatch import carry_initial_mw, dispatch, last_dispatch

START = dt.datetime(2024, 1, 1, 0, 5)


def times(count: int, minutes: int = 5) -> list[dt.datetime]:
    return [START + dt.timedelta(minutes=minutes * i) for i in range(count)]


def offer(duid: str, when: dt.datetime, prices, avails, region: str = "NSW1", **extra) -> dict:
    """One offer row; bands beyond those given cost more and offer 0 MW."""
    prices = [*prices, *(prices[-1] + k for k in range(1, 11 - len(prices)))]
    avails = [*avails, *[0.0] * (10 - len(avails))]
    row = {"regionid": region, "duid": duid, "interval_datetime": when}
    row |= dict(zip(PRICE_BANDS, map(float, prices), strict=True))
    row |= dict(zip(BAND_VOLUMES, map(float, avails), strict=True))
    return row | extra


def demand_frame(when: list[dt.datetime], mw: list[float], region: str = "NSW1", **extra):
    return pl.DataFrame(
        {"regionid": [region] * len(when), "interval_datetime": when, "demand": mw, **extra}
    )


def initial(**mw: float) -> pl.DataFrame:
    return pl.DataFrame({"duid": list(mw), "initial_mw": list(mw.values())})


def column(result_frame: pl.DataFrame, duid: str, name: str = "dispatch_mw") -> list:
    return result_frame.filter(pl.col("duid") == duid).sort("interval_datetime")[name].to_list()


def test_ramp_up_carries_from_interval_to_interval() -> None:
    when = times(6)
    offers = pl.DataFrame(
        [offer("A", t, [10], [100], rocup=2.0, rocdown=2.0) for t in when]
        + [offer("B", t, [50], [100]) for t in when]
    )
    result = dispatch(offers, demand_frame(when, [50.0] * 6), initial_mw=initial(A=0.0))
    assert column(result.units, "A") == pytest.approx([10, 20, 30, 40, 50, 50])
    assert column(result.units, "B") == pytest.approx([40, 30, 20, 10, 0, 0])
    assert column(result.units, "A", "ramp_base_mw") == pytest.approx([0, 10, 20, 30, 40, 50])
    assert column(result.units, "A", "ramp_up_limited") == [True] * 6
    regions = result.regions.sort("interval_datetime")
    # at 00:25 demand is met exactly by A's ramp limit: the last band dispatched is A's
    assert regions["price"].to_list() == [50, 50, 50, 50, 10, 10]
    assert regions["marginal_duid"].to_list() == ["B"] * 4 + ["A"] * 2


@pytest.mark.parametrize(("minutes", "expected"), [(5, [5, 10, 15]), (30, [30, 50, 50])])
def test_interval_length_comes_from_the_data(minutes: int, expected: list[float]) -> None:
    when = times(3, minutes)
    offers = pl.DataFrame(
        [offer("A", t, [10], [100], rocup=1.0) for t in when]
        + [offer("B", t, [50], [100]) for t in when]
    )
    result = dispatch(offers, demand_frame(when, [50.0] * 3), initial_mw=initial(A=0.0))
    assert column(result.units, "A") == pytest.approx(expected)
    assert result.regions["interval_minutes"].to_list() == [minutes] * 3


def test_single_interval_needs_interval_minutes() -> None:
    offers = pl.DataFrame([offer("A", START, [10], [100], rocup=1.0)])
    demand = demand_frame([START], [50.0])
    with pytest.raises(InputError, match="interval_minutes"):
        dispatch(offers, demand, initial_mw=initial(A=0.0))
    result = dispatch(offers, demand, initial_mw=initial(A=0.0), interval_minutes=30)
    assert result.units["dispatch_mw"].to_list() == [30.0]


def test_ramp_down_forces_oversupply_priced_at_the_floor() -> None:
    when = times(4)
    offers = pl.DataFrame(
        [offer("A", t, [10], [100], rocdown=1.0) for t in when]
        + [offer("B", t, [5], [100]) for t in when]
    )
    result = dispatch(
        offers, demand_frame(when, [60.0, 60.0, 85.0, 200.0]), initial_mw=initial(A=100.0)
    )
    assert column(result.units, "A") == pytest.approx([95, 90, 85, 100])
    assert column(result.units, "B") == pytest.approx([0, 0, 0, 100])
    regions = result.regions.sort("interval_datetime")
    assert regions["oversupply_mw"].to_list() == pytest.approx([35, 30, 0, 0])
    # 00:15: demand equals the forced energy exactly, so no band is dispatched: floor price
    assert regions["price"].to_list() == [-1000, -1000, -1000, 10]
    assert regions["price_source"].to_list() == ["market_floor_price"] * 3 + ["offer"]
    assert regions["marginal_duid"].to_list() == [None, None, None, "A"]


def test_forced_energy_does_not_set_the_price() -> None:
    offers = pl.DataFrame(
        [offer("A", START, [300], [100], rocdown=1.0), offer("B", START, [20], [200])]
    )
    result = dispatch(
        offers, demand_frame([START], [150.0]), initial_mw=initial(A=100.0), interval_minutes=5
    )
    assert column(result.units, "A") == pytest.approx([95.0])
    assert column(result.units, "B") == pytest.approx([55.0])
    assert result.regions["price"].to_list() == [20.0]
    assert column(result.units, "A", "ramp_down_limited") == [True]


def test_ramp_down_limit_above_availability_holds_the_unit_up_as_nemde_does() -> None:
    """A unit rebid to 50 MW while running 100 MW comes down at its ramp rate, not at once."""
    offers = pl.DataFrame(
        [offer("A", START, [10], [100], rocdown=1.0, maxavail=50.0), offer("B", START, [5], [100])]
    )
    result = dispatch(
        offers, demand_frame([START], [120.0]), initial_mw=initial(A=100.0), interval_minutes=5
    )
    a = result.units.filter(pl.col("duid") == "A").row(0, named=True)
    assert (a["dispatch_mw"], a["lower_mw"], a["upper_mw"]) == (95.0, 95.0, 95.0)
    assert a["ramp_down_over_availability"] and a["ramp_down_limited"]
    assert a["forced_mw"] == 0.0
    assert column(result.units, "B") == [25.0]
    # the held-up MW are forced: B's band sets the price
    assert result.regions["price"].to_list() == [5.0]


def test_ramp_down_beyond_the_bands_is_forced_excess() -> None:
    """DDPS1 on 2022-01-01: bids 0 MW while running 453 MW, comes down 2 MW/min."""
    offers = pl.DataFrame(
        [offer("DDPS1", START, [-1000], [0], rocdown=2.0, maxavail=0.0),
         offer("B", START, [5], [1000])]
    )  # fmt: skip
    result = dispatch(
        offers, demand_frame([START], [600.0]), initial_mw=initial(DDPS1=453.0), interval_minutes=5
    )
    unit = result.units.filter(pl.col("duid") == "DDPS1").row(0, named=True)
    assert (unit["dispatch_mw"], unit["forced_mw"]) == (443.0, 443.0)
    assert column(result.units, "B") == [157.0]
    assert result.regions["price"].to_list() == [5.0]


def test_availability_priority_cuts_the_ramp_down_limit() -> None:
    offers = pl.DataFrame(
        [offer("A", START, [10], [100], rocdown=1.0, maxavail=50.0), offer("B", START, [5], [100])]
    )
    result = dispatch(
        offers,
        demand_frame([START], [80.0]),
        initial_mw=initial(A=100.0),
        interval_minutes=5,
        ramp_priority="availability",
    )
    a = result.units.filter(pl.col("duid") == "A").row(0, named=True)
    assert (a["dispatch_mw"], a["lower_mw"], a["upper_mw"]) == (50.0, 50.0, 50.0)
    assert a["ramp_down_over_availability"] and a["ramp_down_limited"]
    assert column(result.units, "B") == [30.0]


def test_a_unit_missing_an_interval_is_not_ramp_limited_after_the_gap() -> None:
    when = times(3)
    offers = pl.DataFrame(
        [offer("A", t, [10], [100], rocup=1.0) for t in (when[0], when[2])]
        + [offer("B", t, [50], [100]) for t in when]
    )
    result = dispatch(offers, demand_frame(when, [60.0] * 3), initial_mw=initial(A=0.0))
    assert column(result.units, "A") == [5.0, 60.0]
    assert column(result.units, "A", "ramp_base_mw") == [0.0, None]


def test_a_unit_first_offering_after_the_first_interval_is_not_ramp_limited() -> None:
    # the MW before the run holds at its first interval: a unit absent there starts after a gap
    when = times(4)
    offers = pl.DataFrame(
        [offer("A", t, [10], [100], rocup=1.0) for t in (when[0], when[1], when[3])]
        + [offer("B", t, [50], [100]) for t in when]
    )
    demand = demand_frame(when, [60.0] * 4)
    whole = dispatch(offers, demand, initial_mw=initial(A=0.0))
    assert column(whole.units, "A") == [5.0, 10.0, 60.0]
    later = dispatch(offers.filter(pl.col("interval_datetime") > when[1]), demand,
                     initial_mw=initial(A=0.0))  # fmt: skip
    assert column(later.units, "A") == [60.0]
    assert column(later.units, "A", "ramp_base_mw") == [None]
    # so a run cut where the unit is dispatched, just before its gap, dispatches as one run
    time = pl.col("interval_datetime")
    first = dispatch(offers.filter(time <= when[1]), demand.filter(time <= when[1]),
                     initial_mw=initial(A=0.0))  # fmt: skip
    carried = carry_initial_mw(last_dispatch(first.units), when[1])
    second = dispatch(offers.filter(time > when[1]), demand.filter(time > when[1]),
                      initial_mw=carried, interval_minutes=5)  # fmt: skip
    assert carried.sort("duid").rows() == [("A", 10.0), ("B", 50.0)]
    assert pl.concat([first.units, second.units]).sort("duid", "interval_datetime").equals(
        whole.units.sort("duid", "interval_datetime")
    )


def test_a_region_interval_without_demand_breaks_the_ramp_chain() -> None:
    when = times(3)
    offers = pl.DataFrame(
        [offer("A", t, [10], [100], rocup=1.0) for t in when]
        + [offer("B", t, [50], [100]) for t in when]
    )
    demand = demand_frame([when[0], when[2]], [60.0, 60.0])
    result = dispatch(offers, demand, initial_mw=initial(A=0.0))
    assert column(result.units, "A") == [5.0, 60.0]
    missing = result.problems.filter(pl.col("kind") == "offer_without_demand")
    assert sorted(missing["duid"]) == ["A", "B"]
    assert set(missing["interval_datetime"]) == {when[1]}


def test_unserved_energy_is_priced_at_the_cap_of_the_interval() -> None:
    when = times(3)
    offers = pl.DataFrame([offer("A", t, [10, 20], [40, 60]) for t in when])
    demand = demand_frame(when, [130.0, 130.0, 90.0], market_price_cap=[None, 16600.0, None])
    result = dispatch(offers, demand, market_price_cap=17500.0)
    regions = result.regions.sort("interval_datetime")
    assert regions["price"].to_list() == [17500.0, 16600.0, 20.0]
    assert regions["unserved_mw"].to_list() == pytest.approx([30, 30, 0])
    assert regions["price_source"].to_list() == ["market_price_cap"] * 2 + ["offer"]
    assert column(result.units, "A") == [100.0, 100.0, 90.0]


def test_band_prices_are_referred_to_the_reference_node() -> None:
    offers = pl.DataFrame(
        [offer("A", START, [100], [50], mlf=0.8), offer("B", START, [120], [50], mlf=1.0)]
    )
    low = dispatch(offers, demand_frame([START], [30.0]), interval_minutes=5)
    assert (column(low.units, "A"), column(low.units, "B")) == ([0.0], [30.0])
    assert low.regions["price"].to_list() == [120.0]
    high = dispatch(offers, demand_frame([START], [80.0]), interval_minutes=5)
    assert high.regions["price"].to_list() == [pytest.approx(125.0)]


def test_a_rebid_reorders_the_merit_order() -> None:
    when = times(3)
    offers = pl.DataFrame(
        [offer("A", t, [p], [100]) for t, p in zip(when, [10, 60, 10], strict=True)]
        + [offer("B", t, [50], [100]) for t in when]
    )
    result = dispatch(offers, demand_frame(when, [70.0] * 3))
    assert column(result.units, "A") == [70.0, 0.0, 70.0]
    assert result.regions.sort("interval_datetime")["price"].to_list() == [10, 50, 10]


def test_equal_prices_share_pro_rata_water_filling_a_capped_unit() -> None:
    offers = pl.DataFrame(
        [
            offer("A", START, [30], [100]),
            offer("B", START, [30], [50]),
            offer("C", START, [30], [60], maxavail=10.0),
            offer("D", START, [5], [20]),
        ]
    )
    result = dispatch(offers, demand_frame([START], [100.0]), interval_minutes=5)
    mw = dict(zip(result.units["duid"], result.units["dispatch_mw"], strict=True))
    # 80 MW at 30 $/MWh: C's share (80 / 210 * 60) exceeds its 10 MW, so A and B share 70 pro rata
    assert mw == pytest.approx({"A": 70 * 100 / 150, "B": 70 * 50 / 150, "C": 10.0, "D": 20.0})
    assert result.regions["marginal_duid"].to_list() == ["A"]


@pytest.mark.parametrize(("base_demand", "consumed"), [(100.0, 0.0), (50.0, 30.0)])
def test_a_demand_bid_is_a_free_unit(base_demand: float, consumed: float) -> None:
    """A retailer bidding 30 MW at 300 $/MWh: 30 MW more demand and a 30 MW band at 300."""
    offers = pl.DataFrame(
        [
            offer("G1", START, [50], [100], rocup=0.5, rocdown=0.5),
            offer("G2", START, [500], [100]),
            offer("RETAIL", START, [300], [30]),
        ]
    )
    result = dispatch(
        offers,
        demand_frame([START], [base_demand + 30.0]),
        initial_mw=initial(G1=100.0),
        interval_minutes=5,
    )
    assert 30.0 - column(result.units, "RETAIL")[0] == pytest.approx(consumed)


def bad_input() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two regions over two intervals, with one of every bad row."""
    t1, t2 = times(2)
    good = [
        offer(d, t, [10, 20], [50, 50], region=r)
        for r, d in (("NSW1", "N1"), ("QLD1", "Q1"))
        for t in (t1, t2)
    ]
    bad = [
        offer("NAN", t1, [float("nan"), 20], [10]),
        offer("NULLP", t1, [10, 20], [10]) | {"priceband4": None},
        offer("NEG", t1, [10, 20], [10, -5]),
        offer("NULLQ", t1, [10, 20], [10]) | {"bandavail3": None},
        offer("DESC", t1, [30, 20], [10]),
        offer("MLF", t1, [10, 20], [10], mlf=0.0),
        offer("RAMP", t1, [10, 20], [10], rocup=-1.0),
        offer("MAXQ", t1, [10, 20], [10], maxavail=-3.0),
        offer("TWICE", t1, [10], [10]),
        offer("TWICE", t1, [10], [10]),
        offer("LATE", t2, [10], [10], region="VIC1"),
        offer("DQ", t2, [10], [10], region="TAS1"),
    ]
    offers = pl.DataFrame(good + bad, infer_schema_length=None)
    demand = pl.DataFrame(
        {
            "regionid": ["NSW1", "NSW1", "QLD1", "QLD1", "QLD1", "SA1", "TAS1", "TAS1"],
            "interval_datetime": [t1, t2, t1, t2, t2, t1, t2, t1],
            "demand": [60.0, 60.0, 60.0, 60.0, 60.0, 10.0, float("nan"), 5.0],
            "market_price_cap": [None, None, None, None, None, None, None, -2000.0],
        }
    )
    return offers, demand


def test_every_bad_row_is_reported_by_unit_and_interval() -> None:
    offers, demand = bad_input()
    result = dispatch(offers, demand)
    t1, t2 = times(2)
    found = {(k, d, t) for k, _, d, t, _ in result.problems.iter_rows()}
    assert found == {
        ("missing_price", "NAN", t1),
        ("missing_price", "NULLP", t1),
        ("negative_availability", "NEG", t1),
        ("missing_availability", "NULLQ", t1),
        ("prices_not_ascending", "DESC", t1),
        ("bad_mlf", "MLF", t1),
        ("bad_ramp_rate", "RAMP", t1),
        ("negative_availability", "MAXQ", t1),
        ("duplicate_offer", "TWICE", t1),
        ("offer_without_demand", "LATE", t2),
        ("offer_without_demand", "DQ", t2),
        ("offer_without_demand", "Q1", t2),
        ("duplicate_demand", None, t2),
        ("missing_demand", None, t2),
        ("bad_price_limits", None, t1),
        ("demand_without_offers", None, t1),
    }
    assert len(result.problems.filter(kind="duplicate_offer")) == 2
    details = dict(zip(result.problems["duid"], result.problems["detail"], strict=True))
    assert details["NEG"] == "bandavail2=-5.0"
    assert details["NULLP"] == "priceband4=null"
    assert details["DESC"] == "priceband2=20.0"
    # every offer row is dispatched or reported, never both, and nothing bad was dispatched
    dispatched = set(result.units.select("duid", "interval_datetime").iter_rows())
    reported = set(
        result.problems.drop_nulls("duid").select("duid", "interval_datetime").iter_rows()
    )
    assert dispatched | reported == set(offers.select("duid", "interval_datetime").iter_rows())
    assert not dispatched & reported
    assert sorted(result.regions.select("regionid", "interval_datetime").iter_rows()) == [
        ("NSW1", t1),
        ("NSW1", t2),
        ("QLD1", t1),
        ("SA1", t1),
    ]
    # SA1 has demand and no offer: reported, and dispatched as unserved at the cap
    sa = result.regions.filter(pl.col("regionid") == "SA1").row(0, named=True)
    assert (sa["unserved_mw"], sa["price"]) == (10.0, 15000.0)
    assert sa["price_source"] == "market_price_cap"


def test_demand_without_any_offer_is_reported() -> None:
    offers = pl.DataFrame([offer("A", START, [10], [10])]).clear()
    result = dispatch(offers, demand_frame(times(2), [10.0, 10.0]))
    assert result.units.is_empty()
    assert result.regions["unserved_mw"].to_list() == [10.0, 10.0]
    assert result.problems["kind"].to_list() == ["demand_without_offers"] * 2


def base_frames() -> tuple[pl.DataFrame, pl.DataFrame]:
    when = times(2)
    return pl.DataFrame([offer("A", t, [10], [100]) for t in when]), demand_frame(when, [50.0] * 2)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o, d: (o.drop("bandavail3"), d), "bandavail3"),
        (lambda o, d: (o, d.drop("demand")), "demand"),
        (lambda o, d: (o.with_columns(priceband1=pl.lit("abc")), d), "priceband1"),
        (lambda o, d: (o.with_columns(rocup=pl.lit(True)), d), "rocup"),
        (
            lambda o, d: (o.with_columns(pl.col("interval_datetime").cast(pl.String)), d),
            "interval_datetime",
        ),
        (
            lambda o, d: (
                o,
                d.with_columns(pl.col("interval_datetime").dt.replace_time_zone("UTC")),
            ),
            "time zone",
        ),
        (lambda o, d: (o.with_columns(duid=pl.lit(None, pl.String)), d), "offers.duid"),
        (lambda o, d: (o.with_columns(regionid=pl.Series(["NSW1", "QLD1"])), d), "duid A"),
        (lambda o, d: (o.to_dicts(), d), "DataFrame"),
    ],
)
def test_unreadable_frames_raise_input_error(change, message: str) -> None:
    offers, demand = change(*base_frames())
    with pytest.raises(InputError, match=message):
        dispatch(offers, demand)


def test_uneven_interval_spacing_raises_input_error() -> None:
    when = [START, START + dt.timedelta(minutes=5), START + dt.timedelta(minutes=12)]
    offers = pl.DataFrame([offer("A", t, [10], [100]) for t in when])
    with pytest.raises(InputError, match=r"7\.0 minutes apart"):
        dispatch(offers, demand_frame(when, [50.0] * 3))


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pl.DataFrame({"duid": ["A"], "initial_mw": [-1.0]}), "duid A"),
        (pl.DataFrame({"duid": ["A", "A"], "initial_mw": [1.0, 2.0]}), "more than one"),
        (pl.DataFrame({"duid": ["A"]}), "initial_mw"),
    ],
)
def test_bad_initial_mw_raises_input_error(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(InputError, match=message):
        dispatch(*base_frames(), initial_mw=frame)


def test_an_unknown_engine_is_refused() -> None:
    with pytest.raises(InputError, match="engine must be one of kernel, reference, not 'lp'"):
        dispatch(*base_frames(), engine="lp")


def test_market_limits_must_be_ordered() -> None:
    with pytest.raises(InputError, match="must exceed"):
        dispatch(*base_frames(), market_price_cap=-1000.0)


def test_interval_datetimes_in_other_time_units_are_accepted() -> None:
    offers, demand = base_frames()
    offers = offers.with_columns(pl.col("interval_datetime").dt.cast_time_unit("ms"))
    result = dispatch(
        offers, demand.with_columns(pl.col("interval_datetime").dt.cast_time_unit("ns"))
    )
    assert result.units["dispatch_mw"].to_list() == [50.0, 50.0]
    assert np.all(result.regions["price"].to_numpy() == 10.0)


def test_a_change_of_loss_factor_alone_moves_the_referred_price() -> None:
    # the same band prices every interval; only the loss factor changes (as on 1 July): the
    # prices referred to the reference node must change with it, interval by interval
    when = times(4)
    mlf = [1.0, 0.5, 0.5, 1.0]
    offers = pl.DataFrame(
        [offer("A", t, [50, 60], [100, 100], mlf=m) for t, m in zip(when, mlf, strict=True)]
    )
    result = dispatch(offers, demand_frame(when, [50.0] * 4))
    assert result.regions.sort("interval_datetime")["price"].to_list() == pytest.approx(
        [50.0, 100.0, 100.0, 50.0]
    )
