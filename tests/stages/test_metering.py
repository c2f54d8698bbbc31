"""Metering: measured energy first, else the dispatch trapezoid; demand bids as consumption."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from bidstack.stages.metering import meter, nem12_energy, scada_energy

T0 = datetime(2024, 1, 1, 4, 5)
TIMES = [T0 + timedelta(minutes=5 * k) for k in range(6)]


def test_dispatch_energy_is_the_trapezoid_from_the_start_mw_and_demand_bids() -> None:
    dispatched = pl.DataFrame(
        {
            "duid": ["GEN", "GEN", "GEN", "GEN", "DEMAND:RET@50.0"],
            "interval_datetime": [T0, TIMES[1], TIMES[2], TIMES[4], T0],
            "dispatch_mw": [120.0, 60.0, 30.0, 90.0, 10.0],
            # the start: history's INITIALMW, then the unit's own previous dispatch (null)
            "ramp_base_mw": [96.0, None, 80.0, None, None],
        }
    )
    offers = pl.DataFrame(
        {
            "duid": ["GEN", "DEMAND:RET@50.0"],
            "interval_datetime": [T0, T0],
            "bandavail1": [999.0, 40.0],
        }
    )
    energy, problems = meter(dispatched, offers, 5)
    rows = {(r["duid"], r["interval_datetime"]): r for r in energy.iter_rows(named=True)}
    assert rows[("GEN", T0)]["energy_mwh"] == (96.0 + 120.0) / 2 / 12
    assert rows[("GEN", T0)]["source"] == "dispatch"
    assert rows[("GEN", TIMES[1])]["energy_mwh"] == (120.0 + 60.0) / 2 / 12  # previous dispatch
    assert rows[("GEN", TIMES[2])]["energy_mwh"] == (80.0 + 30.0) / 2 / 12  # its ramp base wins
    # after a gap there is no start: the target is held, and that is reported
    assert rows[("GEN", TIMES[4])]["energy_mwh"] == 90.0 / 12
    assert rows[("GEN", TIMES[4])]["source"] == "dispatch_flat"
    assert problems.select("kind", "duid", "interval_datetime").rows() == [
        ("energy_start_unknown", "GEN", TIMES[4])
    ]
    # the retailer bid 40 MW and "generated" 10 back: it consumed 30 MW for 5 minutes
    assert rows[("DEMAND:RET@50.0", T0)]["energy_mwh"] == -2.5


def test_scada_is_the_start_of_the_interval_and_energy_its_trapezoid() -> None:
    scada = pl.DataFrame(
        {
            "duid": ["GEN"] * 4 + ["OFF"],
            "settlementdate": [T0, TIMES[1], TIMES[2], TIMES[4], T0],
            "scadavalue": [96.0, 60.0, None, 30.0, -0.6],
        }
    )
    energy, problems = scada_energy(scada, 5, until=TIMES[3])
    rows = {(r["duid"], r["interval_datetime"]): r for r in energy.iter_rows(named=True)}
    assert rows[("GEN", T0)]["energy_mwh"] == (96.0 + 60.0) / 2 / 12
    assert rows[("GEN", T0)]["source"] == "scada"
    # the end of TIMES[1] is null (TIMES[2]'s value): the start is held, reported
    assert rows[("GEN", TIMES[1])]["energy_mwh"] == 60.0 / 12
    assert rows[("GEN", TIMES[1])]["source"] == "scada_held"
    assert ("GEN", TIMES[2]) not in rows and ("GEN", TIMES[4]) not in rows  # null; past until
    assert rows[("OFF", T0)]["energy_mwh"] == -0.6 / 12  # auxiliary load, no end: held
    assert sorted(problems.select("kind", "duid", "interval_datetime").rows()) == [
        ("meter_end_missing", "GEN", TIMES[1]),
        ("meter_end_missing", "OFF", T0),
        ("meter_value_missing", "GEN", TIMES[2]),
    ]


def test_measured_energy_takes_precedence() -> None:
    dispatched = pl.DataFrame(
        {"duid": ["GEN", "GEN"], "interval_datetime": TIMES[:2], "dispatch_mw": [120.0, 60.0]}
    )
    scada = pl.DataFrame(
        {"duid": ["GEN", "GEN"], "settlementdate": TIMES[:2], "scadavalue": [96.0, 120.0]}
    )
    no_bids = pl.DataFrame(
        schema={"duid": pl.String, "interval_datetime": pl.Datetime("us"), "bandavail1": pl.Float64}
    )
    measured, _ = scada_energy(scada, 5, until=T0)
    energy, problems = meter(dispatched, no_bids, 5, measured)
    assert energy.get_column("energy_mwh").to_list() == [9.0, 7.5]
    assert energy.get_column("source").to_list() == ["scada", "dispatch"]
    # the first dispatch interval has no start, but it is measured: nothing to report there
    assert problems.height == 0


def test_scada_equals_initialmw_and_is_metered_by_the_trapezoid(sample_ingest) -> None:
    """SCADAVALUE(T) is DISPATCHLOAD.INITIALMW(T), the MW at the interval's start, for every
    unit-interval of the 2024-09 archive; measured energy is the trapezoid of T and T + 5."""
    from bidstack.fleet import parse_fleet
    from bidstack.inputs import measured
    from bidstack.io import read

    store, _ = sample_ingest
    window = (datetime(2024, 9, 1), datetime(2024, 10, 1))
    scada = read(store, "DISPATCH_UNIT_SCADA", *window).collect()
    load = read(store, "DISPATCHLOAD", *window).collect()
    both = scada.join(load, on=["duid", "settlementdate"])
    assert scada.height == load.height == both.height == 2880
    assert both.filter(pl.col("scadavalue") == pl.col("initialmw")).height == 2880
    fleet = parse_fleet(
        {"units": {"AGLHAL": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5}}}, source="test"
    )
    last_day = (datetime(2024, 9, 30), datetime(2024, 10, 1))
    energy, problems = measured(store, *last_day, fleet)
    assert energy.height == 576 and set(energy.get_column("source")) <= {"scada", "scada_held"}
    values = {
        (r["duid"], r["settlementdate"]): r["scadavalue"]
        for r in scada.iter_rows(named=True)
    }
    step = timedelta(minutes=5)
    for row in energy.filter(pl.col("source") == "scada").iter_rows(named=True):
        start = values[(row["duid"], row["interval_datetime"])]
        end = values[(row["duid"], row["interval_datetime"] + step)]
        assert row["energy_mwh"] == pytest.approx((start + end) / 2 / 12, abs=1e-12)
    # the samples end at 2024-10-01 00:00: the last interval has no end value, reported
    held = energy.filter(pl.col("source") == "scada_held")
    assert set(held.get_column("interval_datetime")) == {datetime(2024, 10, 1)}
    assert problems.filter(pl.col("kind") == "meter_end_missing").height == held.height


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
