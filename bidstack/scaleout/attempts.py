"""Attempt folders: each task writes into ``OUT/_attempts/<month>-<uuid>/`` alone, and the driver
commits a kept attempt by renaming its partitions into ``OUT``, so a killed or discarded attempt
never leaves anything half-written outside ``_attempts``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: The folder of attempts inside the output folder; removed after the last commit.
ATTEMPTS = "_attempts"


def commit(folder: Path, out: Path) -> None:
    """Move every partition file (``.../month=YYYY-MM/part-*.parquet``) of attempt ``folder`` to
    its place in ``out`` (beside the files other windows of the month wrote there), then remove
    the folder."""
    files = sorted(path for path in folder.rglob("month=*/*") if path.is_file())
    for file in files:
        final = out / file.relative_to(folder)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(file, final)
    shutil.rmtree(folder)


def discard(folder: Path) -> None:
    """Remove an attempt that is not kept."""
    shutil.rmtree(folder, ignore_errors=True)


def clear(out: Path) -> None:
    """Remove every attempt (after the last commit)."""
    shutil.rmtree(out / ATTEMPTS, ignore_errors=True)
