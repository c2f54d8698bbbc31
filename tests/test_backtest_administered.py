"""Administered pricing in the backtest: each scenario's own prices, carried across months."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from bidstack.backtest import backtest
from bidstack.demo import synthetic_market
from bidstack.fleet import load_fleet
from bidstack.io import read, write_table


def test_the_running_sum_carries_across_months_in_each_scenario(tmp_path: Path) -> None:
    market = synthetic_market(tmp_path / "store", n_units=9, days=3, first_day=date(2024, 1, 30))
    store = market.store
    # DISPATCHPRICE: the week before the run at 300 $/MWh (2016 x 300 = 604,800), and -1,000
    # in the run's own days, where each scenario must use its own prices instead
    stored = read(store, "DISPATCHPRICE", raw=True).collect()
    week = pl.concat(
        stored.filter(pl.col("settlementdate") <= market.start + timedelta(days=1))
        .with_columns(pl.col("settlementdate") - timedelta(days=d))
        for d in range(1, 8)
    ).unique(["regionid", "settlementdate"])
    history = pl.concat([
        week.filter(pl.col("settlementdate") <= market.start).with_columns(rrp=pl.lit(300.0)),
        stored.with_columns(rrp=pl.lit(-1000.0)),
    ])  # fmt: skip
    write_table(store, "DISPATCHPRICE", history, source="synthetic:DISPATCHPRICE:0")
    thresholds = read(store, "MARKET_PRICE_THRESHOLDS", raw=True).collect()
    write_table(
        store,
        "MARKET_PRICE_THRESHOLDS",
        thresholds.with_columns(administered_price_threshold=pl.lit(100_000.0)),
        source="synthetic:MARKET_PRICE_THRESHOLDS",
    )
    text = Path(market.fleet_file).read_text()
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(text.replace("[market]", "[market]\nadministered_price_cap = 10.0"))
    end = datetime(2024, 2, 1, 6)
    backtest(
        store, load_fleet(fleet_file), ["v1"], market.start, end, tmp_path / "out", progress=False
    )
    for scenario in ("baseline", "v1"):
        regions = pl.read_parquet(tmp_path / "out" / scenario / "dispatch_regions")
        assert regions.get_column("month").n_unique() == 2
        # the week before the run puts the sum above 100,000 from the start; in February the
        # sum is the rest of that week plus the scenario's own January prices (about 444,000);
        # with DISPATCHPRICE's -1,000s instead it would be about -83,000: not administered
        assert regions.get_column("administered").all()
        assert regions.select(pl.col("price").is_between(-10.0, 10.0).all()).item()
        assert (regions["pre_ap_price"].abs() > 10.0).any()
        february = regions.filter(pl.col("month") == "2024-02")
        assert february.height > 0 and february["cumulative_price"].min() > 400_000
        amounts = pl.read_parquet(tmp_path / "out" / scenario / "amounts")
        assert amounts.select(pl.col("spot_price_cents").abs().max()).item() <= 1000
    problems = pl.read_parquet(tmp_path / "out" / "problems")
    kinds = set(problems["kind"])
    assert "administered_price_period" in kinds and "cpt_history_incomplete" not in kinds
