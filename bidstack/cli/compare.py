"""``bidstack compare``: several backtests' summaries side by side."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    from bidstack.outputs import prepare_output_file
    from bidstack.report.compare import compare

    if args.output:  # checked first: never over a run's own files, never under a file
        summaries = [Path(folder) / "summary.csv" for folder in args.results]
        prepare_output_file(args.output, *summaries)
    table = compare(args.results)
    print(text_table(table, [("run", "run", "{}"), *SUMMARY_COLUMNS]))
    if args.output:
        table.write_csv(args.output)
        print(f"written: {args.output}")
    return 0
