"""Fleet files: trader parameters per unit, checked on load, errors naming the unit and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bidstack.errors import ConfigError
from bidstack.fleet import load_fleet

GOOD = """
[market]
gate_closure_seconds = 1800
demand_bids = "retail.parquet"
price_type_order = "srmc_first"
[defaults]
fcas_liability = 2.5
[units.AGLHAL]
tp_min = 0.0
tp_max = 300
srmc = 95.5
min_run_time_minutes = 12
constraint_status = "from data"
[units.HDWF2]
tp_min = -50
tp_max = 100
srmc = 0
phase_horizon = 3
semidispatchcap = "from data"
participant = "HORNSDL2"
fcas_liability = false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def test_good_fleet(tmp_path: Path) -> None:
    fleet = load_fleet(write(tmp_path, GOOD))
    assert fleet.gate_closure_seconds == 1800 and fleet.frrp is None
    assert fleet.price_type_order == "srmc_first"
    hal, hdwf = fleet.units["AGLHAL"], fleet.units["HDWF2"]
    assert hal.fcas_liability == 2.5 and hdwf.fcas_liability == 0.0
    assert fleet.demand_bids == tmp_path / "retail.parquet"
    assert hal.constraint_status is None and hal.semidispatchcap is False
    assert hdwf.semidispatchcap is None and hdwf.participant == "HORNSDL2"
    assert hal.horizon(5) == 3 and hal.horizon(30) == 1 and hdwf.horizon(5) == 3
    table = fleet.parameters(5)
    assert table.get_column("phase_horizon").to_list() == [3, 3]
    assert table.get_column("srmc").to_list() == [95.5, 0.0]


def test_price_type_order_defaults_to_spec(tmp_path: Path) -> None:
    text = GOOD.replace('price_type_order = "srmc_first"\n', "")
    assert load_fleet(write(tmp_path, text)).price_type_order == "thresholds_first"


def test_forecast_file_is_relative_to_the_fleet_file(tmp_path: Path) -> None:
    fleet = load_fleet(
        write(
            tmp_path,
            GOOD.replace("[market]", '[market]\nfrrp = {file = "f.parquet", column = "p"}'),
        )
    )
    assert fleet.frrp.path == tmp_path / "f.parquet" and fleet.frrp.column == "p"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda t: t.replace("srmc = 95.5", "srmc = 95.5\nsrcm = 1"),
            "unit AGLHAL: unknown key 'srcm'",
        ),
        (lambda t: t.replace("srmc = 95.5\n", ""), "unit AGLHAL: missing srmc"),
        (
            lambda t: t.replace("tp_max = 100", "tp_max = -100"),
            "unit HDWF2: tp_min (-50.0) is above tp_max",
        ),
        (
            lambda t: t.replace("srmc = 0", 'srmc = "cheap"'),
            "unit HDWF2: srmc must be a finite number",
        ),
        (lambda t: t.replace("srmc = 0", "srmc = inf"), "unit HDWF2: srmc must be a finite number"),
        (
            lambda t: t.replace("phase_horizon = 3", "phase_horizon = 0"),
            "unit HDWF2: phase_horizon",
        ),
        (
            lambda t: t.replace('constraint_status = "from data"', "constraint_status = 2"),
            "constraint_status must be",
        ),
        (
            lambda t: t.replace('semidispatchcap = "from data"', "semidispatchcap = 1"),
            "semidispatchcap must be",
        ),
        (
            lambda t: t.replace("gate_closure_seconds = 1800", "gate_closure = 1800"),
            "unknown key 'gate_closure'",
        ),
        (lambda t: t.replace("[defaults]", "[default]"), "unknown section [default]"),
        (
            lambda t: t.replace("fcas_liability = 2.5", "fcas_liablity = 2.5"),
            "[defaults] has unknown key 'fcas_liablity'",
        ),
        (
            lambda t: t.replace('constraint_status = "from data"', "constraint_status = 1.0"),
            "constraint_status must be",
        ),
        (lambda t: t.split("[units.AGLHAL]")[0], "no units"),
        (lambda t: t.replace("[market]", '[market]\ndemand = "forecast"'), "demand must be one of"),
        (lambda t: t.replace("[market]", "[market]\nfrrp = 3"), "frrp must be"),
        (
            lambda t: t.replace("[market]", '[market]\ndispatch_engine = "nempy"'),
            "[market] dispatch_engine must be one of kernel, reference, not 'nempy'",
        ),
        (
            lambda t: t.replace('"srmc_first"', '"tpmax_first"'),
            "[market] price_type_order must be one of thresholds_first, srmc_first",
        ),
        (
            lambda t: t.replace('"srmc_first"', "1"),
            "[market] price_type_order must be one of",
        ),
        (lambda t: t + "[units", "not valid TOML"),
        (lambda t: t.replace("fcas_liability = 2.5", "fcas_liability = true"), "fcas_liability"),
        (
            lambda t: t.replace("fcas_liability = 2.5", "fcas_liability = -1"),
            "must not be negative",
        ),
    ],
)
def test_bad_fleet_names_unit_and_key(tmp_path: Path, change, message: str) -> None:
    path = write(tmp_path, change(GOOD))
    with pytest.raises(ConfigError) as error:
        load_fleet(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_missing_fleet_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such fleet file"):
        load_fleet(tmp_path / "nope.toml")
