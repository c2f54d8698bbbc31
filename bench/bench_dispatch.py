"""Dispatch speed: the Numba kernel over a synthetic year of five regions joined as the NEM is,
next to the reference (a MIP with SOS2 losses, then an LP, on HiGHS) on a sample of the same
intervals.

Run from the repository root (scipy comes with the ``dev`` extra)::

    python bench/bench_dispatch.py                      # a year of 5-minute intervals, 400 units
    python bench/bench_dispatch.py --days 30 --reference-sample 50 --stage-days 0

``--units`` units over QLD1, NSW1, VIC1, SA1 and TAS1, linked as the demo market links them
(``bidstack.demo_network``: AEMO's loss models, Basslink's two one-way links); band prices change
once per day, band volumes every interval, a third of the units are ramp-limited, demand follows a
daily shape with a midday glut of rooftop solar (``--glut``, a share of demand), so that about
a quarter of the intervals have a negative price somewhere, of the order South Australia and
Victoria see: there losses are worth inflating and the kernel branches (``--glut 0.45``: two
thirds of the intervals). The reference solves a sample of the same intervals, each from
the kernel's dispatch of the interval before as its ramp base, and the largest differences are
printed with the speeds, so a speed-up cannot hide a change in results. The frame API
(``bidstack.stages.dispatch``, validation and layout included) is timed on the first
``--stage-days`` days and checked against the kernel's run.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.demo_network import REGIONS, network_tables
from bidstack.kernel.network import DispatchLayout, OfferArrays, solve_network
from bidstack.network import TABLES, NetworkTables, network
from bidstack.reference.network_lp import Link, dispatch_network
from bidstack.stages.dispatch import dispatch
from bidstack.stages.network import link_arrays, topology

PER_DAY = 288  # 5-minute intervals
BANDS = 10
START = datetime(2024, 1, 1, 0, 5)


def synthetic_year(units: int, days: int, seed: int, glut: float = 0.30):
    """Kernel inputs: ``days`` of 5-minute intervals, every unit in each, five linked regions."""
    rng = np.random.default_rng(seed)
    intervals = days * PER_DAY
    region = np.sort(rng.integers(0, len(REGIONS), units))
    capacity = rng.uniform(20, 500, units)
    grid = np.concatenate([[-1000.0, -50, 0.0], np.arange(20.0, 400.0, 10.0), [1000.0, 15000.0]])
    band_price = np.sort(
        np.where(
            rng.random((days, units, BANDS)) < 0.5,
            rng.choice(grid, (days, units, BANDS)),
            rng.uniform(-150, 800, (days, units, BANDS)),
        ),
        axis=2,
    )
    renewable = rng.random(units) < 0.35  # wind and solar: most of their MW bid below zero
    band_price[:, renewable] = np.sort(rng.uniform(-120, 60, (days, renewable.sum(), BANDS)))
    band_price += np.arange(BANDS) * 1e-3 + region[None, :, None] * 1e-4  # no exact ties
    shares = rng.dirichlet(np.ones(BANDS), (days, units))
    shares[:, renewable] = rng.dirichlet([6, 3, 2, 1, 1, 1, 1, 1, 1, 1], (days, renewable.sum()))
    band_avail = np.empty((intervals * units, BANDS))
    for day in range(days):
        factor = rng.uniform(0.6, 1.0, (PER_DAY, units, 1))
        rows = slice(day * PER_DAY * units, (day + 1) * PER_DAY * units)
        band_avail[rows] = (factor * capacity[None, :, None] * shares[day][None]).reshape(-1, BANDS)
    ramped = rng.random(units) < 1 / 3
    ramp = np.where(ramped, rng.uniform(1, 10, units), np.inf)
    hour = (np.arange(intervals) % PER_DAY) / 12.0
    shape = 0.5 + 0.2 * np.sin((hour - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.02, intervals)
    shape -= 0.35 * np.exp(-(((hour - 13.0) / 1.5) ** 2))  # a midday glut: negative prices
    firm = np.bincount(region, capacity, len(REGIONS))
    demand = shape[:, None] * 0.75 * firm[None, :] * rng.uniform(0.8, 1.2, len(REGIONS))
    times = [START + timedelta(minutes=5 * i) for i in range(intervals)]
    loss_demand = pl.DataFrame(
        {
            "regionid": np.repeat(np.array(REGIONS), intervals),
            "interval_datetime": times * len(REGIONS),
            "loss_demand": demand.T.ravel(),
        }
    )
    tables = network_tables()
    grid_network = network(NetworkTables(*(tables[t] for t in TABLES)), loss_demand)
    topo = topology(list(REGIONS), grid_network.links)
    links, table = link_arrays(grid_network, topo, pl.Series(times))
    order = np.argsort(region, kind="stable")
    layout = DispatchLayout(
        np.arange(intervals + 1, dtype=np.int64) * units,
        np.arange(intervals) > 0,
        demand,
        np.full(intervals, 15000.0),
        np.full(intervals, -1000.0),
        np.full(intervals, 5.0),
        np.concatenate([[0], np.cumsum(np.bincount(region, minlength=len(REGIONS)))]),
        np.full(units, np.nan),
        topo.parent,
        topo.order,
    )
    offers = OfferArrays(
        np.tile(np.arange(units), intervals).astype(np.int64),
        (np.arange(intervals)[:, None] // PER_DAY * units + np.arange(units)).ravel(),
        band_avail,
        np.full(intervals * units, np.inf),
        np.tile(ramp, intervals),
        np.tile(ramp, intervals),
        np.full(intervals * units, np.nan),
        band_price.reshape(-1, BANDS),
    )
    assert (order == np.arange(units)).all()
    return layout, offers, links, table, region, times


def reference_interval(layout, offers, links, i: int, previous: np.ndarray):
    """Interval ``i`` on the reference, each ramp-limited unit from the kernel's dispatch before."""
    units = layout.initial_mw.size
    rows = slice(i * units, (i + 1) * units)
    ramp = offers.ramp_up_rate[rows]
    region = np.repeat(np.arange(layout.demand.shape[1]), np.diff(layout.region_units))
    reference_links, exclusive = [], []
    for lk in range(links.link_from.size):
        points = links.breakpoints[links.bp_offsets[lk] : links.bp_offsets[lk + 1]]
        losses = links.loss_linear[i, lk] * points + links.flow_coefficient[lk] / 2 * points**2
        reference_links.append(
            Link(int(links.link_from[lk]), int(links.link_to[lk]), float(links.lower[i, lk]),
                 float(links.upper[i, lk]), points, losses, from_share=float(links.share[lk]),
                 from_factor=float(links.alpha_from[lk]), to_factor=float(links.alpha_to[lk]))
        )  # fmt: skip
        if links.exclusive[lk] > lk:
            exclusive.append((lk, int(links.exclusive[lk])))
    limited = np.isfinite(ramp)
    return dispatch_network(
        region, offers.band_price[offers.row_price_set[rows]], offers.band_avail[rows],
        layout.demand[i], links=reference_links, exclusive=exclusive,
        ramp_base=np.where(limited, previous, np.nan),
        ramp_up_rate=np.where(limited, ramp, np.nan),
        ramp_down_rate=np.where(limited, ramp, np.nan),
    )  # fmt: skip


def frames(layout, offers, links_table, region, times, days: int, grid_network):
    """The first ``days`` as the stage's offers, demand and network."""
    units = layout.initial_mw.size
    intervals, rows = days * PER_DAY, days * PER_DAY * units
    price = offers.band_price[offers.row_price_set[:rows]]
    ramp = pl.Series(offers.ramp_up_rate[:rows]).replace(np.inf, None)
    names = pl.Series([f"U{u:04d}" for u in range(units)])
    offer_frame = pl.DataFrame(
        {
            "regionid": np.array(REGIONS)[region[offers.row_unit[:rows]]],
            "duid": names.gather(offers.row_unit[:rows]),
            "interval_datetime": np.repeat(np.array(times[:intervals], "datetime64[us]"), units),
            **{column: price[:, k] for k, column in enumerate(PRICE_BANDS)},
            **{column: offers.band_avail[:rows, k] for k, column in enumerate(BAND_VOLUMES)},
            "rocup": ramp,
            "rocdown": ramp,
        }
    )
    demand = pl.DataFrame(
        {
            "regionid": np.tile(np.array(REGIONS), intervals),
            "interval_datetime": np.repeat(np.array(times[:intervals], "datetime64[us]"), 5),
            "demand": layout.demand[:intervals].ravel(),
        }
    )
    return offer_frame, demand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=400)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--reference-sample", type=int, default=100)
    parser.add_argument("--stage-days", type=int, default=7, help="days timed as frames; 0: skip")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--glut", type=float, default=0.30, help="midday dip, share of demand")
    args = parser.parse_args()

    start = time.perf_counter()
    layout, offers, links, _, _, _ = synthetic_year(args.units, 1, args.seed)
    solve_network(layout, offers, links, 0, 4096)
    compile_s = time.perf_counter() - start

    layout, offers, links, table, region, times = synthetic_year(
        args.units, args.days, args.seed, args.glut
    )
    intervals = layout.demand.shape[0]
    start = time.perf_counter()
    units_out, regions_out, links_out, nodes = solve_network(layout, offers, links, 0, 4096)
    kernel_s = time.perf_counter() - start
    dispatch_mw = units_out[0].reshape(intervals, args.units)
    price, flow = regions_out[0], links_out[0]

    sample = np.linspace(1, intervals - 1, min(args.reference_sample, intervals - 1)).astype(int)
    worst = {"price": 0.0, "dispatch": 0.0, "flow": 0.0}
    start = time.perf_counter()
    for i in sample:
        expected = reference_interval(layout, offers, links, i, dispatch_mw[i - 1])
        worst["dispatch"] = max(
            worst["dispatch"], np.abs(expected.dispatch_mw - dispatch_mw[i]).max()
        )
        worst["flow"] = max(worst["flow"], np.abs(expected.flow_mw - flow[i]).max())
        if not (np.abs(expected.price) < 1e-6).any():  # at price 0 the dual is not unique
            worst["price"] = max(worst["price"], np.abs(expected.price - price[i]).max())
    reference_s = time.perf_counter() - start

    kernel_rate, reference_rate = intervals / kernel_s, len(sample) / reference_s
    negative = (price < 0).any(axis=1).mean()
    print(
        f"{args.units} units in 5 regions, {intervals:,} five-minute intervals ({args.days} days)"
    )
    print(f"intervals with a negative price somewhere: {negative:.0%}; branch and bound nodes: "
          f"mean {np.abs(nodes).mean():.2f}, max {np.abs(nodes).max()}")  # fmt: skip
    print(f"kernel compile or cache load: {compile_s:8.2f} s")
    print(f"kernel:     {kernel_rate:12,.0f} intervals/s  ({kernel_s:.2f} s for all {intervals:,})")
    print(f"reference:  {reference_rate:12,.1f} intervals/s  ({reference_s:.2f} s for "
          f"{len(sample)} sampled)")  # fmt: skip
    if len(sample):  # --reference-sample 0: the kernel alone
        print(f"ratio:      {kernel_rate / reference_rate:12,.0f}x   (target: at least 100x)")
        print(f"largest difference on the sample: {worst['price']:.1e} $/MWh (where prices "
              f"are not zero), {worst['dispatch']:.1e} MW dispatch, "
              f"{worst['flow']:.1e} MW flow")  # fmt: skip

    stage_days = min(args.stage_days, args.days)
    if stage_days:
        tables = network_tables()
        loss = pl.DataFrame(
            {
                "regionid": np.repeat(np.array(REGIONS), len(times)),
                "interval_datetime": times * len(REGIONS),
                "loss_demand": layout.demand.T.ravel(),
            }
        )
        grid = network(NetworkTables(*(tables[t] for t in TABLES)), loss)
        offer_frame, demand = frames(layout, offers, table, region, times, stage_days, grid)
        start = time.perf_counter()
        result = dispatch(offer_frame, demand, network=grid)
        stage_s = time.perf_counter() - start
        n = stage_days * PER_DAY
        gap = np.abs(
            result.regions.sort("interval_datetime", "regionid")["price"].to_numpy()
            - price[:n][:, np.argsort(np.array(REGIONS))].ravel()
        ).max()
        print(f"stage, frames in and out: {n / stage_s:,.0f} intervals/s ({stage_s:.2f} s for "
              f"{stage_days} days, {kernel_rate / (n / stage_s):.1f}x slower than the kernel); "
              f"largest price difference from the kernel run: {gap:.1e} $/MWh")  # fmt: skip


if __name__ == "__main__":
    main()
