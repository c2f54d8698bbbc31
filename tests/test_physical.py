"""Physical values (INITIALMW, TOTALCLEARED) from the intervention run, where AEMO ran one."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from bidstack.fleet import parse_fleet
from bidstack.inputs import demand
from bidstack.io import read
from bidstack.market_reads import initial_mw, physical_dispatch, region_sums


@pytest.mark.parametrize(
    ("month", "intervention_keys"),
    [((datetime(2018, 4, 1), datetime(2018, 5, 1)), 2462),
     ((datetime(2019, 12, 1), datetime(2020, 1, 1)), 1728)],
)  # fmt: skip
def test_initialmw_after_the_read_equals_scada_in_intervention_months(
    sample_ingest, month, intervention_keys
) -> None:
    store, _ = sample_ingest
    scada = read(store, "DISPATCH_UNIT_SCADA", *month).collect()
    raw = read(store, "DISPATCHLOAD", *month, raw=True).collect()
    keys = ["duid", "settlementdate"]
    runs = raw.filter(pl.col("intervention") == 1).select(keys).unique()
    assert runs.height == intervention_keys
    pricing = raw.filter(pl.col("intervention") == 0).join(scada, on=keys)
    assert pricing.filter(pl.col("initialmw") != pl.col("scadavalue")).height > 0  # the trap
    in_store_order = physical_dispatch(store, *month)
    pricing_rows = read(store, "DISPATCHLOAD", *month).select(keys).collect()
    assert in_store_order.select(keys).equals(pricing_rows)  # the pricing run's rows, in order
    physical = in_store_order.join(scada, on=keys)
    assert physical.height == scada.height == 2880
    assert physical.filter(pl.col("initialmw") == pl.col("scadavalue")).height == 2880
    assert physical.join(runs, on=keys).height == intervention_keys


def test_a_run_starts_and_cleared_demand_sums_from_the_intervention_run(sample_ingest) -> None:
    store, _ = sample_ingest
    # 2018-04-01 00:05: the pricing run has HDWF2 at 11.017 MW, the intervention run (and SCADA)
    # at 15.9 MW
    start = initial_mw(store, datetime(2018, 4, 1))
    assert start.filter(pl.col("duid") == "HDWF2").get_column("initial_mw").to_list() == [15.9]
    # 2019-12-01 06:15: HDWF2 cleared 73.69 MW in the pricing run, 72.83132 MW in fact
    window = (datetime(2019, 12, 1, 6, 10), datetime(2019, 12, 1, 6, 15))
    fleet = parse_fleet(
        {"market": {"demand": "cleared"},
         "units": {"HDWF2": {"tp_min": 0.0, "tp_max": 1.0, "srmc": 0.5}}},
        source="test",
    )  # fmt: skip
    offers = pl.DataFrame({"duid": ["HDWF2", "AGLHAL"], "regionid": ["SA1", "SA1"]})
    frame = demand(region_sums(store, *window), physical_dispatch(store, *window), fleet, offers)
    cleared = read(store, "DISPATCHLOAD", *window, raw=True).collect()
    expected = cleared.filter(pl.col("intervention") == 1).get_column("totalcleared").sum()
    assert frame.get_column("demand").to_list() == [pytest.approx(expected, abs=1e-9)]
    assert expected != pytest.approx(
        cleared.filter(pl.col("intervention") == 0).get_column("totalcleared").sum()
    )
