"""The MMS CSV format: line ends, quoting, several tables per file, columns matched by name."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidstack.io import ingest, read

from iohelpers import mms_text

PRICE = ("SETTLEMENTDATE", "RUNNO", "REGIONID", "DISPATCHINTERVAL", "INTERVENTION", "RRP")
PRICE_ROWS = [
    ["2024/09/01 00:05:00", "1", "NSW1", "20240901001", "0", "57.5"],
    ["2024/09/01 00:05:00", "1", "SA1", "20240901001", "0", "-43.25"],
    ["2024/09/01 00:10:00", "1", "NSW1", "20240901002", "0", "60"],
]
SCADA = ("SETTLEMENTDATE", "DUID", "SCADAVALUE", "LASTCHANGED")
SCADA_ROWS = [["2024/09/01 00:05:00", "AGLHAL", "101.5", "2024/09/01 00:00:22"]]


def stored_prices(store: Path) -> pl.DataFrame:
    return read(store, "DISPATCHPRICE", raw=True).collect()


def test_lf_crlf_and_quoted_dates_read_the_same(tmp_path: Path):
    quoted = [[f'"{row[0]}"', *row[1:]] for row in PRICE_ROWS]
    variants = {
        "lf.csv": mms_text(("DISPATCH", "PRICE", 5, PRICE, PRICE_ROWS)),
        "crlf.csv": mms_text(("DISPATCH", "PRICE", 5, PRICE, PRICE_ROWS), newline="\r\n"),
        "quoted.csv": mms_text(("DISPATCH", "PRICE", 5, PRICE, quoted), newline="\r\n"),
    }
    frames = []
    for name, text in variants.items():
        (tmp_path / name).write_text(text, newline="")
        store = tmp_path / f"store-{name}"
        [outcome] = ingest([tmp_path / name], store)
        assert outcome.status == "ingested" and outcome.report.issues == []
        frames.append(stored_prices(store))
    assert frames[0].equals(frames[1]) and frames[0].equals(frames[2])
    assert frames[0]["settlementdate"].to_list()[:2] == [datetime(2024, 9, 1, 0, 5)] * 2
    assert frames[0]["rrp"].to_list() == [57.5, -43.25, 60.0]
    assert frames[0]["dispatchinterval"].to_list() == [20240901001, 20240901001, 20240901002]


def test_columns_are_matched_by_name_not_position(write_mms, tmp_path: Path):
    order = [5, 2, 0, 4, 1, 3]
    permuted = [[row[i] for i in order] for row in PRICE_ROWS]
    plain = write_mms("plain.csv", ("DISPATCH", "PRICE", 5, PRICE, PRICE_ROWS))
    moved = write_mms("moved.csv", ("DISPATCH", "PRICE", 5, [PRICE[i] for i in order], permuted))
    ingest([plain], tmp_path / "a")
    ingest([moved], tmp_path / "b")
    assert stored_prices(tmp_path / "a").equals(stored_prices(tmp_path / "b"))


def test_several_tables_in_one_zipped_file(tmp_path: Path):
    text = mms_text(
        ("DISPATCH", "PRICE", 5, PRICE, PRICE_ROWS),
        ("DISPATCH", "UNIT_SCADA", 1, SCADA, SCADA_ROWS),
    )
    path = tmp_path / "PUBLIC_DISPATCHIS_202409010005.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("PUBLIC_DISPATCHIS_202409010005.CSV", text)
    [outcome] = ingest([path], tmp_path / "store")
    assert dict(outcome.report.rows) == {"dispatchprice": 3, "dispatch_unit_scada": 1}
    scada = read(tmp_path / "store", "DISPATCH_UNIT_SCADA", raw=True).collect()
    assert scada.row(0) == (
        datetime(2024, 9, 1, 0, 5),
        "AGLHAL",
        101.5,
        datetime(2024, 9, 1, 0, 0, 22),
    )


def test_rows_are_partitioned_by_month_of_the_interval(write_mms, tmp_path: Path):
    rows = [*PRICE_ROWS, ["2024/10/01 00:00:00", "1", "NSW1", "20240930288", "0", "70"]]
    path = write_mms("two-months.csv", ("DISPATCH", "PRICE", 5, PRICE, rows))
    ingest([path], tmp_path / "store")
    months = sorted(p.name for p in (tmp_path / "store" / "dispatchprice").iterdir())
    assert months == ["month=2024-09", "month=2024-10"]


@pytest.mark.parametrize("chunk_bytes", [64, 200])
def test_small_chunks_split_rows_and_sections_correctly(
    write_mms, tmp_path: Path, monkeypatch, chunk_bytes: int
):
    monkeypatch.setattr("bidstack.io.chunks.CHUNK_BYTES", chunk_bytes)
    path = write_mms(
        "chunked.csv",
        ("DISPATCH", "PRICE", 5, PRICE, PRICE_ROWS * 5),
        ("DISPATCH", "UNIT_SCADA", 1, SCADA, SCADA_ROWS * 3),
    )
    [outcome] = ingest([path], tmp_path / "store")
    assert dict(outcome.report.rows) == {"dispatchprice": 15, "dispatch_unit_scada": 3}
    assert outcome.report.issues == []


@pytest.mark.parametrize("chunk_bytes", [120, 400, 1 << 20])
def test_bad_rows_deep_in_a_file_are_found_once_with_their_line(
    write_mms, tmp_path: Path, monkeypatch, chunk_bytes: int
):
    monkeypatch.setattr("bidstack.io.chunks.CHUNK_BYTES", chunk_bytes)
    rows = [
        [f"2024/09/01 {hour:02d}:{minute:02d}:00", "1", "NSW1", "1", "0", "5"]
        for hour in range(3)
        for minute in range(0, 60, 5)
    ]
    rows[20][0] = "2024/09/01 25:00:00"
    rows[30].append("extra")
    path = write_mms("deep.csv", ("DISPATCH", "PRICE", 5, PRICE, rows))
    [outcome] = ingest([path], tmp_path / "store")
    assert sorted(str(issue) for issue in outcome.report.issues) == [
        f"{path}:23: bad datetime in SETTLEMENTDATE: '2024/09/01 25:00:00' (1 row rejected)",
        f"{path}:33: D row has 11 fields; the I row at {path}:2 names 10 (1 row rejected)",
    ]
    assert outcome.report.rows["dispatchprice"] == len(rows) - 2


@settings(max_examples=25, deadline=None)
@given(
    order=st.permutations(range(len(PRICE))),
    newline=st.sampled_from(["\n", "\r\n"]),
    quote_dates=st.booleans(),
    chunk_bytes=st.integers(min_value=40, max_value=2000),
)
def test_any_column_order_line_end_quoting_and_chunking_reads_the_same(
    tmp_path_factory, order, newline, quote_dates, chunk_bytes
):
    rows = [
        [f"2024/09/01 00:{5 * (i % 12):02d}:00", "1", f"R{i}", str(i), "0", f"{i / 3:.4f}"]
        for i in range(40)
    ]
    if quote_dates:
        rows = [[f'"{row[0]}"', *row[1:]] for row in rows]
    text = mms_text(
        ("DISPATCH", "PRICE", 5, [PRICE[i] for i in order], [[r[i] for i in order] for r in rows]),
        newline=newline,
    )
    folder = tmp_path_factory.mktemp("prop")
    (folder / "p.csv").write_bytes(text.encode())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bidstack.io.chunks.CHUNK_BYTES", chunk_bytes)
        [outcome] = ingest([folder / "p.csv"], folder / "store")
    frame = stored_prices(folder / "store").sort("dispatchinterval")
    assert outcome.report.issues == [] and frame.height == 40
    assert frame["regionid"].to_list() == [f"R{i}" for i in range(40)]
    assert frame["rrp"].to_list() == [round(i / 3, 4) for i in range(40)]
