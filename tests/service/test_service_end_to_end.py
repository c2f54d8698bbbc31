"""End to end: a participant's offers, rebids and NEM12 reads posted to a live server →
``bidstack service export`` → ``bidstack backtest`` → ``GET /v1/statements`` is the backtest's
statement to the cent, and no bid the service accepted is late for the backtest."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from bidstack.cli import main
from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.demo import synthetic_market
from bidstack.io import read, write_table

from service_helpers import NEM, Server, cli, nem12_file

FIRST_DAY = date(2024, 3, 4)
NMI = "NMI0000001"


def _take_out_history(store: Path, duid: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Remove the unit's bids from the store; return them (day offers, interval bids)."""
    taken = []
    for table in ("BIDDAYOFFER_D", "BIDPEROFFER_D"):
        rows = read(store, table, raw=True).collect()
        write_table(
            store, table, rows.filter(pl.col("duid") != duid), source=f"synthetic:{table}:0"
        )
        taken.append(rows.filter(pl.col("duid") == duid).sort(rows.columns[:5]))
    return taken[0], taken[1]


def _offers(days: pl.DataFrame, volumes: pl.DataFrame) -> list[dict]:
    bodies = []
    for day in days.iter_rows(named=True):
        trading = day["settlementdate"].date()
        rows = volumes.filter(pl.col("settlementdate").dt.date() == trading)
        bodies.append({
            "duid": day["duid"], "trading_date": trading.isoformat(),
            **{band: day[band] for band in PRICE_BANDS},
            "bids": [_bid(row) for row in rows.iter_rows(named=True)],
        })  # fmt: skip
    return bodies


def _bid(row: dict, **changes) -> dict:
    names = ("maxavail", *BAND_VOLUMES, "rocup", "rocdown")
    return {"interval_datetime": row["interval_datetime"].replace(tzinfo=NEM).isoformat(),
            **{name: float(row[name]) for name in names}, **changes}  # fmt: skip


def test_posted_bids_and_reads_are_backtested_and_their_statement_served(tmp_path: Path) -> None:
    market = synthetic_market(tmp_path / "store", n_units=9, days=2, first_day=FIRST_DAY,
                              fleet_size=2, seed=5)  # fmt: skip
    fleet_text = market.fleet_file.read_text()
    unit = fleet_text.split("[units.")[1].split("]")[0]
    fleet = tmp_path / "fleet.toml"
    fleet.write_text(
        fleet_text.replace("[market]", "[market]\nhistory_gate_closure = true", 1).replace(
            f"[units.{unit}]", f'[units.{unit}]\nnmi = "{NMI}"'
        )
    )
    assert "history_gate_closure = true" in fleet.read_text()
    days, volumes = _take_out_history(market.store, unit)
    db = f"sqlite:///{tmp_path / 'service.db'}"
    results = tmp_path / "results"
    cli("init", "--db", db)
    cli("participant", "add", "DEMOGEN", "--units", unit, "--nmis", NMI, "--db", db)
    key = cli("key", "create", "DEMOGEN", "--db", db)
    server = Server(db, tmp_path, "--results", str(results), "--fleet", str(fleet))
    try:
        # offers the day before; then rebids, the first at the very moment its gate closes
        server.set_clock(datetime(2024, 3, 3, 12, 0, tzinfo=NEM))
        for body in _offers(days, volumes):
            assert server.post("/v1/offers", key, body).status_code == 201
        first = volumes.sort("interval_datetime").head(12)
        gate = first["interval_datetime"][0] - timedelta(minutes=65)
        server.set_clock(gate.replace(tzinfo=NEM))
        rebid = [{"duid": unit, **_bid(row, bandavail1=row["bandavail1"] * 0.5)}
                 for row in first.iter_rows(named=True)]  # fmt: skip
        assert server.post("/v1/bids", key, {"bids": rebid}).status_code == 201
        server.set_clock(gate.replace(tzinfo=NEM) + timedelta(microseconds=1))
        late = server.post("/v1/bids", key, {"bids": rebid[:1]})
        assert late.status_code == 409
        upload = server.client.post(
            "/v1/meter-reads/nem12",
            files={"file": ("meter.csv", nem12_file(NMI, FIRST_DAY))},
            headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "meter-1"},
        )
        assert upload.status_code == 201, upload.text

        cli("export", "--db", db, "--store", str(market.store), "--month", "2024-03")
        cli("export", "--db", db, "--store", str(market.store), "--month", "2024-03")  # replaces
        exported = read(market.store, "BIDPEROFFER_D", duids=[unit]).collect()
        assert exported.height == volumes.height  # one row per interval, exported twice
        assert exported.sort("interval_datetime")["bandavail1"][:12].to_list() == [
            v * 0.5 for v in first["bandavail1"]
        ]
        assert main(["backtest", "--store", str(market.store), "--fleet", str(fleet),
                     "--rules", "v1", "--start", market.start.isoformat(),
                     "--end", market.end.isoformat(), "-o", str(results)]) == 0  # fmt: skip

        problems = pl.read_parquet(results / "problems")
        assert problems.filter((pl.col("kind") == "late_bid") & (pl.col("duid") == unit)).is_empty()
        assert problems.filter(pl.col("kind") == "late_bid").height > 0  # the rule was applied
        amounts = pl.read_parquet(results / "baseline" / "amounts").filter(pl.col("duid") == unit)
        assert "nem12" in set(amounts["source"])  # the posted reads metered the unit
        for scenario in ("baseline", "v1"):
            folder = results / scenario / "statements"
            served = server.get("/v1/statements", key, scenario=scenario).json()
            daily = pl.read_parquet(folder / "daily.parquet").filter(participantid="DEMOGEN")
            totals = pl.read_parquet(folder / "totals.parquet").filter(participantid="DEMOGEN")
            assert [d["net_cents"] for d in served["daily"]] == daily["net_cents"].to_list()
            assert [d["net_microdollars"] for d in served["daily"]] == daily[
                "net_microdollars"
            ].to_list()
            assert served["totals"]["net_cents"] == totals["net_cents"][0]
            assert served["totals"]["net_microdollars"] == totals["net_microdollars"][0]
            text = server.get("/v1/statements", key, scenario=scenario, format="txt").text
            assert text == (folder / "statement_DEMOGEN.txt").read_text()
            csv = server.get("/v1/statements", key, scenario=scenario, format="csv").text
            lines = (folder / "daily.csv").read_text().splitlines()
            assert csv.splitlines() == [lines[0], *(x for x in lines if x.startswith("DEMOGEN,"))]
        one_day = server.get("/v1/statements", key, **{"from": "2024-03-05", "to": "2024-03-05"})
        assert [d["settlement_date"] for d in one_day.json()["daily"]] == ["2024-03-05"]
        assert server.get("/v1/statements", key, scenario="nope").status_code == 404
    finally:
        server.stop()
