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
    parser.add_argument(
        "--fleet",
        type=Path,
        help="the fleet file (TOML); with --baseline-only optional, or [market] alone",
    )
    parser.add_argument(
        "--rules",
        action="append",
        metavar="NAME|PATH",
        help="a built-in variant (v1, v2) or a rule file; repeat for several (default: v2)",
    )
    parser.add_argument(
        "--baseline-only",
        action="store_true",
        help="run the historical baseline alone (no fleet re-bid): how well the model "
        "reproduces history, in calibration.csv",
    )
    parser.add_argument("--start", required=True, help="start of the window, exclusive (ISO)")
    parser.add_argument("--end", required=True, help="end of the window, inclusive (ISO)")
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT/")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bidstack.backtest import backtest
    from bidstack.errors import ConfigError
    from bidstack.fleet import Fleet, load_fleet
    from bidstack.report import write_report

    if args.baseline_only and args.rules:
        raise ConfigError("--baseline-only runs no rule variant: leave out --rules")
    if args.fleet is None and not args.baseline_only:
        raise ConfigError("give the fleet file with --fleet (or run --baseline-only)")
    if args.fleet is None:
        fleet = Fleet({})
    else:
        fleet = load_fleet(args.fleet, units_required=not args.baseline_only)
    variants = [] if args.baseline_only else args.rules or ["v2"]
    result = backtest(args.store, fleet, variants, args.start, args.end, args.output)
    report = write_report(result)
    print(format_summary(result))
    print(f"report: {report}")
    return 0


#: The scenario table the CLI prints: (column, header, format).
SUMMARY_COLUMNS = [
    ("scenario", "scenario", "{}"),
    ("fleet_energy_mwh", "fleet MWh", "{:,.0f}"),
    ("fleet_net_cents", "fleet net", "cents"),
    ("fleet_margin_cents", "fleet margin", "cents"),
    ("margin_change_cents", "margin change", "cents"),
    ("mean_price", "mean $/MWh", "{:,.2f}"),
    ("price_impact", "impact", "{:+,.2f}"),
    ("unserved_mwh", "unserved MWh", "{:,.1f}"),
    ("within_limits_rate", "within limits", "{:.1%}"),
]


def format_summary(result) -> str:
    """The scenarios as a text table, then the baseline against history and the problems."""
    lines = [text_table(result.summary, SUMMARY_COLUMNS)]
    lines += calibration_lines(result.calibration)
    if result.problems.height:
        lines.append("problems reported (rows in problems/):")
        for row in result.problems.iter_rows(named=True):
            lines.append(f"{row['rows']:>12,}  {row['kind']} ({row['scenario']})")
    return "\n".join(lines)


def text_table(frame, columns) -> str:
    """``frame``'s ``columns`` that it has, right-aligned, each as wide as its longest cell;
    money columns (``"cents"``) in dollars."""
    from bidstack.stages.settlement import format_cents

    present = [c for c in columns if c[0] in frame.columns]
    rows = []
    for row in frame.iter_rows(named=True):
        cells = []
        for key, _, fmt in present:
            value = row[key]
            if value is None:
                cells.append("-")
            elif fmt == "cents":
                cells.append(format_cents(value))
            else:
                cells.append(fmt.format(value))
        rows.append(cells)
    header = [label for _, label, _ in present]
    widths = [max(len(c) for c in column) + 2 for column in zip(header, *rows, strict=True)]
    return "\n".join(
        "".join(f"{cell:>{w}}" for cell, w in zip(cells, widths, strict=True))
        for cells in [header, *rows]
    )


def calibration_lines(table) -> list[str]:
    """The baseline against history, in two lines (none when the store has no history)."""
    rows = {row["scope"]: row for row in table.iter_rows(named=True)}
    lines = []
    prices, units = rows.get("all"), rows.get("units")
    if prices and prices["compared"]:
        lines.append(
            f"baseline vs history: price within 5% of RRP in {prices['within_5pct']:,} of "
            f"{prices['compared']:,} region-intervals, within $1 in {prices['within_1']:,} "
            f"(MAE {prices['mae']:,.2f} $/MWh; by region in calibration.csv)"
        )
    if units and units["compared"]:
        share = units["within_1"] / units["compared"]
        lines.append(
            f"baseline vs history: dispatch within 1 MW of TOTALCLEARED in {share:.1%} of "
            f"{units['compared']:,} unit-intervals (MAE {units['mae']:,.2f} MW)"
        )
    return lines
