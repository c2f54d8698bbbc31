"""Ingest AEMO MMS and NEM12 files into a typed, month-partitioned Parquet store, and read it back.

Public API:

- :func:`table_spec`, the stored schema of a table.
"""

from bidstack.io.schema import TableSpec, table_spec

__all__ = ["TableSpec", "table_spec"]
