"""Damaged, empty and odd zips, ingested through the command line.

Each case checks the exit status, the one line naming the zip and its problem, no traceback, the
rows stored, and that nothing but the store changed (a member named ``../../evil.CSV`` is read,
never extracted).
"""

from __future__ import annotations

import io
import zipfile

import pytest

from badinput import expect, good_prices, price_file, run, store_rows

GOOD = price_file(good_prices(3)).encode()


def zipped(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return buffer.getvalue()


REAL = zipped(("PUBLIC_DISPATCHIS_202409010005.CSV", GOOD * 50))


def corrupted(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[60:80] = b"\xff" * 20
    return bytes(damaged)


@pytest.mark.parametrize(
    ("content", "status", "words", "rows"),
    [
        (b"", 1, ["rejected", "empty, though named .zip"], {}),
        (b"hello world\n", 1, ["rejected", "not a zip archive"], {}),
        (REAL[: len(REAL) // 2], 1, ["rejected", "truncated or corrupt zip"], {}),
        (corrupted(REAL), 1, ["rejected", "truncated or corrupt zip"], {}),
        (zipped(), 1, ["not-mms", "zip holds no MMS or NEM12 CSV"], {}),
        (zipped(("book.xlsx", b"PK\x03\x04junk")), 1, ["not-mms", "book.xlsx"], {}),
        (zipped(("inner.zip", REAL)), 1, ["not-mms", "inner.zip"], {}),
        (zipped(("a.CSV", b"")), 1, ["not-mms", "a.CSV"], {}),
        (zipped(("../../evil.CSV", GOOD)), 0, ["3 rows"], {"dispatchprice": 3}),
        (zipped(("a.CSV", GOOD.split(b"\n", 1)[1])), 1, ["without its first C row"], {}),
        (zipped(("a.CSV", GOOD), ("b.CSV", GOOD.rsplit(b"C,", 1)[0])), 1,
         ["b.CSV", "file ends without its"], {}),
        (zipped(("a.CSV", GOOD.replace(b"NSW1", b'"NSW1', 1))), 1,
         ["a.CSV]:3: ", "unclosed quote", "1 rows rejected"], {"dispatchprice": 2}),
    ],
    ids=[
        "empty", "text", "truncated", "corrupt-data", "no-members", "only-a-workbook",
        "nested-zip", "empty-member", "member-outside", "headless-member", "truncated-member",
        "unclosed-quote",
    ],
)  # fmt: skip
def test_a_zip_is_stored_or_rejected_in_one_line(tmp_path, untouched, content, status, words, rows):
    path = tmp_path / "in" / "PUBLIC_DISPATCHIS_202409010005.zip"
    path.parent.mkdir()
    path.write_bytes(content)
    guard = untouched(tmp_path / "store")
    ran = run("ingest", path, "--store", tmp_path / "store")
    expect(ran, status, path.name, *words)
    assert store_rows(tmp_path / "store") == rows
    guard.check()
