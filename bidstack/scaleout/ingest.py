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
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
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
from bidstack.scaleout.driver import RESPAWNS
from bidstack.scaleout.executors import SpawnPool, lost
from bidstack.scaleout.tasks import TEST_HOOK, test_hook


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
    path: Path,
    store: str,
    known: frozenset[str],
    sizes: dict[str, int],
    strict: bool,
    hook: str = "",
) -> Staged | Outcome:
    """Parse and stage ``path`` (``known``: the stored content hashes; ``sizes``: the stored
    sources' sizes by key; ``hook``: :data:`~bidstack.scaleout.tasks.TEST_HOOK`'s). See the
    module docstring."""
    test_hook(hook, path.name)
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
    """:func:`bidstack.io.ingest.ingest` with the parsing on ``executor``'s workers.

    A local pool whose worker died is started again and the files it had not parsed are
    submitted again (:data:`~bidstack.scaleout.driver.RESPAWNS` times in a run); a file whose
    parsing fails otherwise fails the run, naming it. Staging left by a worker that died is
    discarded at the end, as the store's next reader would.
    """
    files = list(_files(paths, Path(store)))
    outcomes = []
    with open_for_writing(store) as writer:
        sources = writer.manifest["sources"]
        known = frozenset(entry["sha256"] for entry in sources.values() if entry.get("sha256"))
        sizes = {key: entry["bytes"] for key, entry in sources.items() if entry.get("bytes")}
        parsing = _Parsing(executor, os.path.abspath(writer.root), known, sizes, strict)
        for path in sorted(files, key=lambda path: -path.stat().st_size):  # largest first
            parsing.submit(path)
        bar = tqdm(total=len(files), unit="file", desc="ingest", file=sys.stderr,
                   disable=None if progress is None else not progress)  # fmt: skip
        with bar:
            for path in files:
                outcome = _finish(writer, parsing.result(path), strict)
                outcomes.append(outcome)
                bar.update()
                if on_outcome is not None:
                    on_outcome(outcome)
        writer.recover()
    return outcomes


class _Parsing:
    """The files submitted to ``executor`` for :func:`parse_source`, by path."""

    def __init__(self, executor: Executor, store: str, known, sizes, strict: bool) -> None:
        self.executor = executor
        self.arguments = (store, known, sizes, strict, os.environ.get(TEST_HOOK, ""))
        self.futures: dict[Path, Future] = {}
        self.deaths = 0

    def submit(self, path: Path) -> None:
        """Parse ``path`` on a worker: a local pool's workers share this process's folder, a
        cluster's may not, so they are given the file's absolute path."""
        given = path if isinstance(self.executor, SpawnPool) else path.absolute()
        self.futures[path] = self.executor.submit(parse_source, given, *self.arguments)

    def result(self, path: Path) -> Staged | Outcome:
        while True:
            try:
                return self.futures[path].result()
            except BrokenProcessPool:
                self.deaths += 1
                if not isinstance(self.executor, SpawnPool) or self.deaths > RESPAWNS:
                    raise TaskError(
                        f"{path}: parsing failed: a worker process died {self.deaths} times"
                    ) from None
                unfinished = [p for p, future in self.futures.items() if lost(future)]
                self.executor.respawn()
                for lost_path in unfinished:
                    self.submit(lost_path)
            except BidstackError:
                raise
            except Exception as exc:
                raise TaskError(f"{path}: parsing failed: {type(exc).__name__}: {exc}") from exc


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
