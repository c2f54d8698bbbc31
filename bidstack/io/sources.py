"""Files given to ``bidstack ingest``: what they hold, and their bytes as whole lines.

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
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bidstack.errors import IngestError
from bidstack.io.schema import find_table

CHUNK_BYTES = 32 << 20
#: The longest line read, in bytes. No MMS or NEM12 line comes close (the longest real ones are
#: a few kB); a longer line is rejected, naming its line, and never held in memory whole.
MAX_LINE_BYTES = 1 << 20
HEAD_BYTES = 64
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
UTF8_BOM = b"\xef\xbb\xbf"
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
#: An MMS file cut at the start: its first line is an ``I`` row, not the ``C`` header row.
HEADLESS_MMS = b"I,"
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

#: Errors Python's zip reader raises on a truncated or corrupt archive.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError)


class CorruptStream(Exception):
    """A stream's bytes could not be read: a truncated or corrupt zip member. Raised only by
    the read itself, so that an error of the code reading the lines is never taken for one."""


def kind_of(head: bytes) -> str | None:
    """``"mms"``, ``"nem12"`` or None, from a file's first bytes."""
    head = head.removeprefix(UTF8_BOM)
    return next((kind for kind, markers in KIND_MARKERS.items() if head.startswith(markers)), None)


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
    if head.removeprefix(UTF8_BOM).startswith(HEADLESS_MMS):
        first = head.removeprefix(UTF8_BOM).splitlines()[0][:40].decode("latin-1")
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


@dataclass(frozen=True)
class LongLine:
    """A line over :data:`MAX_LINE_BYTES` in a chunk: its bytes are ``data[start:end]`` and its
    line end is at ``end``. A line longer than a chunk is not kept: it stands as an empty line
    (``start == end``). ``length`` is its length in bytes, line end excluded."""

    start: int
    end: int
    length: int


@dataclass(frozen=True)
class Chunk:
    """Whole lines of a stream: ``data[:size]``, each line ending with ``\\n``.

    ``data`` is reused two chunks later, so copy what must outlive the current chunk. ``read`` is
    how many bytes were read from the stream to fill it; ``marked`` how many lines start with
    ``marker`` (the marker the caller expected when the chunk was read, if any). ``long_lines``
    are the lines over :data:`MAX_LINE_BYTES`, which readers reject.
    """

    data: bytearray
    size: int
    read: int
    marker: bytes | None = None
    marked: int = 0
    long_lines: tuple[LongLine, ...] = ()

    def text(self) -> str:
        return self.data[: self.size].decode("utf-8", "replace")


@dataclass(frozen=True)
class _Skipping:
    """The rest of a line over :data:`MAX_LINE_BYTES`, still to be read past."""

    length: int


def line_chunks(
    stream: BinaryIO,
    advance: Callable[[int], None],
    digest: Callable[[memoryview], object] | None = None,
    marker: Callable[[], bytes | None] | None = None,
) -> Iterator[Chunk]:
    """The stream's bytes in chunks of whole lines, about :data:`CHUNK_BYTES` each.

    ``advance`` is told how many bytes were read; ``digest``, if given, is fed every byte read;
    ``marker()``, if given, names the line start to count in the next chunk. A last line without
    a line end gets one, so every chunk splits cleanly into lines. While the caller works on one
    chunk, a background thread reads, hashes and counts the next one into a second buffer; the
    two buffers serve every chunk, so reading allocates nothing per chunk. Memory stays bounded
    whatever the stream holds: a line over :data:`MAX_LINE_BYTES` is read past, not kept (see
    :attr:`Chunk.long_lines`).
    """
    buffers = (bytearray(CHUNK_BYTES), bytearray(CHUNK_BYTES))
    head = _read(stream, len(UTF8_BOM))  # a byte order mark is read (and hashed) but not kept
    if digest is not None and head:
        digest(memoryview(head))
    advance(len(head))
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bidstack-read") as reader:
        expected = marker or (lambda: None)
        chunk, tail = _fill(stream, digest, buffers[0], head.removeprefix(UTF8_BOM), expected())
        turn = 0
        while chunk is not None:
            turn ^= 1
            upcoming = reader.submit(_fill, stream, digest, buffers[turn], tail, expected())
            advance(chunk.read)
            yield chunk
            chunk, tail = upcoming.result()


def count_line_starts(data: bytes | bytearray, start: int, stop: int, prefix: bytes) -> int:
    """How many lines of ``data[start:stop]`` start with ``prefix`` (``start`` begins a line)."""
    if start == 0:
        return data.count(b"\n" + prefix, 0, stop) + data.startswith(prefix, 0, stop)
    return data.count(b"\n" + prefix, start - 1, stop)


def nonblank_lines(data: bytes | bytearray, start: int, stop: int) -> Iterator[tuple[int, bytes]]:
    """The lines of ``data[start:stop]`` (``start`` begins a line, each line ends with ``\\n``)
    that hold more than white space, each with its index among the lines there (from 0).

    Runs of blank lines are passed over by a regular-expression search, never split into a list,
    so a stream of nothing but line ends costs neither time nor memory per line.

    >>> list(nonblank_lines(b"a\\n\\n \\r\\nb\\n", 0, 8))
    [(0, b'a\\n'), (3, b'b\\n')]
    """
    index, position = 0, start
    while (found := _NOT_BLANK.search(data, position, stop)) is not None:
        line_start = data.rfind(b"\n", position, found.start()) + 1 or position
        index += data.count(b"\n", position, line_start)
        line_end = data.index(b"\n", found.start(), stop) + 1
        yield index, bytes(data[line_start:line_end])
        index += 1
        position = line_end


_NOT_BLANK = re.compile(rb"[^ \t\r\n]")


def _fill(
    stream: BinaryIO,
    digest: Callable[[memoryview], object] | None,
    buffer: bytearray,
    tail: bytes | _Skipping,
    marker: bytes | None,
) -> tuple[Chunk | None, bytes | _Skipping]:
    """Read whole lines into ``buffer`` after ``tail`` (a partial line, or the rest of a line
    over the limit to read past); return them and the new tail."""
    long_lines: list[LongLine] = []
    read = 0
    if isinstance(tail, _Skipping):
        filled, read, more = _skip_line(stream, digest, buffer, tail.length, long_lines)
        if not more:
            return _chunk(buffer, filled, read, marker, long_lines), b""
    else:
        buffer[: len(tail)] = tail
        filled = len(tail)
    line_end = filled > 0 and buffer.rfind(b"\n", 0, filled) >= 0
    while not line_end:
        if filled == len(buffer):  # one partial line fills the buffer
            if filled > MAX_LINE_BYTES:
                filled, more, going = _skip_line(stream, digest, buffer, filled, long_lines)
                read += more
                if not going:
                    break
                line_end = True
                continue
            buffer.extend(bytes(len(buffer)))
        with memoryview(buffer) as view:
            got = _read_into(stream, view[filled:])
            if digest is not None and got:
                digest(view[filled : filled + got])
        if not got:
            break
        line_end = buffer.find(b"\n", filled, filled + got) >= 0
        filled += got
        read += got
    end = buffer.rfind(b"\n", 0, filled) + 1
    if end:
        rest = filled - end
        after = _Skipping(rest) if rest > MAX_LINE_BYTES else bytes(buffer[end:filled])
        return _chunk(buffer, end, read, marker, long_lines), after
    if not filled:
        return None, b""
    if filled > MAX_LINE_BYTES:  # the stream ends in a line over the limit
        long_lines.append(LongLine(0, 0, filled))
        filled = 0
    if filled == len(buffer):
        buffer.append(0)
    buffer[filled] = ord("\n")
    return _chunk(buffer, filled + 1, read, marker, long_lines), b""


def _skip_line(
    stream: BinaryIO,
    digest: Callable[[memoryview], object] | None,
    buffer: bytearray,
    length: int,
    long_lines: list[LongLine],
) -> tuple[int, int, bool]:
    """Read past the rest of a line over the limit (``length`` bytes of it read so far), using
    ``buffer`` as scratch; leave an empty line for it at the buffer's start, then what followed
    its line end. Return the bytes now in the buffer, the bytes read, and whether the stream
    goes on (False: the line ended the stream)."""
    read = 0
    with memoryview(buffer) as view:
        while True:
            got = _read_into(stream, view)
            if digest is not None and got:
                digest(view[:got])
            read += got
            line_end = buffer.find(b"\n", 0, got) if got else -1
            if not got or line_end >= 0:
                break
            length += got
    long_lines.append(LongLine(0, 0, length + max(line_end, 0)))
    rest = got - line_end - 1 if got else 0
    buffer[1 : 1 + rest] = buffer[line_end + 1 : got] if got else b""
    buffer[0] = ord("\n")
    return 1 + rest, read, bool(got)


def _read_into(stream: BinaryIO, view: memoryview) -> int:
    try:
        return stream.readinto(view)
    except ZIP_ERRORS as exc:
        raise CorruptStream(str(exc)) from exc


def _read(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes: fewer only at the end of the stream."""
    buffer, got = bytearray(size), 0
    with memoryview(buffer) as view:
        while got < size and (more := _read_into(stream, view[got:])):
            got += more
    return bytes(buffer[:got])


def _chunk(
    buffer: bytearray, size: int, read: int, marker: bytes | None, long_lines: list[LongLine]
) -> Chunk:
    marked = count_line_starts(buffer, 0, size, marker) if marker else 0
    found = tuple(long_lines) + _long_lines(buffer, 1 if long_lines else 0, size)
    return Chunk(buffer, size, read, marker, marked, found)


def _long_lines(data: bytearray, start: int, stop: int) -> tuple[LongLine, ...]:
    """The lines of ``data[start:stop]`` over :data:`MAX_LINE_BYTES`.

    A line that long holds a whole window of half that length, aligned on its multiples, with no
    line end; so one search for a line end per window finds every such line (a few searches per
    chunk), and only the lines around a window without one are measured.
    """
    window = max(1, MAX_LINE_BYTES // 2)
    found: list[LongLine] = []
    position = start
    while position < stop:
        window_end = min(stop, position + window)
        if data.find(b"\n", position, window_end) >= 0 or window_end - position < window:
            position = window_end
            continue
        line_start = data.rfind(b"\n", start, position) + 1 or start
        line_end = data.find(b"\n", position, stop)
        if line_end - line_start > MAX_LINE_BYTES:
            found.append(LongLine(line_start, line_end, line_end - line_start))
        position = line_end + 1
    return tuple(found)
