"""``bidstack backtest``: every stage of the market process for the baseline and rule variants."""

from __future__ import annotations

import argparse
import re
from datetime import timedelta
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
    add_executor_options(parser, "months")
    parser.add_argument(
        "--warmup",
        type=duration,
        default=timedelta(days=1),
        metavar="DURATION",
        help="with --workers or --scheduler, each month after the first starts this early from "
        "the store's initial MW and is kept only if it reaches the month before's state exactly "
        "(else it runs again from it): 1d (default), 6h, 30min",
    )
    parser.add_argument(
        "--variant-groups",
        type=int,
        default=1,
        metavar="G",
        help="run each month as G tasks, the rule variants split among them (the baseline in "
        "the first): more tasks to spread over --workers when there are many variants; the "
        "output is the same (default: 1)",
    )
    parser.add_argument(
        "--compression",
        default="zstd",
        metavar="CODEC",
        help="the codec of the Parquet files: zstd (default) makes the smallest files, lz4 "
        "runs a month about 7%% faster for files about 40%% larger; also snappy, gzip, brotli, "
        "uncompressed",
    )
    parser.add_argument(
        "--window-days",
        type=int,
        metavar="N",
        help="run each month in windows of N days (the last of a month shorter): under half a "
        "month's peak memory at 10, in about the same time; the same dispatch, prices and "
        "statements (default: a window a month)",
    )
    parser.set_defaults(run=run)


def add_executor_options(parser: argparse.ArgumentParser, tasks: str) -> None:
    """``--workers N`` and ``--scheduler``: where ``tasks`` run (default: in turn, here)."""
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help=f"run the {tasks} on N local processes (with --scheduler local: N Dask workers)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="local|tcp://HOST:8786",
        help=f"run the {tasks} on Dask (bidstack[dask]): a local cluster, or the scheduler at "
        "that address (default: $BIDSTACK_SCHEDULER, if set)",
    )


def duration(text: str) -> timedelta:
    """``1d``, ``6h``, ``30min``, ``90s`` (or ``0``) as a :class:`~datetime.timedelta`.

    >>> duration("5min"), duration("1d")
    (datetime.timedelta(seconds=300), datetime.timedelta(days=1))
    """
    units = {"d": "days", "h": "hours", "min": "minutes", "m": "minutes", "s": "seconds"}
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(d|h|min|m|s)?\s*", text)
    if match is None or (match.group(2) is None and float(match.group(1)) != 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 1d, 6h or 30min")
    return timedelta(**{units[match.group(2) or "s"]: float(match.group(1))})


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
    from bidstack.scaleout.executors import default_scheduler, open_executor

    scheduler = default_scheduler(args.workers, args.scheduler)
    with open_executor(args.workers, scheduler) as executor:
        result = backtest(args.store, fleet, variants, args.start, args.end, args.output,
                          executor=executor, warmup=args.warmup,
                          variant_groups=args.variant_groups,
                          compression=args.compression,
                          window_days=args.window_days)  # fmt: skip
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
    from bidstack.stages.statements import format_cents

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
