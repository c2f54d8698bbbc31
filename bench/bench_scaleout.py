"""Scale-out: a backtest's months on N worker processes against the serial run.

Generates a seeded synthetic market (by default 30 units over 92 days: four month windows), runs
the backtest serially and then with ``--workers N`` (a local pool of spawned processes), and
prints both times, the speed-up, the share of month boundaries kept ``exact`` (the rest were
recomputed from the exact carry) and whether the two outputs are byte-identical.

    python bench/bench_scaleout.py --workers 2
    python bench/bench_scaleout.py --workers 12 --units 100 --days 365
    python bench/bench_scaleout.py --workers 8 --variant-groups 2   # 2 tasks a month
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from bidstack.backtest import backtest
from bidstack.demo import synthetic_market
from bidstack.fleet import load_fleet
from bidstack.scaleout.executors import open_executor


def digests(out: Path) -> dict[str, str]:
    """sha256 of every output file but ``backtest.json`` (timings, how the run was executed)."""
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file() and path.name != "backtest.json"
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--days", type=int, default=92)
    parser.add_argument("--fleet", type=int, default=5, help="units re-bid (default 5)")
    parser.add_argument("--warmup-hours", type=float, default=24.0)
    parser.add_argument("--variant-groups", type=int, default=1, help="tasks a month (v1, v2)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bidstack-scaleout-"))
    market = synthetic_market(
        folder / "store", n_units=args.units, days=args.days, first_day=date(2024, 1, 1),
        fleet_size=args.fleet, seed=1,
    )  # fmt: skip
    fleet = load_fleet(market.fleet_file)
    common = (market.store, fleet, ["v1", "v2"], market.start, market.end)
    began = time.perf_counter()
    backtest(*common, folder / "serial", progress=False)
    serial = time.perf_counter() - began
    with open_executor(args.workers) as executor:
        began = time.perf_counter()
        backtest(*common, folder / "parallel", progress=False, executor=executor,
                 warmup=timedelta(hours=args.warmup_hours),
                 variant_groups=args.variant_groups)  # fmt: skip
        parallel = time.perf_counter() - began
    execution = json.loads((folder / "parallel" / "backtest.json").read_text())["execution"]
    boundaries = [b["boundary"] for b in execution["boundaries"]]
    exact = boundaries.count("exact")
    same = digests(folder / "serial") == digests(folder / "parallel")
    months = len(boundaries) // args.variant_groups + 1
    print(f"{args.units} units x {args.days} days, {months} months, "
          f"{args.variant_groups} variant group(s) a month")  # fmt: skip
    print(f"serial      {serial:8.1f} s")
    print(f"{args.workers} workers   {parallel:8.1f} s   speed-up {serial / parallel:.2f}x")
    print(f"boundaries exact: {exact} of {len(boundaries)} "
          f"({exact / max(1, len(boundaries)):.0%}); outputs identical: {same}")  # fmt: skip


if __name__ == "__main__":
    main()
