"""Sources: classified by content, read as chunks of whole lines."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from bidstack.errors import IngestError
from bidstack.io.sources import inspect, kind_of, line_chunks


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
    monkeypatch.setattr("bidstack.io.sources.CHUNK_BYTES", chunk_bytes)
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


def test_zip_members_are_classified(tmp_path: Path):
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "hello")
        archive.writestr("PUBLIC_X.CSV", "C,NEMP.WORLD\n")
    source = inspect(path)
    assert source.zipped and source.kind == "mms"
    assert [member.where for member in source.members] == [f"{path}[PUBLIC_X.CSV]"]
    assert source.ignored == ["README.txt"]


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
