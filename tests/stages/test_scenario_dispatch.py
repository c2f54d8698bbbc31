"""ScenarioDispatch: scenarios that share all offers but their own, laid out once, give what
dispatch gives each scenario's offers laid out whole."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.stages.dispatch import ScenarioDispatch, conform, dispatch, screen, with_price_limits
from bidstack.stages.dispatch_layout import Layout
from bidstack.stages.metering import meter

START = dt.datetime(2024, 1, 1, 0, 5)
WHEN = [START + dt.timedelta(minutes=5 * i) for i in range(24)]


def offers(rng: np.random.Generator, units: dict[str, str], ramp_base: bool) -> pl.DataFrame:
    """Random offers of ``units`` (duid: region) in every interval; prices change every 6."""
    rows = []
    for duid, region in units.items():
        for k, when in enumerate(WHEN):
            day = np.random.default_rng([k // 6, sum(map(ord, duid)), int(ramp_base)])
            prices = np.cumsum(day.uniform(1, 60, 10)) - 100
            row = {"regionid": region, "duid": duid, "interval_datetime": when}
            row |= dict(zip(PRICE_BANDS, prices.tolist(), strict=True))
            row |= dict(zip(BAND_VOLUMES, rng.uniform(0, 30, 10).tolist(), strict=True))
            row |= {
                "maxavail": 150.0 if k % 5 else None,
                "uigf": None,
                "rocup": float(rng.uniform(1, 10)),
                "rocdown": float(rng.uniform(1, 10)) if k % 4 else None,
                "mlf": 0.97,
                "ramp_base_mw": float(rng.uniform(0, 100)) if ramp_base and k % 3 == 0 else None,
            }
            rows.append(row)
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def market():
    rng = np.random.default_rng(7)
    shared_units = {f"S{k}": ("NSW1", "VIC1")[k % 2] for k in range(6)}
    own_units = {"F1": "NSW1", "F2": "VIC1", "F3": "NSW1"}
    demand = pl.DataFrame(
        {
            "regionid": ["NSW1"] * 24 + ["VIC1"] * 24,
            "interval_datetime": WHEN * 2,
            "demand": rng.uniform(100, 400, 48),
        }
    )
    shared, demand = conform(offers(rng, shared_units, True), demand)
    demand = with_price_limits(demand, 15000.0, -1000.0)
    shared, usable, _ = screen(shared, demand)
    scenarios = {
        "baseline": offers(rng, own_units, True),
        "v1": offers(rng, own_units, False),
        # the same unit-intervals in another row order
        "v2": offers(rng, own_units, False).sample(fraction=1.0, shuffle=True, seed=3),
        # one unit-interval fewer: laid out whole
        "v3": offers(rng, own_units, False).slice(1),
        # availability of its own: laid out whole
        "v4": offers(rng, own_units, False).with_columns(maxavail=pl.lit(90.0)),
    }
    kept = {}
    for name, frame in scenarios.items():
        own, _ = conform(frame, usable)
        kept[name] = screen(own, usable)[0]
    return shared, usable, kept


def test_every_scenario_as_dispatch_lays_it_out_whole(market, monkeypatch) -> None:
    shared, usable, kept = market
    replaced = []
    replace_own = Layout.replace_own

    def spy(self, own, initial):
        replaced.append(replace_own(self, own, initial))
        return replaced[-1]

    monkeypatch.setattr(Layout, "replace_own", spy)
    initial = {
        "baseline": None,
        "v1": pl.DataFrame({"duid": ["F1", "S0"], "initial_mw": [40.0, 10.0]}),
        "v2": pl.DataFrame({"duid": ["F2"], "initial_mw": [5.0]}),
        "v3": None,
        "v4": None,
    }
    together = ScenarioDispatch(shared, usable, interval_minutes=5)
    # after scenarios laid out whole (v3, v4), v1 is written over the first layout again
    for name in ["baseline", "v1", "v2", "v3", "v4", "v1"]:
        got = together.dispatch(kept[name], initial[name])
        want = dispatch(
            pl.concat([shared, kept[name]]),
            usable,
            initial_mw=initial[name],
            interval_minutes=5,
            validate=False,
        )
        for field in ("units", "regions", "links", "problems"):
            assert_frame_equal(getattr(got, field), getattr(want, field), check_exact=True)
        # the rows in unit order, as metering takes them: the same energy as sorting them
        in_unit_order = got.units.sort("duid", "interval_datetime", maintain_order=True)
        assert_frame_equal(got.units[got.by_unit], in_unit_order, check_exact=True)
        energy, _ = meter(got.units, kept[name], 5, by_unit=got.by_unit)
        assert_frame_equal(energy, meter(in_unit_order, kept[name], 5)[0], check_exact=True)
    assert replaced == [True, True, False, False, True]


def test_scenarios_differ_where_their_own_offers_do(market) -> None:
    shared, usable, kept = market
    together = ScenarioDispatch(shared, usable, interval_minutes=5)
    baseline = together.dispatch(kept["baseline"])
    variant = together.dispatch(kept["v1"])
    # the shared units' rows are the same rows; the re-bid changes what is dispatched
    assert baseline.units.select("duid", "interval_datetime").equals(
        variant.units.select("duid", "interval_datetime")
    )
    assert not baseline.units["dispatch_mw"].equals(variant.units["dispatch_mw"])
