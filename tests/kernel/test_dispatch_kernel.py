"""The dispatch kernel agrees with the reference LP on hypothesis-generated stacks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidstack.kernel import dispatch as kernel

from dispatch_stacks import PRICE_GRID, Stack

TOLERANCE = 1e-6


def run_kernel(stack: Stack) -> tuple[float, np.ndarray, float, float]:
    """The kernel on one stack: price, per-unit dispatch, unserved, oversupply."""
    n = len(stack.mlf)
    inf = lambda values: np.where(np.isnan(values), np.inf, values)  # noqa: E731
    out = kernel.dispatch_regions(
        np.array([0, 1]),
        np.array([0, n]),
        np.zeros(1, np.bool_),
        np.array([stack.demand]),
        np.array([15000.0]),
        np.array([-1000.0]),
        np.array([stack.minutes]),
        np.array([0, n]),
        np.arange(n),
        np.arange(n),
        stack.band_avail,
        inf(stack.max_avail),
        inf(stack.ramp_up_rate),
        inf(stack.ramp_down_rate),
        stack.initial_mw,
        stack.price_band / stack.mlf[:, None],
    )
    return out[5][0], out[0], out[6][0], out[7][0]


finite = st.floats(0, 80, allow_nan=False)


@st.composite
def stacks(draw) -> Stack:
    n = draw(st.integers(1, 6))
    prices = st.lists(st.sampled_from(PRICE_GRID.tolist()), min_size=10, max_size=10, unique=True)
    optional = st.one_of(st.just(np.nan), finite)
    per_unit = lambda strategy: np.array(draw(st.lists(strategy, min_size=n, max_size=n)))  # noqa: E731
    stack = Stack(
        price_band=np.array([sorted(draw(prices)) for _ in range(n)]),
        band_avail=np.array(
            [
                draw(
                    st.lists(
                        st.sampled_from([0.0, 5.0, 10.0, 12.5]) | finite, min_size=10, max_size=10
                    )
                )
                for _ in range(n)
            ]
        ),
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
def test_kernel_matches_lp(stack: Stack) -> None:
    price, dispatch_mw, unserved, oversupply = run_kernel(stack)
    expected = stack.reference()
    assert price == pytest.approx(expected.price, abs=TOLERANCE)
    np.testing.assert_allclose(dispatch_mw, expected.dispatch_mw, rtol=0, atol=TOLERANCE)
    assert unserved == pytest.approx(expected.unserved_mw, abs=TOLERANCE)
    assert oversupply == pytest.approx(expected.oversupply_mw, abs=TOLERANCE)
