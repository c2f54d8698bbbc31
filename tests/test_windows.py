"""Months run in windows of days (``window_days``): the same dispatch, prices, amounts and
statements as a window a month; each window writes its own file of each month partition."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from bidstack.backtest import backtest
from bidstack.cli import main
from bidstack.demo import synthetic_market
from bidstack.errors import ConfigError
from bidstack.fleet import load_fleet

#: Per unit-interval tables: each window's rows come in the table's order, so a month's rows
#: are the same set in another order.
PER_WINDOW_ORDER = ("amounts", "evaluation", "fleet_rows", "statement_intervals")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("windows")
    # ten days: the last windows read their eight days of prices from a later start than the
    # month does (administered pricing is on)
    market = synthetic_market(root / "store", n_units=10, days=10, seed=7)

    def run(out: str, **options) -> Path:
        backtest(market.store, load_fleet(market.fleet_file), ["v1", "v2"], market.start,
                 market.end, root / out, progress=False, **options)  # fmt: skip
        return root / out

    return run("months"), run("days", window_days=3)


def table(out: Path, name: str) -> pl.DataFrame:
    return pl.concat(pl.read_parquet(f) for f in sorted((out / name).glob("month=*/*.parquet")))


@pytest.mark.parametrize("scenario", ["baseline", "v1", "v2"])
def test_windows_of_days_give_a_months_results(runs, scenario: str) -> None:
    months, days = runs
    files = sorted((days / scenario / "dispatch_units").glob("month=*/*.parquet"))
    assert [f.name for f in files] == [
        "part-20240101T0400.parquet", "part-20240104T0000.parquet", "part-20240107T0000.parquet",
        "part-20240110T0000.parquet",
    ]  # fmt: skip
    for name in ("dispatch_units", "dispatch_regions", "dispatch_links", "fleet_intervals"):
        assert table(days, f"{scenario}/{name}").equals(table(months, f"{scenario}/{name}")), name
    for name in PER_WINDOW_ORDER:
        by_window, by_month = table(days, f"{scenario}/{name}"), table(months, f"{scenario}/{name}")
        assert by_window.sort(by_window.columns).equals(by_month.sort(by_month.columns)), name
    for statement in (days / scenario / "statements").glob("*.parquet"):
        assert pl.read_parquet(statement).equals(
            pl.read_parquet(months / scenario / "statements" / statement.name)
        ), statement.name
    assert table(days, "allocation").equals(table(months, "allocation"))


def test_the_summary_agrees_to_the_cent(runs) -> None:
    months, days = runs
    by_window, by_month = (pl.read_csv(out / "summary.csv") for out in (days, months))
    cents = [c for c in by_month.columns if c.endswith("_cents")] + ["allocated", "within_limits"]
    assert by_window.select(cents).equals(by_month.select(cents))
    floats = ["fleet_energy_mwh", "demand_mwh", "mean_price", "max_price"]
    for column in floats:  # float sums in another order: the last digits may differ
        assert by_window[column].to_list() == pytest.approx(by_month[column].to_list(), rel=1e-12)
    assert (days / "fleet_units.csv").read_bytes() == (months / "fleet_units.csv").read_bytes()
    by_window, by_month = (pl.read_csv(out / "calibration.csv") for out in (days, months))
    assert by_window.drop("mae").equals(by_month.drop("mae"))
    assert by_window["mae"].to_list() == pytest.approx(by_month["mae"].to_list(), rel=1e-12)


def test_a_window_of_less_than_a_day_is_refused(tmp_path: Path, capsys) -> None:
    market = synthetic_market(tmp_path / "store", n_units=4, days=1, seed=1)
    for days in (0, True, 2.5):
        with pytest.raises(ConfigError, match=f"whole number of days, 1 or more, not {days}"):
            backtest(market.store, load_fleet(market.fleet_file), ["v1"], market.start,
                     market.end, tmp_path / "out", progress=False, window_days=days)  # fmt: skip
    assert not (tmp_path / "out").exists()
    args = ["backtest", "--store", str(market.store), "--fleet", str(market.fleet_file),
            "--start", str(market.start), "--end", str(market.end), "-o", str(tmp_path / "o")]
    assert main([*args, "--window-days", "-2"]) == 2
    assert "a whole number of days, 1 or more, not -2" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
