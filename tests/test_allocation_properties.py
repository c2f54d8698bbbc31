"""Hypothesis at the edges: thresholds on a band price, no band meeting a term, broken offers."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidstack import allocate, allocate_with_report
from bidstack.kernel.codes import PRICE_TYPE_ORDERS
from bidstack.reference.polars_allocation import price_type
from bidstack.rules import load_variant

from allocation_cases import (
    PRICE_BANDS,
    reference_allocation,
    reference_price_type_phase,
    reference_rows,
)

VARIANTS = {name: load_variant(name) for name in ("v1", "v2")}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

nan = float("nan")
mlf_values = st.one_of(
    st.sampled_from([1.0, 0.5, 0.93, 1.07, 2.0]),
    st.floats(0.05, 5.0),
    st.sampled_from([0.0, -1.0, nan]),
)
price_codes = st.one_of(st.sampled_from([10, 1, -1, -10]), st.integers(-12, 12))


@st.composite
def unit_interval(draw: st.DrawFn) -> dict:
    """One row; its thresholds are often exactly a band's mlf-referred price."""
    kind = draw(st.sampled_from(["ascending", "ascending", "ascending", "any", "nan"]))
    prices = draw(
        st.lists(
            st.integers(-40, 40).map(lambda x: x * 25.0),
            min_size=10,
            max_size=10,
            unique=kind != "any",
        )
    )
    if kind != "any":
        prices.sort()
    if kind == "nan":
        prices[draw(st.integers(0, 9))] = nan
    mlf = draw(mlf_values)

    def threshold() -> float:
        on_band = st.sampled_from(prices).map(lambda p: p / mlf if mlf else p)
        return draw(st.one_of(on_band, st.floats(-1200.0, 1200.0), st.just(nan)))

    return {
        "duid": "UNIT",
        "interval_datetime": datetime(2024, 1, 1, 4, 5),
        **dict(zip(PRICE_BANDS, prices, strict=True)),
        "max_capacity": draw(st.one_of(st.floats(0.0, 1000.0), st.sampled_from([-1.0, nan]))),
        "tp_min": threshold(),
        "tp_max": threshold(),
        "srmc": threshold(),
        "mlf": mlf,
        "constraint_status": draw(st.one_of(st.sampled_from([-1, 0, 1]), st.integers(-3, 3))),
        "semidispatchcap": draw(st.booleans()),
        "price_type": draw(price_codes),
        "price_phase": draw(price_codes),
    }


@SETTINGS
@given(st.lists(unit_interval(), min_size=1, max_size=20))
def test_kernel_matches_reference_on_edge_rows(rows: list[dict]) -> None:
    first = rows[0]["interval_datetime"]
    rows = [r | {"interval_datetime": first + timedelta(minutes=5 * i)} for i, r in enumerate(rows)]
    frame = pl.DataFrame(rows, schema_overrides={"price_type": pl.Int64, "price_phase": pl.Int64})
    result = allocate(frame, ["v1", "v2"])
    reference = reference_rows(frame)
    for name, variant in VARIANTS.items():
        bands, outcomes, within = reference_allocation(reference, variant)
        assert result.get_column(f"band_{name}").to_list() == bands
        assert result.get_column(f"outcome_{name}").cast(pl.String).to_list() == outcomes
        assert result.get_column(f"within_limits_{name}").to_list() == within


@st.composite
def unit_series(draw: st.DrawFn) -> tuple[pl.DataFrame, dict[str, int]]:
    """Up to three units' forecasts (NaN included), in shuffled row order, with horizons.

    Each row's thresholds are TPmin 10, TPmax 100, SRMC 50 or else drawn from the forecasts'
    values (so a forecast often lies exactly on one) or NaN, in any order: SRMC+ below TPmin or
    above TPmax, and TPmin above TPmax, all occur.
    """
    rows = []
    horizon = {}
    values = [-20.0, 10.0, 30.0, 50.0, 75.0, 100.0, 130.0]
    thresholds = st.one_of(
        st.just((10.0, 100.0, 50.0)), st.tuples(*[st.sampled_from([*values, nan])] * 3)
    )
    for unit in range(draw(st.integers(1, 3))):
        duid = f"G{unit}"
        horizon[duid] = draw(st.integers(1, 8))
        forecasts = draw(st.lists(st.sampled_from([*values, nan]), min_size=1, max_size=25))
        # intervals the unit has no row for (an outage, a day without prices) now and then
        gaps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 3]), min_size=len(forecasts),
                             max_size=len(forecasts)))  # fmt: skip
        for t, frrp in zip(itertools.accumulate(gaps), forecasts, strict=True):
            tp_min, tp_max, srmc = draw(thresholds)
            rows.append(
                {
                    "duid": duid,
                    "interval_datetime": datetime(2024, 1, 1, 4, 5) + timedelta(minutes=5 * t),
                    **dict(
                        zip(
                            PRICE_BANDS,
                            [-100.0, 0.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 200.0, 1000.0],
                            strict=True,
                        )
                    ),
                    "max_capacity": 100.0,
                    "tp_min": tp_min,
                    "tp_max": tp_max,
                    "srmc": srmc,
                    "constraint_status": 0,
                    "semidispatchcap": False,
                    "frrp": frrp,
                }
            )
    order = draw(st.permutations(range(len(rows))))
    return pl.DataFrame([rows[i] for i in order]), horizon


@pytest.mark.parametrize("order", PRICE_TYPE_ORDERS)
@SETTINGS
@given(case=unit_series())
def test_derivation_matches_reference_in_any_row_order(case, order: str) -> None:
    frame, horizon = case
    result = allocate_with_report(
        frame, ["v1", "v2"], phase_horizon=horizon, price_type_order=order
    )
    rows = reference_rows(frame)
    reference_price_type_phase(rows, horizon, order)
    types = [row["price_type"] for row in rows]
    assert result.derived.get_column("price_type").to_list() == types
    assert result.derived.get_column("price_phase").to_list() == [r["price_phase"] for r in rows]
    polars = frame.with_columns(srmc_plus=pl.col("srmc")).select(price_type(order))
    assert polars.to_series().to_list() == types
    for name, variant in VARIANTS.items():
        bands, outcomes, _ = reference_allocation(rows, variant)
        assert result.frame.get_column(f"band_{name}").to_list() == bands
        assert result.frame.get_column(f"outcome_{name}").cast(pl.String).to_list() == outcomes
