"""The fleet's margin and per-unit figures, the report in a real browser, and ``compare``.

The browser test needs Playwright (the dev extra) and a Chromium (Debian's ``chromium``, which
``.ci/run`` installs); without one it is skipped, unless ``BIDSTACK_REQUIRE_BROWSER=1`` (as in CI)
makes that a failure.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import polars as pl
import pytest

from bidstack.backtest import backtest
from bidstack.cli import main
from bidstack.demo import synthetic_market
from bidstack.fleet import load_fleet
from bidstack.report import write_report
from bidstack.report.compare import compare
from bidstack.results import FLEET_ROWS, RUNNING_MW
from bidstack.stages.settlement import MICRODOLLARS_PER_CENT
from bidstack.stages.statements import format_cents

START_COST = 5_000.0  # $ per start of the fleet's first unit


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_market(
        tmp_path_factory.mktemp("market") / "store", n_units=14, days=2, seed=11
    )


@pytest.fixture(scope="module")
def run(market, tmp_path_factory: pytest.TempPathFactory):
    fleet = load_fleet(market.fleet_file)
    first = sorted(fleet.units)[0]
    units = dict(fleet.units) | {first: replace(fleet.units[first], start_cost=START_COST)}
    fleet = replace(fleet, units=units)
    out = tmp_path_factory.mktemp("run") / "out"
    result = backtest(market.store, fleet, ["v1", "v2"], market.start, market.end, out,
                      progress=False)  # fmt: skip
    return result, fleet, first


def test_units_add_up_to_the_summary_and_the_days_to_the_cent(run) -> None:
    result, _, _ = run
    units = pl.read_csv(result.out / "fleet_units.csv")
    summary = pl.read_csv(result.out / "summary.csv")
    daily = pl.read_parquet(result.out / "fleet_daily.parquet")
    sums = units.group_by("scenario").agg(
        pl.col("revenue_cents", "cost_cents", "margin_cents").sum()
    )
    joined = summary.join(sums, on="scenario")
    assert joined.height == 3
    assert (joined["revenue_cents"] == joined["fleet_net_cents"]).all()
    assert (joined["cost_cents"] == joined["fleet_cost_cents"]).all()
    assert (joined["margin_cents"] == joined["fleet_margin_cents"]).all()
    assert (
        joined["fleet_margin_cents"] == joined["fleet_net_cents"] - joined["fleet_cost_cents"]
    ).all()
    days = daily.group_by("scenario").agg(pl.col("net_cents", "cost_cents", "margin_cents").sum())
    check = summary.join(days, on="scenario")
    assert (check["net_cents"] == check["fleet_net_cents"]).all()
    assert (check["margin_cents"] == check["fleet_margin_cents"]).all()
    base = summary.filter(pl.col("scenario") == "baseline")["fleet_margin_cents"][0]
    assert (summary["margin_change_cents"] == summary["fleet_margin_cents"] - base).all()


def test_running_cost_is_energy_times_srmc_plus_start_costs(run) -> None:
    result, fleet, first = run
    for scenario in result.scenarios:
        rows = pl.read_parquet(result.out / scenario / "fleet_intervals")
        amounts = pl.read_parquet(result.out / scenario / "amounts").filter(
            pl.col("duid").is_in(list(fleet.units))
        )
        assert rows.height == amounts.height
        assert rows["revenue_microdollars"].sum() == amounts["amount_microdollars"].sum()
        srmc = rows["duid"].replace_strict({d: u.srmc for d, u in fleet.units.items()})
        start = rows["start"] & (rows["duid"] == first)
        expected = rows["energy_mwh"].clip(lower_bound=0) * srmc * 1e6 + start * START_COST * 1e6
        assert (rows["cost_microdollars"] - expected.round()).abs().max() <= 1
        assert (rows["margin_microdollars"] == rows["revenue_microdollars"]
                - rows["cost_microdollars"]).all()  # fmt: skip
    # a start is a rise from zero, counted per unit; the first unit started at least once
    units = pl.read_csv(result.out / "fleet_units.csv")
    dispatch = (
        pl.read_parquet(result.out / "v1" / "dispatch_units")
        .filter(pl.col("duid") == first)
        .sort("interval_datetime")
    )
    running = dispatch["dispatch_mw"] > RUNNING_MW
    rises = (running & ~running.shift(1).fill_null(True)).sum()
    row = units.filter((pl.col("scenario") == "v1") & (pl.col("duid") == first))
    assert row["starts"][0] == rises


def test_each_month_writes_the_fleets_settled_rows_with_their_dispatch(run) -> None:
    result, fleet, _ = run
    for scenario in result.scenarios:
        folder = result.out / scenario
        rows = pl.read_parquet(folder / FLEET_ROWS, hive_partitioning=True)
        expected = (
            pl.read_parquet(folder / "amounts", hive_partitioning=True)
            .filter(pl.col("duid").is_in(list(fleet.units)))
            .join(
                pl.read_parquet(folder / "dispatch_units", hive_partitioning=True).select(
                    "duid", "interval_datetime", "dispatch_mw"
                ),
                on=["duid", "interval_datetime"],
                how="left",
            )
        )
        assert rows.height == expected.height > 0
        assert set(rows["duid"]) == set(fleet.units)
        keys = ["duid", "interval_datetime"]
        joined = rows.join(expected, on=keys, how="full", coalesce=True)
        assert joined.height == rows.height
        assert (joined["revenue_microdollars"] == joined["amount_microdollars"]).all()
        assert joined["dispatch_mw"].null_count() < joined.height
        for column in ("dispatch_mw", "energy_mwh", "month"):
            assert joined[column].eq_missing(joined[f"{column}_right"]).all(), column
        intervals = pl.read_parquet(folder / "fleet_intervals")
        assert intervals.select(keys).equals(rows.select(keys).sort(keys))


def test_unit_rows_carry_outcomes_and_capacity_factor(run) -> None:
    result, fleet, _ = run
    units = pl.read_csv(result.out / "fleet_units.csv")
    assert set(units["duid"]) == set(fleet.units)
    variants = units.filter(pl.col("scenario") != "baseline")
    summary = pl.read_csv(result.out / "summary.csv").filter(pl.col("scenario") != "baseline")
    counted = variants.group_by("scenario").agg(pl.col("allocated", "no_band").sum())
    assert (
        counted.join(summary, on="scenario")
        .select((pl.col("allocated") == pl.col("allocated_right")).all())
        .item()
    )
    factors = units["capacity_factor"].drop_nulls()
    assert factors.len() > 0 and factors.min() >= 0 and factors.max() <= 1.0 + 1e-9


def test_the_highest_price_shown_is_within_the_cap_in_force(run, market) -> None:
    from bidstack.io import read

    result, _, _ = run
    summary = pl.read_csv(result.out / "summary.csv")
    voll = read(market.store, "MARKET_PRICE_THRESHOLDS").collect()["voll"].max()
    assert summary["max_price"].max() <= voll


def test_every_cent_apportioned_even_when_negative() -> None:
    from bidstack.results import _apportion

    frame = pl.DataFrame(
        {
            "settlement_date": [1, 1, 1, 2, 2],
            "duid": ["A", "B", "C", "A", "B"],
            "m": [-15_000, 4_999, 4_999, -5_000, -5_001],
        }
    )
    cents = frame.select(_apportion("m")).to_series()
    # day 1: exact -0.5002 cents rounds to -1; floors -2, 0, 0 leave one cent, which goes to
    # the largest remainder (A: 0.5 cent); day 2: exact -1.0001 cents rounds to -1; floors -1,
    # -1 leave one cent, again to A (remainders 0.5 and 0.4999)
    assert cents.to_list() == [-1, 0, 0, 0, -1]
    for day in (1, 2):
        exact = frame.filter(pl.col("settlement_date") == day)["m"].sum()
        total = cents.filter(frame["settlement_date"] == day).sum()
        assert abs(total * MICRODOLLARS_PER_CENT - exact) <= MICRODOLLARS_PER_CENT / 2


def test_the_run_records_its_variants_and_history(run) -> None:
    result, _, _ = run
    assert (result.out / "variants" / "v1.txt").read_text().startswith("# v1:")
    assert (result.out / "variants" / "v2.toml").exists()
    history = pl.read_parquet(result.out / "history_prices.parquet")
    regions = pl.read_parquet(result.out / "baseline" / "dispatch_regions")
    assert history.height == regions.height


def browser_or_skip():
    required = os.environ.get("BIDSTACK_REQUIRE_BROWSER") == "1"
    missing = []
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("Playwright")
    if not (os.environ.get("BIDSTACK_CHROMIUM") or shutil.which("chromium")):
        missing.append("Chromium")
    if missing:
        if required:
            pytest.fail(f"BIDSTACK_REQUIRE_BROWSER=1 but {' and '.join(missing)} is missing")
        pytest.skip(f"no {' and '.join(missing)}: install Debian's chromium to run this test")


def test_the_report_renders_in_a_real_browser(run) -> None:
    browser_or_skip()
    from bidstack.report.browser import DRAWN_PLOTS, opened

    result, _, _ = run
    path = write_report(result)
    assert path.stat().st_size < 4_000_000  # one file to mail: Bokeh's script once, data binary
    regions = sorted(set(pl.read_parquet(result.out / "baseline" / "dispatch_regions")["regionid"]))
    with opened(path, width=1280) as (page, errors):
        drawn = page.evaluate(DRAWN_PLOTS)
        widest = page.evaluate(
            "() => Math.max(...[...document.querySelectorAll('table')].map("
            "t => t.parentElement.getBoundingClientRect().right))"
        )
        page_width = page.evaluate("() => document.documentElement.scrollWidth")
        figures = page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('.figure')].map("
            "f => [f.dataset.name, f.querySelector('.value').textContent]))"
        )
    assert errors == []
    expected = {"fleet_daily", "flows", "bid_stack"}
    expected |= {f"prices_{r}" for r in regions} | {f"duration_{r}" for r in regions}
    assert set(drawn) == expected
    for name, plot in drawn.items():
        assert plot["width"] > 200 and plot["height"] > 150, name
        assert plot["points"] and min(plot["points"]) > 0, name
    # each region's prices: baseline, v1, v2 and AEMO's
    assert all(len(drawn[f"prices_{r}"]["points"]) == 4 for r in regions)
    assert widest <= 1280 and page_width <= 1280
    summary = pl.read_csv(result.out / "summary.csv")
    best = summary.filter(pl.col("scenario") != "baseline").sort("fleet_margin_cents").tail(1)
    change = format_cents(best["margin_change_cents"][0])
    assert figures["margin_change"].lstrip("+") == change
    assert figures["within_limits"] == f"{best['within_limits_rate'][0]:.1%}"


def test_compare_sets_runs_side_by_side(run, tmp_path, capsys) -> None:
    result, _, _ = run
    other = tmp_path / "other"
    shutil.copytree(result.out, other)
    table = compare([result.out, other])
    assert table["run"].to_list() == ["out"] * 3 + ["other"] * 3
    assert table["scenario"][0] == "baseline"
    variants = table.filter((pl.col("run") == "out") & (pl.col("scenario") != "baseline"))
    assert variants["fleet_margin_cents"].is_sorted(descending=True)
    assert main(["compare", str(result.out), str(other), "-o", str(tmp_path / "c.csv")]) == 0
    printed = capsys.readouterr().out
    assert "fleet margin" in printed and (tmp_path / "c.csv").exists()
    assert main(["compare", str(tmp_path)]) == 2
    assert "no summary.csv" in capsys.readouterr().err
    # a baseline-only run has no fleet money: its empty cells are missing numbers, not text
    alone = tmp_path / "baseline_only"
    alone.mkdir()
    pl.read_csv(result.out / "summary.csv").filter(pl.col("scenario") == "baseline").with_columns(
        pl.lit(None, pl.String).alias(c) for c in ("fleet_cost_cents", "fleet_margin_cents")
    ).write_csv(alone / "summary.csv")
    assert main(["compare", str(result.out), str(alone)]) == 0
    last = capsys.readouterr().out.splitlines()[-1].split()
    assert last[:2] == ["baseline_only", "baseline"] and "-" in last


def test_report_command_rebuilds_the_page_from_the_outputs(run, tmp_path, capsys) -> None:
    result, _, _ = run
    copy = tmp_path / "copy"
    shutil.copytree(result.out, copy)
    (copy / "report.html").unlink(missing_ok=True)
    assert main(["report", str(copy)]) == 0
    page = (copy / "report.html").read_text()
    summary = pl.read_csv(copy / "summary.csv")
    base = summary.filter(pl.col("scenario") == "baseline")["fleet_margin_cents"][0]
    assert format_cents(base) in page
