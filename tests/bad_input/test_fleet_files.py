"""Malformed and implausible fleet files, given to ``bidstack backtest``.

Each case checks exit status 2, one line naming the file, the unit (or section) and the key, no
traceback, and that nothing was written: neither the output folder nor anything else.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from badinput import expect, run

ERROR = 2
UNIT = "[units.CO004]\ntp_min = 29.1\ntp_max = 255.4\nsrmc = 35.0\n"


def backtest(market, fleet, out):
    end = market.start + timedelta(hours=1)
    return run(
        "backtest", "--store", market.store, "--fleet", fleet, "--start", market.start.isoformat(),
        "--end", end.isoformat(), "-o", out,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[defaults]\nsrmc = "x"\n' + UNIT, ["[defaults]", "srmc", "'x'"]),
        ("[defaults]\nsrmc = nan\n" + UNIT, ["[defaults]", "srmc", "finite"]),
        ("[defaults]\ntp_max = inf\n" + UNIT, ["[defaults]", "tp_max", "finite"]),
        ('[defaults]\nconstraint_status = 7\n' + UNIT, ["[defaults]", "constraint_status"]),
        ("[defaults]\nsemidispatchcap = 1\n" + UNIT, ["[defaults]", "semidispatchcap"]),
        ("[defaults]\nphase_horizon = 0\n" + UNIT, ["[defaults]", "phase_horizon"]),
        ("[defaults]\nmlf = -1.0\n" + UNIT, ["[defaults]", "mlf"]),
        ('[defaults]\nregion = ""\n' + UNIT, ["[defaults]", "region"]),
        ("[defaults]\nmax_capacity = 1e12\n" + UNIT, ["[defaults]", "max_capacity", "10,000"]),
        ("[defaults]\nphase_horizon = 2\nmin_run_time_minutes = 10\n" + UNIT,
         ["[defaults]", "not both"]),
        ("[defaults]\nbogus = 1\n" + UNIT, ["[defaults]", "'bogus'"]),
        (UNIT + "max_capacity = 1e12\n", ["unit CO004", "max_capacity", "no NEM unit"]),
        (UNIT + "max_capacity = 10000.5\n", ["unit CO004", "max_capacity"]),
        (UNIT + "max_capacity = -5.0\n", ["unit CO004", "max_capacity", "negative"]),
        (UNIT + "max_capacity = inf\n", ["unit CO004", "max_capacity", "finite"]),
        (UNIT + "phase_horizon = 6\nmin_run_time_minutes = 30\n", ["unit CO004", "not both"]),
        (UNIT + "phase_horizon = 1.5\n", ["unit CO004", "phase_horizon"]),
        (UNIT + "phase_horizon = true\n", ["unit CO004", "phase_horizon"]),
        (UNIT + "min_run_time_minutes = -30\n", ["unit CO004", "min_run_time_minutes"]),
        (UNIT + 'srmc_ = 1\n', ["unit CO004", "'srmc_'"]),
        (UNIT.replace("srmc = 35.0\n", 'srmc = "35"\n'), ["unit CO004", "srmc"]),
        (UNIT.replace("tp_max = 255.4", "tp_max = 1.0"), ["unit CO004", "tp_min"]),
        (UNIT.replace("srmc = 35.0\n", ""), ["unit CO004", "missing srmc"]),
        (UNIT + "fcas_liability = -1\n", ["unit CO004", "fcas_liability"]),
        (UNIT + "fcas_liability = true\n", ["unit CO004", "fcas_liability"]),
        (UNIT + "nmi = 5\n", ["unit CO004", "nmi"]),
        ("[market]\ngate_closure_seconds = -1\n" + UNIT, ["[market]", "gate_closure_seconds"]),
        ('[market]\ndemand = "lots"\n' + UNIT, ["[market]", "demand"]),
        ('[market]\ninterconnectors = "maybe"\n' + UNIT, ["[market]", "interconnectors"]),
        ("[market]\nmarket_price_cap = 10.0\nmarket_floor_price = 20.0\n" + UNIT,
         ["[market]", "market_price_cap"]),
        ("[market]\nadministered_price_cap = 0\n" + UNIT, ["[market]", "administered_price_cap"]),
        ('[market]\nnetwork_as_of = "soon"\n' + UNIT, ["[market]", "network_as_of"]),
        ("[market]\nuigf_cap = 1\n" + UNIT, ["[market]", "uigf_cap"]),
        ("[market]\nfrrp = 3\n" + UNIT, ["[market]", "frrp"]),
        ("[market]\n", ["no units"]),
        ("[unit.CO004]\nsrmc = 1\n", ["unknown section [unit]"]),
        ("[units\n", ["not valid TOML"]),
        ("units = 3\n", ["[units] must be a table"]),
    ],
)  # fmt: skip
def test_a_bad_fleet_file_is_one_line_naming_unit_and_key(market, tmp_path, untouched, text, words):
    fleet = tmp_path / "user" / "fleet.toml"
    fleet.write_text(text)
    out = tmp_path / "out"
    guard = untouched()
    expect(backtest(market, fleet, out), ERROR, "fleet.toml", *words)
    assert not out.exists()
    guard.check()


def test_a_fleet_file_in_latin_1_is_one_line(market, tmp_path, untouched):
    fleet = tmp_path / "user" / "fleet.toml"
    fleet.write_bytes(("# caf\u00e9\n" + UNIT).encode("latin-1"))
    guard = untouched()
    expect(backtest(market, fleet, tmp_path / "out"), ERROR, "fleet.toml", "cannot read")
    guard.check()


def test_a_unit_horizon_replaces_the_other_horizon_of_defaults(market, tmp_path, untouched):
    fleet = tmp_path / "user" / "fleet.toml"
    fleet.write_text("[defaults]\nmin_run_time_minutes = 30\n" + UNIT + "phase_horizon = 2\n")
    out = tmp_path / "out"
    guard = untouched(out)
    expect(backtest(market, fleet, out), 0)
    guard.check()


@pytest.mark.parametrize("capacity", ["9999.0", "1e4"])
def test_a_max_capacity_far_over_registration_is_one_line(market, tmp_path, untouched, capacity):
    fleet = tmp_path / "user" / "fleet.toml"
    fleet.write_text(UNIT + f"max_capacity = {capacity}\n")
    out = tmp_path / "out"
    guard = untouched(out)
    ran = backtest(market, fleet, out)
    expect(ran, ERROR, "fleet.toml", "unit CO004", "registered capacity", "DUDETAIL.MAXCAPACITY")
    guard.check()


@pytest.mark.parametrize(
    ("line", "words"),
    [('frrp = {file = "sub/forecast.parquet", column = "rrp"}', ["forecast.parquet",
                                                                  "cannot read the forecast file"]),
     ('demand_bids = "bids.parquet"', ["bids.parquet", "cannot read the demand bids"])],
    ids=["forecast", "demand-bids"],
)  # fmt: skip
def test_a_fleet_data_file_that_cannot_be_read_stops_the_run_before_its_folder(
    market, tmp_path, untouched, line, words
):
    fleet = tmp_path / "user" / "fleet.toml"
    fleet.write_text(f"[market]\n{line}\n" + UNIT)
    out = tmp_path / "out"
    guard = untouched()
    expect(backtest(market, fleet, out), ERROR, *words)
    assert not out.exists()
    guard.check()
