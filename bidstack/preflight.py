"""What a backtest needs from the store, checked before it runs.

A run over a window the store holds nothing for would end with an empty table and thousands of
problems (every unit ``no_registration``, say). Instead it stops at once with one line saying
what is missing: no store at all, or no rows of a table every run needs in the window. The
command line exits with status 1 (:class:`~bidstack.errors.MissingDataError`).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import polars as pl

from bidstack.errors import MissingDataError
from bidstack.io import read, table_spec
from bidstack.io.store import MANIFEST

#: The tables every run reads, what each holds, and where AEMO publishes it.
NEEDED = (
    ("BIDPEROFFER_D", "the bids' volumes per interval", "the monthly archive's BIDPEROFFER_D"),
    ("BIDDAYOFFER_D", "the bids' price bands per trading day", "the monthly BIDDAYOFFER_D"),
    (
        "DUDETAILSUMMARY",
        "the units' registration: region, participant and loss factors",
        "the registration tables (PUBLIC_DVD_DUDETAILSUMMARY_<month>.zip)",
    ),
)


def check_store(store: str | os.PathLike, start: datetime, end: datetime) -> None:
    """Raise :class:`MissingDataError` unless ``store`` holds rows of every table in
    :data:`NEEDED` for the window ``(start, end]``."""
    root = Path(store)
    if not root.is_dir():
        raise MissingDataError(f"{root}: no such store; make one with bidstack ingest")
    if not (root / MANIFEST).exists():
        raise MissingDataError(
            f"{root}: not a bidstack store (no {MANIFEST}); make one with bidstack ingest"
        )
    for table, holds, source in NEEDED:
        rows = read(root, table, start, end, raw=True, bidtype=None).head(1).collect()
        if rows.is_empty():
            raise MissingDataError(
                f"{root}: no {table} rows ({holds}) for ({start}, {end}]; "
                f"{_held(root, table)}: ingest {source}"
            )


def _held(root: Path, table: str) -> str:
    """What the store holds of ``table``: its time range, or that it has none."""
    time = pl.col(table_spec(table).time_column)
    rows = read(root, table, raw=True, bidtype=None)
    first, last = rows.select(time.min().alias("first"), time.max().alias("last")).collect().row(0)
    if first is None:
        return f"the store has no {table}"
    return f"the store's {table} runs from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M}"
