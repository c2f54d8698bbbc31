"""Administered pricing: the cumulative price threshold trips the administered price cap."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from bidstack.stages.administered import administer, administered_price_cap, history_gaps

STEP = timedelta(minutes=5)


def prices(region: str, last: datetime, values: list[float]) -> pl.DataFrame:
    """Five-minute prices ending at ``last``, oldest first."""
    times = [last - STEP * k for k in reversed(range(len(values)))]
    return pl.DataFrame({"regionid": region, "interval_datetime": times, "price": values})


def thresholds(regions, first: date, days: int, cpt: float, apc: float = 600.0) -> pl.DataFrame:
    return pl.DataFrame(
        {"regionid": r, "trading_day": first + timedelta(days=d), "cumulative_price_threshold": cpt,
         "administered_price_cap": apc, "administered_price_floor": -apc}
        for r in regions for d in range(days)
    )  # fmt: skip


def test_a_week_above_the_threshold_caps_the_following_intervals_at_the_apc() -> None:
    left = datetime(2024, 9, 8)  # midnight: the trading day of 7 September runs to 04:00
    week = pl.concat(
        [prices("QLD1", left, [500.0] * 2016), prices("NSW1", left, [100.0] * 2016)]
    )  # QLD1's sum is 1,008,000 at the window's start: above the threshold
    window = pl.concat(
        [
            # 00:05..02:00 at 1,000 and 02:05..04:00 at -2,000, then 04:05..05:00 at 1,000
            prices("QLD1", left + STEP * 24, [1000.0] * 24)
            .vstack(prices("QLD1", left + STEP * 48, [-2000.0] * 24))
            .vstack(prices("QLD1", left + STEP * 60, [1000.0] * 12)),
            prices("NSW1", left + STEP * 60, [1000.0] * 60),
        ]
    ).with_columns(demand=pl.lit(10.0))
    limits = thresholds(["QLD1", "NSW1"], date(2024, 8, 31), 9, 1_000_000.0)
    result, problems = administer(window, week, limits)
    qld = result.filter(pl.col("regionid") == "QLD1").sort("interval_datetime")
    assert qld.height == 60 and "demand" in qld.columns
    # the whole rest of the trading day is administered: capped at 600 and floored at -600,
    # though the sum fell below the threshold during it; the next trading day is not
    assert qld["administered"].to_list() == [True] * 48 + [False] * 12
    assert qld["price"].to_list() == [600.0] * 24 + [-600.0] * 24 + [1000.0] * 12
    assert qld["pre_ap_price"].to_list() == [1000.0] * 24 + [-2000.0] * 24 + [1000.0] * 12
    assert qld["cumulative_price"][0] == 1_008_000.0 - 500.0 + 1000.0
    nsw = result.filter(pl.col("regionid") == "NSW1")
    assert not nsw["administered"].any() and set(nsw["price"]) == {1000.0}
    # the period started before the window: the sum passed 1,000,000 with the 2,001st 500
    assert problems.select("kind", "regionid", "interval_datetime").rows() == [
        ("administered_price_period", "QLD1", left - STEP * 14)
    ]
    assert "end of trading day 2024-09-07" in problems["detail"][0]


def test_the_threshold_crossed_in_the_window_caps_from_the_next_interval() -> None:
    left = datetime(2024, 9, 8, 12)
    week = prices("SA1", left, [495.0] * 2016)  # 997,920: below
    window = prices("SA1", left + STEP * 3, [10_000.0] * 3)
    result, _ = administer(window, week, thresholds(["SA1"], date(2024, 8, 31), 9, 1_000_000.0))
    # the first 10,000 takes the sum to 1,007,425: the interval itself is not administered
    assert result["administered"].to_list() == [False, True, True]
    assert result["price"].to_list() == [10_000.0, 600.0, 600.0]


def test_the_period_runs_into_the_next_trading_day_while_the_sum_stays_above() -> None:
    left = datetime(2024, 9, 8, 3, 30)
    week = prices("VIC1", left, [600.0] * 2016)
    window = prices("VIC1", left + STEP * 12, [700.0] * 12)  # 03:35..04:30
    result, problems = administer(
        window, week, thresholds(["VIC1"], date(2024, 8, 31), 9, 1_000_000.0)
    )
    assert result["administered"].all() and set(result["price"]) == {600.0}
    # one period row per trading day of the window, from the period's start in that day
    assert problems.get_column("interval_datetime").to_list() == [
        datetime(2024, 9, 7, 4, 5), datetime(2024, 9, 8, 4, 5)
    ]


@pytest.mark.parametrize("era", [datetime(2024, 9, 1), datetime(2021, 6, 1)])
def test_the_sums_are_the_same_wherever_the_history_starts(era: datetime) -> None:
    # a window of days reads eight days before its own start, a month eight days before the
    # month's: the sum at each interval must not depend on it (a sum carried along the series,
    # adding the newest price and taking off the oldest, differs in its last bits)
    rng = np.random.default_rng(5)
    count = 30 * 288
    series = pl.concat(
        prices(region, era + STEP * count, list(rng.uniform(-1000.0, 15000.0, count).round(5)))
        for region in ("QLD1", "SA1")
    )
    limits = thresholds(["QLD1", "SA1"], era.date() - timedelta(days=1), 32, 3e9)

    def run(left: datetime, right: datetime) -> pl.DataFrame:
        time = pl.col("interval_datetime")
        window = series.filter(time.is_between(left, right, closed="right"))
        history = series.filter(time.is_between(left - timedelta(days=8), left, closed="right"))
        result, _ = administer(window, history, limits)
        return result.sort("regionid", "interval_datetime")

    last = era + timedelta(days=30)
    from_the_month = run(era + timedelta(days=8), last).filter(
        pl.col("interval_datetime") > era + timedelta(days=20)
    )
    from_the_window = run(era + timedelta(days=20), last)
    assert from_the_month["cumulative_price"].null_count() < from_the_month.height
    assert from_the_window.equals(from_the_month)
    sums = from_the_window.filter(pl.col("cumulative_price").is_not_null())
    one = sums.row(sums.height // 2, named=True)  # the week's 2,016 prices, added afresh
    week = series.filter(
        (pl.col("regionid") == one["regionid"])
        & pl.col("interval_datetime").is_between(
            one["interval_datetime"] - timedelta(days=7), one["interval_datetime"], "right"
        )
    )
    assert week.height == 2016
    assert one["cumulative_price"] == pytest.approx(week["price"].sum(), rel=1e-12)


def test_before_five_minute_settlement_the_sum_is_of_trading_prices_at_half_hour_ends() -> None:
    left = datetime(2020, 1, 8, 12)
    # 336 half-hours whose six dispatch prices average 700: 6 x 235,200 in five-minute units
    week = prices("SA1", left, [400.0, 1000.0] * 1008)
    limits = thresholds(["SA1"], date(2019, 12, 31), 9, 6 * 230_000.0, apc=300.0)
    window = prices("SA1", left + STEP * 6, [2000.0] * 6)
    result, _ = administer(window, week, limits)
    assert result["price"].to_list() == [300.0] * 6 and result["administered"].all()
    # a sum just below at the half-hour end: the spike in the next half-hour is only checked
    # at its end, so that half-hour is not administered, the one after is
    calm = prices("SA1", left, [500.0] * 2016)
    limits = thresholds(["SA1"], date(2019, 12, 31), 9, 6 * 336 * 500.0 + 1.0, apc=300.0)
    window = prices("SA1", left + STEP * 12, [5000.0] * 12)
    result, _ = administer(window, calm, limits)
    assert result["administered"].to_list() == [False] * 6 + [True] * 6
    assert result["price"].to_list() == [5000.0] * 6 + [300.0] * 6
    assert result["cumulative_price"].null_count() == 10  # checked at half-hour ends only


def test_a_region_day_without_a_threshold_is_not_administered() -> None:
    left = datetime(2024, 9, 8)
    week = prices("QLD1", left, [5000.0] * 2016)
    window = prices("QLD1", left + STEP, [1000.0])
    result, problems = administer(window, week, thresholds(["NSW1"], date(2024, 8, 31), 9, 1.0))
    assert not result["administered"].any() and problems.height == 0


def test_the_apc_is_data_and_short_history_is_reported() -> None:
    assert administered_price_cap(date(2022, 6, 30)) == 300.0
    assert administered_price_cap(date(2022, 7, 1)) == 600.0
    left = datetime(2024, 9, 8)
    history = prices("QLD1", left, [1.0] * 100)
    window = pl.concat([prices("QLD1", left + STEP, [1.0]), prices("SA1", left + STEP, [1.0])])
    gaps = history_gaps(history, window, left)
    assert gaps.select("kind", "regionid").rows() == [
        ("cpt_history_incomplete", "QLD1"), ("cpt_history_incomplete", "SA1")
    ]
    assert gaps["detail"][0].startswith("100 of the 2016 five-minute prices")
    full = prices("QLD1", left, [1.0] * 2016)
    assert history_gaps(full, window.filter(pl.col("regionid") == "QLD1"), left).height == 0


@pytest.mark.parametrize(
    ("left", "cpt", "apc"),
    [(datetime(2019, 12, 10), 6 * 221_100.0, 300.0),  # a half-hourly threshold, times six
     (datetime(2024, 9, 10), 6 * 224_600.0, 600.0)],  # the latest row in force (2020-07-01)
)  # fmt: skip
def test_thresholds_come_from_market_price_thresholds(sample_ingest, left, cpt, apc) -> None:
    from bidstack.fleet import parse_fleet

    store, _ = sample_ingest
    unit = {"X": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5}}
    fleet = parse_fleet({"units": unit}, source="test")
    frame, problems = thresholds_of(store, left, fleet, ["SA1"])
    assert problems.height == 0
    assert set(frame["cumulative_price_threshold"]) == {cpt}
    assert set(frame["administered_price_cap"]) == {apc}
    assert set(frame["administered_price_floor"]) == {-apc}
    assert frame["trading_day"].min() == (left - timedelta(days=9)).date()
    fixed = parse_fleet(
        {"market": {"administered_price_cap": 450.0}, "units": unit}, source="test"
    )
    frame, _ = thresholds_of(store, left, fixed, ["SA1"])
    assert set(frame["administered_price_cap"]) == {450.0}


def test_regional_apc_from_the_store_and_a_missing_threshold(tmp_path) -> None:
    from bidstack.fleet import parse_fleet
    from bidstack.io import write_table

    store = tmp_path / "store"
    write_table(
        store,
        "REGIONAPCINTERVALS",
        pl.DataFrame(
            {"regionid": ["QLD1", "QLD1"], "effectivedate": [datetime(2024, 1, 1)] * 2,
             "versionno": [1, 1], "periodid": [1, 2], "apcvalue": [500.0, 500.0],
             "apfvalue": [-450.0, -450.0]}
        ),
        source="test",
    )  # fmt: skip
    unit = {"X": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5}}
    left = datetime(2024, 9, 10)
    plain = parse_fleet({"units": unit}, source="test")
    frame, problems = thresholds_of(store, left, plain, ["QLD1", "SA1"])
    apc = {r["regionid"]: (r["administered_price_cap"], r["administered_price_floor"])
           for r in frame.iter_rows(named=True)}  # fmt: skip
    assert apc == {"QLD1": (500.0, -450.0), "SA1": (600.0, -600.0)}
    # no MARKET_PRICE_THRESHOLDS: not administered, and said so
    assert frame["cumulative_price_threshold"].null_count() == frame.height
    assert problems.select("kind").rows() == [("cpt_missing",)]
    given = parse_fleet(
        {"market": {"cumulative_price_threshold": 1_400_000.0}, "units": unit}, source="test"
    )
    frame, problems = thresholds_of(store, left, given, ["SA1"])
    assert set(frame["cumulative_price_threshold"]) == {1_400_000.0}
    assert problems["kind"].to_list() == ["cpt_from_fleet"]
    assert "1 trading day(s) from 2024-09-09 to 2024-09-09" in problems["detail"][0]


def thresholds_of(store, left: datetime, fleet, regions: list[str]):
    """:func:`administered_thresholds` of the store's tables for the interval after ``left``."""
    from bidstack.io import read
    from bidstack.stages.administered import administered_thresholds

    rows = read(store, "MARKET_PRICE_THRESHOLDS").collect()
    apc = read(store, "REGIONAPCINTERVALS").collect()
    return administered_thresholds(rows, apc, left, left + STEP, fleet.market, regions)
