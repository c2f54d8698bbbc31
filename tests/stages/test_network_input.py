"""Bad network data stops the run with one line naming the interconnector (and the interval or
date), unless the mode chosen does not need it; flows beyond their own limits are reported.
Never a silent fallback to islands."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from bidstack.cli import main
from bidstack.demo import synthetic_market
from bidstack.demo_network import REGIONS, network_tables
from bidstack.errors import InputError
from bidstack.fleet import parse_fleet
from bidstack.network import TABLES, NetworkTables, network
from bidstack.stages.dispatch import dispatch
from bidstack.window_network import flows_beyond_limits, window_network

TIME = dt.datetime(2024, 1, 1, 0, 5)


def tables(**changes) -> NetworkTables:
    """The demo's network tables, each changed by ``changes[table](frame)``."""
    frames = network_tables()
    for name, change in changes.items():
        frames[name] = change(frames[name])
    return NetworkTables(*(frames[t] for t in TABLES))


def loss_demand(regions=REGIONS, when=TIME) -> pl.DataFrame:
    return pl.DataFrame(
        {"regionid": list(regions), "interval_datetime": [when] * len(regions)},
    ).with_columns(loss_demand=pl.lit(1000.0))


def one_unit_each() -> tuple[pl.DataFrame, pl.DataFrame]:
    offers = pl.DataFrame(
        [
            {"regionid": r, "duid": f"{r}_U", "interval_datetime": TIME}
            | {f"priceband{k}": 10.0 * k for k in range(1, 11)}
            | {f"bandavail{k}": 100.0 for k in range(1, 11)}
            for r in REGIONS
        ]
    )
    demand = pl.DataFrame(
        {"regionid": list(REGIONS), "interval_datetime": [TIME] * 5, "demand": [300.0] * 5}
    )
    return offers, demand


def test_the_demo_network_dispatches() -> None:
    """The baseline of the cases below: the unchanged tables make a working network."""
    result = dispatch(*one_unit_each(), network=network(tables(), loss_demand()),
                      interval_minutes=5)  # fmt: skip
    assert result.problems.is_empty()
    assert set(result.links["interconnectorid"]) == {"NSW1-QLD1", "VIC1-NSW1", "V-SA", "T-V-MNSP1"}


def test_no_limits_in_force_names_the_date_and_the_ways_out() -> None:
    early = loss_demand(when=dt.datetime(2023, 6, 30, 12, 0))
    with pytest.raises(InputError) as error:
        network(tables(), early)
    message = str(error.value)
    assert "no INTERCONNECTORCONSTRAINT row is in force on 2023-06-30" in message
    assert "network_as_of" in message and 'interconnectors = "none"' in message


def test_an_interconnector_without_regions_is_named() -> None:
    drop = {"INTERCONNECTOR": lambda f: f.filter(pl.col("interconnectorid") != "V-SA")}
    with pytest.raises(InputError, match="interconnector V-SA has limits in force on 2024-01-01 "
                       "but no INTERCONNECTOR row naming its regions"):  # fmt: skip
        network(tables(**drop), loss_demand())


def test_an_interconnector_without_a_loss_model_is_named() -> None:
    drop = {"LOSSMODEL": lambda f: f.filter(pl.col("interconnectorid") != "NSW1-QLD1")}
    with pytest.raises(InputError, match="interconnector NSW1-QLD1: no LOSSMODEL breakpoints "
                       "in force on 2024-01-01"):  # fmt: skip
        network(tables(**drop), loss_demand())


def test_a_loss_model_needing_a_region_without_demand_is_named() -> None:
    without_sa = loss_demand(regions=[r for r in REGIONS if r != "SA1"])
    with pytest.raises(InputError, match=r"interconnector \S+: its loss model needs the demand "
                       "of SA1, which DISPATCHREGIONSUM lacks"):  # fmt: skip
        network(tables(), without_sa)


def test_a_loss_curve_that_is_not_convex_stops_dispatch() -> None:
    concave = {
        "INTERCONNECTORCONSTRAINT": lambda f: f.with_columns(
            pl.when(pl.col("interconnectorid") == "VIC1-NSW1")
            .then(-pl.col("lossflowcoefficient"))
            .otherwise(pl.col("lossflowcoefficient"))
            .alias("lossflowcoefficient")
        )
    }
    grid = network(tables(**concave), loss_demand())
    with pytest.raises(InputError, match="link VIC1-NSW1: the loss curve is not convex"):
        dispatch(*one_unit_each(), network=grid, interval_minutes=5)


def test_a_link_to_an_unknown_region_stops_dispatch() -> None:
    elsewhere = {
        "INTERCONNECTOR": lambda f: f.with_columns(
            pl.when(pl.col("interconnectorid") == "V-SA")
            .then(pl.lit("SA9"))
            .otherwise(pl.col("regionto"))
            .alias("regionto")
        )
    }
    grid = network(tables(**elsewhere), loss_demand())
    offers, demand = one_unit_each()
    with pytest.raises(InputError, match="interconnector link V-SA names region SA9, which "
                       "has no demand or offers in the run"):  # fmt: skip
        dispatch(offers, demand, network=grid, interval_minutes=5)


def test_limits_outside_the_loss_model_name_the_link_and_interval() -> None:
    wide = {
        "INTERCONNECTORCONSTRAINT": lambda f: f.with_columns(
            pl.when(pl.col("interconnectorid") == "NSW1-QLD1")
            .then(pl.lit(1e5))
            .otherwise(pl.col("exportlimit"))
            .alias("exportlimit")
        )
    }
    grid = network(tables(**wide), loss_demand())
    with pytest.raises(InputError, match="link NSW1-QLD1 at 2024-01-01 00:05:00: limits"):
        dispatch(*one_unit_each(), network=grid, interval_minutes=5)


def test_flows_beyond_their_own_limits_are_reported_by_interconnector_and_interval() -> None:
    history = pl.DataFrame(
        {
            "interconnectorid": ["V-SA", "V-SA", "NSW1-QLD1"],
            "interval_datetime": [TIME, TIME + dt.timedelta(minutes=5), TIME],
            "mwflow": [650.0, 100.0, -1200.0],
            "mwlosses": [10.0, 1.0, 30.0],
            "marginalloss": [1.0, 1.0, 1.0],
            "exportlimit": [600.0, 600.0, 700.0],
            "importlimit": [-500.0, -500.0, -1100.0],
        }
    )
    problems = flows_beyond_limits(history)
    assert problems.select("duid", "interval_datetime").rows() == [
        ("V-SA", TIME),
        ("NSW1-QLD1", TIME),
    ]
    assert set(problems["kind"]) == {"flow_beyond_limits"}
    assert problems["detail"][0] == "MWFLOW 650.0 outside its limits [-500.0, 600.0]"


@pytest.fixture(scope="module")
def small_market(tmp_path_factory: pytest.TempPathFactory):
    return synthetic_market(tmp_path_factory.mktemp("net") / "store", n_units=10, days=1, seed=5)


def run(small_market, tmp_path, capsys, market: str) -> tuple[int, str]:
    fleet = tmp_path / "market.toml"
    fleet.write_text(f"[market]\n{market}\n")
    start = small_market.start
    code = main(["backtest", "--store", str(small_market.store), "--fleet", str(fleet),
                 "--baseline-only", "--start", start.isoformat(),
                 "--end", (start + dt.timedelta(hours=2)).isoformat(),
                 "-o", str(tmp_path / "out")])  # fmt: skip
    captured = capsys.readouterr()
    return code, captured.err


def test_the_run_stops_with_one_line_when_no_loss_model_is_in_force(
    small_market, tmp_path, capsys
) -> None:
    code, err = run(small_market, tmp_path, capsys, "network_as_of = 2023-01-01")
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(
        "bidstack: error: no INTERCONNECTORCONSTRAINT row is in force on 2023-01-01"
    )


@pytest.mark.parametrize("mode", ["none", "historical"])
def test_a_mode_that_needs_no_loss_model_runs_without_one(
    small_market, tmp_path, capsys, mode: str
) -> None:
    code, err = run(
        small_market, tmp_path, capsys, f'network_as_of = 2023-01-01\ninterconnectors = "{mode}"'
    )
    assert code == 0, err
    links = tmp_path / "out" / "baseline" / "dispatch_links"
    if mode == "historical":  # AEMO's flows, as DISPATCHINTERCONNECTORRES has them
        assert pl.read_parquet(links).height > 0
    else:
        assert not links.exists() or pl.read_parquet(links).is_empty()


def test_each_day_reads_the_version_in_force_that_day() -> None:
    """A new version from the second day changes V-SA's limits and losses from then on: the
    first day keeps the old, the days after a change keep the new, and the link's two
    definitions are told apart by day."""

    def second_version(frame: pl.DataFrame) -> pl.DataFrame:
        new = frame.filter(pl.col("interconnectorid") == "V-SA").with_columns(
            effectivedate=pl.lit(dt.datetime(2024, 1, 2)),
            exportlimit=pl.lit(650.0),
            lossflowcoefficient=pl.col("lossflowcoefficient") * 2,
        )
        return pl.concat([frame, new])

    days = [dt.datetime(2024, 1, d, 12) for d in (1, 2, 3)]
    demand = pl.concat([loss_demand(when=when) for when in days])
    grid = network(tables(INTERCONNECTORCONSTRAINT=second_version), demand)
    links = grid.links.filter(pl.col("interconnectorid") == "V-SA").sort("linkid")
    assert links["linkid"].to_list() == [f"V-SA@2024-01-0{d}" for d in (1, 2, 3)]
    assert links["flow_coefficient"].to_list() == [0.00023, 0.00046, 0.00046]
    upper = grid.limits.join(links.select("linkid"), on="linkid").sort("interval_datetime")
    assert upper["upper_mw"].to_list() == [500.0, 650.0, 650.0]
    assert upper["interval_datetime"].to_list() == days


def test_an_interconnector_that_becomes_an_mnsp_within_a_window_is_held_from_that_day() -> None:
    """Basslink regulated on the window's first day and an MNSP from its second: its flows are
    held from the second day on (the window's MNSPs are those of any of its days, not of its
    first day only), and the first day's regulated link is left free."""

    def regulated_first(frame: pl.DataFrame) -> pl.DataFrame:
        basslink = pl.col("interconnectorid") == "T-V-MNSP1"
        regulated = frame.filter(basslink).with_columns(ictype=pl.lit("REGULATED"))
        mnsp = frame.filter(basslink).with_columns(effectivedate=pl.lit(dt.datetime(2024, 1, 2)))
        return pl.concat([frame.filter(~basslink), regulated, mnsp])

    days = [dt.datetime(2024, 1, d, 12) for d in (1, 2)]
    sums = pl.concat([loss_demand(when=when) for when in days]).select(
        "regionid", "interval_datetime", initialsupply=pl.lit(900.0),
        demandforecast=pl.lit(100.0),
    )  # fmt: skip
    flows = pl.DataFrame(
        {"interconnectorid": "T-V-MNSP1", "interval_datetime": days, "mwflow": 123.0,
         "exportlimit": 478.0, "importlimit": -478.0}
    )  # fmt: skip
    fleet = parse_fleet({"market": {}}, source="f", units_required=False)
    grid, mode, problems = window_network(
        tables(INTERCONNECTORCONSTRAINT=regulated_first), flows, sums, fleet
    )
    assert mode == "optimised" and problems.is_empty()
    basslink = grid.links.filter(pl.col("interconnectorid") == "T-V-MNSP1").select("linkid")
    limits = grid.limits.join(basslink, on="linkid").sort("interval_datetime", "linkid")
    first, second = (limits.filter(pl.col("interval_datetime") == day) for day in days)
    assert first.height == 1 and first["lower_mw"][0] < first["upper_mw"][0]  # free
    assert second.height == 2  # held: the link of the flow's direction carries it
    assert (123.0, 123.0) in list(zip(second["lower_mw"], second["upper_mw"], strict=True))
