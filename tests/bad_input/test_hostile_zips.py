"""Highly compressed hostile zips: ingest runs in a child process under a memory limit
(``resource.setrlimit``), so memory that grows with what a file holds fails the test.

Each zip is a few hundred kB holding 192 MB: blank lines, blank lines between rows, or one line
of 192 MB. Before memory was bounded, 128 MB of blank lines took 2 GB and 43 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from badinput import HEADER, price_row, store_rows

MB = 1 << 20
#: What the hostile content adds to the memory an ingest of a small file takes.
HEADROOM = 640 * MB
#: Fewer threads make the memory a child needs the same on any machine.
THREADS = {
    "POLARS_MAX_THREADS": "2",
    "OMP_NUM_THREADS": "2",
    "NUMBA_NUM_THREADS": "2",
    "MALLOC_ARENA_MAX": "2",
}
CHILD = """
import resource, sys
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from bidstack.cli import main
status = main(["ingest", sys.argv[2], "--store", sys.argv[3]])
peak = open("/proc/self/status").read().split("VmPeak:")[1].split()[0]
print("peak", int(peak) * 1024, file=sys.stderr)
sys.exit(status)
"""
MEMBER = "PUBLIC_DISPATCHIS_202409010005.CSV"
OPENING = f"{HEADER}\nI,DISPATCH,PRICE,5,SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,"
OPENING += "INTERVENTION,RRP\n"


def hostile_zip(path: Path, write: Callable[[zipfile.ZipExtFile], int]) -> Path:
    """A zip of one MMS file: its opening rows, ``write``'s content (which returns the rows it
    wrote), three good rows and the closing row; streamed, never whole in memory."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive,
        archive.open(MEMBER, "w", force_zip64=True) as member,
    ):
        member.write(OPENING.encode())
        lines = 2 + write(member)
        for index in range(3):
            member.write(f"{price_row(index)}\n".encode())
        member.write(f'C,"END OF REPORT",{lines + 4}\n'.encode())
    return path


def blank_lines(member) -> int:
    for _ in range(192):
        member.write(b"\n" * MB)
    return 192 * MB


def blank_lines_between_rows(member) -> int:
    for index in range(192):
        member.write(f"{price_row(3 + index)}\n".encode() + b"\r\n" * (MB // 2))
    return 192 * (1 + MB // 2)


def one_long_line(member) -> int:
    member.write(b"D,DISPATCH,PRICE,5,2024/09/01 00:05:00,1,NSW1,")
    for _ in range(192):
        member.write(b"9" * MB)
    member.write(b"\n")
    return 1


def ingest_in_child(zip_path: Path, store: Path, limit: int) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(limit), str(zip_path), str(store)],
        capture_output=True,
        text=True,
        env=os.environ | THREADS,
        timeout=300,
        check=False,
    )


def peak(ran: subprocess.CompletedProcess) -> int:
    return int(ran.stderr.rsplit("peak ", 1)[1].split()[0])


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> int:
    """The peak virtual memory of an ingest of a small zip, unlimited."""
    root = tmp_path_factory.mktemp("baseline")
    small = hostile_zip(root / "small.zip", lambda member: 0)
    ran = ingest_in_child(small, root / "store", 0)
    assert ran.returncode == 0, ran.stderr
    return peak(ran)


@pytest.mark.parametrize(
    ("content", "status", "words", "rows"),
    [
        (blank_lines, 0, ["3 rows"], 3),
        (blank_lines_between_rows, 0, ["195 rows"], 195),
        (one_long_line, 1, [":3: line of 201,326,", "over the limit", "1 rows rejected"], 3),
    ],
    ids=["blank-lines", "blank-lines-between-rows", "one-long-line"],
)
def test_a_highly_compressed_zip_is_ingested_within_a_memory_limit(
    tmp_path, untouched, baseline, content, status, words, rows
):
    (tmp_path / "in").mkdir()
    path = hostile_zip(tmp_path / "in" / "hostile.zip", content)
    assert path.stat().st_size < 2 * MB
    guard = untouched(tmp_path / "store", tmp_path / "in")
    ran = ingest_in_child(path, tmp_path / "store", baseline + HEADROOM)
    text = ran.stdout + ran.stderr
    assert ran.returncode == status, text
    assert "Traceback" not in text and "MemoryError" not in text, text
    for word in words:
        assert word in text, f"{word!r} not in:\n{text}"
    assert peak(ran) <= baseline + HEADROOM
    assert store_rows(tmp_path / "store") == {"dispatchprice": rows}
    guard.check()
