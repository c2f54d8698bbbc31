"""``bidstack demo``: the main job on built-in data."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="backtest v1 and v2 on a built-in synthetic market",
        description=(
            "Generate a seeded synthetic market (5 regions, ~100 units, a month of 5-minute "
            "intervals) into a store, then backtest its DEMOGEN fleet under the rule variants "
            "v1 and v2 against the historical baseline, exactly as bidstack backtest does."
        ),
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("bidstack-demo"),
        metavar="OUT/",
        help="where the store, fleet file and results go: a new or empty folder, or one an "
        "earlier demo wrote (default bidstack-demo/)",
    )
    parser.add_argument(
        "--units", type=whole(3, 10_000), default=100, help="units in the market (default 100)"
    )
    parser.add_argument("--days", type=whole(1, 3660), default=30, help="trading days (default 30)")
    parser.add_argument("--seed", type=whole(0), default=0, help="random seed ≥ 0 (default 0)")
    parser.set_defaults(run=run)


def whole(low: int, high: int | None = None):
    """An argparse type: a whole number from ``low`` to ``high`` (if given)."""
    allowed = f"from {low:,} to {high:,}" if high is not None else f"≥ {low:,}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a whole number {allowed}, not {text!r}")
        return value

    return parse


def run(args: argparse.Namespace) -> int:
    from bidstack.backtest import backtest
    from bidstack.cli.backtest import format_summary
    from bidstack.demo import synthetic_market
    from bidstack.fleet import load_fleet
    from bidstack.outputs import prepare_output
    from bidstack.report import write_report

    folder = prepare_output(args.output, "demo", ["store", "fleet.toml", "results"])
    market = synthetic_market(
        args.output / "store", n_units=args.units, days=args.days, seed=args.seed
    )
    print(f"synthetic market: {args.units} units, {args.days} days -> {market.store}")
    print(f"fleet file: {market.fleet_file}")
    result = backtest(
        market.store,
        load_fleet(market.fleet_file),
        ["v1", "v2"],
        market.start,
        market.end,
        args.output / "results",
    )
    report = write_report(result, title="bidstack demo: a synthetic market")
    folder.finish()
    print(format_summary(result))
    print(f"report: {report}")
    return 0
