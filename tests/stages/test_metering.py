"""Metering: measured energy first, else dispatch x interval; demand bids as consumption."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from bidstack.stages.metering import meter, nem12_energy, scada_energy

T0 = datetime(2024, 1, 1, 4, 5)
TIMES = [T0 + timedelta(minutes=5 * k) for k in range(6)]


def test_dispatch_energy_and_demand_bids() -> None:
    dispatched = pl.DataFrame(
        {
            "duid": ["GEN", "GEN", "DEMAND:RET@50.0"],
            "interval_datetime": [T0, TIMES[1], T0],
            "dispatch_mw": [120.0, 60.0, 10.0],
        }
    )
    offers = pl.DataFrame(
        {
            "duid": ["GEN", "DEMAND:RET@50.0"],
            "interval_datetime": [T0, T0],
            "bandavail1": [999.0, 40.0],
        }
    )
    energy = meter(dispatched, offers, 5)
    rows = {(r["duid"], r["interval_datetime"]): r for r in energy.iter_rows(named=True)}
    assert rows[("GEN", T0)]["energy_mwh"] == 10.0 and rows[("GEN", T0)]["source"] == "dispatch"
    assert rows[("GEN", TIMES[1])]["energy_mwh"] == 5.0
    # the retailer bid 40 MW and "generated" 10 back: it consumed 30 MW for 5 minutes
    assert rows[("DEMAND:RET@50.0", T0)]["energy_mwh"] == -2.5


def test_measured_energy_takes_precedence() -> None:
    dispatched = pl.DataFrame(
        {"duid": ["GEN", "GEN"], "interval_datetime": TIMES[:2], "dispatch_mw": [120.0, 60.0]}
    )
    scada = pl.DataFrame({"duid": ["GEN"], "settlementdate": [T0], "scadavalue": [96.0]})
    no_bids = pl.DataFrame(
        schema={"duid": pl.String, "interval_datetime": pl.Datetime("us"), "bandavail1": pl.Float64}
    )
    energy = meter(dispatched, no_bids, 5, scada_energy(scada, 5))
    assert energy.get_column("energy_mwh").to_list() == [8.0, 5.0]
    assert energy.get_column("source").to_list() == ["scada", "dispatch"]


def test_nem12_half_hour_reads_are_spread_and_signed() -> None:
    reads = pl.DataFrame(
        {
            "nmi": ["NMI1", "NMI1", "NMI1", "OTHER"],
            "nmi_suffix": ["B1", "E1", "Q1", "B1"],
            "interval_datetime": [TIMES[5]] * 4,
            "interval_minutes": [30, 30, 30, 30],
            "energy_mwh": [6.0, 0.6, 99.0, 1.0],
        }
    )
    energy = nem12_energy(reads, {"GEN": "NMI1"}, 5).sort("interval_datetime")
    assert energy.get_column("interval_datetime").to_list() == TIMES
    assert energy.get_column("energy_mwh").round(9).to_list() == [0.9] * 6
    assert set(energy.get_column("source")) == {"nem12"}
