"""bidstack.allocate against the plain-Python reference of SPEC §2–3, by hand and at random."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

import bidstack.allocation as allocation_module
from bidstack import allocate, allocate_with_report, derive_price_type_phase, output_columns
from bidstack.allocation_inputs import UnitCodes
from bidstack.errors import InputError, RuleError
from bidstack.kernel.allocation import BLOCK_ROWS, CHUNK_ROWS
from bidstack.kernel.codes import PRICE_TYPE_ORDERS
from bidstack.reference.allocation import derive_price_type
from bidstack.reference.polars_allocation import price_type
from bidstack.rules import load_variant

from allocation_cases import (
    PRICE_BANDS,
    random_rows,
    reference_allocation,
    reference_price_type_phase,
    reference_rows,
)

START = datetime(2024, 3, 1, 4, 5)
HAND_PRICES = [-1000.0, 0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0]


def row(**overrides) -> dict:
    """One unit-interval: TPmin 15, TPmax 65, SRMC 35 against HAND_PRICES, mlf 1."""
    base = {
        "duid": "UNIT1",
        "interval_datetime": datetime(2024, 1, 1, 4, 5),
        **dict(zip(PRICE_BANDS, HAND_PRICES, strict=True)),
        "max_capacity": 100.0,
        "tp_min": 15.0,
        "tp_max": 65.0,
        "srmc": 35.0,
        "mlf": 1.0,
        "constraint_status": 0,
        "semidispatchcap": False,
        "price_type": 1,
        "price_phase": 1,
    }
    return base | overrides


def frame_of(*rows: dict) -> pl.DataFrame:
    """The rows as a frame; a row at the default interval is moved on by 5 minutes per row
    before it, so that each unit has one row per interval, as allocate requires."""
    default = row()["interval_datetime"]
    return pl.DataFrame(
        [
            r | {"interval_datetime": default + timedelta(minutes=5 * i)}
            if r["interval_datetime"] == default
            else r
            for i, r in enumerate(rows)
        ]
    )


# Bands for TPmin 15, TPmax 65, SRMC 35: >TPmin PB4, <TPmax PB8, >SRMC+ PB6, <SRMC+ PB5.
@pytest.mark.parametrize(
    ("variant", "overrides", "band", "outcome", "within"),
    [
        ("v1", {"price_type": 1, "price_phase": 1}, 4, "allocated", True),
        ("v1", {"price_type": -10, "price_phase": -10}, 8, "allocated", True),
        ("v1", {"price_type": -1, "price_phase": -10}, 6, "allocated", True),
        ("v1", {"price_type": 1, "price_phase": -10}, 5, "allocated", True),
        ("v1", {"price_type": -1, "price_phase": 1}, None, "not_applicable", None),
        ("v1", {"price_type": 1, "semidispatchcap": True}, 1, "allocated", True),
        (
            "v1",
            {"price_type": -10, "price_phase": -10, "constraint_status": -1},
            10,
            "allocated",
            False,
        ),
        ("v2", {"price_type": 1, "price_phase": 1}, 4, "allocated", True),
        ("v2", {"price_type": -10, "price_phase": -10}, 8, "allocated", True),
        ("v2", {"price_type": -1, "price_phase": -10}, 6, "allocated", True),
        (
            "v2",
            {"price_type": -1, "price_phase": -1, "constraint_status": -1},
            8,
            "allocated",
            True,
        ),
        (
            "v2",
            {"price_type": 10, "price_phase": 10, "constraint_status": -1},
            1,
            "allocated",
            True,
        ),
        (
            "v2",
            {"price_type": 10, "price_phase": -10, "semidispatchcap": True},
            1,
            "allocated",
            True,
        ),
        # SRMC+ exactly on PB5: >SRMC+ is PB6, <SRMC+ is PB4
        ("v1", {"price_type": -1, "price_phase": -10, "srmc": 30.0}, 6, "allocated", True),
        ("v1", {"price_type": -1, "price_phase": -1, "srmc": 30.0}, 4, "allocated", True),
        # mlf 2 halves every price: [-500, 0, 5, 10, 15, 20, 25, 30, 35, 40]; >TPmin(15) is PB6
        ("v1", {"mlf": 2.0}, 6, "allocated", True),
        # v1 SDC FALSE PP=-1 PT=-1 is <SRMC+; nothing is below SRMC+ = -2000
        ("v1", {"price_type": -1, "price_phase": -1, "srmc": -2000.0}, None, "no_band", None),
        # v2 min(<TPmax, <SRMC+) with SRMC+ = -2000: the <SRMC+ term is dropped, PB8 remains
        ("v2", {"price_type": -1, "price_phase": -1, "srmc": -2000.0}, 8, "allocated", True),
        # PB10 priced above TPmax is allocated but not within limits
        (
            "v1",
            {"price_type": -1, "price_phase": -10, "constraint_status": -1},
            10,
            "allocated",
            False,
        ),
        ("v1", {"price_phase": 10}, None, "invalid_input", None),
        ("v1", {"max_capacity": -5.0}, None, "invalid_input", None),
        ("v1", {"priceband3": 0.0}, None, "invalid_input", None),
        ("v1", {"mlf": 0.0}, None, "invalid_input", None),
        ("v1", {"price_type": 2}, None, "invalid_input", None),
        ("v1", {"constraint_status": None}, None, "invalid_input", None),
    ],
)
def test_hand_computed_cases(variant, overrides, band, outcome, within) -> None:
    result = allocate(frame_of(row(**overrides)), [variant])
    got = result.select("band", "outcome", "within_limits").row(0)
    assert got == (band, outcome, within)


def test_status_plus_one_uses_the_sdc_tables_unless_overridden(tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "bidstack" / "rules" / "v1.toml").read_text()
    path = tmp_path / "off.toml"
    path.write_text(
        text.replace('name = "v1"', 'name = "off"')
        + (
            '[constrained_off]\n1 = ["N/A", "N/A", "PB2"]\n-1 = ["N/A", "PB2", "PB2"]\n'
            '-10 = ["PB2", "PB2", "PB2"]\n'
        )
    )
    result = allocate(frame_of(row(constraint_status=1)), ["v1", path])
    assert result.select("band_v1", "band_off").row(0) == (4, 2)


def every_cell_frame(seed: int) -> pl.DataFrame:
    """Every (status, sdc, PT, PP) combination, valid or not, with 25 draws of prices each
    (each combination a day later than the one before: one row per unit and interval)."""
    base = random_rows(25, seed, invalid=0.0)
    combos = list(itertools.product((-1, 0, 1), (False, True), (10, 1, -1, -10), (10, 1, -1, -10)))
    frames = [
        base.with_columns(
            interval_datetime=pl.col("interval_datetime") + timedelta(days=day),
            constraint_status=pl.lit(s),
            semidispatchcap=pl.lit(d),
            price_type=pl.lit(pt),
            price_phase=pl.lit(pp),
        )
        for day, (s, d, pt, pp) in enumerate(combos)
    ]
    return pl.concat(frames)


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_every_cell_matches_the_reference(name: str) -> None:
    frame = every_cell_frame(seed=1)
    result = allocate(frame, [name])
    expected = reference_allocation(reference_rows(frame), load_variant(name))
    assert result.get_column("band").to_list() == expected[0]
    assert result.get_column("outcome").cast(pl.String).to_list() == expected[1]
    assert result.get_column("within_limits").to_list() == expected[2]
    assert set(expected[1]) == {"allocated", "not_applicable", "no_band", "invalid_input"}


def frrp_variant(tmp_path: Path) -> Path:
    path = tmp_path / "frrp.toml"
    text = (Path(__file__).parents[1] / "bidstack" / "rules" / "v2.toml").read_text()
    text = text.replace('name = "v2"', 'name = "frrp"')
    text = text.replace('1 = ["N/A", "N/A", "PB1"]', '1 = ["N/A", "N/A", "max(<FRRP, PB1)"]')
    text = text.replace('"min(<TPmax, <SRMC+)"]', '"min(>FRRP, <SRMC+, >TPmin)"]')
    path.write_text(text)
    return path


def assert_matches_reference(frame: pl.DataFrame, variants: list) -> list[list[str]]:
    """Allocate ``frame`` under ``variants`` and compare every column with the reference;
    return the reference outcomes of each variant."""
    result = allocate(frame, variants)
    rows = reference_rows(frame)
    loaded = [load_variant(v) for v in variants]
    names = [variant.name for variant in loaded]
    all_outcomes = []
    for variant in loaded:
        out = output_columns(names)[variant.name]
        bands, outcomes, within = reference_allocation(rows, variant)
        assert result.get_column(out["band"]).to_list() == bands, variant.name
        assert result.get_column(out["outcome"]).cast(pl.String).to_list() == outcomes
        assert result.get_column(out["within_limits"]).to_list() == within
        all_outcomes.append(outcomes)
    return all_outcomes


def test_100k_random_rows_match_the_reference(tmp_path: Path) -> None:
    frame = random_rows(100_000, seed=7)
    for outcomes in assert_matches_reference(frame, ["v1", "v2", frrp_variant(tmp_path)]):
        assert {"allocated", "no_band", "invalid_input", "not_applicable"} <= set(outcomes)


def test_offers_shared_by_runs_of_rows_across_blocks_and_tasks(tmp_path: Path) -> None:
    # The kernel resolves an offer once per run of rows sharing it, in blocks of BLOCK_ROWS
    # within parallel tasks of CHUNK_ROWS: runs here cross both boundaries, and the rows of a
    # run differ in every per-row column (keys, capacity, frrp), some of them invalid. Rows come
    # grouped by unit (a unit's forty offers in a row), so that the kernel compares each row's
    # offer with the row before's.
    per_row = random_rows(CHUNK_ROWS + BLOCK_ROWS + 13, seed=11)
    offers = random_rows(204, seed=12)
    rng = np.random.default_rng(13)
    # new offers on the first rows of the second and third blocks and of the second task
    head = [BLOCK_ROWS, BLOCK_ROWS - 1, 1, CHUNK_ROWS - 2 * BLOCK_ROWS]
    lengths = [*head, *rng.choice([1, 2, 7, 288, BLOCK_ROWS - 1, BLOCK_ROWS + 5], 200)]
    frame_rows = per_row.height
    offer_of_row = np.repeat(np.arange(204), lengths)[:frame_rows]
    assert offer_of_row.size == frame_rows
    offer_columns = [*PRICE_BANDS, "tp_min", "tp_max", "srmc", "mlf"]
    frame = per_row.with_columns(offers.select(offer_columns)[offer_of_row]).with_columns(
        duid=pl.Series([f"U{offer // 40}" for offer in offer_of_row]),
        interval_datetime=pl.Series([START + timedelta(minutes=5 * r) for r in range(frame_rows)]),
    )
    assert_matches_reference(frame, ["v1", "v2", frrp_variant(tmp_path)])


def interval_major_offers() -> pl.DataFrame:
    """Rows in interval-major order (50 units, one row each per interval, as AEMO orders them):
    each unit's offer recurs every 50 rows and changes every ``7 + unit`` intervals."""
    per_row = random_rows(CHUNK_ROWS + 3 * BLOCK_ROWS, seed=21)
    offers = random_rows(per_row.height, seed=22)
    rows = np.arange(per_row.height)
    unit, interval = rows % 50, rows // 50
    offer_of_row = (interval // (7 + unit)) * 50 + unit
    offer_columns = [*PRICE_BANDS, "tp_min", "tp_max", "srmc", "mlf"]
    return per_row.with_columns(offers.select(offer_columns)[offer_of_row])


def test_offers_recurring_in_interval_major_order(tmp_path: Path) -> None:
    # Every row starts a segment; the kernel finds the unit's offer in its cache by the unit's
    # code, or resolves the new one.
    assert_matches_reference(interval_major_offers(), ["v1", "v2", frrp_variant(tmp_path)])


def test_units_sharing_a_cache_slot_keep_their_own_offers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unit codes are hashes, so two units may share one (and its cache slot): an offer is then
    # reused only when all its values are equal. Here 50 units share three codes.
    frame = interval_major_offers()
    variants = ["v1", "v2", frrp_variant(tmp_path)]
    expected = allocate(frame, variants)
    real = allocation_module.check_unique

    def shared_codes(data: pl.DataFrame) -> UnitCodes:
        return UnitCodes(real(data).code % 3, 3)

    monkeypatch.setattr(allocation_module, "check_unique", shared_codes)
    assert allocate(frame, variants).equals(expected)


@pytest.mark.parametrize("duid", ["categorical", "enum", "long strings", "chunked"])
def test_any_kind_of_duid_column_gives_the_same_result(duid: str) -> None:
    # String duids of up to 12 bytes are numbered by their Arrow views; the others by their
    # physical codes or hashes
    frame = interval_major_offers()
    expected = allocate(frame, ["v1", "v2"]).drop("duid")
    column = frame.get_column("duid")
    given = {
        "categorical": column.cast(pl.Categorical),
        "enum": column.cast(pl.Enum(sorted(set(column)))),
        "long strings": ("LONGER_THAN_12_BYTES_" + column).alias("duid"),
        "chunked": pl.concat([column.slice(0, 999), column.slice(999)], rechunk=False),
    }[duid]
    result = allocate(frame.with_columns(given), ["v1", "v2"])
    assert result.drop("duid").equals(expected)


def test_codes_as_boolean_int8_or_other_integers_give_the_same_result() -> None:
    # Int8 and Boolean code columns without nulls go to the kernel without Polars' cast (a
    # Boolean's bits unpacked, from an offset when sliced); the others through it
    frame = random_rows(20_003, seed=8).with_columns(pl.col("semidispatchcap").cast(pl.Boolean))
    expected = allocate(frame, ["v1", "v2"]).drop("semidispatchcap", "constraint_status")
    sdc, status = pl.col("semidispatchcap"), pl.col("constraint_status")
    for given in (
        [sdc.cast(pl.Int8), status.cast(pl.Int8)],
        [sdc.cast(pl.Int64), status.cast(pl.Int64)],
    ):
        result = allocate(frame.with_columns(given), ["v1", "v2"])
        assert result.drop("semidispatchcap", "constraint_status").equals(expected)
    sliced = allocate(frame.slice(3), ["v1", "v2"]).drop("semidispatchcap", "constraint_status")
    assert sliced.equals(expected.slice(3))


def test_input_order_and_columns_are_kept_and_arrow_is_accepted() -> None:
    frame = random_rows(2_000, seed=3).sample(fraction=1.0, shuffle=True, seed=5)
    result = allocate(frame.to_arrow(), ["v1"])
    assert result.columns == [*frame.columns, "band", "outcome", "within_limits"]
    assert result.select(frame.columns).equals(frame)
    expected = reference_allocation(reference_rows(frame), load_variant("v1"))
    assert result.get_column("band").to_list() == expected[0]


def test_chunked_input_gives_the_same_result() -> None:
    frame = random_rows(5_000, seed=11)
    chunked = pl.concat(
        [frame.slice(0, 1234), frame.slice(1234, 3000), frame.slice(4234)], rechunk=False
    )
    assert chunked.get_column("priceband1").n_chunks() == 3
    assert allocate(chunked, ["v1", "v2"]).equals(allocate(frame, ["v1", "v2"]))


def test_result_dtypes_and_bandavail() -> None:
    frame = random_rows(1_000, seed=2)
    result = allocate(frame, ["v2"], bandavail=True)
    assert result.schema["band"] == pl.Int8
    assert result.schema["outcome"] == pl.Enum(
        ["allocated", "not_applicable", "no_band", "invalid_input"]
    )
    assert result.schema["within_limits"] == pl.Boolean
    volumes = result.select([f"bandavail{k}" for k in range(1, 11)]).to_numpy()
    band = result.get_column("band").fill_null(0).to_numpy()
    capacity = result.get_column("max_capacity").to_numpy()
    for i in range(result.height):
        expected = np.zeros(10)
        if band[i]:
            expected[band[i] - 1] = capacity[i]
        assert np.array_equal(volumes[i], expected)


def test_fcas_liability_is_added_to_srmc_only_when_enabled() -> None:
    # SRMC 35 + liability 10 = 45: v1 SDC FALSE PP=-10 PT=1 is <SRMC+ -> PB6 (40) instead of PB5
    frame = frame_of(row(price_type=1, price_phase=-10, fcas_liability=10.0))
    assert allocate(frame, ["v1"]).get_column("band").to_list() == [5]
    assert allocate(frame, ["v1"], fcas_liability=True).get_column("band").to_list() == [6]
    missing = frame_of(row(price_type=1, price_phase=-10, fcas_liability=None))
    result = allocate(missing, ["v1"], fcas_liability=True)
    assert result.get_column("outcome").to_list() == ["invalid_input"]


def unit_series(n_units: int, n_intervals: int, seed: int) -> pl.DataFrame:
    """Several units' time series with frrp around the thresholds and a few NaN forecasts."""
    frame = random_rows(n_units * n_intervals, seed, invalid=0.0).drop("price_type", "price_phase")
    rng = np.random.default_rng(seed)
    frrp = rng.choice(
        [-50.0, 0.0, 40.0, 80.0, 150.0, np.nan], frame.height, p=[0.2, 0.2, 0.2, 0.2, 0.17, 0.03]
    )
    units = np.repeat([f"G{u}" for u in range(n_units)], n_intervals)
    times = [START + timedelta(minutes=5 * (i % n_intervals)) for i in range(frame.height)]
    return frame.with_columns(
        duid=pl.Series(units),
        interval_datetime=pl.Series(times),
        frrp=frrp,
        tp_min=pl.lit(10.0),
        tp_max=pl.lit(100.0),
        srmc=pl.lit(50.0),
    )


@pytest.mark.parametrize("order", PRICE_TYPE_ORDERS)
@pytest.mark.parametrize("shuffle", [False, True])
def test_derived_price_type_and_phase_match_the_reference(shuffle: bool, order: str) -> None:
    frame = unit_series(n_units=6, n_intervals=300, seed=4)
    # SRMC+ and TPmin on and between the forecasts, SRMC+ below TPmin and above TPmax included
    rng = np.random.default_rng(5)
    frame = frame.with_columns(
        tp_min=rng.choice([0.0, 10.0, 40.0], frame.height),
        srmc=rng.choice([-50.0, 0.0, 5.0, 40.0, 50.0, 80.0, 150.0], frame.height),
    )
    horizon = {f"G{u}": h for u, h in enumerate([1, 2, 3, 6, 12, 400])}
    if shuffle:
        frame = frame.sample(fraction=1.0, shuffle=True, seed=9)
    result = allocate_with_report(
        frame, ["v1", "v2"], phase_horizon=horizon, price_type_order=order
    )
    rows = reference_rows(frame)
    reference_price_type_phase(rows, horizon, order)
    assert result.derived.get_column("price_type").to_list() == [r["price_type"] for r in rows]
    assert result.derived.get_column("price_phase").to_list() == [r["price_phase"] for r in rows]
    polars = frame.with_columns(srmc_plus=pl.col("srmc")).select(price_type(order))
    assert polars.to_series().to_list() == [r["price_type"] for r in rows]
    for variant in ("v1", "v2"):
        bands, outcomes, within = reference_allocation(rows, load_variant(variant))
        assert result.frame.get_column(f"band_{variant}").to_list() == bands
        assert result.frame.get_column(f"outcome_{variant}").cast(pl.String).to_list() == outcomes
        assert result.frame.get_column(f"within_limits_{variant}").to_list() == within
    n_invalid = sum(
        pt is None or pp is None for pt, pp in ((r["price_type"], r["price_phase"]) for r in rows)
    )
    assert result.rejected.height == n_invalid > 0
    assert set(result.rejected.get_column("reason")) <= {
        "frrp missing (or not finite), so price_type cannot be derived",
        "price_phase unknown: an frrp in the unit's phase horizon is missing or not finite, or "
        "the unit's horizon, duid or interval_datetime is missing",
    }


def price_types(frrp: float, tp_min: float, tp_max: float, srmc: float, order: str) -> list:
    """PT of one interval from the kernel (through the public API), the Python reference and
    the Polars expression."""
    frame = unit_series(1, 1, seed=1).with_columns(
        frrp=pl.lit(frrp), tp_min=pl.lit(tp_min), tp_max=pl.lit(tp_max), srmc=pl.lit(srmc)
    )
    kernel = derive_price_type_phase(frame, price_type_order=order).get_column("price_type")
    polars = frame.with_columns(srmc_plus=pl.col("srmc")).select(price_type(order)).item()
    return [kernel.item(), derive_price_type(frrp, tp_min, tp_max, srmc, order), polars]


# TPmin 10, SRMC+ 50, TPmax 100: a forecast exactly on a threshold is not above it.
@pytest.mark.parametrize("order", PRICE_TYPE_ORDERS)
@pytest.mark.parametrize(
    ("frrp", "expected"),
    [
        (100.0, 1),  # on TPmax: not 10
        (math.nextafter(100.0, math.inf), 10),
        (10.0, -10),  # on TPmin
        (math.nextafter(10.0, math.inf), -1),
        (50.0, -1),  # on SRMC+
        (math.nextafter(50.0, math.inf), 1),
    ],
)
def test_price_type_with_the_forecast_on_a_threshold(
    frrp: float, expected: int, order: str
) -> None:
    assert price_types(frrp, 10.0, 100.0, 50.0, order) == [expected] * 3


@pytest.mark.parametrize(
    ("tp_min", "srmc", "tp_max", "frrp", "thresholds_first", "srmc_first"),
    [
        # SRMC+ 20 < TPmin 40: (SRMC+, TPmin] is -10 by SPEC §3, 1 when SRMC+ is tested first
        (40.0, 20.0, 100.0, 10.0, -10, -10),
        (40.0, 20.0, 100.0, 20.0, -10, -10),
        (40.0, 20.0, 100.0, 30.0, -10, 1),
        (40.0, 20.0, 100.0, 40.0, -10, 1),
        (40.0, 20.0, 100.0, 70.0, 1, 1),
        (40.0, 20.0, 100.0, 100.0, 1, 1),
        # SRMC+ 150 > TPmax 100: all of (TPmin, TPmax] is -1 in both orders (TPmax comes first)
        (10.0, 150.0, 100.0, 10.0, -10, -10),
        (10.0, 150.0, 100.0, 50.0, -1, -1),
        (10.0, 150.0, 100.0, 100.0, -1, -1),
        (10.0, 150.0, 100.0, 120.0, 10, 10),
        (10.0, 150.0, 100.0, 150.0, 10, 10),
        # odd settings, TPmin 100 > TPmax 40: the same orders apply
        (100.0, 20.0, 40.0, 10.0, -10, -10),
        (100.0, 20.0, 40.0, 30.0, -10, 1),
        (100.0, 20.0, 40.0, 60.0, 10, 10),
    ],
)
def test_price_type_orders_where_srmc_plus_is_outside_the_thresholds(
    tp_min, srmc, tp_max, frrp, thresholds_first, srmc_first
) -> None:
    assert price_types(frrp, tp_min, tp_max, srmc, "thresholds_first") == [thresholds_first] * 3
    assert price_types(frrp, tp_min, tp_max, srmc, "srmc_first") == [srmc_first] * 3


def test_price_type_order_reaches_the_allocation_and_is_checked() -> None:
    # SRMC+ 15 < frrp 20 <= TPmin 25, one-interval horizon. By default PT = PP = -10, and v1
    # SDC FALSE is <TPmax(65): PB8 (60); with srmc_first PT = PP = 1, >TPmin(25): PB5 (30).
    frame = frame_of(row(tp_min=25.0, srmc=15.0, frrp=20.0)).drop("price_type", "price_phase")
    default = allocate_with_report(frame, ["v1"])
    assert default.derived.row(0) == (-10, -10)
    assert default.frame.get_column("band").to_list() == [8]
    srmc_first = allocate_with_report(frame, ["v1"], price_type_order="srmc_first")
    assert srmc_first.derived.row(0) == (1, 1)
    assert srmc_first.frame.get_column("band").to_list() == [5]
    message = "price_type_order must be one of thresholds_first, srmc_first; got 'tpmax_first'"
    with pytest.raises(InputError, match=message):
        allocate(frame, ["v1"], price_type_order="tpmax_first")
    with pytest.raises(InputError, match="price_type_order must be one of"):
        derive_price_type_phase(frame, price_type_order="SRMC_FIRST")


def test_phase_horizon_from_min_run_time_column_and_mapping_agree() -> None:
    frame = unit_series(n_units=3, n_intervals=50, seed=8)
    by_unit = {"G0": 1, "G1": 4, "G2": 9}
    with_column = frame.with_columns(
        min_run_time=pl.col("duid").replace_strict(by_unit, return_dtype=pl.Int64)
    )
    from_column = allocate(with_column, ["v2"]).get_column("band")
    from_mapping = allocate(frame, ["v2"], phase_horizon=by_unit).get_column("band")
    assert from_column.equals(from_mapping)
    zero = with_column.with_columns(min_run_time=pl.lit(0))
    assert (
        allocate(zero, ["v2"]).get_column("band").equals(allocate(frame, ["v2"]).get_column("band"))
    )


def test_single_interval_unit_and_window_cut_at_the_end() -> None:
    # one unit, one interval: PP is its own PT; frrp 80 -> PT 1 (SRMC 50 < 80 <= 100)
    frame = unit_series(1, 1, seed=1).with_columns(frrp=pl.lit(80.0))
    result = allocate(frame, ["v1"], phase_horizon=12)
    assert result.get_column("outcome").to_list() == ["allocated"]
    # frrp 200, 80, 20: PT 10, 1, -1; horizon 2 -> PP 10 (PT = 10: PP does not matter), -1, -1
    # (the last window is cut at the end)
    three = unit_series(1, 3, seed=1).with_columns(frrp=pl.Series([200.0, 80.0, 20.0]))
    rows = reference_rows(three)
    reference_price_type_phase(rows, {"G0": 2})
    assert [(r["price_type"], r["price_phase"]) for r in rows] == [(10, 10), (1, -1), (-1, -1)]
    expected = reference_allocation(rows, load_variant("v1"))[0]
    assert allocate(three, ["v1"], phase_horizon=2).get_column("band").to_list() == expected


def test_report_counts_and_rejected_rows() -> None:
    frame = frame_of(
        row(),
        row(price_type=-1, price_phase=1),
        row(max_capacity=math.nan),
        row(priceband2=-2000.0),
    )
    report = allocate_with_report(frame, ["v1", "v2"])
    counts = report.counts.filter(pl.col("variant") == "v1").row(0, named=True)
    assert counts == {
        "variant": "v1",
        "allocated": 1,
        "not_applicable": 1,
        "no_band": 0,
        "invalid_input": 2,
        "within_limits": 1,
    }
    assert report.rejected.get_column("row").to_list() == [2, 3]
    assert report.rejected.get_column("reason").to_list() == [
        "max_capacity missing or negative (or not finite)",
        "band prices not strictly ascending",
    ]


def test_frrp_term_without_frrp_is_rejected_with_its_reason(tmp_path: Path) -> None:
    frame = frame_of(row(semidispatchcap=True, frrp=None), row(semidispatchcap=True, frrp=5.0))
    report = allocate_with_report(frame, [frrp_variant(tmp_path)])
    # max(<FRRP, PB1): with FRRP 5 the highest band below it is PB2 (0)
    assert report.frame.get_column("band").to_list() == [None, 2]
    assert report.rejected.get_column("reason").to_list() == [
        "frrp missing (or not finite) where a rule cell needs it"
    ]


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda f: f.drop("tp_min", "srmc"), InputError, "missing column(s) 'tp_min', 'srmc'"),
        (lambda f: f.drop("price_type", "price_phase", "frrp"), InputError, "'frrp' (PT and PP"),
        (lambda f: f.with_columns(tp_max=pl.lit("high")), InputError, "column 'tp_max' has dtype"),
        (lambda f: f.with_columns(band=pl.lit(1)), InputError, "already has column(s) 'band'"),
    ],
)
def test_bad_columns_fail_before_any_work(change, error, message) -> None:
    with pytest.raises(error) as raised:
        allocate(change(random_rows(10, seed=1)), ["v1"])
    assert message in str(raised.value)


def test_castable_dtypes_are_cast_and_unknown_variants_fail() -> None:
    frame = random_rows(200, seed=5)
    as_text = frame.with_columns(
        pl.col("tp_max").cast(pl.String), pl.col("price_type").cast(pl.Int64)
    )
    assert (
        allocate(as_text, ["v1"])
        .get_column("band")
        .equals(allocate(frame, ["v1"]).get_column("band"))
    )
    with pytest.raises(RuleError, match="unknown rule variant 'v3'"):
        allocate(frame, ["v3"])
    with pytest.raises(InputError, match="phase_horizon and lookahead apply only"):
        allocate(frame, ["v1"], phase_horizon=3)
    with pytest.raises(InputError, match="at least 1"):
        allocate(frame.drop("price_type", "price_phase"), ["v1"], phase_horizon=0)


@pytest.mark.parametrize(
    "horizon",
    [
        [1, 1, 1, 1, 1, 2, 2, 3, 2, 2],  # Int64, read as it is
        [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 3.0, 2.0, 2.0],
        [1, 1, 1, 1, 1, 2, None, 2, 2, 2],  # nulls: read as floats, missing as NaN
    ],
)
def test_phase_horizon_column_must_be_constant_per_unit(horizon: list) -> None:
    frame = unit_series(2, 5, seed=3).with_columns(horizon=pl.Series(horizon))
    with pytest.raises(InputError, match="'horizon' changes within unit 'G1'"):
        allocate(frame, ["v1"], phase_horizon="horizon")


def test_phase_horizon_column_must_hold_whole_intervals() -> None:
    frame = unit_series(2, 5, seed=3).with_columns(horizon=pl.lit(2.5))
    with pytest.raises(InputError, match="'horizon' is not a whole number of intervals for unit"):
        allocate(frame, ["v1"], phase_horizon="horizon")


def test_empty_frame() -> None:
    empty = random_rows(10, seed=1).clear()
    result = allocate_with_report(empty, ["v1", "v2"])
    assert result.frame.height == 0
    assert result.counts.get_column("allocated").to_list() == [0, 0]
    derived = allocate(empty.drop("price_type", "price_phase"), ["v1"])
    assert derived.height == 0 and "band" in derived.columns


def test_arrow_table_with_chunks_and_nulls() -> None:
    frame = random_rows(300, seed=12).with_columns(
        tp_max=pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("tp_max"))
    )
    table = pa.concat_tables([frame.slice(0, 100).to_arrow(), frame.slice(100).to_arrow()])
    result = allocate(table, ["v2"])
    expected = reference_allocation(reference_rows(frame), load_variant("v2"))
    assert result.get_column("outcome").cast(pl.String).to_list() == expected[1]


def test_derive_price_type_phase_is_public_and_leaves_unknowns_null() -> None:
    frame = unit_series(n_units=2, n_intervals=40, seed=6)
    derived = derive_price_type_phase(frame, phase_horizon=3)
    rows = reference_rows(frame)
    reference_price_type_phase(rows, {"G0": 3, "G1": 3})
    assert derived.get_column("price_type").to_list() == [r["price_type"] for r in rows]
    assert derived.get_column("price_phase").to_list() == [r["price_phase"] for r in rows]
    assert derived.get_column("price_phase").null_count() > 0


def test_price_type_10_is_allocated_even_when_its_phase_cannot_be_known() -> None:
    # frrp 100, missing, 100 with TPmax 100... PT 10 needs frrp > TPmax: use 150
    frame = unit_series(1, 3, seed=2).with_columns(frrp=pl.Series([150.0, None, 150.0]))
    result = allocate(frame, ["v1"], phase_horizon=2)
    assert result.get_column("outcome").cast(pl.String).to_list() == [
        "allocated",
        "invalid_input",
        "allocated",
    ]
    assert result.get_column("band").to_list() == [1, None, 1]


def test_lookahead_makes_chunks_agree_with_the_whole() -> None:
    frame = unit_series(n_units=3, n_intervals=60, seed=13).sort("duid", "interval_datetime")
    cut = START + timedelta(minutes=5 * 30)
    # G1 sees PT 1 up to the cut and PT -10 just after it: its last PPs before the cut are -10
    frame = frame.with_columns(
        frrp=pl.when(pl.col("duid") != "G1")
        .then(pl.col("frrp"))
        .when(pl.col("interval_datetime") < cut)
        .then(80.0)
        .otherwise(-50.0)
    )
    horizon = {"G0": 4, "G1": 9, "G2": 1}
    whole = allocate_with_report(frame, ["v2"], phase_horizon=horizon)
    first = frame.filter(pl.col("interval_datetime") < cut)
    rest = frame.filter(pl.col("interval_datetime") >= cut)
    chunk = allocate_with_report(first, ["v2"], phase_horizon=horizon, lookahead=rest)
    expected = whole.frame.filter(pl.col("interval_datetime") < cut)
    assert chunk.frame.get_column("band").equals(expected.get_column("band"))
    inside = pl.col("interval_datetime") < cut
    whole_pp = whole.derived.filter(frame.select(inside).to_series()).get_column("price_phase")
    assert chunk.derived.get_column("price_phase").equals(whole_pp)
    without = derive_price_type_phase(first, phase_horizon=horizon).get_column("price_phase")
    g1_last = (first.get_column("duid") == "G1") & (
        first.get_column("interval_datetime") >= cut - timedelta(minutes=20)
    )
    assert set(without.filter(g1_last)) == {1} and set(whole_pp.filter(g1_last)) == {-10}
    with pytest.raises(InputError, match="lookahead is missing column"):
        allocate(first, ["v2"], phase_horizon=horizon, lookahead=rest.drop("frrp"))


def test_the_phase_window_is_the_units_next_intervals_in_time_not_its_next_rows() -> None:
    """SPEC §3's intervals t .. t+H-1 are times: with H = 3, a unit offering at 23:55 and
    00:00 and next at 00:50 (a gap) takes its PP from the first two alone; the -10 at 00:50
    is beyond its window. Counting rows reached it, and a run cut at midnight, whose look-ahead
    is cut by time, then gave other bands than the run whole."""
    times = [datetime(2024, 9, 30, 23, 55), datetime(2024, 10, 1), datetime(2024, 10, 1, 0, 50)]
    rows = [
        row(interval_datetime=at, frrp=frrp, tp_min=0.0, tp_max=300.0, srmc=150.0)
        for at, frrp in zip(times, [200.0, 200.0, -5.0], strict=True)
    ]
    frame = pl.DataFrame(rows).drop("price_type", "price_phase")
    whole = allocate_with_report(frame, ["v1"], phase_horizon=3)
    assert whole.derived.rows() == [(1, 1), (1, 1), (-10, -10)]
    cut = allocate_with_report(frame.head(2), ["v1"], phase_horizon=3)
    assert cut.frame["band"].to_list() == whole.frame["band"].to_list()[:2]
    # without the gap, the -10 is the third interval and in the first row's window
    steady = frame.with_columns(
        interval_datetime=pl.Series([*times[:2], times[1].replace(minute=5)])
    )
    assert allocate_with_report(steady, ["v1"], phase_horizon=3).derived.rows()[0] == (1, -10)
    # the interval is the market's (5 minutes unless told), not guessed from the rows: a unit
    # alone with a gap after each row still looks at its own next H intervals only
    alone = frame.with_columns(interval_datetime=pl.Series([times[0] + timedelta(minutes=10 * k)
                                                             for k in range(3)]))  # fmt: skip
    assert allocate_with_report(alone, ["v1"], phase_horizon=2).derived.rows()[1] == (1, 1)
    ten = allocate_with_report(alone, ["v1"], phase_horizon=2, interval_minutes=10)
    assert ten.derived.rows()[1] == (1, -10)
