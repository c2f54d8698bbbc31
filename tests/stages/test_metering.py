"""Metering: measured energy first, else the dispatch trapezoid; demand bids as consumption."""

from __future__ import annotations

from datetime import date, datetime, timedelta

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
    from bidstack.io import read
    from bidstack.market_reads import measured

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


def reads(**columns) -> pl.DataFrame:
    n = len(columns["nmi_suffix"])
    base = {
        "nmi": ["NMI1"] * n,
        "uom": ["kWh"] * n,
        "interval_minutes": [30] * n,
        "interval_datetime": [TIMES[5]] * n,
        "quality_method": ["A"] * n,
        "source_file": ["meter.csv"] * n,
        "source_line": list(range(3, 3 + n)),
    }
    return pl.DataFrame(base | columns)


def test_nem12_half_hour_reads_are_spread_and_signed() -> None:
    frame = reads(
        nmi=["NMI1", "NMI1", "NMI1", "OTHER"],
        nmi_suffix=["B1", "E1", "Q1", "B1"],
        uom=["kWh", "kWh", "kVArh", "kWh"],
        energy_mwh=[6.0, 0.6, None, 1.0],
    )
    energy, problems = nem12_energy(frame, {"GEN": "NMI1"}, 5)
    energy = energy.sort("interval_datetime")
    assert energy.get_column("interval_datetime").to_list() == TIMES
    assert energy.get_column("energy_mwh").round(9).to_list() == [0.9] * 6
    assert set(energy.get_column("source")) == {"nem12"}
    # the reactive channel is not used, and said so once
    assert problems.select("kind", "duid").rows() == [("meter_channel_not_used", "GEN")]
    assert "channel Q1 (kVArh, 1 interval(s), meter.csv) is not an active-energy" in (
        problems["detail"][0]
    )


def test_nem12_reads_that_cannot_be_used_are_reported_never_zero() -> None:
    at = [TIMES[0], TIMES[1], TIMES[2], TIMES[3]]
    frame = reads(
        nmi_suffix=["B1", "B1", "B1", "B1", "E1", "E1", "E1", "E1", "A1", "N1", "D1", "F1"],
        interval_minutes=[5] * 12,
        interval_datetime=at * 2 + [TIMES[0]] * 4,
        quality_method=["A", "N", "V", "A", "A", "A", "A", "S53", "A", "A", "A", "A"],
        energy_mwh=[1.0, 0.0, 1.0, 10.0, 0.1, 0.1, 0.1, 0.1, 1.0, 0.9, 0.1, 1.0],
    )
    energy, problems = nem12_energy(frame, {"GEN": "NMI1"}, 5, capacity={"GEN": 100.0})
    # only TIMES[0] is whole: B1 null (N) at TIMES[1], variable at TIMES[2], 10 MWh in 5 minutes
    # (120 MW) from a 100 MW unit at TIMES[3]; E1 alone is never taken for the net
    assert energy.select("interval_datetime", "energy_mwh").rows() == [(TIMES[0], 0.9)]
    kinds = problems.group_by("kind").len().sort("kind").rows()
    assert kinds == [("meter_channel_not_used", 4), ("meter_read_not_used", 3)]
    details = " | ".join(problems["detail"])
    for text in ("meter.csv:4 NMI NMI1 B1: quality N: null data",
                 "meter.csv:5 NMI NMI1 B1: quality V without a 400 record",
                 "meter.csv:6 NMI NMI1 B1: 10.0 MWh in 5 minutes is more than the unit's capacity",
                 "channel A1", "is an average stream", "channel N1", "is a net stream",
                 "channel F1", "is a check-meter stream"):  # fmt: skip
        assert text in details
    # a kW channel is power, not energy: its intervals are not measured
    power = reads(nmi_suffix=["B1"], uom=["kW"], energy_mwh=[None])
    energy, problems = nem12_energy(power, {"GEN": "NMI1"}, 5)
    assert energy.height == 0 and "unit of measure kW is not energy" in problems["detail"][0]
    # what NEM12 cannot meter, SCADA does
    dispatched = pl.DataFrame(
        {"duid": ["GEN"] * 2, "interval_datetime": TIMES[:2], "dispatch_mw": [12.0, 12.0]}
    )
    scada = pl.DataFrame({"duid": "GEN", "settlementdate": TIMES[:3], "scadavalue": 24.0})
    nem12, _ = nem12_energy(frame, {"GEN": "NMI1"}, 5, capacity={"GEN": 100.0})
    measured = pl.concat([nem12, scada_energy(scada, 5, until=TIMES[1])[0]])
    metered, _ = meter(dispatched, dispatched.select("duid", "interval_datetime"), 5, measured)
    assert metered.select("energy_mwh", "source").rows() == [(0.9, "nem12"), (2.0, "scada")]


def test_nem12_reads_are_judged_by_the_capacity_in_force_on_their_day() -> None:
    # a unit of 100 MW until midnight, 200 MW from then: 10 MWh in 5 minutes (120 MW) is too
    # much on the first day and not on the second, whatever window reads them
    before, after = datetime(2024, 3, 1, 23, 55), datetime(2024, 3, 2, 0, 5)
    frame = reads(nmi_suffix=["B1", "B1"], interval_minutes=[5, 5],
                  interval_datetime=[before, after], energy_mwh=[10.0, 10.0])  # fmt: skip
    capacity = pl.DataFrame({"duid": ["GEN", "GEN"], "max_capacity": [100.0, 200.0],
                             "settlement_date": [date(2024, 3, 1), date(2024, 3, 2)]})  # fmt: skip
    energy, problems = nem12_energy(frame, {"GEN": "NMI1"}, 5, capacity=capacity)
    assert energy.select("interval_datetime", "energy_mwh").rows() == [(after, 10.0)]
    assert problems["interval_datetime"].to_list() == [before]
    # the interval ending at midnight is the day before's
    midnight = reads(nmi_suffix=["B1"], interval_minutes=[5], energy_mwh=[10.0],
                     interval_datetime=[datetime(2024, 3, 2)])  # fmt: skip
    energy, _ = nem12_energy(midnight, {"GEN": "NMI1"}, 5, capacity=capacity)
    assert energy.is_empty()


def test_null_days_and_kw_channels_of_an_ingested_file_never_become_energy(tmp_path) -> None:
    from bidstack.io import ingest, read

    values = ",".join(["1.5"] * 288)
    path = tmp_path / "meter.csv"
    path.write_text(
        "\n".join(
            [
                "100,NEM12,202409020830,MDPONE,RETAILX",
                "200,NMI0000001,B1E1,1,B1,,M1,kWh,5,",
                f"300,20240901,{values},A,,,20240902083000,",
                f"300,20240902,{','.join(['0'] * 288)},N,,,20240903083000,",
                "200,NMI0000001,B1E1,2,E1,,M1,kW,5,",
                f"300,20240901,{values},A,,,20240902083000,",
                "900",
            ]
        )
        + "\n"
    )
    ingest([path], tmp_path / "store")
    stored = read(tmp_path / "store", "nem12_interval").collect()
    energy, problems = nem12_energy(stored, {"GEN": "NMI0000001"}, 5)
    # 1 September: B1 is kWh but E1 is kW (power): not metered; 2 September: null data
    assert energy.height == 0
    assert problems.filter(pl.col("kind") == "meter_read_not_used").height == 2
    assert any("meter.csv:4 NMI NMI0000001 B1: quality N" in d for d in problems["detail"])
    assert any("meter.csv:6 NMI NMI0000001 E1: unit of measure kW" in d for d in problems["detail"])
