"""Ingest AEMO MMS and NEM12 files, NEMOSIS caches and SQLite databases into a store: the engine
behind ``bidstack ingest``.

Each file given (folders are walked) ends in exactly one :class:`Outcome`:

- ``ingested``: read and committed (``replaced`` when it replaced an earlier version of itself);
- ``unchanged``: the same path was ingested before with the same content hash;
- ``duplicate``: another path with the same content hash is already in the store;
- ``rejected``: unreadable or damaged (corrupt zip, truncated file, an empty ``.zip``, an MMS
  CSV without its ``C`` header row); nothing of it was written;
- ``not-mms``: holds nothing bidstack reads (a workbook, another CSV layout, a cache or database
  without an MMS table).

A source is keyed by its absolute path and identified by the SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
from tqdm import tqdm

from bidstack.errors import IngestError, InputError, StoreError
from bidstack.io.chunks import CorruptStream, line_chunks
from bidstack.io.mms import MmsReader
from bidstack.io.nem12 import Nem12Reader
from bidstack.io.report import SourceReport
from bidstack.io.schema import TableSpec
from bidstack.io.sources import Member, Source, inspect, sha256
from bidstack.io.store import Staging, StoreWriter, open_for_writing, utc_now
from bidstack.io.tabular import TABLE_KINDS, read_member


@dataclass
class Outcome:
    """What ingest did with one file."""

    path: Path
    status: str
    detail: str
    report: SourceReport | None = None

    @property
    def failed(self) -> bool:
        """True when input was rejected: the whole file, or some of its rows."""
        rejected_rows = self.report is not None and self.report.rejected_rows > 0
        return self.status == "rejected" or rejected_rows


def ingest(
    paths: Sequence[str | os.PathLike],
    store: str | os.PathLike,
    *,
    strict: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    progress: bool | None = None,
) -> list[Outcome]:
    """Ingest every file under ``paths`` into ``store``; return one outcome per file.

    ``strict`` rejects a file whose closing ``END OF REPORT`` count disagrees with its line count
    (by default that is a warning, since tools such as NEMOSIS rewrite files but keep the count).
    ``on_outcome`` is called as each file finishes. ``progress`` shows a progress bar (None: only
    when standard error is a terminal).
    """
    files = list(_files(paths, Path(store)))
    outcomes = []
    with (
        open_for_writing(store) as writer,
        tqdm(
            total=sum(path.stat().st_size for path in files),
            unit="B",
            unit_scale=True,
            disable=None if progress is None else not progress,
            file=sys.stderr,
            desc="ingest",
        ) as bar,
    ):
        done = 0
        for path in files:
            outcome = _ingest_file(writer, path, strict, bar.update)
            done += path.stat().st_size
            bar.update(done - bar.n)
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return outcomes


def _files(paths: Iterable[str | os.PathLike], store: Path) -> Iterator[Path]:
    store = store.resolve()
    for given in map(Path, paths):
        if not given.exists():
            raise InputError(f"{given}: no such file or folder")
        candidates = sorted(given.rglob("*")) if given.is_dir() else [given]
        for path in candidates:
            if path.is_file() and not path.resolve().is_relative_to(store):
                yield path


def _ingest_file(
    writer: StoreWriter, path: Path, strict: bool, advance: Callable[[float], object]
) -> Outcome:
    key = str(path.resolve())
    size = path.stat().st_size
    try:
        source = inspect(path)
        if source.not_mms:
            return Outcome(path, "not-mms", f"not an MMS file: {source.not_mms}")
        previous = writer.manifest["sources"].get(key)
        digest = None
        if not source.streamed or (previous and previous["bytes"] == size):
            digest = sha256(path)
            known = _known(writer, path, digest)
            if known:
                return known
        return _read_and_commit(writer, source, digest, strict, advance)
    except IngestError as exc:
        writer.record_rejection(key, {"at": utc_now(), "reason": str(exc)})
        return Outcome(path, "rejected", str(exc))
    except OSError as exc:
        raise StoreError(f"{writer.root}: cannot write {path.name} into the store ({exc})") from exc


def _known(writer: StoreWriter, path: Path, digest: str) -> Outcome | None:
    """The outcome for a source whose content is already stored, else None."""
    stored = writer.source_with_hash(digest)
    if stored == str(path.resolve()):
        return Outcome(path, "unchanged", f"already ingested (sha256 {digest[:12]})")
    if stored is not None:
        return Outcome(path, "duplicate", f"same content as {stored}; not stored twice")
    return None


def _read_and_commit(
    writer: StoreWriter,
    source: Source,
    digest: str | None,
    strict: bool,
    advance: Callable[[float], object],
) -> Outcome:
    """Read every member of ``source`` into a staging area and commit it.

    ``digest`` is the source's SHA-256 if already known; otherwise it is computed while reading.
    """
    with writer.staging(str(source.path.resolve())) as staging:
        report, digest = read_source(staging, source, digest, strict, advance)
        return known_or_commit(writer, staging, source.path, source.size, report, digest)


def read_source(
    staging: Staging,
    source: Source,
    digest: str | None,
    strict: bool,
    advance: Callable[[float], object],
) -> tuple[SourceReport, str]:
    """Read every member of ``source`` into ``staging``; its report and SHA-256 (``digest``, or
    computed while reading)."""
    report = SourceReport(str(source.path.resolve()), source.kind)
    for part in source.ignored:
        report.add("skipped", part.where, part.reason, part.rows)
    hasher = hashlib.sha256() if digest is None else None
    scale = source.size / max(1, sum(member.size for member in source.members))
    for member in source.members:
        feed = hasher.update if hasher else None
        for spec, table in _tables(member, report, strict, feed, lambda n: advance(n * scale)):
            staging.write(spec, table)
    return report, digest or hasher.hexdigest()


def known_or_commit(
    writer: StoreWriter,
    staging: Staging,
    path: Path,
    size: int,
    report: SourceReport,
    digest: str,
) -> Outcome:
    """Commit a staged source, unless its content is stored already (``unchanged``/``duplicate``:
    the staging is then discarded); rows that conflict with another source's are settled first
    (:meth:`StoreWriter.settle_conflicts`)."""
    known = _known(writer, path, digest)
    if known:
        return known
    writer.settle_conflicts(staging, report)
    key = str(path.resolve())
    replaced = key in writer.manifest["sources"]
    entry = report.as_manifest() | {
        "path": key,
        "sha256": digest,
        "bytes": size,
        "ingested_at": utc_now(),
    }
    writer.commit(staging, entry)
    status = "replaced" if replaced else "ingested"
    return Outcome(path, status, _describe(report), report)


def _tables(
    member: Member,
    report: SourceReport,
    strict: bool,
    digest: Callable[[memoryview], object] | None,
    advance: Callable[[int], object],
) -> Iterator[tuple[TableSpec, pa.Table]]:
    """Typed tables of one member, read by the reader for its kind."""
    if member.kind in TABLE_KINDS:
        yield from read_member(member, report, advance)
        return
    if member.kind == "nem12":
        reader = Nem12Reader(member.where, report, Path(member.where).name)
        marker = None
    else:
        reader = MmsReader(member.where, report, strict=strict)
        marker = reader.expected_prefix
    try:
        with member.open() as stream:
            yield from reader.tables(line_chunks(stream, advance, digest, marker))
    except CorruptStream as exc:
        found = f", found reading past line {reader.lines_read}" if reader.lines_read else ""
        raise IngestError(
            f"{member.where}: truncated or corrupt zip{found} ({exc}); nothing was stored from it"
        ) from exc
    except OSError as exc:
        raise IngestError(f"{member.where}: cannot be read ({exc})") from exc


def _describe(report: SourceReport) -> str:
    total = sum(report.rows.values())
    tables = ", ".join(f"{table} {rows}" for table, rows in sorted(report.rows.items()))
    counts = [
        f"{report.counts[f'{severity}_rows']} rows {severity}"
        for severity in ("skipped", "rejected")
        if report.counts[f"{severity}_rows"]
    ]
    warnings = report.counts["warning"]
    if warnings:
        counts.append(f"{warnings} warning" + ("s" if warnings > 1 else ""))
    return f"{total} rows" + (f" ({tables})" if tables else "") + "".join(f"; {c}" for c in counts)
