"""Rows sorted and grouped without Polars' text sort (bidstack.sorting, bidstack.sums): the same
answers as the plain ways, ties and all."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl
import pytest

from bidstack.sorting import (
    duplicated_rows,
    in_key_order,
    key_order,
    key_ranks,
    key_table,
    sorted_rows,
    stacked_ranks,
)
from bidstack.sums import group_sums


def frame(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1)
    return pl.DataFrame(
        {
            "participantid": rng.choice(["P1", "P10", "P2", "Ä"], n),
            "duid": rng.choice([f"U{k}" for k in range(40)], n),
            "interval_datetime": [
                start + timedelta(minutes=5 * int(k)) for k in rng.integers(0, 300, n)
            ],
            "count": rng.integers(-5, 5, n),
            "row": np.arange(n),
            "mw": rng.random(n),
        }
    )


@pytest.mark.parametrize(
    "keys",
    [
        ["duid", "interval_datetime"],
        ["participantid", "duid", "interval_datetime"],
        ["count", "duid"],
        ["interval_datetime"],
    ],
)
def test_sorted_rows_is_polars_stable_sort(keys: list[str]) -> None:
    rows = frame(5_000, seed=1)  # many ties: equal keys keep their input order
    expected = rows.sort(keys, maintain_order=True)
    assert sorted_rows(rows, *keys).equals(expected)
    assert sorted_rows(expected, *keys).equals(expected)  # already sorted


def unit_intervals(units: int, intervals: int, seed: int) -> pl.DataFrame:
    """Every unit-interval once, shuffled: distinct keys that span as many values as rows."""
    start = datetime(2024, 1, 1)
    grid = pl.DataFrame({"duid": [f"U{k}" for k in range(units)]}).join(
        pl.DataFrame({"interval_datetime": [start + timedelta(minutes=5 * k)
                                            for k in range(intervals)]}),
        how="cross",
    )  # fmt: skip
    return grid.sample(fraction=1.0, shuffle=True, seed=seed).with_row_index("row")


def test_sorted_rows_of_distinct_dense_keys_is_polars_stable_sort() -> None:
    """A shuffled grid of unit-intervals is placed through a key table; with a key repeated it
    is sorted: both as Polars sorts."""
    rows = unit_intervals(40, 300, seed=6)
    keys = ["duid", "interval_datetime"]
    assert sorted_rows(rows, *keys).equals(rows.sort(keys, maintain_order=True))
    repeated = pl.concat([rows, rows.head(5).with_columns(pl.col("row") + rows.height)])
    assert sorted_rows(repeated, *keys).equals(repeated.sort(keys, maintain_order=True))


@pytest.mark.parametrize("span", [50, 100, 10**6])
def test_key_order_is_the_stable_argsort(span: int) -> None:
    """Distinct keys spanning up to twice the rows are placed by a table; repeated or sparser
    keys are sorted: the same order either way."""
    rng = np.random.default_rng(span)
    distinct = rng.choice(span, 100 if span >= 100 else span, replace=False)
    repeated = rng.integers(0, span, 100)
    for packed in (distinct, repeated):
        assert np.array_equal(key_order(packed), np.argsort(packed, kind="stable"))
    table = key_table(distinct)
    assert (table is not None) == (span <= 100)  # 100 keys: a table of up to 200
    if table is not None:
        assert np.array_equal(table[distinct], np.arange(distinct.size))
        assert np.count_nonzero(table >= 0) == distinct.size
    assert key_table(np.array([3, 1, 3])) is None
    assert key_order(np.zeros(0, np.int64)).size == 0


def test_sorted_rows_falls_back_where_it_cannot_rank() -> None:
    rows = frame(1_000, seed=2)
    null_duid = pl.when(pl.col("row") == 7).then(None).otherwise("duid").alias("duid")
    with_null = rows.with_columns(null_duid)
    assert sorted_rows(with_null, "duid", "row").equals(
        with_null.sort("duid", "row", maintain_order=True)
    )
    assert sorted_rows(rows, "mw").equals(rows.sort("mw", maintain_order=True))


def test_sorted_rows_keys_too_wide_to_pack() -> None:
    rng = np.random.default_rng(3)
    rows = pl.DataFrame({"a": rng.integers(0, 2**40, 2_000), "b": rng.integers(0, 2**40, 2_000)})
    rows = rows.with_columns(pl.col("a") % 50)
    assert sorted_rows(rows, "a", "b").equals(rows.sort("a", "b", maintain_order=True))


@pytest.mark.parametrize(
    "by",
    [
        ["participantid", "interval_datetime"],  # keys few enough to number by a table
        ["participantid", "sparse"],  # too many possible keys for a table: numbered by sorting
    ],
)
def test_group_sums_match_sums_in_the_stated_order(by: list[str]) -> None:
    rows = frame(5_000, seed=4)
    rows = rows.with_columns(sparse=pl.col("count") * 2**40 + pl.col("row") % 3)
    got = group_sums(rows, by, ["mw", "count"], order=["duid"])
    ordered = rows.sort("duid", maintain_order=True)
    expected = (
        ordered.group_by(by, maintain_order=True)
        .agg(pl.col("mw"), pl.col("count").sum())
        .with_columns(pl.col("mw").map_elements(lambda v: float(sum(v)), pl.Float64))
        .sort(by)
    )
    assert got.equals(expected.select(got.columns))


@pytest.mark.parametrize("seed", range(4))
def test_duplicated_rows_as_polars(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 400
    frame = pl.DataFrame(
        {
            "duid": rng.choice(["A", "B", "C", "D"], n),
            "t": rng.integers(0, 60, n),
        }
    )
    for rows in (frame, frame.sort("duid", "t")):
        want = rows.select(pl.struct("duid", "t").is_duplicated()).to_series()
        assert duplicated_rows(rows, "duid", "t").to_list() == want.to_list()
    with_null = frame.with_columns(t=pl.when(pl.col("t") < 5).then(None).otherwise("t"))
    want = with_null.select(pl.struct("duid", "t").is_duplicated()).to_series()
    assert duplicated_rows(with_null, "duid", "t").to_list() == want.to_list()


@pytest.mark.parametrize("keys", [["interval_datetime", "duid"], ["participantid", "count"]])
def test_in_key_order(keys: list[str]) -> None:
    rows = frame(2_000, seed=5)
    ordered = rows.sort(keys)
    assert not in_key_order(rows, keys)
    assert in_key_order(ordered, keys) and not in_key_order(ordered, keys, strict=True)
    once = ordered.unique(keys, keep="first", maintain_order=True)
    assert in_key_order(once, keys, strict=True)
    swapped = pl.concat([once[1:2], once[0:1], once[2:]])
    assert not in_key_order(swapped, keys)
    with_null = ordered.with_columns(
        pl.when(pl.col("row") == ordered["row"][0])
        .then(None)
        .otherwise(pl.col(keys[0]))
        .alias(keys[0])
    )
    assert not in_key_order(with_null, keys)  # a null first: the order is Polars' to decide
    assert in_key_order(rows.head(1), keys) and in_key_order(rows.clear(), keys)
    assert not in_key_order(rows.sort("mw"), ["mw"])  # floats: Polars' sort decides (NaN)


@pytest.mark.parametrize("tail", ["in runs", "shuffled"])
def test_text_in_runs_ranks_as_text_in_any_order(tail: str) -> None:
    # rows in participant and unit order (each text value in long runs: ranked run by run),
    # then, for a shuffled tail, rows whose runs are one row long past the first rows probed
    rows = frame(20_000, seed=3)
    in_runs = rows.sort("participantid", "duid")
    rest = rows.sample(fraction=1.0, shuffle=True, seed=4)
    mixed = pl.concat([in_runs, in_runs if tail == "in runs" else rest])
    for keys in (["participantid", "duid", "interval_datetime"], ["duid", "row"]):
        assert sorted_rows(mixed, *keys).equals(mixed.sort(keys, maintain_order=True))
    expected = mixed.group_by("participantid").agg(pl.col("count").sum()).sort("participantid")
    assert group_sums(mixed, ["participantid"], ["count"]).equals(expected)


@pytest.mark.parametrize("broken", [False, True])
def test_text_repeating_one_block_ranks_as_text(broken: bool) -> None:
    # every unit in every interval, in time order: the duids repeat one block of 37 (ranked
    # once); one duid changed near the end breaks the repetition (ranked row by row)
    rows = unit_intervals(37, 50, seed=5).sort("interval_datetime", "duid")
    if broken:
        changed = pl.int_range(pl.len()) == pl.len() - 3
        rows = rows.with_columns(
            pl.when(changed).then(pl.lit("U0")).otherwise("duid").alias("duid")
        )
    for keys in (["duid", "interval_datetime"], ["duid", "row"]):
        assert sorted_rows(rows, *keys).equals(rows.sort(keys, maintain_order=True))


def test_frames_ranked_apart_rank_as_stacked() -> None:
    # a frame repeating one block, one in runs, one in no order, one empty: each text key
    # ranked frame by frame against the names of all, as the frames stacked are ranked
    grid = unit_intervals(30, 40, seed=6)
    frames = [
        grid.sort("interval_datetime", "duid"),
        grid.filter(pl.col("duid") != "U3").sort("duid", "interval_datetime"),
        frame(3_000, seed=7).select("duid", "interval_datetime"),
        grid.head(0),
    ]
    keys = ["duid", "interval_datetime"]
    frames = [f.select(keys) for f in frames]
    apart = stacked_ranks(frames, keys)
    stacked = pl.concat(frames)
    together = key_ranks(stacked, keys)
    assert all(np.array_equal(a, b) for a, b in zip(apart, together, strict=True))
    # and both are the names' places in sorted order, as Polars ranks them
    dense = stacked.select(pl.col(keys).rank("dense") - 1)
    assert np.array_equal(apart[0], dense["duid"].to_numpy())
    # a time's distance from the earliest, in steps: in the times' order, gaps kept
    assert np.array_equal(np.unique(apart[1], return_inverse=True)[1], dense[keys[1]].to_numpy())


def test_a_key_named_twice_sorts_as_once() -> None:
    # the store's rules can name a column twice (standing data ordered by LASTCHANGED, which is
    # also its time column)
    rows = frame(500, seed=8)
    keys = ["duid", "interval_datetime", "duid"]
    assert sorted_rows(rows, *keys).equals(rows.sort(keys[:2], maintain_order=True))
