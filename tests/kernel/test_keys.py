"""Units as dense codes and the proof that each unit's intervals increase (bidstack.kernel.keys,
bidstack.allocation_inputs.unit_codes): against numbering by first appearance and a plain loop,
across the kernel's parallel chunks, for every kind of duid column."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from bidstack.allocation_inputs import readonly, unit_codes
from bidstack.kernel.keys import _FIBONACCI, CHUNK_ROWS, unit_codes_nb

NO_CHECK = readonly(np.empty(0, np.int64))


def by_first_appearance(values: list) -> np.ndarray:
    """Each value's code: the order of its first appearance (None is a value like any other)."""
    seen: dict = {}
    return np.array([seen.setdefault(v, len(seen)) for v in values], dtype=np.int32)


def intervals_increase(units: list, interval: np.ndarray) -> bool:
    last: dict = {}
    for unit, t in zip(units, interval.tolist(), strict=True):
        if unit in last and t <= last[unit]:
            return False
        last[unit] = t
    return True


def hashed_keys(words: np.ndarray) -> np.ndarray:
    """Keys of units given as one word each (in the second word, with length 0)."""
    keys = np.zeros((words.size, 2), dtype=np.uint64)
    keys[:, 1] = words
    return readonly(keys)


def codes_of(keys: np.ndarray, interval: np.ndarray = NO_CHECK) -> tuple[np.ndarray, int, bool]:
    code = np.empty(keys.shape[0], dtype=np.int32)
    n_codes, increase = unit_codes_nb(keys, interval, code)
    return code, n_codes, increase


@pytest.mark.parametrize("distinct", [20_000, 3 * CHUNK_ROWS])
def test_codes_number_units_by_first_appearance_across_chunks_and_table_growth(
    distinct: int,
) -> None:
    # 20,000 units fill each chunk's first table many times over; with more units than rows
    # nearly every row of a chunk is a new unit, so that the chunk's table grows three times
    rng = np.random.default_rng(5)
    words = rng.integers(0, 2**63, distinct, dtype=np.int64).astype(np.uint64)
    rows = words[rng.integers(0, words.size, 4 * CHUNK_ROWS + 17)]
    code, n_codes, increase = codes_of(hashed_keys(rows))
    expected = by_first_appearance(rows.tolist())
    assert n_codes == expected.max() + 1
    assert np.array_equal(code, expected)
    assert not increase  # not checked


@pytest.mark.parametrize("order", ["unit-major", "interval-major", "shuffled"])
def test_increase_holds_exactly_when_each_units_intervals_do(order: str) -> None:
    # 37 units x 9,000 intervals: several chunks, which split units and intervals anywhere
    n_units, n_intervals = 37, 9_000
    unit, interval = np.divmod(np.arange(n_units * n_intervals), n_intervals)
    if order == "interval-major":
        unit, interval = np.divmod(np.arange(n_units * n_intervals), n_units)[::-1]
    elif order == "shuffled":
        perm = np.random.default_rng(3).permutation(unit.size)
        unit, interval = unit[perm], interval[perm]
    words = (unit.astype(np.uint64) + np.uint64(1)) * np.uint64(0x9E3779B1)
    keys = hashed_keys(words)
    # and again with the last unit's last row at its first interval, in the last chunk
    repeated = interval.astype(np.int64)
    rows_of_last = np.flatnonzero(unit == unit[-1])
    repeated[rows_of_last[-1]] = repeated[rows_of_last[0]]
    for times in (interval.astype(np.int64), repeated):
        code, n_codes, increase = codes_of(keys, readonly(times))
        assert n_codes == n_units
        assert np.array_equal(code, by_first_appearance(unit.tolist()))
        assert increase == intervals_increase(unit.tolist(), times)


def test_interval_major_rows_whose_units_come_and_go() -> None:
    # 60 units over 4,000 intervals in interval-major order, but some units are missing from
    # some runs of intervals, so the period of the rows changes, in and across chunks
    rng = np.random.default_rng(11)
    present = np.ones((4_000, 60), dtype=bool)
    for _ in range(40):
        start = rng.integers(0, 4_000)
        present[start : start + rng.integers(1, 600), rng.integers(0, 60)] = False
    interval, unit = np.nonzero(present)
    keys = hashed_keys((unit.astype(np.uint64) + np.uint64(7)) * np.uint64(0x9E3779B1))
    repeated = interval.astype(np.int64)
    repeated[-1] = repeated[-2]  # the last interval's last two rows at one interval: no change
    repeated[-1], repeated[-61] = repeated[-61], repeated[-1]  # a unit's row at an earlier one
    for times in (interval.astype(np.int64), repeated):
        code, n_codes, increase = codes_of(keys, readonly(times))
        assert np.array_equal(code, by_first_appearance(unit.tolist()))
        assert n_codes == 60
        assert increase == intervals_increase(unit.tolist(), times)


def test_a_period_of_more_units_than_the_first_table_holds() -> None:
    # 1,500 units an interval, interval-major: the first period fills the chunk's first table,
    # which grows before the period's codes repeat
    n_units, n_intervals = 1_500, 30
    interval, unit = np.divmod(np.arange(n_units * n_intervals), n_units)
    keys = hashed_keys((unit.astype(np.uint64) + np.uint64(3)) * np.uint64(0x9E3779B1))
    code, n_codes, increase = codes_of(keys, readonly(interval.astype(np.int64)))
    assert n_codes == n_units and increase
    assert np.array_equal(code, by_first_appearance(unit.tolist()))


@pytest.mark.parametrize("offset", [1, 0, 5])
def test_a_repeating_period_in_which_a_unit_comes_twice(offset: int) -> None:
    # A B C B, A B C B, ...: B's second row of each period at the next interval (B's intervals
    # increase), at the same one (a pair twice) or five later (B's intervals go back and forth)
    periods = 1_000  # in one chunk, where nothing but the period can tell
    unit = np.tile([0, 1, 2, 1], periods)
    interval = 2 * np.repeat(np.arange(periods, dtype=np.int64), 4)
    interval[3::4] += offset
    code, n_codes, increase = codes_of(hashed_keys(unit.astype(np.uint64) + 1), readonly(interval))
    assert np.array_equal(code, unit) and n_codes == 3
    assert increase == (offset == 1) == intervals_increase(unit.tolist(), interval)


def test_units_whose_keys_hash_alike_share_a_code_and_never_prove_wrongly() -> None:
    # (0, x) and (1, x ^ FIBONACCI) are two units (lengths 0 and 1) with the same hash
    x = np.uint64(12345)
    a, b = (np.uint64(0), x), (np.uint64(1), x ^ _FIBONACCI)
    keys = readonly(np.array([a, b, a, b], dtype=np.uint64))
    code, n_codes, increase = codes_of(keys, readonly(np.array([1, 1, 2, 2], np.int64)))
    assert code.tolist() == [0, 0, 0, 0] and n_codes == 1
    assert not increase  # distinct pairs, but not proved so: the caller counts them
    _, _, increase = codes_of(keys, readonly(np.array([1, 2, 3, 4], np.int64)))
    assert increase


def test_a_key_longer_than_12_bytes_asks_for_hashes() -> None:
    views = np.zeros((3, 2), dtype=np.uint64)
    views[:, 0] = [5, 13, 5]
    _, n_codes, _ = codes_of(readonly(views))
    assert n_codes == -1


def duid_columns() -> dict[str, pl.Series]:
    rng = np.random.default_rng(9)
    pool = [f"UNIT{k}" for k in range(40)] + ["", "A", "TWELVE_BYTES", "DEMAND:RETAILER_LONG"]
    values = [pool[k] for k in rng.integers(0, len(pool), 3 * CHUNK_ROWS)]
    short = [v for v in values if len(v) <= 12]
    with_nulls = [None if k % 7 == 3 else v for k, v in enumerate(short)]
    chunked = pl.concat([pl.Series(short[:1000]), pl.Series(short[1000:])], rechunk=False)
    return {
        "views": pl.Series(short),
        "long strings": pl.Series(values),
        "sliced": pl.Series(["X", *short]).slice(1),
        "chunked": chunked,
        "nulls": pl.Series(with_nulls),
        "categorical": pl.Series(with_nulls, dtype=pl.Categorical),
        "enum": pl.Series(with_nulls, dtype=pl.Enum(sorted(set(pool)))),
        "integers": pl.Series([len(v) if v else None for v in with_nulls]),
    }


@pytest.mark.parametrize("kind", list(duid_columns()))
def test_unit_codes_of_every_kind_of_duid_column(kind: str) -> None:
    duid = duid_columns()[kind]
    values = duid.to_list()
    # each unit's rows in turn at increasing intervals, but one unit repeats one interval
    rng = np.random.default_rng(4)
    interval = np.cumsum(rng.integers(0, 3, duid.len())).astype(np.int64)
    for times in (interval, np.arange(duid.len(), dtype=np.int64)):
        code, n_units, increase = unit_codes(duid, readonly(times))
        expected = by_first_appearance(values)
        assert np.array_equal(code, expected)
        assert n_units == expected.max() + 1
        assert increase == intervals_increase(values, times)
