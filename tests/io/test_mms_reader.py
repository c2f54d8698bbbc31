"""The MMS reader on its own: bytes in, typed frames and a report out."""

from __future__ import annotations

import io
from datetime import datetime

import polars as pl
import pytest

from bidstack.errors import IngestError
from bidstack.io.chunks import line_chunks
from bidstack.io.mms import MmsReader
from bidstack.io.report import SourceReport

SCADA = "I,DISPATCH,UNIT_SCADA,1,SETTLEMENTDATE,DUID,SCADAVALUE"
ROW = "D,DISPATCH,UNIT_SCADA,1,2024/09/01 00:05:00,AGLHAL,1"


def read(text: str, **options) -> tuple[list[tuple[str, pl.DataFrame]], SourceReport]:
    report = SourceReport("test.csv", "mms")
    chunks = line_chunks(io.BytesIO(text.encode()), lambda _: None)
    tables = MmsReader("test.csv", report, **options).tables(chunks)
    return [(spec.name, pl.from_arrow(table)) for spec, table in tables], report


def test_rows_come_out_typed_in_the_table_schema():
    row = 'D,DISPATCH,UNIT_SCADA,1,"2024/09/01 00:05:00",AGLHAL,101.5'
    text = f'C,X\n{SCADA}\n{row}\nC,"END OF REPORT",4\n'
    [(table, frame)], report = read(text)
    assert table == "DISPATCH_UNIT_SCADA"
    assert frame.columns == ["settlementdate", "duid", "scadavalue", "lastchanged"]
    assert frame.row(0) == (datetime(2024, 9, 1, 0, 5), "AGLHAL", 101.5, None)
    assert frame.schema["lastchanged"] == pl.Datetime("us")
    assert report.rows == {"dispatch_unit_scada": 1} and report.issues == []


def test_a_file_without_its_closing_row_is_refused():
    with pytest.raises(IngestError, match=r"test\.csv:3: file ends without its"):
        read(f"C,X\n{SCADA}\n{ROW}\n")


def test_closing_count_is_checked_strictly_on_request():
    text = (
        f'C,X\n{SCADA}\nD,DISPATCH,UNIT_SCADA,1,2024/09/01 00:05:00,AGLHAL,1\nC,"END OF REPORT",9\n'
    )
    _, report = read(text)
    assert [issue.severity for issue in report.issues] == ["warning"]
    with pytest.raises(
        IngestError, match=r"test\.csv:4: closing count 9 disagrees with the 4 lines"
    ):
        read(text, strict=True)
