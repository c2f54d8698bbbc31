"""Helpers of the bad-input suite: run the command line in-process, build hostile files, and
check that nothing outside a command's intended output changed."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from bidstack.cli import main

HEADER = "C,NEMP.WORLD,BADINPUT,AEMO,PUBLIC,2024/09/01,00:00:00,0000000001,BADINPUT,0000000001"
PRICE_COLUMNS = "SETTLEMENTDATE,RUNNO,REGIONID,DISPATCHINTERVAL,INTERVENTION,RRP"


def price_row(index: int, rrp: object = 50, **fields: str) -> str:
    """A DISPATCHPRICE ``D`` row for the ``index``-th interval of 2024-09-01 (from 0)."""
    minutes = 5 * (index + 1)
    values = {
        "settlementdate": f"2024/09/01 {minutes // 60:02d}:{minutes % 60:02d}:00",
        "runno": "1",
        "regionid": "NSW1",
        "dispatchinterval": f"20240901{index + 1:03d}",
        "intervention": "0",
        "rrp": str(rrp),
    } | fields
    return "D,DISPATCH,PRICE,5," + ",".join(values.values())


def price_file(rows: Sequence[str], *, columns: str = PRICE_COLUMNS) -> str:
    """An MMS file of one DISPATCHPRICE section: header, I row, ``rows``, closing row."""
    lines = [HEADER, f"I,DISPATCH,PRICE,5,{columns}", *rows]
    return "\n".join([*lines, f'C,"END OF REPORT",{len(lines) + 1}']) + "\n"


def good_prices(count: int, first: int = 0) -> list[str]:
    return [price_row(index) for index in range(first, first + count)]


@dataclass(frozen=True)
class Ran:
    """What one run of the command line did: exit status and what it printed."""

    status: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run(*argv: object) -> Ran:
    """``bidstack ARGV`` in this process; a raw exception fails the test, as it should."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main([str(arg) for arg in argv])
    ran = Ran(status, out.getvalue(), err.getvalue())
    assert "Traceback" not in ran.text, ran.text
    return ran


def expect(ran: Ran, status: int, *words: str) -> None:
    """The run exited with ``status`` and said each of ``words`` (and no traceback)."""
    assert ran.status == status, ran.text
    for word in words:
        assert word in ran.text, f"{word!r} not in:\n{ran.text}"
    if status == 2:
        errors = [line for line in ran.err.splitlines() if line.startswith("bidstack: error:")]
        assert len(errors) == 1 or "usage:" in ran.err, ran.err


def file_hashes(root: Path, *allowed: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``root`` (and every link's target name), except under
    the ``allowed`` paths."""
    hashes = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            if any(path == place or place in path.parents for place in allowed):
                continue
            if path.is_symlink():
                hashes[str(path)] = "-> " + os.readlink(path)
            else:
                hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def store_rows(store: Path) -> dict[str, int]:
    """Rows per table of a store, from its Parquet footers (0 tables if there is no store)."""
    rows: dict[str, int] = {}
    for path in sorted(store.glob("*/month=*/*.parquet")):
        table = path.parent.parent.name
        rows[table] = rows.get(table, 0) + pq.ParquetFile(path).metadata.num_rows
    return rows


class Untouched:
    """Everything under ``root`` but the ``allowed`` paths, as it was when made."""

    def __init__(self, root: Path, *allowed: Path) -> None:
        self.root, self.allowed = root, allowed
        self.before = file_hashes(root, *allowed)
        assert self.before, "nothing to guard: give the test a sentinel file"

    def check(self) -> None:
        assert file_hashes(self.root, *self.allowed) == self.before
