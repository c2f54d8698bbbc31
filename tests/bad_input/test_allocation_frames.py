"""Allocation frames with non-finite or repeated rows, through ``bidstack allocate`` and the API.

A non-finite number is as unusable as a missing one: its row is ``invalid_input`` with a reason
naming the column, counted in the printed report (the other rows are allocated, exit 0). A unit
with two rows for one interval stops the run with one line (exit 2) and writes nothing.
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from bidstack import allocate_with_report
from bidstack.errors import InputError

from allocation_cases import random_rows
from badinput import expect, run

ERROR = 2
REASONS = {
    "srmc": "tp_min, tp_max or SRMC+ missing (or not finite)",
    "tp_min": "tp_min, tp_max or SRMC+ missing (or not finite)",
    "tp_max": "tp_min, tp_max or SRMC+ missing (or not finite)",
    "max_capacity": "max_capacity missing or negative (or not finite)",
    "priceband3": "price band missing (or not finite)",
    "mlf": "mlf missing or not positive (or not finite)",
}


def good_rows(count: int = 20) -> pl.DataFrame:
    """Valid unit-intervals (PT and PP 1: no code combination is invalid)."""
    one = pl.lit(1, dtype=pl.Int64)
    return random_rows(count, seed=7, invalid=0.0).with_columns(price_type=one, price_phase=one)


def spoiled(column: str, value: float) -> pl.DataFrame:
    frame = good_rows()
    return frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 3).then(value).otherwise(pl.col(column)).alias(column)
    )


CASES = [(column, value) for column in REASONS for value in (math.inf, -math.inf, math.nan)]


@pytest.mark.parametrize(("column", "value"), CASES)
def test_a_non_finite_number_makes_its_row_invalid_input(tmp_path, untouched, column, value):
    source, out = tmp_path / "user" / "in.parquet", tmp_path / "out.parquet"
    spoiled(column, value).write_parquet(source)
    guard = untouched(out)
    ran = run("allocate", source, "--rules", "v1", "-o", out)
    expect(ran, 0, "rejected as invalid_input (1 rows)", REASONS[column])
    result = pl.read_parquet(out)
    assert result["outcome"].cast(pl.String).to_list()[3] == "invalid_input"
    guard.check()


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_a_non_finite_srmc_is_rejected_by_the_api_too(value):
    report = allocate_with_report(spoiled("srmc", value), ["v2"])
    assert report.rejected.get_column("row").to_list() == [3]
    assert report.rejected.get_column("reason").to_list() == [REASONS["srmc"]]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_forecast_cannot_give_a_price_type(value):
    frame = spoiled("frrp", value).drop("price_type", "price_phase")
    report = allocate_with_report(frame, ["v2"])
    assert 3 in report.rejected.get_column("row").to_list()
    assert "frrp missing (or not finite)" in report.rejected.get_column("reason")[0]


def repeated(frame: pl.DataFrame, rows: list[int]) -> pl.DataFrame:
    return pl.concat([frame, frame[rows]])


@pytest.mark.parametrize(
    ("rows", "words"),
    [
        ([0], ["2 rows for 1 (duid, interval_datetime) pair(s)", "'U00'"]),
        ([5, 6], ["4 rows for 2 (duid, interval_datetime) pair(s)", "'U05'"]),
        ([2, 2], ["3 rows for 1", "'U02'"]),
    ],
)
def test_a_unit_with_two_rows_for_one_interval_is_one_line(tmp_path, untouched, rows, words):
    source, out = tmp_path / "user" / "in.parquet", tmp_path / "out.parquet"
    repeated(good_rows(), rows).write_parquet(source)
    guard = untouched()
    expect(run("allocate", source, "--rules", "v1", "-o", out), ERROR, *words)
    assert not out.exists()
    guard.check()


@pytest.mark.parametrize("derived", [False, True])
def test_repeated_rows_are_refused_by_the_api_whether_or_not_pt_is_derived(derived):
    frame = repeated(good_rows(), [4])
    if derived:
        frame = frame.drop("price_type", "price_phase")
    with pytest.raises(InputError, match="one row per unit and interval"):
        allocate_with_report(frame, ["v1"])


def test_the_same_interval_of_two_units_is_allocated():
    first = good_rows(1)["interval_datetime"][0]
    frame = good_rows(2).with_columns(interval_datetime=pl.lit(first))
    assert frame["duid"].n_unique() == 2
    report = allocate_with_report(frame, ["v1"])
    assert report.frame.height == 2
