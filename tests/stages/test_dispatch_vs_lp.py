"""The dispatch stage agrees with the reference on hundreds of random single-region stacks."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.stages.dispatch import dispatch

from dispatch_stacks import Stack, random_stack

TOLERANCE = 1e-6
CASES = 400
TIME = dt.datetime(2024, 1, 1, 0, 5)


def stage_frames(stacks: list[Stack]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Each stack as its own region of one offers / demand / initial_mw frame."""
    offers, demand, initial = [], [], []
    for r, stack in enumerate(stacks):
        region = f"R{r:04d}"
        for u in range(len(stack.mlf)):
            duid = f"{region}_U{u:02d}"
            row = {"regionid": region, "duid": duid, "interval_datetime": TIME}
            row |= dict(zip(PRICE_BANDS, stack.price_band[u], strict=True))
            row |= dict(zip(BAND_VOLUMES, stack.band_avail[u], strict=True))
            row |= {
                "maxavail": _none(stack.max_avail[u]),
                "rocup": _none(stack.ramp_up_rate[u]),
                "rocdown": _none(stack.ramp_down_rate[u]),
                "mlf": float(stack.mlf[u]),
            }
            offers.append(row)
            initial.append({"duid": duid, "initial_mw": _none(stack.initial_mw[u])})
        demand.append({"regionid": region, "interval_datetime": TIME, "demand": stack.demand})
    return pl.DataFrame(offers), pl.DataFrame(demand), pl.DataFrame(initial)


def _none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


@pytest.fixture(scope="module")
def stage_run():
    rng = np.random.default_rng(20240101)
    stacks = [random_stack(rng) for _ in range(CASES)]
    offers, demand, initial = stage_frames(stacks)
    result = dispatch(offers, demand, initial_mw=initial, interval_minutes=5.0)
    return stacks, result


@pytest.mark.parametrize("case", range(CASES))
def test_stage_matches_the_reference_on_random_stack(stage_run, case: int) -> None:
    stacks, result = stage_run
    stack, region = stacks[case], f"R{case:04d}"
    expected = stack.reference()
    units = result.units.filter(pl.col("regionid") == region).sort("duid")
    (row,) = result.regions.filter(pl.col("regionid") == region).iter_rows(named=True)
    np.testing.assert_allclose(units["dispatch_mw"], expected.dispatch_mw, rtol=0, atol=TOLERANCE)
    assert row["unserved_mw"] == pytest.approx(expected.unserved_mw[0], abs=TOLERANCE)
    assert row["oversupply_mw"] == pytest.approx(expected.oversupply_mw[0], abs=TOLERANCE)
    assert row["dispatched_mw"] == pytest.approx(units["dispatch_mw"].sum(), abs=TOLERANCE)
    if row["price"] != pytest.approx(expected.price[0], abs=TOLERANCE):
        # a degenerate point (demand on a band edge): the price is the last band dispatched,
        # the left derivative of the cost in demand
        span = stack.reference(price_range=True)
        assert row["price"] == pytest.approx(span.price_left[0], abs=1e-4)


def test_random_stacks_cover_every_case(stage_run) -> None:
    """The random cases reach every price source, ties at the margin, and both ramp limits."""
    stacks, result = stage_run
    sources = result.regions["price_source"].value_counts()
    assert set(sources["price_source"]) == {"offer", "market_price_cap", "market_floor_price"}
    assert sources["count"].min() >= 20
    assert result.units["ramp_up_limited"].sum() > 0
    assert result.units["ramp_down_limited"].sum() > 0
    assert result.units["ramp_down_over_availability"].sum() > 0
    assert (result.units["forced_mw"] > 0).sum() > 0
    assert result.problems.is_empty()
    shared = 0
    for case, stack in enumerate(stacks):
        price = result.regions["price"][case]
        referred = stack.price_band / stack.mlf[:, None]
        shared += (referred == price).any(axis=1).sum() > 1
    assert shared >= 20
