"""Bad input: each case gives one clear message naming file and line, and either skips what it
must (counted in the manifest) or stops before writing anything."""

from __future__ import annotations

import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import polars as pl
import pytest

from bidstack.io import ingest, read, read_manifest

from iohelpers import mms_text

PRICE = ("SETTLEMENTDATE", "RUNNO", "REGIONID", "DISPATCHINTERVAL", "INTERVENTION", "RRP")
GOOD = ["2024/09/01 00:05:00", "1", "NSW1", "20240901001", "0", "57.5"]
ALSO_GOOD = ["2024/09/01 00:10:00", "1", "NSW1", "20240901002", "0", "60"]


def prices(*rows: list[str]):
    return ("DISPATCH", "PRICE", 5, PRICE, rows)


def issues(outcome, severity: str) -> list[str]:
    return [str(issue) for issue in outcome.report.issues if issue.severity == severity]


def nothing_written(store: Path) -> bool:
    return not any(store.glob("*/month=*/*.parquet")) and not (store / "_staging").exists()


def test_wrong_field_count_rejects_the_row_and_names_file_and_line(write_mms, tmp_path: Path):
    path = write_mms("fields.csv", prices(GOOD, [*ALSO_GOOD, "extra"], GOOD[:4]))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected") == [
        f"{path}:4: D row has 11 fields; the I row at {path}:2 names 10 (1 row rejected)",
        f"{path}:5: D row has 8 fields; the I row at {path}:2 names 10 (1 row rejected)",
    ]
    assert outcome.failed and outcome.report.rows["dispatchprice"] == 1
    entry = read_manifest(tmp_path / "store")["sources"][str(path.resolve())]
    assert entry["counts"]["rejected_rows"] == 2


@pytest.mark.parametrize("chunk_bytes", [64, 1 << 20])
@pytest.mark.parametrize(("stray", "rejected"), [("", []), ("X,foo", ["starts 'X,foo'"])])
def test_a_section_with_no_d_rows_but_a_stray_line_is_read_on(
    tmp_path: Path, monkeypatch, chunk_bytes: int, stray: str, rejected: list[str]
):
    # header, I row, the stray line, I row, D row, closing row: the first section holds no D row
    monkeypatch.setattr("bidstack.io.chunks.CHUNK_BYTES", chunk_bytes)
    lines = mms_text(prices(), prices(GOOD), closing=6).splitlines(keepends=True)
    path = tmp_path / "stray.csv"
    path.write_text("".join([*lines[:2], stray + "\n", *lines[2:]]))
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status != "rejected", outcome.detail
    found = issues(outcome, "rejected")
    assert len(found) == len(rejected)
    for text, issue in zip(rejected, found, strict=True):
        assert issue.startswith(f"{path}:3: ") and text in issue
    assert outcome.report.rows["dispatchprice"] == 1


def test_a_byte_order_mark_is_read_past(tmp_path: Path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + mms_text(prices(GOOD, ALSO_GOOD)).encode())
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "ingested" and outcome.report.issues == []
    assert outcome.report.rows["dispatchprice"] == 2


def test_bad_date_rejects_the_row_naming_line_and_column(write_mms, tmp_path: Path):
    bad = ["2024/13/01 00:05:00", *GOOD[1:]]
    path = write_mms("date.csv", prices(GOOD, bad, ALSO_GOOD))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected") == [
        f"{path}:4: bad datetime in SETTLEMENTDATE: '2024/13/01 00:05:00' (1 row rejected)"
    ]
    assert read(tmp_path / "store", "DISPATCHPRICE", raw=True).collect().height == 2


def test_bad_number_rejects_the_row_naming_line_and_column(write_mms, tmp_path: Path):
    path = write_mms("number.csv", prices(GOOD, [*ALSO_GOOD[:5], "sixty"]))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected") == [f"{path}:4: bad float in RRP: 'sixty' (1 row rejected)"]
    assert outcome.report.rows["dispatchprice"] == 1


def test_missing_interval_time_rejects_the_row(write_mms, tmp_path: Path):
    path = write_mms("time.csv", prices(GOOD, ["", *ALSO_GOOD[1:]]))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected") == [f"{path}:4: no SETTLEMENTDATE value (1 row rejected)"]


BIDS = ("SETTLEMENTDATE", "DUID", "BIDTYPE", "INTERVAL_DATETIME", "OFFERDATE", "MAXAVAIL")
BID = ["2024/09/01 00:00:00", "AGLHAL", "ENERGY", "2024/09/01 04:05:00", "2024/08/31 10:00:00", "5"]


def test_a_bid_without_its_trading_day_is_rejected_not_stored(write_mms, tmp_path: Path):
    # BIDPEROFFER_D filters on INTERVAL_DATETIME but is partitioned by SETTLEMENTDATE
    section = ("BID", "BIDPEROFFER_D", 3, BIDS, [BID, ["", *BID[1:]]])
    path = write_mms("bids.csv", section)
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected") == [f"{path}:4: no SETTLEMENTDATE value (1 row rejected)"]
    assert outcome.report.rows["bidperoffer_d"] == 1
    without = ("BID", "BIDPEROFFER_D", 3, BIDS[1:], [BID[1:]])
    [outcome] = ingest([write_mms("nodate.csv", without)], tmp_path / "store")
    assert any("no SETTLEMENTDATE column" in issue for issue in issues(outcome, "skipped"))


LINKS = ("INTERCONNECTORID", "REGIONFROM", "REGIONTO", "LASTCHANGED")


def test_a_row_without_a_time_outside_the_key_is_stored_undated(write_mms, tmp_path: Path):
    # INTERCONNECTOR's time, LASTCHANGED, is optional in the data model: not part of the key
    rows = [["VIC1-NSW1", "VIC1", "NSW1", "2008/06/18 15:53:23"], ["V-SA", "VIC1", "SA1", ""]]
    path = write_mms("links.csv", ("MARKET_CONFIG", "INTERCONNECTOR", 1, LINKS, rows))
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.report.issues == [] and outcome.report.rows["interconnector"] == 2
    months = sorted(p.name for p in (tmp_path / "store" / "interconnector").iterdir())
    assert months == ["month=2008-06", "month=undated"]
    assert (
        read(tmp_path / "store", "INTERCONNECTOR", "2024-01-01", "2024-01-02").collect().height == 2
    )
    without = ("MARKET_CONFIG", "INTERCONNECTOR", 1, LINKS[:3], [row[:3] for row in rows])
    [outcome] = ingest([write_mms("nolastchanged.csv", without)], tmp_path / "store")
    assert outcome.report.issues == [] and outcome.report.rows["interconnector"] == 2


def test_a_pricing_run_row_without_intervention_is_rejected(write_mms, tmp_path: Path):
    path = write_mms("run.csv", prices(GOOD, [*ALSO_GOOD[:4], "", ALSO_GOOD[5]]))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected") == [f"{path}:4: no INTERVENTION value (1 row rejected)"]
    without = ("DISPATCH", "PRICE", 5, PRICE[:4] + PRICE[5:], [GOOD[:4] + GOOD[5:]])
    [outcome] = ingest([write_mms("norun.csv", without)], tmp_path / "store")
    assert issues(outcome, "skipped") == [
        f"{tmp_path / 'norun.csv'}:2: DISPATCH.PRICE v5: no INTERVENTION column (it tells the "
        "pricing run, 0, from intervention runs) (1 row skipped)"
    ]


def test_invalid_utf8_rejects_the_row(tmp_path: Path):
    text = mms_text(prices(GOOD, [*ALSO_GOOD[:2], "N\xffSW1", *ALSO_GOOD[3:]]))
    path = tmp_path / "latin1.csv"
    path.write_bytes(text.encode("latin-1"))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected") == [f"{path}:4: not valid UTF-8 text (1 row rejected)"]
    assert outcome.report.rows["dispatchprice"] == 1


def test_unknown_table_is_skipped_and_counted(write_mms, tmp_path: Path):
    path = write_mms(
        "unknown.csv", ("DREGION", "", 3, ["SETTLEMENTDATE", "RRP"], [["x", "1"]] * 4), prices(GOOD)
    )
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "skipped") == [
        f"{path}:2: DREGION.- v3: no such table in the MMS Data Model v5.7 (4 rows skipped)"
    ]
    assert not outcome.failed and outcome.report.rows["dispatchprice"] == 1
    entry = read_manifest(tmp_path / "store")["sources"][str(path.resolve())]
    assert entry["counts"]["skipped_rows"] == 4


def test_an_unknown_column_is_dropped_and_the_section_stored(write_mms, tmp_path: Path):
    path = write_mms("column.csv", ("DISPATCH", "PRICE", 5, [*PRICE, "NEWCOLUMN"], [[*GOOD, "1"]]))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "warning") == [
        f"{path}:2: DISPATCH.PRICE v5: column(s) NEWCOLUMN are not in DISPATCHPRICE of the MMS "
        "Data Model v5.7 (a newer version?): dropped, the other columns stored"
    ]
    assert outcome.report.rows["dispatchprice"] == 1 and not outcome.failed


def test_unknown_version_with_known_columns_is_stored_with_a_warning(write_mms, tmp_path: Path):
    path = write_mms("version.csv", ("DISPATCH", "PRICE", 9, PRICE, [GOOD]))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "warning") == [
        f"{path}:2: DISPATCH.PRICE v9 is a version bidstack was not checked against "
        "(checked: 1, 4, 5); columns matched by name"
    ]
    assert outcome.report.rows["dispatchprice"] == 1


def test_rows_outside_a_section_are_rejected(tmp_path: Path):
    path = tmp_path / "orphans.csv"
    text = mms_text(prices(GOOD)).replace("I,DISPATCH", "D,DISPATCH,PRICE,5,x\nI,DISPATCH", 1)
    path.write_text(text)
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected")[0].startswith(f"{path}:2: rows before any I row")


def test_closing_count_disagreeing_is_a_warning_by_default(write_mms, tmp_path: Path):
    path = write_mms("count.csv", prices(GOOD), closing=99)
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "warning") == [
        f"{path}:4: closing count 99 disagrees with the 4 lines read; "
        "accepted (rewritten by a tool?)"
    ]
    assert outcome.status == "ingested"


def test_closing_count_disagreeing_stops_before_writing_when_strict(write_mms, tmp_path: Path):
    path = write_mms("count.csv", prices(GOOD), closing=99)
    store = tmp_path / "store"
    [outcome] = ingest([path], store, strict=True)
    assert outcome.status == "rejected"
    assert outcome.detail == (
        f"{path}:4: closing count 99 disagrees with the 4 lines read; nothing was stored from it"
    )
    assert nothing_written(store)
    assert read_manifest(store)["rejected"][str(path.resolve())]["reason"] == outcome.detail


def test_truncated_csv_stops_before_writing(write_mms, tmp_path: Path):
    path = write_mms("cut.csv", prices(GOOD, ALSO_GOOD))
    path.write_bytes(path.read_bytes().rsplit(b"\n", 2)[0])
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "rejected"
    assert outcome.detail.startswith(f'{path}:4: file ends without its C,"END OF REPORT" row')
    assert nothing_written(tmp_path / "store")


def zipped(tmp_path: Path, rows: int = 2000) -> Path:
    path = tmp_path / "PUBLIC_DVD_DISPATCHPRICE_202409010000.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "PUBLIC_DVD_DISPATCHPRICE_202409010000.CSV",
            mms_text(prices(*[[*GOOD[:5], str(i)] for i in range(rows)])),
        )
    return path


def test_a_zip_member_that_is_not_mms_is_reported(tmp_path: Path):
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("PUBLIC_DVD_DISPATCHPRICE.CSV", mms_text(prices(GOOD)))
        archive.writestr("other.csv", "name,value\nx,1\n")
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.report.rows["dispatchprice"] == 1
    assert issues(outcome, "skipped") == [f"{path}[other.csv]: not an MMS or NEM12 CSV; not read"]


def test_truncated_zip_stops_before_writing(tmp_path: Path):
    path = zipped(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "rejected"
    assert outcome.detail.startswith(f"{path}: truncated or corrupt zip")
    assert nothing_written(tmp_path / "store")


def test_corrupt_zip_data_stops_before_writing(tmp_path: Path):
    path = zipped(tmp_path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "rejected"
    assert outcome.detail.startswith(f"{path}[PUBLIC_DVD_DISPATCHPRICE_202409010000.CSV]: ")
    assert "truncated or corrupt zip" in outcome.detail
    assert outcome.detail.endswith("; nothing was stored from it")
    assert nothing_written(tmp_path / "store")


def sqlite_file(path: Path, *tables: str) -> Path:
    with closing(sqlite3.connect(path)) as database:
        for table in tables:
            database.execute(f"CREATE TABLE {table} (x TEXT)")
        database.commit()
    return path


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.csv", b"", "empty file"),
        ("book.csv", b"name,value\nx,1\n", "first line starts 'name,value'"),
        ("prices.parquet", None, "a Parquet file whose name names no table in the MMS"),
        (
            "PUBLIC_DAILY_REGION_SUMMARY_20240901.parquet",
            None,
            "names a table DAILY_REGION_SUMMARY not in the MMS Data Model",
        ),
        ("data.db", "notes", "SQLite database with no table named as an MMS table (tables: notes)"),
    ],
)
def test_other_files_are_reported_as_not_mms(tmp_path: Path, name, content, reason):
    path = tmp_path / name
    if content is None:
        pl.DataFrame({"x": [1]}).write_parquet(path)
    elif isinstance(content, str):
        sqlite_file(path, content)
    else:
        path.write_bytes(content)
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "not-mms"
    assert outcome.detail.startswith("not an MMS file") and reason in outcome.detail


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("PUBLIC_DVD_DISPATCHPRICE_202409010000.zip", b"", "empty, though named .zip"),
        ("download.zip", b"<html>503</html>", "not a zip archive, though named .zip"),
        ("PUBLIC_DVD_DISPATCHPRICE_2024.parquet", b"", "empty, though named .parquet"),
        ("PUBLIC_DVD_DISPATCHPRICE_2024.parquet", b"PAR1" + bytes(40), "cannot be read as Parquet"),
        (
            "PUBLIC_DVD_DISPATCHPRICE_2024.feather",
            b"ARROW1" + bytes(40),
            "cannot be read as Feather",
        ),
        ("cut.CSV", mms_text(prices(GOOD)).split("\n", 1)[1].encode(), "without its first C row"),
        ("cut2.csv", mms_text(prices(GOOD)).split("\n", 2)[2].encode(), "without its first C row"),
        ("mms.db", b"SQLite format 3\x00" + bytes(200), "not a readable SQLite database"),
    ],
)
def test_damaged_files_are_rejected_not_reported_as_not_mms(tmp_path: Path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "rejected" and outcome.failed
    assert outcome.detail.startswith(str(path)) and reason in outcome.detail
    assert outcome.detail.endswith("nothing was stored from it")
    assert nothing_written(tmp_path / "store")


def test_a_zip_member_without_its_first_c_row_rejects_the_zip(tmp_path: Path):
    path = tmp_path / "cut.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("PUBLIC_X.CSV", mms_text(prices(GOOD)).split("\n", 1)[1])
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "rejected"
    assert outcome.detail.startswith(f"{path}[PUBLIC_X.CSV]: an MMS file without its first C row")


def test_each_report_of_a_file_is_counted_from_its_own_header(tmp_path: Path):
    # two reports in one file, as AEMO's current reports come: each closing count covers its
    # own report (4 lines each), not the file from its start
    path = tmp_path / "two.csv"
    path.write_text(mms_text(prices(GOOD)) + mms_text(prices(ALSO_GOOD)))
    [outcome] = ingest([path], tmp_path / "store", strict=True)
    assert outcome.status == "ingested" and outcome.report.issues == []
    assert outcome.report.rows == {"dispatchprice": 2}


@pytest.mark.parametrize("closing", [3, 5])
def test_a_closing_count_off_by_one_is_not_accepted(tmp_path: Path, closing: int):
    path = tmp_path / "off.csv"
    path.write_text(mms_text(prices(GOOD)) + mms_text(prices(ALSO_GOOD), closing=closing))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "warning") == [
        f"{path}:8: closing count {closing} disagrees with the 4 lines read; "
        "accepted (rewritten by a tool?)"
    ]
    [strict] = ingest([path], tmp_path / "strict", strict=True)
    assert strict.status == "rejected" and "closing count" in strict.detail


def test_a_row_without_a_value_in_its_key_is_rejected(write_mms, tmp_path: Path):
    """A DISPATCHPRICE row without its REGIONID would be read as every region's row of its
    interval: rejected by line, naming the column."""
    path = write_mms("noregion.csv", prices(GOOD, [*ALSO_GOOD[:2], "", *ALSO_GOOD[3:]]))
    [outcome] = ingest([path], tmp_path / "store")
    assert issues(outcome, "rejected") == [f"{path}:4: no REGIONID value (1 row rejected)"]
    assert outcome.report.rows["dispatchprice"] == 1


def test_a_source_without_a_key_column_is_rejected_whole(write_mms, tmp_path: Path):
    """A file (or a cache) lacking REGIONID: its rows cannot be told apart, so none is stored
    rather than one region's price kept and the rest read as it."""
    other = [*GOOD[:2], "VIC1", *GOOD[3:5], "70"]
    without = tuple(c for c in PRICE if c != "REGIONID")
    rows = [
        [v for c, v in zip(PRICE, row, strict=True) if c != "REGIONID"] for row in (GOOD, other)
    ]
    path = write_mms("noregioncolumn.csv", ("DISPATCH", "PRICE", 5, without, rows))
    [outcome] = ingest([path], tmp_path / "store")
    [issue] = issues(outcome, "rejected")
    assert "no row of DISPATCHPRICE has a REGIONID value" in issue and "(2 rows rejected)" in issue
    assert outcome.report.rows["dispatchprice"] == 0
    assert read(tmp_path / "store", "DISPATCHPRICE").collect().is_empty()


def test_a_key_repeated_in_one_file_with_other_values_is_refused_not_read_as_one(
    write_mms, tmp_path: Path
):
    """NSW1's 00:05 price twice in one file, 57.5 then 99: the second is rejected and counted
    (read would have returned one of the two, saying nothing); the same row twice is no
    conflict."""
    twice = [*GOOD[:5], "99"]
    path = write_mms("twice.csv", prices(GOOD, ALSO_GOOD, twice, ALSO_GOOD))
    [outcome] = ingest([path], tmp_path / "store")
    [issue] = issues(outcome, "rejected")
    assert issue.startswith(f"{path}: a row of DISPATCHPRICE stored from an earlier row of this")
    assert "RRP 57.5 there, 99.0 here" in issue and issue.endswith("(1 row rejected)")
    stored = read(tmp_path / "store", "DISPATCHPRICE").collect()
    assert stored.sort("settlementdate")["rrp"].to_list() == [57.5, 60.0]
    assert outcome.report.rows["dispatchprice"] == 3  # the row given twice alike is read once


def test_blank_lines_before_the_first_record_are_passed_over(write_mms, tmp_path: Path):
    path = tmp_path / "blank.csv"
    path.write_text("\n\r\n" + mms_text(prices(GOOD, ALSO_GOOD), closing=7))
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "ingested" and not issues(outcome, "rejected")
    assert outcome.report.rows["dispatchprice"] == 2


def test_a_row_repeated_in_one_file_and_stored_from_another_is_counted_once(
    write_mms, tmp_path: Path
):
    """NSW1's 00:05 price, 57.5 in a.csv; in b.csv 57.5 then 99: b's second row is refused
    once, as a repeat in its own file, not again against a.csv (3 rows in, 2 stored, 1
    rejected)."""
    ingest([write_mms("a.csv", prices(GOOD))], tmp_path / "store")
    [outcome] = ingest([write_mms("b.csv", prices(GOOD, [*GOOD[:5], "99"], ALSO_GOOD))],
                       tmp_path / "store")  # fmt: skip
    assert outcome.report.rejected_rows == 1
    assert outcome.report.rows["dispatchprice"] == 2
    assert len(issues(outcome, "rejected")) == 1


def test_a_table_of_keys_alone_given_twice_is_read_once(write_mms, tmp_path: Path):
    """DISPATCHBLOCKEDCONSTRAINT has no column but its key: a row given twice is the same row
    (its check once stopped the ingest, calling the store damaged)."""
    columns = ("SETTLEMENTDATE", "RUNNO", "CONSTRAINTID")
    row = ["2024/09/01 00:05:00", "1", "C1"]
    path = write_mms("blocked.csv", ("DISPATCH", "BLOCKEDCONSTRAINT", 1, columns, [row, row]))
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "ingested" and not issues(outcome, "rejected"), outcome.detail
    assert read(tmp_path / "store", "DISPATCHBLOCKEDCONSTRAINT").collect().height == 1


def test_a_repeat_in_a_source_without_an_optional_key_column_is_refused_alone(
    write_mms, tmp_path: Path
):
    """A BIDDAYOFFER_D v2 file has no DIRECTION: one unit's day bid given twice with other
    prices refuses that row, not the file's other units' bids."""
    columns = ("SETTLEMENTDATE", "DUID", "BIDTYPE", "PRICEBAND1")
    day = "2024/09/01 00:00:00"
    rows = [[day, f"U{k}", "ENERGY", "10"] for k in range(5)] + [[day, "U0", "ENERGY", "20"]]
    path = write_mms("day.csv", ("BID", "BIDDAYOFFER_D", 2, columns, rows))
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.report.rejected_rows == 1 and outcome.report.rows["biddayoffer_d"] == 5
