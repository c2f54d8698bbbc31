"""NEM12 interval meter data into the ``nem12_interval`` table.

``tests/data/nem12/nem12_30min.csv`` is written from the public format description: one NMI,
two data streams (E1 import, B1 export) of 30-minute kWh intervals, a variable-quality day whose
400 records substitute intervals 21..48, a 500 record, CRLF line ends.
"""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from bidstack.io import ingest, read

DATA = Path(__file__).parents[1] / "data" / "nem12"
HEADER = "100,NEM12,202409020830,MDPONE,RETAILX"


def stream(uom: str = "kWh", minutes: int = 5, suffix: str = "E1") -> str:
    return f"200,NMI0000001,{suffix},1,{suffix},,M1,{uom},{minutes},"


def day(date: str, count: int, value: str = "1.5", tail: str = "A,,,20240902083000,") -> str:
    return f"300,{date},{','.join([value] * count)},{tail}"


VARIABLE = "V,,,20240902083000,"


def nem12(tmp_path: Path, *records: str, name: str = "meter.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *records]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def thirty_minute(tmp_path: Path) -> pl.DataFrame:
    [outcome] = ingest([DATA / "nem12_30min.csv"], tmp_path / "store")
    assert outcome.status == "ingested" and outcome.report.issues == []
    return read(tmp_path / "store", "nem12_interval").collect()


def test_every_interval_becomes_a_period_ending_row(thirty_minute: pl.DataFrame):
    e1 = thirty_minute.filter(pl.col("nmi_suffix") == "E1")
    assert thirty_minute.height == 3 * 48 and e1.height == 2 * 48
    assert e1["interval_datetime"][0] == datetime(2024, 9, 1, 0, 30)
    assert e1["interval_datetime"][47] == datetime(2024, 9, 2, 0, 0)
    assert e1["interval_number"].to_list()[:3] == [1, 2, 3]
    assert set(e1["interval_minutes"]) == {30}
    assert e1["value"][:2].to_list() == [0.1, 0.2]
    assert e1["energy_mwh"][:2].to_list() == pytest.approx([0.0001, 0.0002])
    first = e1.row(0, named=True)
    assert (first["nmi"], first["uom"], first["register_id"], first["meter_serial_number"]) == (
        "NEM1201009",
        "kWh",
        "1",
        "01009",
    )
    assert first["update_datetime"] == datetime(2024, 9, 2, 8, 30)
    assert first["source_file"] == "nem12_30min.csv"


def test_400_events_set_the_quality_of_their_intervals(thirty_minute: pl.DataFrame):
    second_day = thirty_minute.filter(
        (pl.col("nmi_suffix") == "E1") & (pl.col("interval_date") == datetime(2024, 9, 2).date())
    )
    assert set(second_day["quality_method"][:20]) == {"A"}
    assert set(second_day["quality_method"][20:]) == {"S53"}
    assert set(second_day["reason_code"][20:]) == {32}
    assert set(second_day["reason_description"][20:]) == {"Meter reading substituted"}
    assert second_day["reason_code"][:20].null_count() == 20


def test_export_stream_is_its_own_register(thirty_minute: pl.DataFrame):
    b1 = thirty_minute.filter(pl.col("nmi_suffix") == "B1")
    assert b1.height == 48 and b1["value"].sum() == pytest.approx(0.01 * 48 * 49 / 2)


@pytest.mark.parametrize(
    ("uom", "factor"), [("kWh", 1e-3), ("MWH", 1.0), ("Wh", 1e-6), ("kVArh", None)]
)
def test_energy_is_converted_by_unit(tmp_path: Path, uom: str, factor):
    path = nem12(tmp_path, stream(uom), day("20240901", 288, "2.0"), "900")
    ingest([path], tmp_path / "store")
    frame = read(tmp_path / "store", "nem12_interval").collect()
    assert frame.height == 288 and frame["interval_datetime"][0] == datetime(2024, 9, 1, 0, 5)
    expected = None if factor is None else 2.0 * factor
    assert set(frame["energy_mwh"].to_list()) == {expected}


def test_zipped_nem12_ingests(tmp_path: Path):
    path = tmp_path / "meter.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(DATA / "nem12_30min.csv", "nem12_30min.csv")
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.report.rows == {"nem12_interval": 144}


def test_read_window_on_interval_time(tmp_path: Path):
    ingest([DATA / "nem12_30min.csv"], tmp_path / "store")
    frame = read(tmp_path / "store", "nem12_interval", "2024-09-01 00:00", "2024-09-01 01:00")
    assert frame.collect()["interval_datetime"].unique().sort().to_list() == [
        datetime(2024, 9, 1, 0, 30),
        datetime(2024, 9, 1, 1, 0),
    ]


def test_a_later_update_of_the_same_day_wins(tmp_path: Path):
    old = nem12(tmp_path, stream(), day("20240901", 288, "1.0"), "900", name="old.csv")
    newer_tail = "A,,,20240903083000,"
    new = nem12(tmp_path, stream(), day("20240901", 288, "3.0", newer_tail), "900", name="new.csv")
    ingest([new, old], tmp_path / "store")
    frame = read(tmp_path / "store", "nem12_interval").collect()
    assert frame.height == 288 and set(frame["value"]) == {3.0}


@pytest.mark.parametrize(
    ("records", "line", "message"),
    [
        ([stream(), day("20240901", 287), "900"], 3, "300 record has 294 fields; 288 intervals"),
        ([day("20240901", 288), "900"], 2, "300 record before any 200 record"),
        ([stream(), day("20241301", 288), "900"], 3, "bad 300 record"),
        ([stream(), day("20240901", 288, "x"), "900"], 3, "bad 300 record"),
        ([stream(minutes=7), day("20240901", 205), "900"], 3, "under the bad 200 record at line 2"),
        ([stream(), day("20240901", 288, tail=VARIABLE), "400,280,300,A,,", "900"], 4,
         "400 record for intervals 280..300"),
        ([stream(), "250,NMI,E1", "900"], 3, "unknown NEM12 record '250'"),
        ([stream(), day("20240901", 288, tail="Q,,,,"), "900"], 3, "quality method 'Q'"),
        ([stream().replace(",M1,", ',"M1,'), day("20240901", 288), "900"], 3,
         "under the bad 200 record at line 2"),
    ],
)
def test_bad_records_are_rejected_naming_file_and_line(tmp_path: Path, records, line, message):
    path = nem12(tmp_path, *records)
    [outcome] = ingest([path], tmp_path / "store")
    rejected = [issue for issue in outcome.report.issues if issue.severity == "rejected"]
    assert rejected and rejected[-1].where == f"{path}:{line}"
    assert message in rejected[-1].message
    assert outcome.failed


HALF_HOURS = stream(minutes=30)


@pytest.mark.parametrize(
    "records",
    [
        [HALF_HOURS, day("20240901", 48), day("20240902", 48, "abc"), "900"],
        [HALF_HOURS, day("20240901", 48), day("20240902", 47), "900"],
        [HALF_HOURS, day("20240901", 48), day("20241301", 48), "900"],
        [HALF_HOURS, day("20240901", 48), day("20240902", 48, tail="A,,,2024,"), "900"],
        [day("20240902", 48), HALF_HOURS, day("20240901", 48), "900"],
        [HALF_HOURS, day("20240901", 48), HALF_HOURS.replace("NMI0000001", "NMI-1"),
         day("20240902", 48), "900"],
        [HALF_HOURS, day("20240901", 48), "900", day("20240902", 48)],
    ],
    ids=["bad-value", "short", "bad-date", "bad-update-time", "before-200", "under-bad-200",
         "after-900"],
)  # fmt: skip
def test_a_rejected_300_record_counts_its_intervals(tmp_path: Path, records: list[str]):
    """Two days of 48 half hours in, one stored: the other's 48 intervals are counted."""
    path = nem12(tmp_path, *records)
    [outcome] = ingest([path], tmp_path / "store")
    rejected = [issue for issue in outcome.report.issues if issue.severity == "rejected"]
    assert rejected[-1].rows == 48 and sum(issue.rows for issue in rejected) == 48
    assert outcome.report.rows == {"nem12_interval": 48}


def test_missing_end_record_stops_before_writing(tmp_path: Path):
    path = nem12(tmp_path, stream(), day("20240901", 288))
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "rejected"
    assert outcome.detail == (
        f"{path}:3: file ends without its 900 record (truncated?); nothing was stored from it"
    )
    assert not list((tmp_path / "store").rglob("*.parquet"))


@pytest.mark.parametrize(
    ("first", "third", "rejected"),
    [
        ('"x', 'y"', [3, 5]),  # a CSV parser would join lines 3 to 5: days 2 and 3 would vanish
        ('"x', "y", [3]),  # a CSV parser would read to the end of the file, 900 record and all
        ("x\ry", "y", [3]),
        ("x\x0cy", "y", [3]),
        ("x\u2028y", "y", [3]),
        ('"x,y"', '"say ""y"""', []),  # quotes that close on their line are CSV
    ],
    ids=["quote-closed-two-lines-on", "unclosed-quote", "cr", "form-feed", "u2028", "quoted"],
)
def test_a_line_a_csv_parser_would_join_or_split_is_rejected_alone(
    tmp_path: Path, first: str, third: str, rejected: list[int]
):
    def described(date: str, description: str) -> str:
        return day(date, 48, tail=f"A,,{description},20240902083000,")

    path = nem12(
        tmp_path,
        stream(minutes=30),
        described("20240901", first),
        day("20240902", 48),
        described("20240903", third),
        day("20240904", 48),
        "900",
    )
    [outcome] = ingest([path], tmp_path / "store")
    issues = [(issue.severity, issue.where, issue.rows) for issue in outcome.report.issues]
    assert issues == [("rejected", f"{path}:{line}", 48) for line in rejected]
    frame = read(tmp_path / "store", "nem12_interval").collect()
    assert set(frame["source_line"]) == {3, 4, 5, 6} - set(rejected)
    assert frame.height == 48 * (4 - len(rejected))


@pytest.mark.parametrize(
    ("before", "after", "rejected"),
    [(",M1,", ",M\xff1,", [2, 3, 4]), (",A,,", ",A,\xff,", [3])],
    ids=["meter-serial-of-200", "description-of-300"],
)
def test_a_line_that_is_not_utf8_is_rejected(
    tmp_path: Path, before: str, after: str, rejected: list[int]
):
    text = "\n".join([HEADER, stream(minutes=30), day("20240901", 48), day("20240902", 48), "900"])
    path = tmp_path / "meter.csv"
    path.write_bytes((text.replace(before, after, 1) + "\n").encode("latin-1"))
    [outcome] = ingest([path], tmp_path / "store")
    issues = [(issue.where, issue.rows) for issue in outcome.report.issues]
    assert issues == [(f"{path}:{line}", 0 if line == 2 else 48) for line in rejected]
    assert outcome.report.issues[0].message == "not valid UTF-8 text"
    assert outcome.report.rows == ({"nem12_interval": 48} if len(rejected) == 1 else {})


def test_a_byte_order_mark_is_read_past(tmp_path: Path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf" + (DATA / "nem12_30min.csv").read_bytes())
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.status == "ingested" and outcome.report.issues == []
    assert outcome.report.rows == {"nem12_interval": 144}


@pytest.mark.parametrize(
    ("value", "uom", "message"),
    [
        ("-1.5", "kWh", "interval 1 is -1.5: interval values are never negative"),
        ("nan", "kWh", "interval 1 is nan, not a number"),
        ("inf", "kWh", "interval 1 is inf, not a number"),
        ("1e3", "MWh", "interval 1 is 1000.0 MWh in 5 minutes, over 10,000 MW: not plausible"),
    ],
)
def test_values_that_cannot_be_meter_data_are_rejected_with_file_and_line(
    tmp_path: Path, value: str, uom: str, message: str
):
    bad = day("20240902", 288).replace("300,20240902,1.5,", f"300,20240902,{value},", 1)
    path = nem12(tmp_path, stream(uom), day("20240901", 288), bad, "900")
    [outcome] = ingest([path], tmp_path / "store")
    rejected = [issue for issue in outcome.report.issues if issue.severity == "rejected"]
    assert [(issue.where, issue.rows) for issue in rejected] == [(f"{path}:4", 288)]
    assert rejected[0].message == f"300 record for 2024-09-02: {message}"
    frame = read(tmp_path / "store", "nem12_interval").collect()
    assert set(frame["interval_date"]) == {datetime(2024, 9, 1).date()}  # nothing of the day
    assert set(frame["source_line"]) == {3}


@pytest.mark.parametrize(
    ("date", "stored"),
    [("00010101", False), ("19891231", False), ("21000101", False), ("99991231", False),
     ("19900101", True), ("20991231", True)],
)  # fmt: skip
def test_a_day_outside_the_plausible_interval_dates_is_rejected(
    tmp_path: Path, date: str, stored: bool
):
    path = nem12(tmp_path, HALF_HOURS, day(date, 48), "900")
    [outcome] = ingest([path], tmp_path / "store")
    issues = [(issue.severity, issue.where, issue.rows) for issue in outcome.report.issues]
    assert issues == ([] if stored else [("rejected", f"{path}:3", 48)])
    if not stored:
        assert "outside the plausible dates 1990-01-01 to 2100-01-01" in (
            outcome.report.issues[0].message
        )
    assert outcome.report.rows == ({"nem12_interval": 48} if stored else {})


def test_1e3_kwh_in_five_minutes_is_plausible(tmp_path: Path):
    path = nem12(tmp_path, stream("kWh"), day("20240901", 288, "1e3"), "900")  # 12 MW
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.report.issues == [] and outcome.report.rows == {"nem12_interval": 288}


@pytest.mark.parametrize("method", ["A", "N", "E52", "F14", "S53", "S21", "E69", "S75"])
def test_whole_quality_methods_are_accepted(tmp_path: Path, method: str):
    path = nem12(tmp_path, stream(), day("20240901", 288, tail=f"{method},,,,"), "900")
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.report.issues == []
    assert set(read(tmp_path / "store", "nem12_interval").collect()["quality_method"]) == {method}


@pytest.mark.parametrize("method", ["A5", "S", "S99", "SXX", "E2", "N11", "Q53", "V53", "S531"])
def test_a_malformed_quality_method_is_rejected(tmp_path: Path, method: str):
    path = nem12(tmp_path, stream(), day("20240901", 288, tail=f"{method},,,,"), "900")
    [outcome] = ingest([path], tmp_path / "store")
    [issue] = outcome.report.issues
    assert issue.severity == "rejected" and issue.where == f"{path}:3" and issue.rows == 288
    assert f"quality method {method!r} is not a quality method" in issue.message


def test_a_400_record_after_a_day_not_of_quality_v_is_refused_with_its_day(tmp_path: Path):
    path = nem12(
        tmp_path,
        stream(),
        day("20240901", 288),
        "400,1,12,S53,32,Meter reading substituted",
        "400,13,24,S53,,",
        day("20240902", 288),
        "900",
    )
    [outcome] = ingest([path], tmp_path / "store")
    issues = [(i.severity, i.where, i.rows) for i in outcome.report.issues]
    assert issues == [
        ("rejected", f"{path}:4", 1),
        ("rejected", f"{path}:3", 288),
        ("rejected", f"{path}:5", 1),
    ]
    assert "whose quality is 'A': 400 records belong to days of quality V only" in (
        outcome.report.issues[0].message
    )
    frame = read(tmp_path / "store", "nem12_interval").collect()
    assert set(frame["interval_date"]) == {datetime(2024, 9, 2).date()}


def test_a_400_record_may_not_be_variable_itself(tmp_path: Path):
    path = nem12(tmp_path, stream(), day("20240901", 288, tail=VARIABLE), "400,1,288,V,,", "900")
    [outcome] = ingest([path], tmp_path / "store")
    assert outcome.report.issues[0].where == f"{path}:4"
    assert "400 record quality method 'V'" in outcome.report.issues[0].message


def test_a_variable_day_partly_covered_by_400_records_is_reported(tmp_path: Path):
    path = nem12(
        tmp_path,
        stream(),
        day("20240901", 288, tail=VARIABLE),
        "400,1,100,A,,",
        "400,201,288,E52,,",
        "900",
    )
    [outcome] = ingest([path], tmp_path / "store")
    [issue] = outcome.report.issues
    assert (issue.severity, issue.where) == ("warning", f"{path}:3")
    assert issue.message.startswith("100 interval(s) of this quality-V day (101..200) have no 400")
    frame = read(tmp_path / "store", "nem12_interval").collect().sort("interval_number")
    assert frame["quality_method"].to_list() == ["A"] * 100 + ["V"] * 100 + ["E52"] * 88


def test_a_day_given_twice_in_a_file_is_reported_and_read_keeps_one_by_rule(tmp_path: Path):
    later = "A,,,20240903083000,"
    path = nem12(
        tmp_path,
        stream(),
        day("20240901", 288, "2.0", tail=later),  # line 3: updated later: kept
        day("20240901", 288, "1.0"),  # line 4
        day("20240902", 288, "1.0"),  # line 5
        day("20240902", 288, "4.0"),  # line 6: same update time, later line: kept
        "900",
    )
    [outcome] = ingest([path], tmp_path / "store")
    assert [(i.severity, i.where) for i in outcome.report.issues] == [
        ("warning", f"{path}:4"),
        ("warning", f"{path}:6"),
    ]
    assert "NMI0000001 E1 2024-09-01 is also at line 3: both are stored and read keeps line 3" in (
        outcome.report.issues[0].message
    )
    assert "read keeps line 6" in outcome.report.issues[1].message
    frame = read(tmp_path / "store", "nem12_interval").collect()
    kept = dict(frame.group_by("interval_date").agg(pl.col("value").unique()).iter_rows())
    assert kept == {datetime(2024, 9, 1).date(): [2.0], datetime(2024, 9, 2).date(): [4.0]}


@pytest.mark.parametrize("chunk_bytes", [1 << 12, 1 << 20], ids=["longer-than-a-chunk", "held"])
def test_a_line_over_the_limit_is_rejected_with_its_intervals(
    tmp_path: Path, monkeypatch, chunk_bytes: int
):
    """A 300 record padded past ``MAX_LINE_BYTES`` (a damaged file): rejected by line (it once
    stood as a blank line, and its intervals vanished uncounted), counted as its day's 48
    intervals where the line was held, as 1 where it is longer than a chunk and was never held
    (nothing then says it was a 300 record)."""
    monkeypatch.setattr("bidstack.io.chunks.CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr("bidstack.io.chunks.MAX_LINE_BYTES", 2048)
    monkeypatch.setattr("bidstack.io.nem12.MAX_LINE_BYTES", 2048)
    long = day("20240902", 48, tail="A,,," + "x" * 10_000 + ",20240902083000,")
    path = nem12(tmp_path, stream(minutes=30), day("20240901", 48), long, day("20240903", 48),
                 "900")  # fmt: skip
    [outcome] = ingest([path], tmp_path / "store")
    [issue] = outcome.report.issues
    assert (issue.severity, issue.where) == ("rejected", f"{path}:4")
    assert "over the limit of 2,048 bytes" in issue.message
    assert issue.rows == (48 if chunk_bytes > 10_000 else 1)
    assert outcome.report.rows == {"nem12_interval": 96}
    frame = read(tmp_path / "store", "nem12_interval").collect()
    assert set(frame["source_line"]) == {3, 5}
