"""Every real sample file in ../shared/data/mms ingests, with the rows and values it holds."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from bidstack.io import Store, read, read_effective
from bidstack.io.schema import resolve, table_spec

from iohelpers import NOT_MMS, Ingested, manifest_counts, manifest_table_rows

STAGE_TABLES = (
    "DUDETAIL",
    "DUDETAILSUMMARY",
    "BIDDAYOFFER_D",
    "BIDPEROFFER_D",
    "DISPATCHLOAD",
    "DISPATCH_LOCAL_PRICE",
    "DISPATCHPRICE",
    "TRADINGPRICE",
    "DISPATCHREGIONSUM",
    "DISPATCH_UNIT_SCADA",
    "MARKET_PRICE_THRESHOLDS",
)


def test_every_mms_file_ingests_and_the_others_are_reported(
    samples: Ingested, mms_dir: Path, manifest_rows
):
    files = {str(p.relative_to(mms_dir)) for p in mms_dir.rglob("*") if p.is_file()}
    listed = {row["local_path"] for row in manifest_rows} | {"MANIFEST.tsv"}
    assert files == listed, "every sample file is listed in MANIFEST.tsv"
    assert set(samples.outcomes) == files
    for name, outcome in samples.outcomes.items():
        if name in NOT_MMS:
            assert outcome.status == "not-mms", name
            assert outcome.detail.startswith("not an MMS file"), name
        else:
            assert outcome.status == "ingested", (name, outcome.detail)
            assert outcome.report.rejected_rows == 0, outcome.report.issues


def test_both_archive_name_eras_are_present(samples: Ingested):
    names = [Path(name).name for name in samples.outcomes]
    assert any(name.startswith("PUBLIC_DVD_BIDPEROFFER_D_") for name in names)
    assert any(name.startswith("PUBLIC_ARCHIVE%23BIDPEROFFER_D%23FILE01%23") for name in names)


def test_row_counts_per_table_match_the_manifest(samples: Ingested, manifest_rows):
    checked = 0
    for row in manifest_rows:
        expected = manifest_counts(row["contents"])
        if not expected:
            continue
        report = samples.outcomes[row["local_path"]].report
        assert report.kind == "mms", row["local_path"]
        stored: dict[str, int] = {}
        skipped = 0
        for (namespace, name), rows in expected.items():
            spec = resolve(namespace, name)
            if spec is None:
                skipped += rows
            else:
                stored[spec.store_name] = stored.get(spec.store_name, 0) + rows
        assert {t: n for t, n in stored.items() if n} == dict(report.rows), row["local_path"]
        assert report.skipped_rows == skipped, row["local_path"]
        checked += 1
    caches = [row for row in manifest_rows if row["contents"].startswith(("parquet", "SQLite"))]
    for row in caches:
        report = samples.outcomes[row["local_path"]].report
        stored = {
            table.lower(): rows for table, rows in manifest_table_rows(row["contents"]).items()
        }
        if report.kind == "sqlite":  # the manifest names some of the database's tables
            assert {table: report.rows[table] for table in stored} == stored
        else:
            assert dict(report.rows) == {t: n for t, n in stored.items() if n}, row["local_path"]
        checked += 1
    assert caches and checked == len(manifest_rows) + 1 - len(NOT_MMS)


def test_closing_count_kept_by_nemosis_is_a_warning_naming_file_and_line(samples: Ingested):
    name = "nemosis/MMSDM_2024_09/PUBLIC_ARCHIVE%23BIDPEROFFER_D%23FILE01%23202409010000.zip"
    [warning] = samples.outcomes[name].report.issues
    assert warning.severity == "warning"
    assert warning.where.endswith("[PUBLIC_ARCHIVE#BIDPEROFFER_D#FILE01#202409010000.CSV]:11523")
    assert "closing count 15838830 disagrees with the 11523 lines read" in warning.message


def test_genuine_nemweb_reports_need_no_warning(samples: Ingested):
    for name in ("nemweb-lab/sample_dispatchis.csv", "nemweb-lab/sample_dispatchscada.csv"):
        assert samples.outcomes[name].report.issues == []


def test_aglhal_energy_price_bands_for_2024_09_01(samples: Ingested):
    bids = read(samples.store, "BIDDAYOFFER_D", "2024-09-01 04:00", "2024-09-02 04:00", ["AGLHAL"])
    row = bids.collect().row(0, named=True)
    bands = [row[f"priceband{band}"] for band in range(1, 11)]
    assert bands == [
        -956.5,
        0,
        274.41,
        363.46,
        566.14,
        956.39,
        3808.68,
        9469.24,
        15112.59,
        16738.75,
    ]
    assert (row["settlementdate"], row["bidtype"], row["direction"]) == (
        datetime(2024, 9, 1),
        "ENERGY",
        "GEN",
    )


@pytest.mark.parametrize(
    ("first_interval", "maxavail", "bandavail10", "direction", "recall_period"),
    [
        (datetime(2018, 4, 1, 4, 5), 205.0, 160.0, None, None),  # v2: DIRECTION did not exist
        (datetime(2024, 9, 1, 4, 5), 192.0, 255.0, "GEN", None),  # v3: INTERVAL_DATETIME moved
        (datetime(2026, 3, 1, 4, 5), 196.0, 255.0, "GEN", 24000.0),  # v4: RECALL_PERIOD added
    ],
)
def test_bidperoffer_versions_are_mapped_by_column_name(
    samples: Ingested, first_interval, maxavail, bandavail10, direction, recall_period
):
    start = first_interval.replace(minute=0)
    frame = read(samples.store, "BIDPEROFFER_D", start, first_interval, ["AGLHAL"]).collect()
    row = frame.row(0, named=True)
    assert frame.height == 1
    assert row["interval_datetime"] == first_interval
    assert row["settlementdate"] == first_interval.replace(hour=0, minute=0)
    assert (row["maxavail"], row["bandavail10"]) == (maxavail, bandavail10)
    assert row["direction"] == direction
    assert row["recall_period"] == recall_period
    assert row["periodid"] == 1


def test_multi_table_crlf_report_with_quoted_dates(samples: Ingested):
    report = samples.outcomes["nemweb-lab/sample_dispatchis.csv"].report
    assert dict(report.rows) == {
        "dispatchcasesolution": 1,
        "dispatch_local_price": 80,
        "dispatchprice": 5,
        "dispatchregionsum": 5,
        "dispatchinterconnectorres": 6,
        "dispatchconstraint": 876,
        "dispatch_interconnection": 3,
    }
    local = read(samples.store, "DISPATCH_LOCAL_PRICE", "2025-12-27", "2025-12-27 00:05").collect()
    by_unit = dict(zip(local["duid"], local["local_price_adjustment"], strict=True))
    assert (by_unit["ARWF1"], by_unit["BHB1"]) == (2.7, -16.81)
    assert local["locally_constrained"].to_list() == [1] * 80  # last field, before the CR
    flows = read(samples.store, "DISPATCH_INTERCONNECTION", "2025-12-27", "2025-12-28").collect()
    assert flows["lastchanged"].to_list() == [datetime(2025, 12, 27, 0, 0, 15)] * 3


@pytest.mark.parametrize("table", STAGE_TABLES)
def test_stage_tables_are_typed(samples: Ingested, table: str):
    frame = read(samples.store, table, raw=True).collect()
    assert frame.height > 0
    schema = frame.schema
    assert all(name == name.lower() for name in schema)
    for column, dtype in schema.items():
        if column in ("settlementdate", "interval_datetime", "effectivedate", "lastchanged"):
            assert dtype == pl.Datetime("us"), column
        if column in ("duid", "regionid", "bidtype"):
            assert dtype == pl.String, column
        if column in ("versionno", "runno", "intervention", "periodid"):
            assert dtype == pl.Int64, column
        if column in ("rrp", "totalcleared", "maxcapacity", "priceband1", "bandavail1"):
            assert dtype == pl.Float64, column


def test_dates_with_milliseconds_parse(samples: Ingested):
    offers = read(samples.store, "MNSP_DAYOFFER", "2024-08-01", "2024-08-02", raw=True).collect()
    assert datetime(2024, 7, 13, 10, 30, 1) in offers["offerdate"].to_list()


def test_report_name_rewritten_by_pandas_is_read_as_empty(samples: Ingested):
    name = "nemosis/MMSDM_2021_04/PUBLIC_DVD_GENCONDATA_202104010000.zip"
    report = samples.outcomes[name].report
    assert dict(report.rows) == {"gencondata": 13}
    assert any("'Unnamed: 2' read as empty" in issue.message for issue in report.issues)


def test_tables_outside_the_data_model_are_skipped_and_counted(samples: Ingested):
    name = "nemosis/Reports/Daily_Reports/PUBLIC_DAILY_202605140000_20260515040504.zip"
    report = samples.outcomes[name].report
    [skipped] = [issue for issue in report.issues if issue.severity == "skipped"]
    assert skipped.rows == 576
    assert skipped.where.endswith(":3")
    assert "DREGION" in skipped.message


def test_per_interval_bids_are_partitioned_by_trading_day(samples: Ingested):
    months = sorted(p.name for p in (samples.store / "bidperoffer_d").iterdir())
    assert "month=2024-09" in months and "month=2024-10" not in months
    after_midnight = read(
        samples.store, "BIDPEROFFER_D", "2024-10-01 03:50", "2024-10-01 04:00", ["AGLHAL"]
    ).collect()
    assert after_midnight["interval_datetime"].to_list() == [
        datetime(2024, 10, 1, 3, 55),
        datetime(2024, 10, 1, 4, 0),
    ]
    assert set(after_midnight["settlementdate"]) == {datetime(2024, 9, 30)}


INTERVAL = datetime(2024, 9, 1, 0, 5)


@pytest.mark.parametrize(
    ("table", "key", "expected"),
    [
        ("DISPATCHPRICE", {"regionid": "NSW1"}, {"rrp": 57.00002, "dispatchinterval": 20240831241}),
        ("TRADINGPRICE", {"regionid": "NSW1"}, {"rrp": 57.0, "periodid": 1}),
        (
            "DISPATCHREGIONSUM",
            {"regionid": "NSW1"},
            {"totaldemand": 6867.97, "availablegeneration": 12275.7871},
        ),
        ("DISPATCHLOAD", {"duid": "AGLHAL"}, {"connectionpointid": "SHPS1", "rampdownrate": 720}),
        ("DISPATCH_UNIT_SCADA", {"duid": "HDWF2"}, {"scadavalue": 67.8}),
    ],
)
def test_known_values_of_dispatch_tables(samples: Ingested, table, key, expected):
    frame = read(samples.store, table, "2024-09-01", INTERVAL).collect()
    [row] = frame.filter(**key).select(*expected).rows(named=True)
    assert row == expected


def test_known_values_of_registration_tables(samples: Ingested):
    on = datetime(2021, 1, 1)
    [summary] = (
        read_effective(samples.store, "DUDETAILSUMMARY", on, ["AGLHAL"]).collect().rows(named=True)
    )
    assert (summary["regionid"], summary["transmissionlossfactor"]) == ("SA1", 0.9666)
    [unit] = read_effective(samples.store, "DUDETAIL", on, ["AGLHAL"]).collect().rows(named=True)
    assert (unit["effectivedate"], unit["maxcapacity"]) == (datetime(2020, 1, 20), 255.0)
    [limits] = (
        read_effective(samples.store, "MARKET_PRICE_THRESHOLDS", on).collect().rows(named=True)
    )
    assert (limits["voll"], limits["marketpricefloor"]) == (15000.0, -1000.0)


def test_a_frame_of_every_sample_table_is_its_lazy_read(sample_ingest) -> None:
    """``Store.frame`` (only the asked columns read, rows in order not sorted again) gives the
    lazy read's rows in its order, for every table of the real samples, raw or not, whole and
    over a window of its times."""
    store, _ = sample_ingest
    opened = Store.open(store)
    tables = sorted(path.name for path in Path(store).iterdir() if path.is_dir())
    assert len(tables) > 20
    for table in tables:
        whole = opened.read(table).collect()
        time = table_spec(table).time_column
        windows = [(None, None)]
        if time and whole.schema[time].is_temporal() and whole[time].drop_nulls().len():
            windows.append((whole[time].min(), whole[time].max()))
        columns = [*whole.columns[:2], whole.columns[-1]]
        for raw in (False, True):
            for start, end in windows:
                lazy = opened.read(table, start, end, raw=raw).select(columns).collect()
                frame = opened.frame(table, columns, start, end, raw=raw)
                assert frame.equals(lazy), (table, raw, start)
