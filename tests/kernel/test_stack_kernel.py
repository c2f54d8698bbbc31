"""The dispatch kernel on one region agrees with the reference on hypothesis-drawn stacks:
grid prices that tie, zero bands, caps, ramp limits both ways, 5- and 30-minute intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from network_cases import NetworkCase, run_kernel

from dispatch_stacks import PRICE_GRID, Stack

TOLERANCE = 1e-6

finite = st.floats(0, 80, allow_nan=False)


@st.composite
def stacks(draw) -> Stack:
    n = draw(st.integers(1, 6))
    prices = st.lists(st.sampled_from(PRICE_GRID.tolist()), min_size=10, max_size=10, unique=True)
    optional = st.one_of(st.just(np.nan), finite)
    per_unit = lambda strategy: np.array(draw(st.lists(strategy, min_size=n, max_size=n)))  # noqa: E731
    band = st.sampled_from([0.0, 5.0, 10.0, 12.5]) | finite
    stack = Stack(
        price_band=np.array([sorted(draw(prices)) for _ in range(n)]),
        band_avail=np.array([draw(st.lists(band, min_size=10, max_size=10)) for _ in range(n)]),
        mlf=per_unit(st.sampled_from([1.0, 0.9, 1.1])),
        max_avail=per_unit(optional),
        initial_mw=per_unit(optional),
        ramp_up_rate=per_unit(st.one_of(st.just(np.nan), st.floats(0, 5))),
        ramp_down_rate=per_unit(st.one_of(st.just(np.nan), st.floats(0, 5))),
        demand=0.0,
        minutes=draw(st.sampled_from([5.0, 30.0])),
    )
    lower, upper = stack.limits()
    stack.demand = draw(st.floats(0, float(upper.sum()) + 20) | st.just(float(lower.sum())))
    return stack


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stacks())
def test_kernel_matches_the_reference(stack: Stack) -> None:
    case = NetworkCase(
        np.zeros(len(stack.mlf), np.int64),
        stack.price_band,
        stack.band_avail,
        stack.mlf,
        stack.max_avail,
        stack.initial_mw,
        stack.ramp_up_rate,
        stack.ramp_down_rate,
        np.array([stack.demand]),
        minutes=stack.minutes,
    )
    (units, regions, _, _), *_ = run_kernel([case])
    expected = stack.reference()
    np.testing.assert_allclose(units[0], expected.dispatch_mw, rtol=0, atol=TOLERANCE)
    assert regions[2][0, 0] == pytest.approx(expected.unserved_mw[0], abs=TOLERANCE)
    assert regions[3][0, 0] == pytest.approx(expected.oversupply_mw[0], abs=TOLERANCE)
    price = regions[0][0, 0]
    if price != pytest.approx(expected.price[0], abs=TOLERANCE):
        assert price == pytest.approx(stack.reference(price_range=True).price_left[0], abs=1e-4)
