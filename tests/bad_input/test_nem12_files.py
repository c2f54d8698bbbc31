"""Malformed and hostile NEM12 meter data files, ingested through the command line.

Each case checks the exit status (1 when anything was rejected, 0 with a warning), that the
message names the file, line and problem, that no traceback is printed, the rows stored, and
that nothing but the store changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from badinput import expect, run, store_rows

REJECTED = 1
HEADER = "100,NEM12,202409020830,MDPONE,RETAILX"
STREAM = "200,NMI0000001,E1,1,E1,,M1,kWh,30,"
DAY_ROWS = 48


def day(date: str = "20240901", value: str = "1.5", tail: str = "A,,,20240902083000,") -> str:
    return f"300,{date},{','.join([value] * DAY_ROWS)},{tail}"


VARIABLE = "V,,,20240902083000,"


def ingest_nem12(tmp_path: Path, *records: str, name: str = "meter.csv"):
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join([HEADER, *records]) + "\n")
    return path, run("ingest", path, "--store", tmp_path / "store")


def one_bad_value(value: str) -> str:
    return day("20240902").replace("300,20240902,1.5,", f"300,20240902,{value},", 1)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("nan", "not a number"),
        ("NaN", "not a number"),
        ("inf", "not a number"),
        ("-inf", "not a number"),
        ("1e400", "not a number"),
        ("-5", "never negative"),
        ("-1e9", "never negative"),
        ("-0.001", "never negative"),
        ("1e9", "not plausible"),
        ("6e6", "not plausible"),
        ("x", "bad 300 record"),
        ("1,5", "300 record has"),
        ("0x10", "bad 300 record"),
    ],
)
def test_a_meter_read_that_is_not_meter_data_is_rejected(tmp_path, untouched, value, why):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_nem12(tmp_path, STREAM, day(), one_bad_value(value), "900")
    expect(ran, REJECTED, f"{path}:4: ", why)
    assert store_rows(tmp_path / "store") == {"nem12_interval": DAY_ROWS}
    guard.check()


@pytest.mark.parametrize("method", ["A99", "A1", "E", "E99", "S531", "X", "", "V11", "a"])
def test_a_quality_that_is_not_a_quality_method_is_rejected(tmp_path, untouched, method):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_nem12(tmp_path, STREAM, day(tail=f"{method},,,,"), "900")
    expect(ran, REJECTED, f"{path}:3: ", f"quality method {method!r}", f"{DAY_ROWS} rows rejected")
    assert store_rows(tmp_path / "store") == {}
    guard.check()


@pytest.mark.parametrize(
    "nmi", ["1" * 500, "NMI000001", "NMI00000001", "NMI-000001", "NMI 000001", "NMI00000\u00e91"]
)
def test_a_data_stream_without_a_real_nmi_is_rejected_with_its_days(tmp_path, untouched, nmi):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    stream = STREAM.replace("NMI0000001", nmi)
    path, ran = ingest_nem12(tmp_path, stream, day(), day("20240902"), "900")
    expect(ran, REJECTED, f"{path}:2: ", "is not an NMI", f"{path}:3: ", f"{path}:4: ")
    assert len(ran.text) < 2000  # a 500-digit NMI is not printed whole
    assert store_rows(tmp_path / "store") == {}
    guard.check()


@pytest.mark.parametrize(
    ("events", "line"),
    [
        (["400,1,10,A,,", "400,5,48,E52,,"], 5),
        (["400,1,48,A,,", "400,48,48,E52,,"], 5),
        (["400,1,24,A,,", "400,1,24,A,,"], 5),
        (["400,1,10,A,,", "400,11,20,A,,", "400,15,48,S53,,"], 6),
        (["400,20,30,A,,", "400,1,48,A,,"], 5),
    ],
    ids=["partial", "last-interval", "same-range", "third-record", "inside"],
)
def test_overlapping_400_ranges_refuse_their_day(tmp_path, untouched, events, line):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_nem12(tmp_path, STREAM, day(tail=VARIABLE), *events, day("20240902"), "900")
    expect(ran, REJECTED, f"{path}:{line}: ", "overlaps the 400 record", f"{path}:3: ")
    assert store_rows(tmp_path / "store") == {"nem12_interval": DAY_ROWS}
    guard.check()


def test_adjacent_400_ranges_are_stored(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    _path, ran = ingest_nem12(
        tmp_path, STREAM, day(tail=VARIABLE), "400,1,24,A,,", "400,25,48,E52,,", "900"
    )
    expect(ran, 0, f"{DAY_ROWS} rows")
    assert "warning" not in ran.text
    guard.check()


@pytest.mark.parametrize(
    ("events", "uncovered"),
    [([], "48 interval(s)"), (["400,1,40,A,,"], "8 interval(s)"), (["400,2,48,A,,"], "(1)")],
    ids=["no-400", "tail-uncovered", "first-uncovered"],
)
def test_a_variable_day_without_400_records_is_reported(tmp_path, untouched, events, uncovered):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_nem12(tmp_path, STREAM, day(tail=VARIABLE), *events, "900")
    expect(ran, 0, f"{path}:3: ", uncovered, "have no 400 record")
    guard.check()


def test_the_same_day_twice_with_other_values_is_reported(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_nem12(tmp_path, STREAM, day(value="1.0"), day(value="2.0"), "900")
    expect(ran, 0, f"{path}:4: ", "2024-09-01 is also at line 3", "read keeps line 4")
    guard.check()


def test_the_same_day_from_a_second_file_with_other_values_is_refused(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    ingest_nem12(tmp_path, STREAM, day(value="1.0"), "900", name="first.csv")
    path, ran = ingest_nem12(tmp_path, STREAM, day(value="2.0"), "900", name="second.csv")
    expect(ran, REJECTED, str(path), "first.csv", "VALUE 1.0 there, 2.0 here", "48 rows rejected")
    assert store_rows(tmp_path / "store") == {"nem12_interval": DAY_ROWS}
    guard.check()


def test_a_later_update_of_the_same_day_from_a_second_file_is_stored(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    ingest_nem12(tmp_path, STREAM, day(value="1.0"), "900", name="first.csv")
    later = "A,,,20240903083000,"
    _path, ran = ingest_nem12(tmp_path, STREAM, day(value="2.0", tail=later), "900", name="2.csv")
    expect(ran, 0, "first.csv", "later UPDATE_DATETIME", f"{DAY_ROWS} rows")
    guard.check()


@pytest.mark.parametrize(
    ("records", "line", "words"),
    [
        ([STREAM, day(), "400,1,10,A,,", "900"], 4, ["400 records belong to days of quality V"]),
        ([STREAM, "400,1,10,A,,", day(), "900"], 3, ["400 record without a 300 record"]),
        ([day(), "900"], 2, ["300 record before any 200 record"]),
        ([STREAM.replace(",30,", ",7,"), day(), "900"], 2, ["interval length '7'"]),
        ([STREAM, day()[:-30], "900"], 3, ["300 record has"]),
        ([STREAM, day("20241301"), "900"], 3, ["bad 300 record"]),
        ([STREAM, day(), "900", day("20240902")], 5, ["after the 900 record"]),
        ([STREAM, "250,x", day(), "900"], 3, ["unknown NEM12 record '250'"]),
        ([STREAM, day(tail=VARIABLE), "400,40,60,A,,", "900"], 4, ["does not fit"]),
        ([STREAM, day(tail=VARIABLE), "400,x,9,A,,", "900"], 4, ["bad 400 record"]),
    ],
    ids=[
        "400-after-actual", "400-first", "300-first", "interval-7", "short-300", "bad-date",
        "after-900", "unknown-record", "400-past-day", "400-not-a-number",
    ],
)  # fmt: skip
def test_a_malformed_record_is_rejected_naming_its_line(tmp_path, untouched, records, line, words):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_nem12(tmp_path, *records)
    expect(ran, REJECTED, f"{path}:{line}: ", *words)
    guard.check()


def test_a_file_without_its_900_record_stores_nothing(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_nem12(tmp_path, STREAM, day())
    expect(ran, REJECTED, str(path), "without its 900 record")
    assert store_rows(tmp_path / "store") == {}
    guard.check()
