"""The server's clock, and times in NEM time (AEST, UTC+10, no daylight saving).

Gate closure is judged by the server's clock alone, read once per request when its write
transaction holds the write lock. :class:`FileClock` replaces it for tests (``bidstack service
run --clock-file``): the time is whatever ISO 8601 moment the file holds when it is read (naive
means NEM time).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Protocol

from pydantic import PlainSerializer, WithJsonSchema

from bidstack.errors import ConfigError
from bidstack.io.read import MARKET_TIME


class Clock(Protocol):
    def now(self) -> datetime:
        """The current moment, timezone-aware."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FileClock:
    """The moment written in ``path`` (re-read at every call)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.now()

    def now(self) -> datetime:
        try:
            text = self.path.read_text().strip()
            moment = datetime.fromisoformat(text)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"clock file {self.path}: {exc}") from exc
        return moment if moment.tzinfo else moment.replace(tzinfo=MARKET_TIME)


def nem_time(moment: datetime) -> datetime:
    """An aware moment as naive NEM time; a naive one is taken to be NEM time already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(MARKET_TIME).replace(tzinfo=None)


def utc_text(moment: datetime) -> str:
    """An aware moment as ISO 8601 UTC text, to the microsecond (the audit log's ``at_utc``)."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _with_offset(moment: datetime) -> str:
    return moment.replace(tzinfo=MARKET_TIME).isoformat()


#: A naive NEM time, written out with its offset (``2024-01-01T04:05:00+10:00``).
NemTime = Annotated[
    datetime,
    PlainSerializer(_with_offset, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization"),
]
