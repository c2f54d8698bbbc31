"""The network reference (MIP, then LP) on cases small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from bidstack.reference.network_lp import Link, dispatch_network, unit_limits

from dispatch_stacks import random_stack

NAN = np.nan


def bands(*prices_and_mw: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """A one-band-per-unit stack: unit ``u`` offers ``mw`` at ``price``, its other bands 0 MW."""
    price = np.array([[p + k for k in range(10)] for p, _ in prices_and_mw], dtype=float)
    mw = np.zeros_like(price)
    mw[:, 0] = [q for _, q in prices_and_mw]
    return price, mw


def lossless(from_region: int, to_region: int, limit: float = 1000.0) -> Link:
    return Link(from_region, to_region, -limit, limit, [-1000.0, 0.0, 1000.0], [0.0] * 3, 0.5)


def quadratic(
    a: float, b: float, limit: float, points: int, share: float, regions: tuple[int, int] = (0, 1)
) -> Link:
    """AEMO's loss model ``a f + b/2 f**2`` sampled at breakpoints over ``±(limit + 1)``."""
    breakpoints = np.linspace(-limit - 1, limit + 1, points)
    losses = a * breakpoints + b / 2 * breakpoints**2
    return Link(*regions, -limit, limit, breakpoints, losses, share)


def balance(result, unit_region, demand, links) -> np.ndarray:
    """Each region's supply less its demand, from the reported dispatch, flows and losses."""
    supply = np.bincount(unit_region, result.dispatch_mw, minlength=demand.size)
    supply += result.unserved_mw - result.oversupply_mw - demand
    for link, flow, losses in zip(links, result.flow_mw, result.losses_mw, strict=True):
        supply[link.from_region] -= link.from_factor * flow + link.from_share * losses
        supply[link.to_region] += link.to_factor * flow - (1 - link.from_share) * losses
    return supply


# 1. One region


def test_demand_inside_a_band_takes_its_referred_price_with_the_duals_sign() -> None:
    price, mw = bands((20, 100), (47, 100))
    result = dispatch_network(
        np.zeros(2, int), price, mw, np.array([150.0]), mlf=np.array([1, 0.94])
    )
    assert result.raw_price[0] == pytest.approx(50.0)  # 47 / 0.94, positive: scipy's sign is right
    np.testing.assert_allclose(result.dispatch_mw, [100, 50])
    assert result.segment.shape == result.flow_mw.shape == (0,)


def test_unserved_energy_prices_at_the_cap_and_forced_energy_at_the_floor() -> None:
    price, mw = bands((20, 100))
    short = dispatch_network(np.zeros(1, int), price, mw, np.array([130.0]), market_price_cap=16600)
    assert short.unserved_mw[0] == pytest.approx(30.0)
    assert short.price[0] == 16600.0 and short.raw_price[0] > 16600.0
    over = dispatch_network(
        np.zeros(1, int),
        price,
        mw,
        np.array([20.0]),
        ramp_base=np.array([90.0]),
        ramp_down_rate=np.array([2.0]),
    )
    assert over.oversupply_mw[0] == pytest.approx(60.0)
    assert over.price[0] == -1000.0 and over.raw_price[0] < -1000.0
    np.testing.assert_allclose(over.dispatch_mw, [80.0])


# 2. Ramp-down over availability


def test_unit_limits_put_the_ramp_down_limit_over_availability_unless_told_otherwise() -> None:
    one = np.array
    args = (one([[300.0], [500.0]]), one([0.0, 0.0]), one([453.0, 453.0]), one([NAN, NAN]))
    nemde = unit_limits(*args, one([2.0, 2.0]), 5.0)
    np.testing.assert_allclose(np.stack(nemde), [[443, 443], [443, 443], [143, 0]])
    old = unit_limits(*args, one([2.0, 2.0]), 5.0, ramp_priority="availability")
    np.testing.assert_allclose(np.stack(old), [[0, 0], [0, 0], [0, 0]])


@pytest.mark.parametrize("ddps1_bands_mw", [600.0, 300.0])
def test_ddps1_ramps_down_ten_mw_below_max_avail_zero(ddps1_bands_mw: float) -> None:
    price, mw = bands((-1000, ddps1_bands_mw), (60, 1000))
    demand = np.array([700.0])
    common = dict(
        max_avail=np.array([0.0, NAN]),
        ramp_base=np.array([453.0, NAN]),
        ramp_down_rate=np.array([2.0, NAN]),
    )
    result = dispatch_network(np.zeros(2, int), price, mw, demand, **common)
    np.testing.assert_allclose(result.dispatch_mw, [443, 257])
    forced = max(0.0, 443 - ddps1_bands_mw)
    np.testing.assert_allclose(result.forced_mw, [forced, 0])
    np.testing.assert_allclose(result.band_dispatch[0, 0], 443 - forced)
    assert result.price[0] == pytest.approx(60.0)
    old = dispatch_network(
        np.zeros(2, int), price, mw, demand, ramp_priority="availability", **common
    )
    np.testing.assert_allclose(old.dispatch_mw, [0, 700])


# 3. Ties


@pytest.mark.parametrize(
    ("demand", "expected"),
    [
        (100.0, [56.25, 10.0, 33.75]),  # A and C at 0.5625 of their bands, B capped at 10
        (60.0, [40.0, 100 / 11, 120 / 11]),  # A held at its forced 40, B and C at 2/11
    ],
)
def test_ties_share_by_band_fraction_clamped_to_forced_energy_and_availability(
    demand: float, expected: list[float]
) -> None:
    price, mw = bands((30, 100), (30, 50), (30, 60))
    result = dispatch_network(
        np.zeros(3, int),
        price,
        mw,
        np.array([demand]),
        max_avail=np.array([NAN, 10.0, NAN]),
        ramp_base=np.array([50.0, NAN, NAN]),
        ramp_down_rate=np.array([2.0, NAN, NAN]),
    )
    np.testing.assert_allclose(result.dispatch_mw, expected, atol=1e-9)
    assert result.price[0] == pytest.approx(30.0)


# 4. Two regions, lossless


def test_an_unconstrained_lossless_link_equalises_prices() -> None:
    price, mw = bands((20, 500), (80, 500))
    result = dispatch_network(
        np.array([0, 1]), price, mw, np.array([100.0, 150.0]), links=[lossless(0, 1)]
    )
    np.testing.assert_allclose(result.price, [20, 20])
    np.testing.assert_allclose(result.flow_mw, [150.0])
    np.testing.assert_allclose(result.dispatch_mw, [250, 0], atol=1e-9)


def test_a_binding_limit_separates_prices_and_holds_the_flow_at_it() -> None:
    price, mw = bands((20, 500), (80, 500))
    link = lossless(0, 1, limit=30.0)
    result = dispatch_network(np.array([0, 1]), price, mw, np.array([100.0, 150.0]), links=[link])
    np.testing.assert_allclose(result.price, [20, 80])
    np.testing.assert_allclose(result.flow_mw, [30.0])
    np.testing.assert_allclose(result.dispatch_mw, [130, 120])


def test_zero_flow_on_a_breakpoint_still_passes_the_price_through() -> None:
    # region 1 has no units and no demand: the flow sits at 0 MW, the middle breakpoint
    price, mw = bands((20, 500))
    result = dispatch_network(
        np.array([0]), price, mw, np.array([100.0, 0.0]), links=[lossless(0, 1)], price_range=True
    )
    assert result.flow_mw[0] == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(result.price, [20, 20])
    np.testing.assert_allclose([result.price_left, result.price_right], [[20, 20], [20, 20]])


# 5. Losses


@pytest.mark.parametrize(("demand", "share"), [([50.0, 700.0], 0.36), ([900.0, -200.0], 0.0)])
def test_quadratic_losses_balance_and_price_by_the_marginal_loss(
    demand: list[float], share: float
) -> None:
    price, mw = bands((40, 2000), (3000, 100))  # the dear unit in region 1 stays off
    link = quadratic(a=0.01, b=2e-4, limit=1000.0, points=41, share=share)
    unit_region, demand = np.array([0, 1]), np.array(demand)
    result = dispatch_network(unit_region, price, mw, demand, links=[link], price_range=True)
    np.testing.assert_allclose(balance(result, unit_region, demand, [link]), 0.0, atol=1e-7)
    flow, losses = result.flow_mw[0], result.losses_mw[0]
    assert losses == pytest.approx(np.interp(flow, link.breakpoints, link.losses), abs=1e-7)
    assert np.abs(link.breakpoints - flow).min() > 1e-3  # strictly inside a segment
    j = result.segment[0]
    assert link.breakpoints[j] < flow < link.breakpoints[j + 1]
    m = (link.losses[j + 1] - link.losses[j]) / (link.breakpoints[j + 1] - link.breakpoints[j])
    assert result.price[0] == pytest.approx(40.0)
    assert result.price[1] == pytest.approx(40.0 * (1 + share * m) / (1 - (1 - share) * m))
    np.testing.assert_allclose(result.price_left, result.price, rtol=1e-6)
    np.testing.assert_allclose(result.price_right, result.price, rtol=1e-6)


def test_negative_prices_push_flow_to_burn_energy_in_losses_on_the_curve() -> None:
    price, mw = bands((-500, 1000), (-500, 1000))
    unit_region, demand = np.array([0, 1]), np.array([400.0, 400.0])
    link = quadratic(a=0.02, b=2e-4, limit=300.0, points=13, share=0.5)
    result = dispatch_network(unit_region, price, mw, demand, links=[link])
    held = Link(0, 1, 0.0, 0.0, link.breakpoints, link.losses, 0.5)
    at_zero = dispatch_network(unit_region, price, mw, demand, links=[held])
    assert result.flow_mw[0] == pytest.approx(300.0)  # where the convex curve is highest
    assert result.losses_mw[0] == pytest.approx(np.interp(300.0, link.breakpoints, link.losses))
    assert result.objective < at_zero.objective - 500 * 10
    np.testing.assert_allclose(balance(result, unit_region, demand, [link]), 0.0, atol=1e-7)
    np.testing.assert_allclose(result.price, [-500, -500])


def test_when_the_mip_runs_a_flow_on_a_breakpoint_still_passes_the_price_through() -> None:
    # region 2 at -500 $/MWh makes the relaxation burn energy off the loss curve, so the MIP
    # runs; the lossless link to region 1 (no units, no demand) then sits at 0 MW, a breakpoint
    price, mw = bands((20, 1000), (-500, 1000))
    q = quadratic(a=0.02, b=2e-4, limit=300.0, points=13, share=1.0)
    burner = Link(2, 0, q.min_flow, q.max_flow, q.breakpoints, q.losses, 1.0)
    result = dispatch_network(
        np.array([0, 2]), price, mw, np.array([500.0, 0.0, 100.0]), links=[lossless(0, 1), burner]
    )
    np.testing.assert_allclose(result.flow_mw, [0.0, 300.0], atol=1e-9)
    np.testing.assert_allclose(result.price, [20, 20, -500])


def test_losses_stay_on_the_curve_where_keeping_both_segments_open_would_lift_them() -> None:
    # region 1 has no units and demand on a breakpoint: the flow must sit there, and at
    # -500 $/MWh two open segments would mix their outer breakpoints to burn more energy
    price, mw = bands((-500, 1000))
    link = quadratic(a=0.02, b=2e-4, limit=300.0, points=13, share=1.0)
    demand = np.array([100.0, link.breakpoints[8]])
    result = dispatch_network(np.array([0]), price, mw, demand, links=[link], price_range=True)
    assert result.flow_mw[0] == pytest.approx(link.breakpoints[8])
    assert result.losses_mw[0] == pytest.approx(link.losses[8])
    # a non-convex kink: each side's derivative takes its own segment's marginal loss, and at a
    # negative price the left one is the larger
    slope = np.diff(link.losses) / np.diff(link.breakpoints)
    assert result.price_left[1] == pytest.approx(-500 * (1 + slope[7]), rel=1e-6)
    assert result.price_right[1] == pytest.approx(-500 * (1 + slope[8]), rel=1e-6)


@pytest.mark.parametrize("seed", range(8))
def test_random_networks_balance_keep_unit_limits_and_price_inside_the_range(seed: int) -> None:
    rng = np.random.default_rng(seed)
    stacks = [random_stack(rng) for _ in range(int(rng.integers(2, 5)))]
    links = [
        quadratic(
            a=rng.uniform(-0.02, 0.05),
            b=rng.uniform(0, 3e-4),
            limit=rng.uniform(50, 500),
            points=9,
            share=rng.random(),
            regions=(int(rng.integers(region)), region),  # a random tree
        )
        for region in range(1, len(stacks))
    ]
    unit_region = np.concatenate([np.full(len(s.mlf), r) for r, s in enumerate(stacks)])
    demand = np.array([s.demand for s in stacks])

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(s, name) for s in stacks])

    result = dispatch_network(
        unit_region,
        joined("price_band"),
        joined("band_avail"),
        demand,
        links=links,
        mlf=joined("mlf"),
        max_avail=joined("max_avail"),
        ramp_base=joined("initial_mw"),
        ramp_up_rate=joined("ramp_up_rate"),
        ramp_down_rate=joined("ramp_down_rate"),
        price_range=True,
    )
    np.testing.assert_allclose(balance(result, unit_region, demand, links), 0.0, atol=1e-6)
    assert (result.dispatch_mw >= result.lower_mw - 1e-7).all()
    assert (result.dispatch_mw <= result.upper_mw + 1e-7).all()
    for link, flow, losses in zip(links, result.flow_mw, result.losses_mw, strict=True):
        assert losses == pytest.approx(np.interp(flow, link.breakpoints, link.losses), abs=1e-6)
    low = np.minimum(result.price_left, result.price_right) - 1e-3
    high = np.maximum(result.price_left, result.price_right) + 1e-3
    assert ((low <= result.price) & (result.price <= high)).all()


# 7. Price range


@pytest.mark.parametrize(("demand", "left", "right"), [(100.0, 10.0, 50.0), (150.0, 50.0, 50.0)])
def test_the_price_range_is_the_two_band_prices_at_a_band_edge(
    demand: float, left: float, right: float
) -> None:
    price, mw = bands((10, 100), (50, 100))
    result = dispatch_network(np.zeros(2, int), price, mw, np.array([demand]), price_range=True)
    assert result.price_left[0] == pytest.approx(left)
    assert result.price_right[0] == pytest.approx(right)
    assert left - 1e-9 <= result.price[0] <= right + 1e-9


def test_the_price_range_is_clamped_and_nan_unless_asked_for() -> None:
    price, mw = bands((10, 100))
    short = dispatch_network(np.zeros(1, int), price, mw, np.array([100.0]), price_range=True)
    np.testing.assert_allclose([short.price_left[0], short.price_right[0]], [10.0, 15000.0])
    plain = dispatch_network(np.zeros(1, int), price, mw, np.array([100.0]))
    assert np.isnan(plain.price_left).all() and np.isnan(plain.price_right).all()


# 8. Basslink


def basslink() -> list[Link]:
    """T-V-MNSP1 as nempy models it: two one-way links, all losses in the from region."""
    tas = np.linspace(0.0, 595.0, 8)
    vic = np.linspace(0.0, 479.0, 8)
    return [
        Link(0, 1, 0.0, 594.0, tas, 1e-4 / 2 * tas**2, 1.0, to_factor=0.9777),  # BLNKTAS
        Link(1, 0, 0.0, 478.0, vic, 1e-4 / 2 * vic**2, 1.0, from_factor=0.9852),  # BLNKVIC
    ]


def test_basslink_never_flows_both_ways_even_when_circulating_would_pay() -> None:
    # at -800 $/MWh with spare capacity, burning energy by circulating pays
    price, mw = bands((-800, 2000), (-800, 2000))
    unit_region, demand = np.array([0, 1]), np.array([300.0, 500.0])
    free = dispatch_network(unit_region, price, mw, demand, links=basslink())
    assert (free.flow_mw > 1).all()  # the test can fail: without the pair, both links run
    result = dispatch_network(unit_region, price, mw, demand, links=basslink(), exclusive=[(0, 1)])
    assert (np.abs(result.flow_mw) > 1e-9).sum() == 1
    assert result.objective > free.objective
    np.testing.assert_allclose(balance(result, unit_region, demand, basslink()), 0.0, atol=1e-7)


def test_basslink_carries_cheap_energy_one_way_and_prices_by_its_loss_factor() -> None:
    price, mw = bands((300, 2000), (40, 2000))
    unit_region, demand = np.array([0, 1]), np.array([200.0, 500.0])
    result = dispatch_network(unit_region, price, mw, demand, links=basslink(), exclusive=[(0, 1)])
    assert result.flow_mw[0] == 0.0 and result.flow_mw[1] > 190
    j = result.segment[1]
    vic = basslink()[1]
    m = np.diff(vic.losses)[j] / np.diff(vic.breakpoints)[j]
    assert result.price[0] == pytest.approx(40 * (0.9852 + m))


def test_a_silent_basslink_passes_a_price_from_inside_the_range() -> None:
    # TAS (region 0) has no units and no demand, so both links sit at 0 MW; the MIP runs
    # because of region 2's burner, and fixing either link's direction would price TAS at a bound
    price, mw = bands((40, 1000), (-500, 1000))
    q = quadratic(a=0.02, b=2e-4, limit=300.0, points=13, share=1.0)
    burner = Link(2, 1, q.min_flow, q.max_flow, q.breakpoints, q.losses, 1.0)
    result = dispatch_network(
        np.array([1, 2]),
        price,
        mw,
        np.array([0.0, 500.0, 100.0]),
        links=[*basslink(), burner],
        exclusive=[(0, 1)],
        price_range=True,
    )
    np.testing.assert_allclose(result.flow_mw, [0.0, 0.0, 300.0], atol=1e-9)
    assert result.price_left[0] < result.price_right[0] < 40  # imports via BLNKVIC's 0.9852
    assert result.price_left[0] - 1e-6 <= result.price[0] <= result.price_right[0] + 1e-6


# 9. Bad input


def good() -> dict:
    price, mw = bands((10, 100), (20, 100))
    return dict(
        unit_region=np.array([0, 1]), price_band=price, band_avail=mw, demand=np.array([50.0, 50.0])
    )


def link(**changes) -> Link:
    fields = dict(from_region=0, to_region=1, min_flow=-100.0, max_flow=100.0)
    fields |= dict(breakpoints=[-100.0, 0.0, 100.0], losses=[1.0, 0.0, 1.0], from_share=0.5)
    return Link(**(fields | changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"links": [link(breakpoints=[-50.0, 0.0, 100.0])]}, "do not cover"),
        ({"links": [link(breakpoints=[-100.0, 100.0, 0.0])]}, "strictly ascending"),
        ({"links": [link(losses=[1.0, 0.0])]}, "one finite value per breakpoint"),
        ({"links": [link(from_share=1.5)]}, r"outside \[0, 1\]"),
        ({"links": [link(to_region=0)]}, "two distinct indices"),
        ({"links": [link(min_flow=200.0, max_flow=100.0)]}, "exceeds max_flow"),
        ({"links": [link(losses=[300.0, 0.0, 300.0])]}, "flow would create energy"),
        ({"links": [link(), link(min_flow=10.0)], "exclusive": [(0, 1)]}, "cannot carry 0 MW"),
        ({"links": [link()], "exclusive": [(0, 1)]}, "two distinct links"),
        ({"demand": np.array([50.0])}, "region indices"),
        ({"unit_region": np.array([0.0, 1.0])}, "integer region indices"),
        ({"unit_region": np.array([0, 1, 1])}, r"unit_region has shape \(3,\)"),
        ({"mlf": np.array([1.0])}, r"mlf has shape \(1,\)"),
        ({"mlf": np.array([1.0, 0.0])}, "mlf must be > 0"),
        ({"price_band": np.zeros((2, 10))}, "strictly ascending"),
        ({"band_avail": np.zeros((2, 9))}, "must both be"),
        ({"ramp_priority": "avail"}, "ramp_priority"),
        ({"demand": np.array([50.0, np.nan])}, "finite"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_it(changes: dict, message: str) -> None:
    arguments = good() | changes
    with pytest.raises(ValueError, match=message):
        dispatch_network(
            arguments.pop("unit_region"),
            arguments.pop("price_band"),
            arguments.pop("band_avail"),
            arguments.pop("demand"),
            **arguments,
        )
