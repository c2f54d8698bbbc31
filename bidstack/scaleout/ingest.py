"""Parallel ingest: files parsed and staged on workers, committed by the store's single writer.

A worker runs :func:`parse_source`: it classifies a file, hashes it when needed, and returns at
once if its content is in the store already; else it writes the file's Parquet parts into
``STORE/_staging/<uuid>/`` and returns that folder. Workers never take the store's lock nor touch
its manifest. The driver (:func:`parallel_ingest`) holds the lock for the whole run and commits
in the order a serial ingest would (``bidstack.io.ingest``), so that two paths with the same
content give ``ingested`` then ``duplicate`` as they would serially, and the store ends the same.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from bidstack.errors import BidstackError, IngestError, StoreError, TaskError
from bidstack.io.ingest import (
    Outcome,
    _files,
    _ingest_file,
    _known,
    known_or_commit,
    read_source,
)
from bidstack.io.report import SourceReport
from bidstack.io.sources import inspect, sha256
from bidstack.io.store import Staging, open_for_writing, utc_now


@dataclass(frozen=True)
class Staged:
    """A file parsed on a worker: its staging ``folder`` (None if its content is known, or it
    was rejected: ``rejected`` is then the reason), the Parquet ``rows`` staged per file."""

    path: Path
    size: int
    digest: str | None
    folder: str | None = None
    rows: dict[str, int] | None = None
    report: SourceReport | None = None
    rejected: str | None = None


def parse_source(
    path: Path, store: str, known: frozenset[str], sizes: dict[str, int], strict: bool
) -> Staged | Outcome:
    """Parse and stage ``path`` (``known``: the stored content hashes; ``sizes``: the stored
    sources' sizes by key). See the module docstring."""
    key = str(path.resolve())
    size = path.stat().st_size
    try:
        source = inspect(path)
        if source.not_mms:
            return Outcome(path, "not-mms", f"not an MMS file: {source.not_mms}")
        digest = None
        if not source.streamed or sizes.get(key) == size:
            digest = sha256(path)
            if digest in known:
                return Staged(path, size, digest)
        staging = Staging(Path(store), key)
        try:
            report, digest = read_source(staging, source, digest, strict, lambda _: None)
            staging.close()
        except BaseException:
            staging.discard()
            raise
        return Staged(path, source.size, digest, str(staging.dir), dict(staging.rows), report)
    except IngestError as exc:
        return Staged(path, size, None, rejected=str(exc))
    except OSError as exc:
        raise StoreError(f"{store}: cannot stage {path.name} ({exc})") from exc


def parallel_ingest(
    paths: Sequence[str | os.PathLike],
    store: str | os.PathLike,
    executor: Executor,
    *,
    strict: bool = False,
    on_outcome: Callable[[Outcome], None] | None = None,
    progress: bool | None = None,
) -> list[Outcome]:
    """:func:`bidstack.io.ingest.ingest` with the parsing on ``executor``'s workers."""
    files = list(_files(paths, Path(store)))
    outcomes = []
    with open_for_writing(store) as writer:
        sources = writer.manifest["sources"]
        known = frozenset(entry["sha256"] for entry in sources.values() if entry.get("sha256"))
        sizes = {key: entry["bytes"] for key, entry in sources.items() if entry.get("bytes")}
        root = str(writer.root)
        largest_first = sorted(files, key=lambda path: -path.stat().st_size)
        futures = {
            path: executor.submit(parse_source, path, root, known, sizes, strict)
            for path in largest_first
        }
        bar = tqdm(total=len(files), unit="file", desc="ingest", file=sys.stderr,
                   disable=None if progress is None else not progress)  # fmt: skip
        with bar:
            for path in files:
                try:
                    staged = futures[path].result()
                except BidstackError:
                    raise
                except Exception as exc:
                    raise TaskError(f"{path}: parsing failed: {type(exc).__name__}: {exc}") from exc
                outcome = _finish(writer, staged, strict)
                outcomes.append(outcome)
                bar.update()
                if on_outcome is not None:
                    on_outcome(outcome)
    return outcomes


def _finish(writer, staged: Staged | Outcome, strict: bool) -> Outcome:
    """Commit (or record) one parsed file, as a serial ingest would at this point."""
    if isinstance(staged, Outcome):
        return staged
    path, key = staged.path, str(staged.path.resolve())
    if staged.rejected is not None:
        writer.record_rejection(key, {"at": utc_now(), "reason": staged.rejected})
        return Outcome(path, "rejected", staged.rejected)
    if staged.folder is None:
        known = _known(writer, path, staged.digest)
        # known when the run began, but replaced since: read it here, as a serial ingest would
        return known or _ingest_file(writer, path, strict, lambda _: None)
    staging = Staging(writer.root, key)
    staging.dir, staging.rows = Path(staged.folder), dict(staged.rows)
    outcome = known_or_commit(writer, staging, path, staged.size, staged.report, staged.digest)
    staging.discard()
    return outcome
