"""Files given to ``bidstack ingest``: what they hold, and their bytes as whole lines.

A source is a plain CSV or a zip of CSVs. Its kind comes from its first bytes, not its name: an
MMS file starts with a ``C,`` row, a NEM12 file with ``100,NEM12``; anything else (a workbook, a
SQLite database, another CSV layout) is "not an MMS file" and is reported, not read.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from bidstack.errors import IngestError

CHUNK_BYTES = 32 << 20
HEAD_BYTES = 64
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
UTF8_BOM = b"\xef\xbb\xbf"

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


@dataclass(frozen=True)
class Member:
    """One CSV inside a source: the source itself, or one file of a zip."""

    where: str
    kind: str
    size: int
    open: Callable[[], AbstractContextManager[BinaryIO]]


@dataclass
class Source:
    """A file given to ingest, classified by content."""

    path: Path
    size: int
    members: list[Member] = field(default_factory=list)
    not_mms: str | None = None
    zipped: bool = False
    #: Files in a zip that are neither MMS nor NEM12 CSVs: not read, but reported.
    ignored: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        kinds = sorted({member.kind for member in self.members})
        return "+".join(kinds) if kinds else "not-mms"


def inspect(path: Path) -> Source:
    """Classify ``path``; raise :class:`IngestError` if it cannot be read or is a broken zip."""
    try:
        size = path.stat().st_size
        with path.open("rb") as raw:
            head = raw.read(HEAD_BYTES)
    except OSError as exc:
        raise IngestError(f"{path}: cannot be read ({exc})") from exc
    if head.startswith(ZIP_MAGIC):
        return _inspect_zip(path, size)
    kind = kind_of(head)
    if kind is None:
        return Source(path, size, not_mms=_describe(head))
    return Source(path, size, [Member(str(path), kind, size, lambda: path.open("rb"))])


def _inspect_zip(path: Path, size: int) -> Source:
    try:
        archive = zipfile.ZipFile(path)
        infos = [info for info in archive.infolist() if not info.is_dir()]
        heads = {info.filename: archive.open(info).read(HEAD_BYTES) for info in infos}
    except (*ZIP_ERRORS, OSError) as exc:
        raise IngestError(
            f"{path}: truncated or corrupt zip ({exc}); nothing was stored from it"
        ) from exc
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
    ignored = [info.filename for info in infos if kind_of(heads[info.filename]) is None]
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
    if head.startswith(b"SQLite format 3"):
        return "SQLite database"
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
class Chunk:
    """Whole lines of a stream: ``data[:size]``, each line ending with ``\\n``.

    ``data`` is reused two chunks later, so copy what must outlive the current chunk. ``read`` is
    how many bytes were read from the stream to fill it; ``marked`` how many lines start with
    ``marker`` (the marker the caller expected when the chunk was read, if any).
    """

    data: bytearray
    size: int
    read: int
    marker: bytes | None = None
    marked: int = 0

    def text(self) -> str:
        return self.data[: self.size].decode("utf-8", "replace")


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
    two buffers serve every chunk, so reading allocates nothing per chunk.
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


def _fill(
    stream: BinaryIO,
    digest: Callable[[memoryview], object] | None,
    buffer: bytearray,
    tail: bytes,
    marker: bytes | None,
) -> tuple[Chunk | None, bytes]:
    """Read whole lines into ``buffer`` after ``tail``; return them and the new partial line."""
    buffer[: len(tail)] = tail
    filled, read = len(tail), 0
    while True:
        if filled == len(buffer):  # a line longer than the buffer: make room
            buffer.extend(bytes(len(buffer)))
        with memoryview(buffer) as view:
            got = _read_into(stream, view[filled:])
            if digest is not None and got:
                digest(view[filled : filled + got])
        if not got:
            break
        filled += got
        read += got
        end = buffer.rfind(b"\n", 0, filled) + 1
        if end:
            return _chunk(buffer, end, read, marker), bytes(buffer[end:filled])
    if not filled:
        return None, b""
    if filled == len(buffer):
        buffer.append(0)
    buffer[filled] = ord("\n")
    return _chunk(buffer, filled + 1, read, marker), b""


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


def _chunk(buffer: bytearray, size: int, read: int, marker: bytes | None) -> Chunk:
    marked = count_line_starts(buffer, 0, size, marker) if marker else 0
    return Chunk(buffer, size, read, marker, marked)
