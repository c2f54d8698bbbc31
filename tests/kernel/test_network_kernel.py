"""The network dispatch kernel equals the reference MIP on hundreds of random networks.

Dispatch and flows within 1e-6 MW and prices equal to the reference's duals wherever those are
unique (elsewhere within the reference's price range). At a price of exactly zero losses cost
nothing and the optimum is not unique: there the kernel's solution must cost what the
reference's does.
"""

from __future__ import annotations

import numpy as np
import pytest
from network_cases import NetworkCase, random_network, run_kernel

TOLERANCE = 1e-6
PRICE_TOLERANCE = 1e-5
CASES = 520


def band_cost(case: NetworkCase, dispatch_mw: np.ndarray) -> float:
    """Cost of a dispatch, each unit's bands filled cheapest first (its forced excess free)."""
    price = case.price_band / case.mlf[:, None]
    cumulative = np.cumsum(case.band_avail, axis=1)
    start = cumulative - case.band_avail
    filled = np.clip(dispatch_mw[:, None] - start, 0.0, case.band_avail)
    return float((filled * price).sum())


@pytest.fixture(scope="module")
def runs():
    rng = np.random.default_rng(20220101)
    cases = [random_network(rng, negative=rng.random() < 0.3) for _ in range(CASES)]
    results = {}
    for priority in ("nemde", "availability"):
        chosen = [i for i, case in enumerate(cases) if case.ramp_priority == priority]
        out, units, regions, links = run_kernel([cases[i] for i in chosen])
        for position, i in enumerate(chosen):
            unit_slice = slice(units[position], units[position + 1])
            region_slice = slice(regions[position], regions[position + 1])
            link_slice = slice(links[position], links[position + 1])
            results[i] = {
                "dispatch": out[0][0][unit_slice],
                "price": out[1][0][position, region_slice],
                "unserved": out[1][2][position, region_slice],
                "oversupply": out[1][3][position, region_slice],
                "flow": out[2][0][position, link_slice],
                "losses": out[2][1][position, link_slice],
                "nodes": out[3][position],
            }
    return cases, results


def test_cases_cover_the_cases_that_matter(runs) -> None:
    cases, results = runs
    assert sum(len(c.links) > 0 for c in cases) > 400
    assert sum(c.demand.size == 5 and len(c.links) >= 4 for c in cases) > 40
    assert sum(bool(c.exclusive) for c in cases) > 50
    assert (
        sum(
            any(
                np.sum(
                    [
                        (s.from_region, s.to_region) == (t.from_region, t.to_region)
                        or (s.from_region, s.to_region) == (t.to_region, t.from_region)
                        for t in c.links
                    ]
                )
                > 1
                for s in c.links
            )
            for c in cases
        )
        > 50
    )
    prices = np.concatenate([r["price"] for r in results.values()])
    assert (prices < 0).sum() > 200 and (prices > 0).sum() > 500
    assert sum(r["nodes"] > 1 for r in results.values()) > 30
    assert all(r["nodes"] > 0 for r in results.values())
    assert sum((r["unserved"] > 0).any() for r in results.values()) > 5


@pytest.mark.parametrize("index", range(CASES))
def test_kernel_equals_the_reference(runs, index: int) -> None:
    cases, results = runs
    case, got = cases[index], results[index]
    expected = case.reference()
    assert band_cost(case, got["dispatch"]) == pytest.approx(
        band_cost(case, expected.dispatch_mw), rel=1e-9, abs=1e-6
    )
    np.testing.assert_allclose(got["unserved"], expected.unserved_mw, atol=TOLERANCE)
    np.testing.assert_allclose(got["oversupply"], expected.oversupply_mw, atol=TOLERANCE)
    degenerate = (np.abs(expected.price) < PRICE_TOLERANCE).any()
    if not degenerate:
        np.testing.assert_allclose(got["dispatch"], expected.dispatch_mw, atol=TOLERANCE)
        np.testing.assert_allclose(got["flow"], expected.flow_mw, atol=TOLERANCE)
        np.testing.assert_allclose(got["losses"], expected.losses_mw, atol=TOLERANCE)
    if np.allclose(got["price"], expected.price, atol=PRICE_TOLERANCE):
        return
    span = case.reference(price_range=True)
    low = np.minimum(span.price_left, span.price_right) - PRICE_TOLERANCE
    high = np.maximum(span.price_left, span.price_right) + PRICE_TOLERANCE
    assert np.all((got["price"] >= low) & (got["price"] <= high)), (got["price"], low, high)
    unique = np.abs(span.price_left - span.price_right) < PRICE_TOLERANCE
    np.testing.assert_allclose(got["price"][unique], span.price_left[unique], atol=PRICE_TOLERANCE)


def test_an_unconstrained_link_prices_its_regions_by_the_marginal_loss_factor() -> None:
    """RRP_to = RRP_from x MLF(flow): with all losses on the from side (share 1) the marginal
    loss factor is 1 + loss'(flow), AEMO's MLF equation."""
    from network_cases import LinkSpec

    prices = np.array([[20.0 + k for k in range(10)], [90.0 + k for k in range(10)]])
    volume = np.zeros((2, 10))
    volume[:, 0] = 1000.0
    a, k = 0.02, 2e-4
    link = LinkSpec(0, 1, -800.0, 800.0, np.arange(-801.0, 802.0, 1.0), a, k, share=1.0)
    case = NetworkCase(
        np.array([0, 1]),
        prices,
        volume,
        np.ones(2),
        np.full(2, np.nan),
        np.full(2, np.nan),
        np.full(2, np.nan),
        np.full(2, np.nan),
        np.array([100.0, 400.3]),
        [link],
    )
    out, *_ = run_kernel([case])
    flow = out[2][0][0, 0]
    price_from, price_to = out[1][0][0]
    assert 0 < flow < 800
    # within a 1 MW segment the interpolated slope is the MLF equation at its midpoint
    midpoint = np.floor(flow) + 0.5
    assert price_to == pytest.approx(price_from * (1.0 + a + k * midpoint), rel=1e-12)
    assert out[2][4][0, 0] == pytest.approx(price_to / price_from, rel=1e-12)
