"""``bidstack ingest PATH... --store DIR``: read AEMO MMS and NEM12 files, NEMOSIS caches and
SQLite databases of MMS tables into a Parquet store."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

SHOWN_ISSUES = 5


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ingest",
        help="read AEMO MMS and NEM12 files, NEMOSIS caches and SQLite databases into a store",
        description=(
            "Read AEMO MMS files (monthly archive zips, current and next-day reports, plain CSV), "
            "NEM12 meter data files, NEMOSIS Parquet/Feather caches (PUBLIC_DVD_<TABLE>_<date>"
            ".parquet) and SQLite databases of MMS tables (nempy's) into a store: one Parquet "
            "dataset per table, by month. Folders are walked; files holding none of these are "
            "reported as not-mms and skipped. A file already ingested (same content hash) is "
            "skipped; a changed file replaces its own rows. Exit status 1 if any file or row was "
            "rejected, or if no file given holds anything to ingest."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to ingest")
    parser.add_argument("--store", required=True, metavar="DIR", help="the store folder")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="reject a file whose closing END OF REPORT count disagrees with its line count "
        "(by default a warning: tools such as NEMOSIS rewrite files but keep the count)",
    )
    from bidstack.cli.backtest import add_executor_options

    add_executor_options(parser, "files' parsing")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bidstack.io.ingest import Outcome, ingest
    from bidstack.io.report import SEVERITIES

    def show(outcome: Outcome) -> None:
        tqdm.write(f"{outcome.status:9} {outcome.path}: {outcome.detail}")
        issues = outcome.report.issues if outcome.report else []
        for issue in issues[:SHOWN_ISSUES]:
            tqdm.write(f"  {issue.severity:8} {issue}")
        if outcome.report and len(issues) > SHOWN_ISSUES:
            hidden = sum(outcome.report.counts[severity] for severity in SEVERITIES)
            tqdm.write(f"  ... {hidden - SHOWN_ISSUES} more issues in {args.store}/_manifest.json")

    from bidstack.scaleout.executors import default_scheduler, open_executor
    from bidstack.scaleout.ingest import parallel_ingest

    scheduler = default_scheduler(args.workers, args.scheduler)
    with open_executor(args.workers, scheduler) as executor:
        if executor is None:
            outcomes = ingest(args.paths, args.store, strict=args.strict, on_outcome=show)
        else:
            outcomes = parallel_ingest(
                args.paths, args.store, executor, strict=args.strict, on_outcome=show
            )
    statuses = Counter(outcome.status for outcome in outcomes)
    totals = Counter()
    for outcome in outcomes:
        if outcome.report:
            totals["rows stored"] += sum(outcome.report.rows.values())
            totals["rows skipped"] += outcome.report.skipped_rows
            totals["rows rejected"] += outcome.report.rejected_rows
    files = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    rows = ", ".join(f"{count} {what}" for what, count in totals.items())
    print(f"{len(outcomes)} files: {files}" + (f"; {rows}" if rows else ""))
    if all(outcome.status == "not-mms" for outcome in outcomes):
        given = ", ".join(args.paths)
        print(
            f"bidstack: nothing ingested: no file in {given} is an MMS or NEM12 file, a NEMOSIS "
            "cache or a database of MMS tables",
            file=sys.stderr,
        )
        return 1
    return 1 if any(outcome.failed for outcome in outcomes) else 0
