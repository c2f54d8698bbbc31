"""A run's view of the store: the SHA-256 of its manifest, recorded once by the driver and checked
by every task, so that an ingest running meanwhile cannot change a run's data unseen."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

from bidstack.errors import StoreError
from bidstack.io.store import MANIFEST


def snapshot(store: str | os.PathLike) -> str:
    """The SHA-256 of ``store``'s manifest (of nothing, for a store without one)."""
    path = Path(store) / MANIFEST
    try:
        content = path.read_bytes() if path.exists() else b""
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the manifest ({exc})") from exc
    return hashlib.sha256(content).hexdigest()


def check_snapshot(store: str | os.PathLike, expected: str) -> None:
    """Raise :class:`StoreError` naming both hashes if ``store`` is no longer at ``expected``."""
    if not Path(store).is_dir():
        raise StoreError(
            f"{store}: no such store where this runs ({socket.gethostname()}, process "
            f"{os.getpid()}): a cluster's workers need the store at the same path as the driver"
        )
    found = snapshot(store)
    if found != expected:
        raise StoreError(
            f"{store}: the store changed during the run: snapshot {expected[:16]} is now "
            f"{found[:16]} (was something ingested meanwhile?); run again"
        )
