"""Files given to ``bidstack ingest``: what they hold (:mod:`bidstack.io.chunks` reads their bytes
as whole lines).

A source is a plain CSV, a zip of CSVs, a NEMOSIS cache (Parquet or Feather) or a SQLite
database. Its kind comes from its first bytes, not its name: an MMS file starts with a ``C,`` row,
a NEM12 file with ``100,NEM12``, a Parquet file with ``PAR1``, a Feather (Arrow IPC) file with
``ARROW1``, a SQLite database with ``SQLite format 3``. The name matters only for a cache, whose
name says the MMS table it holds (see :func:`cache_table`). Anything else (a workbook, another CSV
layout, a cache or database holding no MMS table) is "not an MMS file" and is reported, not read.

A file that looks damaged is rejected instead: one named ``.zip``, ``.parquet`` or ``.feather``
that is empty or not of that format (a failed download), and an MMS CSV that starts with an
``I`` row (its ``C`` header row is missing: cut at the start).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bidstack.errors import IngestError
from bidstack.io.chunks import CHUNK_BYTES, UTF8_BOM, ZIP_ERRORS
from bidstack.io.schema import find_table

HEAD_BYTES = 64
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: Leading bytes of the table formats bidstack reads, and the member kind each gives.
TABLE_MAGIC = {b"PAR1": "parquet", b"ARROW1": "feather"}
SQLITE_MAGIC = b"SQLite format 3\x00"
#: Name suffixes that promise a format bidstack reads: such a file that is empty or of another
#: format is damaged (a failed download, say), not "not MMS".
PROMISED_FORMATS = {
    ".zip": "a zip archive",
    ".parquet": "a Parquet file",
    ".feather": "a Feather file",
}
#: An MMS file cut at the start: its first line is an ``I`` or ``D`` row, not the ``C`` header
#: row.
HEADLESS_MMS = (b"I,", b"D,")
#: How NEMOSIS names its caches (the name up to the first dot): ``PUBLIC_DVD_<TABLE>_<date>``,
#: ``PUBLIC_NEXT_DAY_<TABLE>_<date>``, ``PUBLIC_ARCHIVE#<TABLE>#FILEnn#<date>`` (``#`` may be
#: saved as ``%23``) and other ``PUBLIC_<TABLE>_<date>`` names.
CACHE_NAME = re.compile(
    r"PUBLIC_(?:ARCHIVE(?:#|%23)(?P<archived>\w+?)(?:#|%23)FILE\d+(?:#|%23)\d+"
    r"|(?:DVD_|NEXT_DAY_)?(?P<table>\w+)_\d+)",
    re.IGNORECASE,
)

#: Leading bytes of each kind of source bidstack reads.
KIND_MARKERS = {"mms": (b"C,",), "nem12": (b"100,NEM12",)}


def kind_of(head: bytes) -> str | None:
    """``"mms"``, ``"nem12"`` or None, from a file's first bytes (blank lines before the first
    record skipped, as readers skip them)."""
    head = _first_record(head)
    return next((kind for kind, markers in KIND_MARKERS.items() if head.startswith(markers)), None)


def _first_record(head: bytes) -> bytes:
    """``head`` from its first record: without a byte order mark and blank lines before it."""
    return head.removeprefix(UTF8_BOM).lstrip(b"\r\n")


def cache_table(name: str) -> str | None:
    """The table a NEMOSIS cache file's name says it holds, upper-cased, or None.

    >>> cache_table("PUBLIC_DVD_BIDPEROFFER_D_20211231.parquet")
    'BIDPEROFFER_D'
    >>> cache_table("PUBLIC_ARCHIVE%23DISPATCHLOAD%23FILE01%23202408010000.feather")
    'DISPATCHLOAD'
    >>> cache_table("prices.parquet") is None
    True
    """
    match = CACHE_NAME.fullmatch(name.partition(".")[0])
    return (match["archived"] or match["table"]).upper() if match else None


@dataclass(frozen=True)
class Member:
    """One table-holding part of a source: the source itself, one file of a zip, or one table of
    a database. ``open`` gives a binary stream (a ``sqlite3`` connection for ``"sqlite"``);
    ``table`` is the MMS table a cache or database member holds, as the source names it."""

    where: str
    kind: str
    size: int
    open: Callable[[], AbstractContextManager]
    table: str | None = None


@dataclass(frozen=True)
class Ignored:
    """A part of a source that is not read (a non-MMS file in a zip, a non-MMS database table),
    with how many rows it holds where known."""

    where: str
    reason: str
    rows: int = 0


@dataclass
class Source:
    """A file given to ingest, classified by content."""

    path: Path
    size: int
    members: list[Member] = field(default_factory=list)
    not_mms: str | None = None
    zipped: bool = False
    #: Parts that are not read, but reported.
    ignored: list[Ignored] = field(default_factory=list)

    @property
    def kind(self) -> str:
        kinds = sorted({member.kind for member in self.members})
        return "+".join(kinds) if kinds else "not-mms"

    @property
    def streamed(self) -> bool:
        """True if the source is read as one stream of lines, so it can be hashed as it is
        read; other sources are hashed before reading."""
        return not self.zipped and all(m.kind in KIND_MARKERS for m in self.members)


def inspect(path: Path) -> Source:
    """Classify ``path``; raise :class:`IngestError` if it cannot be read or looks damaged."""
    try:
        size = path.stat().st_size
        with path.open("rb") as raw:
            head = raw.read(HEAD_BYTES)
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc})") from exc
    if head.startswith(ZIP_MAGIC):
        return _inspect_zip(path, size)
    table_kind = next((k for magic, k in TABLE_MAGIC.items() if head.startswith(magic)), None)
    if table_kind is not None:
        return _inspect_cache(path, size, table_kind)
    if head.startswith(SQLITE_MAGIC):
        return _inspect_database(path, size)
    promised = PROMISED_FORMATS.get(path.suffix.lower())
    if promised is not None:
        what = "empty" if not head else f"not {promised}"
        raise IngestError(
            f"{path}: {what}, though named {path.suffix} (a failed download?); "
            "nothing was stored from it"
        )
    _refuse_headless(str(path), head)
    kind = kind_of(head)
    if kind is None:
        return Source(path, size, not_mms=_describe(head))
    return Source(path, size, [Member(str(path), kind, size, lambda: path.open("rb"))])


def _refuse_headless(where: str, head: bytes) -> None:
    """Raise :class:`IngestError` if ``head`` is the start of an MMS file without its C row."""
    head = _first_record(head)
    if head.startswith(HEADLESS_MMS):
        first = head.splitlines()[0][:40].decode("latin-1")
        raise IngestError(
            f"{where}: an MMS file without its first C row (starts {first!r}: cut at the "
            "start?); nothing was stored from it"
        )


def _inspect_cache(path: Path, size: int, kind: str) -> Source:
    """A Parquet or Feather file: a NEMOSIS cache of the table its name names, if it does."""
    form = "Parquet" if kind == "parquet" else "Feather"
    table = cache_table(path.name)
    spec = find_table(table) if table else None
    if spec is None:
        named = f"a table {table} not" if table else "no table"
        return Source(
            path,
            size,
            not_mms=f"a {form} file whose name names {named} in the MMS Data Model v5.7 "
            f"(NEMOSIS caches are named PUBLIC_DVD_<TABLE>_<date>{path.suffix})",
        )
    member = Member(f"{path}[{spec.name}]", kind, size, lambda: path.open("rb"), spec.name)
    return Source(path, size, [member])


def _inspect_database(path: Path, size: int) -> Source:
    """A SQLite database: a member per table named as an MMS table; other tables ignored."""
    try:
        with closing(connect_read_only(path)) as database:
            names = [
                name
                for (name,) in database.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite%' ORDER BY name"
                )
            ]
            rows = {
                name: database.execute(f"SELECT count(*) FROM {quote_name(name)}").fetchone()[0]
                for name in names
            }
    except sqlite3.Error as exc:
        raise IngestError(
            f"{path}: not a readable SQLite database ({exc}); nothing was stored from it"
        ) from exc
    members, ignored = [], []
    for name in names:
        spec = find_table(name)
        if spec is None:
            ignored.append(
                Ignored(f"{path}[{name}]", "not an MMS table name; not read", rows[name])
            )
            continue
        members.append(
            Member(
                f"{path}[{name}]",
                "sqlite",
                max(1, rows[name]),
                lambda: closing(connect_read_only(path)),
                name,
            )
        )
    source = Source(path, size, members, ignored=ignored)
    if not members:
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "") or "none"
        source.not_mms = f"SQLite database with no table named as an MMS table (tables: {listed})"
    return source


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection to the SQLite database at ``path``."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def quote_name(name: str) -> str:
    """``name`` quoted as a SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


def _inspect_zip(path: Path, size: int) -> Source:
    try:
        archive = zipfile.ZipFile(path)
        infos = [info for info in archive.infolist() if not info.is_dir()]
        heads = {info.filename: archive.open(info).read(HEAD_BYTES) for info in infos}
    except (*ZIP_ERRORS, OSError) as exc:
        raise IngestError(
            f"{path}: truncated or corrupt zip ({exc}); nothing was stored from it"
        ) from exc
    for name, head in heads.items():
        _refuse_headless(f"{path}[{name}]", head)
    members = [
        Member(
            f"{path}[{info.filename}]",
            kind,
            info.file_size,
            lambda info=info: _open_member(path, info),
        )
        for info in infos
        if (kind := kind_of(heads[info.filename])) is not None
    ]
    ignored = [
        Ignored(f"{path}[{info.filename}]", "not an MMS or NEM12 CSV; not read")
        for info in infos
        if kind_of(heads[info.filename]) is None
    ]
    source = Source(path, size, members, zipped=True, ignored=ignored)
    if not members:
        names = ", ".join(info.filename for info in infos[:3]) or "nothing"
        source.not_mms = f"zip holds no MMS or NEM12 CSV ({names})"
    return source


@contextmanager
def _open_member(path: Path, info: zipfile.ZipInfo) -> Iterator[BinaryIO]:
    with zipfile.ZipFile(path) as archive, archive.open(info) as stream:
        yield stream


def _describe(head: bytes) -> str:
    if not head:
        return "empty file"
    first = head.splitlines()[0][:24].decode("latin-1")
    return f"first line starts {first!r}, not 'C,' (MMS) or '100,NEM12'"


def sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as raw:
            while block := raw.read(CHUNK_BYTES):
                digest.update(block)
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc})") from exc
    return digest.hexdigest()
