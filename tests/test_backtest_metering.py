"""NEM12 in the backtest: a fleet unit with an NMI is metered from its reads where they can be
used, from SCADA where they cannot, and what was not used is reported."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl

from bidstack.backtest import backtest
from bidstack.demo import synthetic_market
from bidstack.fleet import load_fleet
from bidstack.io import ingest


def run_with_nem12(tmp_path: Path, entry: str = "") -> tuple:
    """A backtest of a day and two hours whose first fleet unit has an NMI (and ``entry`` in
    its fleet entry), with a day of reads of 1.2 MW and a day of null data: (market, unit)."""
    market = synthetic_market(tmp_path / "store", n_units=9, days=2, first_day=date(2024, 3, 4))
    text = Path(market.fleet_file).read_text()
    unit = text.split("[units.")[1].split("]")[0]
    fleet_file = tmp_path / "fleet.toml"
    fleet_file.write_text(
        text.replace(f"[units.{unit}]", f'[units.{unit}]\nnmi = "NMI0000001"\n{entry}')
    )
    day = market.start.date()
    values = ",".join(["100"] * 288)  # 100 kWh in 5 minutes: 1.2 MW
    nulls = ",".join(["0"] * 288)
    path = tmp_path / "meter.csv"
    path.write_text(
        "\n".join(
            [
                "100,NEM12,202403060830,MDPONE,RETAILX",
                "200,NMI0000001,B1Q1,1,B1,,M1,kWh,5,",
                f"300,{day:%Y%m%d},{values},A,,,20240306083000,",
                f"300,{day + timedelta(days=1):%Y%m%d},{nulls},N,,,20240306083000,",
                "200,NMI0000001,B1Q1,2,Q1,,M1,kVArh,5,",
                f"300,{day:%Y%m%d},{values},A,,,20240306083000,",
                "900",
            ]
        )
        + "\n"
    )
    [outcome] = ingest([path], market.store)
    assert outcome.status == "ingested"
    end = market.start + timedelta(days=1, hours=2)
    backtest(market.store, load_fleet(fleet_file), ["v1"], market.start, end, tmp_path / "out",
             progress=False)  # fmt: skip
    return market, unit


def test_a_fleet_unit_is_metered_from_nem12_where_it_can_be(tmp_path: Path) -> None:
    market, unit = run_with_nem12(tmp_path)
    amounts = pl.read_parquet(tmp_path / "out" / "baseline" / "amounts").filter(
        pl.col("duid") == unit
    )
    first_day = pl.col("interval_datetime") <= market.start.replace(hour=0) + timedelta(days=1)
    nem12 = amounts.filter(first_day)
    assert set(nem12["source"]) == {"nem12"} and set(nem12["energy_mwh"]) == {0.1}
    # the next calendar day is null data: metered from SCADA, never as zero
    assert set(amounts.filter(~first_day)["source"]) <= {"scada", "scada_held"}
    problems = pl.read_parquet(tmp_path / "out" / "problems").filter(pl.col("duid") == unit)
    kinds = set(problems.filter(pl.col("scenario") == "baseline")["kind"])
    assert {"meter_read_not_used", "meter_channel_not_used"} <= kinds
    assert any("meter.csv:4 NMI NMI0000001 B1: quality N" in d for d in problems["detail"])


def test_reads_beyond_the_fleet_entrys_capacity_are_metered_from_scada(tmp_path: Path) -> None:
    # 1.2 MW of reads from a unit the fleet file says is 1 MW: each read refused, named, never
    # metered; SCADA meters the unit instead
    _, unit = run_with_nem12(tmp_path, "max_capacity = 1.0")
    amounts = pl.read_parquet(tmp_path / "out" / "baseline" / "amounts").filter(
        pl.col("duid") == unit
    )
    assert amounts.height and set(amounts["source"]) <= {"scada", "scada_held"}
    problems = pl.read_parquet(tmp_path / "out" / "problems").filter(
        (pl.col("duid") == unit) & (pl.col("scenario") == "baseline")
    )
    assert any("more than the unit's capacity delivers" in d for d in problems["detail"])
