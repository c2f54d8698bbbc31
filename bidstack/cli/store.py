"""``bidstack store info --store DIR``: the tables in a store, their rows and date ranges."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("store", help="inspect a Parquet store")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    info = actions.add_parser(
        "info",
        help="list tables, row counts and date ranges",
        description="List the store's tables with their row counts, the first and last value "
        "of each table's interval column, and a summary of the sources ingested.",
    )
    info.add_argument("--store", required=True, metavar="DIR", help="the store folder")
    info.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    from bidstack.io.store import describe, read_manifest

    tables = describe(args.store)
    manifest = read_manifest(args.store)
    header = f"{'table':32} {'rows':>12}  {'interval column':18} {'first':19}  {'last':19}"
    print(header)
    for row in tables.iter_rows(named=True):
        first = f"{row['first']:%Y-%m-%d %H:%M:%S}" if row["first"] else "-"
        last = f"{row['last']:%Y-%m-%d %H:%M:%S}" if row["last"] else "-"
        print(f"{row['table']:32} {row['rows']:>12}  {row['time_column']:18} {first:19}  {last:19}")
    sources = manifest["sources"].values()
    skipped = sum(entry["counts"].get("skipped_rows", 0) for entry in sources)
    rejected = sum(entry["counts"].get("rejected_rows", 0) for entry in sources)
    print(
        f"{len(tables)} tables, {tables['rows'].sum()} rows from {len(manifest['sources'])} "
        f"sources; {skipped} rows skipped and {rejected} rejected at ingest; "
        f"{len(manifest['rejected'])} files rejected (details in {args.store}/_manifest.json)"
    )
    return 0
