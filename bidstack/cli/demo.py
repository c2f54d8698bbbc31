"""``bidstack demo``: the main job on built-in data."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="allocate a built-in synthetic fleet under v1 and v2",
        description=(
            "Allocate a seeded synthetic fleet (100 units, a week of 5-minute intervals, PT and "
            "PP derived from a forecast price) under the rule variants v1 and v2 and print the "
            "outcome counts per variant."
        ),
    )
    parser.add_argument("--units", type=int, default=100, help="fleet size (default 100)")
    parser.add_argument("--days", type=int, default=7, help="trading days (default 7)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bidstack.allocation import allocate_with_report
    from bidstack.cli.allocate import format_counts
    from bidstack.synthetic import synthetic_fleet

    fleet = synthetic_fleet(args.units, args.days, seed=args.seed)
    result = allocate_with_report(fleet, ["v1", "v2"])
    print(
        f"synthetic fleet: {args.units} units x {args.days} days of 5-minute intervals = "
        f"{fleet.height:,} unit-intervals; PT and PP derived from frrp"
    )
    print(format_counts(result.counts, result.rejected))
    return 0
