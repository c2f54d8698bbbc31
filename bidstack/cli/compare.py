"""``bidstack compare``: several backtests' summaries side by side."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="set several backtests' summaries side by side",
        description="Print the scenario summaries of several backtest output folders as one "
        "table, each run's variants ranked by the fleet's margin; -o writes it as CSV.",
    )
    parser.add_argument("results", nargs="+", metavar="RESULTS", help="backtest output folders")
    parser.add_argument("-o", "--output", metavar="CSV", help="also write the table as CSV")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from bidstack.cli.backtest import SUMMARY_COLUMNS, text_table
    from bidstack.report.compare import compare

    table = compare(args.results)
    print(text_table(table, [("run", "run", "{}"), *SUMMARY_COLUMNS]))
    if args.output:
        table.write_csv(args.output)
        print(f"written: {args.output}")
    return 0
