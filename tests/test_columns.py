"""Kernel buffers to Polars columns: ``bidstack.columns.ArrowColumns``."""

import numpy as np
import polars as pl
import pytest

from bidstack.columns import ArrowColumns, enum_from_codes
from bidstack.kernel.codes import OUTCOME_NAMES

OUTCOME = pl.Enum(list(OUTCOME_NAMES))


def test_enum_from_codes_keeps_the_category_of_each_code():
    codes = np.array([3, 0, 1, 2, 2, 0], dtype=np.uint8)
    frame = pl.DataFrame({"outcome": codes}).select(enum_from_codes("outcome", OUTCOME))
    assert frame.schema["outcome"] == OUTCOME
    assert frame["outcome"].to_list() == [OUTCOME_NAMES[c] for c in codes]


def test_enum_from_codes_rejects_a_code_out_of_range():
    frame = pl.DataFrame({"outcome": np.array([0, 4], dtype=np.uint8)})
    with pytest.raises(pl.exceptions.PolarsError):
        frame.select(enum_from_codes("outcome", OUTCOME))


def test_arrow_columns_build_every_kind_with_nulls_from_bitmaps():
    n = 10
    values = np.arange(n, dtype=np.int8)
    valid = np.packbits(values % 3 != 0, bitorder="little")
    truth = np.packbits(values % 2 == 0, bitorder="little")
    columns = ArrowColumns()
    columns.int8("band", values, valid)
    columns.boolean("within", n, truth, valid)
    columns.enum("outcome", (values % 4).astype(np.uint8), OUTCOME_NAMES)
    columns.float64("volume", values.astype(np.float64) * 0.5)
    frame = columns.frame()
    assert frame.schema == pl.Schema(
        {"band": pl.Int8, "within": pl.Boolean, "outcome": OUTCOME, "volume": pl.Float64}
    )
    assert frame["band"].to_list() == [v if v % 3 else None for v in range(n)]
    assert frame["within"].to_list() == [v % 2 == 0 if v % 3 else None for v in range(n)]
    assert frame["outcome"].to_list() == [OUTCOME_NAMES[v % 4] for v in range(n)]
    assert frame["volume"].to_list() == [v * 0.5 for v in range(n)]
