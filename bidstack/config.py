"""A run's configuration, resolved once: the fleet, its rule variants compiled, their names, how
its partitions are compressed, the windows it runs in (:func:`month_windows`).

Every month of a backtest (and every task that runs one elsewhere) takes the same
:class:`RunConfig`; nothing below it loads a rule file or re-reads the fleet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

from bidstack.errors import ConfigError, InputError
from bidstack.fleet import Fleet
from bidstack.rules import load_variants

#: Dispatch intervals in the store (DISPATCHREGIONSUM, DISPATCHPRICE) are 5 minutes long.
INTERVAL_MINUTES = 5.0
#: The scenario of every unit's historical bids.
BASELINE = "baseline"
#: Folder names a variant may not take.
RESERVED = frozenset({BASELINE, "allocation", "problems", "variants"})
#: How a run's Parquet files may be compressed (Polars' Parquet codecs). zstd, the default, makes
#: the smallest files; lz4 takes about 13% off a month's CPU (7% off its time) for files about
#: 40% larger (README, "What a backtest writes").
COMPRESSIONS = ("zstd", "lz4", "snappy", "gzip", "brotli", "uncompressed")
#: The file of a month partition written by a run whose windows are months.
MONTH_FILE = "part-0.parquet"


def month_windows(
    start: datetime, end: datetime, days: int | None = None
) -> list[tuple[datetime, datetime]]:
    """``(start, end]`` cut at the start of each calendar month, and with ``days`` every that
    many days from it within the month.

    >>> month_windows(datetime(2024, 1, 20), datetime(2024, 3, 1))
    [(datetime.datetime(2024, 1, 20, 0, 0), datetime.datetime(2024, 2, 1, 0, 0)), \
(datetime.datetime(2024, 2, 1, 0, 0), datetime.datetime(2024, 3, 1, 0, 0))]
    >>> [f"{left:%d}" for left, _ in month_windows(datetime(2024, 1, 20), datetime(2024, 3, 1), 10)]
    ['20', '21', '31', '01', '11', '21']
    """
    windows = []
    left = start
    while left < end:
        following = datetime(left.year + left.month // 12, left.month % 12 + 1, 1)
        if days is not None:
            first, step = datetime(left.year, left.month, 1), timedelta(days=days)
            following = min(following, first + step * ((left - first) // step + 1))
        windows.append((left, min(end, following)))
        left = min(end, following)
    return windows


@dataclass(frozen=True)
class RunConfig:
    """``variants``: the rule variants, each loaded once (names inside); ``names``: theirs, in
    order; ``interval_minutes``: the dispatch interval; ``baseline``: whether the baseline runs
    too (in one of a run's variant groups only, see :meth:`groups`); ``compression``: the codec
    of its Parquet files (:data:`COMPRESSIONS`); ``window_days``: the run's windows are cut
    every that many days within each calendar month (None: one window a month), each writing
    its own file of each month partition (:meth:`partition_file`)."""

    fleet: Fleet
    variants: tuple
    names: tuple[str, ...]
    interval_minutes: float = INTERVAL_MINUTES
    baseline: bool = True
    compression: str = "zstd"
    window_days: int | None = None

    @classmethod
    def resolve(
        cls,
        fleet: Fleet,
        variants: Sequence[str | Path],
        compression: str = "zstd",
        window_days: int | None = None,
    ) -> RunConfig:
        """Load each rule variant once; refuse a name that would clash with an output folder, a
        compression Parquet does not have, and a window of less than a day."""
        if compression not in COMPRESSIONS:
            raise ConfigError(
                f"compression {compression!r} is not one of {', '.join(COMPRESSIONS)}"
            )
        whole = isinstance(window_days, int) and not isinstance(window_days, bool)
        if window_days is not None and not (whole and window_days >= 1):
            raise ConfigError(f"window_days must be a whole number of days, 1 or more, not "
                              f"{window_days!r}")  # fmt: skip
        loaded = tuple(load_variants(variants)) if variants else ()
        names = tuple(variant.name for variant in loaded)
        clash = sorted(set(names) & RESERVED)
        if clash:
            raise InputError(f"a rule variant may not be named {clash[0]!r}: it names an output")
        return cls(fleet, loaded, names, compression=compression, window_days=window_days)

    def partition_file(self, left: datetime) -> str:
        """The file a window starting at ``left`` writes in each month partition:
        :data:`MONTH_FILE` when windows are months, else one named by its start, so that a
        month's files sort in time.

        >>> from bidstack.fleet import Fleet
        >>> RunConfig(Fleet({}), (), (), window_days=10).partition_file(datetime(2024, 1, 11))
        'part-20240111T0000.parquet'
        """
        return MONTH_FILE if self.window_days is None else f"part-{left:%Y%m%dT%H%M}.parquet"

    def windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """``(start, end]`` in the run's windows: :func:`month_windows` of :attr:`window_days`."""
        return month_windows(start, end, self.window_days)

    @property
    def window_kind(self) -> str:
        """What the run's windows are called in messages: ``month`` or ``window``."""
        return "month" if self.window_days is None else "window"

    def window_name(self, left: datetime) -> str:
        """The window starting at ``left`` in messages and folder names: its month, or its
        first day where windows are of days (``2024-02`` or ``2024-02-11``)."""
        return f"{left:%Y-%m}" if self.window_days is None else f"{left:%Y-%m-%d}"

    @property
    def scenarios(self) -> tuple[str, ...]:
        return (BASELINE, *self.names) if self.baseline else self.names

    def groups(self, count: int) -> list[RunConfig]:
        """The variants in ``count`` groups of consecutive variants, sizes differing by one at
        most; the baseline runs in the first group only. Each group runs as its own task, and
        their outputs merged are those of the run in one group (:mod:`bidstack.scaleout.groups`).

        >>> from bidstack.fleet import Fleet
        >>> config = RunConfig(Fleet({}), ("x", "y", "z"), ("a", "b", "c"))
        >>> [group.scenarios for group in config.groups(2)]
        [('baseline', 'a', 'b'), ('c',)]
        """
        if not 1 <= count <= max(1, len(self.names)):
            raise ConfigError(
                f"--variant-groups must be between 1 and the number of variants "
                f"({max(1, len(self.names))}), not {count}"
            )
        size, extra = divmod(len(self.names), count)
        groups, first = [], 0
        for index in range(count):
            last = first + size + (index < extra)
            part = slice(first, last)
            baseline = self.baseline and index == 0
            variants, names = self.variants[part], self.names[part]
            groups.append(replace(self, variants=variants, names=names, baseline=baseline))
            first = last
        return groups
