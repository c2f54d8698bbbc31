"""``bidstack backtest``: every stage of the market process for the baseline and rule variants."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "backtest",
        help="re-bid a fleet under rule variants and run dispatch, metering and settlement",
        description=(
            "For the historical baseline and each rule variant, run offers, grid evaluation, the "
            "bidding round, merit-order dispatch, metering and settlement over the store's data, "
            "month by month, and write results, statements and an HTML report to OUT."
        ),
    )
    parser.add_argument("--store", type=Path, required=True, help="a store made by bidstack ingest")
    parser.add_argument("--fleet", type=Path, required=True, help="the fleet file (TOML)")
    parser.add_argument(
        "--rules",
        action="append",
        metavar="NAME|PATH",
        help="a built-in variant (v1, v2) or a rule file; repeat for several (default: v2)",
    )
    parser.add_argument("--start", required=True, help="start of the window, exclusive (ISO)")
    parser.add_argument("--end", required=True, help="end of the window, inclusive (ISO)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT/")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bidstack.backtest import backtest
    from bidstack.fleet import load_fleet
    from bidstack.report import write_report

    fleet = load_fleet(args.fleet)
    result = backtest(args.store, fleet, args.rules or ["v2"], args.start, args.end, args.output)
    report = write_report(result)
    print(format_summary(result))
    print(f"report: {report}")
    return 0


def format_summary(result) -> str:
    """The scenarios as a text table, then the problems reported."""
    from bidstack.stages.settlement import format_cents

    columns = [
        ("scenario", "scenario", "{}"),
        ("fleet_energy_mwh", "fleet MWh", "{:,.0f}"),
        ("fleet_net_cents", "fleet net", format_cents),
        ("mean_price", "mean $/MWh", "{:,.2f}"),
        ("price_impact", "impact", "{:+,.2f}"),
        ("unserved_mwh", "unserved MWh", "{:,.1f}"),
        ("within_limits_rate", "within limits", "{:.1%}"),
    ]
    present = [c for c in columns if c[0] in result.summary.columns]
    width = 16
    lines = ["".join(f"{label:>{width}}" for _, label, _ in present)]
    for row in result.summary.iter_rows(named=True):
        cells = []
        for key, _, fmt in present:
            value = row[key]
            text = "-" if value is None else fmt(value) if callable(fmt) else fmt.format(value)
            cells.append(f"{text:>{width}}")
        lines.append("".join(cells))
    if result.problems.height:
        lines.append("problems reported (rows in problems/):")
        for row in result.problems.iter_rows(named=True):
            lines.append(f"{row['rows']:>12,}  {row['kind']} ({row['scenario']})")
    return "\n".join(lines)
