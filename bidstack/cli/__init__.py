"""The ``bidstack`` command line.

Each command lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``run`` (a function of the parsed arguments returning an exit status).
Heavy imports happen inside ``run`` so that ``bidstack --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from bidstack.errors import BidstackError

COMMANDS = ("demo", "backtest", "allocate", "rules", "ingest", "store")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bidstack",
        description="What-if bidding backtests for the Australian National Electricity Market.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"bidstack.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BidstackError as exc:
        print(f"bidstack: error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_status", 2)
    except KeyboardInterrupt:
        print("bidstack: interrupted", file=sys.stderr)
        return 130
