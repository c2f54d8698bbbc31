"""``bidstack service``: the market service (needs ``pip install "bidstack[service]"``).

``init`` creates or upgrades the database; ``participant add`` and ``key create|revoke``
manage who may submit; ``run`` serves the API; ``export`` writes a month of accepted bids and
meter reads into a store for ``bidstack backtest``; ``audit verify`` checks the audit chain.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from datetime import UTC, datetime
from pathlib import Path

from bidstack.errors import ConfigError

DB_HELP = "the database URL: sqlite:///FILE (default sqlite:///service.db) or postgresql://..."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "service",
        help="the market service: offers, bids and meter reads over HTTP",
        description="Participants submit offers, bids and meter reads over HTTP and fetch "
        "their own statements. API keys are hashed with the server secret in "
        "BIDSTACK_SERVICE_PEPPER or the file named by BIDSTACK_SERVICE_PEPPER_FILE.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    init = actions.add_parser("init", help="create or upgrade the database")
    _db(init)
    init.set_defaults(run=run_init)

    participant = actions.add_parser("participant", help="register participants")
    add = participant.add_subparsers(dest="what", required=True).add_parser(
        "add", help="register a participant (or add units and NMIs to one)"
    )
    add.add_argument("participant_id", metavar="ID")
    add.add_argument("--units", required=True, type=_listed, help="DUID,DUID,...")
    add.add_argument("--nmis", type=_listed, default=[], help="NMI,NMI,...")
    _db(add)
    add.set_defaults(run=run_participant_add)

    key = actions.add_parser("key", help="create or revoke API keys")
    key_actions = key.add_subparsers(dest="what", required=True)
    create = key_actions.add_parser("create", help="print a new API key (shown once)")
    create.add_argument("participant_id", metavar="ID")
    create.add_argument(
        "--scope",
        action="append",
        help="bids:write, meter:write, statements:read or admin; repeat for several "
        "(default: the first three)",
    )
    create.add_argument(
        "--expires", help="ISO 8601 date or time it stops working (naive: UTC); default never"
    )
    _db(create)
    create.set_defaults(run=run_key_create)
    revoke = key_actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (or the whole key)")
    _db(revoke)
    revoke.set_defaults(run=run_key_revoke)

    serve = actions.add_parser("run", help="serve the API")
    _db(serve)
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    serve.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free one")
    serve.add_argument(
        "--fleet", type=Path, help="a fleet file: its [market] gate_closure_seconds applies"
    )
    serve.add_argument(
        "--results", type=Path, help="a backtest's output folder, for GET /v1/statements"
    )
    serve.add_argument("--rate-write", default="120/minute", help="per key (default 120/minute)")
    serve.add_argument("--rate-upload", default="10/minute", help="NEM12 uploads per key")
    serve.add_argument("--rate-read", default="600/minute", help="GET requests per key")
    serve.add_argument("--max-body-mb", type=float, default=20.0, help="request size cap (MB)")
    serve.add_argument("--docs", action="store_true", help="serve the docs UI at /docs")
    serve.add_argument(
        "--clock-file",
        type=Path,
        help="for tests only: take the time from this file (ISO 8601) instead of the clock",
    )
    serve.set_defaults(run=run_serve)

    export = actions.add_parser(
        "export", help="write a month of accepted bids and meter reads into a store"
    )
    _db(export)
    export.add_argument("--store", type=Path, required=True, metavar="DIR")
    export.add_argument("--month", required=True, metavar="YYYY-MM")
    export.set_defaults(run=run_export)

    audit_parser = actions.add_parser("audit", help="check the audit log")
    verify = audit_parser.add_subparsers(dest="what", required=True).add_parser(
        "verify", help="recompute the audit log's hash chain"
    )
    _db(verify)
    verify.set_defaults(run=run_audit_verify)


def _db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", default="sqlite:///service.db", metavar="URL", help=DB_HELP)


def _listed(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _needs_extra() -> None:
    missing = [
        m
        for m in ("fastapi", "uvicorn", "sqlalchemy", "alembic", "limits")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise ConfigError(
            f'the service needs {", ".join(missing)}: pip install "bidstack[service]"'
        )


def _now() -> tuple[datetime, str]:
    from bidstack.service.clock import nem_time, utc_text

    moment = datetime.now(UTC)
    return nem_time(moment), utc_text(moment)


def run_init(args: argparse.Namespace) -> int:
    _needs_extra()
    from bidstack.service.db import upgrade

    print(f"database {args.db} is at revision {upgrade(args.db)}")
    return 0


def _engine(url: str):
    from bidstack.service.db import check_revision, make_engine

    engine = make_engine(url, pool_size=1)
    check_revision(engine)
    return engine


def run_participant_add(args: argparse.Namespace) -> int:
    _needs_extra()
    from bidstack.service.keys import add_participant

    add_participant(_engine(args.db), args.participant_id, args.units, args.nmis, *_now())
    print(
        f"participant {args.participant_id}: units {', '.join(args.units)}"
        + (f"; NMIs {', '.join(args.nmis)}" if args.nmis else "")
    )
    return 0


def run_key_create(args: argparse.Namespace) -> int:
    _needs_extra()
    from bidstack.service.clock import nem_time
    from bidstack.service.keys import DEFAULT_SCOPES, create_key, load_pepper

    expires = None
    if args.expires:
        try:
            expires = datetime.fromisoformat(args.expires)
        except ValueError as exc:
            raise ConfigError(f"--expires {args.expires!r} is not an ISO 8601 time") from exc
        expires = nem_time(expires if expires.tzinfo else expires.replace(tzinfo=UTC))
    scopes = args.scope or DEFAULT_SCOPES
    now = _now()
    if expires is not None and expires <= now[0]:
        print(f"bidstack: warning: --expires {args.expires} is already past by this machine's "
              "clock: the key is refused by a server on it", file=sys.stderr)  # fmt: skip
    key = create_key(_engine(args.db), load_pepper(), args.participant_id, scopes, expires, *now)
    print(key)
    return 0


def run_key_revoke(args: argparse.Namespace) -> int:
    _needs_extra()
    from bidstack.service.keys import revoke_key

    participant = revoke_key(_engine(args.db), args.key_id, *_now())
    print(f"key revoked (participant {participant})")
    return 0


def run_serve(args: argparse.Namespace) -> int:
    _needs_extra()
    import uvicorn

    from bidstack.fleet import Fleet, load_fleet
    from bidstack.service.app import create_app
    from bidstack.service.runtime import Settings

    fleet = load_fleet(args.fleet, units_required=False) if args.fleet else Fleet({})
    settings = Settings(
        db_url=args.db,
        gate_closure_seconds=fleet.gate_closure_seconds,
        results=args.results,
        clock_file=args.clock_file,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        rates=(("write", args.rate_write), ("upload", args.rate_upload), ("read", args.rate_read)),
        docs=args.docs,
    )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")
    return 0


def run_export(args: argparse.Namespace) -> int:
    _needs_extra()
    from bidstack.service.export import export

    counts = export(_engine(args.db), args.store, args.month)
    print(
        ", ".join(f"{table}: {rows:,} rows" for table, rows in counts.items())
        + f" written to {args.store} for {args.month}"
    )
    return 0


def run_audit_verify(args: argparse.Namespace) -> int:
    _needs_extra()
    from bidstack.service.audit import verify

    result = verify(_engine(args.db))
    if result.error:
        raise ConfigError(f"audit chain broken after {result.rows:,} rows: {result.error}")
    print(f"audit chain verified: {result.rows:,} rows")
    return 0
