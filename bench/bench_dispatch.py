"""Dispatch speed: the numba kernel over a synthetic year next to the reference LP on a sample.

Run from the repository root (scipy comes with the ``dev`` extra)::

    python bench/bench_dispatch.py                      # a year of 5-minute intervals, 400 units
    python bench/bench_dispatch.py --days 30 --lp-sample 100 --stage-days 0

One region of ``--units`` units; band prices change once per day (so the merit order is rebuilt
daily), band volumes every interval, a third of the units are ramp-limited and demand follows a
daily shape with a few scarcity intervals. The LP solves a sample of the same intervals, each
from the kernel's dispatch of the interval before as its ramp base, and the largest difference
between the two answers is printed with the speeds, so a speed-up cannot hide a change in results.
The frame API (``bidstack.stages.dispatch``, validation and layout included) is timed on the
first ``--stage-days`` days as frames, and checked against the kernel's run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.kernel.dispatch import BANDS, dispatch_regions
from bidstack.reference.dispatch_lp import dispatch_interval
from bidstack.stages.dispatch import dispatch

PER_DAY = 288  # 5-minute intervals


def synthetic_region(units: int, days: int, seed: int) -> dict[str, np.ndarray]:
    """Kernel inputs for one region: ``days`` of 5-minute intervals, every unit in each."""
    rng = np.random.default_rng(seed)
    intervals = days * PER_DAY
    capacity = rng.uniform(20, 700, units)
    grid = np.concatenate([[-1000.0, 0.0], np.arange(20.0, 400.0, 10.0), [1000.0, 5000.0, 15000.0]])
    band_price = np.sort(
        np.where(
            rng.random((days, units, BANDS)) < 0.5,
            rng.choice(grid, (days, units, BANDS)),
            rng.uniform(-50, 2000, (days, units, BANDS)),
        ),
        axis=2,
    )
    band_price += np.arange(BANDS) * 1e-3  # strictly ascending even where the grid repeats
    shares = rng.dirichlet(np.ones(BANDS), (days, units))
    band_avail = np.empty((intervals * units, BANDS))
    for day in range(days):
        factor = rng.uniform(0.6, 1.0, (PER_DAY, units, 1))
        rows = slice(day * PER_DAY * units, (day + 1) * PER_DAY * units)
        band_avail[rows] = (factor * capacity[None, :, None] * shares[day][None]).reshape(-1, BANDS)
    ramped = rng.random(units) < 1 / 3
    ramp = np.where(ramped, rng.uniform(1, 10, units), np.inf)
    hour = (np.arange(intervals) % PER_DAY) / 12.0
    shape = 0.55 + 0.2 * np.sin((hour - 9) / 24 * 2 * np.pi) + rng.normal(0, 0.02, intervals)
    shape[rng.random(intervals) < 0.002] = 1.0  # scarcity: demand above what is offered
    return {
        "region_intervals": np.array([0, intervals]),
        "interval_rows": np.arange(intervals + 1) * units,
        "follows_previous": np.arange(intervals) > 0,
        "demand": shape * 0.8 * capacity.sum(),
        "market_price_cap": np.full(intervals, 15000.0),
        "market_floor_price": np.full(intervals, -1000.0),
        "interval_minutes": np.array([5.0]),
        "region_units": np.array([0, units]),
        "row_unit": np.tile(np.arange(units), intervals),
        "row_price_set": (np.arange(intervals)[:, None] // PER_DAY * units + np.arange(units))
        .ravel()
        .astype(np.int64),
        "band_avail": band_avail,
        "max_avail": np.full(intervals * units, np.inf),
        "ramp_up_rate": np.tile(ramp, intervals),
        "ramp_down_rate": np.tile(ramp, intervals),
        "initial_mw": np.full(units, np.nan),
        "band_price": band_price.reshape(-1, BANDS),
    }


def frames(data: dict[str, np.ndarray], units: int, days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The first ``days`` of a synthetic region as the stage's offers and demand frames."""
    intervals, rows = days * PER_DAY, days * PER_DAY * units
    start = np.datetime64("2024-01-01T00:05", "us")
    when = start + np.arange(intervals) * np.timedelta64(5, "m")
    price = data["band_price"][data["row_price_set"][:rows]]
    ramp = pl.Series(data["ramp_up_rate"][:rows]).replace(np.inf, None)
    offers = pl.DataFrame(
        {
            "regionid": pl.repeat("NSW1", rows, eager=True),
            "duid": pl.Series([f"U{u:04d}" for u in range(units)]).gather(data["row_unit"][:rows]),
            "interval_datetime": np.repeat(when, units),
            **{column: price[:, k] for k, column in enumerate(PRICE_BANDS)},
            **{column: data["band_avail"][:rows, k] for k, column in enumerate(BAND_VOLUMES)},
            "rocup": ramp,
            "rocdown": ramp,
        }
    )
    demand = pl.DataFrame(
        {"regionid": "NSW1", "interval_datetime": when, "demand": data["demand"][:intervals]}
    )
    return offers, demand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=400)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--lp-sample", type=int, default=200, help="intervals solved by the LP")
    parser.add_argument("--stage-days", type=int, default=30, help="days timed as frames; 0: skip")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    start = time.perf_counter()
    data = synthetic_region(args.units, 1, args.seed)
    dispatch_regions(**data)
    compile_s = time.perf_counter() - start

    data = synthetic_region(args.units, args.days, args.seed)
    intervals = len(data["demand"])
    start = time.perf_counter()
    out = dispatch_regions(**data)
    kernel_s = time.perf_counter() - start
    dispatch_mw, price, sources = out[0].reshape(intervals, args.units), out[5], out[10]

    sample = np.linspace(1, intervals - 1, min(args.lp_sample, intervals - 1)).astype(int)
    worst_price = worst_mw = 0.0
    start = time.perf_counter()
    for i in sample:
        rows = slice(i * args.units, (i + 1) * args.units)
        ramp = data["ramp_up_rate"][rows]
        expected = dispatch_interval(
            data["band_price"][data["row_price_set"][rows]],
            data["band_avail"][rows],
            data["demand"][i],
            initial_mw=np.where(np.isfinite(ramp), dispatch_mw[i - 1], np.nan),
            ramp_up_rate=np.where(np.isfinite(ramp), ramp, np.nan),
            ramp_down_rate=np.where(np.isfinite(ramp), ramp, np.nan),
        )
        worst_price = max(worst_price, abs(expected.price - price[i]))
        worst_mw = max(worst_mw, np.abs(expected.dispatch_mw - dispatch_mw[i]).max())
    lp_s = time.perf_counter() - start

    stage_days = min(args.stage_days, args.days)
    if stage_days:
        offers, demand = frames(data, args.units, stage_days)
        start = time.perf_counter()
        result = dispatch(offers, demand)
        stage_s = time.perf_counter() - start
        stage_intervals = stage_days * PER_DAY
        stage_gap = (
            np.abs(result.regions["price"].to_numpy() - price[:stage_intervals]).max(),
            np.abs(
                result.units["dispatch_mw"].to_numpy() - dispatch_mw[:stage_intervals].ravel()
            ).max(),
        )

    kernel_rate, lp_rate = intervals / kernel_s, len(sample) / lp_s
    print(f"region of {args.units} units, {intervals} five-minute intervals ({args.days} days)")
    print(f"price sources (offer, cap, floor): {np.bincount(sources, minlength=3).tolist()}")
    print(f"kernel compile or cache load: {compile_s:8.2f} s")
    print(f"kernel:    {kernel_rate:12,.0f} intervals/s  ({kernel_s:.2f} s for all {intervals})")
    print(f"LP HiGHS:  {lp_rate:12,.1f} intervals/s  ({lp_s:.2f} s for {len(sample)} sampled)")
    print(f"ratio:     {kernel_rate / lp_rate:12,.0f}x")
    print(f"largest difference on the sample: {worst_price:.1e} $/MWh, {worst_mw:.1e} MW")
    if stage_days:
        print(
            f"stage, frames in and out: {stage_intervals / stage_s:,.0f} intervals/s "
            f"({stage_s:.2f} s for {stage_days} days); largest difference from the kernel run: "
            f"{stage_gap[0]:.1e} $/MWh, {stage_gap[1]:.1e} MW"
        )


if __name__ == "__main__":
    main()
