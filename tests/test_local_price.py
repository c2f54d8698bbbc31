"""A unit whose constraint status comes from DISPATCH_LOCAL_PRICE, over a store holding no row of
that table for the window: the status is 0 (AEMO publishes only non-zero adjustments), and the
run says so rather than let a table never ingested read as "no binding constraint" unseen."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from bidstack.io import Store, write_table
from bidstack.market_data import local_price_absent

LEFT, RIGHT = datetime(2024, 1, 1, 4, 0), datetime(2024, 1, 2, 4, 0)


def adjustment(at: datetime) -> pl.DataFrame:
    return pl.DataFrame(
        {"settlementdate": [at], "duid": ["OTHER"], "local_price_adjustment": [-12.5],
         "locally_constrained": [1]}
    )  # fmt: skip


def test_a_window_without_any_local_price_row_is_reported_per_unit(tmp_path) -> None:
    write_table(tmp_path, "DISPATCH_LOCAL_PRICE", adjustment(datetime(2024, 2, 1, 12, 5)),
                source="test:february")  # fmt: skip
    found = local_price_absent(Store.open(tmp_path), LEFT, RIGHT, ["U1", "U2"])
    assert found.select("kind", "duid").rows() == [
        ("local_price_absent", "U1"),
        ("local_price_absent", "U2"),
    ]
    assert "constraint status taken as 0" in found["detail"][0]


def test_a_row_of_any_unit_in_the_window_says_the_table_is_there(tmp_path) -> None:
    write_table(tmp_path, "DISPATCH_LOCAL_PRICE", adjustment(datetime(2024, 1, 1, 12, 5)),
                source="test:january")  # fmt: skip
    assert local_price_absent(Store.open(tmp_path), LEFT, RIGHT, ["U1"]).is_empty()
