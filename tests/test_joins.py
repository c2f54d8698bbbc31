"""join_unique gives Polars' left join, whichever path it takes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bidstack.joins import join_unique

START = datetime(2024, 1, 1)


def frames(seed: int, n: int = 300, *, sparse: bool = False) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Left rows with repeated keys and a right frame of distinct keys, some not in the left.
    The keys span few more values than the rows (looked up in a table), or, ``sparse``, times
    scattered over years (looked up by a binary search)."""
    rng = np.random.default_rng(seed)
    units = ["A", "BB", "C", "DX", "E"]
    steps = np.sort(rng.choice(10**6, 50, replace=False)) if sparse else np.arange(50)
    moments = [START + timedelta(minutes=5 * int(k)) for k in steps]
    left = pl.DataFrame(
        {
            "duid": rng.choice(units, n),
            "t": [moments[k] for k in rng.integers(0, 40, n)],
            "x": rng.uniform(0, 1, n),
        }
    )
    keys = pl.DataFrame(
        {
            "duid": rng.choice([*units, "Z"], n),
            "t": [moments[k] for k in rng.integers(0, 50, n)],
        }
    ).unique(maintain_order=True)
    right = keys.with_columns(
        y=pl.Series(rng.uniform(0, 1, keys.height)),
        label=pl.Series([("p", "q", None)[k] for k in rng.integers(0, 3, keys.height)]),
    )
    return left, right


def polars(left: pl.DataFrame, right: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    return left.join(right, on=on, how="left", maintain_order="left")


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_as_polars_left_join(seed: int, sparse: bool) -> None:
    left, right = frames(seed, sparse=sparse)
    on = ["duid", "t"]
    assert_frame_equal(join_unique(left, right, on), polars(left, right, on))
    joined = join_unique(left, right, on)
    assert 0 < joined["y"].null_count() < left.height  # rows with and without a match
    none = right.with_columns(pl.col("t") + timedelta(days=30))
    assert_frame_equal(join_unique(left, none, on), polars(left, none, on))


def test_integer_and_date_keys() -> None:
    left = pl.DataFrame({"d": [date(2024, 1, k % 5 + 1) for k in range(20)], "n": list(range(20))})
    right = pl.DataFrame(
        {
            "d": [date(2024, 1, k) for k in (3, 1, 2, 5, 4, 9)],
            "n": [2, 10, 6, 3, 99, 1],
            "v": [1, 2, 3, 4, 5, 6],
        }
    )
    assert_frame_equal(join_unique(left, right, ["d", "n"]), polars(left, right, ["d", "n"]))


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("case", ["repeated", "null_key", "dtype", "clash", "empty"])
def test_falls_back_to_polars(case: str, sparse: bool) -> None:
    left, right = frames(9, sparse=sparse)
    on = ["duid", "t"]
    if case == "repeated":
        right = pl.concat([right, right.head(3)])
    elif case == "null_key":
        left = left.with_columns(duid=pl.when(pl.col("x") < 0.2).then(None).otherwise("duid"))
    elif case == "dtype":
        right = right.with_columns(pl.col("t").cast(pl.Datetime("ns")))
        left = left.with_columns(pl.col("t").cast(pl.Datetime("ns")))
        right = right.with_columns(pl.col("duid").cast(pl.Categorical))
        left = left.with_columns(pl.col("duid").cast(pl.Categorical))
    elif case == "clash":
        right = right.with_columns(x=pl.lit(1.0))
    else:
        right = right.clear()
    assert_frame_equal(join_unique(left, right, on), polars(left, right, on))


@pytest.mark.parametrize("sparse", [False, True])
def test_small_right_frame(sparse: bool) -> None:
    """A right frame of an eighth of the left's rows (a month onto its registration) is joined
    by ranks like any other, with Polars' result."""
    left, right = frames(9, sparse=sparse)
    right = right.head(right.height // 8)
    assert right.height * 4 < left.height
    joined = join_unique(left, right, ["duid", "t"])
    assert_frame_equal(joined, polars(left, right, ["duid", "t"]))
    assert 0 < joined["y"].null_count() < left.height


@pytest.mark.parametrize("seed", range(3))
def test_frames_in_key_order(seed: int) -> None:
    """A right frame already in key order is not sorted, and one whose keys are the left's row
    for row is taken as it is: the same join either way."""
    left, right = frames(seed)
    on = ["t", "duid"]
    in_order = right.sort(on)
    assert_frame_equal(join_unique(left, in_order, on), polars(left, in_order, on))
    same = in_order.select(on).with_columns(x=pl.Series(np.arange(in_order.height) * 0.5))
    joined = join_unique(same, in_order, on)
    assert_frame_equal(joined, polars(same, in_order, on))
    assert joined["y"].null_count() == in_order["y"].null_count()  # every row found itself
    shifted = same.with_columns(pl.col("t").shift(1, fill_value=START))  # one key moved
    assert_frame_equal(join_unique(shifted, in_order, on), polars(shifted, in_order, on))
    twice = pl.concat([in_order, in_order.head(1)]).sort(on)  # a key twice on both sides
    keys = twice.select(on)
    assert_frame_equal(join_unique(keys, twice, on), polars(keys, twice, on))
