"""Column names every stage shares, and kernel outputs (NumPy buffers) to Polars columns,
through Arrow without copying."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

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

    Polars converts the columns of one Arrow table in parallel, which matters for Enum columns:
    their codes are checked on the way in.
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
        """Enum whose physical codes are ``codes`` (uint8[n], each below len(categories)).

        An Arrow dictionary array carrying Polars' own Enum metadata, which Polars reads as
        its Enum type; should a Polars version read it otherwise, :meth:`frame` casts it.
        """
        dictionary = pa.DictionaryArray.from_arrays(
            pa.array(codes, type=pa.uint8()), pa.array(list(categories), type=pa.large_string())
        )
        metadata = _enum_metadata(tuple(categories))
        self._add(pa.field(name, dictionary.type, metadata=metadata), dictionary)
        self.enums[name] = pl.Enum(list(categories))

    def float64(self, name: str, values: np.ndarray) -> None:
        self._add(pa.field(name, pa.float64()), pa.array(values, type=pa.float64()))

    def _add(self, field: pa.Field, array: pa.Array) -> None:
        self.fields.append(field)
        self.arrays.append(array)

    def frame(self) -> pl.DataFrame:
        table = pa.Table.from_arrays(self.arrays, schema=pa.schema(self.fields))
        frame = pl.from_arrow(table)
        wrong = {n: e for n, e in self.enums.items() if frame.schema[n] != e}
        return frame.with_columns(pl.col(n).cast(pl.String).cast(e) for n, e in wrong.items())


@cache
def _enum_metadata(categories: tuple[str, ...]) -> dict[bytes, bytes]:
    # The metadata Polars writes for an Enum field when it exports to Arrow; read it back from
    # the installed Polars so that a change of format there cannot silently break this module.
    exported = pl.DataFrame({"x": pl.Series([], dtype=pl.Enum(list(categories)))}).to_arrow()
    return exported.schema.field("x").metadata or {}
