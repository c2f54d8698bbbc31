"""Sources: classified by content, read as chunks of whole lines."""

from __future__ import annotations

import hashlib
import io
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bidstack.errors import IngestError
from bidstack.io.chunks import line_chunks
from bidstack.io.sources import cache_table, inspect, kind_of


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"C,NEMP.WORLD,DISPATCHIS", "mms"),
        (b"\xef\xbb\xbfC,SETP.WORLD", "mms"),
        (b"100,NEM12,200506081149,UNITEDDP,NEMMCO", "nem12"),
        (b"100,NEM13,200506081149", None),
        (b"I,DISPATCH,PRICE", None),
        (b"", None),
    ],
)
def test_kind_comes_from_the_first_bytes(head: bytes, kind):
    assert kind_of(head) == kind


@pytest.mark.parametrize("chunk_bytes", [4, 7, 64])
def test_chunks_hold_whole_lines_whatever_the_buffer(monkeypatch, chunk_bytes: int):
    monkeypatch.setattr("bidstack.io.chunks.CHUNK_BYTES", chunk_bytes)
    content = b"C,a\r\nI,a,b,1,X\r\nD,a,b,1,a-line-longer-than-the-buffer\nD,a,b,1,2\nlast"
    seen, hashed = [], hashlib.sha256()
    chunks = [
        bytes(chunk.data[: chunk.size])
        for chunk in line_chunks(io.BytesIO(content), seen.append, hashed.update)
    ]
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    assert b"".join(chunks) == content + b"\n"
    assert sum(seen) == len(content)
    assert hashed.hexdigest() == hashlib.sha256(content).hexdigest()


@settings(max_examples=300, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), max_size=30),
    chunk_bytes=st.integers(1, 48),
    max_line=st.integers(1, 24),
    last_line_end=st.booleans(),
)
def test_lines_over_the_limit_are_listed_and_never_kept_beyond_a_chunk(
    lengths: list[int], chunk_bytes: int, max_line: int, last_line_end: bool
):
    # every line comes out, in order: as it was, or (over the limit) as a listed long line
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("bidstack.io.chunks.CHUNK_BYTES", chunk_bytes)
        patch.setattr("bidstack.io.chunks.MAX_LINE_BYTES", max_line)
        seen, hashed = read_lines(lengths, chunk_bytes, max_line, last_line_end)
    content = stream_of(lengths, last_line_end)
    lines = content.split(b"\n")
    lines = lines[:-1] if lines[-1] == b"" else lines  # a last line end ends the last line
    assert [(kept, length) for kept, length in seen] == [
        (None if len(line) > max_line else line, len(line)) for line in lines
    ]
    assert hashed == hashlib.sha256(content).hexdigest()


def stream_of(lengths: list[int], last_line_end: bool) -> bytes:
    lines = [bytes([65 + i % 26]) * length for i, length in enumerate(lengths)]
    return b"\n".join(lines) + (b"\n" if last_line_end and lines else b"")


def read_lines(
    lengths: list[int], chunk_bytes: int, max_line: int, last_line_end: bool
) -> tuple[list[tuple[bytes | None, int]], str]:
    """Each line read back (None where over the limit) with its length, and the stream's hash."""
    content = stream_of(lengths, last_line_end)
    hashed = hashlib.sha256()
    seen: list[tuple[bytes | None, int]] = []
    for chunk in line_chunks(io.BytesIO(content), lambda _: None, hashed.update):
        data = bytes(chunk.data[: chunk.size])
        assert data.endswith(b"\n") and len(chunk.data) <= max(chunk_bytes, 2 * max_line + 2)
        long = {line.start: line for line in chunk.long_lines}
        offset = 0
        for line in data.split(b"\n")[:-1]:
            if offset in long:
                assert long[offset].end == offset + len(line)
                seen.append((None, long[offset].length))
            else:
                seen.append((line, len(line)))
            offset += len(line) + 1
    return seen, hashed.hexdigest()


def test_zip_members_are_classified(tmp_path: Path):
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "hello")
        archive.writestr("PUBLIC_X.CSV", "C,NEMP.WORLD\n")
    source = inspect(path)
    assert source.zipped and source.kind == "mms"
    assert [member.where for member in source.members] == [f"{path}[PUBLIC_X.CSV]"]
    assert [part.where for part in source.ignored] == [f"{path}[README.txt]"]


def test_a_workbook_is_not_mms(tmp_path: Path):
    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<xml/>")
    assert inspect(path).not_mms == "zip holds no MMS or NEM12 CSV ([Content_Types].xml)"


def test_a_broken_zip_is_an_ingest_error(tmp_path: Path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04" + bytes(100))
    with pytest.raises(IngestError, match=r"broken.zip: truncated or corrupt zip"):
        inspect(path)


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("PUBLIC_DVD_BIDPEROFFER_D_20211231.parquet", "BIDPEROFFER_D"),
        ("PUBLIC_DVD_DISPATCHLOAD_202201010000.parquet", "DISPATCHLOAD"),
        ("PUBLIC_DVD_MNSP_DAYOFFER_202104010000.feather", "MNSP_DAYOFFER"),
        ("PUBLIC_NEXT_DAY_DISPATCHLOAD_20240901.parquet", "DISPATCHLOAD"),
        ("PUBLIC_NEXT_DAY_INTERMITTENT_GEN_SCADA_20240901.parquet", "INTERMITTENT_GEN_SCADA"),
        ("PUBLIC_ARCHIVE#BIDDAYOFFER_D#FILE01#202408010000.parquet", "BIDDAYOFFER_D"),
        (
            "PUBLIC_ARCHIVE%23DISPATCH_UNIT_SCADA%23FILE02%23202408010000.parquet",
            "DISPATCH_UNIT_SCADA",
        ),
        ("public_dvd_dispatchprice_202201010000.parquet", "DISPATCHPRICE"),
        ("PUBLIC_DAILY_REGION_SUMMARY_20240901.parquet", "DAILY_REGION_SUMMARY"),
        ("PUBLIC_DVD_DISPATCHPRICE.parquet", None),
        ("prices.parquet", None),
    ],
)
def test_cache_names_say_their_table(name: str, table: str | None):
    assert cache_table(name) == table


@pytest.mark.parametrize(
    ("head", "kind"),
    [(b"PAR1\x15\x04", "parquet"), (b"ARROW1\x00\x00", "feather")],
)
def test_caches_are_classified_by_content_and_named_by_file(tmp_path: Path, head: bytes, kind):
    path = tmp_path / "PUBLIC_DVD_DISPATCHPRICE_202201010000.cache"
    path.write_bytes(head + bytes(16))
    [member] = inspect(path).members
    assert (member.kind, member.table, member.where) == (
        kind,
        "DISPATCHPRICE",
        f"{path}[DISPATCHPRICE]",
    )


def test_a_database_has_a_member_per_mms_table(tmp_path: Path):
    path = tmp_path / "mms.db"
    with closing(sqlite3.connect(path)) as database:
        database.execute("CREATE TABLE dispatchprice (SETTLEMENTDATE TEXT)")
        database.execute("CREATE TABLE notes (text TEXT)")
        database.executemany("INSERT INTO notes VALUES (?)", [("a",), ("b",)])
        database.commit()
    source = inspect(path)
    assert [(m.kind, m.table, m.where) for m in source.members] == [
        ("sqlite", "dispatchprice", f"{path}[dispatchprice]")
    ]
    [ignored] = source.ignored
    assert (ignored.where, ignored.rows) == (f"{path}[notes]", 2)
    assert "not an MMS table name" in ignored.reason
