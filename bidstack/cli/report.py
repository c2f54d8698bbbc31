"""``bidstack report``: write a backtest's report again from its output folder, and optionally
a screenshot of it as headless Chromium draws it."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write a backtest's report.html again from its outputs",
        description="Rebuild report.html from a backtest's output folder (every figure comes "
        "from the files written there).",
    )
    parser.add_argument("results", metavar="RESULTS", help="a backtest output folder")
    parser.add_argument("--title", default="bidstack backtest")
    parser.add_argument(
        "--screenshot", metavar="PNG", help="also save a full-page screenshot (needs Chromium)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bidstack.errors import InputError
    from bidstack.report import write_report

    results = Path(args.results)
    if not (results / "summary.csv").is_file():
        raise InputError(f"{results}: no summary.csv: not a finished backtest's output folder")
    report = write_report(results, title=args.title)
    print(f"report: {report} ({report.stat().st_size / 1e6:.1f} MB)")
    if args.screenshot:
        from bidstack.report.browser import screenshot

        print(f"screenshot: {screenshot(report, Path(args.screenshot))}")
    return 0
