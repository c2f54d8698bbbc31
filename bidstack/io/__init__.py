"""Ingest AEMO MMS and NEM12 files into a typed, month-partitioned Parquet store, and read it back.

Public API:

- :func:`ingest` files into a store (``bidstack ingest`` on the command line);
- :func:`read` a table back with MMS semantics (or :meth:`Store.open` a store once and
  :meth:`Store.read` it many times, lazily, or :meth:`Store.frame` a window of some of its
  columns eagerly, without sorting rows stored in order); :func:`read_local_price` (dense),
  :func:`read_effective` / :func:`effective_on` (registration rows in force on dates);
- :func:`trading_day`, the 04:00-to-04:00 trading day of a market time;
- :func:`write_table` to write a frame into a store as ``bidstack ingest`` does;
- :func:`describe` a store; :func:`table_dir` / :func:`partition_dir` for its layout;
- :func:`table_spec`, the stored schema of a table.
"""

from bidstack.io.ingest import Outcome, ingest
from bidstack.io.local_price import read_local_price
from bidstack.io.read import (
    Store,
    effective_on,
    market_time,
    read,
    read_effective,
    trading_day,
)
from bidstack.io.schema import TableSpec, table_spec
from bidstack.io.store import describe, partition_dir, read_manifest, table_dir
from bidstack.io.write import write_table

__all__ = [
    "Outcome",
    "Store",
    "TableSpec",
    "describe",
    "effective_on",
    "ingest",
    "market_time",
    "partition_dir",
    "read",
    "read_effective",
    "read_local_price",
    "read_manifest",
    "table_dir",
    "table_spec",
    "trading_day",
    "write_table",
]
