"""NEMOSIS caches (Parquet, Feather) and SQLite databases of MMS tables: ingested as MMS files
are, typed by the same rules, every row stored or counted."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest

from bidstack.cli import main
from bidstack.io import ingest, read, read_manifest, table_spec

PRICES = {
    "SETTLEMENTDATE": ["2022/01/01 00:05:00", "2022/01/01 00:10:00"],
    "REGIONID": ["NSW1", "NSW1"],
    "INTERVENTION": ["0", "0"],
    "RRP": ["124.85631", "-1000"],
    "PRICE_STATUS": ["FIRM", None],
    "__index_level_0__": [0, 1],
}
CACHE = "PUBLIC_DVD_DISPATCHPRICE_202201010000"


def cache(path: Path, columns: dict[str, list]) -> Path:
    """A NEMOSIS-style cache: every column text (bar pandas' index), Parquet or Feather."""
    table = pa.table(
        {
            name: pa.array(values, pa.int64() if name.startswith("__") else pa.string())
            for name, values in columns.items()
        }
    )
    if path.suffix == ".feather":
        feather.write_feather(table, path)
    else:
        pq.write_table(table, path)
    return path


def issues(outcome, severity: str) -> list[str]:
    return [str(issue) for issue in outcome.report.issues if issue.severity == severity]


@pytest.mark.parametrize("suffix", [".parquet", ".feather"])
def test_a_text_cache_is_typed_like_an_mms_csv(tmp_path: Path, suffix: str):
    path = cache(tmp_path / (CACHE + suffix), PRICES)
    store = tmp_path / "store"
    [outcome] = ingest([path], store)
    assert (outcome.status, outcome.detail) == ("ingested", "2 rows (dispatchprice 2)")
    assert outcome.report.kind == suffix[1:] and outcome.report.issues == []
    frame = read(store, "DISPATCHPRICE", "2022-01-01", "2022-01-01 00:10").collect()
    assert frame.select("settlementdate", "intervention", "rrp", "price_status").rows() == [
        (datetime(2022, 1, 1, 0, 5), 0, 124.85631, "FIRM"),
        (datetime(2022, 1, 1, 0, 10), 0, -1000.0, None),
    ]
    assert frame.schema == table_spec("DISPATCHPRICE").polars_schema
    entry = read_manifest(store)["sources"][str(path.resolve())]
    assert entry["rows"] == {"dispatchprice": 2} and len(entry["sha256"]) == 64


def test_bad_values_in_a_cache_reject_their_rows_naming_file_table_row_and_column(
    tmp_path: Path, monkeypatch
):
    monkeypatch.setattr("bidstack.io.tabular.BATCH_ROWS", 2)  # row numbers run across batches
    rows = {
        "SETTLEMENTDATE": [
            "2022/01/01 00:05:00",
            "2022/01/01 00:10:00",
            "2022/13/01 00:15:00",
            None,
            "2022-01-01 00:20:00",
        ],
        "REGIONID": ["NSW1"] * 5,
        "INTERVENTION": ["0", "0", "0", "0", "0.0"],
        "RRP": ["1", "high", "3", "4", "5"],
    }
    path = cache(tmp_path / (CACHE + ".parquet"), rows)
    [outcome] = ingest([path], tmp_path / "store")
    where = f"{path}[DISPATCHPRICE]"
    assert issues(outcome, "rejected") == [
        f"{where} row 2: bad float in RRP: 'high' (1 row rejected)",
        f"{where} row 3: bad datetime in SETTLEMENTDATE: '2022/13/01 00:15:00' (1 row rejected)",
        f"{where} row 4: no SETTLEMENTDATE value (1 row rejected)",
    ]
    assert outcome.failed and outcome.report.rows["dispatchprice"] == 2
    assert read(tmp_path / "store", "DISPATCHPRICE").collect()["rrp"].to_list() == [1.0, 5.0]


def test_a_cache_column_the_table_does_not_have_is_dropped_with_a_warning(tmp_path: Path):
    path = cache(tmp_path / (CACHE + ".parquet"), PRICES | {"NEWCOLUMN": ["1", "2"]})
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "warning") == [
        f"{path}[DISPATCHPRICE]: DISPATCHPRICE: column(s) NEWCOLUMN are not in DISPATCHPRICE of "
        "the MMS Data Model v5.7 (a newer version?): dropped, the other columns stored"
    ]
    assert outcome.report.rows["dispatchprice"] == 2


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            {"INTERVENTION": None},
            "no INTERVENTION column (it tells the pricing run, 0, from intervention runs)",
        ),
        ({"SETTLEMENTDATE": None}, "no SETTLEMENTDATE column"),
    ],
)
def test_a_cache_whose_columns_cannot_be_stored_is_skipped_and_counted(
    tmp_path: Path, change, reason
):
    columns = {name: values for name, values in (PRICES | change).items() if values is not None}
    path = cache(tmp_path / (CACHE + ".parquet"), columns)
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "skipped") == [
        f"{path}[DISPATCHPRICE]: DISPATCHPRICE: {reason} (2 rows skipped)"
    ]
    assert outcome.status == "ingested" and not outcome.failed
    assert not any((tmp_path / "store").glob("*/month=*/*.parquet"))


def test_a_cache_and_aemo_s_file_of_the_same_intervals_read_once(tmp_path: Path, write_mms):
    # NEMOSIS drops RUNNO and DISPATCHINTERVAL: the rows are still AEMO's rows, read once
    store = tmp_path / "store"
    ingest([cache(tmp_path / (CACHE + ".parquet"), PRICES)], store)
    columns = ("SETTLEMENTDATE", "RUNNO", "REGIONID", "DISPATCHINTERVAL", "INTERVENTION", "RRP",
               "LASTCHANGED")  # fmt: skip
    row = ["2022/01/01 00:05:00", "1", "NSW1", "20211231241", "0", "124.85631",
           "2022/01/01 00:00:03"]  # fmt: skip
    ingest([write_mms("aemo.csv", ("DISPATCH", "PRICE", 5, columns, [row]))], store)
    assert read(store, "DISPATCHPRICE", raw=True).collect().height == 3
    frame = read(store, "DISPATCHPRICE").collect()
    assert frame.select("settlementdate", "runno", "rrp").rows() == [
        (datetime(2022, 1, 1, 0, 5), 1, 124.85631),
        (datetime(2022, 1, 1, 0, 10), None, -1000.0),
    ]


def test_an_empty_cache_of_null_columns_is_ingested_as_no_rows(tmp_path: Path):
    # NEMOSIS writes a window with no rows as columns of type null
    path = tmp_path / "PUBLIC_DVD_BIDPEROFFER_D_20220101.parquet"
    names = ("SETTLEMENTDATE", "DUID", "BIDTYPE", "MAXAVAIL", "INTERVAL_DATETIME")
    pq.write_table(pa.table({name: pa.nulls(0) for name in names}), path)
    [outcome] = ingest([path], tmp_path / "store")
    assert (outcome.status, outcome.detail, outcome.report.issues) == ("ingested", "0 rows", [])


def test_a_cache_is_ingested_once(tmp_path: Path):
    path = cache(tmp_path / (CACHE + ".parquet"), PRICES)
    copy = tmp_path / "copy" / path.name
    copy.parent.mkdir()
    shutil.copy(path, copy)
    store = tmp_path / "store"
    assert [o.status for o in ingest([path, copy], store)] == ["ingested", "duplicate"]
    assert [o.status for o in ingest([path], store)] == ["unchanged"]
    assert read(store, "DISPATCHPRICE").collect().height == 2


def nempy_like(path: Path) -> Path:
    """A database as nempy writes it: MMS table names, text dates, REAL numbers, flags as text
    ('0.0'), no INTERVENTION, INTERCONNECTOR without LASTCHANGED, and a table of its own."""
    with closing(sqlite3.connect(path)) as database:
        database.executescript(
            """
            CREATE TABLE "DISPATCHLOAD" ("SETTLEMENTDATE" TEXT, "DUID" TEXT, "DISPATCHMODE" TEXT,
                                         "TOTALCLEARED" REAL);
            INSERT INTO DISPATCHLOAD VALUES ('2024/07/10 12:05:00', 'ADPBA1G', '0.0', 6.0),
                                            ('2024/07/10 12:05:00', 'AGLHAL', '1.0', 'x'),
                                            ('2024/07/10 12:05:00', 'BW01', '0.5', 500.0),
                                            ('2024/07/10 12:05:00', 'ER01', '2', 650.5);
            CREATE TABLE "INTERCONNECTOR" ("INTERCONNECTORID" TEXT, "REGIONFROM" TEXT,
                                           "REGIONTO" TEXT);
            INSERT INTO INTERCONNECTOR VALUES ('VIC1-NSW1', 'VIC1', 'NSW1'),
                                              ('V-SA', 'VIC1', 'SA1');
            CREATE TABLE "FLEET" ("DUID" TEXT);
            INSERT INTO FLEET VALUES ('A'), ('B'), ('C');
            """
        )
    return path


def test_a_database_ingests_its_mms_tables_and_reports_the_others(tmp_path: Path):
    path = nempy_like(tmp_path / "market_management_system.db")
    store = tmp_path / "store"
    [outcome] = ingest([path], store)
    assert outcome.status == "ingested" and outcome.report.kind == "sqlite"
    assert dict(outcome.report.rows) == {"dispatchload": 2, "interconnector": 2}
    assert issues(outcome, "skipped") == [
        f"{path}[FLEET]: not an MMS table name; not read (3 rows skipped)"
    ]
    assert issues(outcome, "warning") == [
        f"{path}[DISPATCHLOAD]: DISPATCHLOAD has no INTERVENTION column: stored as "
        "INTERVENTION = 0, the pricing run (a database such as nempy's holds the pricing run only)"
    ]
    assert issues(outcome, "rejected") == [  # column by column, as in an MMS CSV
        f"{path}[DISPATCHLOAD] row 3: bad int in DISPATCHMODE: '0.5' (1 row rejected)",
        f"{path}[DISPATCHLOAD] row 2: bad float in TOTALCLEARED: 'x' (1 row rejected)",
    ]
    units = read(store, "DISPATCHLOAD", "2024-07-10 12:00", "2024-07-10 12:05").collect()
    assert units.select("duid", "intervention", "dispatchmode", "totalcleared").rows() == [
        ("ADPBA1G", 0, 0, 6.0),
        ("ER01", 0, 2, 650.5),
    ]
    assert [o.status for o in ingest([path], store)] == ["unchanged"]


def test_rows_without_a_time_outside_the_key_are_stored_undated(tmp_path: Path):
    store = tmp_path / "store"
    ingest([nempy_like(tmp_path / "mms.db")], store)
    [stored] = (store / "interconnector").rglob("*.parquet")
    assert stored.parent.name == "month=undated"
    assert pq.read_schema(stored) == table_spec("INTERCONNECTOR").arrow_schema
    for window in [
        (None, None),
        ("2024-07-10 12:00", "2024-07-10 12:05"),
        ("1999-01-01", "1999-01-02"),
    ]:
        links = read(store, "INTERCONNECTOR", *window).collect()
        assert links.select("interconnectorid", "regionfrom", "regionto").rows() == [
            ("V-SA", "VIC1", "SA1"),
            ("VIC1-NSW1", "VIC1", "NSW1"),
        ]


# the real caches and database in ../shared/data/mms


def test_dataset_a_caches_give_the_market_of_2022_01_01(mms_dir: Path, tmp_path: Path, capsys):
    """fidelity.md §1: nem-bidding-dashboard's NEMOSIS caches and the registration derived from
    its workbook: 48 intervals, 5 regions, 369 units with energy bids."""
    folder = mms_dir / "fullmarket/nem-bidding-dashboard"
    store = tmp_path / "store"
    assert main(["ingest", str(folder), "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith("11 files: 10 ingested, 1 not-mms;")
    assert "0 rows rejected" in out.splitlines()[-1]
    window = ("2022-01-01 00:00", "2022-01-01 04:00")

    bids = read(store, "BIDPEROFFER_D", *window).collect()
    assert set(bids["bidtype"]) == {"ENERGY"}
    assert (bids["interval_datetime"].n_unique(), bids["duid"].n_unique()) == (48, 369)
    assert bids.height == 48 * 369
    assert bids.schema["bandavail1"] == pl.Float64 and bids.schema["maxavail"] == pl.Float64
    prices = read(store, "BIDDAYOFFER_D", *window).collect()
    assert prices["duid"].n_unique() == 369 and prices.schema["priceband1"] == pl.Float64

    units = read(store, "DISPATCHLOAD", *window).collect()
    assert (units["settlementdate"].n_unique(), units["duid"].n_unique()) == (48, 390)
    assert units.height == 48 * 390
    assert units.schema["dispatchmode"] == pl.Int64 and units.schema["availability"] == pl.Float64
    for table in ("DISPATCHPRICE", "DISPATCHREGIONSUM"):
        frame = read(store, table, *window).collect()
        assert frame.height == 240 and frame["regionid"].n_unique() == 5, table
    for table in ("DUDETAILSUMMARY", "DUDETAIL"):
        assert read(store, table, *window).collect()["duid"].n_unique() == 497, table


def test_nempy_database_gives_the_network_of_2024_07_10(mms_dir: Path, tmp_path: Path):
    """fidelity.md §4: nempy's database, one interval (2024-07-10 12:05) with its network."""
    store = tmp_path / "store"
    [outcome] = ingest([mms_dir / "nempy/market_management_system.db"], store)
    assert outcome.status == "ingested" and outcome.report.rejected_rows == 0
    assert outcome.report.skipped_rows == 0
    warned = {issue.where.rsplit("[", 1)[1] for issue in outcome.report.issues}
    assert warned == {
        "DISPATCHINTERCONNECTORRES]",
        "DISPATCHLOAD]",
        "DISPATCHPRICE]",
        "DISPATCHREGIONSUM]",
    }
    window = ("2024-07-10 12:00", "2024-07-10 12:05")

    def rows(table: str) -> pl.DataFrame:
        return read(store, table, *window).collect()

    constraints = rows("INTERCONNECTORCONSTRAINT")
    assert constraints["interconnectorid"].n_unique() == constraints.height == 6
    [vic_nsw] = constraints.filter(interconnectorid="VIC1-NSW1").rows(named=True)
    assert (vic_nsw["fromregionlossshare"], vic_nsw["lossconstant"], vic_nsw["ictype"]) == (
        0.36,
        1.1041,
        "REGULATED",
    )
    assert (vic_nsw["importlimit"], vic_nsw["exportlimit"]) == (2299.0, 2399.0)
    losses = rows("LOSSMODEL")
    assert losses.height == 532 and losses.schema["losssegment"] == pl.Int64
    assert rows("LOSSFACTORMODEL").height == 10
    assert rows("LOSSFACTORMODEL").filter(interconnectorid="VIC1-NSW1")[
        "regionid"
    ].sort().to_list() == [
        "NSW1",
        "SA1",
        "VIC1",
    ]
    links = rows("MNSP_INTERCONNECTOR")
    assert links.height == 8
    [basslink_tas] = links.filter(linkid="BLNKTAS").rows(named=True)
    assert (basslink_tas["to_region_tlf"], basslink_tas["maxcapacity"]) == (0.9777, 594.0)
    flows = rows("DISPATCHINTERCONNECTORRES")
    assert flows.height == 6 and set(flows["intervention"]) == {0}
    assert rows("INTERCONNECTOR").height == 8
    summary = rows("DUDETAILSUMMARY")
    assert summary.height == 681
    assert summary.schema["distributionlossfactor"] == pl.Float64
    assert summary.schema["secondary_tlf"] == pl.Float64
    assert summary["secondary_tlf"].drop_nulls().len() > 0
    for table, count in (("DISPATCHLOAD", 497), ("DISPATCHPRICE", 5), ("DISPATCHREGIONSUM", 5)):
        assert rows(table).height == count, table
