"""The ``bidstack`` command line.

Each command lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``run`` (a function of the parsed arguments returning an exit status).
Heavy imports happen inside ``run`` so that ``bidstack --help`` stays instant.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Sequence

from bidstack.errors import BidstackError, MissingDataError, TaskError

COMMANDS = (
    "demo", "backtest", "report", "compare", "allocate", "rules", "ingest", "store", "service",
)
#: What each exit status means.
EXIT_STATUS = {
    "ok": 0,
    "rejected": 1,  # input rejected (ingest), the store holds nothing to run on, a task failed
    "error": 2,  # a usage error, or a file, folder or setting to fix: one line, no traceback
    "interrupted": 130,
    "broken_pipe": 141,  # standard output closed by its reader, as for SIGPIPE
}


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
    """Run the command line; return the process exit status (see :data:`EXIT_STATUS`)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else 2
    try:
        status = int(args.run(args) or 0)
        sys.stdout.flush()  # here, so that a reader gone away is met below, not at exit
        return status
    except (MissingDataError, TaskError) as exc:
        return _fail(exc, EXIT_STATUS["rejected"])
    except BidstackError as exc:
        return _fail(exc, EXIT_STATUS["error"])
    except BrokenPipeError:
        return _closed_output()
    except OSError as exc:  # a file or folder that cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(f"{where}{exc.strerror or exc}", EXIT_STATUS["error"])
    except KeyboardInterrupt:
        print("bidstack: interrupted", file=sys.stderr)
        return EXIT_STATUS["interrupted"]


def _fail(message: object, status: int) -> int:
    print(f"bidstack: error: {message}", file=sys.stderr)
    return status


def _closed_output() -> int:
    """Standard output was closed by its reader (``bidstack store info | head``): stop quietly,
    as a command killed by SIGPIPE does, and keep Python from failing to flush at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_STATUS["broken_pipe"]
