"""Table definitions: derived from the MMS Data Model, plus bidstack's registry."""

from __future__ import annotations

import gzip
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from bidstack.errors import InputError
from bidstack.io.registered import REGISTERED
from bidstack.io.schema import (
    DATA_MODEL_FILE,
    NEM12_INTERVAL,
    column_kind,
    data_model,
    resolve,
    table_spec,
)


def test_packaged_data_model_is_the_shared_one(mms_dir: Path):
    packaged = resources.files("bidstack.io").joinpath(DATA_MODEL_FILE).read_bytes()
    shared = (mms_dir / "schema" / "mmsdm_v5.7.json").read_bytes()
    assert gzip.decompress(packaged) == shared
    assert len(data_model()) == 541


@pytest.mark.parametrize(
    ("namespace", "report", "table"),
    [
        ("DISPATCH", "UNIT_SOLUTION", "DISPATCHLOAD"),
        ("DISPATCH", "PRICE", "DISPATCHPRICE"),
        ("DISPATCH", "LOCAL_PRICE", "DISPATCH_LOCAL_PRICE"),
        ("DISPATCH", "UNIT_SCADA", "DISPATCH_UNIT_SCADA"),
        ("DISPATCH", "REGIONSUM", "DISPATCHREGIONSUM"),
        ("TRADING", "PRICE", "TRADINGPRICE"),
        ("TRADING", "UNIT_SOLUTION", "TRADINGLOAD"),
        ("BID", "BIDDAYOFFER_D", "BIDDAYOFFER_D"),
        ("BID", "BIDPEROFFER_D", "BIDPEROFFER_D"),
        ("PARTICIPANT_REGISTRATION", "DUDETAIL", "DUDETAIL"),
        ("PARTICIPANT_REGISTRATION", "DUDETAILSUMMARY", "DUDETAILSUMMARY"),
        ("MARKET_CONFIG", "MARKET_PRICE_THRESHOLDS", "MARKET_PRICE_THRESHOLDS"),
        ("DISPATCH", "CASE_SOLUTION", "DISPATCHCASESOLUTION"),
        ("GENCONDATA", "", "GENCONDATA"),
        ("SPDCPC", "", "SPDCONNECTIONPOINTCONSTRAINT"),
        ("dispatch", "price", "DISPATCHPRICE"),
        ("DISPATCH", "INTERCONNECTORRES", "DISPATCHINTERCONNECTORRES"),
        ("MARKET_CONFIG", "INTERCONNECTOR", "INTERCONNECTOR"),
        ("MARKET_CONFIG", "INTERCONNECTORCONSTRAINT", "INTERCONNECTORCONSTRAINT"),
        ("MARKET_CONFIG", "LOSSFACTORMODEL", "LOSSFACTORMODEL"),
        ("MARKET_CONFIG", "LOSSMODEL", "LOSSMODEL"),
        ("PARTICIPANT_REGISTRATION", "MNSP_INTERCONNECTOR", "MNSP_INTERCONNECTOR"),
        ("OFFER", "MNSP_PEROFFER", "MNSP_PEROFFER"),
        ("OFFER", "MNSP_DAYOFFER", "MNSP_DAYOFFER"),
        ("BIDS", "MNSP_DAYOFFER", "MNSP_DAYOFFER"),
    ],
)
def test_file_ids_resolve_to_tables(namespace: str, report: str, table: str):
    assert resolve(namespace, report).name == table


@pytest.mark.parametrize(("namespace", "report"), [("DREGION", ""), ("DISPATCH", "NO_SUCH")])
def test_unknown_file_ids_resolve_to_nothing(namespace: str, report: str):
    assert resolve(namespace, report) is None


def test_registered_tables_exist_in_the_data_model():
    assert set(REGISTERED) <= set(data_model())


@pytest.mark.parametrize(
    ("name", "data_type", "kind"),
    [
        ("SETTLEMENTDATE", "Date", "datetime"),
        ("OFFERDATE", "DateTime", "datetime"),
        ("DUID", {"Varchar": {"length": 10}}, "string"),
        ("RCF", "Char", "string"),
        ("RRP", {"Decimal": {"precision": 15, "scale": 5}}, "float"),
        ("BANDAVAIL1", {"Decimal": {"precision": 22, "scale": 0}}, "float"),
        ("MAXCAPACITY", {"Decimal": {"precision": 6, "scale": 0}}, "float"),
        ("VERSIONNO", {"Decimal": {"precision": 22, "scale": 0}}, "int"),
        ("INTERVENTION", {"Decimal": {"precision": 2, "scale": 0}}, "int"),
        ("PERIODID", {"Decimal": {"precision": 3, "scale": 0}}, "int"),
        ("APCFLAG", {"Decimal": {"precision": 3, "scale": 0}}, "int"),
        ("RUN_NO", {"Integer": {"precision": 3}}, "int"),
        ("ENERGY", {"Integer": {"precision": 6}}, "float"),
    ],
)
def test_column_kinds(name: str, data_type, kind: str):
    assert column_kind(name, data_type) == kind


def test_bidperoffer_spec():
    spec = table_spec("bidperoffer_d")
    assert spec.name == "BIDPEROFFER_D"
    assert spec.store_name == "bidperoffer_d"
    assert spec.time_column == "interval_datetime"
    assert spec.versions == (2, 3, 4)
    assert spec.polars_schema["direction"] == pl.String
    assert spec.polars_schema["recall_period"] == pl.Float64
    assert "recall_period" in spec.kinds and "direction" in spec.kinds


def test_registration_specs_are_effective_dated():
    assert table_spec("DUDETAIL").effective_date == "effectivedate"
    assert table_spec("DUDETAIL").entity == ("duid",)
    assert table_spec("DUDETAILSUMMARY").effective_date == "start_date"
    assert table_spec("MARKET_PRICE_THRESHOLDS").entity == ()
    assert table_spec("DISPATCHPRICE").effective_date is None


def test_dropped_columns_are_registered_and_overrides_apply():
    assert table_spec("DISPATCHCONSTRAINT").kinds["confidential_to"] == "string"
    assert table_spec("DISPATCHPRICE").kinds["dispatchinterval"] == "int"


@pytest.mark.parametrize(
    ("table", "versions"),
    [
        ("INTERCONNECTOR", (1,)),
        ("INTERCONNECTORCONSTRAINT", (1,)),
        ("LOSSFACTORMODEL", (1,)),
        ("LOSSMODEL", (1,)),
        ("MNSP_INTERCONNECTOR", (2,)),
        ("DISPATCHINTERCONNECTORRES", (1, 3)),
        ("MNSP_PEROFFER", (1,)),
        ("MNSP_DAYOFFER", (1, 2)),
    ],
)
def test_network_tables_are_registered_with_the_versions_seen(table: str, versions):
    assert table_spec(table).versions == versions


def test_network_table_specs():
    assert table_spec("LOSSMODEL").kinds["losssegment"] == "int"
    assert table_spec("LOSSMODEL").entity == ("interconnectorid",)  # a version is a whole curve
    assert table_spec("LOSSFACTORMODEL").entity == ("interconnectorid",)
    assert table_spec("INTERCONNECTORCONSTRAINT").entity == ("interconnectorid",)
    assert table_spec("MNSP_INTERCONNECTOR").entity == ("linkid",)
    interconnector = table_spec("INTERCONNECTOR")
    assert interconnector.time_column == "lastchanged" and interconnector.time_optional
    assert interconnector.standing and interconnector.required_columns == ()


def test_pricing_run_tables_need_intervention():
    for table in (
        "DISPATCHPRICE",
        "DISPATCHLOAD",
        "DISPATCHREGIONSUM",
        "DISPATCHINTERCONNECTORRES",
    ):
        spec = table_spec(table)
        assert spec.pricing_run and spec.required_columns == ("settlementdate", "intervention")
    assert not table_spec("TRADINGPRICE").pricing_run  # no INTERVENTION column in v5.7
    assert not table_spec("DISPATCHCONSTRAINT").pricing_run


def test_rows_are_identified_without_constant_or_derived_key_columns():
    assert table_spec("DISPATCHPRICE").identity == ("settlementdate", "intervention", "regionid")
    assert table_spec("DISPATCHLOAD").identity == ("settlementdate", "intervention", "duid")
    assert table_spec("TRADINGPRICE").identity == ("settlementdate", "regionid")
    assert table_spec("DUDETAIL").identity == table_spec("DUDETAIL").primary_key


def test_nem12_table_is_known():
    assert table_spec("nem12_interval") is NEM12_INTERVAL
    assert NEM12_INTERVAL.time_column == "interval_datetime"


def test_unknown_table_is_an_input_error():
    with pytest.raises(InputError, match="unknown table 'NOPE'"):
        table_spec("NOPE")
