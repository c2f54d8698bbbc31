"""``bidstack rules``: list the built-in rule variants, or show one as its tables."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("rules", help="list or show rule variants")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="print a variant as the tables of SPEC §2")
    show.add_argument("variant", metavar="NAME|PATH", help="a built-in name or a rule file")
    show.set_defaults(run=run_show)
    listing = actions.add_parser("list", help="list the built-in variants")
    listing.set_defaults(run=run_list)


def run_show(args: argparse.Namespace) -> int:
    from bidstack.rules import format_variant, load_variant

    print(format_variant(load_variant(args.variant)), end="")
    return 0


def run_list(args: argparse.Namespace) -> int:
    from bidstack.rules import BUILTIN, load_variant

    for name in BUILTIN:
        print(f"{name:<6}{load_variant(name).description}")
    return 0
