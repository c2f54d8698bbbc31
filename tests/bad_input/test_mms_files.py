"""Hostile and malformed MMS CSV files, ingested through the command line.

Every row in is stored or counted as rejected with its line; each case checks the exit status
(1 when anything was rejected), that the message names the file, line and problem, that no
traceback is printed, the rows stored, and that nothing but the store changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bidstack.io import read

from badinput import HEADER, expect, good_prices, price_file, price_row, run, store_rows

REJECTED = 1


def ingest_text(tmp_path: Path, text: str | bytes, name: str = "prices.csv"):
    """Write ``text`` to ``tmp_path/in/name`` and ingest it into ``tmp_path/store``."""
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path, run("ingest", path, "--store", tmp_path / "store")


def bad_rrp(tmp_path: Path, value: str):
    rows = [price_row(0), price_row(1, value), price_row(2)]
    return ingest_text(tmp_path, price_file(rows))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("inf", "not a finite number"),
        ("-inf", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("NaN", "not a finite number"),
        ("nan", "not a finite number"),
        ("-nan", "not a finite number"),
        ("1e400", "not a finite number"),
        ("1e32", "outside the plausible range"),
        ("-1e32", "outside the plausible range"),
        ("1000001", "outside the plausible range"),
        ("NULL", "bad float in RRP"),
        ("NA", "bad float in RRP"),
        ("N/A", "bad float in RRP"),
        ("#N/A", "bad float in RRP"),
        ("1,000", "D row has 11 fields"),
        ("12..5", "bad float in RRP"),
    ],
)
def test_a_price_that_is_not_a_plausible_number_is_rejected(tmp_path, untouched, value, why):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = bad_rrp(tmp_path, value)
    expect(ran, REJECTED, f"{path}:4: ", why, "1 rows rejected")
    assert store_rows(tmp_path / "store") == {"dispatchprice": 2}
    guard.check()


@pytest.mark.parametrize("value", ["999999", "-1000", "-999999", "0", "1e-300"])
def test_a_price_at_the_edge_of_plausible_is_stored(tmp_path, untouched, value):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    _path, ran = bad_rrp(tmp_path, value)
    expect(ran, 0, "3 rows")
    assert float(value) in read(tmp_path / "store", "DISPATCHPRICE").collect()["rrp"].to_list()
    guard.check()


def section(namespace: str, report: str, version: int, columns: str, *rows: str) -> str:
    lines = [HEADER, f"I,{namespace},{report},{version},{columns}"]
    lines += [f"D,{namespace},{report},{version},{row}" for row in rows]
    return "\n".join([*lines, f'C,"END OF REPORT",{len(lines) + 1}']) + "\n"


BIDS = "SETTLEMENTDATE,DUID,BIDTYPE,OFFERDATE,INTERVAL_DATETIME,MAXAVAIL,BANDAVAIL1"
BID = "2024/09/01 00:00:00,AGLHAL,ENERGY,2024/08/31 10:00:00,2024/09/01 04:05:00"
REGIONSUM = "SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,TOTALDEMAND"
SUMMARY = "DUID,START_DATE,END_DATE,REGIONID,TRANSMISSIONLOSSFACTOR,LASTCHANGED"
UNIT = "AGLHAL,2024/07/01 00:00:00"


@pytest.mark.parametrize(
    ("text", "stored", "words"),
    [
        (section("BID", "BIDPEROFFER_D", 3, BIDS, f"{BID},10,1e9", f"{BID},10,5"),
         {"bidperoffer_d": 1}, ["BANDAVAIL1", "'1e9'", "plausible range", "MW"]),
        (section("DISPATCH", "REGIONSUM", 5, REGIONSUM,
                 "2024/09/01 00:05:00,1,NSW1,1,0,200000", "2024/09/01 00:10:00,1,NSW1,2,0,7000"),
         {"dispatchregionsum": 1}, ["TOTALDEMAND", "'200000'", "plausible range"]),
        (section("PARTICIPANT_REGISTRATION", "DUDETAILSUMMARY", 4, SUMMARY,
                 f"{UNIT},2999/12/31 00:00:00,SA1,50,2024/07/01 00:00:00",
                 f"{UNIT.replace('HAL', 'HAM')},2999/12/31 00:00:00,SA1,0.97,"),
         {"dudetailsummary": 1}, ["TRANSMISSIONLOSSFACTOR", "'50'", "plausible range"]),
        (section("PARTICIPANT_REGISTRATION", "DUDETAILSUMMARY", 4, SUMMARY,
                 f"{UNIT},2999/12/31 00:00:00,SA1,-0.5,", f"{UNIT},2999/12/31 00:00:00,SA1,1,"),
         {"dudetailsummary": 1}, ["TRANSMISSIONLOSSFACTOR", "'-0.5'", "plausible range"]),
    ],
    ids=["bandavail", "totaldemand", "loss-factor-high", "loss-factor-negative"],
)  # fmt: skip
def test_an_implausible_quantity_is_rejected(tmp_path, untouched, text, stored, words):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_text(tmp_path, text)
    expect(ran, REJECTED, f"{path}:3: ", *words)
    assert store_rows(tmp_path / "store") == stored
    guard.check()


@pytest.mark.parametrize(
    ("date", "column"),
    [
        ("0001/01/01 00:05:00", "SETTLEMENTDATE"),
        ("9999/12/31 00:00:00", "SETTLEMENTDATE"),
        ("1899/12/31 00:05:00", "SETTLEMENTDATE"),
        ("2200/01/01 00:05:00", "SETTLEMENTDATE"),
    ],
)
def test_an_interval_time_outside_plausible_dates_is_rejected(tmp_path, untouched, date, column):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    rows = [price_row(0), price_row(1, settlementdate=date), price_row(2)]
    path, ran = ingest_text(tmp_path, price_file(rows))
    expect(ran, REJECTED, f"{path}:4: ", column, repr(date), "plausible dates")
    assert store_rows(tmp_path / "store") == {"dispatchprice": 2}
    assert [p.name for p in (tmp_path / "store" / "dispatchprice").iterdir()] == ["month=2024-09"]
    guard.check()


@pytest.mark.parametrize(
    ("end_date", "lastchanged", "status"),
    [
        ("2999/12/31 00:00:00", "2024/07/01 00:00:00", 0),  # AEMO's "no end"
        ("9999/12/31 00:00:00", "2024/07/01 00:00:00", REJECTED),
        ("2999/12/31 00:00:00", "0001/01/01 00:00:00", REJECTED),
    ],
)
def test_other_dates_need_only_be_plausible_as_dates(
    tmp_path, untouched, end_date, lastchanged, status
):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    text = section(
        "PARTICIPANT_REGISTRATION", "DUDETAILSUMMARY", 4, SUMMARY,
        f"{UNIT},{end_date},SA1,0.97,{lastchanged}",
    )  # fmt: skip
    path, ran = ingest_text(tmp_path, text)
    expect(ran, status, *([f"{path}:3: ", "plausible dates"] if status else ["1 rows"]))
    assert store_rows(tmp_path / "store") == ({} if status else {"dudetailsummary": 1})
    guard.check()


def unclosed(rows: list[str], *indexes: int) -> list[str]:
    """``rows`` with a quote opened and never closed in REGIONID of each row at ``indexes``."""
    return [row.replace(",NSW1,", ',"NSW1,') if i in indexes else row for i, row in enumerate(rows)]


@pytest.mark.parametrize(
    ("indexes", "lines"),
    [((3,), [6]), ((0,), [3]), ((18,), [21]), ((4, 8), [7, 11]), ((2, 3, 4), [5, 6, 7])],
)
def test_an_unclosed_quote_never_swallows_the_rows_after_it(tmp_path, untouched, indexes, lines):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_text(tmp_path, price_file(unclosed(good_prices(19), *indexes)))
    expect(ran, REJECTED, *(f"{path}:{line}: unclosed quote" for line in lines))
    assert store_rows(tmp_path / "store") == {"dispatchprice": 19 - len(lines)}
    assert f"{len(lines)} rows rejected" in ran.out
    guard.check()


def test_a_quoted_field_with_a_comma_is_one_field(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    rows = [price_row(0), price_row(1).replace(",NSW1,", ',"NSW,1",'), price_row(2)]
    _, ran = ingest_text(tmp_path, price_file(rows))
    expect(ran, 0, "3 rows")
    assert "NSW,1" in read(tmp_path / "store", "DISPATCHPRICE").collect()["regionid"].to_list()
    guard.check()


def test_quoted_dates_are_read(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    rows = [row.replace("2024/09/01 00:05:00", '"2024/09/01 00:05:00"') for row in good_prices(3)]
    _, ran = ingest_text(tmp_path, price_file(rows))
    expect(ran, 0, "3 rows")
    guard.check()


@pytest.mark.parametrize(
    "columns",
    [
        "SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP,NEWCOLUMN",
        "SETTLEMENTDATE,RUNNO,NEWCOLUMN,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP",
        "NEWCOLUMN,SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP,OTHER_NEW",
    ],
)
def test_an_unknown_column_is_dropped_with_a_warning_and_the_table_stored(
    tmp_path, untouched, columns
):
    rows = []
    for index in range(3):
        values = dict(zip(PRICE_NAMES, price_row(index).split(",")[4:], strict=True))
        values |= {"NEWCOLUMN": "x", "OTHER_NEW": "7"}
        rows.append("D,DISPATCH,PRICE,5," + ",".join(values[n] for n in columns.split(",")))
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_text(tmp_path, price_file(rows, columns=columns))
    expect(ran, 0, f"{path}:2: ", "NEWCOLUMN", "dropped", "3 rows")
    assert store_rows(tmp_path / "store") == {"dispatchprice": 3}
    assert read(tmp_path / "store", "DISPATCHPRICE").collect()["rrp"].to_list() == [50.0] * 3
    guard.check()


PRICE_NAMES = ["SETTLEMENTDATE", "RUNNO", "REGIONID", "DISPATCHINTERVAL", "INTERVENTION", "RRP"]


@pytest.mark.parametrize(
    ("columns", "words"),
    [
        ("SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP,RRP", ["RRP",
                                                                                 "named twice"]),
        ("SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP,rrp", ["RRP",
                                                                                 "named twice"]),
    ],
)  # fmt: skip
def test_a_repeated_column_rejects_the_table(tmp_path, untouched, columns, words):
    rows = [f"{row},9" for row in good_prices(3)]
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_text(tmp_path, price_file(rows, columns=columns))
    expect(ran, REJECTED, f"{path}:2: ", *words, "3 rows rejected")
    assert store_rows(tmp_path / "store") == {}
    guard.check()


def test_a_column_name_that_is_not_utf8_rejects_the_table(tmp_path, untouched):
    text = price_file(good_prices(3), columns=PRICE_COLUMNS_LATIN1).encode("latin-1")
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_text(tmp_path, text)
    expect(ran, REJECTED, f"{path}:2: ", "not valid UTF-8", "3 rows rejected")
    assert store_rows(tmp_path / "store") == {}
    guard.check()


PRICE_COLUMNS_LATIN1 = "SETTLEMENTDATE,RUNNO,REGI\xd3NID,DISPATCHINTERVAL,INTERVENTION,RRP"


def test_blank_lines_between_rows_are_skipped(tmp_path, untouched):
    rows = good_prices(4)
    text = price_file([rows[0], "", rows[1], "   ", "\r", *rows[2:]])
    guard = untouched(tmp_path / "store", tmp_path / "in")
    _, ran = ingest_text(tmp_path, text)
    expect(ran, 0, "4 rows")
    guard.check()


def test_a_hundred_thousand_blank_lines_are_skipped(tmp_path, untouched):
    rows = good_prices(4)
    text = price_file([rows[0], *[""] * 100_000, *rows[1:]])
    guard = untouched(tmp_path / "store", tmp_path / "in")
    _, ran = ingest_text(tmp_path, text)
    expect(ran, 0, "4 rows")
    guard.check()


@pytest.mark.parametrize(
    ("field", "column"),
    [("x" * (2 << 20), "REGIONID"), ("9" * (20 << 20), "RRP"), ("1" * (5 << 20), "RUNNO")],
    ids=["2MB-text", "20MB-number", "5MB-integer"],
)
def test_a_line_over_the_limit_is_rejected_naming_it(tmp_path, untouched, field, column):
    rows = good_prices(4)
    rows[2] = price_row(2, **{column.lower(): field})
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_text(tmp_path, price_file(rows))
    expect(ran, REJECTED, f"{path}:5: ", "over the limit")
    assert store_rows(tmp_path / "store") == {"dispatchprice": 3}
    guard.check()


@pytest.mark.parametrize(
    ("lines", "line", "words"),
    [
        (lambda rows: [rows[0], rows[1][:-3]], 4, ["D row has 9 fields"]),
        (lambda rows: [rows[0], rows[1] + ",1,2"], 4, ["D row has 12 fields"]),
        (lambda rows: [rows[0], rows[1].replace("DISPATCH,PRICE", "DISPATCH,LOAD")], 4,
         ["not a D row of DISPATCH.PRICE v5"]),
        (lambda rows: [rows[0], "X,hello"], 4, ["not a D row"]),
        (lambda rows: [rows[0], rows[1].replace(",0,50", ",0.5,50")], 4,
         ["bad int in INTERVENTION"]),
        (lambda rows: [rows[0], rows[1].replace("2024/09/01 00:10:00", "2024/02/30 00:10:00")], 4,
         ["bad datetime in SETTLEMENTDATE"]),
        (lambda rows: [rows[0], rows[1].replace("NSW1", "N\x00SW1").replace(",50", ",5\x000")], 4,
         ["bad float in RRP"]),
        (lambda rows: [rows[0], rows[1].replace("NSW1", "NS\rW1")], 4, ["carriage return"]),
    ],
    ids=[
        "short", "long", "other-table", "not-a-row", "fraction-int", "bad-date", "nul-bytes",
        "carriage-return",
    ],
)  # fmt: skip
def test_a_malformed_row_is_rejected_naming_its_line(tmp_path, untouched, lines, line, words):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_text(tmp_path, price_file(lines(good_prices(2))))
    expect(ran, REJECTED, f"{path}:{line}: ", *words)
    assert store_rows(tmp_path / "store") == {"dispatchprice": 1}
    guard.check()


@pytest.mark.parametrize(
    ("text", "status", "words"),
    [
        (price_file(good_prices(2)).split("\n", 1)[1], REJECTED, ["without its first C row"]),
        (price_file(good_prices(2)).rsplit("C,", 1)[0], REJECTED, ["file ends without its"]),
        ("", REJECTED, ["not an MMS file", "empty file"]),
        ("D,DISPATCH,PRICE,5,x\n", REJECTED, ["without its first C row"]),
        (HEADER + "\n" + price_row(0) + '\nC,"END OF REPORT",3\n', REJECTED, ["before any I row"]),
        (price_file(good_prices(2)).replace("PRICE,5,", "PRICE,x,"), 0, ["version 'x'",
                                                                          "2 rows skipped"]),
    ],
    ids=["headless", "truncated", "empty", "headless-d", "rows-before-i", "bad-version"],
)  # fmt: skip
def test_a_damaged_file_is_named_with_its_problem(tmp_path, untouched, text, status, words):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    path, ran = ingest_text(tmp_path, text)
    expect(ran, status, path.name, *words)
    assert store_rows(tmp_path / "store") == {}
    guard.check()


def conflicting(tmp_path: Path, first: list[str], second: list[str]):
    """Ingest two files in turn; return the second's path and run."""
    ingest_text(tmp_path, price_file(first), name="first.csv")
    return ingest_text(tmp_path, price_file(second), name="second.csv")


LASTCHANGED = "SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP,LASTCHANGED"


def test_a_second_file_with_other_values_for_the_same_rows_is_refused_there(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    second = [price_row(0, 50), price_row(1, 999), price_row(2, 50), price_row(3, 50)]
    path, ran = conflicting(tmp_path, good_prices(3), second)
    expect(ran, REJECTED, str(path), "first.csv", "RRP", "1 rows rejected")
    assert store_rows(tmp_path / "store") == {"dispatchprice": 3 + 3}
    assert read(tmp_path / "store", "DISPATCHPRICE").collect()["rrp"].to_list() == [50.0] * 4
    guard.check()


def test_a_later_change_of_the_same_rows_is_reported_and_read_keeps_it(tmp_path, untouched):
    def rows(rrp: int, changed: str) -> list[str]:
        return [f"{price_row(i, rrp)},{changed}" for i in range(3)]

    guard = untouched(tmp_path / "store", tmp_path / "in")
    ingest_text(tmp_path, price_file(rows(50, "2024/09/01 01:00:00"), columns=LASTCHANGED),
                name="first.csv")  # fmt: skip
    _path, ran = ingest_text(
        tmp_path, price_file(rows(60, "2024/09/02 01:00:00"), columns=LASTCHANGED), name="2nd.csv"
    )
    expect(ran, 0, "first.csv", "LASTCHANGED", "3 rows")
    assert read(tmp_path / "store", "DISPATCHPRICE").collect()["rrp"].to_list() == [60.0] * 3
    guard.check()


def test_a_second_file_with_the_same_rows_and_values_is_quietly_read_once(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    _path, ran = conflicting(tmp_path, good_prices(3), good_prices(4))
    expect(ran, 0, "4 rows")
    assert "warning" not in ran.out
    assert read(tmp_path / "store", "DISPATCHPRICE").collect().height == 4
    guard.check()


def test_only_the_conflicting_rows_of_a_second_file_are_refused(tmp_path, untouched):
    guard = untouched(tmp_path / "store", tmp_path / "in")
    second = [price_row(2, 70), price_row(3), price_row(4)]
    _path, ran = conflicting(tmp_path, [price_row(i) for i in range(3)], second)
    expect(ran, REJECTED, "1 rows rejected", "SETTLEMENTDATE 2024-09-01 00:15:00")
    assert read(tmp_path / "store", "DISPATCHPRICE").collect()["rrp"].to_list() == [50.0] * 5
    guard.check()
