"""Settlement in integer cents: spot prices as AEMO sets them, amounts, statements."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from bidstack.errors import InputError
from bidstack.stages.settlement import settle, settlement_prices
from bidstack.stages.statements import format_cents, format_microdollars, statements


def dispatch(region: str, end: datetime, prices: list[float]) -> pl.DataFrame:
    times = [end - timedelta(minutes=5 * k) for k in reversed(range(len(prices)))]
    return pl.DataFrame({"regionid": region, "interval_datetime": times, "price": prices})


def test_half_hour_price_is_the_rounded_mean_of_six_before_five_minute_settlement() -> None:
    # mean 100.005 exactly: half away from zero gives 100.01 (a float mean would give 100.0)
    frame = dispatch(
        "NSW1", datetime(2021, 9, 30, 12, 30), [100.0, 100.01, 100.0, 100.01, 100.0, 100.01]
    )
    prices, missing = settlement_prices(frame)
    assert missing.height == 0
    assert prices.get_column("spot_price_cents").to_list() == [10001] * 6
    assert prices.get_column("settlement_interval").unique().to_list() == [
        datetime(2021, 9, 30, 12, 30)
    ]
    negative = dispatch("SA1", datetime(2021, 9, 30, 13, 0), [-100.0, -100.01] * 3)
    assert settlement_prices(negative)[0].get_column("spot_price_cents")[0] == -10001


def test_five_minute_prices_after_1_october_2021_and_the_boundary() -> None:
    frame = dispatch(
        "VIC1", datetime(2021, 10, 1, 0, 10), [10.0, 20.0, 30.0, 40.0, 50.0, 60.004, 70.005, 80.0]
    )
    prices, missing = settlement_prices(frame)
    by_end = dict(
        zip(
            prices.get_column("interval_datetime"),
            prices.get_column("spot_price_cents"),
            strict=True,
        )
    )
    # the half-hour ending 2021-10-01 00:00 is the last 30-minute one: mean(10..60.004) = 35.000667
    assert by_end[datetime(2021, 10, 1, 0, 0)] == 3500
    assert by_end[datetime(2021, 10, 1, 0, 5)] == 7001
    assert by_end[datetime(2021, 10, 1, 0, 10)] == 8000
    assert missing.height == 0


def test_incomplete_half_hours_are_reported_not_settled() -> None:
    frame = dispatch("QLD1", datetime(2020, 1, 1, 12, 30), [50.0, 51.0, 52.0])
    prices, missing = settlement_prices(frame)
    assert prices.height == 0
    assert missing.height == 3


UNITS = pl.DataFrame(
    {
        "duid": ["GEN1", "GEN2", "LOAD1"],
        "participantid": ["ALPHA", "ALPHA", "BETA"],
        "regionid": ["NSW1", "NSW1", "NSW1"],
        "mlf": [0.98, 1.0, 1.02],
    }
)


def test_amounts_are_carried_in_microdollars_and_statements_reconcile() -> None:
    start = datetime(2024, 1, 1, 4, 5)
    times = [start + timedelta(minutes=5 * k) for k in range(3)]
    prices = pl.DataFrame(
        {
            "regionid": "NSW1",
            "interval_datetime": times,
            "settlement_interval": times,
            "spot_price_cents": [10023, -5000, 0],
        }
    )
    energy = pl.DataFrame(
        {
            "duid": ["GEN1"] * 3 + ["GEN2"] * 3 + ["LOAD1"] * 3 + ["GHOST"],
            "interval_datetime": times * 3 + [times[0]],
            "energy_mwh": [100 / 12, 100 / 12, 5.0, 1.0, 2.0, 3.0, -4.0, -4.0, -4.0, 1.0],
        }
    )
    amounts, unsettled = settle(energy, UNITS, prices)
    assert unsettled.rows() == [("GHOST", times[0], "no unit record (participant, region, mlf)")]
    assert "amount_cents" not in amounts.columns
    micro = {
        (r["duid"], r["interval_datetime"]): r["amount_microdollars"]
        for r in amounts.iter_rows(named=True)
    }
    # 8.3333 MWh x 100.23 $/MWh x 0.98 = $818.545: carried as 818,545,000 micro-dollars, not
    # rounded to the cent
    assert micro[("GEN1", times[0])] == 818_545_000
    assert micro[("GEN1", times[1])] == -408_333_333  # 8.3333 x -50 x 0.98 = -$408.333333
    assert micro[("LOAD1", times[0])] == -408_938_400  # -4 x 100.23 x 1.02 (charged)
    result = statements(amounts)
    alpha = result.totals.filter(pl.col("participantid") == "ALPHA").row(0, named=True)
    exact = sum(v for (duid, _), v in micro.items() if duid.startswith("GEN"))
    assert alpha["net_microdollars"] == exact
    # one settlement date: its figure is the exact sum rounded half away from zero, and the
    # total is the sum of the days; the residue is what rounding left out
    assert exact == 410_441_667  # $410.441667
    assert alpha["net_cents"] == 41_044
    assert alpha["rounding_microdollars"] == exact - 41_044 * 10_000 == 1_667
    assert result.daily.get_column("net_cents").sum() == result.totals["net_cents"].sum()
    assert "net position $410.44" in result.summary("ALPHA")
    assert "exact $410.441667" in result.summary("ALPHA")


def test_negative_ties_round_away_from_zero_in_amounts_and_statements() -> None:
    at = [datetime(2024, 1, 1, 12, 5), datetime(2024, 1, 2, 12, 5), datetime(2024, 1, 3, 12, 5)]
    prices = pl.DataFrame(
        {"regionid": "NSW1", "interval_datetime": at, "settlement_interval": at,
         "spot_price_cents": [-32, 32, -1]}
    )  # fmt: skip
    units = pl.DataFrame(
        {"duid": ["GEN2", "LOAD1"], "participantid": ["ALPHA", "BETA"], "regionid": "NSW1",
         "mlf": 1.0}
    )  # fmt: skip
    # 1/1024 MWh x -0.32 $/MWh = -$0.0003125: -312.5 micro-dollars exactly, a tie
    energy = pl.DataFrame(
        {"duid": ["GEN2", "GEN2", "LOAD1"], "interval_datetime": at,
         "energy_mwh": [1 / 1024, 1 / 1024, 0.5]}
    )  # fmt: skip
    amounts, _ = settle(energy, units, prices)
    assert amounts.select("interval_datetime", "amount_microdollars").sort(
        "interval_datetime"
    ).rows() == [(at[0], -313), (at[1], 313), (at[2], -5_000)]
    # BETA's day is -5,000 micro-dollars: exactly half a cent, charged as -1 cent
    beta = statements(amounts).daily.filter(pl.col("participantid") == "BETA")
    assert beta.select("net_microdollars", "net_cents").row(0) == (-5_000, -1)


def test_statements_are_written_as_parquet_csv_and_text(tmp_path) -> None:
    prices = pl.DataFrame(
        {
            "regionid": "NSW1",
            "interval_datetime": [datetime(2024, 1, 1, 4, 5)],
            "settlement_interval": [datetime(2024, 1, 1, 4, 5)],
            "spot_price_cents": [5000],
        }
    )
    energy = pl.DataFrame(
        {"duid": ["GEN2"], "interval_datetime": [datetime(2024, 1, 1, 4, 5)], "energy_mwh": [10.0]}
    )
    result = statements(settle(energy, UNITS, prices)[0])
    written = result.write(tmp_path / "statements")
    assert {p.name for p in written} == {
        f"{name}.{suffix}"
        for name in ("intervals", "daily", "totals")
        for suffix in ("parquet", "csv")
    } | {"statement_ALPHA.txt"}
    totals = pl.read_csv(tmp_path / "statements" / "totals.csv")
    assert totals.select("net_cents", "net_microdollars", "rounding_microdollars").row(0) == (
        50000,
        500_000_000,
        0,
    )
    assert "$500.00" in (tmp_path / "statements" / "statement_ALPHA.txt").read_text()


def test_missing_columns_and_money_format() -> None:
    with pytest.raises(InputError, match="missing column"):
        settle(pl.DataFrame({"duid": ["X"]}), UNITS, pl.DataFrame())
    assert format_cents(-123456) == "-$1,234.56"
    assert format_microdollars(-1234567891) == "-$1,234.567891"
    assert format_cents(5) == "$0.05"


def test_trading_prices_rebuilt_from_dispatch_prices_match_aemo(sample_ingest) -> None:
    """Every TRADINGPRICE.RRP in the samples whose dispatch prices are all there, exactly."""
    from bidstack.io import read
    from bidstack.stages.settlement import trading_prices

    store, _ = sample_ingest
    dispatch = (
        read(store, "DISPATCHPRICE")
        .collect()
        .select(
            "regionid",
            pl.col("settlementdate").alias("interval_datetime"),
            pl.col("rrp").alias("price"),
        )
    )
    published = read(store, "TRADINGPRICE").collect()
    aemo_cents = pl.col("rrp") * 100
    assert published.select(((aemo_cents - aemo_cents.round(0)).abs() < 1e-6).all()).item()
    published = published.select(
        "regionid",
        pl.col("settlementdate").alias("interval_datetime"),
        aemo_cents.round(0).cast(pl.Int64).alias("aemo_cents"),
    )
    rebuilt = trading_prices(dispatch)
    compared = published.join(rebuilt, on=["regionid", "interval_datetime"], how="inner")
    assert compared.height > 28_000
    assert compared.filter(pl.col("spot_price_cents") != pl.col("aemo_cents")).height == 0
    before = compared.filter(pl.col("interval_datetime") <= datetime(2021, 10, 1))
    assert before.height > 2_000  # 30-minute trading intervals were compared too
    # a published price is left out only where some of its dispatch prices are not in the
    # samples (they hold TRADINGPRICE for months without DISPATCHPRICE, and filtered days)
    left_out = published.join(rebuilt, on=["regionid", "interval_datetime"], how="anti")
    half_hourly = pl.col("interval_datetime") <= datetime(2021, 10, 1)
    needed = (
        left_out.with_columns(
            end=pl.col("interval_datetime"),
            k=pl.when(half_hourly).then(pl.int_ranges(0, 6)).otherwise(pl.int_ranges(0, 1)),
        )
        .explode("k")
        .select(
            "regionid",
            "end",
            (pl.col("end") - pl.duration(minutes=5 * pl.col("k"))).alias("interval_datetime"),
        )
    )
    present = dispatch.select("regionid", "interval_datetime", present=pl.lit(True))
    per_row = (
        needed.join(present, on=["regionid", "interval_datetime"], how="left")
        .group_by("regionid", "end")
        .agg(pl.col("present").fill_null(False).all().alias("complete"))
    )
    assert per_row.height == left_out.height
    assert not per_row.get_column("complete").any()


def test_each_settlement_date_settles_with_the_registration_in_force() -> None:
    # both intervals are in the trading day of 2024-01-01 (04:05..04:00 the next morning), but
    # settle on two calendar dates: GEN2 changes hands and mlf on 2 January at 00:00
    times = [datetime(2024, 1, 2, 0, 0), datetime(2024, 1, 2, 0, 5)]
    units = pl.DataFrame(
        {
            "settlement_date": [date(2024, 1, 1), date(2024, 1, 2)],
            "duid": "GEN2",
            "participantid": ["OLDCO", "NEWCO"],
            "regionid": "NSW1",
            "mlf": [1.0, 0.5],
        }
    )
    prices = pl.DataFrame(
        {
            "regionid": "NSW1",
            "interval_datetime": times,
            "settlement_interval": times,
            "spot_price_cents": [10000, 10000],
        }
    )
    energy = pl.DataFrame({"duid": "GEN2", "interval_datetime": times, "energy_mwh": [1.0, 1.0]})
    amounts, unsettled = settle(energy, units, prices)
    assert unsettled.height == 0
    assert amounts.select("participantid", "settlement_date", "amount_microdollars").rows() == [
        ("NEWCO", date(2024, 1, 2), 50_000_000),
        ("OLDCO", date(2024, 1, 1), 100_000_000),
    ]
    daily = statements(amounts).daily
    assert daily.select("participantid", "settlement_date").rows() == [
        ("NEWCO", date(2024, 1, 2)),
        ("OLDCO", date(2024, 1, 1)),
    ]
    with pytest.raises(InputError, match="settlement date"):
        settle(energy, units.rename({"settlement_date": "trading_day"}), prices)


def test_1_july_intervals_before_4am_take_the_new_loss_factors(sample_ingest) -> None:
    """OAKLAND1's loss factors change on 2024-07-01 (nempy snapshot: TLF 0.9993 x DLF 0.893,
    from 1.0): the interval ending 00:05 settles on 1 July at the new factor, though its bids
    belong to the trading day of 30 June; the one ending 00:00 settles on 30 June at 1.0."""
    from bidstack.fleet import parse_fleet
    from bidstack.market_reads import settlement_units

    store, _ = sample_ingest
    fleet = parse_fleet(
        {"units": {"OAKLAND1": {"tp_min": 0.0, "tp_max": 300.0, "srmc": 10.0,
                                "participant": "AGLHP"}}},
        source="test",
    )  # fmt: skip
    ends = [datetime(2024, 7, 1, 0, 0), datetime(2024, 7, 1, 0, 5)]
    units, _ = settlement_units(store, datetime(2024, 6, 30, 23, 55), ends[1], fleet, NO_BIDS)
    oakland = units.filter(pl.col("duid") == "OAKLAND1").sort("settlement_date")
    assert oakland.get_column("settlement_date").to_list() == [date(2024, 6, 30), date(2024, 7, 1)]
    assert oakland.get_column("mlf").to_list() == pytest.approx([1.0, 0.9993 * 0.893], abs=1e-12)
    prices = pl.DataFrame(
        {"regionid": "VIC1", "interval_datetime": ends, "settlement_interval": ends,
         "spot_price_cents": [10000, 10000]}
    )  # fmt: skip
    energy = pl.DataFrame({"duid": "OAKLAND1", "interval_datetime": ends, "energy_mwh": 1.0})
    amounts, unsettled = settle(energy, units, prices)
    assert unsettled.height == 0
    assert amounts.select("interval_datetime", "settlement_date", "amount_microdollars").rows() == [
        (ends[0], date(2024, 6, 30), 100_000_000),
        (ends[1], date(2024, 7, 1), 89_237_490),
    ]


NO_BIDS = pl.DataFrame(
    schema={"trading_day": pl.Date, "duid": pl.String, "participantid": pl.String,
            "interval_datetime": pl.Datetime("us"), "regionid": pl.String}
)  # fmt: skip


def test_generation_settles_at_mlf_and_consumption_at_load_mlf() -> None:
    at = datetime(2024, 9, 2, 12, 5)
    units = pl.DataFrame(
        {
            "duid": ["BATT", "GEN", "NOLF"],
            "participantid": "ALPHA",
            "regionid": "NSW1",
            "mlf": [0.9, 0.95, None],
            "load_mlf": [0.8, None, 1.0],
        }
    )
    prices = pl.DataFrame(
        {"regionid": "NSW1", "interval_datetime": [at], "settlement_interval": [at],
         "spot_price_cents": [10000]}
    )  # fmt: skip
    energy = pl.DataFrame(
        {"duid": ["BATT", "BATT", "GEN", "NOLF"], "interval_datetime": [at] * 4,
         "energy_mwh": [1.0, -1.0, 1.0, 1.0]}
    )  # fmt: skip
    # BATT appears twice: settle rows are per unit-interval, so split it into two calls
    amounts, unsettled = settle(energy[[0, 2, 3]], units, prices)
    assert dict(amounts.select("duid", "amount_microdollars").iter_rows()) == {
        "BATT": 90_000_000,
        "GEN": 95_000_000,
    }
    assert unsettled.rows() == [("NOLF", at, "no usable loss factor (none)")]
    charged, _ = settle(energy[[1]], units, prices)
    assert charged.select("amount_microdollars", "loss_factor").row(0) == (-80_000_000, 0.8)
    # without load_mlf, consumption settles at mlf
    plain, _ = settle(energy[[1]], units.drop("load_mlf"), prices)
    assert plain.get_column("amount_microdollars").to_list() == [-90_000_000]


def test_real_loss_factors_tlf_times_dlf_and_the_bidirectional_pair(sample_ingest) -> None:
    """OAKLAND1 (TLF 0.9993, DLF 0.893) and BHB1 (secondary TLF 0.8423 for what it sends out,
    primary TLF 0.8284 for what it draws) as the nempy snapshot registers them."""
    from bidstack.fleet import parse_fleet
    from bidstack.inputs import settlement_registration
    from bidstack.io import read
    from bidstack.stages.offers import registration

    store, _ = sample_ingest
    day = date(2024, 9, 2)
    units = (
        registration(
            read(store, "DUDETAILSUMMARY").collect(), read(store, "DUDETAIL").collect(), [day]
        )
        .filter(pl.col("duid").is_in(["OAKLAND1", "BHB1"]))
    )
    assert units.height == 2
    limits = {"tp_min": 0.0, "tp_max": 300.0, "srmc": 10.0}
    fleet = parse_fleet(
        {"units": {"OAKLAND1": limits | {"participant": "AGLHP"},
                   "BHB1": limits | {"participant": "BHBESS"}}},
        source="test",
    )  # fmt: skip
    settled_units, _ = settlement_registration(units, fleet, NO_BIDS)
    factors = {r["duid"]: (r["mlf"], r["load_mlf"]) for r in settled_units.iter_rows(named=True)}
    assert factors["OAKLAND1"] == pytest.approx((0.9993 * 0.893, 0.9993 * 0.893), abs=1e-12)
    assert factors["BHB1"] == pytest.approx((0.8423, 0.8284), abs=1e-12)
    at = datetime(2024, 9, 2, 12, 5)
    prices = pl.DataFrame(
        {"regionid": ["VIC1", "NSW1"], "interval_datetime": [at, at],
         "settlement_interval": [at, at], "spot_price_cents": [10000, 10000]}
    )  # fmt: skip
    generation = pl.DataFrame(
        {"duid": ["OAKLAND1", "BHB1"], "interval_datetime": [at, at], "energy_mwh": [1.0, 1.0]}
    )
    paid, unsettled = settle(generation, settled_units, prices)
    assert unsettled.height == 0
    # $100 x 0.9993 x 0.893 = $89.237490 (TLF alone would pay $99.93, 12% more)
    assert dict(paid.select("duid", "amount_microdollars").iter_rows()) == {
        "OAKLAND1": 89_237_490,
        "BHB1": 84_230_000,
    }
    load = pl.DataFrame({"duid": ["BHB1"], "interval_datetime": [at], "energy_mwh": [-1.0]})
    charged, _ = settle(load, settled_units, prices)
    assert charged.get_column("amount_microdollars").to_list() == [-82_840_000]


def test_statements_reconcile_to_the_cent_over_days_and_tampering_is_caught() -> None:
    import random
    from dataclasses import replace

    from bidstack.stages.statements import reconcile

    rng = random.Random(7)
    start = datetime(2024, 3, 1, 0, 5)
    times = [start + timedelta(minutes=5 * k) for k in range(3 * 288)]  # three settlement dates
    amounts = pl.DataFrame(
        {
            "participantid": [rng.choice(["ALPHA", "BETA"]) for _ in times],
            "duid": "U",
            "interval_datetime": times,
            "energy_mwh": 1.0,
            "amount_microdollars": [rng.randint(-5_000_000, 5_000_000) for _ in times],
        }
    )
    result = statements(amounts)
    assert result.daily.height == 6 and set(result.totals["days"]) == {3}
    for row in result.daily.iter_rows(named=True):
        whole, rest = divmod(abs(row["net_microdollars"]), 10_000)
        rounded = whole + (2 * rest >= 10_000)
        assert row["net_cents"] == (rounded if row["net_microdollars"] >= 0 else -rounded)
    for row in result.totals.iter_rows(named=True):
        days = result.daily.filter(pl.col("participantid") == row["participantid"])
        assert row["net_cents"] == days["net_cents"].sum()
        assert row["net_microdollars"] == amounts.filter(
            pl.col("participantid") == row["participantid"]
        )["amount_microdollars"].sum()
        assert row["rounding_microdollars"] == row["net_microdollars"] - row["net_cents"] * 10_000
        assert abs(row["rounding_microdollars"]) <= 3 * 5_000
    off_by_a_cent = result.daily.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.col("net_cents") + 1).otherwise("net_cents")
    )
    with pytest.raises(AssertionError, match="daily cents"):
        reconcile(replace(result, daily=off_by_a_cent))
    lost = result.intervals.with_columns(pl.col("net_microdollars") - 1)
    with pytest.raises(AssertionError, match="intervals do not reconcile"):
        reconcile(replace(result, intervals=lost))


def test_published_trading_prices_turn_five_minute_after_1_october_2021(sample_ingest) -> None:
    """TRADINGPRICE in the 2021-09 and 2021-10 samples: half-hourly up to the interval ending
    2021-10-01 00:00, five-minute from 00:05, as settlement_prices assumes."""
    from bidstack.io import read
    from bidstack.stages.settlement import FIVE_MINUTE_SETTLEMENT

    store, _ = sample_ingest
    published = read(store, "TRADINGPRICE", "2021-09-30 20:00", "2021-10-01 02:00").collect()
    assert set(published.get_column("regionid")) == {"NSW1", "SA1"}  # the samples' regions
    for (region,), rows in published.group_by("regionid"):
        times = rows.get_column("settlementdate").sort()
        steps = times.diff().drop_nulls().dt.total_minutes().to_list()
        before = int((times <= FIVE_MINUTE_SETTLEMENT).sum())
        assert steps == [30] * (before - 1) + [5] * (len(times) - before), region
        assert times[before - 1] == FIVE_MINUTE_SETTLEMENT
    ends = [FIVE_MINUTE_SETTLEMENT - timedelta(minutes=5 * k) for k in range(6)][::-1]
    ends.append(FIVE_MINUTE_SETTLEMENT + timedelta(minutes=5))
    rows = pl.DataFrame({"regionid": "SA1", "interval_datetime": ends, "price": 10.0})
    prices, _ = settlement_prices(rows)
    assert prices.get_column("settlement_interval").to_list() == [FIVE_MINUTE_SETTLEMENT] * 6 + [
        ends[-1]
    ]


@pytest.mark.parametrize("registered", ["PART_REG", None])
def test_a_registration_without_participant_takes_the_bids(registered) -> None:
    """nempy's database drops DUDETAILSUMMARY.PARTICIPANTID: a unit registered without one
    settles under the participant of its first bid of the settlement date, and is reported;
    with one, the bids are not read."""
    from bidstack.fleet import parse_fleet
    from bidstack.inputs import settlement_registration

    day = date(2024, 9, 2)
    units = pl.DataFrame(
        {"settlement_date": [day], "duid": ["GEN1"], "participantid": [registered],
         "regionid": ["NSW1"], "mlf": [0.98]},
        schema_overrides={"participantid": pl.String},
    )  # fmt: skip
    ends = [datetime(2024, 9, 2, 0, 5), datetime(2024, 9, 2, 0, 10)]
    offers = pl.DataFrame(
        {"trading_day": [day - timedelta(days=1)] * 2, "duid": ["GEN1"] * 2,
         "participantid": ["PART_BID", "PART_LATER"], "interval_datetime": ends,
         "regionid": ["NSW1"] * 2}
    )  # fmt: skip
    fleet = parse_fleet(
        {"units": {"OTHER": {"tp_min": 0.0, "tp_max": 10.0, "srmc": 1.0}}}, source="test"
    )
    settled, gaps = settlement_registration(units, fleet, offers)
    assert settled.select("settlement_date", "duid", "participantid").rows() == [
        (day, "GEN1", registered or "PART_BID")
    ]
    assert gaps.get_column("kind").to_list() == ([] if registered else ["registration_incomplete"])


@pytest.mark.parametrize("gap", [None, float("nan")], ids=["null", "nan"])
def test_a_dispatch_price_missing_leaves_its_interval_unsettled_not_at_zero(gap) -> None:
    """A half-hour (before five-minute settlement) with five prices and a null or NaN, and a
    5-minute interval whose price is null: each is listed as missing, not priced from the rest
    (sums skipped the null: 5 x $100 / 6) nor at $0, and its energy is reported unsettled."""
    half_hour = [datetime(2020, 1, 1, 0, 5) + timedelta(minutes=5 * k) for k in range(6)]
    later = datetime(2022, 1, 1, 0, 5)
    dispatch = pl.DataFrame(
        {"regionid": "NSW1", "interval_datetime": [*half_hour, later],
         "price": [100.0] * 5 + [gap, gap]},
        schema_overrides={"price": pl.Float64},
    )  # fmt: skip
    prices, missing = settlement_prices(dispatch)
    assert prices.is_empty() and missing.height == 7
    energy = pl.DataFrame({"duid": "G", "interval_datetime": [later], "energy_mwh": [10.0]})
    units = pl.DataFrame({"duid": "G", "participantid": "P", "regionid": "NSW1", "mlf": [1.0]})
    amounts, unsettled = settle(energy, units, prices)
    assert amounts.is_empty()
    assert unsettled["reason"].to_list() == ["no spot price for the region and interval"]


def test_a_price_or_a_registration_given_twice_is_refused_not_settled_twice() -> None:
    at = datetime(2022, 1, 1, 0, 5)
    twice = pl.DataFrame({"regionid": "NSW1", "interval_datetime": [at, at], "price": [100.0] * 2})
    with pytest.raises(InputError, match="repeat a region and interval, the first NSW1"):
        settlement_prices(twice)
    prices, _ = settlement_prices(twice.head(1))
    energy = pl.DataFrame({"duid": "G", "interval_datetime": [at], "energy_mwh": [1.0]})
    units = pl.DataFrame({"duid": "G", "participantid": ["P", "Q"], "regionid": "NSW1",
                          "mlf": [1.0, 0.95]})  # fmt: skip
    with pytest.raises(InputError, match="settlement units: 2 rows repeat a duid"):
        settle(energy, units, prices)
    with pytest.raises(InputError, match="settlement prices: 2 rows repeat a regionid"):
        settle(energy, units.head(1), pl.concat([prices, prices]))
