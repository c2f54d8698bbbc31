"""Column names every stage shares, and kernel outputs (NumPy buffers) to Polars columns,
through Arrow without copying."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import pyarrow as pa

#: A unit's ten offer prices ($/MWh, BIDDAYOFFER) and volumes (MW, BIDPEROFFER), as MMS names them.
PRICE_BANDS = tuple(f"priceband{k}" for k in range(1, 11))
BAND_VOLUMES = tuple(f"bandavail{k}" for k in range(1, 11))
#: Retailers' demand bids take part in dispatch as units named with this prefix.
DEMAND_BID_PREFIX = "DEMAND:"


class ArrowColumns:
    """Arrow arrays built from NumPy buffers, turned into one Polars frame in a single call.

    Numeric and boolean columns go through Arrow without a copy. Enum columns go in as their
    UInt8 codes and become Enums in one ``with_columns``, which Polars runs in parallel over the
    columns (about a nanosecond a row: the codes are range-checked and copied).
    """

    def __init__(self) -> None:
        self.fields: list[pa.Field] = []
        self.arrays: list[pa.Array] = []
        self.enums: dict[str, pl.Enum] = {}

    def int8(self, name: str, values: np.ndarray, validity: np.ndarray) -> None:
        """Int8 from ``values`` (int8[n]) and an Arrow validity bitmap (uint8[ceil(n/8)])."""
        buffers = [pa.py_buffer(validity), pa.py_buffer(values)]
        self._add(pa.field(name, pa.int8()), pa.Array.from_buffers(pa.int8(), values.size, buffers))

    def boolean(self, name: str, n: int, values: np.ndarray, validity: np.ndarray) -> None:
        """Boolean of ``n`` rows from Arrow value and validity bitmaps (uint8[ceil(n/8)])."""
        buffers = [pa.py_buffer(validity), pa.py_buffer(values)]
        self._add(pa.field(name, pa.bool_()), pa.Array.from_buffers(pa.bool_(), n, buffers))

    def enum(self, name: str, codes: np.ndarray, categories: Sequence[str]) -> None:
        """Enum whose physical codes are ``codes`` (uint8[n], each below len(categories))."""
        self._add(pa.field(name, pa.uint8()), pa.array(codes, type=pa.uint8()))
        self.enums[name] = pl.Enum(list(categories))

    def float64(self, name: str, values: np.ndarray) -> None:
        self._add(pa.field(name, pa.float64()), pa.array(values, type=pa.float64()))

    def _add(self, field: pa.Field, array: pa.Array) -> None:
        self.fields.append(field)
        self.arrays.append(array)

    def frame(self) -> pl.DataFrame:
        frame = pl.from_arrow(pa.Table.from_arrays(self.arrays, schema=pa.schema(self.fields)))
        return frame.with_columns(enum_from_codes(n, e) for n, e in self.enums.items())


def enum_from_codes(column: str, dtype: pl.Enum) -> pl.Expr:
    """An Enum ``dtype`` from a column of its physical codes (0 for the first category, ...).

    The categories, as an Enum series, gathered at the codes: faster than ``cat.to`` (Polars
    >= 1.44) and Arrow dictionaries, and it raises on a code out of range.
    """
    return pl.lit(pl.Series(dtype.categories, dtype=dtype)).gather(pl.col(column)).alias(column)
