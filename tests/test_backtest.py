"""The backtest end to end: a synthetic market, the real samples, and bad input reported."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from bidstack.backtest import backtest, month_windows
from bidstack.cli import main
from bidstack.demo import synthetic_market
from bidstack.errors import InputError
from bidstack.fleet import load_fleet, parse_fleet
from bidstack.io import read, write_table
from bidstack.market_reads import initial_mw
from bidstack.report import write_report
from bidstack.summary import Peak, bid_stack


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_market(tmp_path_factory.mktemp("market") / "store", n_units=15, days=2, seed=3)


@pytest.fixture(scope="module")
def result(market, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run") / "out"
    return backtest(
        market.store,
        load_fleet(market.fleet_file),
        ["v1", "v2"],
        market.start,
        market.end,
        out,
        progress=False,
    )


def test_every_scenario_is_dispatched_metered_and_settled(result) -> None:
    assert result.scenarios == ("baseline", "v1", "v2")
    for scenario in result.scenarios:
        folder = result.out / scenario
        units = pl.read_parquet(folder / "dispatch_units")
        amounts = pl.read_parquet(folder / "amounts")
        assert units.height > 0 and amounts.height == units.height
        totals = result.statements[scenario].totals
        # statements reconcile with the per-interval amounts written, carried unrounded in
        # micro-dollars: each day rounded to the cent, the total the sum of the days
        exact = amounts.get_column("amount_microdollars").sum()
        assert totals.get_column("net_microdollars").sum() == exact
        daily = pl.read_parquet(folder / "statements" / "daily.parquet")
        assert daily.get_column("net_cents").sum() == totals.get_column("net_cents").sum()
        assert abs(exact - totals["net_cents"].sum() * 10_000) <= 5_000 * daily.height
        for participant in totals.get_column("participantid"):
            assert (folder / "statements" / f"statement_{participant}.txt").exists()
    # v1 is metered from its dispatch: rebuild its amounts from dispatch and prices alone
    units = pl.read_parquet(result.out / "v1" / "dispatch_units")
    regions = pl.read_parquet(result.out / "v1" / "dispatch_regions")
    mlf = (
        pl.read_parquet(result.out / "v1" / "amounts")
        .select("duid", pl.col("loss_factor").alias("mlf"))
        .unique()
    )
    half_up = lambda x: (x.sign() * (x.abs() + 0.5).floor()).cast(pl.Int64)  # noqa: E731
    # energy: the trapezoid from the MW the unit starts each interval at to its target
    follows = pl.col("interval_datetime").diff().over("duid") == timedelta(minutes=5)
    start = pl.coalesce(
        "ramp_base_mw", pl.when(follows).then(pl.col("dispatch_mw").shift(1).over("duid"))
    )
    energy = pl.coalesce((start + pl.col("dispatch_mw")) / 2.0, "dispatch_mw") * (5 / 60)
    expected = (
        units.sort("duid", "interval_datetime")
        .join(
            regions.select("regionid", "interval_datetime", "price"),
            on=["regionid", "interval_datetime"],
        )
        .join(mlf, on="duid")
        .select(half_up(energy * half_up(pl.col("price") * 100) * pl.col("mlf") * 10_000))
    )
    written = pl.read_parquet(result.out / "v1" / "amounts").get_column("amount_microdollars")
    assert expected.to_series().sum() == written.sum()
    summary = result.summary.sort("scenario")
    # the fleet's net position is the sum of its daily figures, as a statement's total is
    days = result.fleet_daily.group_by("scenario").agg(pl.col("net_cents").sum())
    assert dict(days.rows()) == dict(summary.select("scenario", "fleet_net_cents").rows())
    assert summary.get_column("price_impact")[0] == 0.0
    assert summary.filter(pl.col("scenario") == "v1").get_column("allocated").item() > 0


def test_baseline_is_metered_from_scada_and_variants_from_dispatch(market, result) -> None:
    baseline = pl.read_parquet(result.out / "baseline" / "amounts")
    variant = pl.read_parquet(result.out / "v1" / "amounts")
    assert set(baseline.get_column("source")) == {"scada", "scada_held"}
    assert set(variant.get_column("source")) == {"dispatch"}
    # the store's SCADA ends with the run: its last interval has no end value and is held
    held = baseline.filter(pl.col("source") == "scada_held")
    assert set(held.get_column("interval_datetime")) == {market.end}
    # SCADA at T is the MW at the interval's start: energy is the mean of T and T + 5 minutes
    scada = (
        read(market.store, "DISPATCH_UNIT_SCADA")
        .collect()
        .select("duid", pl.col("settlementdate").alias("interval_datetime"), "scadavalue")
        .sort("duid", "interval_datetime")
        .with_columns(end=pl.col("scadavalue").shift(-1).over("duid"))
    )
    metered = baseline.join(scada, on=["duid", "interval_datetime"])
    assert metered.height == baseline.height
    trapezoid = pl.coalesce((pl.col("scadavalue") + pl.col("end")) / 2, "scadavalue") / 12
    assert metered.select((pl.col("energy_mwh") - trapezoid).abs().max()).item() < 1e-9


def test_late_rebids_are_reported_when_history_meets_gate_closure(market, tmp_path) -> None:
    fleet = load_fleet(market.fleet_file)
    fleet = replace(fleet, market=replace(fleet.market, history_gate_closure=True))
    result = backtest(market.store, fleet, ["v1"], market.start, market.end, tmp_path / "out",
                      progress=False)  # fmt: skip
    problems = pl.read_parquet(result.out / "problems")
    assert set(problems.get_column("kind")) >= {"late_bid"}
    assert result.problems.filter(pl.col("kind") == "late_bid").get_column("rows").item() == (
        problems.filter(pl.col("kind") == "late_bid").height
    )
    page = write_report(result).read_text()
    assert "late_bid" in page and "Bid stack" in page
    # the late bids are counted at the top, beside the other problems
    gaps = page.split("data-name=gaps>")[1].split("</p>")[0]
    late = result.problems.filter(pl.col("kind") == "late_bid")["rows"].sum()
    assert f"{late:,} late bids" in gaps


def test_history_is_not_subject_to_gate_closure_by_default(result) -> None:
    problems = pl.read_parquet(result.out / "problems")
    assert "late_bid" not in set(problems.get_column("kind"))


def test_output_folder_is_replaced_only_if_it_holds_a_backtest(market, result, tmp_path) -> None:
    def first_hour(out: Path):
        window = (market.start, market.start + timedelta(hours=1))
        fleet = load_fleet(market.fleet_file)
        return backtest(market.store, fleet, ["v2"], *window, out, progress=False)

    stranger = tmp_path / "mine"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds files bidstack did not write"):
        first_hour(stranger)
    a_file = tmp_path / "out.txt"
    a_file.write_text("not a folder")
    with pytest.raises(InputError, match="the output path is a file"):
        first_hour(a_file)
    again = first_hour(result.out)
    assert again.scenarios == ("baseline", "v2")
    assert not (result.out / "v1").exists()


def test_bad_input_is_reported_by_unit_and_interval(market, tmp_path) -> None:
    """A unit with no registration, an interval with no price, demand with no offers,
    negative availability and a fleet naming an unknown unit: each reported, none zeroed."""
    store = tmp_path / "store"
    for table in (
        "DUDETAILSUMMARY",
        "DUDETAIL",
        "BIDDAYOFFER_D",
        "BIDPEROFFER_D",
        "DISPATCHREGIONSUM",
        "DISPATCHPRICE",
        "DISPATCHLOAD",
        "MARKET_PRICE_THRESHOLDS",
    ):
        frame = read(market.store, table, raw=True).collect().drop("month", strict=False)
        write_table(store, table, frame)
    window = (market.start, market.start + timedelta(hours=2))
    first = window[0] + timedelta(minutes=5)
    volumes = read(store, "BIDPEROFFER_D", *window).collect()
    on_time = volumes.filter(pl.col("offerdate") < window[0] - timedelta(hours=1))
    some_unit = on_time.get_column("duid").sort()[0]
    ghost = volumes.filter(pl.col("duid") == some_unit).with_columns(duid=pl.lit("GHOST1"))
    negative = volumes.filter(pl.col("duid") == some_unit).with_columns(
        pl.when(pl.col("interval_datetime") == first)
        .then(-5.0)
        .otherwise(pl.col("bandavail1"))
        .alias("bandavail1")
    )
    prices = read(store, "BIDDAYOFFER_D", *window).collect()
    write_table(
        store,
        "BIDPEROFFER_D",
        pl.concat([volumes.filter(pl.col("duid") != some_unit), negative, ghost]).drop(
            "month", strict=False
        ),
    )
    write_table(
        store,
        "BIDDAYOFFER_D",
        pl.concat(
            [prices, prices.filter(pl.col("duid") == some_unit).with_columns(duid=pl.lit("GHOST1"))]
        ).drop("month", strict=False),
    )
    dispatch_prices = read(store, "DISPATCHPRICE", raw=True).collect()
    write_table(
        store,
        "DISPATCHPRICE",
        dispatch_prices.filter(pl.col("settlementdate") != first + timedelta(minutes=30)).drop(
            "month", strict=False
        ),
    )
    demand = read(store, "DISPATCHREGIONSUM", raw=True).collect().drop("month", strict=False)
    write_table(
        store,
        "DISPATCHREGIONSUM",
        pl.concat(
            [
                demand,
                demand.filter(pl.col("regionid") == "NSW1").with_columns(regionid=pl.lit("XX1")),
            ]
        ),
        source="tas",
    )
    fleet_text = Path(market.fleet_file).read_text() + (
        "[units.NOSUCH]\ntp_min = 0\ntp_max = 100\nsrmc = 50\n"
    )
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(fleet_text)
    run = backtest(store, load_fleet(fleet_file), ["v2"], *window, tmp_path / "out", progress=False)
    problems = pl.read_parquet(tmp_path / "out" / "problems")
    kinds = set(problems.get_column("kind"))
    assert {"no_registration", "negative_availability", "fleet_unit_unknown"} <= kinds
    ghost_rows = problems.filter(pl.col("kind") == "no_registration")
    assert set(ghost_rows.get_column("duid")) == {"GHOST1"} and ghost_rows.height == 24
    negative_rows = problems.filter(pl.col("kind") == "negative_availability")
    assert negative_rows.get_column("interval_datetime").unique().to_list() == [first]
    assert problems.filter(pl.col("kind") == "fleet_unit_unknown").get_column("duid").to_list() == [
        "NOSUCH"
    ]
    # the interval without a dispatch price has no FRRP: the fleet's rows are invalid_input
    allocation = pl.read_parquet(tmp_path / "out" / "allocation")
    no_price = allocation.filter(pl.col("interval_datetime") == first + timedelta(minutes=30))
    assert set(no_price.get_column("outcome").cast(pl.String)) == {"invalid_input"}
    # ... and so are earlier intervals whose phase horizon reaches it; each is a problem row
    invalid = problems.filter(pl.col("kind") == "invalid_input")
    assert invalid.height == allocation.filter(pl.col("outcome") == "invalid_input").height
    derived = "frrp missing (or not finite), so price_type cannot be derived"
    assert derived in set(invalid.get_column("detail"))
    # demand in a region where nobody offers is reported, interval by interval
    tas = problems.filter(
        (pl.col("kind") == "demand_without_offers") & (pl.col("scenario") == "v2")
    )
    assert set(tas.get_column("regionid")) == {"XX1"} and tas.height == 24
    assert run.summary.get_column("scenario").to_list() == ["baseline", "v2"]


def test_variant_names_must_not_name_an_output(market, tmp_path: Path) -> None:
    rules = tmp_path / "baseline.toml"
    rules.write_text(
        (Path(__file__).parents[1] / "bidstack/rules/v1.toml")
        .read_text()
        .replace('name = "v1"', 'name = "baseline"')
    )
    with pytest.raises(InputError, match="may not be named 'baseline'"):
        backtest(
            market.store,
            load_fleet(market.fleet_file),
            [rules],
            market.start,
            market.end,
            tmp_path / "out",
            progress=False,
        )
    assert not (tmp_path / "out").exists()


def test_bid_stack_keeps_a_scenario_not_dispatched_at_the_peak() -> None:
    # the baseline's bids at the peak were all late, so it has no clearing price there
    at = datetime(2024, 9, 3, 20, 55)
    offers = pl.DataFrame(
        {
            "duid": ["G"],
            "regionid": ["SA1"],
            "interval_datetime": [at],
            **{f"priceband{k}": [10.0 * k] for k in range(1, 11)},
            **{f"bandavail{k}": [5.0] for k in range(1, 11)},
            "mlf": [1.0],
        }
    )
    regions = {
        "regionid": pl.String,
        "interval_datetime": pl.Datetime("us"),
        "price": pl.Float64,
        "demand": pl.Float64,
    }
    not_dispatched = pl.DataFrame(schema=regions)
    dispatched = pl.DataFrame([("SA1", at, 55.0, 120.0)], regions, orient="row")
    peak = Peak("SA1", at, 120.0)
    stack = pl.concat(
        [bid_stack("baseline", offers, not_dispatched, peak, ["G"]),
         bid_stack("v1", offers, dispatched, peak, ["G"])]
    )  # fmt: skip
    prices = stack.group_by("scenario", maintain_order=True).agg(
        pl.col("clearing_price").first()
    )
    assert prices.rows() == [("baseline", None), ("v1", 55.0)]


def test_month_windows() -> None:
    windows = month_windows(datetime(2024, 11, 30, 12), datetime(2025, 2, 1))
    assert [w[0] for w in windows] == [
        datetime(2024, 11, 30, 12),
        datetime(2024, 12, 1),
        datetime(2025, 1, 1),
    ]


def test_an_interval_ending_at_midnight_on_the_first_is_the_month_befores(tmp_path) -> None:
    # period ending: the interval ending 1 February 00:00 is January's in every table
    market = synthetic_market(tmp_path / "store", n_units=4, days=1, first_day=date(2024, 1, 31),
                              fleet_size=2, seed=2)  # fmt: skip
    end = datetime(2024, 2, 1)
    result = backtest(market.store, load_fleet(market.fleet_file), ["v1"], market.start, end,
                      tmp_path / "out", progress=False)  # fmt: skip
    for table in ("amounts", "fleet_rows", "fleet_intervals"):
        folder = result.out / "v1" / table
        assert [p.name for p in folder.iterdir()] == ["month=2024-01"], table
        assert pl.read_parquet(folder)["interval_datetime"].max() == end, table


def test_backtest_over_the_real_sample_months(sample_ingest, tmp_path: Path) -> None:
    """AGLHAL and HDWF2 re-bid over real AEMO data; statements reconcile."""
    store, _ = sample_ingest
    fleet = parse_fleet(
        {
            "market": {"demand": "cleared", "interconnectors": "none"},
            "units": {
                "AGLHAL": {
                    "tp_min": 50.0,
                    "tp_max": 600.0,
                    "srmc": 180.0,
                    "min_run_time_minutes": 30,
                    "constraint_status": "from data",
                },
                "HDWF2": {
                    "tp_min": -40.0,
                    "tp_max": 120.0,
                    "srmc": 0.0,
                    "semidispatchcap": "from data",
                },
            },
        },
        source="sample fleet",
    )
    result = backtest(
        store,
        fleet,
        ["v1", "v2"],
        "2024-09-01 04:00",
        "2024-09-03 04:00",
        tmp_path / "out",
        progress=False,
    )
    for scenario in result.scenarios:
        amounts = pl.read_parquet(tmp_path / "out" / scenario / "amounts")
        assert amounts.height > 0
        assert result.statements[scenario].totals.get_column("net_microdollars").sum() == (
            amounts.get_column("amount_microdollars").sum()
        )
    v1 = result.summary.filter(pl.col("scenario") == "v1").row(0, named=True)
    assert v1["allocated"] + v1["not_applicable"] + v1["no_band"] + v1["invalid_input"] == 2 * 576
    baseline = pl.read_parquet(tmp_path / "out" / "baseline" / "dispatch_regions")
    assert set(baseline.get_column("regionid")) == {"SA1"}
    # the report's bid stack draws the baseline beside the variants, each with its own price
    stack = pl.read_parquet(tmp_path / "out" / "bid_stack.parquet")
    assert set(stack["scenario"]) == set(result.scenarios)
    assert stack.group_by("scenario").agg(pl.col("clearing_price").first())[
        "clearing_price"
    ].null_count() == 0


def test_negative_scada_output_starts_a_run_from_zero(sample_ingest) -> None:
    # HDWF2 draws auxiliary load at 2020-01-01 09:40: DISPATCHLOAD.INITIALMW is -0.6 MW there
    store, _ = sample_ingest
    raw = read(store, "DISPATCHLOAD", "2020-01-01 09:35", "2020-01-01 09:40").collect()
    assert raw.filter(pl.col("duid") == "HDWF2").get_column("initialmw").to_list() == [-0.6]
    initial = initial_mw(store, datetime(2020, 1, 1, 9, 35))
    assert initial.filter(pl.col("duid") == "HDWF2").get_column("initial_mw").to_list() == [0.0]


def test_backtest_command_line(market, tmp_path: Path, capsys) -> None:
    out = tmp_path / "cli"
    args = [
        "backtest",
        "--store",
        str(market.store),
        "--fleet",
        str(market.fleet_file),
        "--rules",
        "v1",
        "--start",
        str(market.start),
        "--end",
        str(market.start + timedelta(hours=3)),
        "-o",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "baseline" in printed and "v1" in printed and "report:" in printed
    assert (out / "report.html").exists() and (out / "summary.csv").exists()
    assert (
        main(
            [
                "backtest",
                "--store",
                str(market.store),
                "--fleet",
                str(tmp_path / "no.toml"),
                "--start",
                "2024-01-01",
                "--end",
                "2024-01-02",
                "-o",
                str(out),
            ]
        )
        == 2
    )
    assert "no such fleet file" in capsys.readouterr().err


def test_demo_command_runs_the_backtest_on_built_in_data(tmp_path: Path, capsys) -> None:
    assert main(["demo", "-o", str(tmp_path / "demo"), "--units", "9", "--days", "1"]) == 0
    printed = capsys.readouterr().out
    assert "synthetic market: 9 units, 1 days" in printed
    for scenario in ("baseline", "v1", "v2"):
        assert scenario in printed
        assert (tmp_path / "demo" / "results" / scenario / "statements" / "totals.csv").exists()
    assert (tmp_path / "demo" / "results" / "report.html").exists()
    assert (tmp_path / "demo" / "fleet.toml").exists()


def test_price_phase_looks_across_the_month_boundary(tmp_path: Path, monkeypatch) -> None:
    from datetime import date

    import bidstack.rules
    from bidstack import derive_price_type_phase

    parsed = []
    parse = bidstack.rules.parse_variant
    monkeypatch.setattr(
        bidstack.rules, "parse_variant", lambda *a, **k: parsed.append(1) or parse(*a, **k)
    )

    market = synthetic_market(tmp_path / "store", n_units=9, days=3, first_day=date(2024, 1, 30))
    fleet = load_fleet(market.fleet_file)
    # the price collapses just after midnight on 1 February: PT = -10 for every unit there,
    # which every unit's PP just before midnight must see
    prices = read(market.store, "DISPATCHPRICE", raw=True).collect()
    collapse = pl.col("settlementdate") == datetime(2024, 2, 1, 0, 5)
    prices = prices.with_columns(rrp=pl.when(collapse).then(-1000.0).otherwise(pl.col("rrp")))
    write_table(market.store, "DISPATCHPRICE", prices, source="synthetic:DISPATCHPRICE:0")
    result = backtest(
        market.store, fleet, ["v2"], market.start, market.end, tmp_path / "out", progress=False
    )
    allocation = pl.read_parquet(tmp_path / "out" / "allocation").sort("duid", "interval_datetime")
    assert allocation.get_column("month").n_unique() == 2
    stored = allocation.select("price_type", "price_phase")
    whole = derive_price_type_phase(
        allocation.drop("price_type", "price_phase"),
        phase_horizon="phase_horizon",
        fcas_liability=True,
    ).select("price_type", "price_phase")
    assert stored.equals(whole)
    before = allocation.filter(
        (pl.col("interval_datetime") == datetime(2024, 2, 1))
        & (pl.col("phase_horizon") > 1)
        & (pl.col("price_type") != 10)
    )
    assert before.height > 0 and set(before.get_column("price_phase")) == {-10}
    assert result.summary.height == 2
    assert len(parsed) == 1  # the rule file is read once for both months


def test_a_fleet_mlf_override_applies_to_the_baseline_too(market, tmp_path: Path) -> None:
    text = Path(market.fleet_file).read_text()
    first_unit = text.split("[units.")[1].split("]")[0]
    text = text.replace(f"[units.{first_unit}]", f"[units.{first_unit}]\nmlf = 0.5")
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(text)
    window = (market.start + timedelta(hours=3), market.start + timedelta(hours=4))
    backtest(
        market.store, load_fleet(fleet_file), ["v1"], *window, tmp_path / "out", progress=False
    )
    for scenario in ("baseline", "v1"):
        amounts = pl.read_parquet(tmp_path / "out" / scenario / "amounts")
        assert set(amounts.filter(pl.col("duid") == first_unit).get_column("loss_factor")) == {0.5}
    allocation = pl.read_parquet(tmp_path / "out" / "allocation")
    assert set(allocation.filter(pl.col("duid") == first_unit).get_column("mlf")) == {0.5}


def test_forecast_and_demand_bid_files_with_bad_types_are_named(market, tmp_path: Path) -> None:
    pl.DataFrame(
        {"regionid": ["NSW1"], "interval_datetime": [market.start], "price": ["cheap"]}
    ).write_parquet(tmp_path / "forecast.parquet")
    pl.DataFrame(
        {
            "regionid": ["NSW1"],
            "interval_datetime": [market.start],
            "participantid": ["R"],
            "price": ["x"],
            "mw": [1.0],
        }
    ).write_parquet(tmp_path / "bids.parquet")
    units = {"units": {"X": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5}}}
    window = (market.start, market.start + timedelta(hours=1))
    cases = [
        ({"frrp": {"file": "forecast.parquet", "column": "price"}}, "column 'price' (String)"),
        ({"demand_bids": "bids.parquet"}, "bids.parquet: column 'price' (String)"),
    ]
    for market_keys, message in cases:
        fleet = parse_fleet({"market": market_keys} | units, source="f", base=tmp_path)
        with pytest.raises(InputError, match=re.escape(message)):
            backtest(market.store, fleet, ["v1"], *window, tmp_path / "o", progress=False)


def test_a_forecast_with_two_prices_for_one_interval_is_refused(market, tmp_path: Path) -> None:
    at = market.start + timedelta(minutes=5)
    pl.DataFrame(
        {"regionid": ["NSW1", "NSW1"], "interval_datetime": [at, at], "price": [50.0, 60.0]}
    ).write_parquet(tmp_path / "forecast.parquet")
    fleet = parse_fleet(
        {
            "market": {"frrp": {"file": "forecast.parquet", "column": "price"}},
            "units": {"X": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5}},
        },
        source="f",
        base=tmp_path,
    )
    window = (market.start, market.start + timedelta(hours=1))
    message = "forecast.parquet: 2 rows repeat a (regionid, interval_datetime), the first NSW1"
    with pytest.raises(InputError, match=re.escape(message)):
        backtest(market.store, fleet, ["v1"], *window, tmp_path / "o", progress=False)


def test_retailers_demand_bids_are_dispatched_and_charged(market, tmp_path: Path) -> None:
    window = (market.start + timedelta(hours=3), market.start + timedelta(hours=4))
    times = [window[0] + timedelta(minutes=5 * k) for k in range(1, 13)]
    pl.DataFrame(
        {
            "regionid": ["NSW1"] * 12 + ["XX1"],
            "interval_datetime": [*times, times[0]],
            "participantid": "RETAILCO",
            "price": 16000.0,  # takes its MW whatever the price, so it is charged for all of it
            "mw": 50.0,
        }
    ).write_parquet(tmp_path / "bids.parquet")
    text = (
        Path(market.fleet_file)
        .read_text()
        .replace("[market]", '[market]\ndemand_bids = "bids.parquet"')
    )
    (tmp_path / "fleet.toml").write_text(text)
    result = backtest(
        market.store,
        load_fleet(tmp_path / "fleet.toml"),
        ["v1"],
        *window,
        tmp_path / "out",
        progress=False,
    )
    for scenario in ("baseline", "v1"):
        totals = result.statements[scenario].totals.filter(pl.col("participantid") == "RETAILCO")
        assert totals.get_column("energy_mwh").item() == pytest.approx(-50.0)  # 50 MW for 1 h
        assert totals.get_column("net_cents").item() < 0
    orphans = pl.read_parquet(tmp_path / "out" / "problems").filter(
        pl.col("kind") == "demand_bid_without_demand"
    )
    assert orphans.select("regionid", "interval_datetime").rows() == [("XX1", times[0])]


def test_a_month_releases_the_windows_offers_once_the_scenarios_have_theirs(
    market, tmp_path: Path
) -> None:
    from bidstack.config import RunConfig
    from bidstack.market_data import MarketData
    from bidstack.month import run_month

    fleet = load_fleet(market.fleet_file)
    window = MarketData.open(market.store, fleet).window(market.start, market.end, market.end)
    columns = window.offers.schema
    assert window.offers.height > 0
    month = run_month(window, RunConfig.resolve(fleet, ["v1"]), tmp_path)
    assert window.offers.is_empty() and window.offers.schema == columns
    for scenario in ("baseline", "v1"):  # dispatched and settled after the release
        dispatched = pl.read_parquet(tmp_path / scenario / "dispatch_units")
        assert set(dispatched["duid"]) >= set(fleet.units)
        assert pl.read_parquet(tmp_path / scenario / "amounts").height > 0
    assert {row[0] for row in month.figures[0][0].rows()} == {"baseline"}


def test_a_partition_that_fails_to_write_fails_the_month(
    market, tmp_path: Path, monkeypatch
) -> None:
    """Partitions are written on a thread of their own: a write's error still reaches the
    caller, and the scenario's other partitions are written."""
    import bidstack.month as month_module
    from bidstack.config import RunConfig
    from bidstack.market_data import MarketData

    written = month_module.write_partition

    def write(frame: pl.DataFrame, folder: Path, month: str, *how: str) -> pl.DataFrame:
        if folder.name == "amounts":
            raise OSError(f"disk full writing {folder}")
        return written(frame, folder, month, *how)

    monkeypatch.setattr(month_module, "write_partition", write)
    fleet = load_fleet(market.fleet_file)
    window = MarketData.open(market.store, fleet).window(market.start, market.end, market.end)
    with pytest.raises(OSError, match=r"disk full writing .*baseline/amounts"):
        month_module.run_month(window, RunConfig.resolve(fleet, ["v1"]), tmp_path)
    assert pl.read_parquet(tmp_path / "baseline" / "dispatch_units").height > 0
    assert pl.read_parquet(tmp_path / "baseline" / "statement_intervals").height > 0


def test_a_month_holds_at_most_two_scenarios_at_once(market, tmp_path: Path, monkeypatch) -> None:
    """One scenario is dispatched while the one before settles; the last settles beside the one
    before it: never three scenarios' frames at once, however slow settling is."""
    import threading
    import time

    import bidstack.month as month_module
    from bidstack.config import RunConfig
    from bidstack.market_data import MarketData
    from bidstack.stages.dispatch import ScenarioDispatch

    lock, busy, most, overlapped = threading.Lock(), [0], [0], [False]

    def counted(work):
        def run(*args, **kwargs):
            with lock:
                busy[0] += 1
                most[0] = max(most[0], busy[0])
                overlapped[0] |= busy[0] > 1
            try:
                return work(*args, **kwargs)
            finally:
                with lock:
                    busy[0] -= 1

        return run

    settle, dispatch = month_module._Settling.run, ScenarioDispatch.dispatch

    def slow_settle(*args, **kwargs):
        time.sleep(0.3)  # settling outlasts the next dispatch
        return settle(*args, **kwargs)

    monkeypatch.setattr(month_module._Settling, "run", counted(slow_settle))
    monkeypatch.setattr(ScenarioDispatch, "dispatch", counted(dispatch))
    fleet = load_fleet(market.fleet_file)
    window = MarketData.open(market.store, fleet).window(market.start, market.end, market.end)
    month = month_module.run_month(window, RunConfig.resolve(fleet, ["v1", "v2"]), tmp_path)
    assert [figures[0]["scenario"][0] for figures in month.figures] == ["baseline", "v1", "v2"]
    assert overlapped[0] and most[0] == 2


def test_a_fleet_none_of_whose_units_offer_runs_to_its_end_and_says_so(market, tmp_path) -> None:
    """A typo in the only unit's DUID: the market is still dispatched and settled, the unit is
    reported (fleet_unit_unknown), and the summary and report have no fleet figures to show
    (it once ended in a traceback reading an allocation no unit made)."""
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text("[units.NOSUCH]\ntp_min = 0\ntp_max = 100\nsrmc = 50\n")
    window = (market.start, market.start + timedelta(hours=1))
    run = backtest(market.store, load_fleet(fleet_file), ["v2"], *window, tmp_path / "out",
                   progress=False)  # fmt: skip
    problems = pl.read_parquet(tmp_path / "out" / "problems")
    assert problems.filter(pl.col("kind") == "fleet_unit_unknown")["duid"].to_list() == ["NOSUCH"]
    assert run.summary["scenario"].to_list() == ["baseline", "v2"]
    assert run.summary["fleet_energy_mwh"].to_list() == [0.0, 0.0]
    page = write_report(run).read_text()  # the figures the fleet has none of show as missing
    assert re.search(r"margin change, v2.{0,400}?–", page, re.DOTALL)
