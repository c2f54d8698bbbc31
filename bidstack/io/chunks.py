"""A stream's bytes as chunks of whole lines, read ahead in a background thread.

Every reader of MMS and NEM12 text takes its input from :func:`line_chunks`: chunks of about
:data:`CHUNK_BYTES`, each ending at a line end, with the lines over :data:`MAX_LINE_BYTES` listed
rather than kept, so memory stays bounded whatever a file holds.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO

CHUNK_BYTES = 32 << 20
#: The longest line read, in bytes. No MMS or NEM12 line comes close (the longest real ones are
#: a few kB); a longer line is rejected, naming its line, and never held in memory whole.
MAX_LINE_BYTES = 1 << 20
UTF8_BOM = b"\xef\xbb\xbf"

#: Errors Python's zip reader raises on a truncated or corrupt archive.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError)


class CorruptStream(Exception):
    """A stream's bytes could not be read: a truncated or corrupt zip member. Raised only by
    the read itself, so that an error of the code reading the lines is never taken for one."""


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
