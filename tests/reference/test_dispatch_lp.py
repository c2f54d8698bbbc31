"""The reference LP itself, on stacks small enough to solve by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bidstack.reference.dispatch_lp import dispatch_interval, unit_limits


def bands(*prices_and_mw: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A one-band-per-unit stack: unit ``u`` offers ``mw`` at ``price``, its other bands 0 MW."""
    price = np.array([[p + k for k in range(10)] for p, _ in prices_and_mw], dtype=float)
    mw = np.zeros_like(price)
    mw[:, 0] = [q for _, q in prices_and_mw]
    return price, mw


def test_cheapest_first_and_the_last_band_sets_the_price() -> None:
    result = dispatch_interval(*bands((50, 100), (10, 100)), 150.0)
    assert result.price == 50.0
    np.testing.assert_allclose(result.dispatch_mw, [50, 100])
    assert result.balance_dual == pytest.approx(50.0)


def test_demand_at_a_band_boundary_is_priced_at_the_band_below() -> None:
    result = dispatch_interval(*bands((50, 100), (10, 100)), 100.0)
    assert result.price == 10.0
    np.testing.assert_allclose(result.dispatch_mw, [0, 100], atol=1e-9)


def test_ties_share_remaining_quantity_water_filling_a_capped_unit() -> None:
    price, mw = bands((30, 100), (30, 50), (30, 60))
    result = dispatch_interval(price, mw, 80.0, max_avail=np.array([np.nan, np.nan, 10.0]))
    np.testing.assert_allclose(result.dispatch_mw, [70 * 100 / 150, 70 * 50 / 150, 10], atol=1e-7)


def test_ties_share_what_forced_energy_leaves() -> None:
    # A must stay at 40 of its 100 MW band (ramp down), so 60 MW of it remains against B's 60
    price, mw = bands((30, 100), (30, 60))
    result = dispatch_interval(
        price,
        mw,
        100.0,
        initial_mw=np.array([45.0, np.nan]),
        ramp_down_rate=np.array([1.0, np.nan]),
    )
    np.testing.assert_allclose(result.dispatch_mw, [40 + 30, 30], atol=1e-7)


def test_unserved_energy_takes_the_cap_and_forced_energy_the_floor() -> None:
    short = dispatch_interval(*bands((10, 100)), 130.0, market_price_cap=16600.0)
    assert (short.price, short.unserved_mw) == (16600.0, pytest.approx(30.0))
    price, mw = bands((10, 100))
    over = dispatch_interval(
        price, mw, 20.0, initial_mw=np.array([90.0]), ramp_down_rate=np.array([2.0])
    )
    assert (over.price, over.oversupply_mw) == (-1000.0, pytest.approx(60.0))
    np.testing.assert_allclose(over.dispatch_mw, [80.0])


def test_unit_limits_drop_terms_given_as_nan() -> None:
    _, mw = bands((10, 100), (10, 100), (10, 100))
    lower, upper = unit_limits(
        mw,
        np.array([np.nan, 50.0, np.nan]),
        np.array([np.nan, 90.0, 95.0]),
        np.array([1.0, 1.0, np.nan]),
        np.array([1.0, 1.0, 2.0]),
        5.0,
    )
    np.testing.assert_allclose(upper, [100, 50, 100])
    np.testing.assert_allclose(lower, [0, 50, 85])
