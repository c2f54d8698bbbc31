"""End-to-end backtest throughput: a synthetic fleet-year, every stage, in unit-intervals/s.

Generates a seeded synthetic market (by default 500 units over 365 days of 5-minute intervals:
52.6 million unit-intervals of bids) into a store, then runs ``bidstack.backtest`` with the
variants v1 and v2 in a fresh process and prints its time, unit-intervals/s and peak memory,
and its ratio to the input-read floor: the time to read every Parquet file of the store once,
whole, in another fresh process (issue 11's target: a month within 8x of it).

    python bench/bench_backtest.py                       # a fleet-year: about 3 GB of disk
    python bench/bench_backtest.py --units 100 --days 31  # a quick look
    python bench/bench_backtest.py --store DIR            # reuse a market made earlier
    python bench/bench_backtest.py --days 730 --half      # two years against one: 9 GB
    python bench/bench_backtest.py --window-days 10       # each month in windows of 10 days

``--half`` also runs the window's first half (whole days) on the same store, in a fresh
process, and prints the whole's time and peak memory against the half's (issue 11's target: two
years within 2.1x one year, at the same peak).

The market's units are all dispatched in every scenario; ``--fleet`` of them are re-bid. A
fleet-year's market takes 0.6 GB and about 9 minutes to write, its results 2.5 GB (two years:
1.2 GB in 15 minutes; measured 2026-12-01, 2 cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from bidstack.demo import synthetic_market

RUN = """
import json, resource, time
from bidstack.backtest import backtest
from bidstack.fleet import load_fleet
began = time.perf_counter()
result = backtest({store!r}, load_fleet({fleet!r}), ["v1", "v2"], {start!r}, {end!r}, {out!r},
                  progress=False, window_days={window_days!r})
print(json.dumps({{"seconds": time.perf_counter() - began, "scenarios": len(result.scenarios),
                  "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}}))
"""

FLOOR = """
import json, time
from pathlib import Path
import polars as pl
files = sorted(Path({store!r}).rglob("*.parquet"))
began = time.perf_counter()
rows = sum(pl.read_parquet(path).height for path in files)
print(json.dumps({{"seconds": time.perf_counter() - began, "files": len(files), "rows": rows}}))
"""


def fresh(script: str) -> dict:
    """The JSON a script prints last, run in a fresh process."""
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if child.returncode:
        sys.exit(child.stderr)
    return json.loads(child.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--fleet", type=int, default=50, help="units re-bid (default 50)")
    parser.add_argument("--store", type=Path, help="a folder for the market (kept), or reuse")
    parser.add_argument(
        "--half", action="store_true", help="also run the first half of the window, and compare"
    )
    parser.add_argument(
        "--window-days", type=int, help="run each month in windows of this many days"
    )
    args = parser.parse_args()

    folder = args.store or Path(tempfile.mkdtemp(prefix="bidstack-bench-"))
    marker = folder / "market.json"
    if marker.exists():
        market = json.loads(marker.read_text())
        print(f"reusing the market in {folder}")
    else:
        began = time.perf_counter()
        made = synthetic_market(
            folder / "store",
            n_units=args.units,
            days=args.days,
            fleet_size=args.fleet,
            progress=True,
        )
        market = {
            "store": str(made.store),
            "fleet": str(made.fleet_file),
            "start": str(made.start),
            "end": str(made.end),
            "units": args.units,
            "days": args.days,
        }
        marker.write_text(json.dumps(market))
        print(f"synthetic market written in {time.perf_counter() - began:,.0f} s -> {folder}")

    floor = fresh(FLOOR.format(store=market["store"]))
    run = backtest_run(market, market["end"], folder / "results", args.window_days)
    unit_intervals = market["units"] * market["days"] * 288
    print(
        f"backtest of {market['units']} units x {market['days']} days "
        f"({unit_intervals:,} unit-intervals, {run['scenarios']} scenarios): "
        f"{run['seconds']:,.1f} s = {unit_intervals / run['seconds'] / 1e6:,.2f} M "
        f"unit-intervals/s; peak memory {run['peak'] / 1e9:,.2f} GB"
    )
    print(
        f"input-read floor: {floor['files']:,} Parquet files ({floor['rows']:,} rows) read once, "
        f"whole, in {floor['seconds']:,.2f} s; the backtest takes "
        f"{run['seconds'] / floor['seconds']:,.1f}x that (target for a month: <= 8x)"
    )
    if args.half:
        days = market["days"] // 2
        end = datetime.fromisoformat(market["start"]) + timedelta(days=days)
        half = backtest_run(market, str(end), folder / "results-half", args.window_days)
        print(
            f"first {days} days: {half['seconds']:,.1f} s, peak memory "
            f"{half['peak'] / 1e9:,.2f} GB; all {market['days']} days take "
            f"{run['seconds'] / half['seconds']:,.2f}x the time at "
            f"{run['peak'] / half['peak']:,.2f}x the peak (target: two years <= 2.1x one year, "
            "at the same peak)"
        )


def backtest_run(market: dict, end: str, out: Path, window_days: int | None) -> dict:
    """The backtest of ``market`` from its start to ``end``, in a fresh process."""
    return fresh(
        RUN.format(
            store=market["store"],
            fleet=market["fleet"],
            start=market["start"],
            end=end,
            out=str(out),
            window_days=window_days,
        )
    )


if __name__ == "__main__":
    main()
