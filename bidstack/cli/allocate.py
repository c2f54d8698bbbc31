"""``bidstack allocate``: run rule variants over a Parquet file of unit-intervals."""

from __future__ import annotations

import argparse
from pathlib import Path

from bidstack.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "allocate",
        help="allocate each unit-interval's capacity to a price band under rule variants",
        description=(
            "Read unit-intervals from a Parquet file, allocate each one's max_capacity to a "
            "price band under every rule variant in one pass, write the input rows with the "
            "results to OUT, and print the count of each outcome per variant."
        ),
    )
    parser.add_argument("input", type=Path, metavar="INPUT.parquet")
    parser.add_argument(
        "--rules",
        action="append",
        metavar="NAME|PATH",
        help="a built-in variant (v1, v2) or a rule file; repeat for several (default: v2)",
    )
    parser.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.parquet")
    parser.add_argument(
        "--phase-horizon",
        metavar="N|COLUMN",
        help="intervals PP looks ahead when derived from frrp: a number, or a column per unit "
        "(default: the min_run_time column if present, else 1)",
    )
    parser.add_argument(
        "--price-type-order",
        default="thresholds_first",
        metavar="ORDER",
        help="how PT is derived from frrp: thresholds_first tests TPmax, TPmin, then SRMC+ "
        "(SPEC §3, the default); srmc_first tests TPmax, SRMC+, then TPmin",
    )
    parser.add_argument(
        "--interval-minutes",
        type=float,
        default=5.0,
        metavar="MINUTES",
        help="the length of the intervals --phase-horizon counts (default 5; 30 for trading "
        "intervals before five-minute settlement)",
    )
    parser.add_argument(
        "--fcas-liability", action="store_true", help="add the fcas_liability column to SRMC"
    )
    parser.add_argument(
        "--bandavail", action="store_true", help="also write bandavail1..10 (80 bytes a row)"
    )
    parser.add_argument(
        "--rejected",
        type=Path,
        metavar="REJECTED.csv",
        help="write every invalid_input row (its row number in INPUT, duid, interval_datetime "
        "and reason) to this CSV file",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import polars as pl

    from bidstack.allocation import allocate_with_report
    from bidstack.outputs import prepare_output_file

    output = prepare_output_file(args.output, args.input)
    rejected = None
    if args.rejected is not None:
        rejected = prepare_output_file(args.rejected, args.input, output)
    try:
        frame = pl.read_parquet(args.input)
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise InputError(f"{args.input}: cannot read as Parquet: {exc}") from exc
    horizon = args.phase_horizon
    if horizon is not None and horizon.isdigit():
        horizon = int(horizon)
    result = allocate_with_report(
        frame,
        args.rules or ["v2"],
        phase_horizon=horizon,
        fcas_liability=args.fcas_liability,
        bandavail=args.bandavail,
        price_type_order=args.price_type_order,
        interval_minutes=args.interval_minutes,
    )
    result.frame.write_parquet(output)
    print(f"{frame.height:,} unit-intervals -> {output}")
    if rejected is not None:
        result.rejected.write_csv(rejected)
        print(f"{result.rejected.height:,} invalid_input rows -> {rejected}")
    print(format_counts(result.counts, result.rejected))
    return 0


def format_counts(counts, rejected) -> str:
    """Outcome counts per variant as a text table, then rejected rows by reason."""
    import polars as pl

    names = ["allocated", "not_applicable", "no_band", "invalid_input", "within_limits"]
    header = f"{'variant':<12}" + "".join(f"{name:>16}" for name in names)
    lines = [header]
    for row in counts.iter_rows(named=True):
        cells = [f"{row[name]:>16,}" for name in names[:-1]]
        share = row["within_limits"] / row["allocated"] if row["allocated"] else 0.0
        cells.append(f"{row['within_limits']:>9,} {share:>5.1%}")
        lines.append(f"{row['variant']:<12}" + "".join(cells))
    if rejected.height:
        lines.append(f"rejected as invalid_input ({rejected.height:,} rows), by reason:")
        by_reason = (
            rejected.group_by("reason")
            .agg(pl.len(), pl.col("row", "duid", "interval_datetime").first())
            .sort("len", "reason", descending=[True, False])
        )
        for reason, n, row, duid, at in by_reason.select(
            "reason", "len", "row", "duid", "interval_datetime"
        ).iter_rows():
            lines.append(f"{n:>12,}  {reason} (first: row {row:,}, {duid} at {at})")
    return "\n".join(lines)
