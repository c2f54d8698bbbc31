"""Reading tables back from a store, with the MMS semantics every stage relies on, in one place.

Time conventions. Every timestamp is naive and in NEM market time: AEST (UTC+10), no daylight
saving, exactly as AEMO writes it. Interval timestamps are period-ending: the dispatch interval
``SETTLEMENTDATE = 10:05`` covers 10:00 to 10:05. So a window ``(start, end]`` selects
``start < t <= end``, as NEMOSIS does. A trading day runs from 04:00 to 04:00: trading day ``D``
holds the intervals ending in ``(D 04:00, D+1 04:00]`` (see :func:`trading_day`).

MMS semantics applied by :func:`read` (pass ``raw=True`` to get rows as stored):

- prices and dispatch results (the ``pricing_run`` tables of :mod:`bidstack.io.schema`) keep the
  ``INTERVENTION = 0`` (pricing) run only; stored rows without an INTERVENTION value are an error
  (:class:`~bidstack.errors.StoreError`), not silently left out;
- bids keep the latest offer per key, by ``VERSIONNO`` then ``OFFERDATE``, and energy bids only
  (``BIDTYPE = 'ENERGY'``; pass ``bidtype=None`` for every type);
- ``BIDDAYOFFER_D`` is selected by trading day: every trading day that overlaps the window;
- registration and configuration tables (``DUDETAIL``, ``DUDETAILSUMMARY``, ``LOSSMODEL``, ...)
  keep the latest version of each effective date, and the rows in force at some time in the
  window (see :func:`effective_on` for the rows in force on given dates); a version of
  ``LOSSMODEL`` or ``LOSSFACTORMODEL`` is the whole set of an interconnector's rows;
- standing data, whose only time is ``LASTCHANGED`` (``INTERCONNECTOR``, ``PARTICIPANT``), is
  returned whatever the window: the latest row per key;
- rows stored twice (overlapping sources) are kept once: the one last changed; a row is
  identified by its key, less key columns that are constant or derived (``identity`` in
  :mod:`bidstack.io.schema`), so a NEMOSIS cache's DISPATCHPRICE, which lacks RUNNO and
  DISPATCHINTERVAL, overlaps AEMO's file of the same intervals.

Rows without a time, in tables whose time column is not part of the key (INTERCONNECTOR without
``LASTCHANGED``), are returned whatever the window, raw or not.

``DISPATCH_LOCAL_PRICE`` holds only non-zero adjustments; :func:`read_local_price` fills the rest
with zeros.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import polars as pl

from bidstack.errors import InputError, StoreError
from bidstack.io.interventions import check_interventions, files_without_intervention
from bidstack.io.schema import KINDS, TableSpec, table_spec
from bidstack.io.semantics import (
    in_force,
    kept_runs,
    latest_rows,
    latest_versions,
    mms_semantics,
    ordered,
    row_order,
    semantic_columns,
)
from bidstack.io.store import MONTH_FORMAT, UNDATED, parquet_metadata, recover

MARKET_TIME = timezone(timedelta(hours=10), "AEST")
TRADING_DAY_START = timedelta(hours=4)
DISPATCH_INTERVAL = timedelta(minutes=5)
EPSILON = timedelta(microseconds=1)

#: Tables holding one row per trading day, whose interval column is the trading day's date.
TRADING_DAY_TABLES = frozenset({"BIDDAYOFFER_D", "BIDDAYOFFER", "MNSP_DAYOFFER", "MNSP_PEROFFER"})

Moment = datetime | date | str


def trading_day(value: pl.Expr | Moment) -> pl.Expr | date:
    """The trading day of a period-ending market time: day ``D`` covers ``(D 04:00, D+1 04:00]``.

    Works on a Polars expression (returns a ``Date`` expression) or a single time.

    >>> trading_day(datetime(2024, 9, 2, 4, 0))
    datetime.date(2024, 9, 1)
    >>> trading_day(datetime(2024, 9, 2, 4, 5))
    datetime.date(2024, 9, 2)
    """
    if isinstance(value, pl.Expr):
        return (value - pl.duration(hours=4, microseconds=1)).dt.date()
    return (market_time(value) - TRADING_DAY_START - EPSILON).date()


def market_time(value: Moment) -> datetime:
    """``value`` as a naive market-time datetime (ISO strings accepted; aware times converted)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise InputError(f"{value!r} is not an ISO date or date-time") from exc
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(MARKET_TIME).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    raise InputError(f"{value!r} is not a date-time")


class Store(os.PathLike):
    """A store opened for reading: recovered once, each table's files found once, then scanned
    as often as asked (see :meth:`read`). A path-like, so it goes wherever a store path does.

    Reading never writes: an interrupted write is finished (or discarded) by :meth:`open`, not
    at every read. Open it again to see what was ingested since.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._files: dict[str, list[Path]] = {}
        self._scans: dict[str, pl.LazyFrame] = {}
        self._suspects: dict[str, list[Path]] = {}

    @classmethod
    def open(cls, path: str | os.PathLike) -> Store:
        """The store at ``path``, recovered from any interrupted write."""
        if isinstance(path, Store):
            return path
        root = Path(path)
        if not root.is_dir():
            raise StoreError(f"{root}: no such store")
        recover(root)
        return cls(root)

    def __fspath__(self) -> str:
        return os.fspath(self.root)

    def __str__(self) -> str:
        return str(self.root)

    def __reduce__(self) -> tuple:
        return Store, (self.root,)

    def files(self, spec: TableSpec) -> list[Path]:
        """The table's Parquet files, found (and their footers checked) on first use: a damaged
        file is named here, not met deep inside a later collect."""
        if spec.store_name not in self._files:
            files = sorted((self.root / spec.store_name).glob("month=*/*.parquet"))
            for path in files:
                status = path.stat()
                _readable(path, status.st_mtime_ns, status.st_size)
            self._files[spec.store_name] = files
        return self._files[spec.store_name]

    def scan(self, spec: TableSpec) -> pl.LazyFrame:
        """Every row of the table as stored, with its ``month`` partition (one scan per table)."""
        if spec.store_name not in self._scans:
            empty = pl.LazyFrame(schema=spec.polars_schema | {"month": pl.String})
            self._scans[spec.store_name] = (
                pl.scan_parquet(
                    self.root / spec.store_name,
                    hive_partitioning=True,
                    hive_schema={"month": pl.String},
                ).select(empty.collect_schema().names())
                if self.files(spec)
                else empty
            )
        return self._scans[spec.store_name]

    def without_intervention(self, spec: TableSpec) -> list[Path]:
        """The table's files holding rows without an INTERVENTION value (from statistics)."""
        if spec.store_name not in self._suspects:
            self._suspects[spec.store_name] = files_without_intervention(self.files(spec))
        return self._suspects[spec.store_name]

    def read(
        self,
        table: str,
        start: Moment | None = None,
        end: Moment | None = None,
        duids: Iterable[str] | None = None,
        *,
        bidtype: str | None = "ENERGY",
        raw: bool = False,
    ) -> pl.LazyFrame:
        """Rows of ``table`` with interval time in ``(start, end]``: see :func:`read`."""
        spec, frame = self._rows(table, start, end, duids, raw)
        if not raw:
            return mms_semantics(frame, spec, bidtype)
        return ordered(frame, row_order(spec))  # rows equal in the order as stored

    def frame(
        self,
        table: str,
        columns: Sequence[str],
        start: Moment | None = None,
        end: Moment | None = None,
        duids: Iterable[str] | None = None,
        *,
        bidtype: str | None = "ENERGY",
        raw: bool = False,
    ) -> pl.DataFrame:
        """``read(...).select(columns).collect()``, reading only ``columns`` and the columns the
        MMS semantics need, and sorting only rows not already in order: a store written in read
        order (as :func:`~bidstack.io.write_table` and the demo write it) is read without a
        sort."""
        spec, frame = self._rows(table, start, end, duids, raw)
        if not raw:
            frame = kept_runs(frame, spec, bidtype)
        needed = set(columns) | semantic_columns(spec)
        frame = frame.select(c for c in frame.collect_schema().names() if c in needed).collect()
        frame = ordered(frame, row_order(spec)) if raw else latest_rows(frame, spec)
        return frame.select(columns)

    def _rows(
        self,
        table: str,
        start: Moment | None,
        end: Moment | None,
        duids: Iterable[str] | None,
        raw: bool,
    ) -> tuple[TableSpec, pl.LazyFrame]:
        """The table's spec and its stored rows in ``(start, end]`` (for ``duids``), checked for
        INTERVENTION values where the pricing run will be asked of them (not ``raw``)."""
        spec = table_spec(table)
        begin = market_time(start) if start is not None else None
        finish = market_time(end) if end is not None else None
        if begin is not None and finish is not None and finish < begin:
            raise InputError(f"end {finish} is before start {begin}")
        frame = self.scan(spec)
        if duids is not None:
            if "duid" not in spec.kinds:
                raise InputError(f"{spec.name} has no DUID column to select units by")
            frame = frame.filter(pl.col("duid").is_in(list(duids)))
        if spec.effective_date:
            frame = in_force(frame, spec, begin, finish)
        elif spec.name in TRADING_DAY_TABLES:
            frame = _trading_days(frame, spec, begin, finish)
        else:
            frame = _window(frame, spec, begin, finish)
        if not raw and spec.pricing_run:
            check_interventions(self, spec, frame, begin, finish)
        return spec, frame.drop("month")


def read(
    store: str | os.PathLike,
    table: str,
    start: Moment | None = None,
    end: Moment | None = None,
    duids: Iterable[str] | None = None,
    *,
    bidtype: str | None = "ENERGY",
    raw: bool = False,
) -> pl.LazyFrame:
    """Rows of ``table`` with interval time in ``(start, end]``, for ``duids`` if given.

    ``table`` is an MMS table name in any case (``"BIDDAYOFFER_D"``, ``"dispatchprice"``) or
    ``"nem12_interval"``. Columns are the MMS names lower-cased, typed (see
    :mod:`bidstack.io.schema`). The MMS semantics in this module's docstring are applied unless
    ``raw``; ``bidtype`` applies to bid tables only. Raises :class:`StoreError` if the pricing
    run is asked of rows stored without INTERVENTION.

    ``store`` is a path (opened, and so recovered, at each call) or a :class:`Store` opened
    once for many reads.
    """
    return Store.open(store).read(table, start, end, duids, bidtype=bidtype, raw=raw)


def read_effective(
    store: str | os.PathLike,
    table: str,
    dates: Moment | Sequence[Moment],
    duids: Iterable[str] | None = None,
) -> pl.LazyFrame:
    """For each date, the registration rows in force on it (see :func:`effective_on`)."""
    frame = read(store, table, duids=duids, raw=True)
    return effective_on(frame, table, dates)


def effective_on(
    frame: pl.LazyFrame | pl.DataFrame, table: str, dates: Moment | Sequence[Moment]
) -> pl.LazyFrame:
    """The rows of ``frame`` (a registration table) in force on each date, per entity.

    The row in force on a date is the one with the latest ``EFFECTIVEDATE`` (``START_DATE`` for
    ``DUDETAILSUMMARY``) on or before it, and among those the latest ``VERSIONNO`` (all rows of
    that version, for tables whose versions are sets of rows such as ``LOSSMODEL``). The result
    has a ``date`` column first; entities with no row in force on a date are absent.
    """
    spec = table_spec(table)
    if spec.effective_date is None:
        raise InputError(f"{spec.name} is not an effective-dated registration table")
    rows = frame.lazy()
    names = rows.collect_schema().names()
    missing = [name for name in (*spec.entity, spec.effective_date) if name not in names]
    if missing:
        raise InputError(f"{spec.name} rows need column(s) {', '.join(missing)}")
    rows = latest_versions(rows, spec, names).sort(spec.effective_date)
    if isinstance(dates, str | date):
        dates = [dates]
    wanted = pl.LazyFrame(
        {"date": [market_time(value) for value in dates]}, schema={"date": KINDS["datetime"][0]}
    ).sort("date")
    entity = list(spec.entity)
    if entity:
        wanted = wanted.join(rows.select(entity).unique(), how="cross").sort("date")
    versions = rows.select(*entity, spec.effective_date).unique().sort(spec.effective_date)
    in_force = wanted.join_asof(
        versions,
        left_on="date",
        right_on=spec.effective_date,
        by=entity or None,
        strategy="backward",
        check_sortedness=False,
    ).filter(pl.col(spec.effective_date).is_not_null())
    columns = ["date", *entity, *(name for name in names if name not in entity)]
    in_force = in_force.join(rows, on=[*entity, spec.effective_date])
    keys = [key for key in spec.primary_key if key in names]
    return in_force.select(columns).sort("date", *keys)


def _months(first: date | None, last: date | None, *, undated: bool = False) -> pl.Expr:
    """Partition filter: the months from ``first`` to ``last`` (either may be open), and the
    partition of undated rows if ``undated``."""
    condition = pl.lit(True)
    if first is not None:
        condition &= pl.col("month") >= first.strftime(MONTH_FORMAT)
    if last is not None:
        condition &= pl.col("month") <= last.strftime(MONTH_FORMAT)
    return condition | (pl.col("month") == UNDATED) if undated else condition


def _window(
    frame: pl.LazyFrame, spec: TableSpec, begin: datetime | None, finish: datetime | None
) -> pl.LazyFrame:
    """Rows with ``begin < time <= finish`` (and rows without a time, where a row may lack it),
    reading only the partitions that can hold them."""
    if spec.standing:
        return frame
    if spec.by_trading_day:
        first = trading_day(begin + EPSILON) if begin is not None else None
        last = trading_day(finish) if finish is not None else None
        frame = frame.filter(_months(first, last))
    else:
        frame = frame.filter(_months(begin, finish, undated=spec.time_optional))
    column = pl.col(spec.time_column)
    in_window = pl.lit(True)
    if begin is not None:
        in_window &= column > begin
    if finish is not None:
        in_window &= column <= finish
    return frame.filter(in_window | column.is_null() if spec.time_optional else in_window)


def _trading_days(
    frame: pl.LazyFrame, spec: TableSpec, begin: datetime | None, finish: datetime | None
) -> pl.LazyFrame:
    """Rows of every trading day overlapping ``(begin, finish]``."""
    first = market_time(trading_day(begin + EPSILON)) if begin is not None else None
    last = market_time(trading_day(finish)) if finish is not None else None
    frame = frame.filter(_months(first, last))
    if first is not None:
        frame = frame.filter(pl.col(spec.time_column) >= first)
    if last is not None:
        frame = frame.filter(pl.col(spec.time_column) <= last)
    return frame


@lru_cache(maxsize=65536)
def _readable(path: Path, mtime_ns: int, size: int) -> None:
    """Raise :class:`StoreError` if the stored file at ``path`` has no readable Parquet footer
    (``mtime_ns`` and ``size`` key the cache: a store's files are replaced, never changed)."""
    parquet_metadata(path)
